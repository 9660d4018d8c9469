/*
 * migrate.c — applies the compiled-in migrations (migrate.h, migrations.c).
 *
 * Owns the schema_migrations table and the {{PK}} dialect rewrite. Every
 * step runs in its own transaction that first takes the migration lock:
 * on PostgreSQL an advisory transaction lock (db_tx_lock), on SQLite the
 * BEGIN IMMEDIATE write lock. So any number of processes may start at once:
 * one applies each migration, the others wait, see it recorded and skip it.
 *
 * Threading: uses only the caller's connection; safe to run from several
 * connections concurrently (that is the point of the lock).
 */
#include "db/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/utc.h"
#include "db/migrations.h"

/* Advisory lock key for migrations ("lumimigr" in ASCII). */
#define MIGRATE_LOCK_KEY INT64_C(0x6c756d696d696772)
#define SCRIPT_MAX (1024 * 1024)

static const char sql_create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                       "  version INTEGER PRIMARY KEY,"
                                       "  name TEXT NOT NULL,"
                                       "  applied_at TEXT NOT NULL"
                                       ")";
static const char sql_current[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
static const char sql_is_applied[] = "SELECT COUNT(*) FROM schema_migrations WHERE version = $1";
static const char sql_record[] =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";

int db_schema_version_latest(void)
{
    int latest = 0;
    for (size_t i = 0; i < lumi_migrations_count; i++)
        if (lumi_migrations[i].version > latest)
            latest = lumi_migrations[i].version;
    return latest;
}

/* Opens a write transaction holding the migration lock. */
static int begin_locked(struct db *db, struct lumi_err *err)
{
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = db_tx_lock(db, MIGRATE_LOCK_KEY, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

/* The script with {{PK}} spelled for this engine (caller frees). */
static int rewrite_pk(const char *sql, enum db_kind kind, char **out)
{
    static const char marker[] = "{{PK}}";
    const char *pk =
        kind == DB_SQLITE ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY";
    struct buf b;
    buf_init(&b, SCRIPT_MAX);
    int rc = 0;
    const char *p = sql;
    const char *hit = NULL;
    while ((hit = strstr(p, marker)) != NULL) {
        rc = buf_append(&b, p, (size_t)(hit - p));
        if (rc == 0)
            rc = buf_append_str(&b, pk);
        if (rc != 0)
            goto out;
        p = hit + strlen(marker);
    }
    rc = buf_append_str(&b, p);
    if (rc != 0)
        goto out;
    *out = buf_steal(&b);
    if (*out == NULL)
        rc = LUMI_ENOMEM;
out:
    buf_free(&b);
    return rc;
}

/* Creates schema_migrations if needed and checks the database is not from a newer binary. */
static int prepare_table(struct db *db, struct lumi_err *err)
{
    int64_t current = 0;
    int rc = begin_locked(db, err);
    if (rc != 0)
        return rc;
    rc = db_exec(db, sql_create_table, err);
    if (rc == 0)
        rc = db_query_int64(db, sql_current, 0, NULL, &current, err);
    if (rc == 0 && current > db_schema_version_latest())
        rc = err_set(err, LUMI_EDB,
                     "the database schema is at version %lld, newer than this lumi binary "
                     "knows (%d); run the newer lumi or restore a matching backup",
                     (long long)current, db_schema_version_latest());
    if (rc == 0)
        rc = db_commit(db, err);
    db_rollback(db);
    return rc;
}

/* Inside the locked transaction: runs m unless recorded; *ran tells whether it did. */
static int apply_locked(struct db *db, const struct migration *m, bool *ran, struct lumi_err *err)
{
    char version[16];
    char now[UTC_ISO_LEN];
    char *script = NULL;
    int64_t seen = 0;
    snprintf(version, sizeof version, "%d", m->version);
    const char *const vparam[] = {version};
    int rc = db_query_int64(db, sql_is_applied, 1, vparam, &seen, err);
    if (rc != 0 || seen > 0)
        goto out;
    const char *sql = db_kind(db) == DB_SQLITE && m->sqlite_sql != NULL ? m->sqlite_sql : m->sql;
    rc = rewrite_pk(sql, db_kind(db), &script);
    if (rc != 0) {
        err_set(err, rc, "cannot prepare the script");
        goto out;
    }
    rc = db_exec(db, script, err);
    if (rc != 0)
        goto out;
    utc_now_iso(now);
    const char *const record[] = {version, m->name, now};
    rc = db_execp(db, sql_record, 3, record, NULL, err);
    if (rc == 0)
        *ran = true;
out:
    free(script);
    return rc;
}

static int apply_one(struct db *db, const struct migration *m, bool *ran, struct lumi_err *err)
{
    struct lumi_err e;
    err_clear(&e);
    int rc = begin_locked(db, &e);
    if (rc == 0)
        rc = apply_locked(db, m, ran, &e);
    if (rc == 0)
        rc = db_commit(db, &e);
    db_rollback(db);
    if (rc != 0) {
        *ran = false;
        return err_set(err, rc, "migration %d (%s): %s", m->version, m->name, e.msg);
    }
    if (*ran)
        log_info("db.migrated", "version=%d name=%s", m->version, m->name);
    return 0;
}

int db_migrate(struct db *db, int *applied, struct lumi_err *err)
{
    return db_migrate_upto(db, db_schema_version_latest(), applied, err);
}

int db_migrate_upto(struct db *db, int version, int *applied, struct lumi_err *err)
{
    int count = 0;
    int rc = 0;
    if (db == NULL || db_in_tx(db)) {
        rc = err_set(err, LUMI_EINVAL, "db_migrate needs a connection with no open transaction");
        goto out;
    }
    rc = prepare_table(db, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < lumi_migrations_count && lumi_migrations[i].version <= version; i++) {
        bool ran = false;
        rc = apply_one(db, &lumi_migrations[i], &ran, err);
        if (rc != 0)
            goto out;
        count += ran ? 1 : 0;
    }
out:
    if (applied != NULL)
        *applied = count;
    return rc;
}

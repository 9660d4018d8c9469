/*
 * db.c — the public storage interface (db.h), dispatching to a back end.
 *
 * Owns URL scheme selection, argument checks shared by both engines (NULLs,
 * column ranges, "is there a current row", transaction state) and the
 * one-row conveniences db_execp / db_query_int64. The engine work lives in
 * db_sqlite.c and db_pg.c behind `struct db_driver` (driver.h).
 *
 * Threading: a connection and its statements belong to one thread at a time;
 * nothing here is shared between connections.
 */
#include "db/db.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/driver.h"

static const struct db_driver *driver_for(const char *url, const char **target)
{
    if (str_starts_with(url, "sqlite://")) {
        *target = url + strlen("sqlite://");
        return &db_sqlite_driver;
    }
    if (str_starts_with(url, "sqlite:")) {
        *target = url + strlen("sqlite:");
        return &db_sqlite_driver;
    }
    if (str_starts_with(url, "postgres://") || str_starts_with(url, "postgresql://")) {
        *target = url;
        return &db_pg_driver;
    }
    return NULL;
}

struct db *db_open(const char *url, struct lumi_err *err)
{
    const char *target = NULL;
    const struct db_driver *drv = url ? driver_for(url, &target) : NULL;
    if (drv == NULL) {
        err_set(err, LUMI_EINVAL,
                "DATABASE_URL must start with sqlite: or postgres:// (or postgresql://)");
        return NULL;
    }
    if (target[0] == '\0') {
        err_set(err, LUMI_EINVAL, "DATABASE_URL has an empty SQLite path");
        return NULL;
    }
    struct db *db = drv->open(target, err);
    if (db == NULL) {
        metrics_count_db_error(LUMI_EDB); /* a connection that could not be made */
        return NULL;
    }
    db->drv = drv;
    db->in_tx = false;
    db->defer = false;
    db->keep_prepared = false;
    db->dops = NULL;
    db->dstate = NULL;
    return db;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    if (db->in_tx)
        db_rollback(db);
    if (db->dops != NULL)
        db->dops->free(db->dstate);
    db->drv->close(db);
}

enum db_kind db_kind(const struct db *db)
{
    return db->drv->kind;
}

/* Operations (metrics): a failure of the engine (LUMI_EDB, LUMI_EBUSY) is counted. */
static int counted(int rc)
{
    if (rc < 0)
        metrics_count_db_error(rc);
    return rc;
}

int db_exec(struct db *db, const char *sql, struct lumi_err *err)
{
    if (db == NULL || sql == NULL)
        return err_set(err, LUMI_EINVAL, "db_exec: no connection or no SQL");
    return counted(db->drv->exec(db, sql, err));
}

struct db_stmt *db_prepare(struct db *db, const char *sql, struct lumi_err *err)
{
    if (db == NULL || sql == NULL) {
        err_set(err, LUMI_EINVAL, "db_prepare: no connection or no SQL");
        return NULL;
    }
    struct db_stmt *st = db->drv->prepare(db, sql, err);
    if (st == NULL)
        return NULL;
    st->db = db;
    st->has_row = false;
    st->done = false;
    st->rc_done = DB_DONE;
    return st;
}

int db_bind_text(struct db_stmt *st, int idx, const char *value)
{
    if (st == NULL)
        return LUMI_EINVAL;
    if (value == NULL)
        return st->db->drv->bind_null(st, idx);
    return st->db->drv->bind_text(st, idx, value);
}

int db_bind_int64(struct db_stmt *st, int idx, int64_t value)
{
    if (st == NULL)
        return LUMI_EINVAL;
    return st->db->drv->bind_int64(st, idx, value);
}

int db_bind_null(struct db_stmt *st, int idx)
{
    if (st == NULL)
        return LUMI_EINVAL;
    return st->db->drv->bind_null(st, idx);
}

int db_step(struct db_stmt *st, struct lumi_err *err)
{
    if (st == NULL)
        return err_set(err, LUMI_EINVAL, "db_step: no statement");
    /* Once finished a statement stays finished: SQLite would otherwise re-run it. */
    if (st->done)
        return st->rc_done;
    int rc = counted(st->db->drv->step(st, err));
    st->has_row = rc == DB_ROW;
    if (rc != DB_ROW) {
        st->done = true;
        st->rc_done = rc;
    }
    return rc;
}

int db_step_id(struct db_stmt *st, const char *what, int64_t *id, struct lumi_err *err)
{
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        *id = db_col_int64(st, 0);
        return 0;
    }
    if (rc == DB_DONE)
        return err_set(err, LUMI_EDB, "inserting %s returned no id", what);
    return rc;
}

int db_col_count(struct db_stmt *st)
{
    return st ? st->db->drv->col_count(st) : 0;
}

static bool col_ok(struct db_stmt *st, int col)
{
    return st != NULL && st->has_row && col >= 0 && col < st->db->drv->col_count(st);
}

bool db_col_is_null(struct db_stmt *st, int col)
{
    return col_ok(st, col) ? st->db->drv->col_is_null(st, col) : true;
}

const char *db_col_text(struct db_stmt *st, int col)
{
    return col_ok(st, col) ? st->db->drv->col_text(st, col) : NULL;
}

int64_t db_col_int64(struct db_stmt *st, int col)
{
    return col_ok(st, col) ? st->db->drv->col_int64(st, col) : 0;
}

const char *db_col_name(struct db_stmt *st, int col)
{
    if (st == NULL || col < 0 || col >= st->db->drv->col_count(st))
        return NULL;
    return st->db->drv->col_name(st, col);
}

int64_t db_changes(struct db_stmt *st)
{
    return st ? st->db->drv->changes(st) : 0;
}

void db_finalize(struct db_stmt *st)
{
    if (st == NULL)
        return;
    st->db->drv->finalize(st);
}

int db_begin(struct db *db, struct lumi_err *err)
{
    if (db == NULL)
        return err_set(err, LUMI_EINVAL, "db_begin: no connection");
    if (db->in_tx)
        return err_set(err, LUMI_EINTERNAL, "db_begin: a transaction is already open");
    static _Atomic uint64_t serials;
    int rc = counted(db->drv->begin(db, err));
    if (rc == 0) {
        db->in_tx = true;
        db->tx_serial = atomic_fetch_add(&serials, 1) + 1;
    }
    return rc;
}

uint64_t db_tx_serial(const struct db *db)
{
    return db != NULL && db->in_tx ? db->tx_serial : 0;
}

/* A failed commit is rolled back, so afterwards no transaction is open either way. */
int db_commit(struct db *db, struct lumi_err *err)
{
    if (db == NULL)
        return err_set(err, LUMI_EINVAL, "db_commit: no connection");
    if (!db->in_tx)
        return err_set(err, LUMI_EINTERNAL, "db_commit: no transaction is open");
    struct db_last_stmt last = {NULL, 0, NULL};
    int rc = db->dops != NULL ? db->dops->flush(db, db->dstate, &last, err) : 0;
    if (rc == 0 && last.sql != NULL && db->drv->commit_with != NULL)
        rc = counted(db->drv->commit_with(db, last.sql, last.nparams, last.params, err));
    else if (rc == 0 && last.sql != NULL)
        rc = db_execp(db, last.sql, last.nparams, last.params, NULL, err);
    if (rc == 0 && (last.sql == NULL || db->drv->commit_with == NULL))
        rc = counted(db->drv->commit(db, err));
    if (rc != 0) {
        db->drv->rollback(db, NULL);
    }
    db_defer_undo(db, 0);
    db->in_tx = false;
    return rc;
}

void db_rollback(struct db *db)
{
    if (db == NULL || !db->in_tx)
        return;
    struct lumi_err e;
    err_clear(&e);
    if (db->drv->rollback(db, &e) != 0)
        log_warn("db.rollback_failed", "engine=%s code=%d msg=\"%s\"", db->drv->name, e.code,
                 e.msg);
    db_defer_undo(db, 0);
    db->in_tx = false;
}

/* ---- writes deferred to the end of the transaction (issue 15, see db.h) ---- */

void db_defer_set(struct db *db, bool on)
{
    if (db != NULL)
        db->defer = on;
}

void db_keep_prepared(struct db *db, bool on)
{
    if (db != NULL)
        db->keep_prepared = on;
}

void db_write_behind(struct db *db, bool on)
{
    if (db != NULL && db->drv->write_behind != NULL)
        db->drv->write_behind(db, on);
}

void db_lock_wait_short(struct db *db)
{
    if (db != NULL && db->drv->lock_wait_short != NULL)
        db->drv->lock_wait_short(db);
}

int db_collect(struct db *db, struct lumi_err *err)
{
    if (db == NULL || db->drv->collect == NULL)
        return 0;
    return counted(db->drv->collect(db, err));
}

bool db_defer_on(const struct db *db)
{
    return db != NULL && db->defer;
}

void *db_deferred(struct db *db, const struct db_deferred_ops *ops)
{
    return db != NULL && db->dops == ops ? db->dstate : NULL;
}

int db_deferred_attach(struct db *db, const struct db_deferred_ops *ops, void *state,
                       struct lumi_err *err)
{
    if (db == NULL || ops == NULL || db->dops != NULL)
        return err_set(err, LUMI_EINTERNAL, "db_deferred_attach: a queue is already attached");
    db->dops = ops;
    db->dstate = state;
    return 0;
}

size_t db_defer_mark(struct db *db)
{
    return db != NULL && db->dops != NULL ? db->dops->mark(db->dstate) : 0;
}

void db_defer_undo(struct db *db, size_t mark)
{
    if (db != NULL && db->dops != NULL)
        db->dops->undo(db->dstate, mark);
}

bool db_in_tx(const struct db *db)
{
    return db != NULL && db->in_tx;
}

int db_tx_lock(struct db *db, int64_t key, struct lumi_err *err)
{
    if (db == NULL)
        return err_set(err, LUMI_EINVAL, "db_tx_lock: no connection");
    /* Checked on both engines so a misuse shows up in SQLite tests too. */
    if (!db->in_tx)
        return err_set(err, LUMI_EINTERNAL, "db_tx_lock: called outside a transaction");
    return db->drv->tx_lock(db, key, err);
}

int db_try_lock(struct db *db, int64_t key, struct lumi_err *err)
{
    if (db == NULL)
        return err_set(err, LUMI_EINVAL, "db_try_lock: no connection");
    return db->drv->try_lock(db, key, err);
}

int db_wal_path(struct db *db, char *out, size_t outsz)
{
    if (db == NULL || db->drv->wal_path == NULL)
        return LUMI_ENOTFOUND;
    return db->drv->wal_path(db, out, outsz);
}

int64_t db_total_changes(struct db *db)
{
    if (db == NULL || db->drv->total_changes == NULL)
        return -1;
    return db->drv->total_changes(db);
}

/* Prepares sql and binds params as text; *out is NULL on failure. */
static int prepare_bound(struct db *db, const char *sql, int nparams, const char *const *params,
                         struct db_stmt **out, struct lumi_err *err)
{
    struct lumi_err local;
    struct lumi_err *e = err != NULL ? err : &local;
    err_clear(&local);
    *out = NULL;
    struct db_stmt *st = db_prepare(db, sql, e);
    if (st == NULL)
        return e->code < 0 ? e->code : LUMI_EDB;
    for (int i = 0; i < nparams; i++) {
        int rc = db_bind_text(st, i + 1, params[i]);
        if (rc != 0) {
            db_finalize(st);
            return err_set(err, rc, "cannot bind parameter %d", i + 1);
        }
    }
    *out = st;
    return 0;
}

int db_execp(struct db *db, const char *sql, int nparams, const char *const *params,
             int64_t *changes, struct lumi_err *err)
{
    struct db_stmt *st = NULL;
    int rc = prepare_bound(db, sql, nparams, params, &st, err);
    if (rc != 0)
        goto out;
    do {
        rc = db_step(st, err);
    } while (rc == DB_ROW);
    if (rc < 0)
        goto out;
    if (changes != NULL)
        *changes = db_changes(st);
    rc = 0;
out:
    db_finalize(st);
    return rc;
}

int db_query_int64(struct db *db, const char *sql, int nparams, const char *const *params,
                   int64_t *out, struct lumi_err *err)
{
    struct db_stmt *st = NULL;
    int rc = prepare_bound(db, sql, nparams, params, &st, err);
    if (rc != 0)
        goto out;
    rc = db_step(st, err);
    if (rc < 0)
        goto out;
    if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "query returned no row");
        goto out;
    }
    *out = db_col_int64(st, 0);
    rc = 0;
out:
    db_finalize(st);
    return rc;
}

int db_query_int64_opt(struct db *db, const char *sql, int nparams, const char *const *params,
                       int64_t *out, struct lumi_err *err)
{
    int rc = db_query_int64(db, sql, nparams, params, out, err);
    if (rc == LUMI_ENOTFOUND) {
        err_clear(err);
        return 0;
    }
    return rc < 0 ? rc : 1;
}

int db_exec_leased(struct db *db, const char *sql, int64_t id, const char *holder, int nextra,
                   const char *const *extra, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], ids[24];
    const char *p[8];
    if (nextra < 0 || nextra > 5)
        return err_set(err, LUMI_EINTERNAL, "db_exec_leased: %d extra parameters", nextra);
    utc_now_iso(now);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    p[0] = now;
    p[1] = ids;
    p[2] = holder;
    for (int i = 0; i < nextra; i++)
        p[3 + i] = extra[i];
    int64_t changes = 0;
    int rc = db_execp(db, sql, 3 + nextra, p, &changes, err);
    if (rc < 0)
        return rc;
    return changes == 0 ? LUMI_ECONFLICT : 0;
}

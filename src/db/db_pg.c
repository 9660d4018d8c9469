/*
 * db_pg.c — the PostgreSQL back end of db.h (see driver.h), over libpq.
 *
 * Owns one PGconn per `struct db`. A statement keeps its SQL and text
 * parameters; the first db_step runs PQexecParams (text in, text out) and the
 * following steps walk the rows of the stored result. So column counts and
 * names are known only after the first step, and a result is held in memory
 * whole: page large listings with LIMIT. Numbers come back as text and are
 * parsed with str_to_i64.
 *
 * Sessions are set to client_min_messages=warning and notices are dropped,
 * so nothing reaches stderr behind the logger's back. Error messages never
 * carry the URL's password: connection errors are scrubbed of it.
 *
 * A lost connection is re-established (PQreset) before the next statement
 * when no transaction was open; inside a transaction the caller gets an
 * error and must roll back, since the transaction is gone.
 *
 * Threading: a connection and its statements are used by one thread at a
 * time (libpq is thread-safe across connections).
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "db/driver.h"

#define CONNECT_TIMEOUT_S "10"
#define MAX_PARAMS 65535

#define PREPARED_MAX 64 /* statements kept prepared per connection (db_keep_prepared) */

struct pg_db {
    struct db base;
    PGconn *conn;
    /* db_keep_prepared: SQL texts prepared as "lumi_<index>" on this session */
    char *prepared[PREPARED_MAX];
    int nprepared;
};

struct pg_stmt {
    struct db_stmt base;
    char *sql;
    int nparams;
    char **values; /* nparams entries; NULL = SQL NULL */
    PGresult *res;
    int row; /* current row in res */
    int64_t changes;
    bool executed;
};

static PGconn *conn_of(struct db *db)
{
    return ((struct pg_db *)db)->conn;
}

static struct pg_stmt *pgst(struct db_stmt *st)
{
    return (struct pg_stmt *)st;
}

static int map_sqlstate(const char *state)
{
    if (state == NULL || strlen(state) != 5)
        return LUMI_EDB;
    if (strcmp(state, "23505") == 0)
        return LUMI_ECONFLICT;
    if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
        return LUMI_EINVAL;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return LUMI_EBUSY;
    return LUMI_EDB;
}

/* libpq messages span lines ("…failed: …\n\tIs the server…"); keep one readable line. */
static void one_line(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        bool space = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
        if (space && (o == 0 || s[o - 1] == ' '))
            continue;
        s[o++] = space ? ' ' : s[i];
    }
    while (o > 0 && s[o - 1] == ' ')
        o--;
    s[o] = '\0';
}

static int result_error(PGconn *conn, const PGresult *res, struct lumi_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(conn);
    int code = map_sqlstate(state);
    if (PQstatus(conn) != CONNECTION_OK)
        code = LUMI_EDB;
    err_set_internal(err, code, "%s", msg);
    if (err != NULL)
        one_line(err->msg);
    return code;
}

static void drop_notice(void *arg, const char *message)
{
}

/* Overwrites every occurrence of secret in s with '*' (same length, in place). */
static void scrub(char *s, const char *secret, size_t len)
{
    if (len == 0)
        return;
    for (char *p = s; (p = memmem(p, strlen(p), secret, len)) != NULL; p += len)
        memset(p, '*', len);
}

/* Scrubs the password of the credentials p..at ("user:password") from msg, as written
 * and percent-decoded. */
static void scrub_userinfo(char *msg, const char *p, const char *at)
{
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (colon == NULL)
        return;
    size_t n = (size_t)(at - colon - 1);
    scrub(msg, colon + 1, n);
    char *decoded = str_url_decode(colon + 1, n, false);
    if (decoded != NULL)
        scrub(msg, decoded, strlen(decoded));
    free(decoded);
}

/* Removes the URL's password (as written, percent-decoded, or ?password=) from msg. */
static void scrub_password(char *msg, const char *url)
{
    const char *p = strstr(url, "://");
    if (p != NULL) {
        p += 3;
        /* libpq ends credentials at the first "@" unless a "/" comes first; a password
         * with a stray "/" is scrubbed under both readings. */
        const char *at = p + strcspn(p, "@/");
        scrub_userinfo(msg, p, *at == '@' ? at : NULL);
        scrub_userinfo(msg, p, strchr(p, '@'));
    }
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            scrub(msg, o->val, strlen(o->val));
    PQconninfoFree(opts);
}

static int run_simple(PGconn *conn, const char *sql, struct lumi_err *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType s = PQresultStatus(res);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY)
        rc = result_error(conn, res, err);
    PQclear(res);
    return rc;
}

static int setup_session(PGconn *conn, struct lumi_err *err)
{
    PQsetNoticeProcessor(conn, drop_notice, NULL);
    return run_simple(conn, "SET client_min_messages = warning", err);
}

static struct db *pg_open(const char *url, struct lumi_err *err)
{
    /* Keywords are applied in order, so the URL (dbname, expanded) may override the defaults. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                                "dbname", NULL};
    const char *const vals[] = {CONNECT_TIMEOUT_S, "lumi", "UTF8", url, NULL};
    struct pg_db *db = NULL;
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory connecting to PostgreSQL");
        goto fail;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        err_set(err, LUMI_EDB, "cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
        goto fail;
    }
    if (setup_session(conn, err) != 0)
        goto fail;
    db = calloc(1, sizeof *db);
    if (db == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory connecting to PostgreSQL");
        goto fail;
    }
    db->conn = conn;
    return &db->base;
fail:
    if (err != NULL) {
        scrub_password(err->msg, url);
        one_line(err->msg);
    }
    PQfinish(conn);
    return NULL;
}

/* Forgets the prepared statements (the session that had them is gone). */
static void prepared_forget(struct pg_db *db)
{
    for (int i = 0; i < db->nprepared; i++)
        free(db->prepared[i]);
    db->nprepared = 0;
}

static void pg_close(struct db *db)
{
    prepared_forget((struct pg_db *)db);
    PQfinish(conn_of(db));
    free(db);
}

/* Reconnects a broken connection, unless a transaction was open on it. */
static int ensure_conn(struct db *db, struct lumi_err *err)
{
    PGconn *conn = conn_of(db);
    if (PQstatus(conn) == CONNECTION_OK)
        return 0;
    if (db->in_tx)
        return err_set(err, LUMI_EDB,
                       "the connection to PostgreSQL was lost during a "
                       "transaction; roll back and retry");
    PQreset(conn);
    prepared_forget((struct pg_db *)db);
    if (PQstatus(conn) != CONNECTION_OK) {
        err_set(err, LUMI_EDB, "the connection to PostgreSQL was lost: %s", PQerrorMessage(conn));
        if (err != NULL)
            one_line(err->msg);
        return LUMI_EDB;
    }
    return setup_session(conn, err);
}

static int pg_exec(struct db *db, const char *sql, struct lumi_err *err)
{
    int rc = ensure_conn(db, err);
    if (rc != 0)
        return rc;
    return run_simple(conn_of(db), sql, err);
}

static struct db_stmt *pg_prepare(struct db *db, const char *sql, struct lumi_err *err)
{
    int n = 0;
    if (sql_max_param(sql, MAX_PARAMS, &n) != 0) {
        err_set(err, LUMI_EINVAL, "db_prepare: parameter numbers must be $1..$%d", MAX_PARAMS);
        return NULL;
    }
    struct pg_stmt *st = calloc(1, sizeof *st);
    if (st == NULL)
        goto nomem;
    st->sql = str_dup(sql);
    st->nparams = n;
    st->values = n > 0 ? calloc((size_t)n, sizeof *st->values) : NULL;
    if (st->sql == NULL || (n > 0 && st->values == NULL))
        goto nomem;
    return &st->base;
nomem:
    if (st != NULL) {
        free(st->sql);
        free(st);
    }
    err_set(err, LUMI_ENOMEM, "out of memory preparing a statement");
    return NULL;
}

static int set_value(struct db_stmt *base, int idx, const char *value)
{
    struct pg_stmt *st = pgst(base);
    if (idx < 1 || idx > st->nparams || st->executed)
        return LUMI_EINVAL;
    char *copy = NULL;
    if (value != NULL) {
        copy = str_dup(value);
        if (copy == NULL)
            return LUMI_ENOMEM;
    }
    free(st->values[idx - 1]);
    st->values[idx - 1] = copy;
    return 0;
}

static int pg_bind_text(struct db_stmt *st, int idx, const char *value)
{
    return set_value(st, idx, value);
}

static int pg_bind_int64(struct db_stmt *st, int idx, int64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, value);
    return set_value(st, idx, text);
}

static int pg_bind_null(struct db_stmt *st, int idx)
{
    return set_value(st, idx, NULL);
}

/* Rows changed, for INSERT/UPDATE/DELETE/MERGE only (PQcmdTuples also counts SELECT rows). */
static int64_t changed_rows(PGresult *res)
{
    const char *tag = PQcmdStatus(res);
    if (!str_starts_with(tag, "INSERT") && !str_starts_with(tag, "UPDATE") &&
        !str_starts_with(tag, "DELETE") && !str_starts_with(tag, "MERGE"))
        return 0;
    int64_t n = 0;
    if (str_to_i64z(PQcmdTuples(res), 0, INT64_MAX, &n) != 0)
        return 0;
    return n;
}

/*
 * The name sql is prepared under on this session (db_keep_prepared),
 * preparing it the first time: 1 with name set, 0 when it is not kept (the
 * bound is reached: run it unnamed), < 0 when preparing failed (its result
 * in *failed).
 */
static int prepared_name(struct pg_db *db, const struct pg_stmt *st, char name[16],
                         PGresult **failed)
{
    for (int i = 0; i < db->nprepared; i++)
        if (strcmp(db->prepared[i], st->sql) == 0) {
            snprintf(name, 16, "lumi_%d", i);
            return 1;
        }
    if (db->nprepared == PREPARED_MAX)
        return 0;
    char *copy = str_dup(st->sql);
    if (copy == NULL)
        return 0;
    snprintf(name, 16, "lumi_%d", db->nprepared);
    PGresult *res = PQprepare(db->conn, name, st->sql, st->nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        free(copy);
        *failed = res;
        return -1;
    }
    PQclear(res);
    db->prepared[db->nprepared++] = copy;
    return 1;
}

static int execute(struct pg_stmt *st, struct lumi_err *err)
{
    struct db *db = st->base.db;
    char name[16];
    int rc = ensure_conn(db, err);
    if (rc != 0)
        return rc;
    st->executed = true;
    st->row = -1;
    int kept = db->keep_prepared ? prepared_name((struct pg_db *)db, st, name, &st->res) : 0;
    if (kept < 0)
        return result_error(conn_of(db), st->res, err);
    if (kept == 1)
        st->res = PQexecPrepared(conn_of(db), name, st->nparams, (const char *const *)st->values,
                                 NULL, NULL, 0);
    else
        st->res = PQexecParams(conn_of(db), st->sql, st->nparams, NULL,
                               (const char *const *)st->values, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(st->res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        return result_error(conn_of(db), st->res, err);
    st->changes = changed_rows(st->res);
    return 0;
}

static int pg_step(struct db_stmt *base, struct lumi_err *err)
{
    struct pg_stmt *st = pgst(base);
    if (!st->executed) {
        int rc = execute(st, err);
        if (rc != 0)
            return rc;
    }
    if (st->row + 1 < PQntuples(st->res)) {
        st->row++;
        return DB_ROW;
    }
    return DB_DONE;
}

static int pg_col_count(struct db_stmt *st)
{
    return pgst(st)->res ? PQnfields(pgst(st)->res) : 0;
}

static bool pg_col_is_null(struct db_stmt *st, int col)
{
    return PQgetisnull(pgst(st)->res, pgst(st)->row, col) != 0;
}

static const char *pg_col_text(struct db_stmt *st, int col)
{
    if (pg_col_is_null(st, col))
        return NULL;
    return PQgetvalue(pgst(st)->res, pgst(st)->row, col);
}

static int64_t pg_col_int64(struct db_stmt *st, int col)
{
    const char *v = pg_col_text(st, col);
    int64_t n = 0;
    if (v == NULL)
        return 0;
    /* Booleans are INTEGER in Lumi's schema, but functions such as
     * pg_try_advisory_lock answer t/f. */
    if (strcmp(v, "t") == 0)
        return 1;
    if (str_to_i64z(v, INT64_MIN, INT64_MAX, &n) != 0)
        return 0;
    return n;
}

static const char *pg_col_name(struct db_stmt *st, int col)
{
    return PQfname(pgst(st)->res, col);
}

static int64_t pg_changes(struct db_stmt *st)
{
    return pgst(st)->changes;
}

static void pg_finalize(struct db_stmt *base)
{
    struct pg_stmt *st = pgst(base);
    for (int i = 0; i < st->nparams; i++)
        free(st->values[i]);
    free(st->values);
    free(st->sql);
    PQclear(st->res);
    free(st);
}

static int pg_begin(struct db *db, struct lumi_err *err)
{
    return pg_exec(db, "BEGIN", err);
}

static int pg_commit(struct db *db, struct lumi_err *err)
{
    PGconn *conn = conn_of(db);
    if (PQstatus(conn) != CONNECTION_OK)
        return err_set(err, LUMI_EDB,
                       "the connection to PostgreSQL was lost during a "
                       "transaction; it was not committed");
    /* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
    if (PQtransactionStatus(conn) == PQTRANS_INERROR)
        return err_set(err, LUMI_EDB,
                       "the transaction was aborted by an earlier error; "
                       "nothing was committed");
    PGresult *res = PQexec(conn, "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = result_error(conn, res, err);
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = err_set(err, LUMI_EDB, "the transaction was rolled back by the server");
    PQclear(res);
    return rc;
}

/* One result of a pipeline: the first failure goes to err (a COMMIT answered
 * ROLLBACK is one). */
static int pipeline_result(PGconn *conn, PGresult *res, int rc, struct lumi_err *err)
{
    ExecStatusType s = PQresultStatus(res);
    if (rc != 0)
        return rc;
    if (s == PGRES_FATAL_ERROR)
        return result_error(conn, res, err);
    if (s == PGRES_PIPELINE_ABORTED)
        return err_set(err, LUMI_EDB, "the transaction was aborted; nothing was committed");
    if (s == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        return err_set(err, LUMI_EDB, "the transaction was rolled back by the server");
    return 0;
}

/*
 * Issue 15: sql and COMMIT in one round trip (libpq pipeline mode, client
 * 14+): the group commit's last statement (the audit rows, under the chain
 * lock) and its COMMIT. Should sql fail, the server skips the COMMIT and the
 * transaction stays aborted: the caller rolls it back (db_commit does).
 * Durable when it returns 0, as pg_commit.
 */
static int pg_commit_with(struct db *db, const char *sql, int nparams, const char *const *params,
                          struct lumi_err *err)
{
    PGconn *conn = conn_of(db);
    if (PQstatus(conn) != CONNECTION_OK)
        return err_set(err, LUMI_EDB,
                       "the connection to PostgreSQL was lost during a "
                       "transaction; it was not committed");
    if (PQtransactionStatus(conn) == PQTRANS_INERROR)
        return err_set(err, LUMI_EDB,
                       "the transaction was aborted by an earlier error; "
                       "nothing was committed");
    if (PQenterPipelineMode(conn) != 1)
        return err_set(err, LUMI_EDB, "cannot enter pipeline mode: %s", PQerrorMessage(conn));
    int rc = 0, ends = 0;
    if (PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0) != 1 ||
        PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQpipelineSync(conn) != 1)
        rc = err_set(err, LUMI_EDB, "cannot send the commit: %s", PQerrorMessage(conn));
    /* sql's results, NULL, COMMIT's, NULL, then the sync; a broken connection ends it early */
    while (PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQgetResult(conn);
        if (res == NULL) {
            if (++ends > 2)
                break;
            continue;
        }
        bool synced = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        rc = pipeline_result(conn, res, rc, err);
        PQclear(res);
        if (synced)
            break;
    }
    if (PQexitPipelineMode(conn) != 1 && rc == 0)
        rc = err_set(err, LUMI_EDB, "the commit's answer was incomplete");
    if (PQstatus(conn) != CONNECTION_OK && rc == 0)
        rc = err_set(err, LUMI_EDB, "the connection to PostgreSQL was lost during the commit");
    if (err != NULL && rc != 0)
        one_line(err->msg);
    return rc;
}

static int pg_rollback(struct db *db, struct lumi_err *err)
{
    PGconn *conn = conn_of(db);
    /* A lost connection took its transaction with it. */
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) == PQTRANS_IDLE)
        return 0;
    return run_simple(conn, "ROLLBACK", err);
}

/* Runs a one-parameter query and returns the first column of its row as text in out. */
static int query_key(struct db *db, const char *sql, int64_t key, char *out, size_t outsz,
                     struct lumi_err *err)
{
    int rc = ensure_conn(db, err);
    if (rc != 0)
        return rc;
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, key);
    const char *const params[] = {text};
    PGresult *res = PQexecParams(conn_of(db), sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = result_error(conn_of(db), res, err);
        goto out;
    }
    str_copy(out, PQgetvalue(res, 0, 0), outsz);
out:
    PQclear(res);
    return rc;
}

static int pg_tx_lock(struct db *db, int64_t key, struct lumi_err *err)
{
    char v[8];
    return query_key(db, "SELECT pg_advisory_xact_lock($1::bigint)", key, v, sizeof v, err);
}

static int pg_try_lock(struct db *db, int64_t key, struct lumi_err *err)
{
    char v[8];
    int rc = query_key(db, "SELECT pg_try_advisory_lock($1::bigint)", key, v, sizeof v, err);
    if (rc != 0)
        return rc;
    return strcmp(v, "t") == 0 ? 1 : 0;
}

const struct db_driver db_pg_driver = {
    .name = "postgres",
    .kind = DB_POSTGRES,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_count = pg_col_count,
    .col_is_null = pg_col_is_null,
    .col_text = pg_col_text,
    .col_int64 = pg_col_int64,
    .col_name = pg_col_name,
    .changes = pg_changes,
    .finalize = pg_finalize,
    .begin = pg_begin,
    .commit = pg_commit,
    .commit_with = pg_commit_with,
    .rollback = pg_rollback,
    .tx_lock = pg_tx_lock,
    .try_lock = pg_try_lock,
    .wal_path = NULL,
    .total_changes = NULL,
};

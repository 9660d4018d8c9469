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
#include <strings.h>

#include "core/str.h"
#include "db/driver.h"

#define CONNECT_TIMEOUT_S "10"
#define MAX_PARAMS 65535

#define PREPARED_MAX 64 /* statements kept prepared per connection (db_keep_prepared) */

/* One query sent in pipeline mode, whose answer is still to be read. */
enum slot_kind {
    SLOT_WRITE,  /* a write sent behind: its row count goes to st, if st is still there */
    SLOT_ANSWER, /* the statement that needs its answer: the result is kept in st */
    SLOT_CHECK,  /* only its failure matters (a prepare, the commit's last statement) */
    SLOT_COMMIT, /* COMMIT: answered ROLLBACK when the transaction had failed */
};

struct pg_slot {
    enum slot_kind kind;
    struct pg_stmt *st; /* NULL once finalized, or for SLOT_CHECK/SLOT_COMMIT */
};

struct pg_db {
    struct db base;
    PGconn *conn;
    /* db_keep_prepared: SQL texts prepared as "lumi_<name_no>" on this session */
    char *prepared[PREPARED_MAX];
    int name_no[PREPARED_MAX];
    int nprepared;
    int next_name; /* names are never reused: one prepared in a failed pipeline may exist */
    /* db_write_behind (issue 15) */
    bool behind;
    bool piped;        /* in pipeline mode, answers outstanding */
    int prepared_mark; /* nprepared when the pipeline began: later ones are dropped on failure */
    struct pg_slot *slots;
    int nslots, capslots;
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
    bool pending; /* sent behind, answer not read yet: slots[slot] points here */
    int slot;
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
    free(((struct pg_db *)db)->slots);
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

static int pipe_finish(struct pg_db *p, struct lumi_err *err);

/* Before a statement that waits for its answer outside the pipeline: the
 * writes sent behind collected, the connection up. */
static int conn_ready(struct db *db, struct lumi_err *err)
{
    int rc = pipe_finish((struct pg_db *)db, err);
    return rc != 0 ? rc : ensure_conn(db, err);
}

static int pg_exec(struct db *db, const char *sql, struct lumi_err *err)
{
    int rc = conn_ready(db, err);
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

/* The index of sql among the prepared statements, or -1. */
static int prepared_find(const struct pg_db *db, const char *sql)
{
    for (int i = 0; i < db->nprepared; i++)
        if (strcmp(db->prepared[i], sql) == 0)
            return i;
    return -1;
}

/* Records sql as prepared under a new name (into name): its index, or -1
 * when the table is full or out of memory (it then runs unnamed). */
static int prepared_add(struct pg_db *db, const char *sql, char name[16])
{
    if (db->nprepared == PREPARED_MAX)
        return -1;
    char *copy = str_dup(sql);
    if (copy == NULL)
        return -1;
    int no = db->next_name++;
    snprintf(name, 16, "lumi_%d", no);
    db->prepared[db->nprepared] = copy;
    db->name_no[db->nprepared] = no;
    return db->nprepared++;
}

/* Forgets the statement prepared_add recorded last (its prepare failed or was not sent). */
static void prepared_drop_last(struct pg_db *db)
{
    free(db->prepared[--db->nprepared]);
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
    int i = prepared_find(db, st->sql);
    if (i >= 0) {
        snprintf(name, 16, "lumi_%d", db->name_no[i]);
        return 1;
    }
    if (prepared_add(db, st->sql, name) < 0)
        return 0;
    PGresult *res = PQprepare(db->conn, name, st->sql, st->nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        prepared_drop_last(db);
        *failed = res;
        return -1;
    }
    PQclear(res);
    return 1;
}

/* ---- write-behind: libpq pipeline mode (issue 15, db.h db_write_behind) ----
 *
 * A group-commit writer's delivery is a dozen statements, and on one
 * connection each used to be a round trip the writer waited for. With
 * write-behind on, a write whose answer nobody reads (INSERT, UPDATE or
 * DELETE without RETURNING, inside a transaction) is sent in pipeline mode
 * and not waited for; the connection stays in pipeline mode, and the next
 * statement that needs its answer (a SELECT, a RETURNING, db_changes, a
 * simple command, the COMMIT) is sent behind them with a sync, so the
 * writes and it cost one round trip. Every answer is read in order
 * (pipe_finish): the writes' row counts go to their statements if these are
 * still open, the first failure is reported by whichever call collected it.
 * After a failure the server skips the rest up to the sync
 * (PGRES_PIPELINE_ABORTED) and the transaction is aborted, as it would have
 * been; statements prepared within that pipeline may not exist, so they are
 * forgotten (their names are never reused).
 */

/* INSERT, UPDATE or DELETE without RETURNING: nothing of its answer but its
 * failure and row count is ever read. RETURNING anywhere (even quoted)
 * counts as one: such a statement merely waits as before. */
static bool plain_write(const char *sql)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '(')
        sql++;
    if (strncasecmp(sql, "INSERT", 6) != 0 && strncasecmp(sql, "UPDATE", 6) != 0 &&
        strncasecmp(sql, "DELETE", 6) != 0)
        return false;
    for (const char *p = sql; *p != '\0'; p++)
        if ((*p == 'R' || *p == 'r') && strncasecmp(p, "RETURNING", 9) == 0)
            return false;
    return true;
}

static int slot_add(struct pg_db *p, enum slot_kind kind, struct pg_stmt *st, struct lumi_err *err)
{
    if (p->nslots == p->capslots) {
        int cap = p->capslots > 0 ? p->capslots * 2 : 32;
        struct pg_slot *slots = realloc(p->slots, (size_t)cap * sizeof *slots);
        if (slots == NULL)
            return err_set(err, LUMI_ENOMEM, "out of memory");
        p->slots = slots;
        p->capslots = cap;
    }
    p->slots[p->nslots].kind = kind;
    p->slots[p->nslots].st = st;
    if (st != NULL)
        st->slot = p->nslots;
    p->nslots++;
    return 0;
}

static int pipe_enter(struct pg_db *p, struct lumi_err *err)
{
    if (p->piped)
        return 0;
    if (PQenterPipelineMode(p->conn) != 1)
        return err_set(err, LUMI_EDB, "cannot enter pipeline mode: %s", PQerrorMessage(p->conn));
    p->piped = true;
    p->prepared_mark = p->nprepared;
    return 0;
}

static int send_failed(struct pg_db *p, struct lumi_err *err)
{
    err_set(err, LUMI_EDB, "cannot send a statement to PostgreSQL: %s", PQerrorMessage(p->conn));
    if (err != NULL)
        one_line(err->msg);
    return LUMI_EDB;
}

/* Sends st into the pipeline, preparing it there first when it is to be kept. */
static int pipe_send_stmt(struct pg_db *p, struct pg_stmt *st, enum slot_kind kind,
                          struct lumi_err *err)
{
    char name[16];
    const char *const *vals = (const char *const *)st->values;
    int i = p->base.keep_prepared ? prepared_find(p, st->sql) : -1;
    if (i < 0 && p->base.keep_prepared && (i = prepared_add(p, st->sql, name)) >= 0) {
        if (PQsendPrepare(p->conn, name, st->sql, st->nparams, NULL) != 1) {
            prepared_drop_last(p);
            return send_failed(p, err);
        }
        int rc = slot_add(p, SLOT_CHECK, NULL, err);
        if (rc != 0)
            return rc;
    }
    int sent;
    if (i >= 0) {
        snprintf(name, sizeof name, "lumi_%d", p->name_no[i]);
        sent = PQsendQueryPrepared(p->conn, name, st->nparams, vals, NULL, NULL, 0);
    } else {
        sent = PQsendQueryParams(p->conn, st->sql, st->nparams, NULL, vals, NULL, NULL, 0);
    }
    if (sent != 1)
        return send_failed(p, err);
    return slot_add(p, kind, st, err);
}

/* Sends a statement that is not a db_stmt (the commit's last one, COMMIT). */
static int pipe_send_sql(struct pg_db *p, const char *sql, int nparams, const char *const *params,
                         enum slot_kind kind, struct lumi_err *err)
{
    if (PQsendQueryParams(p->conn, sql, nparams, NULL, params, NULL, NULL, 0) != 1)
        return send_failed(p, err);
    return slot_add(p, kind, NULL, err);
}

/* What one answer says: 0, or the failure it reports (to err, unless one was already). */
static int slot_answer(struct pg_db *p, struct pg_slot *sl, PGresult **res, int rc,
                       struct lumi_err *err)
{
    ExecStatusType s = PQresultStatus(*res);
    if (s == PGRES_FATAL_ERROR)
        return rc != 0 ? rc : result_error(p->conn, *res, err);
    if (s == PGRES_PIPELINE_ABORTED)
        return rc != 0 ? rc
                       : err_set(err, LUMI_EDB,
                                 "the transaction was aborted by an earlier error; "
                                 "nothing was committed");
    if (sl == NULL)
        return rc;
    if (sl->kind == SLOT_COMMIT && s == PGRES_COMMAND_OK &&
        strcmp(PQcmdStatus(*res), "COMMIT") != 0)
        return rc != 0 ? rc
                       : err_set(err, LUMI_EDB, "the transaction was rolled back by the server");
    if (sl->st != NULL && (sl->kind == SLOT_WRITE || sl->kind == SLOT_ANSWER)) {
        sl->st->changes = changed_rows(*res);
        if (sl->kind == SLOT_ANSWER) {
            PQclear(sl->st->res);
            sl->st->res = *res; /* the statement's now */
            *res = NULL;
        }
    }
    return rc;
}

/*
 * Ends the pipeline: a sync, then every answer in the order sent (each
 * query's results end with a NULL; the sync's answer comes last), and back
 * to normal mode. 0, or the first failure (to err).
 */
static int pipe_finish(struct pg_db *p, struct lumi_err *err)
{
    if (!p->piped)
        return 0;
    PGconn *conn = p->conn;
    int rc = 0, slot = 0;
    if (PQpipelineSync(conn) != 1)
        rc = send_failed(p, err);
    for (;;) {
        if (PQstatus(conn) != CONNECTION_OK) {
            if (rc == 0)
                rc = err_set(err, LUMI_EDB,
                             "the connection to PostgreSQL was lost during a "
                             "transaction; it was not committed");
            break;
        }
        PGresult *res = PQgetResult(conn);
        if (res == NULL) {
            if (++slot > p->nslots) /* nothing more will come */
                break;
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        rc = slot_answer(p, slot < p->nslots ? &p->slots[slot] : NULL, &res, rc, err);
        PQclear(res);
    }
    for (int i = 0; i < p->nslots; i++)
        if (p->slots[i].st != NULL)
            p->slots[i].st->pending = false;
    p->nslots = 0;
    p->piped = false;
    if (PQexitPipelineMode(conn) != 1 && rc == 0)
        rc = err_set(err, LUMI_EDB, "PostgreSQL's answers were incomplete");
    if (rc != 0)
        while (p->nprepared > p->prepared_mark)
            free(p->prepared[--p->nprepared]);
    return rc;
}

/* execute() in pipeline mode: a write sent behind, or a statement sent after them. */
static int execute_piped(struct pg_stmt *st, bool behind, struct lumi_err *err)
{
    struct pg_db *p = (struct pg_db *)st->base.db;
    int rc = pipe_enter(p, err);
    if (rc == 0)
        rc = pipe_send_stmt(p, st, behind ? SLOT_WRITE : SLOT_ANSWER, err);
    if (rc != 0) {
        pipe_finish(p, NULL);
        return rc;
    }
    if (!behind)
        return pipe_finish(p, err);
    st->pending = true;
    if (PQflush(p->conn) != 0) /* the server starts on it while we go on */
        return send_failed(p, err);
    return 0;
}

static void pg_write_behind(struct db *db, bool on)
{
    ((struct pg_db *)db)->behind = on;
}

static int pg_collect(struct db *db, struct lumi_err *err)
{
    return pipe_finish((struct pg_db *)db, err);
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
    struct pg_db *p = (struct pg_db *)db;
    bool behind = p->behind && db->in_tx && plain_write(st->sql);
    if (behind || p->piped)
        return execute_piped(st, behind, err);
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
    /* A failure collected here is not lost: the transaction stays aborted,
     * so the next statement or the commit fails. */
    if (pgst(st)->pending)
        pipe_finish((struct pg_db *)st->db, NULL);
    return pgst(st)->changes;
}

static void pg_finalize(struct db_stmt *base)
{
    struct pg_stmt *st = pgst(base);
    if (st->pending) /* its answer is read later, for no one */
        ((struct pg_db *)base->db)->slots[st->slot].st = NULL;
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

/* Why a transaction cannot be committed, before anything is sent: 0 when it can. */
static int commit_refused(PGconn *conn, struct lumi_err *err)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return err_set(err, LUMI_EDB,
                       "the connection to PostgreSQL was lost during a "
                       "transaction; it was not committed");
    /* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
    if (PQtransactionStatus(conn) == PQTRANS_INERROR)
        return err_set(err, LUMI_EDB,
                       "the transaction was aborted by an earlier error; "
                       "nothing was committed");
    return 0;
}

/*
 * sql (when not NULL) and COMMIT in one round trip, behind whatever writes
 * are still unanswered (pipeline mode, libpq 14+): the group commit's last
 * statement (the audit rows, under the chain lock) and its COMMIT. Should
 * anything fail, the server skips the COMMIT and the transaction stays
 * aborted: the caller rolls it back (db_commit does). Durable when it
 * returns 0 (synchronous_commit).
 */
static int pg_commit_with(struct db *db, const char *sql, int nparams, const char *const *params,
                          struct lumi_err *err)
{
    struct pg_db *p = (struct pg_db *)db;
    int rc = p->piped ? 0 : commit_refused(p->conn, err);
    if (rc == 0)
        rc = pipe_enter(p, err);
    if (rc == 0 && sql != NULL)
        rc = pipe_send_sql(p, sql, nparams, params, SLOT_CHECK, err);
    if (rc == 0)
        rc = pipe_send_sql(p, "COMMIT", 0, NULL, SLOT_COMMIT, err);
    int done = pipe_finish(p, rc == 0 ? err : NULL);
    rc = rc != 0 ? rc : done;
    if (PQstatus(p->conn) != CONNECTION_OK && rc == 0)
        rc = err_set(err, LUMI_EDB, "the connection to PostgreSQL was lost during the commit");
    if (err != NULL && rc != 0)
        one_line(err->msg);
    return rc;
}

/* COMMIT alone, the same way: one round trip either way, one place that reads its answer. */
static int pg_commit(struct db *db, struct lumi_err *err)
{
    return pg_commit_with(db, NULL, 0, NULL, err);
}

static int pg_rollback(struct db *db, struct lumi_err *err)
{
    PGconn *conn = conn_of(db);
    pipe_finish((struct pg_db *)db, NULL); /* the writes' answers, whatever they say */
    /* A lost connection took its transaction with it. */
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) == PQTRANS_IDLE)
        return 0;
    return run_simple(conn, "ROLLBACK", err);
}

/* Runs a one-parameter query and returns the first column of its row as text in out. */
static int query_key(struct db *db, const char *sql, int64_t key, char *out, size_t outsz,
                     struct lumi_err *err)
{
    int rc = conn_ready(db, err);
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
    .write_behind = pg_write_behind,
    .collect = pg_collect,
};

/*
 * db_sqlite.c — the SQLite back end of db.h (see driver.h).
 *
 * Owns connection set-up (WAL, foreign_keys=ON, busy_timeout=5000 or the
 * group-commit writer's shorter waits (lite_busy),
 * synchronous=FULL so a commit is on disk before we answer), the $n → ?n
 * rewrite at prepare time, and mapping SQLite result codes to LUMI_E* codes.
 *
 * Threading: connections are opened SQLITE_OPEN_NOMUTEX; each connection and
 * its statements are used by one thread at a time, and every worker opens its
 * own connection. Writers are serialised by SQLite itself (BEGIN IMMEDIATE
 * takes the write lock up front; others wait up to the busy timeout), which is
 * why db_tx_lock is a no-op here and db_try_lock always succeeds.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "db/driver.h"

#define BUSY_TIMEOUT_MS 5000
#define BUSY_SHORT_TRIES 40 /* first waits for a lock: 100 µs each (4 ms in all) */
#define BUSY_SHORT_US 100
#define BUSY_LONG_US 1000 /* then 1 ms each, up to BUSY_TIMEOUT_MS in all */

/*
 * Prepared statements are kept per connection, keyed by their SQL text: Lumi's
 * SQL is a fixed set of constant strings, and compiling one costs more than
 * running it. A cached statement is lent to one caller at a time (a nested use
 * of the same SQL gets a fresh, uncached one) and reset when given back.
 */
#define STMT_CACHE_SLOTS 128
#define READER_CACHE "-512" /* kB per connection (see configure) */

struct cached_stmt {
    char *sql; /* the text as the caller wrote it ($n), NULL = empty slot */
    uint64_t hash;
    sqlite3_stmt *s;      /* idle statement, or NULL while lent out */
    bool rowid_returning; /* compiled without its " RETURNING id" (see returns_rowid) */
};

struct sqlite_db {
    struct db base;
    sqlite3 *h;
    struct cached_stmt cache[STMT_CACHE_SLOTS];
};

struct sqlite_stmt {
    struct db_stmt base;
    sqlite3_stmt *s;
    struct cached_stmt *slot;   /* where to give s back, or NULL (finalize) */
    sqlite3_int64 total_before; /* total_changes64 before the first step */
    int64_t changes;
    bool started;
    /* RETURNING id emulated: the inserted rowid is the one row; rowid_state
     * 0 = not stepped, 1 = that row is current, 2 = done. */
    bool rowid_returning;
    int rowid_state;
    sqlite3_int64 rowid;
    char rowid_text[24];
};

static sqlite3 *handle(struct db *db)
{
    return ((struct sqlite_db *)db)->h;
}

static struct sqlite_stmt *lite(struct db_stmt *st)
{
    return (struct sqlite_stmt *)st;
}

static int map_code(int xrc)
{
    switch (xrc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
        return LUMI_ECONFLICT;
    default:
        break;
    }
    switch (xrc & 0xff) {
    case SQLITE_CONSTRAINT: /* foreign key, check, not null */
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return LUMI_EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return LUMI_EBUSY;
    case SQLITE_NOMEM:
        return LUMI_ENOMEM;
    case SQLITE_TOOBIG:
        return LUMI_ETOOLARGE;
    default:
        return LUMI_EDB;
    }
}

/*
 * A full or failing disk (issue 17, fault testing): the operator's to fix,
 * and it passes, so the caller answers 503 "try again" (LUMI_EBUSY) in
 * Lumi's own words, fit for any caller; SQLite's text goes to the log.
 */
static int fail_storage(int xrc, const char *msg, struct lumi_err *err)
{
    char quoted[256];
    bool full = (xrc & 0xff) == SQLITE_FULL;
    log_warn("db.sqlite_storage", "code=%d message=%s", xrc, log_quote(msg, quoted, sizeof quoted));
    return err_set(err, LUMI_EBUSY,
                   full ? "the database cannot store data: its disk is full; try again later"
                        : "the database cannot store data: its disk reported an I/O error;"
                          " try again later");
}

/* Fills err from the connection's last error and returns the mapped code. */
static int fail(sqlite3 *h, int rc, struct lumi_err *err)
{
    int xrc = h != NULL ? sqlite3_extended_errcode(h) : rc;
    if ((xrc & 0xff) != (rc & 0xff))
        xrc = rc;
    const char *msg = h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    if ((xrc & 0xff) == SQLITE_FULL || (xrc & 0xff) == SQLITE_IOERR)
        return fail_storage(xrc, msg, err);
    return err_set_internal(err, map_code(xrc), "%s", msg);
}

/* Applies the per-connection settings. journal_mode answers with a row, so it is stepped. */
static int configure(sqlite3 *h, struct lumi_err *err)
{
    /* The page cache is per connection and only grows as used. In WAL mode
     * a reader's cache is dropped whenever another connection has written,
     * so under webhook traffic a large one buys little and churns memory:
     * with SQLite's default 2 MB on each of a server's dozen connections,
     * the soak's RSS (bench/bench_soak, issue 17) grew by about 1 MB a
     * minute as the caches filled with a growing database. 512 kB each
     * keeps it flat; only the group-commit writer sets its own (batch.c). */
    int rc = sqlite3_exec(h,
                          "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;"
                          " PRAGMA temp_store=MEMORY; PRAGMA cache_size=" READER_CACHE ";",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(h, rc, err);
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(h, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return fail(h, rc, err);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int code = fail(h, rc, err);
        sqlite3_finalize(s);
        return code;
    }
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    /* An in-memory database answers "memory"; that is expected, not an error. */
    if (mode == NULL || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0))
        log_warn("db.sqlite_journal_mode", "mode=%s", mode ? mode : "(null)");
    sqlite3_finalize(s);
    return 0;
}

/*
 * Process-wide settings, before SQLite initialises: without memory
 * statistics (which Lumi never reads) an allocation takes no global mutex,
 * and every thread's connection allocates constantly.
 */
static void lite_global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* fails harmlessly once initialised */
    /* No up-front page-cache block per connection: SQLite's default makes
     * each connection allocate (and touch) room for 20 pages, ~86 kB, when it
     * first reads, whether or not it ever caches that much; a server holds a
     * dozen connections, most of them idle (issue 15: idle RSS). Pages are
     * then allocated one by one as the cache grows. */
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
    sqlite3_initialize();
}

/*
 * db_lock_wait_short's wait for another connection's lock. SQLite's own
 * busy_timeout handler sleeps 1, 2, 5, 10, ... ms: the group-commit writer,
 * finding the write lock held for a few hundred microseconds (the mail
 * thread's short transaction), stayed asleep for milliseconds after it was
 * given up, while every delivery waited for it. So its first waits are
 * short, then 1 ms each, BUSY_TIMEOUT_MS in all as before. Every other
 * connection keeps SQLite's backing-off wait: given to all, short waits let
 * the mail thread take the lock between the writer's batches as often as the
 * writer did, and deliveries/s fell by a quarter. `tries` is how often this
 * wait has already been called for the lock.
 */
static int lite_busy(void *arg, int tries)
{
    (void)arg;
    long long waited_us = tries < BUSY_SHORT_TRIES
                              ? (long long)tries * BUSY_SHORT_US
                              : (long long)BUSY_SHORT_TRIES * BUSY_SHORT_US +
                                    (long long)(tries - BUSY_SHORT_TRIES) * BUSY_LONG_US;
    if (waited_us >= (long long)BUSY_TIMEOUT_MS * 1000)
        return 0; /* SQLITE_BUSY to the caller */
    long us = tries < BUSY_SHORT_TRIES ? BUSY_SHORT_US : BUSY_LONG_US;
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
    return 1;
}

static void lite_lock_wait_short(struct db *db)
{
    sqlite3_busy_handler(handle(db), lite_busy, NULL);
}

static struct db *lite_open(const char *target, struct lumi_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, lite_global_init);
    struct sqlite_db *db = NULL;
    sqlite3 *h = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(target, &h, flags, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, LUMI_EDB, "cannot open SQLite database %s: %s", target,
                h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(h, 1);
    /* The busy timeout comes first: switching to WAL may itself wait for a lock. */
    sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
    if (configure(h, err) != 0)
        goto fail;
    db = calloc(1, sizeof *db);
    if (db == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory opening SQLite database");
        goto fail;
    }
    db->h = h;
    return &db->base;
fail:
    sqlite3_close(h);
    return NULL;
}

static void lite_close(struct db *db)
{
    sqlite3 *h = handle(db);
    struct sqlite_db *sd = (struct sqlite_db *)db;
    for (size_t i = 0; i < STMT_CACHE_SLOTS; i++) {
        sqlite3_finalize(sd->cache[i].s);
        free(sd->cache[i].sql);
    }
    if (sqlite3_close(h) != SQLITE_OK) {
        log_warn("db.sqlite_close", "msg=\"%s\" hint=\"statements left unfinalized\"",
                 sqlite3_errmsg(h));
        sqlite3_close_v2(h);
    }
    free(db);
}

/* True if the text after the first statement holds no other (only blanks, ";" or comments). */
static bool only_blank(sqlite3 *h, const char *tail)
{
    while (tail != NULL && tail[0] != '\0') {
        sqlite3_stmt *extra = NULL;
        const char *next = NULL;
        int rc = sqlite3_prepare_v2(h, tail, -1, &extra, &next);
        bool another = rc != SQLITE_OK || extra != NULL || next == tail;
        sqlite3_finalize(extra);
        if (another)
            return false;
        tail = next;
    }
    return true;
}

/* FNV-1a over the length and at most the first and last 48 bytes: a lookup
 * runs for every statement, most statements are hundreds of bytes long, and
 * a hit is confirmed with strcmp anyway. */
static uint64_t sql_hash(const char *sql)
{
    size_t n = strlen(sql);
    uint64_t h = 1469598103934665603ull ^ n;
    const unsigned char *p = (const unsigned char *)sql;
    size_t head = n < 96 ? n : 48;
    for (size_t i = 0; i < head; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    for (size_t i = n < 96 ? n : n - 48; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* The cache slot for sql: its own (idle or lent), else an empty one, else NULL (full). */
static struct cached_stmt *cache_slot(struct sqlite_db *sd, const char *sql, uint64_t hash)
{
    size_t start = (size_t)(hash % STMT_CACHE_SLOTS);
    for (size_t n = 0; n < STMT_CACHE_SLOTS; n++) {
        struct cached_stmt *c = &sd->cache[(start + n) % STMT_CACHE_SLOTS];
        if (c->sql == NULL || (c->hash == hash && strcmp(c->sql, sql) == 0))
            return c;
    }
    return NULL;
}

static struct sqlite_stmt *wrap(sqlite3_stmt *s, struct cached_stmt *slot, bool rowid_returning,
                                struct lumi_err *err)
{
    struct sqlite_stmt *st = calloc(1, sizeof *st);
    if (st == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory preparing a statement");
        return NULL;
    }
    st->s = s;
    st->slot = slot;
    st->rowid_returning = rowid_returning;
    return st;
}

/*
 * SQLite runs INSERT ... RETURNING by first collecting the rows in a
 * temporary b-tree, opened and dropped on every execution: a quarter of the
 * cost of a small insert. Lumi's inserts return only "id", which is the
 * rowid of every table with a {{PK}} (INTEGER PRIMARY KEY), and insert one
 * row; for those the statement is compiled without the clause and the row
 * is sqlite3_last_insert_rowid() when the statement inserted. Not with
 * DO UPDATE: an upsert that updates does not set the last rowid.
 * Returns the length of the SQL to compile (all of it when not such a statement).
 */
static size_t returns_rowid(const char *sql, bool *emulate)
{
    static const char suffix[] = " RETURNING id";
    size_t n = strlen(sql), k = sizeof suffix - 1;
    *emulate = n > k && strncmp(sql, "INSERT INTO ", 12) == 0 && strcmp(sql + n - k, suffix) == 0 &&
               strstr(sql, "DO UPDATE") == NULL && strstr(sql, "SELECT") == NULL;
    return *emulate ? n - k : n;
}

static struct db_stmt *lite_prepare(struct db *db, const char *sql, struct lumi_err *err)
{
    struct sqlite_db *sd = (struct sqlite_db *)db;
    struct sqlite_stmt *st = NULL;
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    char *rewritten = NULL;
    uint64_t hash = sql_hash(sql);
    struct cached_stmt *slot = cache_slot(sd, sql, hash);
    if (slot != NULL && slot->s != NULL) { /* idle: lend it */
        st = wrap(slot->s, slot, slot->rowid_returning, err);
        if (st != NULL)
            slot->s = NULL;
        return st ? &st->base : NULL;
    }
    if (slot != NULL && slot->sql != NULL)
        slot = NULL; /* lent out already: this use gets its own statement */
    bool emulate = false;
    size_t len = returns_rowid(sql, &emulate);
    rewritten = sql_dollar_to_question(sql);
    if (rewritten == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory preparing a statement");
        goto fail;
    }
    rewritten[len] = '\0'; /* the rewrite keeps lengths up to the suffix ($n → ?n) */
    int rc = sqlite3_prepare_v2(handle(db), rewritten, -1, &s, &tail);
    if (rc != SQLITE_OK) {
        fail(handle(db), rc, err);
        goto fail;
    }
    if (s == NULL) {
        err_set(err, LUMI_EINVAL, "db_prepare: empty SQL");
        goto fail;
    }
    if (!only_blank(handle(db), tail)) {
        err_set(err, LUMI_EINVAL, "db_prepare takes one statement; use db_exec for scripts");
        goto fail;
    }
    if (slot != NULL) { /* claim the empty slot; s comes back to it on finalize */
        slot->sql = strdup(sql);
        slot->hash = hash;
        slot->rowid_returning = emulate;
        if (slot->sql == NULL)
            slot = NULL;
    }
    st = wrap(s, slot, emulate, err);
    if (st == NULL)
        goto fail;
    free(rewritten);
    return &st->base;
fail:
    sqlite3_finalize(s);
    free(rewritten);
    return NULL;
}

static int bind_result(int rc)
{
    return rc == SQLITE_OK ? 0 : map_code(rc);
}

static int lite_bind_text(struct db_stmt *st, int idx, const char *value)
{
    return bind_result(sqlite3_bind_text(lite(st)->s, idx, value, -1, SQLITE_TRANSIENT));
}

static int lite_bind_int64(struct db_stmt *st, int idx, int64_t value)
{
    return bind_result(sqlite3_bind_int64(lite(st)->s, idx, value));
}

static int lite_bind_null(struct db_stmt *st, int idx)
{
    return bind_result(sqlite3_bind_null(lite(st)->s, idx));
}

static int lite_step(struct db_stmt *base, struct lumi_err *err)
{
    struct sqlite_stmt *st = lite(base);
    sqlite3 *h = handle(base->db);
    if (!st->started) {
        st->started = true;
        st->total_before = sqlite3_total_changes64(h);
    }
    if (st->rowid_state != 0) {
        st->rowid_state = 2;
        return DB_DONE;
    }
    int rc = sqlite3_step(st->s);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc != SQLITE_DONE)
        return fail(h, rc, err);
    /* sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE on the
     * connection; only trust it if this statement changed something. */
    st->changes = sqlite3_total_changes64(h) != st->total_before ? sqlite3_changes64(h) : 0;
    if (st->rowid_returning && st->changes > 0) {
        st->rowid = sqlite3_last_insert_rowid(h);
        snprintf(st->rowid_text, sizeof st->rowid_text, "%lld", (long long)st->rowid);
        st->rowid_state = 1;
        return DB_ROW;
    }
    return DB_DONE;
}

/* The emulated RETURNING id row is current (see returns_rowid). */
static bool rowid_row(struct db_stmt *st)
{
    return lite(st)->rowid_state == 1;
}

static int lite_col_count(struct db_stmt *st)
{
    return lite(st)->rowid_returning ? 1 : sqlite3_column_count(lite(st)->s);
}

static bool lite_col_is_null(struct db_stmt *st, int col)
{
    if (rowid_row(st))
        return col != 0;
    return sqlite3_column_type(lite(st)->s, col) == SQLITE_NULL;
}

static const char *lite_col_text(struct db_stmt *st, int col)
{
    if (rowid_row(st))
        return col == 0 ? lite(st)->rowid_text : NULL;
    return (const char *)sqlite3_column_text(lite(st)->s, col);
}

static int64_t lite_col_int64(struct db_stmt *st, int col)
{
    if (rowid_row(st))
        return col == 0 ? lite(st)->rowid : 0;
    return sqlite3_column_int64(lite(st)->s, col);
}

static const char *lite_col_name(struct db_stmt *st, int col)
{
    if (lite(st)->rowid_returning)
        return col == 0 ? "id" : NULL;
    return sqlite3_column_name(lite(st)->s, col);
}

static int64_t lite_changes(struct db_stmt *st)
{
    return lite(st)->changes;
}

static void lite_finalize(struct db_stmt *st)
{
    struct sqlite_stmt *ls = lite(st);
    if (ls->slot != NULL && ls->slot->s == NULL) {
        sqlite3_reset(ls->s); /* its result was already reported by the last step */
        sqlite3_clear_bindings(ls->s);
        ls->slot->s = ls->s;
    } else {
        sqlite3_finalize(ls->s);
    }
    free(st);
}

/*
 * A script goes through sqlite3_exec; one statement (no ';': BEGIN, COMMIT,
 * SAVEPOINT, ...) through the statement cache, since the group commit runs
 * a SAVEPOINT and a RELEASE per delivery and compiling them cost more than
 * running them.
 */
static int lite_exec(struct db *db, const char *sql, struct lumi_err *err)
{
    if (strchr(sql, ';') != NULL) {
        int rc = sqlite3_exec(handle(db), sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : fail(handle(db), rc, err);
    }
    struct db_stmt *st = lite_prepare(db, sql, err);
    if (st == NULL)
        return err != NULL && err->code != 0 ? err->code : LUMI_EDB;
    st->db = db;
    int rc;
    while ((rc = lite_step(st, err)) == DB_ROW)
        ;
    lite_finalize(st);
    return rc < 0 ? rc : 0;
}

static int lite_begin(struct db *db, struct lumi_err *err)
{
    return lite_exec(db, "BEGIN IMMEDIATE", err);
}

static int lite_commit(struct db *db, struct lumi_err *err)
{
    /* Some errors (I/O, disk full) make SQLite roll back on its own. */
    if (sqlite3_get_autocommit(handle(db)))
        return err_set(err, LUMI_EDB, "the transaction was rolled back after an earlier error");
    return lite_exec(db, "COMMIT", err);
}

static int lite_rollback(struct db *db, struct lumi_err *err)
{
    if (sqlite3_get_autocommit(handle(db)))
        return 0;
    return lite_exec(db, "ROLLBACK", err);
}

static int lite_tx_lock(struct db *db, int64_t key, struct lumi_err *err)
{
    return 0;
}

static int lite_try_lock(struct db *db, int64_t key, struct lumi_err *err)
{
    return 1;
}

static int64_t lite_total_changes(struct db *db)
{
    return (int64_t)sqlite3_total_changes64(handle(db));
}

static int lite_wal_path(struct db *db, char *out, size_t outsz)
{
    sqlite3_filename f = sqlite3_db_filename(handle(db), "main");
    const char *wal = f != NULL && f[0] != '\0' ? sqlite3_filename_wal(f) : NULL;
    if (wal == NULL || wal[0] == '\0')
        return LUMI_ENOTFOUND; /* in-memory or temporary: no file */
    size_t n = strlen(wal);
    if (n >= outsz)
        return LUMI_ETOOLARGE;
    memcpy(out, wal, n + 1);
    return 0;
}

const struct db_driver db_sqlite_driver = {
    .name = "sqlite",
    .kind = DB_SQLITE,
    .open = lite_open,
    .close = lite_close,
    .exec = lite_exec,
    .prepare = lite_prepare,
    .bind_text = lite_bind_text,
    .bind_int64 = lite_bind_int64,
    .bind_null = lite_bind_null,
    .step = lite_step,
    .col_count = lite_col_count,
    .col_is_null = lite_col_is_null,
    .col_text = lite_col_text,
    .col_int64 = lite_col_int64,
    .col_name = lite_col_name,
    .changes = lite_changes,
    .finalize = lite_finalize,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .tx_lock = lite_tx_lock,
    .try_lock = lite_try_lock,
    .wal_path = lite_wal_path,
    .total_changes = lite_total_changes,
    .lock_wait_short = lite_lock_wait_short,
};

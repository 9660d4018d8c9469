/*
 * driver.h — the seam between db.c and the engine back ends (private to src/db/).
 *
 * Modelled on SQLite's sqlite3_io_methods: each back end fills one constant
 * `struct db_driver` and allocates its connection and statement objects with
 * `struct db` / `struct db_stmt` as their first member, so db.c can hand them
 * out as the opaque public types and dispatch through `db->drv`.
 *
 * db.c validates arguments (NULLs, column ranges, "is there a current row",
 * "is a transaction open") and keeps the transaction flag, so drivers only do
 * the engine work. Drivers fill err with LUMI_ECONFLICT / LUMI_EINVAL /
 * LUMI_EBUSY / LUMI_EDB as described in db.h.
 */
#ifndef LUMI_DB_DRIVER_H
#define LUMI_DB_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

struct db_driver;

/* The common head of every connection. */
struct db {
    const struct db_driver *drv;
    bool in_tx;
    /* writes deferred to the end of the transaction (db.h, db_defer_set) */
    bool defer;
    bool keep_prepared; /* db_keep_prepared */
    uint64_t tx_serial; /* db_tx_serial: set by db_begin */
    const struct db_deferred_ops *dops;
    void *dstate;
};

/* The common head of every statement. */
struct db_stmt {
    struct db *db;
    bool has_row; /* the last db_step returned DB_ROW */
    bool done;    /* the last db_step returned DB_DONE or an error: stepping again is a no-op */
    int rc_done;  /* what a further db_step returns once done (DB_DONE or the error) */
};

struct db_driver {
    const char *name;
    enum db_kind kind;

    /* target is the URL with the scheme already checked ("sqlite:" stripped for SQLite,
     * the whole URL for PostgreSQL). */
    struct db *(*open)(const char *target, struct lumi_err *err);
    void (*close)(struct db *db);
    int (*exec)(struct db *db, const char *sql, struct lumi_err *err);

    struct db_stmt *(*prepare)(struct db *db, const char *sql, struct lumi_err *err);
    int (*bind_text)(struct db_stmt *st, int idx, const char *value);
    int (*bind_int64)(struct db_stmt *st, int idx, int64_t value);
    int (*bind_null)(struct db_stmt *st, int idx);
    int (*step)(struct db_stmt *st, struct lumi_err *err);
    int (*col_count)(struct db_stmt *st);
    bool (*col_is_null)(struct db_stmt *st, int col);
    const char *(*col_text)(struct db_stmt *st, int col);
    int64_t (*col_int64)(struct db_stmt *st, int col);
    const char *(*col_name)(struct db_stmt *st, int col);
    int64_t (*changes)(struct db_stmt *st);
    void (*finalize)(struct db_stmt *st);

    int (*begin)(struct db *db, struct lumi_err *err);
    int (*commit)(struct db *db, struct lumi_err *err);
    /* runs one statement, then COMMIT, in one round trip where it can; NULL: not offered */
    int (*commit_with)(struct db *db, const char *sql, int nparams, const char *const *params,
                       struct lumi_err *err);
    int (*rollback)(struct db *db, struct lumi_err *err);
    int (*tx_lock)(struct db *db, int64_t key, struct lumi_err *err);
    int (*try_lock)(struct db *db, int64_t key, struct lumi_err *err);
    /* NULL when the engine has no write-ahead log file of its own to sync */
    int (*wal_path)(struct db *db, char *out, size_t outsz);
    int64_t (*total_changes)(struct db *db); /* NULL: not counted */
    /* db_write_behind / db_collect; NULL where every statement waits for its answer */
    void (*write_behind)(struct db *db, bool on);
    int (*collect)(struct db *db, struct lumi_err *err);
    /* db_lock_wait_short; NULL where waiting for a lock is the server's business */
    void (*lock_wait_short)(struct db *db);
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_pg_driver;

/*
 * SQL text helpers shared by the drivers (sqltext.c).
 *
 * Both walk the SQL skipping string literals ('…' with '' escapes), quoted
 * identifiers ("…"), comments (-- and / * * /) and PostgreSQL dollar quotes
 * ($tag$…$tag$), so a "$1" inside any of them is left alone.
 */

/** Highest $n parameter used by sql (0 if none); LUMI_EINVAL if a number exceeds max. */
int sql_max_param(const char *sql, int max, int *out);

/** Copy of sql with each $n parameter written ?n (caller frees); NULL if out of memory. */
char *sql_dollar_to_question(const char *sql);

#endif

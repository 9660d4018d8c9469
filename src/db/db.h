/*
 * db.h — one small interface over SQLite and PostgreSQL.
 *
 * A `struct db` is one connection, used by one thread at a time (each worker
 * opens its own). SQL is written once with $1..$n parameters and bound values;
 * the SQLite driver rewrites $n to ?n. SQL is kept to what both engines share
 * (TEXT times in ISO-8601, INTEGER booleans, BIGINT money, RETURNING).
 *
 * Statement life cycle:
 *     struct db_stmt *st = db_prepare(db, "SELECT id, name FROM products WHERE id = $1", err);
 *     db_bind_int64(st, 1, id);
 *     while ((rc = db_step(st, err)) == DB_ROW) { db_col_int64(st, 0) ... }
 *     db_finalize(st);
 * db_step returns DB_ROW (1), DB_DONE (0) or a negative LUMI_E* code.
 * A unique-constraint violation is LUMI_ECONFLICT, a foreign-key or check
 * violation LUMI_EINVAL, a busy/locked database LUMI_EBUSY, anything else LUMI_EDB.
 *
 * Transactions: db_begin() starts a write transaction (SQLite: BEGIN IMMEDIATE,
 * so the write lock is taken up front; PostgreSQL: BEGIN). Nesting is not
 * supported; db_in_tx() tells whether one is open.
 */
#ifndef LUMI_DB_DB_H
#define LUMI_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;
struct db_stmt;

enum db_kind { DB_SQLITE = 1, DB_POSTGRES = 2 };

enum { DB_DONE = 0, DB_ROW = 1 };

/**
 * Opens a connection for DATABASE_URL: "sqlite:PATH" (":memory:" allowed) or
 * "postgres://…"/"postgresql://…". SQLite connections get WAL, foreign_keys=ON
 * and a busy timeout. Returns NULL with err filled (the message never includes
 * the URL's password).
 */
struct db *db_open(const char *url, struct lumi_err *err);

/** Closes the connection (NULL is a no-op). Open statements must be finalized first. */
void db_close(struct db *db);

enum db_kind db_kind(const struct db *db);

/** Runs one or more statements without parameters or results (DDL, pragmas). */
int db_exec(struct db *db, const char *sql, struct lumi_err *err);

/** Prepares one statement. NULL with err on failure. */
struct db_stmt *db_prepare(struct db *db, const char *sql, struct lumi_err *err);

/* Parameters are numbered from 1. Values are copied. */
int db_bind_text(struct db_stmt *st, int idx, const char *value); /* NULL binds SQL NULL */
int db_bind_int64(struct db_stmt *st, int idx, int64_t value);
int db_bind_null(struct db_stmt *st, int idx);

/** Runs the statement or fetches the next row: DB_ROW, DB_DONE or < 0. */
int db_step(struct db_stmt *st, struct lumi_err *err);

/**
 * Runs an INSERT … RETURNING id and reads the id into *id: 0, or < 0 with
 * err ("inserting <what> returned no id" when no row came back).
 */
int db_step_id(struct db_stmt *st, const char *what, int64_t *id, struct lumi_err *err);

/* Column reads on the current row, numbered from 0. Text is borrowed until the
 * next db_step/db_finalize; SQL NULL reads as NULL text / 0. */
int db_col_count(struct db_stmt *st);
bool db_col_is_null(struct db_stmt *st, int col);
const char *db_col_text(struct db_stmt *st, int col);
int64_t db_col_int64(struct db_stmt *st, int col);
const char *db_col_name(struct db_stmt *st, int col);

/** Rows changed by the last completed INSERT/UPDATE/DELETE of this statement. */
int64_t db_changes(struct db_stmt *st);

/** Frees the statement (NULL is a no-op). */
void db_finalize(struct db_stmt *st);

int db_begin(struct db *db, struct lumi_err *err);
int db_commit(struct db *db, struct lumi_err *err);
/** Rolls back if a transaction is open; safe to call on any path (errors only logged). */
void db_rollback(struct db *db);
bool db_in_tx(const struct db *db);

/*
 * Conveniences for the common one-row cases; each prepares, binds the given
 * parameters (all as text, NULL for SQL NULL), steps and finalizes.
 */
/** Executes a statement with nparams text parameters; *changes (may be NULL) gets rows changed. */
int db_execp(struct db *db, const char *sql, int nparams, const char *const *params,
             int64_t *changes, struct lumi_err *err);
/**
 * Runs an UPDATE of a leased row (a job, a mail, an outgoing delivery) with
 * $1 the current UTC time, $2 id, $3 the lease holder, then nextra (at most
 * 5) more text parameters from $4. 0 when a row changed; LUMI_ECONFLICT,
 * with err untouched, when none did (the lease was taken over); < 0 with err
 * on a database error.
 */
int db_exec_leased(struct db *db, const char *sql, int64_t id, const char *holder, int nextra,
                   const char *const *extra, struct lumi_err *err);
/** Reads the first column of the first row as int64: 0 with *out set, LUMI_ENOTFOUND if no row. */
int db_query_int64(struct db *db, const char *sql, int nparams, const char *const *params,
                   int64_t *out, struct lumi_err *err);
/** As db_query_int64 for a row that may be missing: 1 with *out set, 0 when there is none
 *  (*out untouched, err clear), or a negative code. */
int db_query_int64_opt(struct db *db, const char *sql, int nparams, const char *const *params,
                       int64_t *out, struct lumi_err *err);

/**
 * Serialises writers that must see each other's commits in order (the audit
 * chain). Inside a transaction: on PostgreSQL takes pg_advisory_xact_lock(key),
 * released at commit/rollback; on SQLite the BEGIN IMMEDIATE write lock already
 * serialises writers, so this does nothing.
 */
int db_tx_lock(struct db *db, int64_t key, struct lumi_err *err);

/**
 * Tries a session-level advisory lock (scheduler singleton). PostgreSQL:
 * pg_try_advisory_lock; SQLite: always granted (one process). 1 granted,
 * 0 held elsewhere, < 0 error.
 */
int db_try_lock(struct db *db, int64_t key, struct lumi_err *err);

/**
 * The file of the connection's write-ahead log (SQLite's "-wal"), for a
 * writer that commits without waiting for the disk and syncs the log itself
 * (batch.c). LUMI_ENOTFOUND for PostgreSQL and in-memory SQLite.
 */
int db_wal_path(struct db *db, char *out, size_t outsz);

/*
 * Writes deferred to the end of the transaction (issue 15: PostgreSQL's
 * parallel group commit). A connection with deferral on (db_defer_set) lets
 * a module queue a write that must come last in its transaction — the audit
 * chain's append, which takes the chain lock: queued, the lock is held only
 * for the append and the COMMIT instead of the whole transaction, so other
 * writers' transactions run meanwhile. Off by default; the module decides
 * per call (db_defer_on) and writes at once when it is off.
 *
 * The module attaches its queue once (db_deferred_attach; the connection
 * frees it on close). db_commit runs ops->flush just before COMMIT (a failed
 * flush fails the commit), then its last statement and the COMMIT together;
 * commit and rollback empty the queue; a caller
 * that rolls back to a savepoint drops what was queued since with
 * db_defer_mark / db_defer_undo.
 */
/* A statement flush leaves for db_commit to send with the COMMIT (one round
 * trip on PostgreSQL: pipeline mode). Its text and parameters stay owned by
 * the queue until the commit ended. */
struct db_last_stmt {
    const char *sql; /* NULL: none */
    int nparams;
    const char *const *params;
};

struct db_deferred_ops {
    int (*flush)(struct db *db, void *state, struct db_last_stmt *last, struct lumi_err *err);
    size_t (*mark)(const void *state);      /* how much is queued */
    void (*undo)(void *state, size_t mark); /* drops what was queued after mark */
    void (*free)(void *state);
};

void db_defer_set(struct db *db, bool on);

/*
 * For a connection that runs the same few statements over and over (a
 * group-commit writer): PostgreSQL keeps each distinct SQL text prepared on
 * the server (up to a bound) instead of parsing and planning it at every
 * run. Off by default: statements with optional filters are better planned
 * for their values. SQLite caches its own statements either way.
 */
void db_keep_prepared(struct db *db, bool on);
bool db_defer_on(const struct db *db);
/** The queue attached for ops, or NULL. */
void *db_deferred(struct db *db, const struct db_deferred_ops *ops);
/** Attaches state as the connection's queue (one per connection): 0 or LUMI_EINTERNAL. */
int db_deferred_attach(struct db *db, const struct db_deferred_ops *ops, void *state,
                       struct lumi_err *err);
size_t db_defer_mark(struct db *db);
void db_defer_undo(struct db *db, size_t mark);

/*
 * Write-behind (issue 15: a PostgreSQL group-commit writer spent its time
 * waiting for answers it did not need). With it on, inside a transaction,
 * an INSERT, UPDATE or DELETE without RETURNING is sent without waiting for
 * its answer (libpq pipeline mode): db_step answers DB_DONE at once. The
 * next statement that needs an answer goes in the same round trip and
 * collects the writes' answers first; db_changes, db_exec, the commit and
 * db_collect collect them too. The first failure among them is reported by
 * that later call, and the transaction is aborted as it would have been: so
 * a caller that must know which statement failed turns this off. Off by
 * default; no effect on SQLite, which has no round trips.
 */
void db_write_behind(struct db *db, bool on);

/*
 * For the one connection every request waits for (SQLite's group-commit
 * writer): when another connection holds the write lock, it checks again
 * every 100 µs instead of backing off to sleeps of 1, 2, 5, 10 ms, so it
 * takes the lock as soon as it is free. Other connections keep backing off,
 * which leaves the lock to it whenever both wait. Same timeout (5 s). No
 * effect on PostgreSQL, whose server queues lock waiters.
 */
void db_lock_wait_short(struct db *db);

/** The open transaction's number, unique in the process (no two transactions
 *  of any connections share one): for what may be read once per transaction.
 *  0 when no transaction is open. */
uint64_t db_tx_serial(const struct db *db);
/** Collects every write sent behind: 0, or the first failure. 0 at once when none is out. */
int db_collect(struct db *db, struct lumi_err *err);

/** Rows inserted, updated or deleted through this connection since it opened
 *  (SQLite), or -1 where not counted (PostgreSQL). */
int64_t db_total_changes(struct db *db);

#endif

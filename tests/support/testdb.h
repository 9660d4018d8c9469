/*
 * testdb.h — a fresh, empty database for one test, on the engine CTest chose.
 *
 * LUMI_TEST_DB=sqlite (default): a new file in a new temporary directory.
 * LUMI_TEST_DB=postgres: a new database (random name) on the fixture server
 * started by tests/pg_ctl.sh, whose connection URL is in $LUMI_TEST_PG_DIR/url.
 * testdb_drop() removes it. Failures abort the test with a message.
 * testdb_start/testdb_finish, TESTDB_TEARDOWN and testdb_add_client are the
 * fixture steps the storage tests (tests/unit/dbtest_*.c) share.
 */
#ifndef LUMI_TEST_TESTDB_H
#define LUMI_TEST_TESTDB_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/** DATABASE_URL of a new empty database (caller passes it to testdb_drop). */
char *testdb_create(void);

/** Drops the database (closing nothing: close connections first) and frees url. */
void testdb_drop(char *url);

/**
 * Removes the SQLite database file path with its -wal, -shm and -journal, and
 * what `lumi serve` and `lumi restore` leave beside it (-lumi.lock,
 * .before-restore), then its directory when that is empty (the benches' too).
 */
void testdb_remove_sqlite(const char *path);

/** true when the tests run on PostgreSQL. */
bool testdb_is_postgres(void);

/** Opens url or fails the test. */
struct db *testdb_open(const char *url);

/** testdb_open + db_migrate, or fails the test. */
struct db *testdb_open_migrated(const char *url);

/** The first column of the first row of sql as an integer, or fails the test. */
int64_t testdb_int64(struct db *db, const char *sql);

/** Runs sql (no parameters, no results), or fails the test. */
void testdb_exec(struct db *db, const char *sql);

/** Runs sql with n text parameters, or fails the test. */
void testdb_execp(struct db *db, const char *sql, int n, const char *const *params);

/** testdb_int64 of the SQL built from a printf format (fails the test when it is too long). */
int64_t testdb_int64f(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Loads the configuration from the process environment (config_load), or fails the test. */
void testdb_config_load(void);

/**
 * The usual start of a storage test: crypto_init, the configuration loaded
 * from the process environment (fails the test when it does not load), and a
 * new migrated database, whose URL goes into *url (pass it to testdb_finish).
 */
struct db *testdb_start(char **url);

/** Closes db (NULL: nothing to close) and drops the database of url (testdb_drop). */
void testdb_finish(struct db *db, char *url);

/**
 * Defines `static int teardown(void **state)` for a fixture of `type` (from
 * calloc) that holds only its database as members url and db: closes and
 * drops the database, frees the fixture.
 */
#define TESTDB_TEARDOWN(type)                                                                      \
    static int teardown(void **state)                                                              \
    {                                                                                              \
        type *f_ = *state;                                                                         \
        testdb_finish(f_->db, f_->url);                                                            \
        free(f_);                                                                                  \
        return 0;                                                                                  \
    }

/** Inserts a client user with this e-mail (created 2026-01-01T00:00:00Z); answers its id. */
int64_t testdb_add_client(struct db *db, const char *email);

#endif

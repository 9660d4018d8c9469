/*
 * testdb.h — a fresh, empty database for one test, on the engine CTest chose.
 *
 * LUMI_TEST_DB=sqlite (default): a new file in a new temporary directory.
 * LUMI_TEST_DB=postgres: a new database (random name) on the fixture server
 * started by tests/pg_ctl.sh, whose connection URL is in $LUMI_TEST_PG_DIR/url.
 * testdb_drop() removes it. Failures abort the test with a message.
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

#endif

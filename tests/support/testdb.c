/*
 * testdb.c — a fresh database per test, on the engine chosen by LUMI_TEST_DB (testdb.h).
 *
 * SQLite: a new directory from mkdtemp holding test.db (its WAL and SHM
 * files, and what `lumi serve` and `lumi restore` leave beside it, the
 * "-lumi.lock" and the ".before-restore" copy, are removed with it).
 * PostgreSQL: CREATE DATABASE lumi_t_<random hex> on the fixture server
 * whose base URL tests/pg_ctl.sh wrote to $LUMI_TEST_PG_DIR/url, dropped
 * WITH (FORCE) afterwards.
 *
 * Failures end the current test through cmocka's fail_msg, so call these from
 * the test's own thread (worker threads should use db_open directly).
 */
#include "support/testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/str.h"
#include "db/migrate.h"

#define URL_MAX 1024
#define SQLITE_FILE "test.db"

bool testdb_is_postgres(void)
{
    return str_eq(getenv("LUMI_TEST_DB"), "postgres");
}

/* The fixture server's base URL, e.g. postgres://lumi_test@127.0.0.1:PORT/postgres. */
static void read_base_url(char *out, size_t outsz)
{
    const char *dir = getenv("LUMI_TEST_PG_DIR");
    char path[URL_MAX];
    if (dir == NULL)
        fail_msg("LUMI_TEST_DB=postgres but LUMI_TEST_PG_DIR is not set (run through ctest)");
    int n = snprintf(path, sizeof path, "%s/url", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        fail_msg("LUMI_TEST_PG_DIR is too long");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot read %s: is the pg fixture (tests/pg_ctl.sh start) running?", path);
    char *line = fgets(out, (int)outsz, f);
    fclose(f);
    if (line == NULL)
        fail_msg("%s is empty", path);
    out[strcspn(out, "\r\n")] = '\0';
}

/* Runs one statement on the fixture server's maintenance database. */
static void admin_exec(const char *sql)
{
    char base[URL_MAX];
    struct lumi_err err;
    read_base_url(base, sizeof base);
    struct db *db = db_open(base, &err);
    if (db == NULL)
        fail_msg("cannot connect to the test server: %s", err.msg);
    int rc = db_exec(db, sql, &err);
    db_close(db);
    if (rc != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static char *pg_create(void)
{
    unsigned char rnd[8];
    char hex[2 * sizeof rnd + 1];
    char base[URL_MAX];
    char sql[128];
    char url[URL_MAX];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        fail_msg("getrandom failed");
    hex_encode(rnd, sizeof rnd, hex, sizeof hex);
    snprintf(sql, sizeof sql, "CREATE DATABASE lumi_t_%s", hex);
    admin_exec(sql);

    read_base_url(base, sizeof base);
    char *slash = strrchr(base, '/');
    if (slash == NULL || slash < strstr(base, "://") + 3)
        fail_msg("unexpected fixture URL %s", base);
    *slash = '\0';
    int n = snprintf(url, sizeof url, "%s/lumi_t_%s", base, hex);
    if (n < 0 || (size_t)n >= sizeof url)
        fail_msg("fixture URL too long");
    return str_dup(url);
}

static char *sqlite_create(void)
{
    char dir[] = "/tmp/lumi-test-XXXXXX";
    char url[URL_MAX];
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp failed");
    snprintf(url, sizeof url, "sqlite:%s/%s", dir, SQLITE_FILE);
    return str_dup(url);
}

char *testdb_create(void)
{
    char *url = testdb_is_postgres() ? pg_create() : sqlite_create();
    if (url == NULL)
        fail_msg("out of memory");
    return url;
}

void testdb_remove_sqlite(const char *path)
{
    static const char *const suffixes[] = {"",         "-wal",       "-shm",
                                           "-journal", "-lumi.lock", ".before-restore"};
    char file[URL_MAX];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
    str_copy(file, path, sizeof file);
    char *slash = strrchr(file, '/');
    if (slash != NULL) {
        *slash = '\0';
        rmdir(file);
    }
}

void testdb_drop(char *url)
{
    if (url == NULL)
        return;
    if (str_starts_with(url, "sqlite:")) {
        testdb_remove_sqlite(url + strlen("sqlite:"));
    } else {
        char sql[URL_MAX + 64];
        const char *name = strrchr(url, '/') + 1;
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
        free(url);
        admin_exec(sql);
        return;
    }
    free(url);
}

struct db *testdb_open(const char *url)
{
    struct lumi_err err;
    struct db *db = db_open(url, &err);
    if (db == NULL)
        fail_msg("db_open: %s", err.msg);
    return db;
}

struct db *testdb_open_migrated(const char *url)
{
    struct lumi_err err;
    struct db *db = testdb_open(url);
    if (db_migrate(db, NULL, &err) != 0) {
        db_close(db);
        fail_msg("db_migrate: %s", err.msg);
    }
    return db;
}

int64_t testdb_int64(struct db *db, const char *sql)
{
    struct lumi_err err;
    int64_t n = -1;
    if (db_query_int64(db, sql, 0, NULL, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

void testdb_exec(struct db *db, const char *sql)
{
    struct lumi_err err;
    if (db_exec(db, sql, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

void testdb_execp(struct db *db, const char *sql, int n, const char *const *params)
{
    struct lumi_err err;
    if (db_execp(db, sql, n, params, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

int64_t testdb_int64f(struct db *db, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof sql)
        fail_msg("SQL too long");
    return testdb_int64(db, sql);
}

void testdb_config_load(void)
{
    struct lumi_err err;
    if (config_load(NULL, &err) != 0)
        fail_msg("config: %s", err.msg);
}

struct db *testdb_start(char **url)
{
    crypto_init();
    testdb_config_load();
    *url = testdb_create();
    return testdb_open_migrated(*url);
}

void testdb_finish(struct db *db, char *url)
{
    if (db != NULL)
        db_close(db);
    testdb_drop(url);
}

int64_t testdb_add_client(struct db *db, const char *email)
{
    const char *p[] = {email};
    testdb_execp(db,
                 "INSERT INTO users (email, role, created_at, updated_at) VALUES "
                 "($1, 'client', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                 1, p);
    struct lumi_err err;
    int64_t id = 0;
    if (db_query_int64(db, "SELECT id FROM users WHERE email = $1", 1, p, &id, &err) != 0)
        fail_msg("client %s: %s", email, err.msg);
    return id;
}

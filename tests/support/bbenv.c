/*
 * bbenv.c — the blackbox environment of one test program (bbenv.h): its
 * database, environment entries, CLI preparation, server, and the shared
 * API, SQL and JSON helpers.
 *
 * Owns one static environment per process; not thread-safe, call from the
 * test's own thread (failures go through cmocka's fail_msg).
 */
#include "support/bbenv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/crypto.h"
#include "support/browse.h"
#include "support/testdb.h"

#define BB_MAX_ENV 24
#define BB_ENTRY_MAX 1100
#define BB_PATH_MAX 512
#define BB_SQL_MAX 1200
#define BEARER "Authorization: Bearer "

/* fmt with ap into out; fails the test when it does not fit. */
static void vformat(char *out, size_t sz, const char *what, const char *fmt, va_list ap)
{
    int n = vsnprintf(out, sz, fmt, ap);
    if (n < 0 || (size_t)n >= sz)
        fail_msg("%s too long", what);
}

static struct {
    char *url;
    char entries[BB_MAX_ENV][BB_ENTRY_MAX];
    const char *env[BB_MAX_ENV + 1];
    size_t n;
    struct lumi_server srv;
    int serving;
    char auth[160];
    struct db *db;
    bb_answer_check check;
} B;

void bb_init(const char *secret_key)
{
    memset(&B, 0, sizeof B);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    crypto_init();
    B.url = testdb_create();
    bb_env_add("DATABASE_URL=%s", B.url);
    bb_env_add("LUMI_SECRET_KEY=%s", secret_key);
}

void bb_env_add(const char *fmt, ...)
{
    char entry[BB_ENTRY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vformat(entry, sizeof entry, "environment entry", fmt, ap);
    va_end(ap);
    const char *eq = strchr(entry, '=');
    if (eq == NULL)
        fail_msg("environment entry without '='");
    size_t name_len = (size_t)(eq - entry) + 1;
    size_t i = 0;
    while (i < B.n && strncmp(B.entries[i], entry, name_len) != 0)
        i++;
    if (i == BB_MAX_ENV)
        fail_msg("more than %d environment entries", BB_MAX_ENV);
    memcpy(B.entries[i], entry, strlen(entry) + 1);
    B.env[i] = B.entries[i];
    if (i == B.n) {
        B.n++;
        B.env[B.n] = NULL;
    }
}

const char *const *bb_env(void)
{
    return B.env;
}

const char *bb_env_db(void)
{
    return B.entries[0];
}

const char *bb_db_url(void)
{
    return B.url;
}

void bb_run_out(const char *const *argv, const char *stdin_text, struct lumi_run_result *r)
{
    if (lumi_run(argv, B.env, stdin_text, r) != 0)
        fail_msg("could not run lumi %s", argv[0]);
    if (r->exit_code != 0)
        fail_msg("lumi %s exited %d: %s", argv[0], r->exit_code, buf_cstr(&r->err));
}

void bb_run_ok(const char *const *argv, const char *stdin_text)
{
    struct lumi_run_result r;
    bb_run_out(argv, stdin_text, &r);
    lumi_run_result_free(&r);
}

void bb_prepare(const char *admin_email, const char *admin_password, const char *token_name)
{
    const char *migrate[] = {"migrate", NULL};
    bb_run_ok(migrate, NULL);
    bb_admin_create(admin_email, admin_password);
    bb_token(token_name);
}

void bb_admin_create(const char *email, const char *password)
{
    char pw[256];
    int n = snprintf(pw, sizeof pw, "%s\n", password);
    assert_true(n > 0 && (size_t)n < sizeof pw);
    const char *admin[] = {"admin", "create", email, NULL};
    bb_run_ok(admin, pw);
}

void bb_token(const char *token_name)
{
    lumi_token_header(B.env, token_name, B.auth, sizeof B.auth);
    assert_true(strlen(bb_token_value()) > 10);
}

const char *bb_token_value(void)
{
    return B.auth + strlen(BEARER);
}

void bb_serve(void)
{
    lumi_serve_start(&B.srv, B.env);
    B.serving = 1;
}

struct lumi_server *bb_server(void)
{
    return &B.srv;
}

const char *bb_base_url(void)
{
    return B.srv.base_url;
}

const char *bb_auth(void)
{
    return B.auth;
}

struct db *bb_db(void)
{
    if (B.db == NULL)
        B.db = testdb_open(B.url);
    return B.db;
}

int bb_stop(void)
{
    if (!B.serving)
        return 0;
    B.serving = 0;
    return lumi_serve_stop(&B.srv);
}

int bb_finish(void)
{
    int status = bb_stop();
    if (status != 0)
        fprintf(stderr, "lumi serve exited %d\n", status);
    if (B.db != NULL)
        db_close(B.db);
    B.db = NULL;
    if (B.url != NULL)
        testdb_drop(B.url);
    B.url = NULL;
    curl_global_cleanup();
    return status;
}

void bb_check_answers(bb_answer_check check)
{
    B.check = check;
}

struct http_result bb_api(const char *method, const char *path, const char *body)
{
    struct http_result r = http_api(B.srv.base_url, B.auth, method, path, body);
    if (B.check != NULL)
        B.check(method, path, &r);
    return r;
}

struct http_result bb_apif(const char *method, const char *body, const char *fmt, ...)
{
    char path[BB_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vformat(path, sizeof path, "path", fmt, ap);
    va_end(ap);
    return bb_api(method, path, body);
}

json_t *bb_json(const char *method, const char *body, long status, const char *fmt, ...)
{
    char path[BB_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vformat(path, sizeof path, "path", fmt, ap);
    va_end(ap);
    struct http_result r = bb_api(method, path, body);
    if (r.status != status)
        fail_msg("%s %s: want %ld, got %ld: %s", method, path, status, r.status, buf_cstr(&r.body));
    json_t *j = json_incref(r.json);
    http_result_free(&r);
    return j;
}

int64_t bb_create_ok(const char *path, const char *body)
{
    struct http_result r = bb_api("POST", path, body);
    if (r.status != 201)
        fail_msg("POST %s: %ld %s", path, r.status, buf_cstr(&r.body));
    int64_t id = bb_int(r.json, "id");
    http_result_free(&r);
    assert_true(id > 0);
    return id;
}

int64_t bb_count(const char *fmt, ...)
{
    char sql[BB_SQL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vformat(sql, sizeof sql, "SQL", fmt, ap);
    va_end(ap);
    struct lumi_err err;
    int64_t n = -1;
    if (db_query_int64(bb_db(), sql, 0, NULL, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

int64_t bb_audit_count(const char *action)
{
    struct lumi_err err;
    int64_t n = -1;
    const char *p[] = {action};
    if (db_query_int64(bb_db(), "SELECT COUNT(*) FROM audit_log WHERE action = $1", 1, p, &n,
                       &err) != 0)
        fail_msg("audit count: %s", err.msg);
    return n;
}

const char *bb_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

int64_t bb_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

void bb_admin_login(const char *email, const char *password, char *out, size_t sz)
{
    long st = browse_login(B.srv.base_url, "admin", email, password, out, sz);
    if (st != 303)
        fail_msg("admin login answered %ld", st);
}

void bb_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * bbenv.h — the one `lumi serve` environment of a blackbox test program:
 * a fresh database on the engine CTest chose, the environment entries the
 * binary runs with (DATABASE_URL, LUMI_SECRET_KEY and what the test adds),
 * the CLI steps every test starts with (migrate, an admin, an API token),
 * the server itself, and the helpers the tests share for talking to it (API
 * calls with the token, counts straight from the database, JSON members).
 *
 * Each bb_* program drives exactly one environment, so the state lives here
 * and the helpers take no handle. Failures end the current test through
 * cmocka's fail_msg: call these from the test's own thread.
 */
#ifndef LUMI_TEST_BBENV_H
#define LUMI_TEST_BBENV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db/db.h"
#include "support/httpc.h"
#include "support/proc.h"

/**
 * Starts the environment: curl and crypto initialised, a new empty
 * database, and the entries DATABASE_URL=<it> and LUMI_SECRET_KEY=secret_key.
 */
void bb_init(const char *secret_key);

/**
 * Sets one "NAME=value" entry (printf format, copied) of the environment:
 * replaces the entry of the same NAME, else adds it. A running server keeps
 * the environment it started with (bb_stop, then bb_serve again).
 */
void bb_env_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** The environment's entries, NULL-terminated (valid until bb_finish). */
const char *const *bb_env(void);

/** The "DATABASE_URL=…" entry, for tests that build their own environment. */
const char *bb_env_db(void);

/** The database's URL (valid until bb_finish). */
const char *bb_db_url(void);

/**
 * Runs `lumi argv...` with the environment and stdin_text (may be NULL);
 * fails unless it exits 0. Its output is in r (free with lumi_run_result_free).
 */
void bb_run_out(const char *const *argv, const char *stdin_text, struct lumi_run_result *r);

/** bb_run_out without the output. */
void bb_run_ok(const char *const *argv, const char *stdin_text);

/**
 * The CLI steps before serving: `lumi migrate`, `lumi admin create
 * admin_email` with admin_password on stdin, and `lumi token create
 * token_name`, whose Authorization header bb_auth() answers from then on.
 */
void bb_prepare(const char *admin_email, const char *admin_password, const char *token_name);

/** `lumi admin create email` with password on stdin; fails unless it exits 0. */
void bb_admin_create(const char *email, const char *password);

/** `lumi token create token_name`; bb_auth() answers its Authorization header from then on. */
void bb_token(const char *token_name);

/** The bare API token of bb_token (for checks that it is stored or logged nowhere). */
const char *bb_token_value(void);

/** Starts `lumi serve` with the environment; fails the test if it is not healthy. */
void bb_serve(void);

/** Stops the server (SIGTERM, waits); returns its exit status (0 when none runs). */
int bb_stop(void);

/** The running server (its base URL, log and working directory). */
struct lumi_server *bb_server(void);

/** "http://127.0.0.1:PORT" of the running server. */
const char *bb_base_url(void);

/** "Authorization: Bearer <token>" from bb_prepare. */
const char *bb_auth(void);

/** A connection to the environment's database, opened on first use, closed by bb_finish. */
struct db *bb_db(void);

/**
 * Stops the server (SIGTERM; its exit status is printed when not 0), closes
 * bb_db, drops the database and cleans up curl. Returns the server's exit
 * status (0 when it was never started).
 */
int bb_finish(void);

/** A check every API answer must pass (e.g. that no secret leaks); it fails the test itself. */
typedef void (*bb_answer_check)(const char *method, const char *path, const struct http_result *r);

/** Runs check on every answer of bb_api, bb_apif and bb_create_ok from now on (NULL: none). */
void bb_check_answers(bb_answer_check check);

/**
 * method path with the API token and body (may be NULL), the answer checked
 * by the bb_check_answers check; fails when no answer arrives.
 */
struct http_result bb_api(const char *method, const char *path, const char *body);

/** bb_api with the path built from a printf format. */
struct http_result bb_apif(const char *method, const char *body, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * method on the path built from a printf format, with body (may be NULL);
 * fails unless it answers status. Answers the JSON of the answer (caller
 * decrefs; NULL when it was not JSON).
 */
json_t *bb_json(const char *method, const char *body, long status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** POSTs body to path with the API token; fails unless 201 with a positive "id", which it answers.
 */
int64_t bb_create_ok(const char *path, const char *body);

/** The first column of the first row of the SQL (printf format) as an integer, or fails. */
int64_t bb_count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** How many audit_log rows have this action. */
int64_t bb_audit_count(const char *action);

/** Member key of o as a string, "" when absent or not a string (borrowed). */
const char *bb_str(const json_t *o, const char *key);

/** Member key of o as an integer, 0 when absent or not an integer. */
int64_t bb_int(const json_t *o, const char *key);

/**
 * Logs in through the /admin/login form; fails unless it answers 303.
 * The session cookie ("lumi_session=…") goes into out.
 */
void bb_admin_login(const char *email, const char *password, char *out, size_t sz);

/** Sleeps ms milliseconds (for polling the server). */
void bb_sleep_ms(long ms);

#endif

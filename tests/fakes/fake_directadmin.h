/*
 * fake_directadmin.h — a stateful fake DirectAdmin panel on fake_http.
 *
 * Speaks both dialects the client uses: the legacy CMD_API_* commands
 * (url-encoded `error=0/1&text=&details=` at HTTP 200, `list[]=` lists,
 * `k=v&…` records with '&', '=', '<' and '>' in values entity-encoded as
 * &#38; &#61; &#60; &#62;; JSON instead when the request has json=yes in its
 * query or form) and the JSON API endpoints the client needs
 * (GET /api/session, GET /api/users/{u}/config,
 * POST /api/db-manage/create-db-with-user, GET /api/db-show/databases).
 *
 * Auth: HTTP Basic with the admin's name and password, or "admin|user" with
 * the admin's password to act as an existing user (login-as). Bad
 * credentials answer 401, or, with fake_da_set_html_login(true), an HTTP 200
 * HTML login page like old panels. Creating an existing username or domain,
 * or with an unknown package, answers error=1. Packages "basic" and "pro"
 * exist from the start. Faults and recorded requests: fake_da_http().
 *
 * Every function here takes the fake's lock itself; call them from the test
 * thread.
 */
#ifndef LUMI_TEST_FAKE_DIRECTADMIN_H
#define LUMI_TEST_FAKE_DIRECTADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "fakes/fake_http.h"

struct fake_da;

/** Starts a fake panel whose admin is admin_user/password (copied). Aborts the test on failure. */
struct fake_da *fake_da_start(const char *admin_user, const char *password);
/** Stops and frees it (NULL is a no-op). */
void fake_da_stop(struct fake_da *da);
/** "http://127.0.0.1:PORT" (borrowed). */
const char *fake_da_url(const struct fake_da *da);
/** The HTTP server underneath, for faults and recorded requests (borrowed). */
struct fake_server *fake_da_http(struct fake_da *da);

/** Suspend behaves as a toggle: a Suspend on a suspended account unsuspends it (and vice versa). */
void fake_da_set_toggle_mode(struct fake_da *da, bool on);
/** Bad credentials get an HTTP 200 HTML login page instead of 401. */
void fake_da_set_html_login(struct fake_da *da, bool on);
/** Every request gets 403 "Your IP is blacklisted" (brute-force monitor). */
void fake_da_set_blacklisted(struct fake_da *da, bool on);
/** An old panel: no JSON API, /api/... answers 404 with an HTML page. */
void fake_da_set_legacy_only(struct fake_da *da, bool on);
/** Suspend/Unsuspend answer success but change nothing (to prove the client re-reads). */
void fake_da_set_suspend_ignored(struct fake_da *da, bool on);

/** Adds an account directly (no request). 0, or -1 when the name or domain is taken. */
int fake_da_add_account(struct fake_da *da, const char *user, const char *email, const char *domain,
                        const char *package, const char *password);
void fake_da_set_suspended(struct fake_da *da, const char *user, bool suspended);

bool fake_da_account_exists(struct fake_da *da, const char *user);
/** False too when there is no such account. */
bool fake_da_suspended(struct fake_da *da, const char *user);
/** Copies the account's package into out; false when there is no such account. */
bool fake_da_package(struct fake_da *da, const char *user, char *out, size_t outsz);
bool fake_da_password_matches(struct fake_da *da, const char *user, const char *password);
/** The account's databases, or -1 when there is no such account. */
int fake_da_database_count(struct fake_da *da, const char *user);
/** True when the account has a database of exactly this (prefixed) name. */
bool fake_da_has_database(struct fake_da *da, const char *user, const char *db);
/** Accounts on the panel. */
size_t fake_da_account_count(struct fake_da *da);

/** One-time login URLs created so far (CMD_API_LOGIN_KEYS); user gets the last one's account. */
size_t fake_da_login_url_count(struct fake_da *da, char *user, size_t usersz);

#endif

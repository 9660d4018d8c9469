/*
 * accounts.h — users who sign in (admins, staff, clients), API tokens, sessions.
 *
 * Domain code: no HTTP here. Every change runs in one transaction together
 * with its audit row (ADMIN_CREATED, TOKEN_CREATED, LOGIN, LOGIN_FAILED, LOGOUT).
 */
#ifndef LUMI_ACCOUNTS_ACCOUNTS_H
#define LUMI_ACCOUNTS_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/utc.h"
#include "db/db.h"

/** Validates an e-mail address loosely (one '@', no spaces, 3..254 bytes). */
int accounts_check_email(const char *email, struct lumi_err *err);

/**
 * Creates a user with role "admin", "staff" or "client" and an argon2id
 * password hash. LUMI_ECONFLICT when the e-mail is taken. Audited
 * (ADMIN_CREATED / STAFF_CREATED / CLIENT_CREATED) in the same transaction.
 */
int accounts_create_user(struct db *db, const struct audit_actor *actor, const char *email,
                         const char *role, const char *password, int64_t *id_out,
                         struct lumi_err *err);

#define ACCOUNTS_TOKEN_LEN 70 /* "lumi_" + 64 hex + NUL */

/**
 * Creates an API token named name, owned by the user with owner_email (NULL:
 * an installation-wide admin token). The token is written to token_out once;
 * only its SHA-256 is stored. Audited as TOKEN_CREATED (never the token).
 */
int accounts_token_create(struct db *db, const struct audit_actor *actor, const char *name,
                          const char *owner_email, char token_out[ACCOUNTS_TOKEN_LEN],
                          int64_t *id_out, struct lumi_err *err);

struct accounts_session {
    char token[65];          /* cookie value (shown once) */
    char csrf_token[65];
    char expires_at[UTC_ISO_LEN];
    int64_t user_id;
    char role[16];
    char email[256];
};

struct accounts_login_policy {
    int64_t max_failures; /* per e-mail within window; per IP it is 4x */
    int64_t window_s;
    int64_t session_ttl_s;
    bool client_area; /* true: only clients may sign in; false: only admins and staff */
};

/**
 * Checks the credentials of an admin or staff member (or, with
 * policy->client_area, of a client) and opens a session.
 * Errors: LUMI_ETHROTTLED (too many recent failures for this e-mail or IP;
 * checked before the password), LUMI_EAUTH (wrong e-mail or password),
 * LUMI_EFORBIDDEN (an account of the other area, or a disabled one). Every failure is audited
 * as LOGIN_FAILED and a success as LOGIN, with ip and user agent.
 */
int accounts_login(struct db *db, const char *email, const char *password, const char *ip,
                   const char *user_agent, const struct accounts_login_policy *policy,
                   struct accounts_session *out, struct lumi_err *err);

/** Ends a session (deletes it) and audits LOGOUT. */
int accounts_logout(struct db *db, const struct audit_actor *actor, int64_t session_id,
                    struct lumi_err *err);

#endif

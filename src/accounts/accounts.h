/*
 * accounts.h — users who sign in (staff and clients) and their sessions; API
 * tokens are tokens.h's, staff roles staff.h's.
 *
 * Domain code: no HTTP here. Every change runs in one transaction together
 * with its audit row (ADMIN_CREATED, STAFF_CREATED, CLIENT_CREATED, LOGIN, LOGIN_FAILED, LOGOUT,
 * TOTP_ENABLED, TOTP_DISABLED, RECOVERY_CODE_USED).
 *
 * Second factor (admins, staff and clients, optional): a TOTP secret (RFC 6238, see
 * totp.h) sealed with LUMI_SECRET_KEY and bound to its user row, ten one-time
 * recovery codes stored as hashes, and the last accepted time step so a code
 * works once. With it on, a right password opens no session: accounts_login
 * answers ACCOUNTS_LOGIN_NEED_CODE and a login challenge (random token, only
 * its hash stored, single use, ACCOUNTS_CHALLENGE_TTL_S, a few attempts) that
 * accounts_login_code exchanges, with a current code or a recovery code, for
 * the session. No secret, code or token ever reaches a log or an audit row.
 */
#ifndef LUMI_ACCOUNTS_ACCOUNTS_H
#define LUMI_ACCOUNTS_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "accounts/totp.h"
#include "audit/audit.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/utc.h"
#include "db/db.h"

/** Validates an e-mail address loosely (one '@', no spaces, 3..254 bytes). */
int accounts_check_email(const char *email, struct lumi_err *err);

/** Whether role is a staff role: "admin", "billing", "support" or "readonly" (issue 16). */
bool accounts_is_staff_role(const char *role);

/**
 * Creates a user with a staff role (accounts_is_staff_role) or "client" and an argon2id
 * password hash. LUMI_ECONFLICT when the e-mail is taken. Audited
 * (ADMIN_CREATED / STAFF_CREATED / CLIENT_CREATED) in the same transaction.
 */
int accounts_create_user(struct db *db, const struct audit_actor *actor, const char *email,
                         const char *role, const char *password, int64_t *id_out,
                         struct lumi_err *err);

struct accounts_session {
    char token[65];          /* cookie value (shown once) */
    char csrf_token[65];
    char expires_at[UTC_ISO_LEN];
    int64_t user_id;
    char role[16];
    char email[256];
    /* Set (and token empty) when accounts_login answers ACCOUNTS_LOGIN_NEED_CODE:
     * the login challenge to hand to accounts_login_code (shown once). */
    char challenge[65];
};

/** accounts_login's answer when the password was right and a second factor is due. */
#define ACCOUNTS_LOGIN_NEED_CODE 1
/** How long a login challenge may wait for its code. */
#define ACCOUNTS_CHALLENGE_TTL_S 300
/** Wrong codes one login challenge tolerates before it is void. */
#define ACCOUNTS_CHALLENGE_ATTEMPTS 5
/** Recovery codes made when the second factor is switched on. */
#define ACCOUNTS_RECOVERY_CODES 10
/** Accepted clock drift for TOTP codes, in 30-second steps either way. */
#define ACCOUNTS_TOTP_WINDOW 1

struct accounts_login_policy {
    int64_t max_failures; /* per (e-mail, IP) within window; per IP it is 4x */
    int64_t window_s;
    int64_t account_max_per_hour; /* per e-mail from anywhere, per hour (0: 100) */
    int64_t session_ttl_s;
    bool client_area; /* true: only clients may sign in; false: only admins and staff */
};

/**
 * Checks the credentials of an admin or staff member (or, with
 * policy->client_area, of a client) and opens a session.
 * Errors: LUMI_ETHROTTLED (too many recent failures for this e-mail from this
 * IP, from this IP, or for this e-mail from anywhere: see throttle.h;
 * checked before the password), LUMI_EAUTH (wrong e-mail or password),
 * LUMI_EFORBIDDEN (an account of the other area, or a disabled one). Every failure is audited
 * as LOGIN_FAILED and a success as LOGIN, with ip and user agent.
 * When the password is right but the account has a second factor (either
 * area; the challenge is good only in the area it was made for), no session is opened: returns ACCOUNTS_LOGIN_NEED_CODE (> 0)
 * with out->challenge set, out->token empty and err saying a code is needed.
 */
int accounts_login(struct db *db, const char *email, const char *password, const char *ip,
                   const char *user_agent, const struct accounts_login_policy *policy,
                   struct accounts_session *out, struct lumi_err *err);

/**
 * Second step of a login with a second factor: exchanges the challenge from
 * accounts_login and a current 6-digit TOTP code (or an unused recovery code,
 * which is then spent and audited as RECOVERY_CODE_USED) for a session.
 * A code is accepted once (its time step is remembered), the challenge once.
 * Errors: LUMI_ETHROTTLED (as accounts_login, checked first), LUMI_EAUTH
 * (wrong or replayed code; the challenge stays good for another try),
 * LUMI_ENOTFOUND (challenge unknown, used, expired or out of attempts: start
 * again with the password), LUMI_EINVAL (malformed input). Failures are
 * audited as LOGIN_FAILED with a reason, success as LOGIN.
 */
int accounts_login_code(struct db *db, const char *challenge, const char *code, const char *ip,
                        const char *user_agent, const struct accounts_login_policy *policy,
                        struct accounts_session *out, struct lumi_err *err);

/** What the account page shows about a user's second factor. */
struct accounts_totp_status {
    bool enabled;          /* codes are required at login */
    bool pending;          /* a secret was made and awaits a confirming code */
    int64_t recovery_left; /* unused recovery codes */
};

/** Reads the second-factor state of user_id. LUMI_ENOTFOUND for no such user. */
int accounts_totp_status(struct db *db, int64_t user_id, struct accounts_totp_status *out,
                         struct lumi_err *err);

/**
 * Starts switching the second factor on: makes a new secret and keeps it
 * (sealed) as pending, replacing an earlier pending one; nothing changes at
 * login yet. LUMI_ECONFLICT when it is already on, LUMI_EINVAL without
 * LUMI_SECRET_KEY, LUMI_ENOTFOUND for no such user.
 */
int accounts_totp_begin(struct db *db, int64_t user_id, struct lumi_err *err);

/**
 * The pending secret (base32) and its otpauth:// URI (issuer "Lumi", the
 * user's e-mail as account), to show while setting up. LUMI_ENOTFOUND when
 * nothing is pending. Both outputs are secrets: show them, never log them.
 */
int accounts_totp_pending(struct db *db, int64_t user_id, char b32[TOTP_SECRET_B32_LEN],
                          char uri[TOTP_URI_MAX], struct lumi_err *err);

/**
 * Switches the second factor on when code is a current code of the pending
 * secret: the secret becomes the user's, earlier recovery codes are replaced
 * by ACCOUNTS_RECOVERY_CODES new ones, written to codes (show once; only
 * hashes are kept), audited as TOTP_ENABLED. LUMI_EINVAL for a wrong code
 * (nothing changes), LUMI_ENOTFOUND when nothing is pending.
 */
int accounts_totp_confirm(struct db *db, const struct audit_actor *actor, int64_t user_id,
                          const char *code, char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN],
                          struct lumi_err *err);

/**
 * Switches the second factor off, proven by the user's current password or a
 * current code (TOTP or recovery code; either may be NULL/empty). Removes the
 * secret, recovery codes and open login challenges; audits TOTP_DISABLED.
 * A wrong proof is audited as TOTP_DISABLE_FAILED and answers LUMI_EAUTH;
 * after policy->max_failures of them within policy->window_s, LUMI_ETHROTTLED.
 * LUMI_ECONFLICT when it is not on.
 */
int accounts_totp_disable(struct db *db, const struct audit_actor *actor, int64_t user_id,
                          const char *password, const char *code,
                          const struct accounts_login_policy *policy, struct lumi_err *err);

/**
 * The way out for an admin who lost the device and the recovery codes
 * (`lumi admin totp-reset EMAIL`, run by whoever controls the server):
 * removes the second factor of the user with that e-mail; audited as
 * TOTP_DISABLED with method "reset". LUMI_ENOTFOUND for no such user,
 * LUMI_ECONFLICT when it has no second factor.
 */
int accounts_totp_reset(struct db *db, const struct audit_actor *actor, const char *email,
                        struct lumi_err *err);

/**
 * Sets a new password for the admin or staff member with this e-mail (`lumi
 * admin password`, for whoever runs the server: a forgotten password, or one
 * that may be known to others). The password meets password_check; every
 * session and login challenge of the account ends in the same transaction;
 * audited PASSWORD_CHANGED with "by": "cli" (never the password).
 * LUMI_ENOTFOUND for no such admin or staff member, LUMI_EINVAL for a weak password.
 */
int accounts_set_staff_password(struct db *db, const struct audit_actor *actor, const char *email,
                                const char *password, struct lumi_err *err);

/** Ends a session (deletes it) and audits LOGOUT. */
int accounts_logout(struct db *db, const struct audit_actor *actor, int64_t session_id,
                    struct lumi_err *err);

#endif

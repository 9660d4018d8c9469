/*
 * signup.h — a client's own account: sign-up, e-mail verification, password
 * reset, password change, profile; and the admin's hand on the verification.
 *
 * Domain code: no HTTP here. Tokens (verification, reset) are 32 random
 * bytes as hex, shown once — in the mail — and stored only as their SHA-256
 * in account_tokens; single use, expiring (SIGNUP_VERIFY_TTL_S,
 * SIGNUP_RESET_TTL_S); a new token of one purpose voids the user's unused
 * older ones. The mail that carries a token is rendered and queued in the
 * transaction that makes the token, with the token sealed in the outbox row
 * and the stored body showing OUTBOX_SECRET_MARK (mail/outbox.h): neither the
 * database nor the admin's e-mail view can give the token back.
 *
 * No enumeration: signup_register and signup_reset_request answer the same
 * (0) whether or not the address has an account, and do the same costly
 * work on both paths (the argon2id hash of a sign-up's password). Every
 * change is audited (CLIENT_SIGNED_UP, SIGNUP_EXISTING_EMAIL, EMAIL_VERIFIED,
 * VERIFICATION_SENT, PASSWORD_RESET_REQUESTED, PASSWORD_RESET,
 * PASSWORD_CHANGED), never with a token or a password.
 *
 * Throttles count rows of rate_events (kind, key, at), not the audit trail;
 * rows older than a day are pruned as new ones are written.
 */
#ifndef LUMI_ACCOUNTS_SIGNUP_H
#define LUMI_ACCOUNTS_SIGNUP_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

#define SIGNUP_VERIFY_TTL_S (48 * 3600)
#define SIGNUP_RESET_TTL_S 3600
/** Sign-ups one IP may make per hour. */
#define SIGNUP_PER_IP 5
/** Password-reset requests per hour from one IP, and for one address. */
#define SIGNUP_RESET_PER_IP 10
#define SIGNUP_RESET_PER_EMAIL 3
/** Wrong current passwords a signed-in client may give per hour when changing it. */
#define SIGNUP_PASSWORD_TRIES 10
/** Verification mails a client may ask for again per hour. */
#define SIGNUP_RESEND_PER_CLIENT 3
#define SIGNUP_WINDOW_S 3600
/** The form field humans leave empty (a honeypot for bots). */
#define SIGNUP_HONEYPOT "website"

/** Who is asking (strings borrowed). */
struct signup_origin {
    const char *ip;
    const char *user_agent;
};

/**
 * A visitor's sign-up {email, password, first_name, last_name, country,
 * company?, phone?, address1?, address2?, city?, state?, postcode?,
 * currency?, website (the honeypot)}. 0 means "accepted; check your e-mail"
 * for all of these: a new unverified client with its verification mail; an
 * address that has an account (nothing created, SIGNUP_EXISTING_EMAIL
 * audited); a filled honeypot (nothing at all). LUMI_EFORBIDDEN when
 * store.signup_enabled is off, LUMI_ETHROTTLED after SIGNUP_PER_IP per hour,
 * LUMI_EINVAL naming the field.
 */
int signup_register(struct db *db, const json_t *input, const struct signup_origin *o,
                    struct lumi_err *err);

/**
 * Spends a verification token: the client's e-mail becomes verified
 * (EMAIL_VERIFIED). LUMI_ENOTFOUND when the token is unknown, used, voided
 * or expired (one message for all), LUMI_EINVAL when malformed.
 */
int signup_verify(struct db *db, const char *token, const struct signup_origin *o,
                  struct lumi_err *err);

/**
 * Asks for a password-reset mail to email. 0 whether or not an active client
 * has that address (only then a token and a mail, PASSWORD_RESET_REQUESTED).
 * LUMI_ETHROTTLED after SIGNUP_RESET_PER_IP / SIGNUP_RESET_PER_EMAIL per hour,
 * LUMI_EINVAL when email is not an address.
 */
int signup_reset_request(struct db *db, const char *email, const struct signup_origin *o,
                         struct lumi_err *err);

/**
 * Spends a reset token: sets password (8..1024 bytes, argon2id), ends all
 * sessions and login challenges of the user, marks the e-mail verified (the
 * mail reached its owner), audits PASSWORD_RESET. LUMI_ENOTFOUND as
 * signup_verify, LUMI_EINVAL for a bad password or token.
 */
int signup_reset_confirm(struct db *db, const char *token, const char *password,
                         const struct signup_origin *o, struct lumi_err *err);

/**
 * A signed-in client changes the password, proven by the current one; every
 * other session of the user ends (keep_session_id stays). LUMI_EINVAL (the
 * current password is wrong, naming 'current_password'; or the new one is
 * bad, naming 'new_password'), LUMI_ETHROTTLED after SIGNUP_PASSWORD_TRIES
 * wrong ones per hour. Audited PASSWORD_CHANGED.
 */
int signup_password_change(struct db *db, const struct audit_actor *actor, int64_t user_id,
                           int64_t keep_session_id, const char *current, const char *next,
                           struct lumi_err *err);

/**
 * A client's own profile change: only first_name, last_name, company, phone,
 * address1, address2, city, state, postcode, country (the e-mail address is
 * changed by support only: LUMI_EINVAL naming 'email'). Answers the client
 * as clients_update does (CLIENT_UPDATED), or NULL with err.
 */
json_t *signup_profile_update(struct db *db, const struct audit_actor *actor, int64_t client_id,
                              const json_t *patch, struct lumi_err *err);

/**
 * An admin marks a client's e-mail verified by hand (when mail cannot reach
 * it): EMAIL_VERIFIED with method "admin"; open verification tokens are
 * voided. LUMI_ECONFLICT when it is verified already, LUMI_ENOTFOUND.
 */
int signup_mark_verified(struct db *db, const struct audit_actor *actor, int64_t client_id,
                         struct lumi_err *err);

/**
 * An admin sends a new verification mail (a new token voids the older ones):
 * VERIFICATION_SENT. LUMI_ECONFLICT when the client is verified already,
 * LUMI_ENOTFOUND, LUMI_EINVAL when mail.send.account_verification is off.
 */
int signup_resend_verification(struct db *db, const struct audit_actor *actor, int64_t client_id,
                               struct lumi_err *err);

/**
 * A signed-in client asks for a new verification mail (the older link is
 * voided): as signup_resend_verification, audited with "by": "client";
 * LUMI_ETHROTTLED after SIGNUP_RESEND_PER_CLIENT per hour.
 */
int signup_resend_own(struct db *db, const struct audit_actor *actor, int64_t client_id,
                      struct lumi_err *err);

#endif

/*
 * clients.h — the customers of the installation: users with role 'client'.
 *
 * Clients are answered as JSON objects with their public fields only
 *   {id, email, first_name, last_name, company, phone, address1, address2,
 *    city, state, postcode, country, currency, status, created_at, updated_at,
 *    signed_up_at, signup_ip, email_verified_at}  (the last three null when unset:
 *    signed_up_at null = created by an admin; email_verified_at null = not verified)
 * (never the password hash or the second-factor secret). Input is a JSON
 * object validated here, with messages that name the field, so any front end
 * (JSON API, admin pages, CLI) gets the same rules. Every change runs in one
 * transaction together with its audit row: a failed call changes nothing.
 * Functions take the caller's connection and must not be called inside an
 * open transaction (each opens its own).
 */
#ifndef LUMI_BILLING_CLIENTS_H
#define LUMI_BILLING_CLIENTS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "core/err.h"
#include "billing/listing.h"
#include "db/db.h"

#define CLIENTS_PAGE_MAX LISTING_PAGE_MAX

/** Most ids clients_get_many takes (a list page). */
#define CLIENTS_MANY_MAX 500

/**
 * The clients among ids[0..n) (n <= CLIENTS_MANY_MAX) in one statement, as a
 * new JSON object keyed by the id in decimal, each as clients_get answers
 * it; ids that are no client are absent. NULL with err.
 */
json_t *clients_get_many(struct db *db, const int64_t *ids, size_t n, struct lumi_err *err);

/**
 * As clients_list, for the clients whose e-mail, first name, last name or
 * company contains q (1..200 bytes; case-insensitive; a prefix is a
 * substring too). Served by a trigram index (SQLite FTS5, PostgreSQL
 * pg_trgm) from three characters on. LUMI_EINVAL for an empty or long q.
 */
json_t *clients_search(struct db *db, const char *q, int64_t after_id, int limit,
                       int64_t *next_cursor, struct lumi_err *err);

/**
 * One page of clients in ascending id order, those with id > after_id, at
 * most limit (1..CLIENTS_PAGE_MAX) of them. Returns a new JSON array (caller
 * decrefs) and sets *next_cursor to the last id of the page when more rows
 * follow, else 0. NULL with err on failure.
 */
json_t *clients_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                     struct lumi_err *err);

/** One client as a new JSON object, or NULL with LUMI_ENOTFOUND (also for non-client users). */
json_t *clients_get(struct db *db, int64_t id, struct lumi_err *err);

/**
 * Creates a client from input (borrowed): email (required; stored lower-case),
 * first_name, last_name, company, phone, address1, address2, city, state,
 * postcode, country (strings, at most 200 characters), currency (ISO 4217,
 * default "usd"), password (optional, 8..1024 bytes, stored as an argon2id
 * hash). Appends CLIENT_CREATED by actor (borrowed) in the same transaction.
 * Returns the new client (caller decrefs) or NULL with err: LUMI_EINVAL for
 * bad input, LUMI_ECONFLICT when the e-mail is taken by any user.
 */
json_t *clients_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                       struct lumi_err *err);

/**
 * Changes the fields present in patch (borrowed; the create fields plus
 * status "active"|"disabled"; null clears a text field). An empty patch is
 * LUMI_EINVAL. Appends CLIENT_UPDATED with {"changed":{field:{from,to}}}
 * when something changed (nothing is written when nothing did). Returns the
 * client as stored (caller decrefs) or NULL with err (LUMI_ENOTFOUND,
 * LUMI_EINVAL, LUMI_ECONFLICT).
 */
json_t *clients_update(struct db *db, const struct audit_actor *actor, int64_t id,
                       const json_t *patch, struct lumi_err *err);

/* ---- sign-up (accounts/signup.c) ------------------------------------------ */

/** A sign-up checked and hashed before its transaction opens (clients_signup_clear frees). */
struct clients_signup {
    json_t *fields; /* the normalised client fields */
    char pwhash[CRYPTO_PWHASH_MAX];
};

/**
 * Validates a sign-up (the create fields; email, password, first_name,
 * last_name and country required) into s and hashes its password (argon2id,
 * the costly part, done for every well-formed sign-up). 0 or LUMI_EINVAL
 * naming the field.
 */
int clients_signup_check(const json_t *input, struct clients_signup *s, struct lumi_err *err);

/**
 * Inserts the checked sign-up inside the caller's open transaction: a
 * client signed up now from ip, not verified. No audit row (the caller
 * writes CLIENT_SIGNED_UP). LUMI_ECONFLICT when the e-mail is taken.
 */
int clients_signup_insert_tx(struct db *db, const struct clients_signup *s, const char *ip,
                             int64_t *id_out, struct lumi_err *err);

void clients_signup_clear(struct clients_signup *s);

/**
 * Marks client id's e-mail verified now inside the caller's open transaction.
 * 1 when it changed, 0 when it was verified already, LUMI_ENOTFOUND for no
 * such client.
 */
int clients_verify_email_tx(struct db *db, int64_t id, struct lumi_err *err);

#endif

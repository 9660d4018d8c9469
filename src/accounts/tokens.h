/*
 * tokens.h — API tokens (issue 17, finding 5): create (shown once), list,
 * revoke, optional expiry. Only a token's SHA-256 and its first characters
 * are stored; a token acts with its owner's role (an installation-wide token,
 * without owner, acts as an admin). Domain code: every change in one
 * transaction with its audit row (TOKEN_CREATED, TOKEN_REVOKED), never the
 * token itself. How a request presents a token is web/auth.c's.
 */
#ifndef LUMI_ACCOUNTS_TOKENS_H
#define LUMI_ACCOUNTS_TOKENS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

#define TOKENS_LEN 70        /* "lumi_" + 64 hex + NUL */
#define TOKENS_MAX_DAYS 3650 /* the longest expiry, in days */

struct tokens_new {
    const char *name;        /* 1..100 characters */
    const char *owner_email; /* NULL: an installation-wide admin token */
    int64_t expires_days;    /* 0: never expires; else 1..TOKENS_MAX_DAYS */
};

/**
 * Creates a token; the token is written to token_out once. LUMI_EINVAL for a
 * bad name or expiry, LUMI_ENOTFOUND for an unknown owner. Audited as
 * TOKEN_CREATED {name, prefix, owner, expires_at}.
 */
int tokens_create(struct db *db, const struct audit_actor *actor, const struct tokens_new *in,
                  char token_out[TOKENS_LEN], int64_t *id_out, struct lumi_err *err);

/**
 * Every token, newest first, as [{id, name, prefix, owner_id, owner_email,
 * role, created_at, expires_at, last_used_at, revoked_at, status}] where
 * status is "active", "expired" or "revoked" (never the token or its hash).
 * NULL with err on failure; caller decrefs.
 */
json_t *tokens_list(struct db *db, struct lumi_err *err);

/** One token as tokens_list shows it; NULL with LUMI_ENOTFOUND when there is none. */
json_t *tokens_get(struct db *db, int64_t id, struct lumi_err *err);

/**
 * Revokes token id at once (the next request with it answers 401).
 * LUMI_ENOTFOUND when unknown, LUMI_ECONFLICT when already revoked.
 * Audited as TOKEN_REVOKED {name, prefix}.
 */
int tokens_revoke(struct db *db, const struct audit_actor *actor, int64_t id, struct lumi_err *err);

#endif

/*
 * audit.h — the append-only, hash-chained audit trail.
 *
 * Each row's hash is SHA-256(prev_hash || canonical row), where the canonical
 * row is the JSON array
 *   [id, at, actor_type, actor_id, actor_email, action, entity, entity_id,
 *    ip, user_agent, details]
 * serialised by jsonx_dump_canonical (details with sorted keys), and the first
 * row's prev_hash is 64 zeros. Ids are consecutive from 1, assigned under the
 * chain lock, so a deleted row leaves a gap that verification reports.
 *
 * audit_append() runs inside the caller's transaction: the row exists exactly
 * when the change it describes does. Appenders are serialised (SQLite's write
 * lock; a PostgreSQL transaction-scoped advisory lock), so concurrent writers
 * in any number of processes never fork the chain.
 */
#ifndef LUMI_AUDIT_AUDIT_H
#define LUMI_AUDIT_AUDIT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "db/db.h"

/** Who did it and from where. All strings borrowed; NULL where unknown. */
struct audit_actor {
    const char *type;  /* "user" | "api_token" | "system" | "gateway" */
    const char *id;    /* user id, token id, gateway name, ... */
    const char *email;
    const char *ip;
    const char *user_agent;
};

/**
 * Appends one row inside the open transaction of db (LUMI_EINTERNAL if none).
 * details may be NULL ({}); it is borrowed. *id_out (may be NULL) gets the new id.
 */
int audit_append(struct db *db, const struct audit_actor *actor, const char *action,
                 const char *entity, const char *entity_id, json_t *details, int64_t *id_out,
                 struct lumi_err *err);

/** audit_append for an entity with a numeric id. */
int audit_append_id(struct db *db, const struct audit_actor *actor, const char *action,
                    const char *entity, int64_t entity_id, json_t *details,
                    struct lumi_err *err);

/** The actor for Lumi's own automation. */
extern const struct audit_actor AUDIT_SYSTEM;

/** Result of walking the chain. */
struct audit_verify_result {
    int64_t rows;         /* rows checked */
    int64_t last_good_id; /* highest id up to which the chain is intact (0 = none) */
    int64_t broken_id;    /* first row that fails, 0 when intact */
    char reason[200];     /* why broken_id fails: "hash mismatch", "prev_hash mismatch", "gap after #12" */
};

/** Walks the whole chain in id order. 0 (read the result for breaks) or < 0 on a database error. */
int audit_verify(struct db *db, struct audit_verify_result *res, struct lumi_err *err);

/** Filters for queries and exports; NULL/0 = no filter. Strings borrowed. */
struct audit_filter {
    const char *action;
    const char *entity;
    const char *entity_id;
    const char *actor;  /* matches actor_email or actor_id */
    const char *ip;
    const char *from;   /* ISO-8601, inclusive */
    const char *to;     /* ISO-8601, exclusive */
    const char *q;      /* substring of action, entity, actor_email or details */
    int64_t before_id;  /* keyset cursor: rows with id < before_id */
    int64_t after_id;   /* rows with id > after_id (exports) */
};

/**
 * Newest-first page of at most limit rows as a JSON array of row objects
 * (details parsed back to an object). *next_cursor gets the id to pass as
 * before_id for the next page, or 0 when this is the last page.
 * Returns a new reference or NULL with err.
 */
json_t *audit_query(struct db *db, const struct audit_filter *f, int limit, int64_t *next_cursor,
                    struct lumi_err *err);

/** One row as a JSON object (as in audit_query), or NULL with LUMI_ENOTFOUND. */
json_t *audit_get(struct db *db, int64_t id, struct lumi_err *err);

enum audit_format { AUDIT_CSV, AUDIT_JSONL };

/**
 * Writes every row matching f, oldest first, to out: CSV with a header line
 * (RFC 4180 quoting; cells starting with = + - @ are prefixed with ' so a
 * spreadsheet does not run them) or one JSON object per line.
 * *count (may be NULL) gets the number of rows written.
 */
int audit_export(struct db *db, const struct audit_filter *f, enum audit_format fmt, FILE *out,
                 int64_t *count, struct lumi_err *err);

#endif

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

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/utc.h"
#include "db/db.h"

/** Longest text stored from outside (ip, user agent, e-mail, ids), in bytes. */
#define AUDIT_TEXT_MAX 512

/**
 * Makes text from outside storable: every byte that is not part of a
 * well-formed UTF-8 sequence becomes U+FFFD, and the result is cut to at
 * most AUDIT_TEXT_MAX bytes (out needs AUDIT_TEXT_MAX + 1) on a character
 * boundary. audit_append does this to every actor field and the entity id,
 * so a hostile header can neither fail the append nor flood the log; others
 * that store the same text next to an audit row (sessions) use it too.
 * Returns out; NULL in gives NULL.
 */
const char *audit_clean_text(const char *in, char out[AUDIT_TEXT_MAX + 1]);

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

/**
 * audit_append_id that takes details (the json_pack result of the caller):
 * it is released either way, and NULL — a json_pack that ran out of memory —
 * is LUMI_ENOMEM, never an empty row.
 */
int audit_append_id_take(struct db *db, const struct audit_actor *actor, const char *action,
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
    char last_hash[65];   /* hash of row last_good_id ("" when none): the head to keep elsewhere */
};

/** Walks the whole chain in id order. 0 (read the result for breaks) or < 0 on a database error. */
int audit_verify(struct db *db, struct audit_verify_result *res, struct lumi_err *err);

/*
 * Incremental checking, so a page can show the chain's state without
 * hashing every row on every request. Two rows of `settings` hold the state:
 *   audit.verified_upto    "<id> <hash>": the chain was verified from #1
 *                          (genesis) up to this row, which had this hash;
 *   audit.last_full_check  "<at> <rows> <last_good_id> <broken_id>": when the
 *                          last full walk (audit_verify_record) ran and what
 *                          it found.
 * The checkpoint is a claim about the past: a row changed BEFORE it is found
 * only by the next full walk (`lumi audit verify`), which is why the full
 * check's time is shown next to the incremental result.
 */

/** What audit_check_incremental found. */
struct audit_check {
    struct audit_verify_result v; /* rows = checked by this call; last_good_id = verified up to */
    int64_t checkpoint_id;        /* where this call started (0 = genesis) */
    int64_t tip;                  /* highest id in the log when checked (0 = empty) */
    bool complete;                /* verified up to tip, or broken: nothing left to check */
    char full_at[UTC_ISO_LEN];    /* time of the last full check, "" when never */
    int64_t full_rows;            /* rows that full check walked */
    int64_t full_last_good_id;
    int64_t full_broken_id;       /* 0 when that check found the chain intact */
};

/**
 * Checks the chain from the stored checkpoint on, at most max_rows rows per
 * call (bounded work per request): re-hashes the checkpoint row itself (so a
 * changed or deleted checkpoint row is a break), then the rows after it in
 * order, and moves the checkpoint forward over the rows found intact (an
 * UPSERT into settings outside any transaction; a failure to store it is
 * not an error, the next call just starts earlier). A break is reported in
 * c->v as by audit_verify and the checkpoint stays before it.
 * 0, or < 0 on a database error reading the log.
 */
int audit_check_incremental(struct db *db, int max_rows, struct audit_check *c,
                            struct lumi_err *err);

/**
 * audit_verify, then records the result as the last full check and sets the
 * checkpoint to the last intact row (the tip when intact), so that pages
 * reflect what the full walk saw. Needs a writable connection, outside a
 * transaction. 0 (read res for breaks) or < 0.
 */
int audit_verify_record(struct db *db, struct audit_verify_result *res, struct lumi_err *err);

/** One row's stored fields, for audit_row_hash (all borrowed; NULL = SQL NULL). */
struct audit_row {
    int64_t id;
    const char *at, *actor_type, *actor_id, *actor_email, *action, *entity, *entity_id, *ip,
        *user_agent;
    const char *details;   /* the stored (canonical JSON) text, hashed as stored */
    const char *prev_hash; /* 64 hex digits */
};

/**
 * The hash a row with these fields must carry (64 hex digits + NUL into out),
 * computed exactly as audit_append does — for tools that write rows in bulk
 * (the benchmarks' seeding) and for checks. 0, LUMI_ETOOLARGE, or LUMI_EINVAL when a
 * field is not valid UTF-8.
 */
int audit_row_hash(const struct audit_row *r, char out[CRYPTO_SHA256_HEX]);

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

/**
 * Appends to out the database's plan for the exact statement audit_query(f,
 * limit) runs, one line per plan row (SQLite: EXPLAIN QUERY PLAN details;
 * PostgreSQL: EXPLAIN lines) — for benchmarks and for checking that a filter
 * uses an index. 0 or < 0 with err.
 */
int audit_query_plan(struct db *db, const struct audit_filter *f, int limit, struct buf *out,
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

/**
 * SQLite: adds up to max_rows audit rows not yet in the search index
 * (audit_fts, after audit_fts_state.indexed_upto) to it, in one short
 * transaction. Returns how many were added (0: up to date; always 0 on
 * PostgreSQL, whose index the server keeps), or < 0 with err. Searches are
 * exact either way: rows after the mark are read directly.
 */
int audit_index_pending(struct db *db, int max_rows, struct lumi_err *err);

#endif

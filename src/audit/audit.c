/*
 * audit.c — the append-only, hash-chained audit trail (see audit.h).
 *
 * Chain: hash = SHA-256(prev_hash_hex || canonical_row), canonical_row being
 * the compact JSON array of the row's fields whose last element is the
 * stored details text itself (already canonical), so verification hashes
 * exactly the bytes on disk and never depends on re-serialising JSON.
 *
 * Threading: every function uses only the connection it is given. Appends
 * are serialised by the database: SQLite's BEGIN IMMEDIATE write lock, or a
 * transaction-scoped PostgreSQL advisory lock (db_tx_lock), held until the
 * caller's transaction ends, so "read the tip, insert tip+1" cannot fork.
 *
 * Deferred appends (issue 15): on a connection with deferral on (db.h
 * db_defer_set; PostgreSQL's group-commit writers), audit_append only queues
 * the row (fields cleaned, details canonical); db_commit calls queue_flush
 * just before COMMIT. On PostgreSQL that builds each row's hashed text
 * after its id (row_tail, the bytes row_hash hashes) and hands the rows to
 * migration 15's lumi_audit_append(), sent with the COMMIT in one round
 * trip: it takes the chain lock, reads the tip, and inserts the rows with
 * hash = sha256(prev_hash || '[' || id || tail), the same hash as here. The
 * lock is then held for that statement and the COMMIT only, not for the
 * whole batch, so several writers' transactions run side by side and still
 * make ONE chain that audit_verify walks as before, with ids in commit
 * order (readers that follow the log by id never see a gap filled later).
 * `at` is the time of the flush, so it grows with id as before.
 *
 * Checks and reads: walks and exports read WALK_CHUNK rows per statement
 * (keyset by id). The incremental check and the recorded full check write
 * two `settings` rows (audit.verified_upto, audit.last_full_check) with
 * single-statement UPSERTs; they never touch audit_log.
 */
#include "audit/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/settings.h"

#define AUDIT_LOCK_KEY 0x6c756d6961756469LL /* "lumiaudi" */
#define GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define ROW_MAX (1u << 20)
#define WALK_CHUNK 10000 /* rows per statement when walking or exporting */

const struct audit_actor AUDIT_SYSTEM = {"system", "lumi", NULL, NULL, NULL};

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

const char *audit_clean_text(const char *in, char out[AUDIT_TEXT_MAX + 1])
{
    static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */
    if (in == NULL)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p != '\0') {
        size_t n = utf8_seq_len(p);
        const char *src = n > 0 ? (const char *)p : REPLACEMENT;
        size_t len = n > 0 ? n : 3;
        if (o + len > AUDIT_TEXT_MAX)
            break;
        memcpy(out + o, src, len);
        o += len;
        p += n > 0 ? n : 1;
    }
    out[o] = '\0';
    return out;
}

static const char *const COLUMNS =
    "id, at, actor_type, actor_id, actor_email, action, entity, entity_id, ip, user_agent, "
    "details, prev_hash, hash";

/* The fields of one row as stored. */
struct row {
    int64_t id;
    const char *at, *actor_type, *actor_id, *actor_email, *action, *entity, *entity_id, *ip,
        *user_agent, *details, *prev_hash, *hash;
};

/* Appends "," and the field as a JSON string, or null. */
static int add_field(struct buf *b, const char *s)
{
    int rc = buf_append_char(b, ',');
    if (rc == 0)
        rc = s != NULL ? jsonx_append_string(b, s) : buf_append_str(b, "null");
    return rc;
}

/*
 * Computes the row's hash from its fields and prev_hash into out: SHA-256 of
 * prev_hash followed by [id,at,actor_type,actor_id,actor_email,action,
 * entity,entity_id,ip,user_agent,details] — compact JSON, the strings as
 * jansson writes them, details as stored. Written directly rather than
 * through json_pack and json_dumps: this runs twice per payment in the
 * group commit's serial path.
 */
/* Appends what follows the id in the hashed text: ,"at",…,user_agent,details] */
static int row_tail(const struct row *r, struct buf *b)
{
    const char *fields[] = {r->at,     r->actor_type, r->actor_id, r->actor_email, r->action,
                            r->entity, r->entity_id,  r->ip,       r->user_agent};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
        rc = add_field(b, fields[i]);
    if (rc == 0)
        rc = buf_append_char(b, ',');
    if (rc == 0)
        rc = buf_append_str(b, r->details);
    if (rc == 0)
        rc = buf_append_char(b, ']');
    return rc;
}

static int row_hash(const struct row *r, char out[CRYPTO_SHA256_HEX])
{
    struct buf b;
    buf_init(&b, ROW_MAX);
    int rc = buf_append_str(&b, r->prev_hash);
    if (rc == 0)
        rc = buf_printf(&b, "[%lld", (long long)r->id);
    if (rc == 0)
        rc = row_tail(r, &b);
    if (rc == 0)
        crypto_sha256_hex(b.data, b.len, out);
    else if (rc != LUMI_EINVAL)
        rc = LUMI_ETOOLARGE;
    buf_free(&b);
    return rc;
}

/* Reads the chain tip (last id and hash) under the chain lock. */
static int read_tip(struct db *db, int64_t *id, char hash[CRYPTO_SHA256_HEX], struct lumi_err *err)
{
    struct db_stmt *st =
        db_prepare(db, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", err);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        *id = db_col_int64(st, 0);
        str_copy(hash, db_col_text(st, 1) ? db_col_text(st, 1) : "", CRYPTO_SHA256_HEX);
        rc = 0;
    } else if (rc == DB_DONE) {
        *id = 0;
        str_copy(hash, GENESIS_HASH, CRYPTO_SHA256_HEX);
    }
    db_finalize(st);
    return rc;
}

static int insert_row(struct db *db, const struct row *r, struct lumi_err *err)
{
    static const char sql[] =
        "INSERT INTO audit_log (id, at, actor_type, actor_id, actor_email, action, entity, "
        "entity_id, ip, user_agent, details, prev_hash, hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    const char *texts[] = {r->at,         r->actor_type, r->actor_id,  r->actor_email,
                           r->action,     r->entity,     r->entity_id, r->ip,
                           r->user_agent, r->details,    r->prev_hash, r->hash};
    db_bind_int64(st, 1, r->id);
    for (int i = 0; i < 12; i++)
        db_bind_text(st, i + 2, texts[i]);
    int rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* ---- deferred appends (issue 15, see the top of the file) ---- */

enum {
    F_ACTOR_TYPE,
    F_ACTOR_ID,
    F_ACTOR_EMAIL,
    F_ACTION,
    F_ENTITY,
    F_ENTITY_ID,
    F_IP,
    F_UA,
    F_DETAILS,
    F_COUNT
};

/* A row waiting for the end of its transaction: its fields as they will be stored. */
struct queued_row {
    char *f[F_COUNT]; /* NULL = SQL NULL; F_DETAILS is the canonical text */
};

struct queue {
    struct queued_row *rows;
    size_t n, cap;
    char *set_text; /* the rows as SQL_APPEND_PG's parameter, during the commit */
    char key_text[24];
    const char *params[2];
};

/* Migration 15's function: chain lock, tip, hashes and rows in one statement. */
static const char SQL_APPEND_PG[] = "SELECT lumi_audit_append($1, $2::json)";

static void queued_free(struct queued_row *q)
{
    for (int i = 0; i < F_COUNT; i++)
        free(q->f[i]);
}

static size_t queue_mark(const void *state)
{
    return ((const struct queue *)state)->n;
}

static void queue_undo(void *state, size_t mark)
{
    struct queue *q = state;
    while (q->n > mark)
        queued_free(&q->rows[--q->n]);
    if (mark == 0) {
        free(q->set_text);
        q->set_text = NULL;
    }
}

static void queue_free(void *state)
{
    struct queue *q = state;
    if (q == NULL)
        return;
    queue_undo(q, 0);
    free(q->rows);
    free(q);
}

static struct row row_of_queued(const struct queued_row *q, int64_t id, const char *at,
                                const char *prev, const char *hash)
{
    return (struct row){
        .id = id,
        .at = at,
        .actor_type = q->f[F_ACTOR_TYPE],
        .actor_id = q->f[F_ACTOR_ID],
        .actor_email = q->f[F_ACTOR_EMAIL],
        .action = q->f[F_ACTION],
        .entity = q->f[F_ENTITY],
        .entity_id = q->f[F_ENTITY_ID],
        .ip = q->f[F_IP],
        .user_agent = q->f[F_UA],
        .details = q->f[F_DETAILS],
        .prev_hash = prev,
        .hash = hash,
    };
}

/*
 * Adds r to the JSON array set for SQL_APPEND_PG: its fields, and "tail",
 * the hashed text after the id (row_tail, the same bytes row_hash hashes),
 * from which the function computes each hash as
 * sha256(prev_hash || '[' || id || tail).
 */
static int set_add(json_t *set, const struct row *r)
{
    struct buf tail;
    buf_init(&tail, ROW_MAX);
    int rc = row_tail(r, &tail);
    json_t *o = rc != 0
                    ? NULL
                    : json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s,"
                                " s:s}",
                                "at", r->at, "actor_type", r->actor_type, "actor_id", r->actor_id,
                                "actor_email", r->actor_email, "action", r->action, "entity",
                                r->entity, "entity_id", r->entity_id, "ip", r->ip, "user_agent",
                                r->user_agent, "details", r->details, "tail", buf_cstr(&tail));
    buf_free(&tail);
    if (rc != 0)
        return rc == LUMI_EINVAL ? rc : LUMI_ETOOLARGE;
    return o != NULL && json_array_append_new(set, o) == 0 ? 0 : LUMI_ENOMEM;
}

/* SQLite (and any engine without the function): the lock, the tip, rows hashed here. */
static int flush_here(struct db *db, struct queue *q, const char *at, struct lumi_err *err)
{
    char prev[CRYPTO_SHA256_HEX], hash[CRYPTO_SHA256_HEX];
    int64_t tip = 0;
    int rc = db_tx_lock(db, AUDIT_LOCK_KEY, err);
    if (rc == 0)
        rc = read_tip(db, &tip, prev, err);
    for (size_t i = 0; rc == 0 && i < q->n; i++) {
        struct row r = row_of_queued(&q->rows[i], tip + 1 + (int64_t)i, at, prev, hash);
        rc = row_hash(&r, hash);
        if (rc != 0)
            return err_set(err, rc, "audit row too large");
        rc = insert_row(db, &r, err);
        str_copy(prev, hash, sizeof prev);
    }
    return rc;
}

/*
 * db_commit's last step: the queued rows join the chain. On PostgreSQL the
 * rows (with their hashed text, built here, outside the lock) go to
 * migration 15's function, which db_commit sends together with the COMMIT:
 * the chain lock is then held for one round trip and the commit's flush.
 */
static int queue_flush(struct db *db, void *state, struct db_last_stmt *last, struct lumi_err *err)
{
    struct queue *q = state;
    char at[UTC_ISO_LEN];
    json_t *set = NULL;
    int rc = 0;
    if (q->n == 0)
        return 0;
    utc_now_iso(at);
    if (db_kind(db) != DB_POSTGRES)
        return flush_here(db, q, at, err);
    set = json_array();
    if (set == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < q->n; i++) {
        struct row r = row_of_queued(&q->rows[i], 0, at, "", "");
        rc = set_add(set, &r);
    }
    if (rc == 0 && (q->set_text = json_dumps(set, JSON_COMPACT)) == NULL)
        rc = LUMI_ENOMEM;
    json_decref(set);
    if (rc != 0)
        return err_set(err, rc, rc == LUMI_ENOMEM ? "out of memory" : "audit row too large");
    q->params[0] = q->key_text;
    q->params[1] = q->set_text;
    last->sql = SQL_APPEND_PG;
    last->nparams = 2;
    last->params = q->params;
    return 0; /* the rows (and set_text) stay until the commit ended: queue_undo */
}

static const struct db_deferred_ops QUEUE_OPS = {
    .flush = queue_flush, .mark = queue_mark, .undo = queue_undo, .free = queue_free};

static char *dup_or_null(const char *s, bool *nomem)
{
    if (s == NULL)
        return NULL;
    char *d = str_dup(s);
    if (d == NULL)
        *nomem = true;
    return d;
}

/* Queues a row already checked, cleaned and hashed-to-be (details_text is taken). */
static int queue_row(struct db *db, const struct row *r, char *details_text, struct lumi_err *err)
{
    struct queue *q = db_deferred(db, &QUEUE_OPS);
    if (q == NULL) {
        q = calloc(1, sizeof *q);
        if (q != NULL)
            snprintf(q->key_text, sizeof q->key_text, "%lld", (long long)AUDIT_LOCK_KEY);
        int rc = q != NULL ? db_deferred_attach(db, &QUEUE_OPS, q, err)
                           : err_set(err, LUMI_ENOMEM, "out of memory");
        if (rc != 0) {
            free(q);
            free(details_text);
            return rc;
        }
    }
    if (q->n == q->cap) {
        size_t cap = q->cap > 0 ? q->cap * 2 : 64;
        struct queued_row *rows = realloc(q->rows, cap * sizeof *rows);
        if (rows == NULL) {
            free(details_text);
            return err_set(err, LUMI_ENOMEM, "out of memory");
        }
        q->rows = rows;
        q->cap = cap;
    }
    struct queued_row *qr = &q->rows[q->n];
    bool nomem = false;
    memset(qr, 0, sizeof *qr);
    qr->f[F_ACTOR_TYPE] = dup_or_null(r->actor_type, &nomem);
    qr->f[F_ACTOR_ID] = dup_or_null(r->actor_id, &nomem);
    qr->f[F_ACTOR_EMAIL] = dup_or_null(r->actor_email, &nomem);
    qr->f[F_ACTION] = dup_or_null(r->action, &nomem);
    qr->f[F_ENTITY] = dup_or_null(r->entity, &nomem);
    qr->f[F_ENTITY_ID] = dup_or_null(r->entity_id, &nomem);
    qr->f[F_IP] = dup_or_null(r->ip, &nomem);
    qr->f[F_UA] = dup_or_null(r->user_agent, &nomem);
    qr->f[F_DETAILS] = details_text;
    if (nomem) {
        queued_free(qr);
        return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    q->n++;
    return 0;
}

/*
 * audit_append on a deferring connection: the row is checked now (a trial
 * hash with the genesis as prev: the same UTF-8 and size checks as an
 * immediate append, so a bad row fails its own caller, not the whole
 * commit) and queued for queue_flush.
 */
static int audit_append_deferred(struct db *db, const struct audit_actor *actor, const char *action,
                                 const char *entity, const char *entity_id, json_t *details,
                                 struct lumi_err *err)
{
    json_t *empty = NULL;
    char hash[CRYPTO_SHA256_HEX], at[UTC_ISO_LEN];
    if (details == NULL)
        details = empty = json_object();
    char *details_text = jsonx_dump_canonical(details);
    json_decref(empty);
    if (details_text == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    utc_now_iso(at);
    char c_id[AUDIT_TEXT_MAX + 1], c_email[AUDIT_TEXT_MAX + 1], c_eid[AUDIT_TEXT_MAX + 1],
        c_ip[AUDIT_TEXT_MAX + 1], c_ua[AUDIT_TEXT_MAX + 1];
    struct row r = {
        .id = 1,
        .at = at,
        .actor_type = actor->type,
        .actor_id = audit_clean_text(actor->id, c_id),
        .actor_email = audit_clean_text(actor->email, c_email),
        .action = action,
        .entity = entity,
        .entity_id = audit_clean_text(entity_id, c_eid),
        .ip = audit_clean_text(actor->ip, c_ip),
        .user_agent = audit_clean_text(actor->user_agent, c_ua),
        .details = details_text,
        .prev_hash = GENESIS_HASH,
        .hash = hash,
    };
    int rc = row_hash(&r, hash);
    if (rc != 0) {
        free(details_text);
        return err_set(err, rc,
                       rc == LUMI_EINVAL ? "audit row has text that is not valid UTF-8"
                                         : "audit row too large");
    }
    return queue_row(db, &r, details_text, err);
}

int audit_append(struct db *db, const struct audit_actor *actor, const char *action,
                 const char *entity, const char *entity_id, json_t *details, int64_t *id_out,
                 struct lumi_err *err)
{
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "audit_append outside a transaction");
    if (action == NULL || actor == NULL || actor->type == NULL)
        return err_set(err, LUMI_EINTERNAL, "audit_append without action or actor");
    /* A caller that needs the id now gets the row now (deferred rows have none yet). */
    if (db_defer_on(db) && id_out == NULL)
        return audit_append_deferred(db, actor, action, entity, entity_id, details, err);

    int rc;
    char *details_text = NULL;
    json_t *empty = NULL;
    char prev[CRYPTO_SHA256_HEX], hash[CRYPTO_SHA256_HEX], at[UTC_ISO_LEN];
    int64_t tip = 0;

    rc = db_tx_lock(db, AUDIT_LOCK_KEY, err);
    if (rc != 0)
        goto out;
    rc = read_tip(db, &tip, prev, err);
    if (rc != 0)
        goto out;
    if (details == NULL)
        details = empty = json_object();
    details_text = jsonx_dump_canonical(details);
    if (details_text == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    utc_now_iso(at);
    char c_id[AUDIT_TEXT_MAX + 1], c_email[AUDIT_TEXT_MAX + 1], c_eid[AUDIT_TEXT_MAX + 1],
        c_ip[AUDIT_TEXT_MAX + 1], c_ua[AUDIT_TEXT_MAX + 1];
    struct row r = {
        .id = tip + 1,
        .at = at,
        .actor_type = actor->type,
        .actor_id = audit_clean_text(actor->id, c_id),
        .actor_email = audit_clean_text(actor->email, c_email),
        .action = action,
        .entity = entity,
        .entity_id = audit_clean_text(entity_id, c_eid),
        .ip = audit_clean_text(actor->ip, c_ip),
        .user_agent = audit_clean_text(actor->user_agent, c_ua),
        .details = details_text,
        .prev_hash = prev,
        .hash = hash,
    };
    rc = row_hash(&r, hash);
    if (rc != 0) {
        err_set(err, rc,
                rc == LUMI_EINVAL ? "audit row has text that is not valid UTF-8"
                                  : "audit row too large");
        goto out;
    }
    rc = insert_row(db, &r, err);
    if (rc == 0 && id_out != NULL)
        *id_out = r.id;
out:
    free(details_text);
    json_decref(empty);
    return rc;
}

int audit_append_id(struct db *db, const struct audit_actor *actor, const char *action,
                    const char *entity, int64_t entity_id, json_t *details, struct lumi_err *err)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)entity_id);
    return audit_append(db, actor, action, entity, id, details, NULL, err);
}

int audit_append_id_take(struct db *db, const struct audit_actor *actor, const char *action,
                         const char *entity, int64_t entity_id, json_t *details,
                         struct lumi_err *err)
{
    if (details == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    int rc = audit_append_id(db, actor, action, entity, entity_id, details, err);
    json_decref(details);
    return rc;
}

static void row_read(struct db_stmt *st, struct row *r)
{
    r->id = db_col_int64(st, 0);
    r->at = db_col_text(st, 1);
    r->actor_type = db_col_text(st, 2);
    r->actor_id = db_col_text(st, 3);
    r->actor_email = db_col_text(st, 4);
    r->action = db_col_text(st, 5);
    r->entity = db_col_text(st, 6);
    r->entity_id = db_col_text(st, 7);
    r->ip = db_col_text(st, 8);
    r->user_agent = db_col_text(st, 9);
    r->details = db_col_text(st, 10) ? db_col_text(st, 10) : "";
    r->prev_hash = db_col_text(st, 11) ? db_col_text(st, 11) : "";
    r->hash = db_col_text(st, 12) ? db_col_text(st, 12) : "";
}

/*
 * Walks the rows with id >= first_id in id order (at most max_rows of them,
 * 0 = no limit), expecting consecutive ids from first_id and the first row's
 * prev_hash to equal expect_prev. Adds to res->rows, sets res->last_good_id
 * to the last intact row walked (untouched when none) and good_hash to its
 * hash, or fills broken_id/reason at the first break. Reads WALK_CHUNK rows
 * per statement: the PostgreSQL driver holds a whole result in memory, and a
 * million rows would be ~400 MB.
 */
static int walk(struct db *db, int64_t first_id, const char *expect_prev, int64_t max_rows,
                struct audit_verify_result *res, char good_hash[CRYPTO_SHA256_HEX],
                struct lumi_err *err)
{
    char expect[CRYPTO_SHA256_HEX];
    str_copy(expect, expect_prev, sizeof expect);
    int64_t expect_id = first_id, left = max_rows;
    int rc = 0;
    while (rc == 0 && res->broken_id == 0 && (max_rows == 0 || left > 0)) {
        int64_t chunk = max_rows > 0 && left < WALK_CHUNK ? left : WALK_CHUNK, got = 0;
        struct buf sql;
        buf_init(&sql, 1024);
        buf_printf(&sql, "SELECT %s FROM audit_log WHERE id >= $1 ORDER BY id LIMIT %lld", COLUMNS,
                   (long long)chunk);
        struct db_stmt *st = db_prepare(db, buf_cstr(&sql), err);
        buf_free(&sql);
        if (st == NULL)
            return err ? err->code : LUMI_EDB;
        db_bind_int64(st, 1, expect_id);
        while ((rc = db_step(st, err)) == DB_ROW) {
            struct row r;
            char h[CRYPTO_SHA256_HEX];
            row_read(st, &r);
            res->rows++;
            got++;
            if (r.id != expect_id)
                snprintf(res->reason, sizeof res->reason, "row #%lld is missing",
                         (long long)expect_id);
            else if (strcmp(r.prev_hash, expect) != 0)
                snprintf(res->reason, sizeof res->reason,
                         "prev_hash does not match the hash of row #%lld", (long long)(r.id - 1));
            else if (row_hash(&r, h) != 0 || strcmp(h, r.hash) != 0)
                snprintf(res->reason, sizeof res->reason,
                         "hash does not match the row's contents (edited)");
            if (res->reason[0] != '\0') {
                res->broken_id = r.id;
                rc = 0;
                break;
            }
            res->last_good_id = r.id;
            str_copy(expect, r.hash, sizeof expect);
            expect_id++;
        }
        db_finalize(st);
        if (rc < 0)
            break;
        if (got < chunk)
            break; /* the end of the log */
        left -= got;
    }
    str_copy(good_hash, expect, CRYPTO_SHA256_HEX);
    return rc < 0 ? rc : 0;
}

int audit_verify(struct db *db, struct audit_verify_result *res, struct lumi_err *err)
{
    char good[CRYPTO_SHA256_HEX];
    memset(res, 0, sizeof *res);
    int rc = walk(db, 1, GENESIS_HASH, 0, res, good, err);
    if (rc == 0 && res->last_good_id > 0)
        str_copy(res->last_hash, good, sizeof res->last_hash);
    return rc;
}

int audit_row_hash(const struct audit_row *r, char out[CRYPTO_SHA256_HEX])
{
    struct row x = {
        .id = r->id,
        .at = r->at,
        .actor_type = r->actor_type,
        .actor_id = r->actor_id,
        .actor_email = r->actor_email,
        .action = r->action,
        .entity = r->entity,
        .entity_id = r->entity_id,
        .ip = r->ip,
        .user_agent = r->user_agent,
        .details = r->details ? r->details : "",
        .prev_hash = r->prev_hash ? r->prev_hash : "",
        .hash = "",
    };
    return row_hash(&x, out);
}

/* --- the checkpoint of incremental checks (see audit.h) --- */

#define KEY_VERIFIED "audit.verified_upto"
#define KEY_FULL "audit.last_full_check"
#define SETTING_MAX 200

/*
 * The checkpoint's id is written with 20 digits so that text order is number
 * order: the incremental UPSERT only ever moves it forward (two pages
 * checking at once cannot move it back), while a full check may set it
 * anywhere.
 */
static const char SQL_CHECKPOINT_ADVANCE[] =
    "INSERT INTO settings (key, value, updated_at) VALUES ('" KEY_VERIFIED "', $1, $2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
    " WHERE settings.value < excluded.value";
static const char SQL_CHECKPOINT_SET[] =
    "INSERT INTO settings (key, value, updated_at) VALUES ('" KEY_VERIFIED "', $1, $2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
static const char SQL_FULL_SET[] =
    "INSERT INTO settings (key, value, updated_at) VALUES ('" KEY_FULL "', $1, $2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/* Reads n space-separated non-negative integers from s into v. */
static int parse_ints(const char *s, int64_t *v, int n)
{
    for (int i = 0; i < n; i++) {
        while (*s == ' ')
            s++;
        size_t len = strcspn(s, " ");
        if (len == 0 || str_to_i64(s, len, 0, INT64_MAX, &v[i]) != 0)
            return -1;
        s += len;
    }
    return 0;
}

/* The checkpoint "<id> <hash>"; a missing or malformed one is the genesis. */
static int checkpoint_read(struct db *db, int64_t *id, char hash[CRYPTO_SHA256_HEX],
                           struct lumi_err *err)
{
    char v[SETTING_MAX];
    *id = 0;
    str_copy(hash, GENESIS_HASH, CRYPTO_SHA256_HEX);
    int rc = settings_get(db, KEY_VERIFIED, v, sizeof v, err);
    if (rc < 0)
        return rc;
    const char *sp = strchr(v, ' ');
    int64_t n = 0;
    if (sp == NULL || strlen(sp + 1) != CRYPTO_SHA256_HEX - 1 ||
        str_to_i64(v, (size_t)(sp - v), 1, INT64_MAX, &n) != 0)
        return 0;
    *id = n;
    str_copy(hash, sp + 1, CRYPTO_SHA256_HEX);
    return 0;
}

/* Stores the checkpoint; failures are logged by the driver and otherwise ignored. */
static void checkpoint_write(struct db *db, const char *sql, int64_t id, const char *hash)
{
    char v[SETTING_MAX], at[UTC_ISO_LEN];
    struct lumi_err ignored;
    snprintf(v, sizeof v, "%020lld %s", (long long)id, hash);
    utc_now_iso(at);
    const char *params[] = {v, at};
    db_execp(db, sql, 2, params, NULL, &ignored);
    settings_forget();
}

/* The checkpoint row itself must still be there, unchanged, with the remembered hash. */
static int checkpoint_row_check(struct db *db, int64_t id, const char *hash,
                                struct audit_verify_result *res, struct lumi_err *err)
{
    struct buf sql;
    buf_init(&sql, 1024);
    buf_printf(&sql, "SELECT %s FROM audit_log WHERE id = $1", COLUMNS);
    struct db_stmt *st = db_prepare(db, buf_cstr(&sql), err);
    buf_free(&sql);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        struct row r;
        char h[CRYPTO_SHA256_HEX];
        row_read(st, &r);
        res->rows++;
        if (strcmp(r.hash, hash) != 0 || row_hash(&r, h) != 0 || strcmp(h, r.hash) != 0)
            snprintf(res->reason, sizeof res->reason,
                     "the row has changed since it was verified (edited)");
    } else if (rc == DB_DONE) {
        snprintf(res->reason, sizeof res->reason, "the row verified last is missing (deleted)");
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (res->reason[0] != '\0') {
        res->broken_id = id;
        res->last_good_id = id - 1; /* as of the earlier checks */
    }
    return 0;
}

int audit_check_incremental(struct db *db, int max_rows, struct audit_check *c,
                            struct lumi_err *err)
{
    char full[SETTING_MAX], cp_hash[CRYPTO_SHA256_HEX], good[CRYPTO_SHA256_HEX];
    int64_t cp = 0;
    memset(c, 0, sizeof *c);
    int rc = settings_get(db, KEY_FULL, full, sizeof full, err);
    if (rc < 0)
        return rc;
    const char *sp = strchr(full, ' ');
    int64_t fv[3];
    if (sp != NULL && (size_t)(sp - full) < sizeof c->full_at && parse_ints(sp, fv, 3) == 0) {
        memcpy(c->full_at, full, (size_t)(sp - full));
        c->full_at[sp - full] = '\0';
        c->full_rows = fv[0];
        c->full_last_good_id = fv[1];
        c->full_broken_id = fv[2];
    }
    rc = checkpoint_read(db, &cp, cp_hash, err);
    if (rc == 0)
        rc =
            db_query_int64(db, "SELECT COALESCE(MAX(id), 0) FROM audit_log", 0, NULL, &c->tip, err);
    if (rc != 0)
        return rc;
    c->checkpoint_id = cp;
    c->v.last_good_id = cp;
    if (cp > 0) {
        rc = checkpoint_row_check(db, cp, cp_hash, &c->v, err);
        if (rc != 0 || c->v.broken_id != 0) {
            c->complete = rc == 0;
            return rc;
        }
    }
    rc = walk(db, cp + 1, cp_hash, max_rows > 0 ? max_rows : 1, &c->v, good, err);
    if (rc != 0)
        return rc;
    c->complete = c->v.broken_id != 0 || c->v.last_good_id >= c->tip;
    if (c->v.last_good_id > cp)
        checkpoint_write(db, SQL_CHECKPOINT_ADVANCE, c->v.last_good_id, good);
    return 0;
}

int audit_verify_record(struct db *db, struct audit_verify_result *res, struct lumi_err *err)
{
    char good[CRYPTO_SHA256_HEX], v[SETTING_MAX], at[UTC_ISO_LEN];
    memset(res, 0, sizeof *res);
    utc_now_iso(at); /* when the walk started: rows changed after it are not covered */
    int rc = walk(db, 1, GENESIS_HASH, 0, res, good, err);
    if (rc != 0)
        return rc;
    if (res->last_good_id > 0)
        str_copy(res->last_hash, good, sizeof res->last_hash);
    if (res->last_good_id > 0)
        checkpoint_write(db, SQL_CHECKPOINT_SET, res->last_good_id, good);
    else
        db_execp(db, "DELETE FROM settings WHERE key = '" KEY_VERIFIED "'", 0, NULL, NULL, NULL);
    snprintf(v, sizeof v, "%s %lld %lld %lld", at, (long long)res->rows,
             (long long)res->last_good_id, (long long)res->broken_id);
    const char *params[] = {v, at};
    rc = db_execp(db, SQL_FULL_SET, 2, params, NULL, err);
    settings_forget();
    return rc;
}

/* Appends " AND <fragment>" clauses for the filter with $n parameters. The
 * fragments are constants; only parameter numbers are formatted in (each
 * fragment uses the new parameter's number once or twice). */
struct where {
    struct buf sql;
    const char *params[16];
    char *owned[4];
    int n;
    bool fts; /* SQLite text search through audit_fts (joined, in its rowid order) */
};

/*
 * Text search (?q=, issue 15) goes through the trigram index of migration 14
 * over one expression of action, entity, actor_email and details: SQLite's
 * contentless FTS5 table audit_fts (rowid = id), PostgreSQL's pg_trgm GIN
 * index (without pg_trgm the same LIKE reads the table). Trigrams need three
 * characters: a shorter q is a LIKE over the four columns, as before.
 */
#define AUDIT_TEXT_PG                                                                              \
    "lower(COALESCE(action, '') || chr(31) || COALESCE(entity, '') || chr(31) ||"                  \
    " COALESCE(actor_email, '') || chr(31) || details)"

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A trigram of letters and spaces only: in audit text (words, JSON keys,
 * action names) nearly every row has such trigrams, so their lists are long
 * and filter little. One with a digit, punctuation or a non-ASCII letter is
 * what usually sets a row apart (an id, an amount, an address). */
static bool plain_trigram(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!(c == ' ' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

/*
 * q as an FTS5 query over audit_fts (trigram tokenizer, detail=none: no
 * positions, a third of the cost per row of a full index): trigrams of q,
 * each once and quoted (a quote doubled), joined by AND. It finds a superset
 * of the rows containing q; the LIKE over the same text, added beside it,
 * keeps exactly those. When q has trigrams that are not plain (see above),
 * only those are asked: the index reads a few short lists instead of every
 * long one ("seeded row 500000" over 1.5 M rows: 9.3 ms -> 1.1 ms), and the
 * LIKE still decides.
 */
static char *fts_trigrams(const char *q)
{
    struct buf b;
    size_t starts[AUDIT_TEXT_MAX + 2], n = 0, len = strlen(q);
    bool any_special = false;
    buf_init(&b, 16384);
    for (size_t i = 0; i < len && n < AUDIT_TEXT_MAX + 1; i++)
        if (((unsigned char)q[i] & 0xC0) != 0x80)
            starts[n++] = i;
    starts[n] = len;
    for (size_t k = 0; k + 3 <= n; k++)
        any_special |= !plain_trigram(q + starts[k], starts[k + 3] - starts[k]);
    for (size_t k = 0; k + 3 <= n; k++) {
        size_t from = starts[k], tlen = starts[k + 3] - from;
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++)
            seen = starts[j + 3] - starts[j] == tlen && memcmp(q + starts[j], q + from, tlen) == 0;
        if (seen || (any_special && plain_trigram(q + from, tlen)))
            continue;
        if (b.len > 0)
            buf_append_str(&b, " AND ");
        buf_append_char(&b, '"');
        for (size_t i = from; i < from + tlen; i++) {
            if (q[i] == '"')
                buf_append_char(&b, '"');
            buf_append_char(&b, q[i]);
        }
        buf_append_char(&b, '"');
    }
    return buf_steal(&b);
}

#define AUDIT_TEXT_SQLITE                                                                          \
    "lower(COALESCE(action, '') || char(31) || COALESCE(entity, '') || char(31) ||"                \
    " COALESCE(actor_email, '') || char(31) || details)"

static void where_add(struct where *w, const char *fmt, const char *value)
{
    if (value == NULL || *value == '\0')
        return;
    w->params[w->n++] = value;
    buf_printf(&w->sql, fmt, w->n, w->n);
}

/* "%q%" for LIKE over the first len bytes of q: lower case, % _ \ escaped. */
static char *like_pattern_n(const char *q, size_t len)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_append_char(&b, '%');
    for (const char *p = q; p < q + len && *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            buf_append_char(&b, '\\');
        char c = *p;
        buf_append_char(&b, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
    buf_append_char(&b, '%');
    return buf_steal(&b);
}

static char *like_pattern(const char *q)
{
    return like_pattern_n(q, strlen(q));
}

/*
 * tail: the SQLite search's second half, the rows the index has not reached
 * yet (after audit_fts_state.indexed_upto): the same clauses and parameter
 * numbers as the indexed half, with the MATCH replaced by that bound.
 */
static void where_build(struct where *w, enum db_kind kind, const struct audit_filter *f, bool tail,
                        char *idbuf1, char *idbuf2)
{
    buf_init(&w->sql, 4096);
    w->n = 0;
    w->fts = false;
    memset(w->owned, 0, sizeof w->owned);
    buf_append_str(&w->sql, " WHERE 1=1");
    if (f == NULL)
        return;
    where_add(w, " AND action = $%d", f->action);
    where_add(w, " AND entity = $%d", f->entity);
    where_add(w, " AND entity_id = $%d", f->entity_id);
    where_add(w, " AND (actor_email = $%d OR actor_id = $%d)", f->actor);
    where_add(w, " AND ip = $%d", f->ip);
    where_add(w, " AND at >= $%d", f->from);
    where_add(w, " AND at < $%d", f->to);
    bool long_q = f->q != NULL && utf8_chars(f->q) >= 3;
    if (long_q && kind == DB_SQLITE) {
        w->fts = true;
        w->owned[0] = fts_trigrams(f->q);
        w->owned[1] = like_pattern(f->q);
        w->params[w->n++] = w->owned[0];
        w->params[w->n++] = w->owned[1];
        if (tail)
            buf_printf(&w->sql,
                       " AND id > (SELECT indexed_upto FROM audit_fts_state) AND " AUDIT_TEXT_SQLITE
                       " LIKE $%d ESCAPE '\\'",
                       w->n);
        else
            buf_printf(&w->sql,
                       " AND audit_fts MATCH $%d AND " AUDIT_TEXT_SQLITE " LIKE $%d ESCAPE '\\'",
                       w->n - 1, w->n);
    } else if (long_q) {
        w->owned[0] = like_pattern(f->q);
        w->params[w->n++] = w->owned[0];
        /* With digits in q (an id, an amount, an invoice number), pg_trgm is
         * asked for them alone (str_digit_span): it reads the list of every
         * trigram it is asked for, and in audit text nearly every row has
         * those of words, JSON keys and their quotes ("seeded row 1666666"
         * over 5 M rows: 330 ms; the digits alone: 2 ms). The LIKE of all of
         * q, written so that it cannot match the index's expression, decides. */
        size_t dlen = 0;
        const char *digits = str_digit_span(f->q, &dlen);
        if (digits != NULL) {
            w->owned[2] = like_pattern_n(digits, dlen);
            w->params[w->n++] = w->owned[2];
            buf_printf(&w->sql,
                       " AND " AUDIT_TEXT_PG " LIKE $%d ESCAPE '\\' AND (" AUDIT_TEXT_PG
                       " || '') LIKE $%d ESCAPE '\\'",
                       w->n, w->n - 1);
        } else {
            buf_printf(&w->sql, " AND " AUDIT_TEXT_PG " LIKE $%d ESCAPE '\\'", w->n);
        }
    } else if (f->q != NULL && *f->q != '\0') {
        w->owned[0] = like_pattern(f->q);
        w->params[w->n++] = w->owned[0];
        int k = w->n;
        buf_printf(&w->sql,
                   " AND (LOWER(action) LIKE $%d ESCAPE '\\' OR LOWER(entity) LIKE $%d ESCAPE "
                   "'\\' OR LOWER(actor_email) LIKE $%d ESCAPE '\\' OR LOWER(details) LIKE $%d "
                   "ESCAPE '\\')",
                   k, k, k, k);
    }
    if (f->before_id > 0) {
        snprintf(idbuf1, 24, "%lld", (long long)f->before_id);
        where_add(w,
                  w->fts && !tail ? " AND audit_fts.rowid < CAST($%d AS BIGINT)"
                                  : " AND id < CAST($%d AS BIGINT)",
                  idbuf1);
    }
    if (f->after_id > 0) {
        snprintf(idbuf2, 24, "%lld", (long long)f->after_id);
        where_add(w,
                  w->fts && !tail ? " AND audit_fts.rowid > CAST($%d AS BIGINT)"
                                  : " AND id > CAST($%d AS BIGINT)",
                  idbuf2);
    }
}

static void where_free(struct where *w)
{
    buf_free(&w->sql);
    for (int i = 0; i < 4; i++)
        free(w->owned[i]);
}

/* The statement of a query or export; prefix ("" or an EXPLAIN) goes before its SELECT. */
static struct db_stmt *filtered(struct db *db, const char *prefix, const struct audit_filter *f,
                                const char *order, int limit, struct lumi_err *err)
{
    struct where w, t;
    char id1[24], id2[24];
    where_build(&w, db_kind(db), f, false, id1, id2);
    struct buf sql;
    buf_init(&sql, 8192);
    char lim[32] = "";
    if (limit > 0)
        snprintf(lim, sizeof lim, " LIMIT %d", limit);
    if (!w.fts) {
        buf_printf(&sql, "%sSELECT %s FROM audit_log%s ORDER BY id %s%s", prefix, COLUMNS,
                   buf_cstr(&w.sql), order, lim);
    } else {
        /* Searching on SQLite: the FTS5 table leads in its rowid order, so a
         * page stops early; the rows it has not indexed yet are read directly
         * (few: the mail thread indexes them, see audit_index_pending). */
        where_build(&t, db_kind(db), f, true, id1, id2);
        buf_printf(&sql,
                   "%sSELECT * FROM (SELECT %s FROM audit_fts JOIN audit_log"
                   " ON audit_log.id = audit_fts.rowid%s ORDER BY audit_fts.rowid %s%s)"
                   " UNION ALL SELECT * FROM (SELECT %s FROM audit_log%s ORDER BY id %s%s)"
                   " ORDER BY id %s%s",
                   prefix, COLUMNS, buf_cstr(&w.sql), order, lim, COLUMNS, buf_cstr(&t.sql), order,
                   lim, order, lim);
        where_free(&t);
    }
    struct db_stmt *st = db_prepare(db, buf_cstr(&sql), err);
    for (int i = 0; st != NULL && i < w.n; i++)
        db_bind_text(st, i + 1, w.params[i]);
    buf_free(&sql);
    where_free(&w);
    return st;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *row_json(const struct row *r)
{
    json_t *details = jsonx_parse(r->details, strlen(r->details), JSONX_MAX_DEPTH, NULL);
    if (details == NULL)
        details = json_string(r->details);
    return json_pack("{s:I s:o s:o s:o s:o s:o s:o s:o s:o s:o s:o s:s s:s}", "id",
                     (json_int_t)r->id, "at", str_or_null(r->at), "actor_type",
                     str_or_null(r->actor_type), "actor_id", str_or_null(r->actor_id),
                     "actor_email", str_or_null(r->actor_email), "action", str_or_null(r->action),
                     "entity", str_or_null(r->entity), "entity_id", str_or_null(r->entity_id), "ip",
                     str_or_null(r->ip), "user_agent", str_or_null(r->user_agent), "details",
                     details, "prev_hash", r->prev_hash, "hash", r->hash);
}

static const char SQL_INDEX_NEXT[] =
    "SELECT indexed_upto, (SELECT MAX(id) FROM (SELECT id FROM audit_log WHERE id > indexed_upto"
    " ORDER BY id LIMIT $1)) FROM audit_fts_state";
static const char SQL_INDEX_ROWS[] =
    "INSERT INTO audit_fts (rowid, body) SELECT id, " AUDIT_TEXT_SQLITE
    " FROM audit_log WHERE id > CAST($1 AS BIGINT) AND id <= CAST($2 AS BIGINT)";
static const char SQL_INDEX_MARK[] = "UPDATE audit_fts_state SET indexed_upto = CAST($1 AS BIGINT)";

int audit_index_pending(struct db *db, int max_rows, struct lumi_err *err)
{
    if (db_kind(db) != DB_SQLITE)
        return 0; /* PostgreSQL's GIN index is kept by the server */
    int64_t from = 0, upto = 0;
    char n[16], a[24], b[24];
    snprintf(n, sizeof n, "%d", max_rows > 0 ? max_rows : 1);
    if (db_begin(db, err) != 0)
        return err->code < 0 ? err->code : LUMI_EDB;
    struct db_stmt *st = db_prepare(db, SQL_INDEX_NEXT, err);
    int rc = st != NULL ? db_bind_text(st, 1, n) : LUMI_EDB;
    if (rc == 0)
        rc = db_step(st, err);
    if (rc == DB_ROW) {
        from = db_col_int64(st, 0);
        upto = db_col_is_null(st, 1) ? from : db_col_int64(st, 1);
    }
    db_finalize(st);
    if (rc < 0 || upto <= from) {
        db_rollback(db);
        return rc < 0 ? (err->code < 0 ? err->code : LUMI_EDB) : 0;
    }
    snprintf(a, sizeof a, "%lld", (long long)from);
    snprintf(b, sizeof b, "%lld", (long long)upto);
    const char *rows[] = {a, b};
    const char *mark[] = {b};
    if (db_execp(db, SQL_INDEX_ROWS, 2, rows, NULL, err) != 0 ||
        db_execp(db, SQL_INDEX_MARK, 1, mark, NULL, err) != 0 || db_commit(db, err) != 0) {
        db_rollback(db);
        return err->code < 0 ? err->code : LUMI_EDB;
    }
    return upto - from > INT32_MAX ? INT32_MAX : (int)(upto - from);
}

json_t *audit_query(struct db *db, const struct audit_filter *f, int limit, int64_t *next_cursor,
                    struct lumi_err *err)
{
    *next_cursor = 0;
    struct db_stmt *st = filtered(db, "", f, "DESC", limit + 1, err);
    if (st == NULL)
        return NULL;
    json_t *arr = json_array();
    int rc, n = 0;
    int64_t last = 0;
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (n == limit) {
            *next_cursor = last;
            break;
        }
        struct row r;
        row_read(st, &r);
        json_array_append_new(arr, row_json(&r));
        last = r.id;
        n++;
    }
    db_finalize(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

int audit_query_plan(struct db *db, const struct audit_filter *f, int limit, struct buf *out,
                     struct lumi_err *err)
{
    bool sqlite = db_kind(db) == DB_SQLITE;
    struct db_stmt *st =
        filtered(db, sqlite ? "EXPLAIN QUERY PLAN " : "EXPLAIN ", f, "DESC", limit + 1, err);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW) {
        /* SQLite: (id, parent, notused, detail); PostgreSQL: one "QUERY PLAN" column. */
        const char *line = db_col_text(st, db_col_count(st) - 1);
        if (buf_printf(out, "%s\n", line ? line : "") != 0) {
            rc = err_set(err, LUMI_ETOOLARGE, "query plan too long");
            break;
        }
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

json_t *audit_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct buf sql;
    buf_init(&sql, 1024);
    buf_printf(&sql, "SELECT %s FROM audit_log WHERE id = $1", COLUMNS);
    struct db_stmt *st = db_prepare(db, buf_cstr(&sql), err);
    buf_free(&sql);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, id);
    json_t *o = NULL;
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        struct row r;
        row_read(st, &r);
        o = row_json(&r);
    } else if (rc == DB_DONE) {
        err_set(err, LUMI_ENOTFOUND, "audit row %lld does not exist", (long long)id);
    }
    db_finalize(st);
    return o;
}

/* RFC 4180 cell; a leading = + - @ gets a ' so spreadsheets do not run it. */
static void csv_cell(FILE *out, const char *s, int last)
{
    if (s != NULL) {
        fputc('"', out);
        if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
            fputc('\'', out);
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    }
    fputc(last ? '\n' : ',', out);
}

static void write_csv_row(FILE *out, const struct row *r)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)r->id);
    const char *cells[] = {id,         r->at,        r->actor_type, r->actor_id, r->actor_email,
                           r->action,  r->entity,    r->entity_id,  r->ip,       r->user_agent,
                           r->details, r->prev_hash, r->hash};
    size_t n = sizeof cells / sizeof cells[0];
    for (size_t i = 0; i < n; i++)
        csv_cell(out, cells[i], i == n - 1);
}

int audit_export(struct db *db, const struct audit_filter *f, enum audit_format fmt, FILE *out,
                 int64_t *count, struct lumi_err *err)
{
    /* In WALK_CHUNK pieces by id (keyset), so PostgreSQL never holds the whole log. */
    struct audit_filter page = {0};
    if (f != NULL)
        page = *f;
    if (fmt == AUDIT_CSV)
        fprintf(out, "id,at,actor_type,actor_id,actor_email,action,entity,entity_id,ip,"
                     "user_agent,details,prev_hash,hash\n");
    int rc = 0;
    int64_t n = 0, got;
    do {
        struct db_stmt *st = filtered(db, "", &page, "ASC", WALK_CHUNK, err);
        if (st == NULL) {
            rc = err ? err->code : LUMI_EDB;
            break;
        }
        got = 0;
        while ((rc = db_step(st, err)) == DB_ROW) {
            struct row r;
            row_read(st, &r);
            if (fmt == AUDIT_CSV) {
                write_csv_row(out, &r);
            } else {
                json_t *o = row_json(&r);
                char *line = o ? jsonx_dump(o) : NULL;
                if (line != NULL)
                    fprintf(out, "%s\n", line);
                free(line);
                json_decref(o);
            }
            page.after_id = r.id;
            got++;
        }
        db_finalize(st);
        n += got;
    } while (rc == 0 && got == WALK_CHUNK);
    if (count != NULL)
        *count = n;
    if (rc < 0)
        return rc;
    if (ferror(out))
        return err_set(err, LUMI_EIO, "could not write the export");
    return 0;
}

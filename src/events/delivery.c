/*
 * delivery.c — claiming, sending and settling webhook deliveries (see
 * delivery.h).
 *
 * Owns the SQL of a delivery's life after it is queued (events.c makes the
 * rows). Claims follow mail/outbox.c and jobs.c: pick a due row (PostgreSQL:
 * FOR UPDATE SKIP LOCKED; SQLite: the BEGIN IMMEDIATE write lock makes pick
 * and take one step), take it with an UPDATE that repeats the due test, send
 * with no transaction open, then settle with an UPDATE that checks the lease
 * (locked_by), so a dispatcher whose lease ran out cannot overwrite the
 * outcome of the one that took the delivery over.
 *
 * Secrets: the endpoint's signing secret is opened for one attempt, in a
 * buffer wiped afterwards; log lines name the endpoint and delivery by id,
 * never the secret, the signature or the URL's path.
 * Threading: no state of its own; uses only the connection it is given.
 */
#include "events/delivery.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"
#include "events/target.h"

#define BACKOFF_CAP_S (6 * 3600)
#define ERROR_MAX 500
#define CONNECT_TIMEOUT_MS 5000
#define ANSWER_READ_MAX (64 * 1024) /* more than this is not read (the status still counts) */

/* $1 = now. Kept identical in the pick and the take. An earlier pending delivery of the same
 * entity to the same endpoint holds this one back; so does an inactive endpoint. */
#define DUE                                                                                        \
    "d.state = 'pending' AND d.next_attempt_at <= $1"                                              \
    " AND (d.locked_until IS NULL OR d.locked_until < $1)"
#define IN_ORDER                                                                                   \
    " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.endpoint_id = d.endpoint_id"      \
    " AND e.entity = d.entity AND e.entity_id = d.entity_id AND e.state = 'pending'"               \
    " AND e.id < d.id)"                                                                            \
    " AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = d.endpoint_id AND w.active = 1)"

static const char SQL_PICK_SQLITE[] = "SELECT d.id FROM webhook_deliveries d WHERE " DUE IN_ORDER
                                      " ORDER BY d.next_attempt_at, d.id LIMIT 1";
static const char SQL_PICK_PG[] = "SELECT d.id FROM webhook_deliveries d WHERE " DUE IN_ORDER
                                  " ORDER BY d.next_attempt_at, d.id LIMIT 1"
                                  " FOR UPDATE OF d SKIP LOCKED";
static const char SQL_TAKE[] =
    "UPDATE webhook_deliveries SET locked_by = $2, locked_until = $3, attempts = attempts + 1,"
    " updated_at = $1 WHERE id = $4 AND state = 'pending'"
    " AND (locked_until IS NULL OR locked_until < $1)"
    " RETURNING id, event_id, endpoint_id, attempts, created_at, entity, entity_id";
static const char SQL_READ[] =
    "SELECT ev.public_id, ev.type, ev.payload, w.url, w.secret_enc FROM outgoing_events ev,"
    " webhook_endpoints w WHERE ev.id = $1 AND w.id = $2";

/* $1 now, $2 id, $3 locked_by, then per statement. */
#define HELD " WHERE id = $2 AND state = 'pending' AND locked_by = $3"
static const char SQL_DELIVERED[] =
    "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $1, updated_at = $1,"
    " last_status = $4, last_answer = $5, last_error = NULL, locked_by = NULL,"
    " locked_until = NULL" HELD;
static const char SQL_RETRY[] =
    "UPDATE webhook_deliveries SET next_attempt_at = $4, last_status = $5, last_answer = $6,"
    " last_error = $7, updated_at = $1, locked_by = NULL, locked_until = NULL" HELD;
/* The entity's later deliveries to the endpoint wait for this one: not due before it is. */
static const char SQL_HOLD_FOLLOWERS[] =
    "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE endpoint_id = $2 AND entity = $3"
    " AND entity_id = $4 AND state = 'pending' AND id > $5 AND next_attempt_at < $1";
static const char SQL_FAILED[] =
    "UPDATE webhook_deliveries SET state = 'failed', last_status = $4, last_answer = $5,"
    " last_error = $6, updated_at = $1, locked_by = NULL, locked_until = NULL" HELD;

/* A claimed delivery and what it sends. */
struct claimed {
    int64_t id, event_id, endpoint_id, entity_id;
    char entity[32];
    int attempts;
    int64_t created;
    char locked_by[96];
    char *public_id, *type, *payload, *url, *secret_enc;
};

/* The outcome of one attempt. */
struct attempt {
    long status;                     /* 0: no answer */
    char answer[AUDIT_TEXT_MAX + 1]; /* first bytes, valid UTF-8 */
    char error[ERROR_MAX];
    bool delivered;
};

static void claimed_clear(struct claimed *c)
{
    free(c->public_id);
    free(c->type);
    free(c->payload);
    free(c->url);
    free(c->secret_enc);
    memset(c, 0, sizeof *c);
}

int64_t webhook_backoff_s(int attempts)
{
    int64_t d = config_int("LUMI_WEBHOOK_RETRY_S");
    if (d <= 0)
        d = 30;
    for (int i = 1; i < attempts && d < BACKOFF_CAP_S; i++)
        d *= 2;
    return d < BACKOFF_CAP_S ? d : BACKOFF_CAP_S;
}

/* --- claiming ------------------------------------------------------------------ */

static int take(struct db *db, int64_t id, const char *worker_id, const char *now,
                const char *until, struct claimed *out, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_TAKE, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_text(st, 1, now);
    db_bind_text(st, 2, worker_id);
    db_bind_text(st, 3, until);
    db_bind_int64(st, 4, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        out->id = db_col_int64(st, 0);
        out->event_id = db_col_int64(st, 1);
        out->endpoint_id = db_col_int64(st, 2);
        out->attempts = (int)db_col_int64(st, 3);
        if (utc_parse(db_col_text(st, 4), &out->created, NULL) != 0)
            out->created = utc_now();
        str_copy(out->entity, db_col_text(st, 5) != NULL ? db_col_text(st, 5) : "",
                 sizeof out->entity);
        out->entity_id = db_col_int64(st, 6);
        rc = 1;
    }
    db_finalize(st);
    return rc;
}

/* Claims the oldest due delivery (its own transaction). 1 claimed, 0 none due, < 0. */
static int claim(struct db *db, const char *worker_id, struct claimed *out, struct lumi_err *err)
{
    char nowt[UTC_ISO_LEN], until[UTC_ISO_LEN];
    int64_t id = 0, now = utc_now();
    int64_t lease = config_int("LUMI_JOB_LEASE_S");
    memset(out, 0, sizeof *out);
    utc_format(now, nowt);
    utc_format(now + (lease > 0 ? lease : 120), until);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    const char *p[] = {nowt};
    rc = db_query_int64_opt(db, db_kind(db) == DB_POSTGRES ? SQL_PICK_PG : SQL_PICK_SQLITE, 1, p,
                            &id, err);
    if (rc == 1)
        rc = take(db, id, worker_id, nowt, until, out, err);
    if (rc >= 0) {
        int c = db_commit(db, err);
        if (c != 0)
            rc = c;
    }
    if (rc < 0)
        db_rollback(db);
    if (rc == 1)
        str_copy(out->locked_by, worker_id, sizeof out->locked_by);
    return rc;
}

static char *col_dup(struct db_stmt *st, int col)
{
    const char *s = db_col_text(st, col);
    return str_dup(s != NULL ? s : "");
}

/* The event's body and the endpoint's URL and sealed secret. LUMI_ENOTFOUND when gone. */
static int read_claimed(struct db *db, struct claimed *c, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_READ, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_int64(st, 1, c->event_id);
    db_bind_int64(st, 2, c->endpoint_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        c->public_id = col_dup(st, 0);
        c->type = col_dup(st, 1);
        c->payload = col_dup(st, 2);
        c->url = col_dup(st, 3);
        c->secret_enc = col_dup(st, 4);
        rc = c->public_id && c->type && c->payload && c->url && c->secret_enc
                 ? 0
                 : err_set(err, LUMI_ENOMEM, "out of memory");
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "delivery %lld: its event or endpoint is gone",
                     (long long)c->id);
    }
    db_finalize(st);
    return rc;
}

/* --- sending ------------------------------------------------------------------- */

/* "t=UNIX,v1=HEX" for the body at time t, with the endpoint's secret. */
static int sign(const struct claimed *c, int64_t t, char *out, size_t outsz, struct lumi_err *err)
{
    char ad[64];
    uint8_t mac[CRYPTO_SHA256_LEN];
    char hex[CRYPTO_SHA256_HEX];
    struct buf secret, signed_text;
    int rc = 0;
    buf_init(&secret, 1024);
    buf_init(&signed_text, strlen(c->payload) + 32);
    const uint8_t *key = config_secret_key();
    snprintf(ad, sizeof ad, "webhook_endpoints.secret:%lld", (long long)c->endpoint_id);
    if (key == NULL || crypto_open(key, ad, c->secret_enc, &secret, err) != 0) {
        rc = err_set(err, LUMI_EINVAL,
                     "the endpoint's secret cannot be decrypted (was LUMI_SECRET_KEY changed?)");
        goto out;
    }
    if (buf_printf(&signed_text, "%lld.%s", (long long)t, c->payload) != 0 ||
        crypto_hmac_sha256(secret.data, secret.len, signed_text.data, signed_text.len, mac) != 0 ||
        hex_encode(mac, sizeof mac, hex, sizeof hex) != 0) {
        rc = err_set(err, LUMI_EINTERNAL, "cannot sign the event");
        goto out;
    }
    snprintf(out, outsz, "Lumi-Signature: t=%lld,v1=%s", (long long)t, hex);
out:
    if (secret.data != NULL)
        sodium_memzero(secret.data, secret.cap);
    buf_free(&secret);
    buf_free(&signed_text);
    return rc;
}

/* The answer's first bytes as storable text. */
static void keep_answer(const struct hc_response *res, struct attempt *a)
{
    char head[DELIVERY_ANSWER_MAX + 1];
    size_t n = res->body.len < DELIVERY_ANSWER_MAX ? res->body.len : DELIVERY_ANSWER_MAX;
    if (n > 0)
        memcpy(head, res->body.data, n);
    head[n] = '\0';
    audit_clean_text(head, a->answer);
}

/* One POST of the claimed delivery; fills a. */
static void post(const struct claimed *c, struct attempt *a)
{
    struct webhook_target tg;
    struct lumi_err e;
    struct hc_response res;
    struct hc_error he;
    char sig[200], id_hdr[80], type_hdr[120];
    memset(&res, 0, sizeof res);
    err_clear(&e);
    if (webhook_target_check(c->url, config_bool("LUMI_WEBHOOK_ALLOW_PRIVATE"), &tg, &e) != 0 ||
        sign(c, utc_now(), sig, sizeof sig, &e) != 0) {
        str_copy(a->error, e.msg, sizeof a->error);
        return;
    }
    snprintf(id_hdr, sizeof id_hdr, "Lumi-Event-Id: %s", c->public_id);
    snprintf(type_hdr, sizeof type_hdr, "Lumi-Event-Type: %s", c->type);
    const char *headers[] = {"Content-Type: application/json", sig, id_hdr, type_hdr, NULL};
    struct hc_request req = {
        .method = "POST",
        .url = c->url,
        .headers = headers,
        .body = c->payload,
        .body_len = strlen(c->payload),
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .timeout_ms = DELIVERY_TIMEOUT_MS,
        .max_response = ANSWER_READ_MAX,
        .ca_file = config_str("LUMI_CA_FILE"),
        .resolve = tg.resolve[0] != '\0' ? tg.resolve : NULL,
    };
    int rc = hc_perform(&req, &res, &he);
    a->status = rc == 0 ? res.status : he.http_status;
    keep_answer(&res, a);
    /* An answer larger than we read still carries its status. */
    a->delivered = a->status >= 200 && a->status < 300;
    if (rc != 0 && !a->delivered)
        str_copy(a->error, he.message, sizeof a->error);
    else if (!a->delivered)
        snprintf(a->error, sizeof a->error, "the endpoint answered HTTP %ld", a->status);
    hc_response_free(&res);
}

/* --- settling ------------------------------------------------------------------ */

static int settle_sql(struct db *db, const struct claimed *c, const char *sql, int nextra,
                      const char *const *extra, struct lumi_err *err)
{
    return db_exec_leased(db, sql, c->id, c->locked_by, nextra, extra, err);
}

static int hold_followers(struct db *db, const struct claimed *c, const char *at,
                          struct lumi_err *err)
{
    char ep[24], eid[24], id[24];
    snprintf(ep, sizeof ep, "%lld", (long long)c->endpoint_id);
    snprintf(eid, sizeof eid, "%lld", (long long)c->entity_id);
    snprintf(id, sizeof id, "%lld", (long long)c->id);
    const char *p[] = {at, ep, c->entity, eid, id};
    return db_execp(db, SQL_HOLD_FOLLOWERS, 5, p, NULL, err);
}

static int settle(struct db *db, const struct claimed *c, const struct attempt *a,
                  struct lumi_err *err)
{
    char status[24], at[UTC_ISO_LEN], why[ERROR_MAX + 64], q[300];
    const char *st = NULL;
    int rc;
    if (a->status > 0) {
        snprintf(status, sizeof status, "%ld", a->status);
        st = status;
    }
    int64_t delay = webhook_backoff_s(c->attempts);
    int64_t give_up = c->created + config_int("LUMI_WEBHOOK_GIVE_UP_S");
    if (a->delivered) {
        const char *x[] = {st, a->answer};
        rc = settle_sql(db, c, SQL_DELIVERED, 2, x, err);
        log_info("webhook.delivered", "delivery=%lld endpoint=%lld event=%s attempt=%d status=%ld",
                 (long long)c->id, (long long)c->endpoint_id, c->public_id, c->attempts, a->status);
    } else if (utc_now() + delay > give_up) {
        snprintf(why, sizeof why, "gave up after %d attempts: %s", c->attempts, a->error);
        const char *x[] = {st, a->answer, why};
        rc = settle_sql(db, c, SQL_FAILED, 3, x, err);
        log_warn("webhook.failed", "delivery=%lld endpoint=%lld event=%s attempts=%d error=%s",
                 (long long)c->id, (long long)c->endpoint_id, c->public_id, c->attempts,
                 log_quote(a->error, q, sizeof q));
    } else {
        utc_format(utc_now() + delay, at);
        const char *x[] = {at, st, a->answer, a->error};
        rc = settle_sql(db, c, SQL_RETRY, 4, x, err);
        if (rc == 0)
            rc = hold_followers(db, c, at, err);
        log_warn("webhook.retry",
                 "delivery=%lld endpoint=%lld event=%s attempt=%d retry_in_s=%lld "
                 "error=%s",
                 (long long)c->id, (long long)c->endpoint_id, c->public_id, c->attempts,
                 (long long)delay, log_quote(a->error, q, sizeof q));
    }
    if (rc == LUMI_ECONFLICT) { /* taken over, or the endpoint was deleted meanwhile */
        log_warn("webhook.lease_lost", "delivery=%lld", (long long)c->id);
        err_clear(err);
        return 0;
    }
    return rc;
}

int webhook_drain(struct db *db, const char *worker_id, int max, struct lumi_err *err)
{
    int handled = 0;
    while (handled < max) {
        struct claimed c;
        struct attempt a;
        int rc = claim(db, worker_id, &c, err);
        if (rc <= 0)
            return rc < 0 ? rc : handled;
        memset(&a, 0, sizeof a);
        rc = read_claimed(db, &c, err);
        if (rc == 0) {
            post(&c, &a);
            rc = settle(db, &c, &a, err);
        } else if (rc == LUMI_ENOTFOUND) {
            err_clear(err);
            rc = 0; /* the endpoint was deleted after the claim: its deliveries went with it */
        }
        claimed_clear(&c);
        if (rc < 0)
            return rc;
        handled++;
    }
    return handled;
}

/*
 * outbox.c — the `emails` table: queueing, claiming and the outcome of
 * messages, the admin's list and resend (see outbox.h).
 *
 * Claims follow jobs.c: pick a due row (PostgreSQL: FOR UPDATE SKIP LOCKED,
 * so senders in several processes pass each other; SQLite: the BEGIN
 * IMMEDIATE write lock makes pick and take one step), then take it with an
 * UPDATE that repeats the due test. The outcome updates check the lease
 * (locked_by) so a sender whose lease ran out cannot overwrite the outcome of
 * the sender that took the message over.
 *
 * Threading: no state of its own; each function uses only the connection it
 * is given.
 */
#include "mail/outbox.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/mime.h"

#define PAGE_MAX 200
#define ERROR_MAX 1000 /* bytes of a reason or reply kept */
#define BACKOFF_CAP_S 3600

const char *const OUTBOX_STATUSES[] = {"queued", "sending", "sent", "failed", "skipped", NULL};

/* $14: the status it is born with (queued, or skipped without an SMTP server), $15 why. */
static const char SQL_ENQUEUE[] =
    "INSERT INTO emails (event_key, template, to_addr, rcpt, client_id, entity, entity_id,"
    " subject, body_text, body_html, message_id, status, attempts, max_attempts,"
    " next_attempt_at, created_at, updated_at, last_error, secret)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $14, 0, $12, $13, $13, $13, $15, $16)"
    " ON CONFLICT (event_key, rcpt, template) DO NOTHING";

/* $1 = now. Kept identical in the pick and the take. */
#define DUE                                                                                        \
    "((status = 'queued' AND next_attempt_at <= $1) OR"                                            \
    " (status = 'sending' AND locked_until < $1))"

static const char SQL_PICK_SQLITE[] =
    "SELECT id FROM emails WHERE " DUE " ORDER BY next_attempt_at, id LIMIT 1";
static const char SQL_PICK_PG[] =
    "SELECT id FROM emails WHERE " DUE " ORDER BY next_attempt_at, id LIMIT 1"
    " FOR UPDATE SKIP LOCKED";
static const char SQL_TAKE[] =
    "UPDATE emails SET status = 'sending', locked_by = $2, locked_until = $3,"
    " attempts = attempts + 1, updated_at = $1 WHERE id = $4 AND " DUE
    " RETURNING id, to_addr, rcpt, subject, body_text, body_html, message_id, created_at,"
    " attempts, max_attempts, event_key, template, secret, attachments";

/* $1 now, $2 id, $3 locked_by, then per statement. */
#define HELD " WHERE id = $2 AND status = 'sending' AND locked_by = $3"
static const char SQL_SENT[] =
    "UPDATE emails SET status = 'sent', sent_at = $1, updated_at = $1, smtp_reply = $4,"
    " last_error = NULL, locked_by = NULL, locked_until = NULL" HELD;
static const char SQL_RETRY[] =
    "UPDATE emails SET status = 'queued', next_attempt_at = $4, last_error = $5, smtp_reply = $6,"
    " updated_at = $1, locked_by = NULL, locked_until = NULL" HELD;
static const char SQL_FAILED[] =
    "UPDATE emails SET status = 'failed', last_error = $4, smtp_reply = $5, updated_at = $1,"
    " locked_by = NULL, locked_until = NULL" HELD;

static const char SQL_RENDERED[] =
    "UPDATE emails SET subject = $4, body_text = $5, body_html = $6, updated_at = $1,"
    " attachments = COALESCE($7, attachments)" HELD;

/* $1 now, $2 reason, $3 limit */
static const char SQL_SKIP_DUE[] =
    "UPDATE emails SET status = 'skipped', last_error = $2, updated_at = $1, locked_by = NULL,"
    " locked_until = NULL WHERE id IN (SELECT id FROM emails WHERE " DUE
    " ORDER BY id LIMIT $3)";

#define LIST_FIELDS                                                                                \
    "id, event_key, template, to_addr AS \"to\", rcpt, client_id, entity, entity_id, subject, status,"        \
    " attempts, max_attempts, next_attempt_at, last_error, smtp_reply, message_id, created_at,"    \
    " updated_at, sent_at"
/* $1 before id, $2 status or '', $3 rcpt or '', $4 limit */
static const char SQL_LIST[] = "SELECT " LIST_FIELDS " FROM emails WHERE id < $1"
                               " AND (CAST($2 AS TEXT) = '' OR status = $2)"
                               " AND (CAST($3 AS TEXT) = '' OR rcpt = $3)"
                               " ORDER BY id DESC LIMIT $4";
static const char SQL_GET[] =
    "SELECT " LIST_FIELDS ", body_text, body_html FROM emails WHERE id = $1";
static const char SQL_STATUS_OF[] = "SELECT status FROM emails WHERE id = $1";
static const char SQL_REQUEUE[] =
    "UPDATE emails SET status = 'queued', attempts = 0, next_attempt_at = $1, updated_at = $1,"
    " message_id = COALESCE($3, message_id), last_error = NULL, sent_at = NULL,"
    " locked_by = NULL, locked_until = NULL"
    " WHERE id = $2 AND status <> 'queued' AND status <> 'sending'";
static const char SQL_COUNT_OF[] = "SELECT COUNT(*) FROM emails WHERE status = $1";

/* --- helpers ----------------------------------------------------------------- */

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++)
        if (str_eq(list[i], s))
            return true;
    return false;
}

void outbox_base_host(char *out, size_t outsz)
{
    const char *u = config_str("LUMI_BASE_URL");
    const char *p = u != NULL ? strstr(u, "://") : NULL;
    str_copy(out, "localhost", outsz);
    if (p == NULL)
        return;
    p += 3;
    size_t n = strcspn(p, ":/?#");
    if (n == 0 || n >= outsz)
        return;
    memcpy(out, p, n);
    out[n] = '\0';
    /* An IPv6 literal or anything odd is no host name: keep "localhost". */
    for (size_t i = 0; i < n; i++) {
        char c = out[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-')) {
            str_copy(out, "localhost", outsz);
            return;
        }
    }
}

int outbox_new_message_id(char *out, size_t outsz)
{
    char token[33], host[128];
    if (crypto_random_token(16, token, sizeof token) != 0)
        return -1;
    outbox_base_host(host, sizeof host);
    int n = snprintf(out, outsz, "<lumi.%s@%s>", token, host);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

static void cut(char *dst, size_t dstsz, const char *src)
{
    str_copy(dst, src != NULL ? src : "", dstsz);
}

/* --- queueing ---------------------------------------------------------------- */

static int seal_secret(const struct outbox_new *m, const char *rcpt, char **out,
                       struct lumi_err *err);

int outbox_enqueue(struct db *db, const struct outbox_new *m, struct lumi_err *err)
{
    char rcpt[256], mid[200], now[UTC_ISO_LEN], client[24], entity_id[24], maxa[8];
    if (mail_addr_extract(m->to, rcpt, sizeof rcpt, err) != 0)
        return LUMI_EINVAL;
    str_lower(rcpt);
    if (outbox_new_message_id(mid, sizeof mid) != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot make a Message-ID");
    utc_now_iso(now);
    snprintf(client, sizeof client, "%lld", (long long)m->client_id);
    snprintf(entity_id, sizeof entity_id, "%lld", (long long)m->entity_id);
    snprintf(maxa, sizeof maxa, "%d", OUTBOX_MAX_ATTEMPTS);
    /* Without an SMTP server a message is born skipped: recorded, never claimed. */
    bool smtp = config_has("SMTP_HOST");
    char *sealed = NULL;
    if (m->secret != NULL) {
        int src = seal_secret(m, rcpt, &sealed, err);
        if (src != 0)
            return src;
    }
    const char *p[] = {m->event_key, m->tmpl, m->to, rcpt,
                       m->client_id > 0 ? client : NULL, m->entity,
                       m->entity_id > 0 ? entity_id : NULL, m->subject, m->text, m->html, mid,
                       maxa, now, smtp ? "queued" : "skipped", smtp ? NULL : OUTBOX_SKIPPED,
                       sealed};
    int64_t changes = 0;
    int rc = db_execp(db, SQL_ENQUEUE, 16, p, &changes, err);
    free(sealed);
    return rc < 0 ? rc : changes > 0 ? 1 : 0;
}

/* --- secrets ------------------------------------------------------------------- */

/* The associated data that binds a sealed secret to its message's identity. */
static void secret_ad(char *out, size_t outsz, const char *event_key, const char *tmpl,
                      const char *rcpt)
{
    snprintf(out, outsz, "emails.secret:%s:%s:%s", event_key, tmpl, rcpt);
}

static int seal_secret(const struct outbox_new *m, const char *rcpt, char **out,
                       struct lumi_err *err)
{
    char ad[600];
    const uint8_t *key = config_secret_key();
    if (key == NULL)
        return err_set(err, LUMI_EINVAL, "LUMI_SECRET_KEY is not set: cannot send a token");
    if (m->subject == NULL || m->text == NULL)
        return err_set(err, LUMI_EINTERNAL, "a message with a secret must be rendered");
    secret_ad(ad, sizeof ad, m->event_key, m->tmpl, rcpt);
    *out = crypto_seal(key, ad, m->secret, strlen(m->secret));
    return *out != NULL ? 0 : err_set(err, LUMI_EINTERNAL, "could not seal a message's secret");
}

/* s with every OUTBOX_SECRET_MARK replaced by secret (caller frees), NULL when out of memory. */
static char *replace_mark(const char *s, const char *secret)
{
    static const char mark[] = OUTBOX_SECRET_MARK;
    size_t ml = sizeof mark - 1, sl = strlen(secret), n = 0;
    for (const char *p = strstr(s, mark); p != NULL; p = strstr(p + ml, mark))
        n++;
    size_t len = strlen(s) + n * sl + 1;
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    char *w = out;
    const char *r = s;
    for (const char *p = strstr(r, mark); p != NULL; p = strstr(r, mark)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, secret, sl);
        w += sl;
        r = p + ml;
    }
    memcpy(w, r, strlen(r) + 1);
    return out;
}

int outbox_reveal(const struct outbox_msg *m, char **text, char **html, struct lumi_err *err)
{
    char ad[600];
    struct buf plain;
    int rc = 0;
    *text = NULL;
    *html = NULL;
    buf_init(&plain, 1024);
    if (m->secret != NULL) {
        const uint8_t *key = config_secret_key();
        secret_ad(ad, sizeof ad, m->event_key, m->tmpl, m->rcpt);
        if (key == NULL || crypto_open(key, ad, m->secret, &plain, err) != 0) {
            rc = err_set(err, LUMI_EINVAL,
                         "the message's token cannot be decrypted (was LUMI_SECRET_KEY changed?)");
            goto out;
        }
    }
    const char *secret = m->secret != NULL ? buf_cstr(&plain) : NULL;
    *text = secret != NULL ? replace_mark(m->text, secret) : str_dup(m->text);
    if (m->html != NULL)
        *html = secret != NULL ? replace_mark(m->html, secret) : str_dup(m->html);
    if (*text == NULL || (m->html != NULL && *html == NULL)) {
        free(*text);
        free(*html);
        *text = *html = NULL;
        rc = nomem(err);
    }
out:
    if (plain.data != NULL)
        sodium_memzero(plain.data, plain.cap);
    buf_free(&plain);
    return rc;
}

/* --- claiming ------------------------------------------------------------------ */

void outbox_msg_clear(struct outbox_msg *m)
{
    if (m == NULL)
        return;
    free(m->to);
    free(m->rcpt);
    free(m->event_key);
    free(m->tmpl);
    free(m->subject);
    free(m->text);
    free(m->html);
    free(m->message_id);
    free(m->secret);
    free(m->attachments);
    memset(m, 0, sizeof *m);
}

static char *col_dup(struct db_stmt *st, int col)
{
    const char *s = db_col_text(st, col);
    return s != NULL ? str_dup(s) : NULL;
}

static int read_claimed(struct db_stmt *st, struct outbox_msg *out, struct lumi_err *err)
{
    out->id = db_col_int64(st, 0);
    out->to = col_dup(st, 1);
    out->rcpt = col_dup(st, 2);
    out->subject = col_dup(st, 3);
    out->text = col_dup(st, 4);
    out->html = col_dup(st, 5);
    out->message_id = col_dup(st, 6);
    if (utc_parse(db_col_text(st, 7), &out->created, NULL) != 0)
        out->created = utc_now();
    out->attempts = (int)db_col_int64(st, 8);
    out->max_attempts = (int)db_col_int64(st, 9);
    out->event_key = col_dup(st, 10);
    out->tmpl = col_dup(st, 11);
    out->secret = col_dup(st, 12);
    out->attachments = col_dup(st, 13);
    if (out->to == NULL || out->rcpt == NULL || out->message_id == NULL ||
        out->event_key == NULL || out->tmpl == NULL ||
        (out->subject == NULL && !db_col_is_null(st, 3)) ||
        (out->text == NULL && !db_col_is_null(st, 4)) ||
        (out->html == NULL && !db_col_is_null(st, 5)))
        return nomem(err);
    return 0;
}

static int take(struct db *db, int64_t id, const char *worker_id, const char *now,
                const char *until, struct outbox_msg *out, struct lumi_err *err)
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
        rc = read_claimed(st, out, err);
        if (rc == 0)
            rc = 1;
    }
    db_finalize(st);
    return rc;
}

int outbox_claim(struct db *db, const char *worker_id, int64_t now, struct outbox_msg *out,
                 struct lumi_err *err)
{
    char nowt[UTC_ISO_LEN], until[UTC_ISO_LEN];
    int64_t id = 0;
    memset(out, 0, sizeof *out);
    utc_format(now, nowt);
    int64_t lease = config_int("LUMI_JOB_LEASE_S");
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
    if (rc < 0) {
        db_rollback(db);
        outbox_msg_clear(out);
        return rc;
    }
    if (rc == 1)
        str_copy(out->locked_by, worker_id, sizeof out->locked_by);
    return rc;
}

/* --- outcomes ------------------------------------------------------------------ */

/* Runs an outcome update with $1 now, $2 id, $3 locked_by and extra params from $4. */
static int outcome(struct db *db, const struct outbox_msg *m, const char *sql, int nextra,
                   const char *const *extra, struct lumi_err *err)
{
    int rc = db_exec_leased(db, sql, m->id, m->locked_by, nextra, extra, err);
    if (rc == LUMI_ECONFLICT)
        return err_set(err, LUMI_ECONFLICT, "message %lld was taken over by another sender",
                       (long long)m->id);
    return rc;
}

int outbox_store_rendered(struct db *db, const struct outbox_msg *m, struct lumi_err *err)
{
    const char *x[] = {m->subject, m->text, m->html, m->attachments};
    return outcome(db, m, SQL_RENDERED, 4, x, err);
}

int outbox_mark_sent(struct db *db, const struct outbox_msg *m, const char *reply,
                     struct lumi_err *err)
{
    char r[ERROR_MAX];
    cut(r, sizeof r, reply);
    const char *x[] = {r};
    return outcome(db, m, SQL_SENT, 1, x, err);
}

int64_t outbox_backoff_s(int attempts)
{
    int64_t d = config_int("LUMI_MAIL_RETRY_S");
    if (d <= 0)
        d = 30;
    for (int i = 1; i < attempts && d < BACKOFF_CAP_S; i++)
        d *= 2;
    return d < BACKOFF_CAP_S ? d : BACKOFF_CAP_S;
}

int outbox_mark_retry(struct db *db, const struct outbox_msg *m, int64_t delay_s,
                      const char *error, const char *reply, struct lumi_err *err)
{
    char e[ERROR_MAX], r[ERROR_MAX], at[UTC_ISO_LEN];
    if (m->attempts >= m->max_attempts) {
        snprintf(e, sizeof e, "gave up after %d attempts: %s", m->attempts,
                 error != NULL ? error : "");
        return outbox_mark_failed(db, m, e, reply, err);
    }
    cut(e, sizeof e, error);
    cut(r, sizeof r, reply);
    utc_format(utc_now() + (delay_s > 0 ? delay_s : 0), at);
    const char *x[] = {at, e, r};
    return outcome(db, m, SQL_RETRY, 3, x, err);
}

int outbox_mark_failed(struct db *db, const struct outbox_msg *m, const char *error,
                       const char *reply, struct lumi_err *err)
{
    char e[ERROR_MAX], r[ERROR_MAX];
    cut(e, sizeof e, error);
    cut(r, sizeof r, reply);
    const char *x[] = {e, r};
    return outcome(db, m, SQL_FAILED, 2, x, err);
}

int outbox_skip_due(struct db *db, const char *reason, int64_t now, int max,
                    struct lumi_err *err)
{
    char nowt[UTC_ISO_LEN], e[ERROR_MAX], lim[16];
    int64_t changes = 0;
    utc_format(now, nowt);
    cut(e, sizeof e, reason);
    snprintf(lim, sizeof lim, "%d", max > 0 ? max : 1);
    const char *p[] = {nowt, e, lim};
    int rc = db_execp(db, SQL_SKIP_DUE, 3, p, &changes, err);
    return rc < 0 ? rc : (int)changes;
}

/* --- the admin's view ------------------------------------------------------------ */

static json_t *row_json(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = json_object();
    if (o == NULL) {
        nomem(err);
        return NULL;
    }
    for (int i = 0; i < db_col_count(st); i++) {
        const char *name = db_col_name(st, i);
        json_t *v;
        if (db_col_is_null(st, i))
            v = json_null();
        else if (str_eq(name, "id") || str_eq(name, "client_id") || str_eq(name, "attempts") ||
                 str_eq(name, "max_attempts"))
            v = json_integer(db_col_int64(st, i));
        else
            v = json_string(db_col_text(st, i));
        if (v == NULL || json_object_set_new(o, name, v) != 0) {
            json_decref(o);
            nomem(err);
            return NULL;
        }
    }
    return o;
}

json_t *outbox_list(struct db *db, const char *status, const char *to, int64_t before_id,
                    int limit, int64_t *next_cursor, struct lumi_err *err)
{
    char rcpt[256] = "";
    json_t *arr = NULL;
    int rc;
    *next_cursor = 0;
    if (status != NULL && *status != '\0' && !in_list(OUTBOX_STATUSES, status)) {
        err_set(err, LUMI_EINVAL, "status must be one of queued, sending, sent, failed, skipped");
        return NULL;
    }
    if (limit < 1 || limit > PAGE_MAX) {
        err_set(err, LUMI_EINVAL, "limit must be from 1 to %d", PAGE_MAX);
        return NULL;
    }
    if (to != NULL && *to != '\0') {
        if (mail_addr_extract(to, rcpt, sizeof rcpt, err) != 0)
            return NULL;
        str_lower(rcpt);
    }
    struct db_stmt *st = db_prepare(db, SQL_LIST, err);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX);
    db_bind_text(st, 2, status != NULL ? status : "");
    db_bind_text(st, 3, rcpt);
    db_bind_int64(st, 4, (int64_t)limit + 1);
    arr = json_array();
    if (arr == NULL) {
        db_finalize(st);
        nomem(err);
        return NULL;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if ((int)json_array_size(arr) == limit) {
            json_t *last = json_array_get(arr, json_array_size(arr) - 1);
            *next_cursor = json_integer_value(json_object_get(last, "id"));
            break;
        }
        json_t *o = row_json(st, err);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            rc = LUMI_ENOMEM;
            break;
        }
    }
    db_finalize(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *outbox_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    json_t *o = NULL;
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        o = row_json(st, err);
    else if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "message %lld not found", (long long)id);
    db_finalize(st);
    return o;
}

json_t *outbox_resend(struct db *db, const struct audit_actor *actor, int64_t id,
                      struct lumi_err *err)
{
    char now[UTC_ISO_LEN], ids[24], status[16] = "", mid[200];
    json_t *details = NULL;
    struct db_stmt *st = NULL;
    int rc = db_begin(db, err);
    if (rc != 0)
        return NULL;
    st = db_prepare(db, SQL_STATUS_OF, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    db_bind_int64(st, 1, id);
    rc = db_step(st, err);
    if (rc == DB_ROW)
        cut(status, sizeof status, db_col_text(st, 0));
    db_finalize(st);
    if (rc == DB_DONE)
        rc = err_set(err, LUMI_ENOTFOUND, "message %lld not found", (long long)id);
    if (rc < 0)
        goto out;
    if (str_eq(status, "queued") || str_eq(status, "sending")) {
        rc = err_set(err, LUMI_ECONFLICT, "message %lld is %s already", (long long)id, status);
        goto out;
    }
    bool new_id = str_eq(status, "sent");
    if (new_id && outbox_new_message_id(mid, sizeof mid) != 0) {
        rc = err_set(err, LUMI_EINTERNAL, "cannot make a Message-ID");
        goto out;
    }
    utc_now_iso(now);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {now, ids, new_id ? mid : NULL};
    rc = db_execp(db, SQL_REQUEUE, 3, p, NULL, err);
    if (rc < 0)
        goto out;
    details = json_pack("{s:s, s:b}", "previous_status", status, "new_message_id", new_id);
    if (details == NULL) {
        rc = nomem(err);
        goto out;
    }
    rc = audit_append_id(db, actor, "EMAIL_RESENT", "email", id, details, err);
    if (rc == 0)
        rc = db_commit(db, err);
out:
    json_decref(details);
    if (rc < 0) {
        db_rollback(db);
        return NULL;
    }
    return outbox_get(db, id, err);
}

json_t *outbox_counts(struct db *db, struct lumi_err *err)
{
    /* Only the states that stay small (counted through the status index); "sent"
     * and "skipped" grow without end and would make every view a scan. */
    static const char *const SMALL[] = {"queued", "sending", "failed", NULL};
    json_t *o = json_object();
    if (o == NULL) {
        nomem(err);
        return NULL;
    }
    for (size_t i = 0; SMALL[i] != NULL; i++) {
        int64_t n = 0;
        const char *p[] = {SMALL[i]};
        if (db_query_int64(db, SQL_COUNT_OF, 1, p, &n, err) != 0) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, SMALL[i], json_integer(n));
    }
    return o;
}

/*
 * sender.c — the outbox drained over SMTP (see sender.h).
 *
 * Owns one smtp_conn, opened lazily and dropped after a failure so that the
 * next message starts with a fresh connection. Logs one line per message
 * (id, template-independent: recipient domain only, outcome, SMTP code);
 * never the password, never a body.
 */
#include "mail/sender.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/mime.h"
#include "mail/outbox.h"
#include "mail/smtp.h"

#define FROM_MAX 320

struct mail_sender {
    struct smtp_config cfg;
    bool configured;
    struct smtp_conn *conn;
    char from[FROM_MAX];
    char envelope_from[256];
    mail_attach_fn attach;
};

static void default_from(char *out, size_t outsz)
{
    char host[200];
    outbox_base_host(host, sizeof host);
    snprintf(out, outsz, "Lumi <lumi@%s>", host);
}

struct mail_sender *mail_sender_new(struct lumi_err *err)
{
    struct mail_sender *s = calloc(1, sizeof *s);
    if (s == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    s->configured = smtp_config_from_env(&s->cfg) == 0;
    const char *from = config_str("SMTP_FROM");
    if (str_present(from))
        str_copy(s->from, from, sizeof s->from);
    else
        default_from(s->from, sizeof s->from);
    struct lumi_err ignore;
    if (mail_addr_extract(s->from, s->envelope_from, sizeof s->envelope_from, &ignore) != 0)
        str_copy(s->envelope_from, "lumi@localhost", sizeof s->envelope_from);
    return s;
}

void mail_sender_free(struct mail_sender *s)
{
    if (s == NULL)
        return;
    smtp_close(s->conn);
    free(s);
}

void mail_sender_set_attacher(struct mail_sender *s, mail_attach_fn attach)
{
    s->attach = attach;
}

bool mail_sender_configured(const struct mail_sender *s)
{
    return s->configured;
}

const char *mail_sender_from(const struct mail_sender *s)
{
    return s->from;
}

/* Builds and sends one message; res gets the server's answer. 0 delivered. */
static int transmit(struct mail_sender *s, const struct mail_message *mm, const char *rcpt,
                    struct smtp_result *res, struct lumi_err *err)
{
    struct buf wire;
    buf_init(&wire, 32 * 1024 * 1024);
    int rc = mime_build(mm, &wire, err);
    if (rc == 0 && s->conn == NULL) {
        s->conn = smtp_open(&s->cfg, err);
        if (s->conn == NULL)
            rc = err->code != 0 ? err->code : LUMI_EINTERNAL;
    }
    if (rc == 0) {
        rc = smtp_send(s->conn, s->envelope_from, rcpt, buf_cstr(&wire), wire.len, res, err);
        if (rc != 0) {
            /* A fresh connection for the next message: this one may be in any state. */
            smtp_close(s->conn);
            s->conn = NULL;
        }
    }
    buf_free(&wire);
    return rc;
}

/* Records what happened to m. < 0 only when the database failed. */
static int settle(struct db *db, const struct outbox_msg *m, int rc, const struct smtp_result *res,
                  const struct lumi_err *serr, struct lumi_err *err)
{
    char q[300];
    int w;
    const char *domain = strchr(m->rcpt, '@');
    metrics_count_mail(rc == 0);
    if (rc == 0) {
        w = outbox_mark_sent(db, m, res->reply, err);
        log_info("mail.sent", "email=%lld to_domain=%s attempt=%d code=%d", (long long)m->id,
                 domain != NULL ? domain + 1 : "", m->attempts, res->code);
    } else {
        /* Permanent: the server refused this message (a reply without "transient"),
         * or it could not be built or addressed. Anything else (no connection,
         * a 4xx, a client that could not start) may work later. */
        bool permanent = !res->transient && (res->code != 0 || serr->code == LUMI_EINVAL);
        if (permanent)
            w = outbox_mark_failed(db, m, serr->msg, res->reply, err);
        else
            w = outbox_mark_retry(db, m, outbox_backoff_s(m->attempts), serr->msg, res->reply,
                                  err);
        log_warn("mail.failed", "email=%lld to_domain=%s attempt=%d/%d code=%d transient=%d error=%s",
                 (long long)m->id, domain != NULL ? domain + 1 : "", m->attempts, m->max_attempts,
                 res->code, permanent ? 0 : 1, log_quote(serr->msg, q, sizeof q));
    }
    if (w == LUMI_ECONFLICT) {
        log_warn("mail.lease_lost", "email=%lld", (long long)m->id);
        err_clear(err);
        return 0;
    }
    return w;
}

/* Renders and keeps m's content when it has none yet. 0 to send, 1 when m was
 * failed here (it cannot be rendered), < 0 on a database error. */
static int ensure_rendered(struct db *db, struct outbox_msg *m, mail_compose_fn compose,
                           struct lumi_err *err)
{
    char q[300];
    if (m->subject != NULL && m->text != NULL)
        return 0;
    struct lumi_err cerr;
    err_clear(&cerr);
    int rc = compose != NULL ? compose(db, m, &cerr)
                             : err_set(&cerr, LUMI_EINVAL, "message has no content");
    if (rc == LUMI_EINVAL || rc == LUMI_ENOTFOUND) {
        log_error("mail.render_failed", "email=%lld template=%s error=%s", (long long)m->id,
                  m->tmpl, log_quote(cerr.msg, q, sizeof q));
        rc = outbox_mark_failed(db, m, cerr.msg, NULL, err);
        return rc < 0 && rc != LUMI_ECONFLICT ? rc : 1;
    }
    if (rc < 0) {
        err_set(err, rc, "%s", cerr.msg);
        return rc;
    }
    rc = outbox_store_rendered(db, m, err);
    return rc == LUMI_ECONFLICT ? 1 : rc;
}

static bool has_attachments(const struct outbox_msg *m)
{
    return m->attachments != NULL && str_present(m->attachments) &&
           !str_eq(m->attachments, "[]");
}

/* The files of m into files/mas (*n of them). 0, or the attacher's error. */
static int make_files(struct mail_sender *s, struct db *db, const struct outbox_msg *m,
                      struct mail_file *files, struct mail_attachment *mas, size_t *n,
                      struct lumi_err *err)
{
    *n = 0;
    if (s->attach == NULL || !has_attachments(m))
        return 0;
    int rc = s->attach(db, m, files, n, err);
    if (*n > MAIL_ATTACH_MAX)
        *n = MAIL_ATTACH_MAX;
    for (size_t i = 0; rc == 0 && i < *n; i++)
        mas[i] = (struct mail_attachment){.filename = files[i].filename,
                                          .content_type = files[i].content_type,
                                          .data = (const unsigned char *)files[i].data.data,
                                          .len = files[i].data.len};
    return rc;
}

/* A message's secret (a one-time token) is put into the bytes sent here only, and
 * those copies are wiped after the attempt; the stored row keeps the mark. Its
 * attachments are made for each attempt (a PDF as the invoice stands then). */
static int send_claimed(struct mail_sender *s, struct db *db, const struct outbox_msg *m,
                        struct lumi_err *err)
{
    struct smtp_result res;
    struct lumi_err serr;
    char *text = NULL, *html = NULL;
    struct mail_file files[MAIL_ATTACH_MAX];
    struct mail_attachment mas[MAIL_ATTACH_MAX];
    size_t nfiles = 0;
    memset(&res, 0, sizeof res);
    memset(files, 0, sizeof files);
    err_clear(&serr);
    int rc = outbox_reveal(m, &text, &html, &serr);
    if (rc == 0) {
        rc = make_files(s, db, m, files, mas, &nfiles, &serr);
        if (rc == LUMI_ENOTFOUND)
            rc = serr.code = LUMI_EINVAL; /* permanent: what it attaches is gone */
    }
    if (rc == 0) {
        struct mail_message mm = {
            .from = s->from,
            .to = m->to,
            .subject = m->subject,
            .message_id = m->message_id,
            .date = m->created,
            .text = text,
            .html = html,
            .attachments = nfiles > 0 ? mas : NULL,
            .nattachments = nfiles,
        };
        rc = transmit(s, &mm, m->rcpt, &res, &serr);
    }
    for (size_t i = 0; i < MAIL_ATTACH_MAX; i++)
        buf_free(&files[i].data);
    if (text != NULL)
        sodium_memzero(text, strlen(text));
    if (html != NULL)
        sodium_memzero(html, strlen(html));
    free(text);
    free(html);
    return settle(db, m, rc, &res, &serr, err);
}

int mail_sender_drain(struct mail_sender *s, struct db *db, const char *worker_id, int max,
                      mail_compose_fn compose, struct lumi_err *err)
{
    int handled = 0;
    if (!s->configured) /* one statement for the lot, not a claim per message */
        return outbox_skip_due(db, OUTBOX_SKIPPED, utc_now(), max, err);
    while (handled < max) {
        struct outbox_msg m;
        int rc = outbox_claim(db, worker_id, utc_now(), &m, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            break;
        rc = ensure_rendered(db, &m, compose, err);
        if (rc == 0)
            rc = send_claimed(s, db, &m, err);
        outbox_msg_clear(&m);
        if (rc < 0 && rc != LUMI_ECONFLICT)
            return rc;
        handled++;
    }
    return handled;
}

int mail_sender_send_now(struct mail_sender *s, const char *to, const char *subject,
                         const char *text, const char *html, char *reply, size_t replysz,
                         struct lumi_err *err)
{
    char rcpt[256], mid[300];
    if (replysz > 0)
        reply[0] = '\0';
    if (!s->configured)
        return err_set(err, LUMI_EINVAL, "SMTP_HOST is not set: there is no server to send to");
    if (mail_addr_extract(to, rcpt, sizeof rcpt, err) != 0)
        return LUMI_EINVAL;
    if (outbox_new_message_id(mid, sizeof mid) != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot make a Message-ID");
    struct mail_message mm = {
        .from = s->from,
        .to = to,
        .subject = subject,
        .message_id = mid,
        .date = utc_now(),
        .text = text,
        .html = html,
    };
    struct smtp_result res;
    memset(&res, 0, sizeof res);
    int rc = transmit(s, &mm, rcpt, &res, err);
    if (replysz > 0 && res.code > 0)
        snprintf(reply, replysz, "%d %s", res.code, res.reply);
    return rc;
}

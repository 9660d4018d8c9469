/*
 * outbox.h — the durable mail outbox (the `emails` table).
 *
 * A message is a row written inside the transaction of whatever caused it
 * (notify.c writes it together with the audit cursor it consumed): who gets
 * which template about what. It is rendered when it is first claimed for
 * sending (outbox_store_rendered keeps the result, so every attempt sends the
 * same bytes), which keeps the row small while the event's side is busy. The row is unique per (event_key, recipient,
 * template): queueing the same message twice does nothing, so one event never
 * mails one person the same thing twice. Senders claim rows like jobs: a
 * lease (locked_by, locked_until), on PostgreSQL with FOR UPDATE SKIP LOCKED;
 * a sender that died mid-send leaves a lease that expires, and the row is
 * sent again under the same Message-ID, so the receiving side can tell it is
 * the same message.
 *
 * Statuses: queued → sending → sent | queued again (a transient failure,
 * with backoff) | failed (a permanent failure, or attempts used up) |
 * skipped (no SMTP server configured: recorded, not sent). An admin can
 * resend any message that is not queued or sending.
 * Every function uses only the connection it is given.
 */
#ifndef LUMI_MAIL_OUTBOX_H
#define LUMI_MAIL_OUTBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

#define OUTBOX_MAX_ATTEMPTS 10 /* transient failures before a message fails for good */
#define OUTBOX_SKIPPED "SMTP_HOST is not set: recorded, not sent"

/** The statuses a message can have, NULL-terminated (for filters and tabs). */
extern const char *const OUTBOX_STATUSES[];

/** A message to queue. Strings are borrowed. */
struct outbox_new {
    const char *event_key; /* what caused it: "audit:123", "reminder:45", ... */
    const char *tmpl;      /* template name: "invoice_created", ... */
    const char *to;        /* "Name <a@b>" or "a@b" */
    int64_t client_id;     /* 0 = not a client's (the admins' mails) */
    const char *entity;    /* "invoice", "service", ... or NULL */
    int64_t entity_id;     /* 0 = none */
    const char *subject; /* all three NULL: rendered at the first send */
    const char *text;
    const char *html; /* may be NULL */
    /* A secret (a one-time token) the message carries where its text and html say
     * OUTBOX_SECRET_MARK; stored sealed, put in only when sent. NULL: none. Needs a
     * pre-rendered message and LUMI_SECRET_KEY. */
    const char *secret;
};

/** What a stored body shows in place of its secret (the admin sees this, never the token). */
#define OUTBOX_SECRET_MARK "TOKEN-HIDDEN-UNTIL-SENT"

/**
 * Queues m, due now (inside the caller's transaction when it has one); when
 * SMTP_HOST is not set it is recorded as skipped instead. The Message-ID is
 * made here, on the host of LUMI_BASE_URL. Returns 1 when
 * queued, 0 when the same (event_key, recipient, template) is already there,
 * LUMI_EINVAL when m->to is not an address, or another negative code.
 */
int outbox_enqueue(struct db *db, const struct outbox_new *m, struct lumi_err *err);

/** The host name of LUMI_BASE_URL ("billing.example.com"; "localhost" when it has none). */
void outbox_base_host(char *out, size_t outsz);

/** A new Message-ID "<lumi.RANDOM@HOST>" on that host. 0, or -1 when out is too small. */
int outbox_new_message_id(char *out, size_t outsz);

/** A claimed message: what a sender needs. Free with outbox_msg_clear. */
struct outbox_msg {
    int64_t id;
    char *to, *rcpt, *message_id;
    char *event_key, *tmpl; /* what it is about, for rendering */
    char *subject, *text, *html; /* NULL until rendered (html may stay NULL) */
    char *secret;                /* sealed secret of the row, or NULL */
    char *attachments; /* what to attach, made at each send (JSON array text; "[]" or NULL:
                          nothing), e.g. [{"invoice_pdf": 7}]; see mail_attach_fn */
    int64_t created; /* the Date: of the message, the same on every attempt */
    int attempts;    /* including this one */
    int max_attempts;
    char locked_by[64];
};

void outbox_msg_clear(struct outbox_msg *m);

/**
 * The bytes to send of a claimed message: *text and *html (caller frees; html
 * NULL when m has none) are m's with OUTBOX_SECRET_MARK replaced by the opened
 * secret, or plain copies when m has none. LUMI_EINVAL when the secret cannot
 * be opened (LUMI_SECRET_KEY changed), LUMI_ENOMEM.
 */
int outbox_reveal(const struct outbox_msg *m, char **text, char **html, struct lumi_err *err);

/**
 * Claims the oldest due message (its own transaction): queued and due, or
 * sending with an expired lease. The lease is LUMI_JOB_LEASE_S seconds, as
 * for jobs. 1 with *out filled, 0 when none is due, < 0 on error.
 */
int outbox_claim(struct db *db, const char *worker_id, int64_t now, struct outbox_msg *out,
                 struct lumi_err *err);

/**
 * Keeps the rendered subject, text and html (may be NULL) and, when not
 * NULL, the attachments of a claimed message (its own statement; the lease is checked). LUMI_ECONFLICT when the
 * lease was lost.
 */
int outbox_store_rendered(struct db *db, const struct outbox_msg *m, struct lumi_err *err);

/* The outcome of a claimed message (own statement). reply is the SMTP
 * server's last answer (may be NULL). LUMI_ECONFLICT when the lease was lost
 * (another sender has the message now). */
int outbox_mark_sent(struct db *db, const struct outbox_msg *m, const char *reply,
                     struct lumi_err *err);
/** Back to queued, due in delay_s, with the reason; fails for good when attempts are used up. */
int outbox_mark_retry(struct db *db, const struct outbox_msg *m, int64_t delay_s,
                      const char *error, const char *reply, struct lumi_err *err);
int outbox_mark_failed(struct db *db, const struct outbox_msg *m, const char *error,
                       const char *reply, struct lumi_err *err);

/**
 * Marks up to max due messages skipped with reason in one statement (no SMTP
 * server configured: recorded, not sent). Answers how many, or < 0.
 */
int outbox_skip_due(struct db *db, const char *reason, int64_t now, int max,
                    struct lumi_err *err);

/** Backoff before the next attempt after `attempts` failures: LUMI_MAIL_RETRY_S (30 s)
 *  doubling, capped at 1 h. */
int64_t outbox_backoff_s(int attempts);

/**
 * Keyset page of messages, newest first, without bodies: {id, event_key,
 * template, to, rcpt, client_id, entity, entity_id, subject, status, attempts,
 * max_attempts, next_attempt_at, last_error, smtp_reply, message_id,
 * created_at, updated_at, sent_at}. status and to (a recipient address,
 * exact, any case) may be NULL or "". LUMI_EINVAL for a bad status or limit.
 */
json_t *outbox_list(struct db *db, const char *status, const char *to, int64_t before_id,
                    int limit, int64_t *next_cursor, struct lumi_err *err);

/** One message as outbox_list answers it plus body_text and body_html (NULL, like
 *  subject, until it is rendered); LUMI_ENOTFOUND. */
json_t *outbox_get(struct db *db, int64_t id, struct lumi_err *err);

/**
 * Queues a message again (own transaction, audited EMAIL_RESENT): failed or
 * skipped ones keep their Message-ID (they never arrived); a sent one gets a
 * new one (a deliberate second copy). LUMI_ECONFLICT while it is queued or
 * being sent. Answers the message as outbox_get does.
 */
json_t *outbox_resend(struct db *db, const struct audit_actor *actor, int64_t id,
                      struct lumi_err *err);

/** How many messages wait or failed: {"queued": n, "sending": n, "failed": n} (the
 *  statuses that stay small; counted through an index). */
json_t *outbox_counts(struct db *db, struct lumi_err *err);

#endif

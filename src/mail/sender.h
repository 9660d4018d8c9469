/*
 * sender.h — drains the outbox over SMTP.
 *
 * A sender holds one SMTP connection (reused from message to message) and
 * claims due messages from the outbox: a 2xx answer marks the message sent;
 * a transient failure (the server unreachable, a timeout, a 4xx answer)
 * queues it again with backoff; a permanent one (a 5xx answer) fails it
 * with the server's text. The message's bytes are built at every attempt
 * from the stored row, with the same Message-ID and Date. Without SMTP_HOST
 * every due message is marked skipped: recorded, not sent.
 * One sender is used by one thread.
 */
#ifndef LUMI_MAIL_SENDER_H
#define LUMI_MAIL_SENDER_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"
#include "db/db.h"
#include "mail/outbox.h"

struct mail_sender;

/** A sender configured from SMTP_* (no connection is made yet). NULL only when out of memory. */
struct mail_sender *mail_sender_new(struct lumi_err *err);

/** Closes the connection and frees (NULL is a no-op). */
void mail_sender_free(struct mail_sender *s);

/** True when SMTP_HOST is set (messages are sent, not only recorded). */
bool mail_sender_configured(const struct mail_sender *s);

/**
 * The From: of every message: SMTP_FROM, else "Lumi <lumi@HOST>" with the
 * host of LUMI_BASE_URL. Borrowed from s.
 */
const char *mail_sender_from(const struct mail_sender *s);

/**
 * Renders a claimed message that has no subject yet: fills m->subject,
 * m->text and m->html (malloc'd; html may stay NULL). 0, LUMI_EINVAL or
 * LUMI_ENOTFOUND (it cannot be rendered: the message fails with err's text)
 * or another negative code (the database: the message is left to its lease).
 */
typedef int (*mail_compose_fn)(struct db *db, struct outbox_msg *m, struct lumi_err *err);

/** Most files one message carries. */
#define MAIL_ATTACH_MAX 4

/** One file made for a message at send time; data is the sender's (freed after the attempt). */
struct mail_file {
    char filename[128];
    const char *content_type; /* static text, e.g. "application/pdf" */
    struct buf data;
};

/**
 * Makes the files m->attachments names (a claimed message whose attachments
 * are not "[]"), as they are at this attempt: fills files[0..*n) (each data
 * buf_init'ed here with its own maximum). 0; LUMI_EINVAL or LUMI_ENOTFOUND
 * (it cannot be made: the message fails with err's text), or another
 * negative code (it is tried again later). The sender frees what was made.
 */
typedef int (*mail_attach_fn)(struct db *db, const struct outbox_msg *m,
                              struct mail_file files[MAIL_ATTACH_MAX], size_t *n,
                              struct lumi_err *err);

/** Sets who makes the attachments (NULL: messages are sent without them). */
void mail_sender_set_attacher(struct mail_sender *s, mail_attach_fn attach);

/**
 * Claims and sends due messages, one after another, until none is due or
 * max were handled; a message not rendered yet is rendered with compose and
 * kept so (outbox_store_rendered) before its first attempt. worker_id names
 * the claimer. Without SMTP_HOST due messages are marked skipped in bulk,
 * unrendered. Returns the number handled (sent, retried, failed or
 * skipped), or < 0 when the database failed.
 */
int mail_sender_drain(struct mail_sender *s, struct db *db, const char *worker_id, int max,
                      mail_compose_fn compose, struct lumi_err *err);

/**
 * Sends one message straight away, outside the outbox (`lumi mail test`):
 * reply gets the server's last answer. 0 delivered, < 0 with err.
 */
int mail_sender_send_now(struct mail_sender *s, const char *to, const char *subject,
                         const char *text, const char *html, char *reply, size_t replysz,
                         struct lumi_err *err);

#endif

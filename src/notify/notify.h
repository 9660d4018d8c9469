/*
 * notify.h — who hears what: the mail consumer of the audit trail, and the
 * dated notices (invoice reminders, overdue notices).
 *
 * Domain modules do not know about mail. Each of their changes already
 * writes one audit row in its own transaction (audit.h), and the chain gives
 * those rows consecutive ids in commit order (an id is taken under the
 * chain's lock, held until commit). So the audit trail is the record of
 * domain events: notify_pump reads the rows after the cursor `mail` of
 * `event_cursors`, queues the messages they cause into the outbox and moves
 * the cursor — all in one transaction (the messages are rendered later, when
 * they are first sent: notify_render). A rolled-back change left no audit
 * row, so it mails nothing; a committed one cannot be skipped, and the
 * outbox's unique key (event "audit:<id>", recipient, template) makes a
 * second pass over the same rows queue nothing.
 *
 * Actions that mail (each can be switched off with mail.send.<template>):
 *   INVOICE_CREATED      → invoice_created (client; an invoice with nothing to pay mails nothing)
 *   PAYMENT_RECEIVED     → payment_receipt (client)
 *   PAYMENT_REFUNDED     → refund_issued (client)
 *   PAYMENT_DISPUTED     → admin_dispute_opened (mail.admin_to; chargebacks, not their reversal)
 *   SERVICE_PROVISIONED  → service_ready (client; panel URL and username, never the password)
 *   SERVICE_SUSPENDED    → service_suspended (client; the reason in plain words)
 *   SERVICE_UNSUSPENDED  → service_unsuspended;  SERVICE_TERMINATED → service_terminated
 *   SERVICE_*_FAILED     → admin_job_failed (a panel action failed for good)
 *   WEBHOOK_FAILED       → admin_webhook_failed
 */
#ifndef LUMI_NOTIFY_NOTIFY_H
#define LUMI_NOTIFY_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/err.h"
#include "db/db.h"
#include "mail/outbox.h"
#include "mail/render.h"
#include "mail/sender.h"

/**
 * Reads up to max_rows audit rows after the mail cursor and queues what they
 * cause: the rows are read with no transaction open, the messages and the
 * cursor's move are written in one (not inside the caller's), only if the
 * cursor has not moved meanwhile (another process read the same rows).
 * *queued (may be NULL) gets the number of messages queued. Returns the
 * number of audit rows read (0 = the cursor is at the end), or < 0 on a
 * database error (nothing changed). An event whose client is gone is logged
 * and left out; it never stops the pass.
 */
int notify_pump(struct db *db, int max_rows, int *queued, struct lumi_err *err);

/**
 * Queues the dated notices due as of now (its own transaction): a reminder
 * mail.reminder_days_before days before an unpaid invoice's due date (not on
 * the day the invoice was made), and an overdue notice for each number of
 * days in mail.overdue_notice_days after it (each at most once per invoice;
 * a notice whose day passed more than 3 days ago is not sent late). With
 * dry_run nothing is written; plan (may be NULL) gets one line per notice.
 * *queued gets the number queued (or planned). 0 or < 0.
 */
int notify_reminders(struct db *db, int64_t now, bool dry_run, FILE *plan, int *queued,
                     struct lumi_err *err);

/**
 * Renders a queued message as it would be sent now: event_key says what it
 * is about ("audit:ID": that audit row's details and the invoice or service
 * it names with its client; "reminder:INV" / "overdueD:INV": the invoice, its
 * client and D days; anything else: only the base values), tmpl which
 * templates. 0 with out filled (mail_rendered_clear), LUMI_ENOTFOUND (what
 * it is about is gone), LUMI_EINVAL (a template does not render), or a
 * database error.
 */
int notify_render(struct db *db, const char *event_key, const char *tmpl,
                  struct mail_rendered *out, struct lumi_err *err);

/**
 * One message as outbox_get answers it, plus "rendered": whether it was sent
 * (or tried) with this content; one not rendered yet is rendered now for
 * viewing (nothing is stored), or carries "render_error". NULL with err.
 */
json_t *notify_email_view(struct db *db, int64_t id, struct lumi_err *err);

/**
 * The values every message's templates see (company, base_url,
 * client_area_url), for a module that renders its own message before
 * queueing it (accounts/signup.c). New object (caller decrefs), NULL when out
 * of memory.
 */
json_t *notify_mail_data(void);

/** notify_render for a claimed message (a mail_compose_fn of mail/sender.h). The
 *  invoice_created and payment_receipt mails of an invoice event also get their
 *  attachments set ([{"invoice_pdf": ID}]), kept with the rendered message. */
int notify_compose(struct db *db, struct outbox_msg *m, struct lumi_err *err);

/**
 * The mail_attach_fn of the notifications: renders each {"invoice_pdf": ID}
 * of m->attachments as the invoice's PDF ("INV-000001.pdf") as it stands now.
 */
int notify_attach(struct db *db, const struct outbox_msg *m,
                  struct mail_file files[MAIL_ATTACH_MAX], size_t *n, struct lumi_err *err);

#endif

/*
 * mailer.h — the mail thread of `lumi serve` and `lumi worker`.
 *
 * One thread with its own database connection and SMTP connection loops:
 * notify_pump (audit rows → outbox), every ten minutes notify_reminders
 * (the dated notices; `lumi cron` queues them too), then drains due
 * messages from the outbox; when there was nothing to do it sleeps poll_ms.
 * Any number of processes may run one against the same PostgreSQL database:
 * the pump's cursor row is locked while it moves, and messages are claimed
 * with leases.
 */
#ifndef LUMI_NOTIFY_MAILER_H
#define LUMI_NOTIFY_MAILER_H

#include "core/err.h"

struct mailer;

/** Starts the thread (its connection opened here, so a bad DATABASE_URL fails the start). */
struct mailer *mailer_start(const char *database_url, int poll_ms, struct lumi_err *err);

/** Stops after the message being sent, joins and frees. NULL is a no-op. */
void mailer_stop(struct mailer *m);

#endif

/*
 * dispatcher.h — the outgoing-events thread of `lumi serve` and `lumi worker`.
 *
 * One thread with its own database connection drains due webhook
 * deliveries (delivery.h); when there was nothing to do it sleeps poll_ms.
 * Hourly (and a minute after the start) it removes the events older than
 * LUMI_EVENTS_KEEP_DAYS that have nothing pending (retention.h).
 * Any number of processes may run one against the same PostgreSQL
 * database: deliveries are claimed with leases.
 */
#ifndef LUMI_EVENTS_DISPATCHER_H
#define LUMI_EVENTS_DISPATCHER_H

#include "core/err.h"

struct events_dispatcher;

/** Starts the thread (its connection opened here, so a bad DATABASE_URL fails the start). */
struct events_dispatcher *events_dispatcher_start(const char *database_url, int poll_ms,
                                                  struct lumi_err *err);

/** Stops after the delivery being sent, joins and frees. NULL is a no-op. */
void events_dispatcher_stop(struct events_dispatcher *d);

#endif

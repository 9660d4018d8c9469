/*
 * delivery.h — sending queued outgoing events to their endpoints.
 *
 * A delivery (one event for one endpoint) is claimed like a job or a mail:
 * a lease (locked_by, locked_until = now + LUMI_JOB_LEASE_S), on PostgreSQL
 * with FOR UPDATE SKIP LOCKED, so two dispatchers — threads or processes —
 * never send the same delivery at once, and one that died mid-send leaves a
 * lease that expires, after which the delivery is sent again (at least
 * once; the body and its event id are the same). A delivery is not claimed
 * while an earlier delivery of the same entity to the same endpoint is still
 * pending (order per entity), nor while its endpoint is inactive.
 *
 * Each attempt: the endpoint's URL passes the SSRF guard again (target.h)
 * and its address is pinned; the stored body is POSTed with
 *   Content-Type: application/json
 *   Lumi-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, "UNIX.body"))
 *   Lumi-Event-Id, Lumi-Event-Type
 * a 10 s timeout and no redirects. A 2xx answer delivers it; anything else
 * is tried again after LUMI_WEBHOOK_RETRY_S (30 s) doubling up to 6 h, until
 * LUMI_WEBHOOK_GIVE_UP_S (3 days) after the event, then it fails. The status
 * and the first bytes of every answer are kept for the delivery log.
 */
#ifndef LUMI_EVENTS_DELIVERY_H
#define LUMI_EVENTS_DELIVERY_H

#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

#define DELIVERY_TIMEOUT_MS 10000
#define DELIVERY_ANSWER_MAX 512 /* bytes of an answer kept */

/** Delay before the next attempt after `attempts` failures. */
int64_t webhook_backoff_s(int attempts);

/**
 * Claims and sends due deliveries one after another until none is due or
 * max were handled. worker_id names the claimer (host:pid:thread). Answers
 * how many were handled (delivered, retried or failed), or < 0 when the
 * database failed.
 */
int webhook_drain(struct db *db, const char *worker_id, int max, struct lumi_err *err);

#endif

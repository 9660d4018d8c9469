/*
 * endpoints.h — the provider's webhook endpoints and their delivery log
 * (/api/admin/webhook-endpoints, /admin/webhooks).
 *
 * An endpoint is {url, events, description, active} plus a signing secret.
 * The secret is generated when none is given ("whsec_" + 48 hex digits),
 * stored sealed with LUMI_SECRET_KEY, and answered once: by create, in its
 * "secret" member. No other answer and no audit row carries it. Every write
 * runs in one transaction with its audit row (WEBHOOK_ENDPOINT_CREATED,
 * _UPDATED, _DELETED, WEBHOOK_TEST_SENT). The URL passes the SSRF guard
 * (target.h) on create and on every change of it. Bad input is LUMI_EINVAL
 * with a message naming the field. Stateless; uses the caller's connection.
 */
#ifndef LUMI_EVENTS_ENDPOINTS_H
#define LUMI_EVENTS_ENDPOINTS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

#define ENDPOINT_EVENTS_MAX 20 /* entries in an endpoint's list */
#define ENDPOINT_DESCRIPTION_MAX 200
#define ENDPOINT_SECRET_MIN 16
#define ENDPOINT_SECRET_MAX 200

/** Keyset page of endpoints by id: [{id, url, events, description, active, created_at,
 *  updated_at, pending, failed}] (pending/failed: deliveries in that state). */
json_t *webhook_endpoints_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                               struct lumi_err *err);

/** One endpoint as listed; LUMI_ENOTFOUND. */
json_t *webhook_endpoints_get(struct db *db, int64_t id, struct lumi_err *err);

/** Creates one from {url, events?, secret?, description?, active?}; answers it with "secret". */
json_t *webhook_endpoints_create(struct db *db, const struct audit_actor *actor, const json_t *body,
                                 struct lumi_err *err);

/** Changes any of {url, events, secret, description, active}; answers it as stored. */
json_t *webhook_endpoints_update(struct db *db, const struct audit_actor *actor, int64_t id,
                                 const json_t *patch, struct lumi_err *err);

/** Deletes an endpoint and its delivery log. 0, LUMI_ENOTFOUND. */
int webhook_endpoints_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                             struct lumi_err *err);

/**
 * The endpoint's deliveries, newest first, before_id a keyset cursor (0:
 * from the newest): [{id, event_id, type, entity, entity_id, state, attempts,
 * next_attempt_at, last_status, last_answer, last_error, created_at,
 * updated_at, delivered_at}]. LUMI_ENOTFOUND for an unknown endpoint.
 */
json_t *webhook_deliveries_list(struct db *db, int64_t endpoint_id, int64_t before_id, int limit,
                                int64_t *next_cursor, struct lumi_err *err);

/**
 * Queues a "webhook_endpoint.test" event for this endpoint only, due now,
 * audited WEBHOOK_TEST_SENT. Answers the delivery as the log lists it.
 * LUMI_ENOTFOUND; LUMI_ECONFLICT when the endpoint is inactive.
 */
json_t *webhook_endpoints_test(struct db *db, const struct audit_actor *actor, int64_t id,
                               struct lumi_err *err);

#endif

/*
 * events.h — outgoing events: the durable outbox that the webhook
 * dispatcher delivers to the provider's own tools (issue 16, item 5).
 *
 * A domain change that others may want to hear about calls events_emit()
 * inside its own transaction, next to its audit row: the event exists
 * exactly when the change does (a change that rolls back emits nothing).
 * Fan-out happens here, at emit time: one `webhook_deliveries` row per
 * active endpoint whose list names the type (or "*"), so an endpoint added
 * later receives events from then on, never the history. When no endpoint
 * wants the type nothing is written at all: the hot paths (a gateway's
 * payment webhook) pay one small SELECT.
 *
 * The body every endpoint receives is built once and stored:
 *   {"id":"evt_…","type":"invoice.paid","created":UNIX,"data":{"object":{…}}}
 * Delivery is at least once: a delivery interrupted between the answer and
 * its "delivered" mark is sent again with the same event id.
 *
 * This module sits below billing, provisioning and accounts (they call it);
 * it includes none of them. Stateless; uses only the connection it is given.
 */
#ifndef LUMI_EVENTS_EVENTS_H
#define LUMI_EVENTS_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

/** The event types Lumi emits, NULL-terminated. */
extern const char *const EVENTS_TYPES[];

/** True when type is one of EVENTS_TYPES. */
bool events_type_known(const char *type);

/**
 * True when an endpoint's list (a JSON array text: ["*"], ["invoice.paid", …],
 * or a prefix such as "invoice.*") asks for type.
 */
bool events_list_matches(const char *list_json, const char *type);

/**
 * Records event `type` about (entity, entity_id) inside db's open
 * transaction (LUMI_EINTERNAL without one) and queues one delivery per
 * active endpoint that wants it. object (taken, released either way; NULL —
 * a json_pack out of memory — is LUMI_ENOMEM) becomes data.object of the
 * body. 0, or < 0 with err: the caller rolls back its change.
 */
/** Forgets the endpoints this thread read in its transaction (after writing one). */
void events_forget_endpoints(void);

int events_emit(struct db *db, const char *type, const char *entity, int64_t entity_id,
                json_t *object, struct lumi_err *err);

/**
 * events_emit for one endpoint only, whatever its list (the "send test
 * event" button): *delivery_id (may be NULL) gets the delivery.
 * Inside db's open transaction.
 */
int events_emit_to(struct db *db, int64_t endpoint_id, const char *type, const char *entity,
                   int64_t entity_id, json_t *object, int64_t *delivery_id, struct lumi_err *err);

#endif

/*
 * events.c — recording outgoing events and fanning them out to endpoints
 * (see events.h).
 *
 * Owns the SQL that writes `outgoing_events` and creates
 * `webhook_deliveries` rows; the dispatcher (delivery.c) owns the rest of a
 * delivery's life. Reads `webhook_endpoints` (endpoints.c owns its writes).
 * Stateless and thread-safe: everything goes through the caller's
 * connection and open transaction.
 */
#include "events/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "core/utc.h"

#define MATCH_MAX 64 /* endpoints one event fans out to */

const char *const EVENTS_TYPES[] = {
    "invoice.created",
    "invoice.paid",
    "payment.received",
    "payment.refunded",
    "service.active",
    "service.suspended",
    "service.unsuspended",
    "service.terminated",
    "credit_note.created",
    "client.created",
    NULL,
};

static const char SQL_ACTIVE_ENDPOINTS[] =
    "SELECT id, events FROM webhook_endpoints WHERE active = 1 ORDER BY id";
static const char SQL_INSERT_EVENT[] =
    "INSERT INTO outgoing_events (public_id, type, entity, entity_id, payload, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
/* Due now, or when the entity's earlier delivery to this endpoint is next tried (it must go
 * first): a delivery the claim would only skip is not due, so claims never wade through them. */
static const char SQL_INSERT_DELIVERY[] =
    "INSERT INTO webhook_deliveries (event_id, endpoint_id, entity, entity_id, state, attempts,"
    " next_attempt_at, created_at, updated_at)"
    " SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS BIGINT),"
    " 'pending', 0, COALESCE((SELECT MAX(e.next_attempt_at) FROM webhook_deliveries e"
    " WHERE e.endpoint_id = $2 AND e.entity = $3 AND e.entity_id = $4 AND e.state = 'pending'"
    " AND e.next_attempt_at > $5), CAST($5 AS TEXT)), CAST($5 AS TEXT), CAST($5 AS TEXT)"
    " RETURNING id";

bool events_type_known(const char *type)
{
    for (size_t i = 0; type != NULL && EVENTS_TYPES[i] != NULL; i++)
        if (str_eq(EVENTS_TYPES[i], type))
            return true;
    return false;
}

/* One entry of a list: "*", an exact type, or "prefix.*". */
static bool entry_matches(const char *entry, const char *type)
{
    size_t n = strlen(entry);
    if (str_eq(entry, "*") || str_eq(entry, type))
        return true;
    return n >= 2 && entry[n - 1] == '*' && entry[n - 2] == '.' && strncmp(entry, type, n - 1) == 0;
}

bool events_list_matches(const char *list_json, const char *type)
{
    struct lumi_err err;
    bool hit = false;
    if (list_json == NULL || type == NULL)
        return false;
    json_t *list = jsonx_parse(list_json, strlen(list_json), 4, &err);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && entry_matches(json_string_value(v), type)) {
            hit = true;
            break;
        }
    }
    json_decref(list);
    return hit;
}

/*
 * The active endpoints as one transaction saw them first (issue 15: a
 * payment records two or three events, and each read the table again: two
 * of a delivery's dozen statements). Per thread, since a connection is one
 * thread's at a time; keyed by the transaction (db_tx_serial), so a new
 * transaction reads afresh; dropped when this thread writes an endpoint
 * (events_forget_endpoints). Not kept when the endpoints do not fit.
 */
#define CACHE_TEXT 4096
static _Thread_local struct {
    uint64_t tx; /* 0: nothing kept */
    int n;
    int64_t ids[MATCH_MAX];
    unsigned short off[MATCH_MAX];
    char text[CACHE_TEXT];
} seen;

void events_forget_endpoints(void)
{
    seen.tx = 0;
}

/*
 * The active endpoints that want type, into ids (at most MATCH_MAX): answers
 * how many, or < 0. Inside a transaction the first call reads the table and
 * keeps what it read in seen (when it fits); the transaction's next calls
 * match against that.
 */
static int matching_endpoints(struct db *db, const char *type, int64_t *ids, struct lumi_err *err)
{
    uint64_t tx = db_tx_serial(db);
    int n = 0, rc;
    if (tx != 0 && seen.tx == tx) {
        for (int i = 0; i < seen.n; i++)
            if (events_list_matches(seen.text + seen.off[i], type))
                ids[n++] = seen.ids[i];
        return n;
    }
    size_t used = 0;
    bool fits = tx != 0;
    seen.tx = 0;
    seen.n = 0;
    struct db_stmt *st = db_prepare(db, SQL_ACTIVE_ENDPOINTS, err);
    if (st == NULL)
        return LUMI_EDB;
    while ((rc = db_step(st, err)) == DB_ROW) {
        int64_t id = db_col_int64(st, 0);
        const char *list = db_col_text(st, 1);
        size_t len = list != NULL ? strlen(list) : 0;
        if (n < MATCH_MAX && events_list_matches(list, type))
            ids[n++] = id;
        fits = fits && seen.n < MATCH_MAX && used + len + 1 <= CACHE_TEXT;
        if (!fits) {
            if (n == MATCH_MAX)
                break; /* nothing more to keep or to match */
            continue;
        }
        seen.ids[seen.n] = id;
        seen.off[seen.n] = (unsigned short)used;
        memcpy(seen.text + used, list != NULL ? list : "", len + 1);
        used += len + 1;
        seen.n++;
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (fits)
        seen.tx = tx;
    return n;
}

/* {"id","type","created","data":{"object"}} as the text every endpoint receives (caller frees). */
static char *build_body(const char *public_id, const char *type, int64_t created, json_t *object)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:{s:O}}", "id", public_id, "type", type, "created",
                          (json_int_t)created, "data", "object", object);
    char *text = o != NULL ? jsonx_dump(o) : NULL;
    json_decref(o);
    return text;
}

static int insert_event(struct db *db, const char *type, const char *entity, int64_t entity_id,
                        json_t *object, const char *now, int64_t *event_id, struct lumi_err *err)
{
    char hex[25], public_id[32];
    if (crypto_random_token(12, hex, sizeof hex) != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot make an event id");
    snprintf(public_id, sizeof public_id, "evt_%s", hex);
    char *body = build_body(public_id, type, utc_now(), object);
    if (body == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    struct db_stmt *st = db_prepare(db, SQL_INSERT_EVENT, err);
    int rc = st == NULL ? LUMI_EDB : 0;
    if (rc == 0 && (db_bind_text(st, 1, public_id) < 0 || db_bind_text(st, 2, type) < 0 ||
                    db_bind_text(st, 3, entity) < 0 || db_bind_int64(st, 4, entity_id) < 0 ||
                    db_bind_text(st, 5, body) < 0 || db_bind_text(st, 6, now) < 0))
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step_id(st, "an outgoing event", event_id, err);
    db_finalize(st);
    free(body);
    return rc;
}

static int insert_delivery(struct db *db, int64_t event_id, int64_t endpoint_id, const char *entity,
                           int64_t entity_id, const char *now, int64_t *delivery_id,
                           struct lumi_err *err)
{
    int64_t id = 0;
    struct db_stmt *st = db_prepare(db, SQL_INSERT_DELIVERY, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    if (db_bind_int64(st, 1, event_id) < 0 || db_bind_int64(st, 2, endpoint_id) < 0 ||
        db_bind_text(st, 3, entity) < 0 || db_bind_int64(st, 4, entity_id) < 0 ||
        db_bind_text(st, 5, now) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step_id(st, "a webhook delivery", &id, err);
    db_finalize(st);
    if (rc == 0 && delivery_id != NULL)
        *delivery_id = id;
    return rc;
}

/* The event and one delivery per endpoint in ids[0..n). */
static int record(struct db *db, const int64_t *ids, int n, const char *type, const char *entity,
                  int64_t entity_id, json_t *object, int64_t *delivery_id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    int64_t event_id = 0;
    utc_now_iso(now);
    int rc = insert_event(db, type, entity, entity_id, object, now, &event_id, err);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = insert_delivery(db, event_id, ids[i], entity, entity_id, now, delivery_id, err);
    return rc;
}

static int check_call(struct db *db, const char *type, const char *entity, json_t *object,
                      struct lumi_err *err)
{
    if (object == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory building the %s event",
                       type != NULL ? type : "?");
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "events_emit needs an open transaction");
    if (type == NULL || entity == NULL)
        return err_set(err, LUMI_EINTERNAL, "an event needs a type and an entity");
    return 0;
}

int events_emit(struct db *db, const char *type, const char *entity, int64_t entity_id,
                json_t *object, struct lumi_err *err)
{
    int64_t ids[MATCH_MAX];
    int rc = check_call(db, type, entity, object, err);
    if (rc == 0)
        rc = matching_endpoints(db, type, ids, err);
    if (rc > 0)
        rc = record(db, ids, rc, type, entity, entity_id, object, NULL, err);
    json_decref(object);
    return rc < 0 ? rc : 0;
}

int events_emit_to(struct db *db, int64_t endpoint_id, const char *type, const char *entity,
                   int64_t entity_id, json_t *object, int64_t *delivery_id, struct lumi_err *err)
{
    int rc = check_call(db, type, entity, object, err);
    if (rc == 0)
        rc = record(db, &endpoint_id, 1, type, entity, entity_id, object, delivery_id, err);
    json_decref(object);
    return rc;
}

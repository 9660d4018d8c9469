/*
 * endpoints.c — webhook endpoints: validation, storage, audit, the delivery
 * log and the test event (see endpoints.h).
 *
 * Owns the SQL that writes `webhook_endpoints` and reads deliveries for the
 * log. An endpoint is handled as a JSON object like tax rules: input is
 * validated into normalised values, an update merges them into the stored
 * row, and the result is written and audited — the audit details never hold
 * the secret (only whether it changed). The secret is sealed under
 * "webhook_endpoints.secret:<id>", so the row is inserted first and sealed
 * in the same transaction once its id is known.
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "events/endpoints.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/rowjson.h"
#include "events/events.h"
#include "events/target.h"

#define PAGE_MAX 200
#define SECRET_BYTES 24
#define TEST_TYPE "webhook_endpoint.test"

#define ENDPOINT_COLUMNS                                                                           \
    "w.id, w.url, w.events, w.description, w.active, w.created_at, w.updated_at,"                  \
    " (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = w.id"                       \
    " AND d.state = 'pending') AS pending,"                                                        \
    " (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = w.id"                       \
    " AND d.state = 'failed') AS failed"
static const char SQL_GET[] =
    "SELECT " ENDPOINT_COLUMNS " FROM webhook_endpoints w WHERE w.id = $1";
static const char SQL_LIST[] =
    "SELECT " ENDPOINT_COLUMNS " FROM webhook_endpoints w WHERE w.id > $1 ORDER BY w.id LIMIT $2";
static const char SQL_INSERT[] =
    "INSERT INTO webhook_endpoints (url, events, description, active, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";
static const char SQL_UPDATE[] =
    "UPDATE webhook_endpoints SET url = $1, events = $2, description = $3, active = $4,"
    " updated_at = $5 WHERE id = $6";
static const char SQL_SEAL[] = "UPDATE webhook_endpoints SET secret_enc = $1 WHERE id = $2";
static const char SQL_DELETE[] = "DELETE FROM webhook_endpoints WHERE id = $1";
/* An inactive endpoint's pending deliveries are parked (not due) so that claims do not wade
 * through them; activating it makes them due now, in their order. */
#define PARKED "9999-12-31T23:59:59Z"
static const char SQL_PARK[] = "UPDATE webhook_deliveries SET next_attempt_at = '" PARKED "'"
                               " WHERE endpoint_id = $1 AND state = 'pending'";
static const char SQL_UNPARK[] = "UPDATE webhook_deliveries SET next_attempt_at = $2"
                                 " WHERE endpoint_id = $1 AND state = 'pending'"
                                 " AND next_attempt_at = '" PARKED "'";
static const char SQL_DELIVERIES[] =
    "SELECT d.id, ev.public_id AS event_id, ev.type, d.entity, d.entity_id, d.state, d.attempts,"
    " d.next_attempt_at, d.last_status, d.last_answer, d.last_error, d.created_at, d.updated_at,"
    " d.delivered_at FROM webhook_deliveries d JOIN outgoing_events ev ON ev.id = d.event_id"
    " WHERE d.endpoint_id = $1 AND ($2 = 0 OR d.id < $2) ORDER BY d.id DESC LIMIT $3";
static const char SQL_DELIVERY[] =
    "SELECT d.id, ev.public_id AS event_id, ev.type, d.entity, d.entity_id, d.state, d.attempts,"
    " d.next_attempt_at, d.last_status, d.last_answer, d.last_error, d.created_at, d.updated_at,"
    " d.delivered_at FROM webhook_deliveries d JOIN outgoing_events ev ON ev.id = d.event_id"
    " WHERE d.id = $1";

static const char *const KEYS[] = {"url", "events", "secret", "description", "active", NULL};
static const char *const ENDPOINT_INTS[] = {"id", "active", "pending", "failed", NULL};
static const char *const DELIVERY_INTS[] = {"id", "entity_id", "attempts", "last_status", NULL};

static json_t *nomem(struct lumi_err *err)
{
    err_set(err, LUMI_ENOMEM, "out of memory");
    return NULL;
}

/* ---- reading ---------------------------------------------------------------- */

/* The row as an endpoint: events as an array, active as a boolean. */
static json_t *endpoint_row(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = db_row_json(st, ENDPOINT_INTS, err);
    if (o == NULL)
        return NULL;
    const char *list = json_string_value(json_object_get(o, "events"));
    struct lumi_err perr;
    json_t *events = list != NULL ? jsonx_parse(list, strlen(list), 4, &perr) : NULL;
    int64_t active = json_integer_value(json_object_get(o, "active"));
    if (json_object_set_new(o, "events", events != NULL ? events : json_array()) < 0 ||
        json_object_set_new(o, "active", json_boolean(active != 0)) < 0) {
        json_decref(o);
        return nomem(err);
    }
    return o;
}

json_t *webhook_endpoints_get(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *o = NULL;
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    if (st == NULL)
        return NULL;
    int rc =
        db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : db_step(st, err);
    if (rc == DB_ROW)
        o = endpoint_row(st, err);
    else if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "webhook endpoint %" PRId64 " not found", id);
    db_finalize(st);
    return o;
}

static int check_limit(int limit, struct lumi_err *err)
{
    if (limit < 1 || limit > PAGE_MAX)
        return err_set(err, LUMI_EINVAL, "limit must be between 1 and %d", PAGE_MAX);
    return 0;
}

json_t *webhook_endpoints_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                               struct lumi_err *err)
{
    *next_cursor = 0;
    if (check_limit(limit, err) != 0)
        return NULL;
    json_t *rows = json_array();
    struct db_stmt *st = rows != NULL ? db_prepare(db, SQL_LIST, err) : NULL;
    int rc = st == NULL ? LUMI_EDB : 0, n = 0;
    if (rc == 0) {
        db_bind_int64(st, 1, after_id);
        db_bind_int64(st, 2, limit + 1);
    }
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW) {
        rc = 0;
        if (++n > limit) {
            *next_cursor =
                json_integer_value(json_object_get(json_array_get(rows, limit - 1), "id"));
            break;
        }
        json_t *o = endpoint_row(st, err);
        if (o == NULL || json_array_append_new(rows, o) < 0)
            rc = LUMI_ENOMEM;
    }
    db_finalize(st);
    if (rc < 0) {
        if (rc == LUMI_ENOMEM)
            nomem(err);
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* ---- validating --------------------------------------------------------------- */

/* One entry of an events list: "*", a known type, or "prefix.*" of known types. */
static bool entry_valid(const char *e)
{
    size_t n = strlen(e);
    if (str_eq(e, "*") || events_type_known(e))
        return true;
    if (n < 3 || e[n - 1] != '*' || e[n - 2] != '.')
        return false;
    for (size_t i = 0; EVENTS_TYPES[i] != NULL; i++)
        if (strncmp(EVENTS_TYPES[i], e, n - 1) == 0)
            return true;
    return false;
}

static int validate_events(const json_t *v, json_t *out, struct lumi_err *err)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ENDPOINT_EVENTS_MAX)
        return err_set(err, LUMI_EINVAL,
                       "field 'events' must be a list of 1 to %d event types, or [\"*\"] for all",
                       ENDPOINT_EVENTS_MAX);
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || !entry_valid(json_string_value(e)))
            return err_set(err, LUMI_EINVAL,
                           "field 'events': entry %zu is not an event type Lumi sends (e.g. "
                           "\"invoice.paid\", \"service.*\" or \"*\")",
                           i + 1);
    }
    char *text = jsonx_dump(v);
    int rc = text != NULL && jsonx_set_str(out, "events_text", text) == 0
                 ? 0
                 : err_set(err, LUMI_ENOMEM, "out of memory");
    free(text);
    return rc;
}

static int validate_secret(const char *s, struct lumi_err *err)
{
    size_t n = strlen(s);
    if (n < ENDPOINT_SECRET_MIN || n > ENDPOINT_SECRET_MAX)
        return err_set(err, LUMI_EINVAL, "field 'secret' must be %d to %d characters",
                       ENDPOINT_SECRET_MIN, ENDPOINT_SECRET_MAX);
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~')
            return err_set(err, LUMI_EINVAL,
                           "field 'secret' must be printable ASCII without spaces");
    return 0;
}

/* in into out (normalised members; events as "events_text"); create: required ones and
 * defaults. */
static int validate(const json_t *in, bool create, json_t *out, struct lumi_err *err)
{
    const char *url = NULL, *secret = NULL, *desc = NULL;
    bool active = true;
    struct webhook_target tg;
    int rc;
    if (!json_is_object(in))
        return err_set(err, LUMI_EINVAL, "the body must be a JSON object");
    if (jsonx_check_keys(in, KEYS, err) < 0)
        return LUMI_EINVAL;
    if (!create && json_object_size(in) == 0)
        return err_set(err, LUMI_EINVAL, "request body must name at least one field to change");
    rc = jsonx_take_str(in, "url", create, TARGET_URL_MAX, &url, err);
    if (rc < 0)
        return rc;
    if (rc == 1 &&
        (webhook_target_check(url, config_bool("LUMI_WEBHOOK_ALLOW_PRIVATE"), &tg, err) != 0 ||
         jsonx_set_str(out, "url", url) < 0))
        return err->code != 0 ? err->code : LUMI_ENOMEM;
    const json_t *ev = json_object_get(in, "events");
    if (ev != NULL && !json_is_null(ev)) {
        if (validate_events(ev, out, err) != 0)
            return err->code;
    } else if (create && jsonx_set_str(out, "events_text", "[\"*\"]") < 0) {
        return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    rc = jsonx_take_str(in, "secret", false, ENDPOINT_SECRET_MAX, &secret, err);
    if (rc < 0 || (rc == 1 && validate_secret(secret, err) != 0))
        return LUMI_EINVAL;
    if (rc == 1 && jsonx_set_str(out, "secret", secret) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    rc = jsonx_take_str(in, "description", false, ENDPOINT_DESCRIPTION_MAX, &desc, err);
    if (rc < 0)
        return rc;
    if ((rc == 1 || create) && jsonx_set_str(out, "description", desc != NULL ? desc : "") < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    rc = jsonx_take_bool(in, "active", false, &active, err);
    if (rc < 0)
        return rc;
    if ((rc == 1 || create) && jsonx_set_bool(out, "active", active) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

/* ---- writing ------------------------------------------------------------------ */

static int seal_secret(struct db *db, int64_t id, const char *secret, struct lumi_err *err)
{
    char ad[64], idt[24];
    const uint8_t *key = config_secret_key();
    if (key == NULL)
        return err_set(err, LUMI_EINVAL, "LUMI_SECRET_KEY is not set: cannot store secrets");
    snprintf(ad, sizeof ad, "webhook_endpoints.secret:%" PRId64, id);
    snprintf(idt, sizeof idt, "%" PRId64, id);
    char *sealed = crypto_seal(key, ad, secret, strlen(secret));
    if (sealed == NULL)
        return err_set(err, LUMI_EINTERNAL, "could not encrypt the endpoint's secret");
    const char *p[] = {sealed, idt};
    int rc = db_execp(db, SQL_SEAL, 2, p, NULL, err);
    free(sealed);
    return rc < 0 ? rc : 0;
}

/* Binds the stored fields of e (url, events_text, description, active) as $1..$4, now as $5. */
static int write_row(struct db *db, const char *sql, const json_t *e, const char *now, int64_t id,
                     int64_t *new_id, struct lumi_err *err)
{
    events_forget_endpoints(); /* what this thread read in its transaction is stale */
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    if (db_bind_text(st, 1, json_string_value(json_object_get(e, "url"))) < 0 ||
        db_bind_text(st, 2, json_string_value(json_object_get(e, "events_text"))) < 0 ||
        db_bind_text(st, 3, json_string_value(json_object_get(e, "description"))) < 0 ||
        db_bind_int64(st, 4, json_is_true(json_object_get(e, "active"))) < 0 ||
        db_bind_text(st, 5, now) < 0 || (id > 0 && db_bind_int64(st, 6, id) < 0))
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0 && new_id != NULL)
        rc = db_step_id(st, "a webhook endpoint", new_id, err);
    else if (rc == 0)
        rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* The audit details: what the endpoint is now, and whether its secret changed. */
static int audit(struct db *db, const struct audit_actor *actor, const char *action,
                 const json_t *endpoint, bool secret_set, struct lumi_err *err)
{
    json_t *d = json_deep_copy(endpoint);
    if (d != NULL) {
        json_object_del(d, "pending");
        json_object_del(d, "failed");
        json_object_del(d, "secret");
        if (secret_set)
            json_object_set_new(d, "secret_changed", json_true());
    }
    return audit_append_id_take(db, actor, action, "webhook_endpoint",
                                json_integer_value(json_object_get(endpoint, "id")), d, err);
}

/* Parks or unparks the endpoint's pending deliveries when its active flag changes. */
static int park_deliveries(struct db *db, int64_t id, bool was_active, bool active, const char *now,
                           struct lumi_err *err)
{
    char idt[24];
    if (was_active == active)
        return 0;
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *p[] = {idt, now};
    int rc = db_execp(db, active ? SQL_UNPARK : SQL_PARK, active ? 2 : 1, p, NULL, err);
    return rc < 0 ? rc : 0;
}

static int generate_secret(char *out, size_t outsz)
{
    char hex[2 * SECRET_BYTES + 1];
    if (crypto_random_token(SECRET_BYTES, hex, sizeof hex) != 0)
        return LUMI_EINTERNAL;
    snprintf(out, outsz, "whsec_%s", hex);
    sodium_memzero(hex, sizeof hex);
    return 0;
}

json_t *webhook_endpoints_create(struct db *db, const struct audit_actor *actor, const json_t *body,
                                 struct lumi_err *err)
{
    char now[UTC_ISO_LEN], secret[ENDPOINT_SECRET_MAX + 1];
    int64_t id = 0;
    json_t *e = json_object(), *result = NULL;
    secret[0] = '\0';
    if (e == NULL)
        return nomem(err);
    if (validate(body, true, e, err) != 0)
        goto out;
    const char *given = json_string_value(json_object_get(e, "secret"));
    if (given != NULL)
        str_copy(secret, given, sizeof secret);
    else if (generate_secret(secret, sizeof secret) != 0) {
        err_set(err, LUMI_EINTERNAL, "cannot make a secret");
        goto out;
    }
    utc_now_iso(now);
    if (db_begin(db, err) != 0)
        goto out;
    if (write_row(db, SQL_INSERT, e, now, 0, &id, err) == 0 &&
        seal_secret(db, id, secret, err) == 0)
        result = webhook_endpoints_get(db, id, err);
    if (result == NULL || audit(db, actor, "WEBHOOK_ENDPOINT_CREATED", result, true, err) != 0 ||
        db_commit(db, err) != 0) {
        db_rollback(db);
        json_decref(result);
        result = NULL;
        goto out;
    }
    /* Shown this once: it is never answered again. */
    if (jsonx_set_str(result, "secret", secret) < 0) {
        json_decref(result);
        result = nomem(err);
    }
out:
    sodium_memzero(secret, sizeof secret);
    json_decref(e);
    return result;
}

/* The stored row's fields as validate() makes them, so a patch can be merged over them. */
static json_t *stored_fields(const json_t *cur)
{
    char *events = jsonx_dump(json_object_get(cur, "events"));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:b}", "url", json_string_value(json_object_get(cur, "url")),
                  "events_text", events != NULL ? events : "[\"*\"]", "description",
                  json_string_value(json_object_get(cur, "description")), "active",
                  json_is_true(json_object_get(cur, "active")));
    free(events);
    return o;
}

json_t *webhook_endpoints_update(struct db *db, const struct audit_actor *actor, int64_t id,
                                 const json_t *patch, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    json_t *want = json_object(), *merged = NULL, *cur = NULL, *result = NULL, *s;
    if (want == NULL)
        return nomem(err);
    if (validate(patch, false, want, err) != 0 || db_begin(db, err) != 0)
        goto out;
    cur = webhook_endpoints_get(db, id, err);
    merged = cur != NULL ? stored_fields(cur) : NULL;
    if (cur != NULL && merged == NULL)
        nomem(err);
    if (merged == NULL || json_object_update(merged, want) < 0)
        goto fail;
    const char *secret = json_string_value(json_object_get(want, "secret"));
    utc_now_iso(now);
    if (write_row(db, SQL_UPDATE, merged, now, id, NULL, err) != 0 ||
        (secret != NULL && seal_secret(db, id, secret, err) != 0) ||
        park_deliveries(db, id, json_is_true(json_object_get(cur, "active")),
                        json_is_true(json_object_get(merged, "active")), now, err) != 0)
        goto fail;
    result = webhook_endpoints_get(db, id, err);
    if (result == NULL ||
        audit(db, actor, "WEBHOOK_ENDPOINT_UPDATED", result, secret != NULL, err) != 0 ||
        db_commit(db, err) != 0)
        goto fail;
    goto out;
fail:
    db_rollback(db);
    json_decref(result);
    result = NULL;
out:
    s = json_object_get(want, "secret");
    if (json_is_string(s))
        sodium_memzero((void *)json_string_value(s), json_string_length(s));
    json_decref(want);
    json_decref(merged);
    json_decref(cur);
    return result;
}

int webhook_endpoints_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                             struct lumi_err *err)
{
    char idt[24];
    int64_t changes = 0;
    snprintf(idt, sizeof idt, "%" PRId64, id);
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    json_t *cur = webhook_endpoints_get(db, id, err);
    const char *p[] = {idt};
    events_forget_endpoints();
    rc = cur == NULL ? err->code : db_execp(db, SQL_DELETE, 1, p, &changes, err);
    if (rc == 0)
        rc = audit(db, actor, "WEBHOOK_ENDPOINT_DELETED", cur, false, err);
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    json_decref(cur);
    return rc < 0 ? rc : 0;
}

/* ---- deliveries ----------------------------------------------------------------- */

json_t *webhook_deliveries_list(struct db *db, int64_t endpoint_id, int64_t before_id, int limit,
                                int64_t *next_cursor, struct lumi_err *err)
{
    *next_cursor = 0;
    if (check_limit(limit, err) != 0)
        return NULL;
    json_t *ep = webhook_endpoints_get(db, endpoint_id, err);
    if (ep == NULL)
        return NULL;
    json_decref(ep);
    json_t *rows = json_array();
    struct db_stmt *st = rows != NULL ? db_prepare(db, SQL_DELIVERIES, err) : NULL;
    int rc = st == NULL ? LUMI_EDB : 0, n = 0;
    if (rc == 0) {
        db_bind_int64(st, 1, endpoint_id);
        db_bind_int64(st, 2, before_id > 0 ? before_id : 0);
        db_bind_int64(st, 3, limit + 1);
    }
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW) {
        rc = 0;
        if (++n > limit) {
            *next_cursor =
                json_integer_value(json_object_get(json_array_get(rows, limit - 1), "id"));
            break;
        }
        json_t *o = db_row_json(st, DELIVERY_INTS, err);
        if (o == NULL || json_array_append_new(rows, o) < 0)
            rc = LUMI_ENOMEM;
    }
    db_finalize(st);
    if (rc < 0) {
        if (rc == LUMI_ENOMEM)
            nomem(err);
        json_decref(rows);
        return NULL;
    }
    return rows;
}

json_t *webhook_endpoints_test(struct db *db, const struct audit_actor *actor, int64_t id,
                               struct lumi_err *err)
{
    int64_t delivery = 0;
    json_t *result = NULL;
    if (db_begin(db, err) != 0)
        return NULL;
    json_t *ep = webhook_endpoints_get(db, id, err);
    int rc = ep == NULL ? err->code : 0;
    if (rc == 0 && !json_is_true(json_object_get(ep, "active")))
        rc = err_set(err, LUMI_ECONFLICT,
                     "webhook endpoint %" PRId64 " is inactive; activate it to send events", id);
    if (rc == 0)
        rc = events_emit_to(db, id, TEST_TYPE, "webhook_endpoint", id,
                            json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "object",
                                      "webhook_endpoint", "message",
                                      "A test event from Lumi: this endpoint receives events."),
                            &delivery, err);
    if (rc == 0)
        rc = audit_append_id_take(db, actor, "WEBHOOK_TEST_SENT", "webhook_endpoint", id,
                                  json_pack("{s:I}", "delivery_id", (json_int_t)delivery), err);
    if (rc == 0)
        result = db_one_row_json(db, SQL_DELIVERY, delivery, DELIVERY_INTS, err);
    if (result == NULL || db_commit(db, err) != 0) {
        db_rollback(db);
        json_decref(result);
        result = NULL;
    }
    json_decref(ep);
    return result;
}

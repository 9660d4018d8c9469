/*
 * crud.h — the one shape of the JSON API's resource handlers (list, create,
 * get, update, delete of products, clients, tax rules, coupons…): parse the
 * id or body, call the domain function with the caller as the audit actor,
 * answer its result or its error. A resource is a table of its domain
 * functions; its handlers are one-line calls into these.
 */
#ifndef LUMI_WEB_API_CRUD_H
#define LUMI_WEB_API_CRUD_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"
#include "web/http.h"

/** The domain functions of one resource (NULL: the route does not exist for it). */
struct api_resource {
    const char *what;     /* "product": the 404 says "product not found" */
    const char *location; /* "/api/admin/products": a created row's Location is location/id */
    int page_max;         /* largest ?limit= */
    json_t *(*list)(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                    struct lumi_err *err);
    json_t *(*create)(struct db *db, const struct audit_actor *actor, const json_t *body,
                      struct lumi_err *err);
    json_t *(*get)(struct db *db, int64_t id, struct lumi_err *err);
    json_t *(*update)(struct db *db, const struct audit_actor *actor, int64_t id,
                      const json_t *patch, struct lumi_err *err);
    int (*remove)(struct db *db, const struct audit_actor *actor, int64_t id,
                  struct lumi_err *err);
};

/** GET collection: a keyset page (?limit=&cursor=) → {data, next_cursor}. */
void api_crud_list(const struct api_resource *r, struct web_req *req, struct web_resp *resp);
/** POST collection: 201 with the new row and its Location. */
void api_crud_create(const struct api_resource *r, struct web_req *req, struct web_resp *resp);
/** GET collection/{id}: 200 or 404. */
void api_crud_get(const struct api_resource *r, struct web_req *req, struct web_resp *resp);
/** PATCH collection/{id}: 200 with the row as stored. */
void api_crud_update(const struct api_resource *r, struct web_req *req, struct web_resp *resp);
/** DELETE collection/{id}: 204. */
void api_crud_delete(const struct api_resource *r, struct web_req *req, struct web_resp *resp);

#endif

/*
 * h_staff.c — staff roles and API tokens in the admin API (issues 16 and
 * 17), admins only (the routes name no other role):
 *   GET /api/admin/staff, POST {email, role, password},
 *   PATCH /api/admin/staff/{id} {role} or {active};
 *   GET /api/admin/tokens[/{id}], POST {name, user?, expires_days?} → 201
 *   with the token (the one time it is shown), POST …/{id}/revoke or DELETE.
 *
 * Thin handlers over accounts/staff.c and accounts/tokens.c; the token list
 * never holds a token or its hash.
 */
#include "web/api/api.h"

#include <sodium.h>

#include "accounts/staff.h"
#include "accounts/tokens.h"
#include "core/str.h"
#include "web/auth.h"

/* body[key] as a string: 0 (*out NULL when absent and optional), or answers 400 naming it. */
static int body_str(struct web_resp *resp, const json_t *body, const char *key, bool required,
                    const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = json_string_value(v);
    if ((v == NULL && !required) || json_is_string(v))
        return 0;
    web_reply_error(resp, 400, "invalid_request", "field '%s' must be a string", key);
    return -1;
}

/* Answers 400 naming the first member of body that is not one of the NULL-terminated keys. */
static int only_keys(struct web_resp *resp, const json_t *body, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL && !known; i++)
            known = str_eq(k, keys[i]);
        if (!known) {
            web_reply_error(resp, 400, "invalid_request", "field '%s' is not known here", k);
            return -1;
        }
    }
    return 0;
}

/* Staff member id as staff_list shows it (new reference), or NULL with err. */
static json_t *find_member(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *rows = staff_list(db, err);
    json_t *found = NULL;
    size_t i;
    json_t *row;
    if (rows == NULL)
        return NULL;
    json_array_foreach(rows, i, row)
    {
        if (json_integer_value(json_object_get(row, "id")) == id)
            found = json_incref(row);
    }
    json_decref(rows);
    if (found == NULL)
        err_set(err, LUMI_ENOTFOUND, "staff member not found");
    return found;
}

void h_staff_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *rows = staff_list(req->db, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200, json_pack("{s:o}", "data", rows));
}

void h_staff_create(struct web_req *req, struct web_resp *resp)
{
    static const char *const keys[] = {"email", "role", "password", NULL};
    struct lumi_err err = {0};
    const char *email, *role, *password;
    int64_t id = 0;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    if (only_keys(resp, body, keys) != 0 || body_str(resp, body, "email", true, &email) != 0 ||
        body_str(resp, body, "role", true, &role) != 0 ||
        body_str(resp, body, "password", true, &password) != 0)
        goto out;
    struct audit_actor actor = auth_actor(req);
    if (staff_create(req->db, &actor, email, role, password, &id, &err) != 0) {
        web_reply_err(resp, &err);
        goto out;
    }
    json_t *member = find_member(req->db, id, &err);
    if (member == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_created(resp, "/api/admin/staff", member);
out:
    json_decref(body);
}

void h_staff_update(struct web_req *req, struct web_resp *resp)
{
    static const char *const keys[] = {"role", "active", NULL};
    struct lumi_err err = {0};
    const char *role = NULL;
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "staff member not found");
        return;
    }
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    json_t *active = json_object_get(body, "active");
    if (only_keys(resp, body, keys) != 0 || body_str(resp, body, "role", false, &role) != 0)
        goto out;
    if (active != NULL && !json_is_boolean(active)) {
        web_reply_error(resp, 400, "invalid_request", "field 'active' must be true or false");
        goto out;
    }
    /* One change per request, so a request is one transaction that happens or not. */
    if ((role == NULL) == (active == NULL)) {
        web_reply_error(resp, 400, "invalid_request",
                        "send exactly one of the fields 'role' and 'active'");
        goto out;
    }
    struct audit_actor actor = auth_actor(req);
    int rc = role != NULL ? staff_set_role(req->db, &actor, id, role, &err)
                          : staff_set_active(req->db, &actor, id, json_is_true(active), &err);
    if (rc != 0) {
        web_reply_err(resp, &err);
        goto out;
    }
    web_reply_result(resp, 200, find_member(req->db, id, &err), &err);
out:
    json_decref(body);
}

void h_tokens_list(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    json_t *rows = tokens_list(req->db, &err);
    if (rows == NULL) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_json(resp, 200, json_pack("{s:o}", "data", rows));
}

void h_tokens_get(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "API token not found");
        return;
    }
    web_reply_result(resp, 200, tokens_get(req->db, id, &err), &err);
}

void h_tokens_create(struct web_req *req, struct web_resp *resp)
{
    static const char *const keys[] = {"name", "user", "expires_days", NULL};
    struct lumi_err err = {0};
    struct tokens_new in = {0};
    char token[TOKENS_LEN];
    int64_t id = 0;
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    json_t *days = json_object_get(body, "expires_days");
    if (only_keys(resp, body, keys) != 0 || body_str(resp, body, "name", true, &in.name) != 0 ||
        body_str(resp, body, "user", false, &in.owner_email) != 0)
        goto out;
    if (days != NULL && !json_is_null(days) && !json_is_integer(days)) {
        web_reply_error(resp, 400, "invalid_request",
                        "field 'expires_days' must be a whole number of days");
        goto out;
    }
    in.expires_days = json_is_integer(days) ? json_integer_value(days) : 0;
    /* Without "user" the token is the caller's own, with the caller's role. */
    if (in.owner_email == NULL && req->who.user_id > 0)
        in.owner_email = req->who.email;
    struct audit_actor actor = auth_actor(req);
    if (tokens_create(req->db, &actor, &in, token, &id, &err) != 0) {
        web_reply_err(resp, &err);
        goto out;
    }
    json_t *row = tokens_get(req->db, id, &err);
    if (row != NULL)
        json_object_set_new(row, "token", json_string(token));
    sodium_memzero(token, sizeof token);
    if (row == NULL)
        web_reply_err(resp, &err);
    else
        web_reply_created(resp, "/api/admin/tokens", row);
out:
    json_decref(body);
}

void h_tokens_revoke(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "API token not found");
        return;
    }
    struct audit_actor actor = auth_actor(req);
    if (tokens_revoke(req->db, &actor, id, &err) != 0) {
        web_reply_err(resp, &err);
        return;
    }
    web_reply_result(resp, 200, tokens_get(req->db, id, &err), &err);
}

/*
 * bb_catalogue.c — the admin JSON API for clients and products, driven over
 * HTTP against the real `lumi serve`: create, get, list with paging, partial
 * update, product deletion guarded by services; every validation failure
 * answering the right status, envelope code and a message naming the field
 * while changing nothing; audit rows for every change; no password hash in
 * any answer. Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utc.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "3a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "owner@example.com"
#define ADMIN_PASSWORD "correct horse battery"

/* ---- plumbing ----------------------------------------------------------- */

/* No answer may ever carry a password hash or a second-factor secret. */
static void assert_no_secrets(const char *method, const char *path, const struct http_result *r)
{
    (void)method;
    (void)path;
    const char *body = buf_cstr(&r->body);
    if (strstr(body, "\"password_hash\":") != NULL || strstr(body, "$argon2") != NULL ||
        strstr(body, "\"totp_secret\":") != NULL || strstr(body, "\"password\":\"") != NULL)
        fail_msg("answer leaks a secret: %s", body);
}

static int setup(void **state)
{
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "test");
    bb_check_answers(assert_no_secrets);
    bb_serve();
    *state = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish() == 0 ? 0 : -1;
}

static void expect_status(const struct http_result *r, long status)
{
    if (r->status != status)
        fail_msg("expected %ld, got %ld: %s", status, r->status, buf_cstr(&r->body));
}

/* Status, envelope code, and a message containing needle. */
static void expect_error(const struct http_result *r, long status, const char *code,
                         const char *needle)
{
    expect_status(r, status);
    const char *got = http_error_code(r);
    if (got == NULL || strcmp(got, code) != 0)
        fail_msg("expected error code %s: %s", code, buf_cstr(&r->body));
    json_t *e = json_object_get(r->json, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (msg == NULL || strstr(msg, needle) == NULL)
        fail_msg("expected a message mentioning \"%s\": %s", needle, buf_cstr(&r->body));
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("member '%s' is not a string", key);
    return json_string_value(v);
}

static int64_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("member '%s' is not an integer", key);
    return json_integer_value(v);
}

static int64_t count_sqlp(const char *sql, int n, const char *const *params)
{
    struct lumi_err err;
    int64_t v = -1;
    if (db_query_int64(bb_db(), sql, n, params, &v, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return v;
}

/* Users with this e-mail whose password hash is argon2id. */
static int64_t argon2_users(const char *email)
{
    const char *p[] = {email, "$argon2id$%"};
    return count_sqlp("SELECT COUNT(*) FROM users WHERE email = $1 AND password_hash LIKE $2", 2,
                      p);
}

/* Rows in every table a catalogue request may write: equal means nothing changed. */
struct snapshot {
    int64_t users, products, services, audit;
};

static struct snapshot snap(void)
{
    struct snapshot s = {
        bb_count("SELECT COUNT(*) FROM users"),
        bb_count("SELECT COUNT(*) FROM products"),
        bb_count("SELECT COUNT(*) FROM services"),
        bb_count("SELECT COUNT(*) FROM audit_log"),
    };
    return s;
}

static void assert_unchanged(struct snapshot before)
{
    struct snapshot now = snap();
    assert_int_equal(now.users, before.users);
    assert_int_equal(now.products, before.products);
    assert_int_equal(now.services, before.services);
    assert_int_equal(now.audit, before.audit);
}

/* base (a JSON object text) with key set to the JSON literal value (NULL: removed). Caller frees.
 */
static char *with_member(const char *base, const char *key, const char *value)
{
    json_t *o = json_loads(base, 0, NULL);
    assert_non_null(o);
    if (key != NULL && value == NULL) {
        json_object_del(o, key);
    } else if (key != NULL) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(o, key, v);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    return text;
}

static void exec_sql(const char *sql, int n, const char *const *params)
{
    struct lumi_err err;
    if (db_execp(bb_db(), sql, n, params, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static int64_t insert_server(const char *name)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    const char *p[] = {name, now};
    exec_sql("INSERT INTO servers (name, type, url, created_at, updated_at)"
             " VALUES ($1, 'pterodactyl', 'https://panel.example.com', $2, $2)",
             2, p);
    return bb_count("SELECT MAX(id) FROM servers");
}

static void insert_service(int64_t client_id, int64_t product_id, const char *remote_key)
{
    char now[UTC_ISO_LEN];
    char cid[24];
    char pid[24];
    utc_now_iso(now);
    snprintf(cid, sizeof cid, "%" PRId64, client_id);
    snprintf(pid, sizeof pid, "%" PRId64, product_id);
    const char *p[] = {cid, pid, remote_key, now};
    exec_sql("INSERT INTO services (client_id, product_id, status, remote_key, billing_cycle,"
             " recurring_amount, currency, created_at, updated_at)"
             " VALUES ($1, $2, 'active', $3, 'monthly', 1500, 'usd', $4, $4)",
             4, p);
}

/* Follows next_cursor from the first page of path (with ?limit=), returns ids in order. */
static size_t collect_ids(const char *path, int limit, int64_t *ids, size_t max)
{
    char cursor[32] = "";
    size_t n = 0;
    for (int pages = 0; pages < 1000; pages++) {
        struct http_result r =
            cursor[0] ? bb_apif("GET", NULL, "%s?limit=%d&cursor=%s", path, limit, cursor)
                      : bb_apif("GET", NULL, "%s?limit=%d", path, limit);
        expect_status(&r, 200);
        json_t *data = json_object_get(r.json, "data");
        assert_true(json_is_array(data));
        assert_true(json_array_size(data) <= (size_t)limit);
        size_t i;
        json_t *row;
        json_array_foreach(data, i, row)
        {
            assert_true(n < max);
            ids[n++] = jint(row, "id");
        }
        json_t *next = json_object_get(r.json, "next_cursor");
        assert_non_null(next);
        if (json_is_null(next)) {
            http_result_free(&r);
            return n;
        }
        assert_true(json_array_size(data) == (size_t)limit);
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        http_result_free(&r);
    }
    fail_msg("paging never ended");
    return n;
}

/* The newest audit row for entity/entity_id with action, as a new reference, or NULL. */
static json_t *audit_row(const char *entity, int64_t entity_id, const char *action)
{
    struct http_result r = bb_apif(
        "GET", NULL, "/api/admin/audit-logs?entity=%s&entity_id=%" PRId64 "&action=%s&limit=200",
        entity, entity_id, action);
    expect_status(&r, 200);
    json_t *data = json_object_get(r.json, "data");
    assert_true(json_is_array(data));
    json_t *found = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(data, i, row)
    {
        if (strcmp(jstr(row, "action"), action) == 0 && strcmp(jstr(row, "entity"), entity) == 0 &&
            json_is_string(json_object_get(row, "entity_id")) &&
            strtoll(jstr(row, "entity_id"), NULL, 10) == entity_id) {
            found = json_incref(row);
            break;
        }
    }
    http_result_free(&r);
    return found;
}

static void assert_audited_by_token(const json_t *row)
{
    assert_non_null(row);
    assert_string_equal(jstr(row, "actor_type"), "api_token");
    assert_non_null(json_object_get(row, "actor_id"));
    assert_string_equal(jstr(row, "ip"), "127.0.0.1");
}

/* ---- clients ------------------------------------------------------------ */

static void client_create_get_update_roundtrip(void **state)
{
    struct snapshot before = snap();
    struct http_result r = bb_api("POST", "/api/admin/clients",
                                  "{\"email\":\"Alice@Example.COM\",\"first_name\":\"Alice\","
                                  "\"last_name\":\"Liddell\",\"company\":\"Wonder Ltd\","
                                  "\"country\":\"GB\",\"currency\":\"GBP\","
                                  "\"password\":\"rabbit-hole-42\"}");
    expect_status(&r, 201);
    int64_t id = jint(r.json, "id");
    assert_true(id > 0);
    assert_string_equal(jstr(r.json, "email"), "alice@example.com");
    assert_string_equal(jstr(r.json, "first_name"), "Alice");
    assert_string_equal(jstr(r.json, "company"), "Wonder Ltd");
    assert_string_equal(jstr(r.json, "currency"), "gbp");
    assert_string_equal(jstr(r.json, "status"), "active");
    assert_string_equal(jstr(r.json, "address2"), "");
    assert_int_equal(strlen(jstr(r.json, "created_at")), UTC_ISO_LEN - 1);
    assert_null(json_object_get(r.json, "password"));
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    free(loc);
    http_result_free(&r);

    struct snapshot after = snap();
    assert_int_equal(after.users, before.users + 1);
    assert_int_equal(after.audit, before.audit + 1);
    /* The password is kept, as an argon2id hash. */
    assert_int_equal(argon2_users("alice@example.com"), 1);

    r = bb_apif("GET", NULL, "/api/admin/clients/%" PRId64, id);
    expect_status(&r, 200);
    assert_int_equal(jint(r.json, "id"), id);
    assert_string_equal(jstr(r.json, "last_name"), "Liddell");
    http_result_free(&r);

    r = bb_apif("PATCH",
                "{\"company\":\"Looking Glass plc\",\"status\":\"disabled\",\"phone\":null}",
                "/api/admin/clients/%" PRId64, id);
    expect_status(&r, 200);
    assert_string_equal(jstr(r.json, "company"), "Looking Glass plc");
    assert_string_equal(jstr(r.json, "status"), "disabled");
    assert_string_equal(jstr(r.json, "first_name"), "Alice");
    http_result_free(&r);

    r = bb_apif("GET", NULL, "/api/admin/clients/%" PRId64, id);
    expect_status(&r, 200);
    assert_string_equal(jstr(r.json, "company"), "Looking Glass plc");
    assert_string_equal(jstr(r.json, "status"), "disabled");
    http_result_free(&r);

    json_t *row = audit_row("client", id, "CLIENT_CREATED");
    assert_audited_by_token(row);
    json_t *details = json_object_get(row, "details");
    assert_string_equal(jstr(details, "email"), "alice@example.com");
    assert_null(json_object_get(details, "password"));
    json_decref(row);

    row = audit_row("client", id, "CLIENT_UPDATED");
    assert_audited_by_token(row);
    json_t *company =
        json_object_get(json_object_get(json_object_get(row, "details"), "changed"), "company");
    assert_string_equal(jstr(company, "from"), "Wonder Ltd");
    assert_string_equal(jstr(company, "to"), "Looking Glass plc");
    json_decref(row);
}

static void client_password_change_is_audited_without_the_password(void **state)
{
    int64_t id = bb_create_ok("/api/admin/clients", "{\"email\":\"pw@example.com\"}");
    assert_int_equal(bb_count("SELECT COUNT(*) FROM users WHERE email = 'pw@example.com'"
                              " AND password_hash IS NULL"),
                     1);
    struct http_result r =
        bb_apif("PATCH", "{\"password\":\"a-new-long-secret\"}", "/api/admin/clients/%" PRId64, id);
    expect_status(&r, 200);
    http_result_free(&r);
    assert_int_equal(argon2_users("pw@example.com"), 1);
    json_t *row = audit_row("client", id, "CLIENT_UPDATED");
    assert_non_null(row);
    char *text = json_dumps(row, 0);
    assert_null(strstr(text, "a-new-long-secret"));
    assert_null(strstr(text, "argon2"));
    free(text);
    json_decref(row);
}

struct bad_member {
    const char *key;
    const char *value; /* JSON literal; NULL removes the member */
    const char *needle;
};

static void client_create_rejects_bad_input_and_changes_nothing(void **state)
{
    static const char base[] = "{\"email\":\"bob@example.com\"}";
    char long_email[300] = "\"";
    memset(long_email + 1, 'a', 250);
    memcpy(long_email + 251, "@example.com\"", 14);
    char long_name[260] = "\"";
    memset(long_name + 1, 'n', 201);
    memcpy(long_name + 202, "\"", 2);
    const struct bad_member cases[] = {
        {"email", NULL, "'email'"},
        {"email", "\"no-at-sign\"", "'email'"},
        {"email", "\"two@at@signs.example\"", "'email'"},
        {"email", "\"with space@example.com\"", "'email'"},
        {"email", "\"@example.com\"", "'email'"},
        {"email", long_email, "'email'"},
        {"email", "42", "'email'"},
        {"first_name", "5", "'first_name'"},
        {"last_name", long_name, "'last_name'"},
        {"currency", "\"xyz\"", "'currency'"},
        {"currency", "1", "'currency'"},
        {"password", "\"short\"", "'password'"},
        {"password", "12345678", "'password'"},
        {"role", "\"admin\"", "unknown field 'role'"},
        {"status", "\"active\"", "unknown field 'status'"},
        {"password_hash", "\"x\"", "unknown field 'password_hash'"},
    };
    struct snapshot before = snap();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = with_member(base, cases[i].key, cases[i].value);
        struct http_result r = bb_api("POST", "/api/admin/clients", body);
        expect_error(&r, 400, "invalid_request", cases[i].needle);
        http_result_free(&r);
        free(body);
    }
    struct http_result r = bb_api("POST", "/api/admin/clients", "{\"email\":");
    expect_error(&r, 400, "invalid_request", "JSON");
    http_result_free(&r);
    r = bb_api("POST", "/api/admin/clients", "[\"bob@example.com\"]");
    expect_error(&r, 400, "invalid_request", "object");
    http_result_free(&r);
    assert_unchanged(before);
}

static void client_duplicate_email_conflicts(void **state)
{
    bb_create_ok("/api/admin/clients", "{\"email\":\"carol@example.com\"}");
    struct snapshot before = snap();
    struct http_result r =
        bb_api("POST", "/api/admin/clients", "{\"email\":\"CAROL@example.com\"}");
    expect_error(&r, 409, "conflict", "a user with e-mail carol@example.com already exists");
    http_result_free(&r);
    /* Admins share the e-mail namespace. */
    r = bb_api("POST", "/api/admin/clients", "{\"email\":\"" ADMIN_EMAIL "\"}");
    expect_error(&r, 409, "conflict", ADMIN_EMAIL);
    http_result_free(&r);
    assert_unchanged(before);
}

static void client_update_rejects_bad_input_and_changes_nothing(void **state)
{
    int64_t id = bb_create_ok("/api/admin/clients",
                              "{\"email\":\"dave@example.com\",\"first_name\":\"Dave\"}");
    bb_create_ok("/api/admin/clients", "{\"email\":\"erin@example.com\"}");
    struct http_result orig = bb_apif("GET", NULL, "/api/admin/clients/%" PRId64, id);
    expect_status(&orig, 200);
    const struct bad_member cases[] = {
        {"nickname", "\"d\"", "unknown field 'nickname'"},
        {"id", "7", "unknown field 'id'"},
        {"status", "\"gone\"", "'status'"},
        {"status", "null", "'status'"},
        {"email", "\"not an email\"", "'email'"},
        {"email", "null", "'email'"},
        {"currency", "\"dollars\"", "'currency'"},
        {"first_name", "[]", "'first_name'"},
        {"password", "\"short\"", "'password'"},
    };
    struct snapshot before = snap();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = with_member("{}", cases[i].key, cases[i].value);
        struct http_result r = bb_apif("PATCH", body, "/api/admin/clients/%" PRId64, id);
        expect_error(&r, 400, "invalid_request", cases[i].needle);
        http_result_free(&r);
        free(body);
    }
    struct http_result r = bb_apif("PATCH", "{}", "/api/admin/clients/%" PRId64, id);
    expect_error(&r, 400, "invalid_request", "field");
    http_result_free(&r);
    /* A valid change together with an invalid one applies neither. */
    r = bb_apif("PATCH", "{\"company\":\"X\",\"currency\":\"nope\"}", "/api/admin/clients/%" PRId64,
                id);
    expect_error(&r, 400, "invalid_request", "'currency'");
    http_result_free(&r);
    r = bb_apif("PATCH", "{\"email\":\"Erin@example.com\",\"company\":\"X\"}",
                "/api/admin/clients/%" PRId64, id);
    expect_error(&r, 409, "conflict", "erin@example.com");
    http_result_free(&r);
    assert_unchanged(before);

    r = bb_apif("GET", NULL, "/api/admin/clients/%" PRId64, id);
    expect_status(&r, 200);
    assert_true(json_equal(r.json, orig.json));
    http_result_free(&r);
    http_result_free(&orig);
}

static void client_unknown_ids_are_not_found(void **state)
{
    int64_t admin_id = 0;
    const char *p[] = {ADMIN_EMAIL};
    assert_int_equal(
        db_query_int64(bb_db(), "SELECT id FROM users WHERE email = $1", 1, p, &admin_id, NULL), 0);
    struct snapshot before = snap();
    static const char *const paths[] = {"abc", "0", "-1", "999999", "1.5", "99999999999999999999"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct http_result r = bb_apif("GET", NULL, "/api/admin/clients/%s", paths[i]);
        expect_error(&r, 404, "not_found", "not found");
        http_result_free(&r);
        r = bb_apif("PATCH", "{\"company\":\"x\"}", "/api/admin/clients/%s", paths[i]);
        expect_error(&r, 404, "not_found", "not found");
        http_result_free(&r);
    }
    /* An admin is a user but not a client. */
    struct http_result r = bb_apif("GET", NULL, "/api/admin/clients/%" PRId64, admin_id);
    expect_error(&r, 404, "not_found", "not found");
    http_result_free(&r);
    r = bb_apif("PATCH", "{\"company\":\"x\"}", "/api/admin/clients/%" PRId64, admin_id);
    expect_error(&r, 404, "not_found", "not found");
    http_result_free(&r);
    assert_unchanged(before);
}

static void client_list_pages_in_id_order_and_skips_admins(void **state)
{
    char body[128];
    for (int i = 0; i < 7; i++) {
        snprintf(body, sizeof body, "{\"email\":\"page%d@example.com\"}", i);
        bb_create_ok("/api/admin/clients", body);
    }
    int64_t total = bb_count("SELECT COUNT(*) FROM users WHERE role = 'client'");
    int64_t ids[512];
    size_t n = collect_ids("/api/admin/clients", 3, ids, 512);
    assert_int_equal(n, total);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] > ids[i - 1]);
    /* Page size exactly dividing the total ends with a null cursor too. */
    n = collect_ids("/api/admin/clients", (int)total, ids, 512);
    assert_int_equal(n, total);

    struct http_result r = bb_api("GET", "/api/admin/clients", NULL);
    expect_status(&r, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), total < 50 ? total : 50);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    char *text = json_dumps(r.json, 0);
    assert_null(strstr(text, ADMIN_EMAIL));
    free(text);
    http_result_free(&r);

    static const char *const bad[] = {
        "limit=0", "limit=201", "limit=abc", "limit=", "cursor=abc", "cursor=-1", "cursor=1x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = bb_apif("GET", NULL, "/api/admin/clients?%s", bad[i]);
        expect_error(&r, 400, "invalid_request", bad[i][0] == 'l' ? "limit" : "cursor");
        http_result_free(&r);
    }
}

/* ---- products ----------------------------------------------------------- */

static const char PRODUCT[] = "{\"name\":\"Game S\",\"type\":\"game_server\",\"price\":1500,"
                              "\"currency\":\"usd\",\"billing_cycle\":\"monthly\"}";

static void product_create_with_defaults_and_full_fields(void **state)
{
    struct snapshot before = snap();
    struct http_result r = bb_api("POST", "/api/admin/products", PRODUCT);
    expect_status(&r, 201);
    int64_t id = jint(r.json, "id");
    assert_string_equal(jstr(r.json, "name"), "Game S");
    assert_string_equal(jstr(r.json, "type"), "game_server");
    assert_int_equal(jint(r.json, "price"), 1500);
    assert_string_equal(jstr(r.json, "currency"), "usd");
    assert_string_equal(jstr(r.json, "billing_cycle"), "monthly");
    assert_string_equal(jstr(r.json, "autosetup"), "payment");
    assert_string_equal(jstr(r.json, "fill_strategy"), "least_full");
    assert_string_equal(jstr(r.json, "description"), "");
    assert_int_equal(jint(r.json, "setup_fee"), 0);
    assert_true(json_is_true(json_object_get(r.json, "active")));
    assert_true(json_is_null(json_object_get(r.json, "server_id")));
    assert_true(json_is_null(json_object_get(r.json, "server_group")));
    assert_true(json_is_object(json_object_get(r.json, "config")));
    assert_int_equal(json_object_size(json_object_get(r.json, "config")), 0);
    http_result_free(&r);
    struct snapshot after = snap();
    assert_int_equal(after.products, before.products + 1);
    assert_int_equal(after.audit, before.audit + 1);

    int64_t server = insert_server("ptero-1");
    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"name\":\"VPS L\",\"description\":\"4 cores\",\"type\":\"vps\",\"server_id\":%" PRId64
        ",\"server_group\":\"eu\",\"fill_strategy\":\"in_order\",\"price\":2999,"
        "\"currency\":\"EUR\",\"billing_cycle\":\"annually\",\"setup_fee\":500,"
        "\"autosetup\":\"order\",\"active\":false,"
        "\"config\":{\"package_id\":3,\"hypervisor_group_id\":1,\"hostname\":\"vm\"}}",
        server);
    r = bb_api("POST", "/api/admin/products", body);
    expect_status(&r, 201);
    int64_t id2 = jint(r.json, "id");
    assert_true(id2 > id);
    assert_int_equal(jint(r.json, "server_id"), server);
    assert_string_equal(jstr(r.json, "server_group"), "eu");
    assert_string_equal(jstr(r.json, "fill_strategy"), "in_order");
    assert_string_equal(jstr(r.json, "currency"), "eur");
    assert_int_equal(jint(r.json, "setup_fee"), 500);
    assert_string_equal(jstr(r.json, "autosetup"), "order");
    assert_true(json_is_false(json_object_get(r.json, "active")));
    json_t *config = json_object_get(r.json, "config");
    assert_int_equal(jint(config, "package_id"), 3);
    assert_string_equal(jstr(config, "hostname"), "vm");
    http_result_free(&r);

    /* config is stored as canonical JSON text. */
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRId64, id2);
    const char *p[] = {id_text, "{\"hostname\":\"vm\",\"hypervisor_group_id\":1,\"package_id\":3}"};
    assert_int_equal(
        count_sqlp("SELECT COUNT(*) FROM products WHERE id = $1 AND config = $2", 2, p), 1);

    r = bb_apif("GET", NULL, "/api/admin/products/%" PRId64, id2);
    expect_status(&r, 200);
    assert_string_equal(jstr(r.json, "name"), "VPS L");
    assert_string_equal(jstr(r.json, "description"), "4 cores");
    assert_int_equal(jint(json_object_get(r.json, "config"), "hypervisor_group_id"), 1);
    http_result_free(&r);

    json_t *row = audit_row("product", id2, "PRODUCT_CREATED");
    assert_audited_by_token(row);
    json_t *details = json_object_get(row, "details");
    assert_string_equal(jstr(details, "name"), "VPS L");
    assert_int_equal(jint(details, "price"), 2999);
    json_decref(row);
}

static void product_create_rejects_bad_input_and_changes_nothing(void **state)
{
    const struct bad_member cases[] = {
        {"name", NULL, "'name'"},
        {"name", "\"\"", "'name'"},
        {"name", "5", "'name'"},
        {"type", NULL, "'type'"},
        {"type", "\"vm\"", "'type'"},
        {"price", NULL, "'price'"},
        {"price", "15.5", "'price'"},
        {"price", "15.0", "'price'"},
        {"price", "\"1500\"", "'price'"},
        {"price", "-1", "'price'"},
        {"price", "true", "'price'"},
        {"currency", NULL, "'currency'"},
        {"currency", "\"zzz\"", "'currency'"},
        {"currency", "\"usdollar\"", "'currency'"},
        {"billing_cycle", NULL, "'billing_cycle'"},
        {"billing_cycle", "\"weekly\"", "'billing_cycle'"},
        {"autosetup", "\"sometimes\"", "'autosetup'"},
        {"fill_strategy", "\"random\"", "'fill_strategy'"},
        {"setup_fee", "-5", "'setup_fee'"},
        {"setup_fee", "2.5", "'setup_fee'"},
        {"server_id", "999999", "server 999999 does not exist"},
        {"server_id", "0", "'server_id'"},
        {"server_id", "\"1\"", "'server_id'"},
        {"server_group", "7", "'server_group'"},
        {"config", "[1,2]", "'config'"},
        {"config", "\"{}\"", "'config'"},
        {"active", "\"yes\"", "'active'"},
        {"description", "{}", "'description'"},
        {"colour", "\"red\"", "unknown field 'colour'"},
        {"id", "1", "unknown field 'id'"},
    };
    struct snapshot before = snap();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = with_member(PRODUCT, cases[i].key, cases[i].value);
        struct http_result r = bb_api("POST", "/api/admin/products", body);
        expect_error(&r, 400, "invalid_request", cases[i].needle);
        http_result_free(&r);
        free(body);
    }
    struct http_result r = bb_api("POST", "/api/admin/products", "not json");
    expect_error(&r, 400, "invalid_request", "JSON");
    http_result_free(&r);
    assert_unchanged(before);
}

static void product_update_changes_only_given_fields(void **state)
{
    int64_t id = bb_create_ok("/api/admin/products", PRODUCT);
    int64_t server = insert_server("ptero-2");
    char body[256];
    snprintf(body, sizeof body,
             "{\"price\":1750,\"active\":false,\"server_id\":%" PRId64
             ",\"config\":{\"nest_id\":1,\"egg_id\":4}}",
             server);
    struct http_result r = bb_apif("PATCH", body, "/api/admin/products/%" PRId64, id);
    expect_status(&r, 200);
    assert_int_equal(jint(r.json, "price"), 1750);
    assert_true(json_is_false(json_object_get(r.json, "active")));
    assert_int_equal(jint(r.json, "server_id"), server);
    assert_int_equal(jint(json_object_get(r.json, "config"), "egg_id"), 4);
    assert_string_equal(jstr(r.json, "name"), "Game S");
    assert_string_equal(jstr(r.json, "billing_cycle"), "monthly");
    http_result_free(&r);

    json_t *row = audit_row("product", id, "PRODUCT_UPDATED");
    assert_audited_by_token(row);
    json_t *changed = json_object_get(json_object_get(row, "details"), "changed");
    assert_int_equal(jint(json_object_get(changed, "price"), "from"), 1500);
    assert_int_equal(jint(json_object_get(changed, "price"), "to"), 1750);
    assert_true(json_is_true(json_object_get(json_object_get(changed, "active"), "from")));
    assert_null(json_object_get(changed, "name"));
    json_decref(row);

    /* null clears the optional links; the same values again write nothing. */
    r = bb_apif("PATCH", "{\"server_id\":null,\"config\":null}", "/api/admin/products/%" PRId64,
                id);
    expect_status(&r, 200);
    assert_true(json_is_null(json_object_get(r.json, "server_id")));
    assert_int_equal(json_object_size(json_object_get(r.json, "config")), 0);
    http_result_free(&r);
    struct snapshot before = snap();
    r = bb_apif("PATCH", "{\"price\":1750,\"currency\":\"USD\"}", "/api/admin/products/%" PRId64,
                id);
    expect_status(&r, 200);
    http_result_free(&r);
    assert_unchanged(before);
}

static void product_update_rejects_bad_input_and_changes_nothing(void **state)
{
    int64_t id = bb_create_ok("/api/admin/products", PRODUCT);
    struct http_result orig = bb_apif("GET", NULL, "/api/admin/products/%" PRId64, id);
    expect_status(&orig, 200);
    const struct bad_member cases[] = {
        {"price", "1.5", "'price'"},
        {"price", "\"10\"", "'price'"},
        {"price", "null", "'price'"},
        {"name", "\"\"", "'name'"},
        {"name", "null", "'name'"},
        {"server_id", "424242", "server 424242 does not exist"},
        {"type", "\"dedicated\"", "'type'"},
        {"currency", "\"abc\"", "'currency'"},
        {"active", "1", "'active'"},
        {"active", "null", "'active'"},
        {"config", "[]", "'config'"},
        {"created_at", "\"2020-01-01T00:00:00Z\"", "unknown field 'created_at'"},
    };
    struct snapshot before = snap();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = with_member("{\"description\":\"changed\"}", cases[i].key, cases[i].value);
        struct http_result r = bb_apif("PATCH", body, "/api/admin/products/%" PRId64, id);
        expect_error(&r, 400, "invalid_request", cases[i].needle);
        http_result_free(&r);
        free(body);
    }
    struct http_result r = bb_apif("PATCH", "{}", "/api/admin/products/%" PRId64, id);
    expect_error(&r, 400, "invalid_request", "field");
    http_result_free(&r);
    static const char *const missing[] = {"abc", "0", "999999"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        r = bb_apif("PATCH", "{\"price\":1}", "/api/admin/products/%s", missing[i]);
        expect_error(&r, 404, "not_found", "not found");
        http_result_free(&r);
        r = bb_apif("GET", NULL, "/api/admin/products/%s", missing[i]);
        expect_error(&r, 404, "not_found", "not found");
        http_result_free(&r);
    }
    assert_unchanged(before);

    r = bb_apif("GET", NULL, "/api/admin/products/%" PRId64, id);
    expect_status(&r, 200);
    assert_true(json_equal(r.json, orig.json));
    http_result_free(&r);
    http_result_free(&orig);
}

static void product_delete_refused_while_a_service_uses_it(void **state)
{
    int64_t client = bb_create_ok("/api/admin/clients", "{\"email\":\"owner-of-svc@example.com\"}");
    int64_t used = bb_create_ok("/api/admin/products", PRODUCT);
    int64_t unused = bb_create_ok("/api/admin/products", PRODUCT);
    insert_service(client, used, "lumi-svc-bb-catalogue-1");

    struct snapshot before = snap();
    struct http_result r = bb_apif("DELETE", NULL, "/api/admin/products/%" PRId64, used);
    char expected[128];
    snprintf(expected, sizeof expected,
             "product %" PRId64 " is used by 1 service; set active=false instead", used);
    expect_error(&r, 409, "conflict", expected);
    http_result_free(&r);
    insert_service(client, used, "lumi-svc-bb-catalogue-2");
    before = snap();
    r = bb_apif("DELETE", NULL, "/api/admin/products/%" PRId64, used);
    snprintf(expected, sizeof expected, "product %" PRId64 " is used by 2 services", used);
    expect_error(&r, 409, "conflict", expected);
    http_result_free(&r);
    assert_unchanged(before);
    r = bb_apif("GET", NULL, "/api/admin/products/%" PRId64, used);
    expect_status(&r, 200);
    http_result_free(&r);

    r = bb_apif("DELETE", NULL, "/api/admin/products/%" PRId64, unused);
    expect_status(&r, 204);
    assert_int_equal(r.body.len, 0);
    http_result_free(&r);
    struct snapshot after = snap();
    assert_int_equal(after.products, before.products - 1);
    assert_int_equal(after.audit, before.audit + 1);
    r = bb_apif("GET", NULL, "/api/admin/products/%" PRId64, unused);
    expect_error(&r, 404, "not_found", "not found");
    http_result_free(&r);
    r = bb_apif("DELETE", NULL, "/api/admin/products/%" PRId64, unused);
    expect_error(&r, 404, "not_found", "not found");
    http_result_free(&r);
    r = bb_api("DELETE", "/api/admin/products/nope", NULL);
    expect_error(&r, 404, "not_found", "not found");
    http_result_free(&r);

    json_t *row = audit_row("product", unused, "PRODUCT_DELETED");
    assert_audited_by_token(row);
    json_decref(row);
    assert_null(audit_row("product", used, "PRODUCT_DELETED"));
}

static void product_list_pages_in_id_order(void **state)
{
    for (int i = 0; i < 5; i++)
        bb_create_ok("/api/admin/products", PRODUCT);
    int64_t total = bb_count("SELECT COUNT(*) FROM products");
    int64_t ids[512];
    size_t n = collect_ids("/api/admin/products", 2, ids, 512);
    assert_int_equal(n, total);
    for (size_t i = 1; i < n; i++)
        assert_true(ids[i] > ids[i - 1]);
    n = collect_ids("/api/admin/products", 200, ids, 512);
    assert_int_equal(n, total);

    struct http_result r = bb_api("GET", "/api/admin/products?limit=1", NULL);
    expect_status(&r, 200);
    json_t *first = json_array_get(json_object_get(r.json, "data"), 0);
    assert_true(json_is_object(json_object_get(first, "config")));
    assert_true(json_is_integer(json_object_get(first, "price")));
    assert_true(json_is_string(json_object_get(r.json, "next_cursor")));
    http_result_free(&r);

    static const char *const bad[] = {"limit=0",  "limit=500", "limit=-3",
                                      "cursor=x", "cursor=",   "cursor=1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = bb_apif("GET", NULL, "/api/admin/products?%s", bad[i]);
        expect_error(&r, 400, "invalid_request", bad[i][0] == 'l' ? "limit" : "cursor");
        http_result_free(&r);
    }
}

static void catalogue_needs_admin_credentials(void **state)
{
    char url[256];
    snprintf(url, sizeof url, "%s/api/admin/products", bb_base_url());
    struct snapshot before = snap();
    struct http_result r;
    assert_int_equal(http_request("POST", url, NULL, PRODUCT, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    snprintf(url, sizeof url, "%s/api/admin/clients", bb_base_url());
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    assert_unchanged(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_create_get_update_roundtrip),
        cmocka_unit_test(client_password_change_is_audited_without_the_password),
        cmocka_unit_test(client_create_rejects_bad_input_and_changes_nothing),
        cmocka_unit_test(client_duplicate_email_conflicts),
        cmocka_unit_test(client_update_rejects_bad_input_and_changes_nothing),
        cmocka_unit_test(client_unknown_ids_are_not_found),
        cmocka_unit_test(client_list_pages_in_id_order_and_skips_admins),
        cmocka_unit_test(product_create_with_defaults_and_full_fields),
        cmocka_unit_test(product_create_rejects_bad_input_and_changes_nothing),
        cmocka_unit_test(product_update_changes_only_given_fields),
        cmocka_unit_test(product_update_rejects_bad_input_and_changes_nothing),
        cmocka_unit_test(product_delete_refused_while_a_service_uses_it),
        cmocka_unit_test(product_list_pages_in_id_order),
        cmocka_unit_test(catalogue_needs_admin_credentials),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

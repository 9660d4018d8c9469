/*
 * test_virtfusion.c — the VirtFusion client against the fake panel: every
 * operation, the request it sends (method, path, token, JSON headers, body
 * fields) and the panel's state afterwards; exactly-once creation when an
 * answer is lost; every error class with its retry decision; the pure
 * parsers. Single-threaded test code; each test starts its own fake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/str.h"
#include "fakes/fake_http.h"
#include "fakes/fake_virtfusion.h"
#include "panels/virtfusion.h"

#define TOKEN "vf-test-token-0123456789"

struct env {
    struct fake_vf *vf;
    struct fake_server *http;
    struct panel_conn conn;
    struct panel_service svc;
    json_t *config;
    char key[64];
    char ext_id[64];
};

static int setup(void **state)
{
    struct env *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->vf = fake_vf_start(TOKEN);
    t->http = fake_vf_http(t->vf);
    t->conn.type = "virtfusion";
    t->conn.url = fake_vf_url(t->vf);
    t->conn.api_key = TOKEN;
    t->conn.server_id = 0; /* unsaved panel: no 0.5 s spacing between calls */
    t->conn.timeout_ms = 5000;
    t->config = json_pack("{s:i, s:i}", "package_id", 1, "hypervisor_group_id", 1);
    str_copy(t->key, "lumi-svc-1", sizeof(t->key));
    t->svc.service_id = 1;
    t->svc.remote_key = t->key;
    t->svc.client_key = "42";
    t->svc.client_email = "ada@example.com";
    t->svc.client_first_name = "Ada";
    t->svc.client_last_name = "Lovelace";
    t->svc.config = t->config;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct env *t = *state;
    fake_vf_stop(t->vf);
    json_decref(t->config);
    free(t);
    return 0;
}

/* ---- helpers ---- */

static void set_config(struct env *t, json_t *cfg)
{
    assert_non_null(cfg);
    json_decref(t->config);
    t->config = cfg;
    t->svc.config = cfg;
}

/* The last request with this method and path (under /api/v1), checked for
 * the token and the JSON headers; its body parsed (NULL when empty). */
static json_t *expect_request(struct env *t, const char *method, const char *path)
{
    char full[256];
    struct fake_recorded r;
    snprintf(full, sizeof(full), "/api/v1%s", path);
    if (fake_find_last(t->http, method, full, &r) != 0)
        fail_msg("no %s %s was sent", method, full);
    assert_string_equal(r.authorization, "Bearer " TOKEN);
    assert_string_equal(r.accept, "application/json");
    assert_string_equal(r.content_type, "application/json");
    json_t *body = NULL;
    if (r.body != NULL && r.body[0] != '\0') {
        body = json_loads(r.body, 0, NULL);
        assert_non_null(body);
    }
    fake_recorded_free(&r);
    return body;
}

/* Requests with this method, path (under /api/v1) and query (NULL: any). */
static size_t count_requests(struct env *t, const char *method, const char *path, const char *query)
{
    char full[256];
    size_t n = 0;
    snprintf(full, sizeof(full), "/api/v1%s", path);
    for (size_t i = 0;; i++) {
        struct fake_recorded r;
        if (fake_recorded(t->http, i, &r) != 0)
            break;
        if (str_eq(r.method, method) && str_eq(r.path, full) &&
            (query == NULL || str_eq(r.query, query)))
            n++;
        fake_recorded_free(&r);
    }
    return n;
}

static int64_t body_int(const json_t *body, const char *key)
{
    const json_t *v = json_object_get(body, key);
    if (!json_is_integer(v))
        fail_msg("body member '%s' is not an integer", key);
    return json_integer_value(v);
}

static const char *body_string(const json_t *body, const char *key)
{
    const char *s = json_string_value(json_object_get(body, key));
    if (s == NULL)
        fail_msg("body member '%s' is not a string", key);
    return s;
}

static void assert_contains(const char *s, const char *part)
{
    if (s == NULL || strstr(s, part) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

static int64_t id_of(const char *s)
{
    int64_t v = 0;
    assert_int_equal(str_to_i64z(s, 1, INT64_MAX, &v), 0);
    return v;
}

/* Creates the env's service and returns the new server's id. */
static int64_t create_ok(struct env *t, struct panel_result *out)
{
    struct panel_result local;
    struct hc_error e;
    if (out == NULL)
        out = &local;
    if (panel_virtfusion.create(&t->conn, &t->svc, out, &e) != 0)
        fail_msg("create failed: %s", e.message);
    return id_of(out->external_id);
}

static void use_external_id(struct env *t, int64_t id)
{
    snprintf(t->ext_id, sizeof(t->ext_id), "%" PRId64, id);
    t->svc.external_id = t->ext_id;
}

/* ---- test_connection ---- */

static void connection_test_reports_hypervisor_groups(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct hc_error e;
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), 0);
    assert_true(out.ok);
    assert_string_equal(out.message, "Connected to VirtFusion: 2 hypervisor groups");
    json_decref(expect_request(t, "GET", "/connect"));
    json_decref(expect_request(t, "GET", "/compute/hypervisors/groups"));
}

static void connection_test_refuses_a_bad_url_before_any_request(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct hc_error e;
    t->conn.url = "ftp://vps.example.com";
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_false(out.ok);
    assert_int_equal(e.cls, HC_INVALID);
    assert_false(e.retryable);
    assert_contains(out.message, "must start with https://");
    t->conn.url = "";
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_contains(out.message, "no VirtFusion URL");
    t->conn.url = "https://";
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_contains(out.message, "no host");
    assert_int_equal(fake_request_count(t->http), 0);
}

static void connection_test_names_a_refused_connection(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct hc_error e;
    char url[64];
    /* A port that just stopped listening. */
    struct fake_vf *gone = fake_vf_start(TOKEN);
    str_copy(url, fake_vf_url(gone), sizeof(url));
    fake_vf_stop(gone);
    t->conn.url = url;
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_false(out.ok);
    assert_int_equal(e.cls, HC_CONNECTION);
    assert_true(e.retryable);
    assert_false(e.ambiguous);
    assert_contains(out.message, "VirtFusion (GET /connect)");
    assert_contains(out.message, "refused");
}

static void connection_test_names_a_rejected_token(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct hc_error e;
    t->conn.api_key = "not-the-token";
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_false(out.ok);
    assert_int_equal(e.cls, HC_AUTH);
    assert_false(e.retryable);
    assert_int_equal(e.http_status, 401);
    assert_contains(out.message, "VirtFusion rejected the API token");
    assert_null(strstr(out.message, "not-the-token"));
    t->conn.api_key = "";
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_contains(out.message, "no VirtFusion API token");
}

static void connection_test_names_a_narrow_token_scope(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct hc_error e;
    fake_vf_set_scope_limited(t->vf, true);
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_false(out.ok);
    assert_int_equal(e.cls, HC_AUTH);
    assert_int_equal(e.http_status, 403);
    assert_contains(out.message, "accepted the API token but refused it for hypervisor groups");
    assert_contains(out.message, "scope");
}

static void connection_test_hints_at_a_wrong_path(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct hc_error e;
    char url[128];
    snprintf(url, sizeof(url), "%s/admin", fake_vf_url(t->vf));
    t->conn.url = url;
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), -1);
    assert_int_equal(e.cls, HC_NOT_FOUND);
    assert_contains(out.message, "is the URL the panel's own address");
    /* A URL given with the API path (and a slash) is accepted as it is. */
    snprintf(url, sizeof(url), "%s/api/v1/", fake_vf_url(t->vf));
    assert_int_equal(panel_virtfusion.test_connection(&t->conn, &out, &e), 0);
}

/* ---- create and find ---- */

static void create_makes_the_user_then_the_server_then_names_it(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    int64_t sid = create_ok(t, &out);
    int64_t uid = fake_vf_user_id(t->vf, 42);
    assert_true(uid > 0);
    assert_int_equal(id_of(out.panel_user_id), uid);
    assert_false(out.suspended);

    json_decref(expect_request(t, "GET", "/users/42/byExtRelation"));
    json_t *b = expect_request(t, "POST", "/users");
    assert_string_equal(body_string(b, "name"), "Ada Lovelace");
    assert_string_equal(body_string(b, "email"), "ada@example.com");
    assert_int_equal(body_int(b, "extRelationId"), 42);
    assert_true(json_is_false(json_object_get(b, "sendMail")));
    json_decref(b);

    /* A dry run first, then the real thing with the same body. */
    assert_int_equal(count_requests(t, "POST", "/servers", "dryRun=true"), 1);
    assert_int_equal(count_requests(t, "POST", "/servers", ""), 1);
    b = expect_request(t, "POST", "/servers");
    assert_int_equal(body_int(b, "packageId"), 1);
    assert_int_equal(body_int(b, "userId"), uid);
    assert_int_equal(body_int(b, "hypervisorId"), 1);
    assert_int_equal(body_int(b, "ipv4"), 1);
    json_decref(b);

    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/modify/name", sid);
    b = expect_request(t, "PUT", path);
    assert_string_equal(body_string(b, "name"), "lumi-svc-1");
    json_decref(b);
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/build", sid);
    assert_int_equal(count_requests(t, "POST", path, NULL), 0);

    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(t->vf, "lumi-svc-1", &s));
    assert_int_equal(s.id, sid);
    assert_int_equal(s.owner_id, uid);
    assert_int_equal(s.package_id, 1);
    assert_int_equal(s.hypervisor_group_id, 1);
    assert_int_equal(s.ipv4, 1);
    assert_false(s.built);
    assert_int_equal(fake_vf_server_count(t->vf), 1);
    assert_int_equal(fake_vf_user_count(t->vf), 1);
}

static void create_with_an_os_template_builds_with_name_and_hostname(void **state)
{
    struct env *t = *state;
    set_config(t, json_pack("{s:i, s:i, s:i, s:i, s:s}", "package_id", 2, "hypervisor_group_id", 2,
                            "ipv4", 2, "os_template_id", 101, "hostname", "cfg.example.com"));
    t->svc.hostname = "vm1.example.com";
    int64_t sid = create_ok(t, NULL);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/build", sid);
    json_t *b = expect_request(t, "POST", path);
    assert_int_equal(body_int(b, "operatingSystemId"), 101);
    assert_string_equal(body_string(b, "name"), "lumi-svc-1");
    assert_string_equal(body_string(b, "hostname"), "vm1.example.com");
    json_decref(b);
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/modify/name", sid);
    assert_int_equal(count_requests(t, "PUT", path, NULL), 0);
    b = expect_request(t, "POST", "/servers");
    assert_int_equal(body_int(b, "ipv4"), 2);
    assert_int_equal(body_int(b, "hypervisorId"), 2);
    json_decref(b);

    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(t->vf, "lumi-svc-1", &s));
    assert_true(s.built);
    assert_int_equal(s.os_template_id, 101);
    assert_string_equal(s.hostname, "vm1.example.com");
    assert_int_equal(s.package_id, 2);

    /* Without a service hostname the product's is used. */
    str_copy(t->key, "lumi-svc-2", sizeof(t->key));
    t->svc.hostname = NULL;
    create_ok(t, NULL);
    assert_true(fake_vf_server_by_name(t->vf, "lumi-svc-2", &s));
    assert_string_equal(s.hostname, "cfg.example.com");
    assert_int_equal(fake_vf_user_count(t->vf), 1);
}

static void create_reuses_the_user_with_the_client_id(void **state)
{
    struct env *t = *state;
    int64_t uid = fake_vf_add_user(t->vf, 42, "ada@example.com");
    struct panel_result out;
    create_ok(t, &out);
    assert_int_equal(id_of(out.panel_user_id), uid);
    assert_int_equal(count_requests(t, "POST", "/users", NULL), 0);
    assert_int_equal(fake_vf_user_count(t->vf), 1);
    char path[64];
    snprintf(path, sizeof(path), "/servers/user/%" PRId64, uid);
    json_decref(expect_request(t, "GET", path));
}

static void create_refuses_bad_config_and_keys_before_any_request(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    set_config(t, json_pack("{s:i}", "hypervisor_group_id", 1));
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_false(e.retryable);
    assert_contains(e.message, "product config: field 'package_id' is required");

    set_config(t, json_pack("{s:i}", "package_id", 1));
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_contains(e.message, "hypervisor_group_id");

    set_config(t, json_pack("{s:s, s:i}", "package_id", "one", "hypervisor_group_id", 1));
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_contains(e.message, "package_id");

    set_config(t, json_pack("{s:i, s:i}", "package_id", 1, "hypervisor_group_id", 1));
    t->svc.client_key = "client-42";
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_contains(e.message, "extRelationId");

    t->svc.client_key = "42";
    t->svc.remote_key = "";
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_contains(e.message, "remote key");
    assert_int_equal(fake_request_count(t->http), 0);
}

static void create_reports_the_panels_validation_messages(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    set_config(t, json_pack("{s:i, s:i}", "package_id", 9, "hypervisor_group_id", 7));
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_false(e.retryable);
    assert_int_equal(e.http_status, 422);
    assert_contains(e.message, "The selected package id is invalid.; "
                               "The selected hypervisor id is invalid.");
    /* The dry run caught it: no real creation was attempted. */
    assert_int_equal(count_requests(t, "POST", "/servers", "dryRun=true"), 1);
    assert_int_equal(count_requests(t, "POST", "/servers", ""), 0);
    assert_int_equal(fake_vf_server_count(t->vf), 0);

    /* No e-mail: VirtFusion cannot have the user. */
    t->svc.client_email = NULL;
    t->svc.client_key = "43";
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_contains(e.message, "e-mail");
}

static void find_says_not_found_without_user_or_server(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 0);
    json_decref(expect_request(t, "GET", "/users/42/byExtRelation"));
    assert_int_equal(fake_request_count(t->http), 1);

    int64_t uid = fake_vf_add_user(t->vf, 42, "ada@example.com");
    fake_vf_add_server(t->vf, uid, 1, "lumi-svc-7", false);
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 0);
}

static void find_adopts_the_server_named_with_the_key(void **state)
{
    struct env *t = *state;
    struct panel_result created, found;
    struct hc_error e;
    create_ok(t, &created);
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &found, &e), 1);
    assert_string_equal(found.external_id, created.external_id);
    assert_string_equal(found.panel_user_id, created.panel_user_id);
    assert_false(found.suspended);
    /* Creating again adopts it too: nothing new on the panel. */
    struct panel_result again;
    create_ok(t, &again);
    assert_string_equal(again.external_id, created.external_id);
    assert_int_equal(fake_vf_server_count(t->vf), 1);
    assert_int_equal(count_requests(t, "POST", "/servers", ""), 1);
}

static void a_lost_create_answer_is_resumed_not_duplicated(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    fake_vf_lose_next_create(t->vf);
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_TIMEOUT);
    assert_true(e.retryable);
    assert_true(e.ambiguous);
    /* The panel did create it, under its own name. */
    assert_int_equal(fake_vf_server_count(t->vf), 1);
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(t->vf, "server-1", &s));

    /* find only knows named servers; create resumes the orphan. */
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 0);
    int64_t sid = create_ok(t, &out);
    assert_int_equal(sid, s.id);
    assert_int_equal(count_requests(t, "POST", "/servers", ""), 1);
    assert_int_equal(fake_vf_server_count(t->vf), 1);
    assert_true(fake_vf_server_by_name(t->vf, "lumi-svc-1", &s));
    assert_int_equal(s.id, sid);
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 1);
    assert_int_equal(id_of(out.external_id), sid);
}

static void a_failed_build_leaves_an_orphan_that_the_retry_builds(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    /* Template 121 exists only on package 3. */
    set_config(t, json_pack("{s:i, s:i, s:i}", "package_id", 1, "hypervisor_group_id", 1,
                            "os_template_id", 121));
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_contains(e.message, "not available for this package");
    assert_int_equal(fake_vf_server_count(t->vf), 1);

    set_config(t, json_pack("{s:i, s:i, s:i}", "package_id", 1, "hypervisor_group_id", 1,
                            "os_template_id", 102));
    int64_t sid = create_ok(t, &out);
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(t->vf, "lumi-svc-1", &s));
    assert_int_equal(s.id, sid);
    assert_true(s.built);
    assert_int_equal(s.os_template_id, 102);
    assert_int_equal(fake_vf_server_count(t->vf), 1);
}

static void lost_name_and_build_answers_are_found_by_name(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    fake_fault(t->http, FAKE_FAULT_DROP_AFTER, 1, 0, "/modify/name");
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_true(e.ambiguous);
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 1);

    str_copy(t->key, "lumi-svc-2", sizeof(t->key));
    set_config(t, json_pack("{s:i, s:i, s:i}", "package_id", 1, "hypervisor_group_id", 1,
                            "os_template_id", 111));
    fake_fault(t->http, FAKE_FAULT_DROP_AFTER, 1, 0, "/build");
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_true(e.ambiguous);
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 1);
    assert_int_equal(fake_vf_server_count(t->vf), 2);
}

static void several_orphans_are_refused_with_their_ids(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct hc_error e;
    int64_t uid = fake_vf_add_user(t->vf, 42, "ada@example.com");
    int64_t a = fake_vf_add_server(t->vf, uid, 1, NULL, false);
    int64_t b = fake_vf_add_server(t->vf, uid, 1, NULL, false);
    assert_int_equal(panel_virtfusion.create(&t->conn, &t->svc, &out, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_false(e.retryable);
    char ids[64];
    snprintf(ids, sizeof(ids), "ids %" PRId64 ", %" PRId64, a, b);
    assert_contains(e.message, ids);
    assert_contains(e.message, "rename the right one to 'lumi-svc-1'");
    assert_int_equal(count_requests(t, "POST", "/servers", NULL), 0);
    assert_int_equal(fake_vf_server_count(t->vf), 2);
}

static void other_services_and_customer_servers_are_never_orphans(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    int64_t uid = fake_vf_add_user(t->vf, 42, "ada@example.com");
    int64_t other = fake_vf_add_server(t->vf, uid, 1, "lumi-svc-9", false); /* another service */
    int64_t built = fake_vf_add_server(t->vf, uid, 1, "web1", true);        /* built by hand */
    int64_t pkg = fake_vf_add_server(t->vf, uid, 2, NULL, false);           /* other package */
    int64_t stranger = fake_vf_add_server(t->vf, uid + 100, 1, NULL, false);
    int64_t sid = create_ok(t, &out);
    assert_true(sid != other && sid != built && sid != pkg && sid != stranger);
    assert_int_equal(fake_vf_server_count(t->vf), 5);
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(t->vf, "lumi-svc-9", &s));
    assert_int_equal(s.id, other);
}

/* ---- suspend, unsuspend, terminate, package, password, info ---- */

static void suspend_and_unsuspend_are_idempotent(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/suspend", sid);

    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), 0);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s) && s.suspended);
    json_t *b = expect_request(t, "POST", path);
    assert_null(b);
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), 0);
    assert_int_equal(count_requests(t, "POST", path, NULL), 1);

    struct panel_result out;
    assert_int_equal(panel_virtfusion.find(&t->conn, &t->svc, &out, &e), 1);
    assert_true(out.suspended);

    /* Without the external id the server is found by name. */
    t->svc.external_id = NULL;
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/unsuspend", sid);
    assert_int_equal(panel_virtfusion.unsuspend(&t->conn, &t->svc, &e), 0);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s) && !s.suspended);
    json_decref(expect_request(t, "POST", path));
    assert_int_equal(panel_virtfusion.unsuspend(&t->conn, &t->svc, &e), 0);
    assert_int_equal(count_requests(t, "POST", path, NULL), 1);

    /* A service whose server does not exist cannot be suspended. */
    str_copy(t->key, "lumi-svc-404", sizeof(t->key));
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), -1);
    assert_int_equal(e.cls, HC_NOT_FOUND);
    assert_contains(e.message, "no server named 'lumi-svc-404'");
}

static void a_locked_server_is_retried_later(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    fake_vf_set_locked(t->vf, true);
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), -1);
    assert_int_equal(e.cls, HC_UPSTREAM);
    assert_true(e.retryable);
    assert_false(e.ambiguous);
    assert_int_equal(e.http_status, 423);
    assert_contains(e.message, "server is locked by a running task");
    assert_contains(e.message, "Server is locked by a running task. Try again later.");
    assert_true(fake_vf_server_by_id(t->vf, sid, &s) && !s.suspended);
    assert_int_equal(panel_virtfusion.terminate(&t->conn, &t->svc, &e), -1);
    assert_int_equal(e.http_status, 423);
    assert_int_equal(fake_vf_server_count(t->vf), 1);

    fake_vf_set_locked(t->vf, false);
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), 0);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s) && s.suspended);
}

static void terminate_deletes_and_counts_gone_as_done(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64, sid);
    assert_int_equal(panel_virtfusion.terminate(&t->conn, &t->svc, &e), 0);
    json_decref(expect_request(t, "DELETE", path));
    assert_int_equal(fake_vf_server_count(t->vf), 0);
    /* Again: 404 "server not found" is success. */
    assert_int_equal(panel_virtfusion.terminate(&t->conn, &t->svc, &e), 0);
    assert_int_equal(count_requests(t, "DELETE", path, NULL), 2);
    /* Never created (no external id, nothing by that name): nothing to do. */
    t->svc.external_id = NULL;
    assert_int_equal(panel_virtfusion.terminate(&t->conn, &t->svc, &e), 0);
    assert_int_equal(count_requests(t, "DELETE", path, NULL), 2);
    /* The direct call: same rule. */
    assert_int_equal(vf_terminate(&t->conn, t->ext_id, &e), 0);
}

static void change_package_moves_the_server(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    set_config(t, json_pack("{s:i, s:i}", "package_id", 3, "hypervisor_group_id", 1));
    assert_int_equal(panel_virtfusion.change_package(&t->conn, &t->svc, &e), 0);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/package/3", sid);
    json_decref(expect_request(t, "PUT", path));
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_int_equal(s.package_id, 3);

    set_config(t, json_pack("{s:i}", "package_id", 9));
    assert_int_equal(panel_virtfusion.change_package(&t->conn, &t->svc, &e), -1);
    assert_int_equal(e.cls, HC_NOT_FOUND);
    assert_contains(e.message, "package not found");

    /* vf_resize is the same call. */
    assert_int_equal(vf_resize(&t->conn, t->ext_id, 2, &e), 0);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_int_equal(s.package_id, 2);
}

static void sso_url_is_the_panels_endpoint_complete(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    char url[512], want[256];
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    assert_int_equal(panel_virtfusion.login_url(&t->conn, &t->svc, url, sizeof url, &e), 0);
    snprintf(want, sizeof want, "%s/token_authentication?1=vfA", fake_vf_url(t->vf));
    assert_true(str_starts_with(url, want));
    assert_non_null(strstr(url, "&2=vfB"));
    assert_int_equal(fake_vf_sso_count(t->vf), 1);
    /* Another panel user (extRelationId 43 does not exist): the panel's 404, no URL. */
    t->svc.client_key = "43";
    assert_int_equal(panel_virtfusion.login_url(&t->conn, &t->svc, url, sizeof url, &e), -1);
    assert_int_equal(e.cls, HC_NOT_FOUND);
    assert_non_null(strstr(e.message, "ext_relation_id not found"));
    assert_string_equal(url, "");
    /* A URL that does not fit is refused, not cut. */
    t->svc.client_key = "42";
    assert_int_equal(panel_virtfusion.login_url(&t->conn, &t->svc, url, 20, &e), -1);
    assert_int_equal(e.cls, HC_BAD_RESPONSE);
}

static void power_actions_reach_the_server_and_answer_the_queue_id(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    char answer[128];
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    assert_int_equal(
        panel_virtfusion.power(&t->conn, &t->svc, "shutdown", answer, sizeof answer, &e), 0);
    assert_non_null(strstr(answer, "VirtFusion queued the shutdown as task"));
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_string_equal(s.last_power, "shutdown");
    assert_string_equal(s.power, "stopped");
    size_t before = fake_request_count(t->http);
    assert_int_equal(
        panel_virtfusion.power(&t->conn, &t->svc, "poweroff", answer, sizeof answer, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_int_equal(fake_request_count(t->http), before); /* refused before any request */
    /* Locked by a running task: 423, retryable. */
    fake_vf_set_locked(t->vf, true);
    assert_int_equal(panel_virtfusion.power(&t->conn, &t->svc, "boot", answer, sizeof answer, &e),
                     -1);
    assert_true(e.retryable);
    fake_vf_set_locked(t->vf, false);
}

static void reset_password_answers_what_virtfusion_set(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    char pw[64];
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    assert_int_equal(panel_virtfusion.reset_password(&t->conn, &t->svc, pw, sizeof pw, &e), 0);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_string_equal(pw, s.last_password);
    assert_null(panel_pterodactyl.power);
    assert_null(panel_pterodactyl.login_url);
    assert_null(panel_directadmin.power);
    assert_non_null(panel_directadmin.login_url);
}

static void passwords_are_chosen_by_virtfusion(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    char pw[64];
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    assert_int_equal(panel_virtfusion.change_password(&t->conn, &t->svc, "ignored-pw", &e), 0);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/resetPassword", sid);
    json_t *b = expect_request(t, "POST", path);
    assert_string_equal(body_string(b, "user"), "root");
    assert_true(json_is_false(json_object_get(b, "sendMail")));
    json_decref(b);
    struct fake_recorded r;
    char full[80];
    snprintf(full, sizeof(full), "/api/v1%s", path);
    assert_int_equal(fake_find_last(t->http, "POST", full, &r), 0);
    assert_null(strstr(r.body, "ignored-pw"));
    fake_recorded_free(&r);

    assert_int_equal(vf_reset_password(&t->conn, t->ext_id, pw, sizeof(pw), &e), 0);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_string_equal(pw, s.last_password);
    assert_int_equal(count_requests(t, "POST", path, NULL), 2);
    /* Too small a buffer is an error, never a cut password. */
    char tiny[4];
    assert_int_equal(vf_reset_password(&t->conn, t->ext_id, tiny, sizeof(tiny), &e), -1);
    assert_int_equal(e.cls, HC_BAD_RESPONSE);
    assert_string_equal(tiny, "");
}

static void info_and_get_return_the_server_object(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    int64_t sid = create_ok(t, NULL);
    json_t *info = panel_virtfusion.info(&t->conn, &t->svc, &e); /* found by name */
    assert_non_null(info);
    assert_int_equal(json_integer_value(json_object_get(info, "id")), sid);
    assert_string_equal(json_string_value(json_object_get(info, "name")), "lumi-svc-1");
    json_decref(info);
    use_external_id(t, sid);
    json_t *srv = vf_get_server(&t->conn, t->ext_id, &e);
    assert_non_null(srv);
    assert_non_null(json_object_get(srv, "uuid"));
    json_decref(srv);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64, sid);
    json_decref(expect_request(t, "GET", path));

    assert_null(vf_get_server(&t->conn, "999", &e));
    assert_int_equal(e.cls, HC_NOT_FOUND);
    assert_false(e.retryable);
    assert_contains(e.message, "server not found");
}

static void server_ids_are_checked_before_any_request(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    const char *bad[] = {"", "abc", "12/../users", "-3", "0", "1 2", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_null(vf_get_server(&t->conn, bad[i], &e));
        assert_int_equal(e.cls, HC_INVALID);
        assert_int_equal(vf_terminate(&t->conn, bad[i], &e), -1);
        assert_int_equal(e.cls, HC_INVALID);
    }
    t->svc.external_id = "x1";
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), -1);
    assert_contains(e.message, "'x1' is not a VirtFusion server id");
    assert_int_equal(fake_request_count(t->http), 0);
}

/* ---- extra operations ---- */

static void power_actions_are_queued(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    int64_t q1 = 0, q2 = 0;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    char path[80];
    static const struct {
        int (*fn)(const struct panel_conn *, const char *, int64_t *, struct hc_error *);
        const char *action, *power;
    } cases[] = {{vf_start, "boot", "running"},
                 {vf_shutdown, "shutdown", "stopped"},
                 {vf_reboot, "restart", "running"},
                 {vf_stop, "poweroff", "stopped"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q1 = q2;
        assert_int_equal(cases[i].fn(&t->conn, t->ext_id, &q2, &e), 0);
        assert_true(q2 > q1);
        snprintf(path, sizeof(path), "/servers/%" PRId64 "/power/%s", sid, cases[i].action);
        json_decref(expect_request(t, "POST", path));
        assert_true(fake_vf_server_by_id(t->vf, sid, &s));
        assert_string_equal(s.power, cases[i].power);
    }
    assert_int_equal(vf_start(&t->conn, t->ext_id, NULL, &e), 0);
}

static void reinstall_builds_another_template(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    assert_int_equal(vf_reinstall(&t->conn, t->ext_id, 102, "lumi-svc-1", "new.example.com", &e),
                     0);
    char path[64];
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/build", sid);
    json_t *b = expect_request(t, "POST", path);
    assert_int_equal(body_int(b, "operatingSystemId"), 102);
    json_decref(b);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_int_equal(s.os_template_id, 102);
    assert_string_equal(s.name, "lumi-svc-1");
    assert_string_equal(s.hostname, "new.example.com");
    /* Name and hostname are optional: left alone. */
    assert_int_equal(vf_reinstall(&t->conn, t->ext_id, 111, NULL, NULL, &e), 0);
    b = expect_request(t, "POST", path);
    assert_null(json_object_get(b, "name"));
    assert_null(json_object_get(b, "hostname"));
    json_decref(b);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_int_equal(s.os_template_id, 111);
    assert_string_equal(s.name, "lumi-svc-1");
    assert_int_equal(vf_reinstall(&t->conn, t->ext_id, 0, NULL, NULL, &e), -1);
    assert_int_equal(e.cls, HC_INVALID);
}

static void list_servers_follows_every_page(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    int64_t uid = fake_vf_add_user(t->vf, 42, "ada@example.com");
    for (int i = 0; i < 7; i++)
        fake_vf_add_server(t->vf, uid, 1, NULL, i % 2 == 0);
    json_t *all = vf_list_servers(&t->conn, 3, &e);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 7);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(all, i), "id")),
                         (json_int_t)i + 1);
    json_decref(all);
    assert_int_equal(count_requests(t, "GET", "/servers", "results=3&page=1"), 1);
    assert_int_equal(count_requests(t, "GET", "/servers", "results=3&page=2"), 1);
    assert_int_equal(count_requests(t, "GET", "/servers", "results=3&page=3"), 1);
    assert_int_equal(count_requests(t, "GET", "/servers", NULL), 3);

    /* An exact multiple of the page size stops at the last page too. */
    fake_clear_requests(t->http);
    fake_vf_add_server(t->vf, uid, 1, NULL, false);
    fake_vf_add_server(t->vf, uid, 1, NULL, false);
    all = vf_list_servers(&t->conn, 3, &e);
    assert_int_equal(json_array_size(all), 9);
    json_decref(all);
    assert_int_equal(count_requests(t, "GET", "/servers", NULL), 3);

    /* Empty panel: one request, empty list. */
    struct fake_vf *empty = fake_vf_start(TOKEN);
    t->conn.url = fake_vf_url(empty);
    all = vf_list_servers(&t->conn, 0, &e);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    assert_int_equal(fake_request_count(fake_vf_http(empty)), 1);
    fake_vf_stop(empty);

    /* A user's servers (plain list). */
    t->conn.url = fake_vf_url(t->vf);
    all = vf_list_user_servers(&t->conn, uid, &e);
    assert_int_equal(json_array_size(all), 9);
    json_decref(all);
}

static void catalogue_lists_packages_templates_and_groups(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    json_t *p = vf_list_packages(&t->conn, &e);
    assert_int_equal(json_array_size(p), 3);
    json_decref(p);
    json_decref(expect_request(t, "GET", "/packages"));

    json_t *tpl = vf_list_os_templates(&t->conn, 1, &e);
    assert_non_null(tpl);
    assert_int_equal(json_array_size(tpl), 2); /* Debian, Ubuntu */
    json_t *debian = json_object_get(json_array_get(tpl, 0), "templates");
    assert_int_equal(json_array_size(debian), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(debian, 0), "id")), 101);
    json_decref(tpl);
    json_decref(expect_request(t, "GET", "/media/templates/fromServerPackageSpec/1"));
    tpl = vf_list_os_templates(&t->conn, 3, &e);
    assert_int_equal(json_array_size(tpl), 3); /* + Windows */
    json_decref(tpl);
    assert_null(vf_list_os_templates(&t->conn, 9, &e));
    assert_int_equal(e.cls, HC_NOT_FOUND);

    json_t *g = vf_list_hypervisor_groups(&t->conn, &e);
    assert_int_equal(json_array_size(g), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(g, 1), "name")), "London");
    json_decref(g);
}

static void traffic_console_and_iso(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct fake_vf_server s;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    char path[96], url[256];

    json_t *tr = vf_server_traffic(&t->conn, t->ext_id, &e);
    assert_non_null(tr);
    json_t *m = json_array_get(json_object_get(tr, "monthly"), 0);
    assert_int_equal(json_integer_value(json_object_get(m, "total")), 3500000);
    json_decref(tr);
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/traffic", sid);
    json_decref(expect_request(t, "GET", path));

    /* The console is off: Lumi turns it on, then reads the address. */
    assert_int_equal(vf_console_url(&t->conn, t->ext_id, url, sizeof(url), &e), 0);
    assert_contains(url, "wss://vps.example.com/vnc/");
    snprintf(path, sizeof(path), "/servers/%" PRId64 "/vnc", sid);
    json_t *b = expect_request(t, "POST", path);
    assert_true(json_is_true(json_object_get(b, "vnc")));
    json_decref(b);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s) && s.vnc_enabled);
    json_t *vnc = vf_console(&t->conn, t->ext_id, &e);
    assert_non_null(vnc);
    assert_true(json_is_true(json_object_get(vnc, "enabled")));
    json_decref(vnc);
    assert_int_equal(count_requests(t, "POST", path, NULL), 1);

    char sid_s[24], iso_path[96];
    snprintf(sid_s, sizeof(sid_s), "%" PRId64, sid);
    assert_int_equal(vf_iso_mount(&t->conn, t->ext_id, 5, &e), 0);
    snprintf(iso_path, sizeof(iso_path), VF_ISO_MOUNT_PATH_FMT, sid_s, "5");
    json_decref(expect_request(t, "POST", iso_path));
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_int_equal(s.iso_id, 5);
    assert_int_equal(vf_iso_unmount(&t->conn, t->ext_id, &e), 0);
    snprintf(iso_path, sizeof(iso_path), VF_ISO_UNMOUNT_PATH_FMT, sid_s);
    json_decref(expect_request(t, "POST", iso_path));
    assert_true(fake_vf_server_by_id(t->vf, sid, &s));
    assert_int_equal(s.iso_id, 0);
}

/* ---- error classes ---- */

struct canned {
    int status;
    const char *content_type;
    const char *body;
    const char *retry_after;
};

static void canned_handler(void *state, const struct fake_request *r, struct fake_response *w)
{
    const struct canned *c = state;
    fake_reply(w, c->status, c->content_type, c->body);
    if (c->retry_after != NULL)
        fake_add_header(w, "Retry-After", c->retry_after);
}

/* vf_get_server against a fake that always gives the canned answer. */
static void get_with_answer(const struct canned *c, struct hc_error *e)
{
    struct fake_server *f = fake_start(canned_handler, (void *)c);
    struct panel_conn conn = {.url = fake_url(f), .api_key = TOKEN, .timeout_ms = 5000};
    json_t *v = vf_get_server(&conn, "7", e);
    assert_null(v);
    fake_stop(f);
}

static void error_answers_map_to_classes_with_the_panels_words(void **state)
{
    struct hc_error e;
    static const struct {
        struct canned c;
        enum hc_class cls;
        bool retryable;
        const char *part;
    } cases[] = {
        {{401, "application/json", "", NULL}, HC_AUTH, false, "VirtFusion rejected the API token"},
        {{403, "application/json", "{\"msg\":\"This action is unauthorized.\"}", NULL},
         HC_AUTH,
         false,
         "This action is unauthorized.): the API token is not allowed this call; check the "
         "token's scope"},
        {{404, "application/json", "{\"msg\":\"server not found\"}", NULL},
         HC_NOT_FOUND,
         false,
         "VirtFusion: server not found (HTTP 404 on GET /servers/7)"},
        {{422, "application/json", "{\"errors\":[\"first\",\"second\"]}", NULL},
         HC_INVALID,
         false,
         "(HTTP 422): first; second"},
        {{422, "application/json", "{\"msg\":\"Package is disabled\"}", NULL},
         HC_INVALID,
         false,
         "Package is disabled"},
        {{422, "application/json",
          "{\"message\":\"The given data was invalid.\",\"errors\":{\"packageId\":[\"The package "
          "id field is required.\"],\"userId\":[\"The user id field is required.\"]}}",
          NULL},
         HC_INVALID,
         false,
         ": The package id field is required.; The user id field is required."},
        {{423, "application/json", "{\"msg\":\"locked\"}", NULL},
         HC_UPSTREAM,
         true,
         "server is locked by a running task: locked (HTTP 423"},
        {{429, "application/json", "{\"message\":\"Too Many Attempts.\"}", "7"},
         HC_RATE_LIMITED,
         true,
         "rate limiting"},
        {{500, "text/html", "<html><body>Server Error</body></html>", NULL},
         HC_UPSTREAM,
         true,
         "VirtFusion answered HTTP 500 on GET /servers/7"},
        {{503, "application/json", "{\"message\":\"Service Unavailable\"}", NULL},
         HC_UPSTREAM,
         true,
         "Service Unavailable"},
        {{302, "text/html", "", NULL}, HC_BAD_RESPONSE, true, "redirect"},
        {{200, "application/json", "{\"data\": [unterminated", NULL},
         HC_BAD_RESPONSE,
         true,
         "invalid JSON"},
        {{200, "application/json", "{\"data\":[]}", NULL},
         HC_BAD_RESPONSE,
         true,
         "without a data object"},
        {{200, "text/html", "<html><title>Login</title></html>", NULL},
         HC_AUTH,
         false,
         "login page"},
        {{200, "text/html", "<html><title>Welcome</title></html>", NULL},
         HC_BAD_RESPONSE,
         true,
         "HTML page"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        get_with_answer(&cases[i].c, &e);
        if (e.cls != cases[i].cls)
            fail_msg("HTTP %d: class %s, expected %s (%s)", cases[i].c.status, hc_class_name(e.cls),
                     hc_class_name(cases[i].cls), e.message);
        assert_int_equal(e.retryable, cases[i].retryable);
        assert_false(e.ambiguous);
        assert_contains(e.message, cases[i].part);
        if (cases[i].c.status == 429)
            assert_int_equal(e.retry_after_s, 7);
    }
}

static void transport_faults_keep_their_retry_decision(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    int64_t sid = create_ok(t, NULL);
    use_external_id(t, sid);
    struct fake_vf_server s;

    fake_fault(t->http, FAKE_FAULT_500, 2, 0, NULL);
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), -1);
    assert_int_equal(e.cls, HC_UPSTREAM);
    assert_true(e.retryable);
    assert_int_equal(e.http_status, 500);
    fake_fault(t->http, FAKE_FAULT_NONE, 0, 0, NULL);

    fake_fault(t->http, FAKE_FAULT_429, 1, 3, NULL);
    assert_null(vf_get_server(&t->conn, t->ext_id, &e));
    assert_int_equal(e.cls, HC_RATE_LIMITED);
    assert_int_equal(e.retry_after_s, 3);

    fake_fault(t->http, FAKE_FAULT_MALFORMED, 1, 0, NULL);
    assert_null(vf_get_server(&t->conn, t->ext_id, &e));
    assert_int_equal(e.cls, HC_BAD_RESPONSE);
    assert_true(e.retryable);

    fake_fault(t->http, FAKE_FAULT_HTML, 1, 0, NULL);
    assert_null(vf_get_server(&t->conn, t->ext_id, &e));
    assert_int_equal(e.cls, HC_AUTH);

    /* Dropped before the panel acted: the state is unchanged, the outcome ambiguous. */
    fake_fault(t->http, FAKE_FAULT_DROP_BEFORE, 1, 0, "/suspend");
    assert_int_equal(panel_virtfusion.suspend(&t->conn, &t->svc, &e), -1);
    assert_int_equal(e.cls, HC_TIMEOUT);
    assert_true(e.ambiguous);
    assert_true(fake_vf_server_by_id(t->vf, sid, &s) && !s.suspended);

    /* A slow panel: timeout, ambiguous, retryable. */
    t->conn.timeout_ms = 300;
    fake_fault(t->http, FAKE_FAULT_SLOW, 1, 1200, NULL);
    assert_null(vf_get_server(&t->conn, t->ext_id, &e));
    assert_int_equal(e.cls, HC_TIMEOUT);
    assert_true(e.retryable);
    assert_true(e.ambiguous);
    assert_contains(e.message, "VirtFusion (GET /servers/");
}

static void requests_to_one_saved_panel_are_spaced(void **state)
{
    struct env *t = *state;
    struct hc_error e;
    struct timespec a, b;
    static int64_t next_id = 900000;
    t->conn.server_id = next_id++; /* a key no other test used */
    clock_gettime(CLOCK_MONOTONIC, &a);
    /* 120 a minute with a burst of 10 s worth (20 calls): the 21st and 22nd wait 0.5 s each. */
    for (int i = 0; i < 22; i++)
        assert_null(vf_get_server(&t->conn, "1", &e));
    clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 950);
}

/* ---- pure parsers ---- */

static void parse_errors_understands_every_shape(void **state)
{
    char out[64];
    (void)state;
#define PE(text) vf_parse_errors(text, strlen(text), out, sizeof(out))
    assert_int_equal(PE("{\"errors\":[\"a\",\"b\"]}"), 2);
    assert_string_equal(out, "a; b");
    assert_int_equal(PE("{\"msg\":\"server not found\"}"), 1);
    assert_string_equal(out, "server not found");
    assert_int_equal(PE("{\"message\":\"m\",\"errors\":{\"f\":[\"x\",\"y\"],\"g\":\"z\"}}"), 3);
    assert_string_equal(out, "x; y; z");
    assert_int_equal(PE("{\"message\":\"only\"}"), 1);
    assert_string_equal(out, "only");
    assert_int_equal(PE("{\"errors\":[{\"detail\":\"d\"},7,null,\"\"]}"), 1);
    assert_string_equal(out, "d");
    assert_int_equal(PE("{\"msg\":\"line\\nbreak\\u0007\"}"), 1);
    assert_string_equal(out, "line break ");
    assert_int_equal(PE("<html>oops</html>"), 0);
    assert_string_equal(out, "");
    assert_int_equal(PE("[\"x\"]"), 0);
    assert_int_equal(PE("{}"), 0);
    assert_int_equal(vf_parse_errors(NULL, 0, out, sizeof(out)), 0);
    /* Cut on a character boundary: "é" is two bytes. */
    char small[6];
    const char *utf8 = "{\"msg\":\"abcd\xc3\xa9\"}";
    assert_int_equal(vf_parse_errors(utf8, strlen(utf8), small, sizeof(small)), 1);
    assert_string_equal(small, "abcd");
    /* Many messages: counted up to 16, written while they fit. */
    assert_int_equal(PE("{\"errors\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
                        "\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\",\"18\"]}"),
                     16);
#undef PE
}

static void parse_server_reads_ids_owner_and_state(void **state)
{
    struct panel_result r;
    struct hc_error e;
    (void)state;
    const char *ok = "{\"data\":{\"id\":12,\"name\":\"x\",\"owner\":{\"id\":5},\"ownerId\":6,"
                     "\"suspended\":true}}";
    assert_int_equal(vf_parse_server(ok, strlen(ok), &r, &e), 0);
    assert_string_equal(r.external_id, "12");
    assert_string_equal(r.panel_user_id, "5");
    assert_true(r.suspended);
    const char *flat = "{\"data\":{\"id\":\"13\",\"ownerId\":6,\"suspended\":0}}";
    assert_int_equal(vf_parse_server(flat, strlen(flat), &r, &e), 0);
    assert_string_equal(r.external_id, "13");
    assert_string_equal(r.panel_user_id, "6");
    assert_false(r.suspended);
    const char *bad[] = {"",
                         "{}",
                         "{\"data\":{\"id\":0}}",
                         "{\"data\":{\"id\":-1}}",
                         "{\"data\":{\"id\":1.5}}",
                         "{\"data\":[]}",
                         "nope",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(vf_parse_server(bad[i], strlen(bad[i]), &r, &e), -1);
        assert_int_equal(e.cls, HC_BAD_RESPONSE);
        assert_string_equal(r.external_id, "");
    }
}

static void match_checks_ownership_and_spots_orphans(void **state)
{
    struct panel_result r;
    struct hc_error e;
    size_t orphans = 99;
    (void)state;
#define MATCH(text, key) vf_match_user_servers(text, strlen(text), key, 5, 1, &r, &orphans, &e)
    assert_int_equal(
        MATCH("{\"data\":[{\"id\":3,\"name\":\"lumi-svc-1\",\"ownerId\":5}]}", "lumi-svc-1"), 1);
    assert_string_equal(r.external_id, "3");
    assert_int_equal(orphans, 0);
    /* Named with the key but owned by someone else: refused, not adopted. */
    assert_int_equal(
        MATCH("{\"data\":[{\"id\":3,\"name\":\"lumi-svc-1\",\"owner\":{\"id\":6}}]}", "lumi-svc-1"),
        -1);
    assert_int_equal(e.cls, HC_INVALID);
    assert_contains(e.message, "belongs to user 6, not 5");
    assert_int_equal(MATCH("{\"data\":[{\"id\":3,\"name\":\"lumi-svc-1\"}]}", "lumi-svc-1"), -1);
    assert_contains(e.message, "does not say who owns it");
    assert_int_equal(MATCH("{\"data\":[{\"id\":3,\"name\":\"k-1\",\"ownerId\":5},"
                           "{\"id\":4,\"name\":\"k-1\",\"ownerId\":5}]}",
                           "k-1"),
                     -1);
    assert_contains(e.message, "two servers named");
    /* Orphans: own, unbuilt, this package, not shaped like a key. */
    assert_int_equal(MATCH("{\"data\":["
                           "{\"id\":1,\"name\":\"server-1\",\"ownerId\":5,\"built\":false},"
                           "{\"id\":2,\"name\":\"lumi-svc-2\",\"ownerId\":5},"
                           "{\"id\":3,\"name\":\"web\",\"ownerId\":5,\"built\":true},"
                           "{\"id\":4,\"name\":\"x\",\"ownerId\":5,\"packageId\":2},"
                           "{\"id\":5,\"name\":\"y\",\"ownerId\":7},"
                           "{\"id\":6,\"ownerId\":5,\"packageId\":1}]}",
                           "lumi-svc-1"),
                     0);
    assert_int_equal(orphans, 2); /* 1 and 6 */
    /* UUID-like keys: same shape means "maybe another service's". */
    assert_int_equal(MATCH("{\"data\":[{\"id\":1,\"name\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\","
                           "\"ownerId\":5},{\"id\":2,\"name\":\"server-2\",\"ownerId\":5}]}",
                           "9f4e28ba-2fa1-11d2-883f-0016d3cca000"),
                     0);
    assert_int_equal(orphans, 1);
    /* All-digit keys: any all-digit name may be one. */
    assert_int_equal(MATCH("{\"data\":[{\"id\":1,\"name\":\"77\",\"ownerId\":5},"
                           "{\"id\":2,\"name\":\"vps\",\"ownerId\":5}]}",
                           "42"),
                     0);
    assert_int_equal(orphans, 1);
    assert_int_equal(MATCH("{\"data\":{}}", "k"), -1);
    assert_int_equal(e.cls, HC_BAD_RESPONSE);
    assert_int_equal(MATCH("]", "k"), -1);
#undef MATCH
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(connection_test_reports_hypervisor_groups),
        T(connection_test_refuses_a_bad_url_before_any_request),
        T(connection_test_names_a_refused_connection),
        T(connection_test_names_a_rejected_token),
        T(connection_test_names_a_narrow_token_scope),
        T(connection_test_hints_at_a_wrong_path),
        T(create_makes_the_user_then_the_server_then_names_it),
        T(create_with_an_os_template_builds_with_name_and_hostname),
        T(create_reuses_the_user_with_the_client_id),
        T(create_refuses_bad_config_and_keys_before_any_request),
        T(create_reports_the_panels_validation_messages),
        T(find_says_not_found_without_user_or_server),
        T(find_adopts_the_server_named_with_the_key),
        T(a_lost_create_answer_is_resumed_not_duplicated),
        T(a_failed_build_leaves_an_orphan_that_the_retry_builds),
        T(lost_name_and_build_answers_are_found_by_name),
        T(several_orphans_are_refused_with_their_ids),
        T(other_services_and_customer_servers_are_never_orphans),
        T(suspend_and_unsuspend_are_idempotent),
        T(a_locked_server_is_retried_later),
        T(terminate_deletes_and_counts_gone_as_done),
        T(change_package_moves_the_server),
        T(passwords_are_chosen_by_virtfusion),
        T(sso_url_is_the_panels_endpoint_complete),
        T(power_actions_reach_the_server_and_answer_the_queue_id),
        T(reset_password_answers_what_virtfusion_set),
        T(info_and_get_return_the_server_object),
        T(server_ids_are_checked_before_any_request),
        T(power_actions_are_queued),
        T(reinstall_builds_another_template),
        T(list_servers_follows_every_page),
        T(catalogue_lists_packages_templates_and_groups),
        T(traffic_console_and_iso),
        T(transport_faults_keep_their_retry_decision),
        T(requests_to_one_saved_panel_are_spaced),
        cmocka_unit_test(error_answers_map_to_classes_with_the_panels_words),
        cmocka_unit_test(parse_errors_understands_every_shape),
        cmocka_unit_test(parse_server_reads_ids_owner_and_state),
        cmocka_unit_test(match_checks_ownership_and_spots_orphans),
#undef T
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

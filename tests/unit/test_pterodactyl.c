/*
 * test_pterodactyl.c — the Pterodactyl client against the fake panel: every
 * operation with the request the panel received (method, path, key, body)
 * and its effect on the panel's state; the panel-user lookup (external id,
 * exact e-mail, creation); egg defaults under the product config; adoption
 * after a create whose answer was lost; every error class with its retry
 * decision; the connection test's messages; pagination; the pure parsers;
 * and the fake's own fidelity to the contract where the client cannot reach it.
 *
 * Each test starts its own fake panel on 127.0.0.1. Single-threaded apart
 * from the fake's server thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http_client.h"
#include "core/str.h"
#include "fakes/fake_http.h"
#include "fakes/fake_pterodactyl.h"
#include "panels/panel.h"
#include "panels/pterodactyl.h"

#define KEY "ptla_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI"
#define API "/api/application"
#define REMOTE_KEY "lumi-svc-42"

static const struct panel_ops *const P = &panel_pterodactyl;

struct env {
    struct fake_ptero *fp;
    struct fake_server *http;
    struct panel_conn conn;
    struct panel_service svc;
    json_t *config;
    struct hc_error e;
};

static int setup(void **state)
{
    struct env *t = calloc(1, sizeof *t);
    t->fp = fake_ptero_start(KEY);
    t->http = fake_ptero_http(t->fp);
    t->conn = (struct panel_conn){
        .type = "pterodactyl",
        .url = fake_ptero_url(t->fp),
        .api_key = KEY,
        .server_id = 0, /* unsaved panel: no shared rate budget between tests */
        .timeout_ms = 10000,
        .connect_timeout_ms = 2000,
    };
    t->config = json_pack("{s:i, s:i, s:i}", "nest_id", 1, "egg_id", 1, "node_id", 1);
    t->svc = (struct panel_service){
        .service_id = 42,
        .remote_key = REMOTE_KEY,
        .client_key = "17",
        .client_email = "john@example.com",
        .client_first_name = "John",
        .client_last_name = "Doe",
        .password = "Initial-Passw0rd",
        .config = t->config,
    };
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct env *t = *state;
    fake_ptero_stop(t->fp);
    json_decref(t->config);
    free(t);
    return 0;
}

/* ---- helpers ---- */

static void set_config(struct env *t, const char *json)
{
    json_error_t jerr;
    json_decref(t->config);
    t->config = json_loads(json, 0, &jerr);
    if (t->config == NULL)
        fail_msg("bad test config %s: %s", json, jerr.text);
    t->svc.config = t->config;
}

/* The last request to method+path (without /api/application); fails the test when none. */
static void last(struct env *t, const char *method, const char *path, struct fake_recorded *r)
{
    char full[256];
    snprintf(full, sizeof full, API "%s", path);
    if (fake_find_last(t->http, method, full, r) != 0)
        fail_msg("the panel never received %s %s", method, full);
}

static bool received(struct env *t, const char *method, const char *path)
{
    struct fake_recorded r;
    char full[256];
    snprintf(full, sizeof full, API "%s", path);
    int rc = fake_find_last(t->http, method, full, &r);
    fake_recorded_free(&r);
    return rc == 0;
}

/* Every request carried the key and the JSON headers of the contract. */
static void assert_headers(const struct fake_recorded *r)
{
    assert_non_null(r->authorization);
    assert_string_equal(r->authorization, "Bearer " KEY);
    assert_non_null(r->accept);
    assert_string_equal(r->accept, "application/json");
    assert_non_null(r->content_type);
    assert_string_equal(r->content_type, "application/json");
}

static json_t *body_of(const struct fake_recorded *r)
{
    json_error_t jerr;
    json_t *b = json_loads(r->body != NULL ? r->body : "", 0, &jerr);
    if (b == NULL)
        fail_msg("request body is not JSON: %s", r->body != NULL ? r->body : "(none)");
    return b;
}

static json_int_t jint(const json_t *obj, const char *path)
{
    const json_t *v = obj;
    char key[64];
    for (const char *p = path; v != NULL && *p != '\0';) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", path);
    return json_integer_value(v);
}

static const char *jstr(const json_t *obj, const char *path)
{
    const json_t *v = obj;
    char key[64];
    for (const char *p = path; v != NULL && *p != '\0';) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    if (!json_is_string(v))
        fail_msg("%s is not a string", path);
    return json_string_value(v);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (haystack == NULL || strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack ? haystack : "(null)", needle);
}

static void assert_error(const struct hc_error *e, enum hc_class cls, bool retryable)
{
    if (e->cls != cls)
        fail_msg("error class %s, expected %s (%s)", hc_class_name(e->cls), hc_class_name(cls),
                 e->message);
    assert_int_equal(e->retryable, retryable);
    assert_true(e->message[0] != '\0');
    assert_null(strstr(e->message, KEY));
}

/* A server owned by a seeded user for the client (external id "17"). */
static int64_t seed_owned_server(struct env *t, int64_t *user_out)
{
    int64_t uid = fake_ptero_add_user(t->fp, "john@example.com", "john_17", "17");
    if (user_out != NULL)
        *user_out = uid;
    return fake_ptero_add_server(t->fp, REMOTE_KEY, uid);
}

static void create_ok(struct env *t, struct panel_result *out)
{
    if (P->create(&t->conn, &t->svc, out, &t->e) != 0)
        fail_msg("create failed: %s", t->e.message);
}

/* A port nothing listens on: a fake that has been stopped. */
static char *refused_url(void)
{
    struct fake_ptero *gone = fake_ptero_start(KEY);
    char *url = str_dup(fake_ptero_url(gone));
    fake_ptero_stop(gone);
    return url;
}

/* ---- test connection ---- */

static void test_connection_reports_the_node_count(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct fake_recorded r;
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), 0);
    assert_true(out.ok);
    assert_string_equal(out.message, "Connected to Pterodactyl: 1 node");
    last(t, "GET", "/nodes", &r);
    assert_headers(&r);
    fake_recorded_free(&r);
}

static void test_connection_refuses_a_url_that_is_not_http(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    const char *bad[] = {"ftp://panel.example.com", "panel.example.com", "", "http://",
                         "https://panel example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t->conn.url = bad[i];
        assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
        assert_false(out.ok);
        assert_error(&t->e, HC_INVALID, false);
        assert_string_equal(out.message, t->e.message);
    }
    t->conn.url = "ftp://panel.example.com";
    P->test_connection(&t->conn, &out, &t->e);
    assert_contains(out.message, "must start with http:// or https://");
    assert_int_equal(fake_request_count(t->http), 0);
}

static void test_connection_names_a_refused_connection(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    char *url = refused_url();
    t->conn.url = url;
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
    assert_false(out.ok);
    assert_error(&t->e, HC_CONNECTION, true);
    assert_contains(out.message, "Could not reach Pterodactyl");
    free(url);
}

static void test_connection_explains_a_rejected_key(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    t->conn.api_key = "ptla_wrongwrongwrongwrongwrongwrongwrongwrongwrong";
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
    assert_false(out.ok);
    assert_error(&t->e, HC_AUTH, false);
    assert_int_equal(t->e.http_status, 403);
    assert_contains(out.message, "Pterodactyl rejected the API key: check that it is an "
                                 "Application API key (ptla_\xe2\x80\xa6) with read and write "
                                 "permissions");
    /* Something that is not an API key at all: 401, same advice. */
    t->conn.api_key = "not-a-key";
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
    assert_error(&t->e, HC_AUTH, false);
    assert_int_equal(t->e.http_status, 401);
    assert_contains(out.message, "Pterodactyl rejected the API key");
    /* No key: refused before any request. */
    size_t before = fake_request_count(t->http);
    t->conn.api_key = "";
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
    assert_error(&t->e, HC_AUTH, false);
    assert_int_equal(fake_request_count(t->http), before);
}

static void test_connection_spots_an_html_page(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    fake_fault(t->http, FAKE_FAULT_HTML, 1, 0, NULL);
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
    assert_false(out.ok);
    assert_error(&t->e, HC_BAD_RESPONSE, true);
    assert_contains(out.message, "did not answer as a Pterodactyl API (check the URL)");
}

/* Something at the URL answers every request with a redirect to a login page. */
static void redirecting(void *state, const struct fake_request *r, struct fake_response *w)
{
    fake_reply(w, 302, "text/html", "<html>Redirecting</html>");
    fake_add_header(w, "Location", "http://127.0.0.1/auth/login");
}

static void test_connection_spots_a_redirect(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    struct fake_server *other = fake_start(redirecting, NULL);
    t->conn.url = fake_url(other);
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), -1);
    assert_error(&t->e, HC_BAD_RESPONSE, true);
    assert_int_equal(t->e.http_status, 302);
    assert_contains(out.message, "did not answer as a Pterodactyl API");
    assert_contains(out.message, "/auth/login");
    fake_stop(other);
}

static void test_connection_tolerates_a_pasted_api_path(void **state)
{
    struct env *t = *state;
    struct panel_test out;
    char url[128];
    snprintf(url, sizeof url, "%s/api/application/", fake_ptero_url(t->fp));
    t->conn.url = url;
    assert_int_equal(P->test_connection(&t->conn, &out, &t->e), 0);
    assert_true(received(t, "GET", "/nodes"));
}

/* ---- create ---- */

static void create_makes_the_user_then_the_server(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct fake_recorded r;
    create_ok(t, &out);
    assert_string_equal(out.external_id, "1");
    assert_string_equal(out.panel_user_id, "1");
    assert_string_equal(out.username, "john_17");
    assert_false(out.suspended);

    /* Looked for the user by external id, then by e-mail, then created it. */
    last(t, "GET", "/users/external/17", &r);
    assert_headers(&r);
    fake_recorded_free(&r);
    last(t, "GET", "/users", &r);
    assert_contains(r.query, "filter%5Bemail%5D=john%40example.com");
    fake_recorded_free(&r);
    last(t, "POST", "/users", &r);
    assert_headers(&r);
    json_t *u = body_of(&r);
    assert_string_equal(jstr(u, "email"), "john@example.com");
    assert_string_equal(jstr(u, "username"), "john_17");
    assert_string_equal(jstr(u, "first_name"), "John");
    assert_string_equal(jstr(u, "last_name"), "Doe");
    assert_string_equal(jstr(u, "external_id"), "17");
    assert_string_equal(jstr(u, "password"), "Initial-Passw0rd");
    json_decref(u);
    fake_recorded_free(&r);

    last(t, "GET", "/nests/1/eggs/1", &r);
    assert_contains(r.query, "include=variables");
    fake_recorded_free(&r);
    assert_true(received(t, "GET", "/nodes/1/allocations"));

    last(t, "POST", "/servers", &r);
    assert_headers(&r);
    json_t *b = body_of(&r);
    assert_string_equal(jstr(b, "name"), "lumi-42");
    assert_int_equal(jint(b, "user"), 1);
    assert_int_equal(jint(b, "egg"), 1);
    assert_string_equal(jstr(b, "docker_image"), "ghcr.io/pterodactyl/yolks:java_17");
    assert_string_equal(jstr(b, "startup"),
                        "java -Xms128M -Xmx{{SERVER_MEMORY}}M -jar {{SERVER_JARFILE}}");
    assert_string_equal(jstr(b, "environment.SERVER_JARFILE"), "server.jar");
    assert_string_equal(jstr(b, "environment.BUILD_NUMBER"), "latest");
    assert_int_equal(jint(b, "limits.memory"), 1024);
    assert_int_equal(jint(b, "limits.swap"), 0);
    assert_int_equal(jint(b, "limits.disk"), 5120);
    assert_int_equal(jint(b, "limits.io"), 500);
    assert_int_equal(jint(b, "limits.cpu"), 100);
    assert_int_equal(jint(b, "feature_limits.databases"), 0);
    assert_int_equal(jint(b, "feature_limits.allocations"), 0);
    assert_int_equal(jint(b, "feature_limits.backups"), 0);
    /* One of node 1's free allocations (1–10), picked at random. */
    int64_t picked = jint(b, "allocation.default");
    assert_true(picked >= 1 && picked <= 10);
    assert_null(json_object_get(b, "deploy"));
    assert_string_equal(jstr(b, "external_id"), REMOTE_KEY);
    assert_true(json_is_true(json_object_get(b, "start_on_completion")));
    json_decref(b);
    fake_recorded_free(&r);

    /* The panel now holds exactly that. */
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_int_equal(s.id, 1);
    assert_int_equal(s.user, 1);
    assert_int_equal(s.allocation, picked);
    assert_string_equal(s.status, "installing");
    assert_int_equal(fake_ptero_server_count(t->fp), 1);
    assert_int_equal(fake_ptero_user_count(t->fp), 1);
    json_t *user = fake_ptero_user_json(t->fp, "john@example.com");
    assert_string_equal(jstr(user, "external_id"), "17");
    assert_string_equal(jstr(user, "password"), "Initial-Passw0rd");
    json_decref(user);
    assert_int_equal(fake_ptero_free_allocations(t->fp, 1), 9);
}

static void create_reuses_the_user_with_the_client_external_id(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    int64_t uid = fake_ptero_add_user(t->fp, "old-address@example.com", "johnny", "17");
    create_ok(t, &out);
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, uid);
    assert_string_equal(out.panel_user_id, want);
    assert_string_equal(out.username, "johnny");
    assert_false(received(t, "GET", "/users"));
    assert_false(received(t, "POST", "/users"));
    assert_int_equal(fake_ptero_user_count(t->fp), 1);
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_int_equal(s.user, uid);
}

static void create_adopts_the_user_with_exactly_the_email(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    fake_ptero_add_user(t->fp, "xjohn@example.com", "xjohn", NULL);
    int64_t uid = fake_ptero_add_user(t->fp, "john@example.com", "john", NULL);
    fake_ptero_add_user(t->fp, "john@example.com.evil", "john2", NULL);
    create_ok(t, &out);
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_int_equal(s.user, uid);
    assert_string_equal(out.username, "john");
    assert_false(received(t, "POST", "/users"));
    assert_int_equal(fake_ptero_user_count(t->fp), 3);
}

static void create_never_adopts_a_near_match(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    int64_t decoy = fake_ptero_add_user(t->fp, "xjohn@example.com", "xjohn", NULL);
    create_ok(t, &out);
    assert_true(received(t, "POST", "/users"));
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_true(s.user != decoy);
    assert_int_equal(fake_ptero_user_count(t->fp), 2);
    json_t *u = fake_ptero_user_json(t->fp, "john@example.com");
    assert_int_equal(jint(u, "id"), s.user);
    json_decref(u);
}

static void create_puts_product_config_over_egg_defaults(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct fake_recorded r;
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"allocation_id\":3,\"name\":\"My Server\","
                  "\"docker_image\":\"ghcr.io/custom:21\",\"startup\":\"java -jar custom.jar\","
                  "\"environment\":{\"BUILD_NUMBER\":\"123\",\"EXTRA\":5},"
                  "\"memory\":2048,\"swap\":-1,\"disk\":10240,\"io\":700,\"cpu\":200,"
                  "\"threads\":\"0-1\",\"databases\":2,\"allocations\":1,\"backups\":3,"
                  "\"oom_disabled\":false,\"start_on_completion\":false}");
    create_ok(t, &out);
    last(t, "POST", "/servers", &r);
    json_t *b = body_of(&r);
    assert_string_equal(jstr(b, "name"), "My Server");
    assert_string_equal(jstr(b, "docker_image"), "ghcr.io/custom:21");
    assert_string_equal(jstr(b, "startup"), "java -jar custom.jar");
    assert_string_equal(jstr(b, "environment.SERVER_JARFILE"), "server.jar"); /* egg default */
    assert_string_equal(jstr(b, "environment.BUILD_NUMBER"), "123");          /* config */
    assert_string_equal(jstr(b, "environment.EXTRA"), "5");
    assert_int_equal(jint(b, "limits.memory"), 2048);
    assert_int_equal(jint(b, "limits.swap"), -1);
    assert_int_equal(jint(b, "limits.disk"), 10240);
    assert_int_equal(jint(b, "limits.io"), 700);
    assert_int_equal(jint(b, "limits.cpu"), 200);
    assert_string_equal(jstr(b, "limits.threads"), "0-1");
    assert_int_equal(jint(b, "feature_limits.databases"), 2);
    assert_int_equal(jint(b, "feature_limits.allocations"), 1);
    assert_int_equal(jint(b, "feature_limits.backups"), 3);
    assert_int_equal(jint(b, "allocation.default"), 3);
    assert_true(json_is_false(json_object_get(b, "oom_disabled")));
    assert_true(json_is_false(json_object_get(b, "start_on_completion")));
    json_decref(b);
    fake_recorded_free(&r);
    assert_false(received(t, "GET", "/nodes/1/allocations")); /* the allocation was given */

    json_t *s = fake_ptero_server_json(t->fp, REMOTE_KEY);
    assert_int_equal(jint(s, "allocation"), 3);
    assert_int_equal(jint(s, "limits.memory"), 2048);
    assert_int_equal(jint(s, "feature_limits.backups"), 3);
    assert_string_equal(jstr(s, "container.image"), "ghcr.io/custom:21");
    assert_string_equal(jstr(s, "container.environment.BUILD_NUMBER"), "123");
    assert_string_equal(jstr(s, "container.environment.SERVER_JARFILE"), "server.jar");
    json_decref(s);
}

static void create_deploys_by_location(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct fake_recorded r;
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"location_ids\":[1],"
                  "\"port_range\":[\"25570-25574\"],\"dedicated_ip\":false}");
    create_ok(t, &out);
    last(t, "POST", "/servers", &r);
    json_t *b = body_of(&r);
    assert_int_equal(json_array_size(json_object_get(json_object_get(b, "deploy"), "locations")),
                     1);
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(b, "deploy"), "locations"), 0)),
                     1);
    assert_true(json_is_false(json_object_get(json_object_get(b, "deploy"), "dedicated_ip")));
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(b, "deploy"), "port_range"), 0)),
                        "25570-25574");
    assert_null(json_object_get(b, "allocation"));
    json_decref(b);
    fake_recorded_free(&r);
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_int_equal(s.allocation, 6); /* port 25570 */
}

static void create_reports_no_viable_node(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"location_ids\":[99]}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_int_equal(t->e.http_status, 400);
    assert_string_equal(t->e.message, "Pterodactyl refused the request: No nodes satisfying the "
                                      "requirements specified for automatic deployment could be "
                                      "found.");
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
}

static void create_quotes_every_validation_error(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"io\":5}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_int_equal(t->e.http_status, 422);
    assert_string_equal(t->e.message, "Pterodactyl refused the request: limits.io: The limits.io "
                                      "must be between 10 and 1000.");
    /* Several problems are joined; an egg variable's rules apply to the environment. */
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"io\":5000,"
                  "\"environment\":{\"SERVER_JARFILE\":\"\"}}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_contains(t->e.message, "limits.io: The limits.io must be between 10 and 1000.; ");
    assert_contains(t->e.message,
                    "environment.SERVER_JARFILE: The Server Jar File variable field is required.");
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
}

static void create_checks_the_product_config_first(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    set_config(t, "{\"egg_id\":1,\"node_id\":1}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_contains(t->e.message, "nest_id");
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"memory\":\"lots\",\"node_id\":1}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_contains(t->e.message, "memory");
    set_config(t, "{\"nest_id\":1,\"egg_id\":1}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_contains(t->e.message, "location_ids");
    set_config(t, "{\"nest_id\":1,\"egg_id\":9,\"node_id\":1}");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_NOT_FOUND, false);
    assert_false(received(t, "POST", "/servers"));
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
}

static void create_whose_answer_was_lost_is_found_and_adopted(void **state)
{
    struct env *t = *state;
    struct panel_result out, found, again;
    /* The panel creates the server, then the connection drops before the answer. */
    fake_fault(t->http, FAKE_FAULT_DROP_AFTER, 1, 0, API "/servers");
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_true(t->e.ambiguous);
    assert_true(t->e.retryable);
    assert_int_equal(fake_ptero_server_count(t->fp), 1);

    /* Lumi looks it up by its key before trying again, and adopts it. */
    assert_int_equal(P->find(&t->conn, &t->svc, &found, &t->e), 1);
    assert_string_equal(found.external_id, "1");
    assert_string_equal(found.panel_user_id, "1");
    assert_string_equal(found.username, "john_17");
    assert_true(received(t, "GET", "/servers/external/" REMOTE_KEY));

    /* Even a blind second create lands on the same server (422 unique → adopt). */
    assert_int_equal(P->create(&t->conn, &t->svc, &again, &t->e), 0);
    assert_string_equal(again.external_id, "1");
    assert_int_equal(fake_ptero_server_count(t->fp), 1);
    assert_int_equal(fake_ptero_user_count(t->fp), 1);
}

static void create_reports_a_username_taken_by_someone_else(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    /* Lumi's username for the client belongs to an unrelated panel user. */
    fake_ptero_add_user(t->fp, "other@example.com", "john_17", NULL);
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_string_equal(t->e.message, "Pterodactyl refused the request: username: The username "
                                      "has already been taken.");
    assert_int_equal(fake_ptero_user_count(t->fp), 1);
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
}

static void create_fails_cleanly_when_the_daemon_is_down(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    fake_ptero_set_daemon_down(t->fp, true);
    assert_int_equal(P->create(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_UPSTREAM, true);
    assert_false(t->e.ambiguous); /* the panel removed the server again */
    assert_int_equal(t->e.http_status, 502);
    assert_contains(t->e.message, "daemon");
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
    fake_ptero_set_daemon_down(t->fp, false);
    create_ok(t, &out);
    assert_int_equal(fake_ptero_server_count(t->fp), 1);
}

/* ---- find ---- */

static void find_returns_zero_when_absent(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    assert_int_equal(P->find(&t->conn, &t->svc, &out, &t->e), 0);
    struct fake_recorded r;
    last(t, "GET", "/servers/external/" REMOTE_KEY, &r);
    assert_headers(&r);
    fake_recorded_free(&r);
}

static void find_refuses_a_server_of_another_user(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    int64_t other = fake_ptero_add_user(t->fp, "someone@example.com", "someone", "99");
    fake_ptero_add_server(t->fp, REMOTE_KEY, other);
    /* The client has no panel user at all. */
    assert_int_equal(P->find(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_contains(t->e.message,
                    "server with external id " REMOTE_KEY " belongs to another panel user");
    /* The client has one, but not the owner. */
    fake_ptero_add_user(t->fp, "john@example.com", "john_17", "17");
    assert_int_equal(P->find(&t->conn, &t->svc, &out, &t->e), -1);
    assert_contains(t->e.message, "belongs to another panel user");
    assert_string_equal(out.external_id, "");
}

static void find_reports_suspension(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    int64_t id = seed_owned_server(t, NULL);
    assert_int_equal(ptero_suspend_server(&t->conn, id, &t->e), 0);
    assert_int_equal(P->find(&t->conn, &t->svc, &out, &t->e), 1);
    assert_true(out.suspended);
    assert_string_equal(out.username, "john_17");
}

/* ---- suspend, unsuspend, terminate ---- */

static void suspend_and_unsuspend_are_idempotent(void **state)
{
    struct env *t = *state;
    struct fake_ptero_server s;
    struct fake_recorded r;
    char path[64];
    int64_t id = seed_owned_server(t, NULL);
    /* Without the panel id, Lumi finds the server by its key. */
    assert_int_equal(P->suspend(&t->conn, &t->svc, &t->e), 0);
    snprintf(path, sizeof path, "/servers/%" PRId64 "/suspend", id);
    last(t, "POST", path, &r);
    assert_headers(&r);
    fake_recorded_free(&r);
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_true(s.suspended);
    assert_string_equal(s.status, "suspended");
    assert_int_equal(P->suspend(&t->conn, &t->svc, &t->e), 0);

    char ext[32];
    snprintf(ext, sizeof ext, "%" PRId64, id);
    t->svc.external_id = ext;
    fake_clear_requests(t->http);
    assert_int_equal(P->unsuspend(&t->conn, &t->svc, &t->e), 0);
    assert_int_equal(fake_request_count(t->http), 1); /* straight to the server */
    snprintf(path, sizeof path, "/servers/%" PRId64 "/unsuspend", id);
    assert_true(received(t, "POST", path));
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_false(s.suspended);
    assert_string_equal(s.status, "");
    assert_int_equal(P->unsuspend(&t->conn, &t->svc, &t->e), 0);
}

static void suspend_of_a_missing_server_is_not_found(void **state)
{
    struct env *t = *state;
    assert_int_equal(P->suspend(&t->conn, &t->svc, &t->e), -1);
    assert_error(&t->e, HC_NOT_FOUND, false);
    t->svc.external_id = "999";
    assert_int_equal(P->unsuspend(&t->conn, &t->svc, &t->e), -1);
    assert_error(&t->e, HC_NOT_FOUND, false);
    t->svc.external_id = "abc";
    assert_int_equal(P->suspend(&t->conn, &t->svc, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
}

static void terminate_deletes_and_treats_gone_as_done(void **state)
{
    struct env *t = *state;
    char ext[32], path[64];
    int64_t id = seed_owned_server(t, NULL);
    snprintf(ext, sizeof ext, "%" PRId64, id);
    t->svc.external_id = ext;
    assert_int_equal(P->terminate(&t->conn, &t->svc, &t->e), 0);
    snprintf(path, sizeof path, "/servers/%" PRId64, id);
    struct fake_recorded r;
    last(t, "DELETE", path, &r);
    assert_headers(&r);
    fake_recorded_free(&r);
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
    assert_int_equal(fake_ptero_free_allocations(t->fp, 1), 11);
    /* Again: already gone is success, by id and by key. */
    assert_int_equal(P->terminate(&t->conn, &t->svc, &t->e), 0);
    t->svc.external_id = NULL;
    assert_int_equal(P->terminate(&t->conn, &t->svc, &t->e), 0);
}

static void terminate_refuses_a_server_that_is_not_ours(void **state)
{
    struct env *t = *state;
    char ext[32];
    int64_t uid = fake_ptero_add_user(t->fp, "someone@example.com", "someone", "99");
    int64_t id = fake_ptero_add_server(t->fp, "someone-elses", uid);
    snprintf(ext, sizeof ext, "%" PRId64, id);
    t->svc.external_id = ext;
    assert_int_equal(P->terminate(&t->conn, &t->svc, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_contains(t->e.message, "refusing to delete");
    assert_int_equal(fake_ptero_server_count(t->fp), 1);
}

static void terminate_waits_for_the_daemon(void **state)
{
    struct env *t = *state;
    seed_owned_server(t, NULL);
    fake_ptero_set_daemon_down(t->fp, true);
    assert_int_equal(P->terminate(&t->conn, &t->svc, &t->e), -1);
    assert_error(&t->e, HC_UPSTREAM, true);
    assert_int_equal(fake_ptero_server_count(t->fp), 1);
}

/* ---- change package, password, info ---- */

static void change_package_patches_the_build_with_the_current_allocation(void **state)
{
    struct env *t = *state;
    struct fake_ptero_server before, after;
    struct fake_recorded r;
    char path[64];
    int64_t id = seed_owned_server(t, NULL);
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &before), 1);
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":4096,\"disk\":20480,"
                  "\"cpu\":300,\"io\":800,\"databases\":1,\"backups\":2}");
    assert_int_equal(P->change_package(&t->conn, &t->svc, &t->e), 0);
    snprintf(path, sizeof path, "/servers/%" PRId64, id);
    assert_true(received(t, "GET", path));
    snprintf(path, sizeof path, "/servers/%" PRId64 "/build", id);
    last(t, "PATCH", path, &r);
    assert_headers(&r);
    json_t *b = body_of(&r);
    assert_int_equal(jint(b, "allocation"), before.allocation);
    assert_int_equal(jint(b, "memory"), 4096);
    assert_int_equal(jint(b, "swap"), 0);
    assert_int_equal(jint(b, "disk"), 20480);
    assert_int_equal(jint(b, "io"), 800);
    assert_int_equal(jint(b, "cpu"), 300);
    assert_int_equal(jint(b, "feature_limits.databases"), 1);
    assert_int_equal(jint(b, "feature_limits.allocations"), 0);
    assert_int_equal(jint(b, "feature_limits.backups"), 2);
    json_decref(b);
    fake_recorded_free(&r);
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &after), 1);
    assert_int_equal(after.memory, 4096);
    assert_int_equal(after.disk, 20480);
    assert_int_equal(after.cpu, 300);
    assert_int_equal(after.io, 800);
    assert_int_equal(after.databases, 1);
    assert_int_equal(after.backups, 2);
    assert_int_equal(after.allocation, before.allocation);
}

static void change_package_reports_the_panels_limits(void **state)
{
    struct env *t = *state;
    seed_owned_server(t, NULL);
    set_config(t, "{\"nest_id\":1,\"egg_id\":1,\"io\":2000}");
    assert_int_equal(P->change_package(&t->conn, &t->svc, &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
    assert_string_equal(t->e.message,
                        "Pterodactyl refused the request: io: The io must be between 10 and 1000.");
}

static void change_password_resends_the_user_fields(void **state)
{
    struct env *t = *state;
    struct fake_recorded r;
    char path[64];
    int64_t uid = 0;
    seed_owned_server(t, &uid);
    assert_int_equal(P->change_password(&t->conn, &t->svc, "N3w-Secret-Pass", &t->e), 0);
    snprintf(path, sizeof path, "/users/%" PRId64, uid);
    last(t, "PATCH", path, &r);
    assert_headers(&r);
    json_t *b = body_of(&r);
    assert_string_equal(jstr(b, "email"), "john@example.com");
    assert_string_equal(jstr(b, "username"), "john_17");
    assert_string_equal(jstr(b, "first_name"), "Seeded");
    assert_string_equal(jstr(b, "last_name"), "User");
    assert_string_equal(jstr(b, "password"), "N3w-Secret-Pass");
    json_decref(b);
    fake_recorded_free(&r);
    json_t *u = fake_ptero_user_json(t->fp, "john@example.com");
    assert_string_equal(jstr(u, "password"), "N3w-Secret-Pass");
    json_decref(u);
    assert_int_equal(P->change_password(&t->conn, &t->svc, "", &t->e), -1);
    assert_error(&t->e, HC_INVALID, false);
}

static void info_returns_the_server_attributes(void **state)
{
    struct env *t = *state;
    int64_t id = seed_owned_server(t, NULL);
    json_t *a = P->info(&t->conn, &t->svc, &t->e);
    assert_non_null(a);
    assert_int_equal(jint(a, "id"), id);
    assert_string_equal(jstr(a, "external_id"), REMOTE_KEY);
    assert_int_equal(jint(a, "limits.memory"), 1024);
    json_decref(a);
    t->svc.remote_key = "lumi-svc-nope";
    assert_null(P->info(&t->conn, &t->svc, &t->e));
    assert_error(&t->e, HC_NOT_FOUND, false);
}

/* ---- ptero_* ---- */

static void extra_server_operations(void **state)
{
    struct env *t = *state;
    struct fake_ptero_server s;
    char path[64];
    int64_t id = seed_owned_server(t, NULL);

    json_t *a = ptero_get_server(&t->conn, id, &t->e);
    assert_non_null(a);
    assert_string_equal(jstr(a, "external_id"), REMOTE_KEY);
    json_decref(a);

    assert_int_equal(ptero_suspend_server(&t->conn, id, &t->e), 0);
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_true(s.suspended);
    assert_int_equal(ptero_unsuspend_server(&t->conn, id, &t->e), 0);
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_false(s.suspended);

    assert_int_equal(ptero_reinstall_server(&t->conn, id, &t->e), 0);
    snprintf(path, sizeof path, "/servers/%" PRId64 "/reinstall", id);
    assert_true(received(t, "POST", path));
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_string_equal(s.status, "installing");

    json_t *build = json_pack("{s:i, s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "memory", 3072,
                              "swap", 512, "disk", 8192, "io", 400, "cpu", 150, "feature_limits",
                              "databases", 1, "allocations", 0, "backups", 1);
    a = ptero_update_build(&t->conn, id, build, &t->e);
    json_decref(build);
    assert_non_null(a);
    assert_int_equal(jint(a, "limits.memory"), 3072);
    json_decref(a);
    assert_int_equal(fake_ptero_find_server(t->fp, REMOTE_KEY, &s), 1);
    assert_int_equal(s.swap, 512);

    json_t *startup = json_pack("{s:s, s:{s:s}, s:i, s:s, s:b}", "startup", "java -jar v.jar",
                                "environment", "MINECRAFT_VERSION", "1.20.4", "egg", 2, "image",
                                "ghcr.io/pterodactyl/yolks:java_21", "skip_scripts", 0);
    a = ptero_update_startup(&t->conn, id, startup, &t->e);
    json_decref(startup);
    assert_non_null(a);
    assert_int_equal(jint(a, "egg"), 2);
    assert_string_equal(jstr(a, "container.environment.MINECRAFT_VERSION"), "1.20.4");
    json_decref(a);
    snprintf(path, sizeof path, "/servers/%" PRId64 "/startup", id);
    struct fake_recorded r;
    last(t, "PATCH", path, &r);
    assert_headers(&r);
    fake_recorded_free(&r);

    /* A startup that breaks the new egg's rules is refused with the variable named. */
    startup = json_pack("{s:s, s:{}, s:i, s:b}", "startup", "x", "environment", "egg", 2,
                        "skip_scripts", 0);
    assert_null(ptero_update_startup(&t->conn, id, startup, &t->e));
    json_decref(startup);
    assert_error(&t->e, HC_INVALID, false);
    assert_contains(t->e.message, "environment.MINECRAFT_VERSION");

    /* Delete needs the daemon; force does not. */
    fake_ptero_set_daemon_down(t->fp, true);
    assert_int_equal(ptero_delete_server(&t->conn, id, false, &t->e), -1);
    assert_error(&t->e, HC_UPSTREAM, true);
    assert_int_equal(ptero_delete_server(&t->conn, id, true, &t->e), 0);
    snprintf(path, sizeof path, "/servers/%" PRId64 "/force", id);
    assert_true(received(t, "DELETE", path));
    assert_int_equal(fake_ptero_server_count(t->fp), 0);
    assert_int_equal(ptero_delete_server(&t->conn, id, false, &t->e), -1);
    assert_error(&t->e, HC_NOT_FOUND, false);
    assert_contains(t->e.message, "The requested resource could not be found on the server.");
}

static void extra_catalogue_operations(void **state)
{
    struct env *t = *state;
    json_t *l = ptero_list_locations(&t->conn, &t->e);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(jstr(json_array_get(l, 0), "short"), "us1");
    json_decref(l);

    l = ptero_list_nests(&t->conn, &t->e);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);

    l = ptero_list_eggs(&t->conn, 1, &t->e);
    assert_non_null(l);
    assert_int_equal(json_array_size(l), 2);
    const json_t *vars = json_object_get(
        json_object_get(json_object_get(json_array_get(l, 0), "relationships"), "variables"),
        "data");
    assert_int_equal(json_array_size(vars), 2);
    json_decref(l);

    json_t *egg = ptero_get_egg(&t->conn, 1, 1, &t->e);
    assert_non_null(egg);
    assert_string_equal(jstr(egg, "name"), "Paper");
    json_t *env = ptero_egg_environment(egg, NULL, &t->e);
    assert_string_equal(jstr(env, "SERVER_JARFILE"), "server.jar");
    assert_string_equal(jstr(env, "BUILD_NUMBER"), "latest");
    json_decref(env);
    json_decref(egg);
    /* Eggs are scoped to their nest. */
    assert_null(ptero_get_egg(&t->conn, 2, 1, &t->e));
    assert_error(&t->e, HC_NOT_FOUND, false);
}

static void list_servers_follows_every_page(void **state)
{
    struct env *t = *state;
    char ext[32];
    for (int i = 0; i < 205; i++) {
        snprintf(ext, sizeof ext, "bulk-%d", i);
        fake_ptero_add_server(t->fp, ext, 1);
    }
    json_t *all = ptero_list_servers(&t->conn, &t->e);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 205);
    assert_string_equal(jstr(json_array_get(all, 0), "external_id"), "bulk-0");
    assert_string_equal(jstr(json_array_get(all, 204), "external_id"), "bulk-204");
    json_decref(all);
    assert_int_equal(fake_request_count(t->http), 3);
    for (size_t i = 0; i < 3; i++) {
        struct fake_recorded r;
        char want[64];
        assert_int_equal(fake_recorded(t->http, i, &r), 0);
        assert_string_equal(r.path, API "/servers");
        snprintf(want, sizeof want, "page=%zu&per_page=100", i + 1);
        assert_string_equal(r.query, want);
        fake_recorded_free(&r);
    }
}

/* ---- error classes ---- */

static void errors_map_to_classes_and_retry_decisions(void **state)
{
    struct env *t = *state;
    int64_t id = seed_owned_server(t, NULL);

    /* 404 */
    assert_null(ptero_get_server(&t->conn, 999, &t->e));
    assert_error(&t->e, HC_NOT_FOUND, false);
    assert_int_equal(t->e.http_status, 404);

    /* 429 from the panel's throttle, with Retry-After */
    fake_ptero_throttle(t->fp, 1, 17);
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_RATE_LIMITED, true);
    assert_int_equal(t->e.retry_after_s, 17);
    assert_contains(t->e.message, "retry after 17 s");

    /* 429 from anything in front of it */
    fake_fault(t->http, FAKE_FAULT_429, 1, 5, NULL);
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_RATE_LIMITED, true);
    assert_int_equal(t->e.retry_after_s, 5);

    /* 500 */
    fake_fault(t->http, FAKE_FAULT_500, 1, 0, NULL);
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_UPSTREAM, true);
    assert_int_equal(t->e.http_status, 500);

    /* 502 from the daemon */
    fake_ptero_set_daemon_down(t->fp, true);
    assert_int_equal(ptero_reinstall_server(&t->conn, id, &t->e), -1);
    assert_error(&t->e, HC_UPSTREAM, true);
    assert_int_equal(t->e.http_status, 502);
    assert_contains(t->e.message, "Could not establish a connection to the machine");
    fake_ptero_set_daemon_down(t->fp, false);

    /* malformed JSON */
    fake_fault(t->http, FAKE_FAULT_MALFORMED, 1, 0, NULL);
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_BAD_RESPONSE, true);
    assert_contains(t->e.message, "invalid JSON");

    /* an HTML page with 200 */
    fake_fault(t->http, FAKE_FAULT_HTML, 1, 0, NULL);
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_BAD_RESPONSE, true);
    assert_contains(t->e.message, "did not answer as a Pterodactyl API");

    /* 401 and 403 */
    t->conn.api_key = "not-a-key";
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_AUTH, false);
    assert_int_equal(t->e.http_status, 401);
    t->conn.api_key = "ptla_wrongwrongwrongwrongwrongwrongwrongwrongwrong";
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_AUTH, false);
    assert_int_equal(t->e.http_status, 403);
    assert_contains(t->e.message, "This action is unauthorized.");
    t->conn.api_key = KEY;

    /* a dropped connection on a read, then a slow panel */
    fake_fault(t->http, FAKE_FAULT_DROP_BEFORE, 1, 0, NULL);
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_true(t->e.retryable);
    fake_fault(t->http, FAKE_FAULT_SLOW, 1, 1500, NULL);
    t->conn.timeout_ms = 300;
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_TIMEOUT, true);
    t->conn.timeout_ms = 10000;

    /* refused port */
    char *url = refused_url();
    t->conn.url = url;
    assert_null(ptero_get_server(&t->conn, id, &t->e));
    assert_error(&t->e, HC_CONNECTION, true);
    assert_false(t->e.ambiguous);
    free(url);
}

/* Some other web application: 404 pages without Pterodactyl's error body. */
static void bare_404(void *state, const struct fake_request *r, struct fake_response *w)
{
    fake_reply(w, 404, "text/html", "<html><body>Not Found</body></html>");
}

static void a_bare_404_is_not_taken_for_gone(void **state)
{
    struct env *t = *state;
    struct panel_result out;
    struct fake_server *other = fake_start(bare_404, NULL);
    t->conn.url = fake_url(other);
    /* find must not answer "absent" (which would lead to a create). */
    assert_int_equal(P->find(&t->conn, &t->svc, &out, &t->e), -1);
    assert_error(&t->e, HC_BAD_RESPONSE, true);
    assert_int_equal(t->e.http_status, 404);
    assert_contains(t->e.message, "did not answer as a Pterodactyl API");
    /* and terminate must not report "already gone". */
    assert_int_equal(P->terminate(&t->conn, &t->svc, &t->e), -1);
    fake_stop(other);
}

/* ---- pure parsers ---- */

static void parse_errors_joins_fields_and_details(void **state)
{
    char out[256];
    const char *body =
        "{\"errors\":[{\"code\":\"ValidationException\",\"status\":\"422\",\"detail\":\"The "
        "limits.io must be between 10 and 1000.\",\"meta\":{\"source_field\":\"limits.io\","
        "\"rule\":\"between\"}},{\"code\":\"ValidationException\",\"status\":\"422\","
        "\"detail\":\"The name field is required.\",\"meta\":{\"source_field\":\"name\","
        "\"rule\":\"required\"}}]}";
    assert_int_equal(ptero_parse_errors(body, strlen(body), out, sizeof out), 2);
    assert_string_equal(out, "limits.io: The limits.io must be between 10 and 1000.; name: The "
                             "name field is required.");
    const char *plain = "{\"errors\":[{\"code\":\"NotFoundHttpException\",\"status\":\"404\","
                        "\"detail\":\"line\\none\"}]}";
    assert_int_equal(ptero_parse_errors(plain, strlen(plain), out, sizeof out), 1);
    assert_string_equal(out, "line one");
    assert_int_equal(ptero_parse_errors("<html>", 6, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(ptero_parse_errors("{\"errors\":{}}", 13, out, sizeof out), 0);
    assert_int_equal(ptero_parse_errors(NULL, 0, out, sizeof out), 0);
    /* Cut on a character boundary. */
    const char *utf = "{\"errors\":[{\"detail\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}]}";
    char small[4];
    assert_int_equal(ptero_parse_errors(utf, strlen(utf), small, sizeof small), 1);
    assert_string_equal(small, "\xc3\xa9");
}

static void parse_server_reads_ids_and_suspension(void **state)
{
    struct panel_result r;
    struct hc_error e;
    const char *ok = "{\"object\":\"server\",\"attributes\":{\"id\":7,\"user\":3,"
                     "\"suspended\":false,\"status\":\"suspended\"}}";
    assert_int_equal(ptero_parse_server(ok, strlen(ok), &r, &e), 0);
    assert_string_equal(r.external_id, "7");
    assert_string_equal(r.panel_user_id, "3");
    assert_true(r.suspended);
    const char *bad[] = {"{\"object\":\"user\",\"attributes\":{\"id\":7,\"user\":3}}",
                         "{\"object\":\"server\",\"attributes\":{\"id\":\"7\",\"user\":3}}",
                         "{\"object\":\"server\",\"attributes\":{\"id\":7}}",
                         "[]",
                         "nope",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ptero_parse_server(bad[i], strlen(bad[i]), &r, &e), -1);
        assert_int_equal(e.cls, HC_BAD_RESPONSE);
    }
}

static void parse_list_reads_pages(void **state)
{
    struct hc_error e;
    int64_t cur = 0, total = 0;
    json_t *items = json_array();
    const char *page = "{\"object\":\"list\",\"data\":[{\"object\":\"node\",\"attributes\":"
                       "{\"id\":1}}],\"meta\":{\"pagination\":{\"total\":3,\"count\":1,"
                       "\"per_page\":1,\"current_page\":2,\"total_pages\":3,\"links\":{}}}}";
    assert_int_equal(ptero_parse_list(page, strlen(page), items, &cur, &total, &e), 0);
    assert_int_equal(cur, 2);
    assert_int_equal(total, 3);
    assert_int_equal(json_array_size(items), 1);
    const char *nometa = "{\"object\":\"list\",\"data\":[]}";
    assert_int_equal(ptero_parse_list(nometa, strlen(nometa), items, &cur, &total, &e), 0);
    assert_int_equal(total, 1);
    const char *bad = "{\"object\":\"list\",\"data\":[1]}";
    assert_int_equal(ptero_parse_list(bad, strlen(bad), items, &cur, &total, &e), -1);
    assert_int_equal(e.cls, HC_BAD_RESPONSE);
    json_decref(items);
}

static bool p_username_ok(const char *u)
{
    size_t n = strlen(u);
    if (n < 3)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool alnum = (u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9');
        bool mid = alnum || u[i] == '_' || u[i] == '.' || u[i] == '-';
        if ((i == 0 || i == n - 1) ? !alnum : !mid)
            return false;
    }
    return true;
}

static void usernames_are_deterministic_and_valid(void **state)
{
    char u[64];
    const struct {
        const char *email, *key, *want;
    } cases[] = {
        {"john@example.com", "17", "john_17"},
        {"John.Doe+billing@Example.com", "5", "john.doe_5"},
        {"._x@example.com", "9", "x_9"},
        {"@example.com", "3", "lumi_3"},
        {"a@b.c", NULL, "a_lumi"},
        {NULL, NULL, "lumi"},
        {"\xc3\xa9l\xc3\xa8ve@example.com", "8", "lve_8"},
        {"john-@example.com", "", "john"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ptero_username(cases[i].email, cases[i].key, u, sizeof u), 0);
        assert_string_equal(u, cases[i].want);
        assert_true(p_username_ok(u));
    }
    char tiny[4];
    assert_int_equal(ptero_username("abcdefgh@example.com", "1234", tiny, sizeof tiny), 0);
    assert_true(p_username_ok(tiny));
    assert_int_equal(ptero_username("x@y", "1", tiny, 3), -1);
}

static void egg_environment_takes_defaults_then_overrides(void **state)
{
    struct hc_error e;
    json_error_t jerr;
    json_t *egg = json_loads(
        "{\"relationships\":{\"variables\":{\"object\":\"list\",\"data\":["
        "{\"object\":\"egg_variable\",\"attributes\":{\"env_variable\":\"A\",\"default_value\":"
        "\"1\"}},{\"object\":\"egg_variable\",\"attributes\":{\"env_variable\":\"B\","
        "\"default_value\":null}}]}}}",
        0, &jerr);
    json_t *over = json_pack("{s:s, s:b, s:n}", "A", "x", "C", 1, "D");
    json_t *env = ptero_egg_environment(egg, over, &e);
    assert_non_null(env);
    assert_string_equal(jstr(env, "A"), "x");
    assert_string_equal(jstr(env, "B"), "");
    assert_string_equal(jstr(env, "C"), "1");
    assert_string_equal(jstr(env, "D"), "");
    json_decref(env);
    json_decref(over);
    over = json_pack("{s:[]}", "A");
    assert_null(ptero_egg_environment(egg, over, &e));
    assert_int_equal(e.cls, HC_INVALID);
    json_decref(over);
    over = json_string("nope");
    assert_null(ptero_egg_environment(egg, over, &e));
    json_decref(over);
    json_decref(egg);
}

/* ---- the fake itself, where the client cannot reach ---- */

static int raw(struct env *t, const char *method, const char *path, const char *accept,
               const char *auth, const char *body, struct hc_response *res)
{
    char url[256], a[256], acc[128];
    snprintf(url, sizeof url, "%s%s", fake_ptero_url(t->fp), path);
    snprintf(a, sizeof a, "Authorization: %s", auth != NULL ? auth : "");
    snprintf(acc, sizeof acc, "Accept: %s", accept);
    const char *headers[] = {acc, "Content-Type: application/json", auth != NULL ? a : NULL, NULL};
    struct hc_request req = {.method = method,
                             .url = url,
                             .headers = headers,
                             .body = body,
                             .body_len = body != NULL ? strlen(body) : 0};
    memset(res, 0, sizeof *res);
    return hc_perform(&req, res, &t->e);
}

static void fake_redirects_without_json_accept(void **state)
{
    struct env *t = *state;
    struct hc_response res;
    char loc[128];
    assert_int_equal(raw(t, "GET", API "/nodes", "text/html", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 302);
    assert_non_null(hc_header(&res, "Location", loc, sizeof loc));
    assert_contains(loc, "/auth/login");
    hc_response_free(&res);
    assert_int_equal(raw(t, "GET", API "/nodes", "application/json", NULL, NULL, &res), 0);
    assert_int_equal(res.status, 401);
    assert_string_equal(buf_cstr(&res.body),
                        "{\"errors\":[{\"code\":\"AuthenticationException\","
                        "\"status\":\"401\",\"detail\":\"Unauthenticated.\"}]}");
    hc_response_free(&res);
    assert_int_equal(raw(t, "GET", API "/servers/5", "Application/vnd.pterodactyl.v1+json",
                         "Bearer " KEY, NULL, &res),
                     0);
    assert_int_equal(res.status, 404);
    assert_string_equal(buf_cstr(&res.body),
                        "{\"errors\":[{\"code\":\"NotFoundHttpException\",\"status\":\"404\","
                        "\"detail\":\"The requested resource could not be found on the "
                        "server.\"}]}");
    assert_non_null(hc_header(&res, "X-RateLimit-Limit", loc, sizeof loc));
    assert_string_equal(loc, "240");
    hc_response_free(&res);
}

static void fake_validates_create_like_the_panel(void **state)
{
    struct env *t = *state;
    struct hc_response res;
    fake_ptero_add_user(t->fp, "a@example.com", "aaa", NULL);
    const char *body = "{\"name\":\"x\",\"user\":1,\"egg\":1,\"docker_image\":\"i\","
                       "\"startup\":\"s\",\"environment\":{},\"limits\":{\"memory\":1},"
                       "\"feature_limits\":{}}";
    assert_int_equal(raw(t, "POST", API "/servers", "application/json", "Bearer " KEY, body, &res),
                     0);
    assert_int_equal(res.status, 422);
    const char *b = buf_cstr(&res.body);
    const char *fields[] = {"\"limits.swap\"",
                            "\"limits.disk\"",
                            "\"limits.io\"",
                            "\"limits.cpu\"",
                            "\"feature_limits.databases\"",
                            "\"feature_limits.backups\"",
                            "\"allocation.default\"",
                            "\"environment.SERVER_JARFILE\""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_contains(b, fields[i]);
    assert_contains(b, "\"rule\":\"required_without\"");
    assert_contains(b, "\"rule\":\"present\"");
    hc_response_free(&res);

    /* A user with a taken e-mail and an invalid username. */
    const char *user = "{\"email\":\"A@example.com\",\"username\":\"-bad\","
                       "\"first_name\":\"a\",\"last_name\":\"b\"}";
    assert_int_equal(raw(t, "POST", API "/users", "application/json", "Bearer " KEY, user, &res),
                     0);
    assert_int_equal(res.status, 422);
    assert_contains(buf_cstr(&res.body), "\"rule\":\"unique\"");
    assert_contains(buf_cstr(&res.body), "\"rule\":\"p_username\"");
    hc_response_free(&res);

    /* Malformed JSON, unknown filter, wrong method. */
    assert_int_equal(raw(t, "POST", API "/users", "application/json", "Bearer " KEY, "{", &res), 0);
    assert_int_equal(res.status, 400);
    assert_contains(buf_cstr(&res.body), "BadRequestHttpException");
    hc_response_free(&res);
    assert_int_equal(raw(t, "GET", API "/users?filter%5Bpassword%5D=x", "application/json",
                         "Bearer " KEY, NULL, &res),
                     0);
    assert_int_equal(res.status, 400);
    hc_response_free(&res);
    assert_int_equal(raw(t, "PUT", API "/servers", "application/json", "Bearer " KEY, NULL, &res),
                     0);
    assert_int_equal(res.status, 405);
    hc_response_free(&res);

    /* Pagination meta. */
    assert_int_equal(
        raw(t, "GET", API "/users?per_page=1", "application/json", "Bearer " KEY, NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_contains(buf_cstr(&res.body), "\"pagination\":{");
    assert_contains(buf_cstr(&res.body), "\"total_pages\":1");
    hc_response_free(&res);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_connection_reports_the_node_count),
        T(test_connection_refuses_a_url_that_is_not_http),
        T(test_connection_names_a_refused_connection),
        T(test_connection_explains_a_rejected_key),
        T(test_connection_spots_an_html_page),
        T(test_connection_spots_a_redirect),
        T(test_connection_tolerates_a_pasted_api_path),
        T(create_makes_the_user_then_the_server),
        T(create_reuses_the_user_with_the_client_external_id),
        T(create_adopts_the_user_with_exactly_the_email),
        T(create_never_adopts_a_near_match),
        T(create_puts_product_config_over_egg_defaults),
        T(create_deploys_by_location),
        T(create_reports_no_viable_node),
        T(create_quotes_every_validation_error),
        T(create_checks_the_product_config_first),
        T(create_whose_answer_was_lost_is_found_and_adopted),
        T(create_reports_a_username_taken_by_someone_else),
        T(create_fails_cleanly_when_the_daemon_is_down),
        T(find_returns_zero_when_absent),
        T(find_refuses_a_server_of_another_user),
        T(find_reports_suspension),
        T(suspend_and_unsuspend_are_idempotent),
        T(suspend_of_a_missing_server_is_not_found),
        T(terminate_deletes_and_treats_gone_as_done),
        T(terminate_refuses_a_server_that_is_not_ours),
        T(terminate_waits_for_the_daemon),
        T(change_package_patches_the_build_with_the_current_allocation),
        T(change_package_reports_the_panels_limits),
        T(change_password_resends_the_user_fields),
        T(info_returns_the_server_attributes),
        T(extra_server_operations),
        T(extra_catalogue_operations),
        T(list_servers_follows_every_page),
        T(errors_map_to_classes_and_retry_decisions),
        T(a_bare_404_is_not_taken_for_gone),
        T(parse_errors_joins_fields_and_details),
        T(parse_server_reads_ids_and_suspension),
        T(parse_list_reads_pages),
        T(usernames_are_deterministic_and_valid),
        T(egg_environment_takes_defaults_then_overrides),
        T(fake_redirects_without_json_accept),
        T(fake_validates_create_like_the_panel),
    };
#undef T
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

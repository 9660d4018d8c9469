/*
 * bb_events.c — outgoing events as the provider's own tool sees them: a
 * receiver (tests/fakes/fake_http on 127.0.0.1, a run-time port) gets what
 * `lumi serve` sends to a webhook endpoint.
 *   - an endpoint answers its secret once (whsec_…), never again, never in
 *     the audit trail; bad input is 400 naming the field;
 *   - every request carries Lumi-Signature t=…,v1=HMAC-SHA256(secret,"t.body")
 *     that the receiver checks with the endpoint's secret;
 *   - the receiver answers 500 twice: the event arrives on the third attempt
 *     (attempts 3, status 200 in the log), and the invoice's later events
 *     wait for it: they arrive in the order they happened;
 *   - `lumi serve` SIGKILLed while a delivery is on the wire: after the
 *     restart every event arrives, duplicates only under the same event id;
 *   - with LUMI_WEBHOOK_ALLOW_PRIVATE off, loopback/private/link-local/CGNAT
 *     URLs (v4, v6, v4-mapped) are refused with 400, and an endpoint saved
 *     while it was on is not sent to;
 *   - a change that fails emits nothing; the test button sends a test event.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/crypto.h"
#include "core/str.h"
#include "fakes/fake_http.h"
#include "support/bbenv.h"
#include "support/browse.h"

#define SECRET_KEY "8d2f0b9a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1b"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery staple"
#define HOOK_SECRET "whsec_test_given_secret_0123456789"
#define RECEIVED_MAX 256

struct received {
    char *path;
    char *sig; /* the Lumi-Signature header */
    char *body;
    char *ctype;
};

struct receiver {
    struct fake_server *srv;
    struct received got[RECEIVED_MAX];
    size_t n;
};

struct ctx {
    struct receiver rx;
    int64_t endpoint;
    int next_client;
};
static struct ctx *C;

/* Every API answer after creation: the given secret is never in it. */
static void no_secret(const char *method, const char *path, const struct http_result *r)
{
    if (strstr(buf_cstr(&r->body), HOOK_SECRET) != NULL)
        fail_msg("%s %s answered the endpoint's secret", method, path);
}

static void on_request(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct receiver *rx = state;
    if (rx->n < RECEIVED_MAX) {
        const char *sig = fake_header(r, "Lumi-Signature");
        const char *ct = fake_header(r, "Content-Type");
        rx->got[rx->n].path = str_dup(r->path);
        rx->got[rx->n].sig = str_dup(sig != NULL ? sig : "");
        rx->got[rx->n].ctype = str_dup(ct != NULL ? ct : "");
        rx->got[rx->n].body = str_dup(r->body);
        rx->n++;
    }
    fake_reply(w, 200, "application/json", "{\"received\":true}");
}

static size_t received_count(void)
{
    fake_lock(C->rx.srv);
    size_t n = C->rx.n;
    fake_unlock(C->rx.srv);
    return n;
}

/* A copy of the i-th request received (free with received_free). */
static struct received received_copy(size_t i)
{
    fake_lock(C->rx.srv);
    struct received g = {str_dup(C->rx.got[i].path), str_dup(C->rx.got[i].sig),
                         str_dup(C->rx.got[i].body), str_dup(C->rx.got[i].ctype)};
    fake_unlock(C->rx.srv);
    return g;
}

static void received_free(struct received *g)
{
    free(g->path);
    free(g->sig);
    free(g->body);
    free(g->ctype);
}

/* Checks "t=…,v1=…" against HMAC-SHA256(secret, "t.body"). */
static void assert_signed(const struct received *g, const char *secret)
{
    long long t = 0;
    char v1[80], want[CRYPTO_SHA256_HEX];
    uint8_t mac[CRYPTO_SHA256_LEN];
    if (sscanf(g->sig, "t=%lld,v1=%64s", &t, v1) != 2)
        fail_msg("no signature: '%s'", g->sig);
    size_t len = strlen(g->body) + 32;
    char *text = malloc(len);
    snprintf(text, len, "%lld.%s", t, g->body);
    assert_int_equal(crypto_hmac_sha256(secret, strlen(secret), text, strlen(text), mac), 0);
    hex_encode(mac, sizeof mac, want, sizeof want);
    free(text);
    if (strcmp(want, v1) != 0)
        fail_msg("signature %s does not match %s", v1, want);
    assert_true(t > 1700000000);
}

static void wait_count(int64_t want, const char *sql)
{
    for (int i = 0; i < 300; i++) {
        if (bb_count("%s", sql) >= want)
            return;
        bb_sleep_ms(100);
    }
    fail_msg("timed out waiting for %" PRId64 " of: %s (have %" PRId64 ")", want, sql,
             bb_count("%s", sql));
}

static int64_t new_client(void)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"email\":\"c%d@example.com\",\"password\":\"a long client password\","
             "\"first_name\":\"Ada\",\"last_name\":\"Lovelace\"}",
             ++C->next_client);
    return bb_create_ok("/api/admin/clients", body);
}

static int64_t new_invoice(int64_t client)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"EUR\",\"items\":"
             "[{\"description\":\"Hosting\",\"quantity\":1,\"unit_amount\":990}]}",
             client);
    return bb_create_ok("/api/admin/invoices", body);
}

static int setup(void **state)
{
    char body[400];
    C = calloc(1, sizeof *C);
    C->rx.srv = fake_start(on_request, &C->rx);
    bb_init(SECRET_KEY);
    bb_env_add("LUMI_WEBHOOK_ALLOW_PRIVATE=1");
    bb_env_add("LUMI_WEBHOOK_RETRY_S=1");
    bb_env_add("LUMI_JOB_LEASE_S=3");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "events-test");
    bb_serve();
    snprintf(body, sizeof body,
             "{\"url\":\"%s/hook\",\"events\":[\"*\"],\"secret\":\"" HOOK_SECRET
             "\",\"description\":\"our CRM\"}",
             fake_url(C->rx.srv));
    C->endpoint = bb_create_ok("/api/admin/webhook-endpoints", body);
    bb_check_answers(no_secret);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_stop(C->rx.srv);
    for (size_t i = 0; i < C->rx.n; i++) {
        free(C->rx.got[i].sig);
        free(C->rx.got[i].path);
        free(C->rx.got[i].body);
        free(C->rx.got[i].ctype);
    }
    free(C);
    return status == 0 ? 0 : -1;
}

/* The body of the i-th request received, parsed. */
static json_t *received_json(size_t i)
{
    fake_lock(C->rx.srv);
    json_t *j = json_loads(C->rx.got[i].body, 0, NULL);
    fake_unlock(C->rx.srv);
    assert_non_null(j);
    return j;
}

static void an_endpoint_shows_its_secret_once_and_names_bad_fields(void **state)
{
    (void)state;
    char body[400];
    bb_check_answers(NULL);
    snprintf(body, sizeof body, "{\"url\":\"%s/other\",\"events\":[\"invoice.*\"]}",
             fake_url(C->rx.srv));
    json_t *e = bb_json("POST", body, 201, "/api/admin/webhook-endpoints");
    const char *secret = bb_str(e, "secret");
    assert_true(str_starts_with(secret, "whsec_") && strlen(secret) == 6 + 48);
    char generated[80];
    str_copy(generated, secret, sizeof generated);
    int64_t id = bb_int(e, "id");
    json_decref(e);
    /* never again: not in GET, the list, the audit trail or the table in clear */
    struct http_result r = bb_apif("GET", NULL, "/api/admin/webhook-endpoints/%" PRId64, id);
    assert_int_equal(r.status, 200);
    assert_null(strstr(buf_cstr(&r.body), generated));
    assert_null(json_object_get(r.json, "secret"));
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/webhook-endpoints", NULL);
    assert_null(strstr(buf_cstr(&r.body), generated));
    assert_null(strstr(buf_cstr(&r.body), HOOK_SECRET));
    http_result_free(&r);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%%%s%%'",
             generated);
    assert_int_equal(bb_count("%s", sql), 0);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%%" HOOK_SECRET "%%'"), 0);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM webhook_endpoints WHERE secret_enc LIKE '%%%s%%'", generated);
    assert_int_equal(bb_count("%s", sql), 0);
    assert_true(bb_audit_count("WEBHOOK_ENDPOINT_CREATED") >= 2);
    /* bad input: 400 naming the field, nothing written */
    int64_t before = bb_count("SELECT COUNT(*) FROM webhook_endpoints");
    char hook[200];
    snprintf(hook, sizeof hook, "%s/h", fake_url(C->rx.srv));
    static const struct {
        const char *url, *rest, *names; /* url NULL: the receiver's */
    } bad[] = {
        {"ftp://127.0.0.1/x", "", "'url'"},
        {"not a url", "", "'url'"},
        {"http://user:pw@127.0.0.1/x", "", "'url'"},
        {"http://no-such-host.invalid/x", "", "'url'"},
        {NULL, ",\"events\":[\"invoice.nope\"]", "'events'"},
        {NULL, ",\"events\":[]", "'events'"},
        {NULL, ",\"events\":\"*\"", "'events'"},
        {NULL, ",\"secret\":\"short\"", "'secret'"},
        {NULL, ",\"active\":\"yes\"", "'active'"},
        {NULL, ",\"colour\":\"red\"", "'colour'"},
    };
    r = bb_api("POST", "/api/admin/webhook-endpoints", "{\"events\":[\"*\"]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(bb_str(json_object_get(r.json, "error"), "message"), "'url'"));
    http_result_free(&r);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"url\":\"%s\"%s}", bad[i].url ? bad[i].url : hook,
                 bad[i].rest);
        r = bb_api("POST", "/api/admin/webhook-endpoints", body);
        const char *msg = bb_str(json_object_get(r.json, "error"), "message");
        if (r.status != 400 || strstr(msg, bad[i].names) == NULL)
            fail_msg("case %zu %s: %ld %s", i, body, r.status, buf_cstr(&r.body));
        http_result_free(&r);
    }
    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_endpoints"), before);
    /* edit and delete, audited */
    e = bb_json("PATCH", "{\"description\":\"billing only\",\"active\":false}", 200,
                "/api/admin/webhook-endpoints/%" PRId64, id);
    assert_string_equal(bb_str(e, "description"), "billing only");
    assert_true(json_is_false(json_object_get(e, "active")));
    json_decref(e);
    json_decref(bb_json("DELETE", NULL, 204, "/api/admin/webhook-endpoints/%" PRId64, id));
    json_decref(bb_json("GET", NULL, 404, "/api/admin/webhook-endpoints/%" PRId64, id));
    assert_true(bb_audit_count("WEBHOOK_ENDPOINT_UPDATED") >= 1);
    assert_true(bb_audit_count("WEBHOOK_ENDPOINT_DELETED") >= 1);
    bb_check_answers(no_secret);
}

static void events_arrive_signed_and_retried_in_order_per_entity(void **state)
{
    (void)state;
    size_t from = received_count();
    /* The receiver fails the next two requests: invoice.created comes third time lucky, and
     * the invoice's payment events, made meanwhile, wait for it. */
    int64_t client = new_client();
    wait_count(1, "SELECT COUNT(*) FROM webhook_deliveries d JOIN outgoing_events e ON"
                  " e.id = d.event_id WHERE e.type = 'client.created' AND d.state = 'delivered'");
    from = received_count();
    fake_fault(C->rx.srv, FAKE_FAULT_500, 2, 0, "/hook");
    int64_t inv = new_invoice(client);
    json_decref(bb_json("POST", "{\"amount\":990,\"reference\":\"bank-ev-1\"}", 200,
                        "/api/admin/invoices/%" PRId64 "/payments", inv));
    char sql[400];
    snprintf(
        sql, sizeof sql,
        "SELECT COUNT(*) FROM webhook_deliveries WHERE entity = 'invoice' AND entity_id = %" PRId64
        " AND state = 'delivered'",
        inv);
    wait_count(3, sql);
    /* in the order they happened, each signed with the endpoint's secret */
    static const char *const order[] = {"invoice.created", "payment.received", "invoice.paid"};
    size_t k = 0;
    for (size_t i = from; i < received_count(); i++) {
        struct received g = received_copy(i);
        if (!str_eq(g.path, "/hook")) {
            received_free(&g);
            continue;
        }
        json_t *j = received_json(i);
        json_t *obj = json_object_get(json_object_get(j, "data"), "object");
        const char *type = bb_str(j, "type");
        int64_t about =
            str_eq(type, "payment.received") ? bb_int(obj, "invoice_id") : bb_int(obj, "id");
        if (str_starts_with(type, "invoice.") || str_starts_with(type, "payment.")) {
            assert_int_equal(about, inv);
            assert_true(k < 3);
            assert_string_equal(type, order[k]);
            k++;
        }
        assert_true(str_starts_with(bb_str(j, "id"), "evt_"));
        assert_true(bb_int(j, "created") > 0);
        assert_signed(&g, HOOK_SECRET);
        assert_string_equal(g.ctype, "application/json");
        received_free(&g);
        json_decref(j);
    }
    assert_int_equal(k, 3);
    /* the delivery log: three attempts, 200 and the answer's first bytes */
    json_t *page = bb_json("GET", NULL, 200, "/api/admin/webhook-endpoints/%" PRId64 "/deliveries",
                           C->endpoint);
    json_t *rows = json_object_get(page, "data"), *row;
    size_t i;
    bool seen = false;
    json_array_foreach(rows, i, row)
    {
        if (!str_eq(bb_str(row, "type"), "invoice.created") || bb_int(row, "entity_id") != inv)
            continue;
        seen = true;
        assert_int_equal(bb_int(row, "attempts"), 3);
        assert_int_equal(bb_int(row, "last_status"), 200);
        assert_string_equal(bb_str(row, "state"), "delivered");
        assert_non_null(strstr(bb_str(row, "last_answer"), "received"));
    }
    assert_true(seen);
    json_decref(page);
}

static void a_failed_change_emits_nothing_and_the_test_button_sends_one(void **state)
{
    (void)state;
    int64_t events = bb_count("SELECT COUNT(*) FROM outgoing_events");
    /* a client whose e-mail is taken: nothing changes, no event */
    struct http_result r = bb_api("POST", "/api/admin/clients",
                                  "{\"email\":\"c1@example.com\",\"password\":\"a long client "
                                  "password\",\"first_name\":\"Dup\",\"last_name\":\"Licate\"}");
    assert_true(r.status == 409 || r.status == 400);
    http_result_free(&r);
    /* an invoice for a client that does not exist: refused after the number was taken */
    r = bb_api("POST", "/api/admin/invoices",
               "{\"client_id\":777777,\"currency\":\"eur\",\"items\":[{\"description\":\"x\","
               "\"quantity\":1,\"unit_amount\":1}]}");
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM outgoing_events"), events);
    /* the test button */
    size_t from = received_count();
    json_t *d =
        bb_json("POST", NULL, 202, "/api/admin/webhook-endpoints/%" PRId64 "/test", C->endpoint);
    assert_string_equal(bb_str(d, "type"), "webhook_endpoint.test");
    json_decref(d);
    for (int i = 0; i < 100 && received_count() == from; i++)
        bb_sleep_ms(100);
    assert_true(received_count() > from);
    json_t *j = received_json(from);
    assert_string_equal(bb_str(j, "type"), "webhook_endpoint.test");
    json_decref(j);
    assert_true(bb_audit_count("WEBHOOK_TEST_SENT") >= 1);
    json_decref(bb_json("POST", NULL, 404, "/api/admin/webhook-endpoints/999999/test"));
}

static void the_pages_add_an_endpoint_show_its_log_and_send_a_test(void **state)
{
    (void)state;
    char cookie[256], csrf[80], form[800], url[300], enc[400];
    assert_int_equal(
        browse_login(bb_base_url(), "admin", ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie),
        303);
    browse_csrf(bb_base_url(), cookie, "/admin/webhooks", csrf);
    struct http_result r = browse(bb_base_url(), "GET", "/admin/webhooks", cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "our CRM"));
    assert_non_null(strstr(buf_cstr(&r.body), "href=\"/admin/webhooks\""));
    http_result_free(&r);
    /* a URL that is not http(s) is refused with the field named, the form kept */
    snprintf(form, sizeof form, "csrf_token=%s&url=ftp%%3A%%2F%%2Fexample.com%%2Fx&events=*", csrf);
    r = browse(bb_base_url(), "POST", "/admin/webhooks", cookie, form, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(buf_cstr(&r.body), "&#39;url&#39;"));
    assert_non_null(strstr(buf_cstr(&r.body), "ftp://example.com/x"));
    http_result_free(&r);
    /* added: the secret is on this answer only */
    snprintf(url, sizeof url, "%s/from-page", fake_url(C->rx.srv));
    enc[0] = '\0';
    browse_urlencode(url, enc, sizeof enc);
    snprintf(form, sizeof form,
             "csrf_token=%s&url=%s&events=client.created%%2C+service.*&description=from+the+page",
             csrf, enc);
    r = browse(bb_base_url(), "POST", "/admin/webhooks", cookie, form, NULL);
    assert_int_equal(r.status, 201);
    char secret[80];
    assert_true(browse_attr_after(buf_cstr(&r.body), "copy it now: <span class=\"mono\">", secret,
                                  sizeof secret) ||
                strstr(buf_cstr(&r.body), "whsec_") != NULL);
    assert_non_null(strstr(buf_cstr(&r.body), "client.created, service.*"));
    http_result_free(&r);
    int64_t id = bb_count("SELECT MAX(id) FROM webhook_endpoints");
    char path[80];
    snprintf(path, sizeof path, "/admin/webhooks/%" PRId64, id);
    r = browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(buf_cstr(&r.body), "whsec_"));
    assert_non_null(strstr(buf_cstr(&r.body), "no-deliveries"));
    http_result_free(&r);
    /* Send test event: the log shows the endpoint's answer */
    char test_path[100];
    snprintf(test_path, sizeof test_path, "%s/test", path);
    snprintf(form, sizeof form, "csrf_token=%s", csrf);
    r = browse(bb_base_url(), "POST", test_path, cookie, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
             " AND state = 'delivered'",
             id);
    wait_count(1, sql);
    r = browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    assert_non_null(strstr(buf_cstr(&r.body), "webhook_endpoint.test"));
    assert_non_null(strstr(buf_cstr(&r.body), "data-state=\"delivered\""));
    assert_non_null(strstr(buf_cstr(&r.body), "received"));
    http_result_free(&r);
    /* edit (deactivate), then delete */
    snprintf(form, sizeof form, "csrf_token=%s&url=%s&events=*&description=off", csrf, enc);
    r = browse(bb_base_url(), "POST", path, cookie, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    snprintf(sql, sizeof sql, "SELECT active FROM webhook_endpoints WHERE id = %" PRId64, id);
    assert_int_equal(bb_count("%s", sql), 0);
    char del_path[100];
    snprintf(del_path, sizeof del_path, "%s/delete", path);
    r = browse(bb_base_url(), "POST", del_path, cookie, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM webhook_endpoints WHERE id = %" PRId64, id);
    assert_int_equal(bb_count("%s", sql), 0);
}

static void a_kill_mid_delivery_loses_no_event(void **state)
{
    (void)state;
    int64_t last = bb_count("SELECT COALESCE(MAX(id), 0) FROM outgoing_events");
    fake_set_latency(C->rx.srv, 2500);
    for (int i = 0; i < 3; i++)
        new_client();
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM webhook_deliveries WHERE event_id > %" PRId64
             " AND locked_by IS NOT NULL AND state = 'pending'",
             last);
    wait_count(1, sql);
    bb_sleep_ms(300); /* the request is on the wire */
    kill(bb_server()->pid, SIGKILL);
    int st = 0;
    waitpid(bb_server()->pid, &st, 0);
    fake_set_latency(C->rx.srv, 0);
    lumi_serve_start(bb_server(), bb_env());
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM webhook_deliveries WHERE event_id > %" PRId64
             " AND state = 'delivered'",
             last);
    wait_count(3, sql);
    bb_sleep_ms(3000); /* the killed request's late arrival is in by now */
    /* every event arrived; anything twice came under its one event id */
    struct lumi_err err;
    struct db_stmt *q =
        db_prepare(bb_db(), "SELECT public_id FROM outgoing_events WHERE id > $1", &err);
    assert_non_null(q);
    db_bind_int64(q, 1, last);
    int events = 0;
    while (db_step(q, &err) == DB_ROW) {
        const char *pid = db_col_text(q, 0);
        int copies = 0;
        for (size_t i = 0; i < received_count(); i++) {
            json_t *j = received_json(i);
            copies += str_eq(bb_str(j, "id"), pid);
            json_decref(j);
        }
        if (copies < 1)
            fail_msg("event %s never arrived", pid);
        events++;
    }
    db_finalize(q);
    assert_int_equal(events, 3);
    for (size_t i = 0; i < received_count(); i++) {
        json_t *j = received_json(i);
        char like[200];
        snprintf(like, sizeof like, "SELECT COUNT(*) FROM outgoing_events WHERE public_id = '%s'",
                 bb_str(j, "id"));
        assert_int_equal(bb_count("%s", like), 1); /* no copy under an id of its own */
        json_decref(j);
    }
}

static void private_addresses_are_refused_unless_allowed(void **state)
{
    (void)state;
    char body[400];
    /* saved while private targets were allowed */
    snprintf(body, sizeof body, "{\"url\":\"%s/private\",\"events\":[\"client.created\"]}",
             fake_url(C->rx.srv));
    bb_check_answers(NULL);
    json_t *e = bb_json("POST", body, 201, "/api/admin/webhook-endpoints");
    int64_t id = bb_int(e, "id");
    json_decref(e);
    bb_check_answers(no_secret);
    assert_int_equal(bb_stop(), 0);
    bb_env_add("LUMI_WEBHOOK_ALLOW_PRIVATE=0");
    bb_serve();
    static const char *const refused[] = {
        "http://127.0.0.1:8080/h",
        "http://localhost/h",
        "http://10.1.2.3/h",
        "http://172.16.0.1/h",
        "http://192.168.1.1/h",
        "http://169.254.169.254/h",
        "http://100.64.0.1/h",
        "http://0.0.0.0/h",
        "http://224.0.0.1/h",
        "http://[::1]/h",
        "http://[fe80::1]/h",
        "http://[fd00::1]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://[::ffff:10.0.0.1]/h",
        "http://[::]/h",
        "https://2130706433/h",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(body, sizeof body, "{\"url\":\"%s\"}", refused[i]);
        struct http_result r = bb_api("POST", "/api/admin/webhook-endpoints", body);
        const char *msg = bb_str(json_object_get(r.json, "error"), "message");
        if (r.status != 400 || strstr(msg, "'url'") == NULL)
            fail_msg("%s: %ld %s", refused[i], r.status, buf_cstr(&r.body));
        http_result_free(&r);
    }
    /* a change of URL is checked too */
    struct http_result r = bb_apif("PATCH", "{\"url\":\"http://192.168.0.10/x\"}",
                                   "/api/admin/webhook-endpoints/%" PRId64, C->endpoint);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    /* and at delivery time: the endpoint saved before is not sent to */
    size_t from = received_count();
    new_client();
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
             " AND last_error LIKE '%%private%%'",
             id);
    wait_count(1, sql);
    (void)from;
    for (size_t i = 0; i < fake_request_count(C->rx.srv); i++) {
        struct fake_recorded fr;
        if (fake_recorded(C->rx.srv, i, &fr) != 0)
            continue;
        if (str_eq(fr.path, "/private"))
            fail_msg("an event was sent to the private endpoint");
        fake_recorded_free(&fr);
    }
    json_decref(bb_json("DELETE", NULL, 204, "/api/admin/webhook-endpoints/%" PRId64, id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_endpoint_shows_its_secret_once_and_names_bad_fields),
        cmocka_unit_test(events_arrive_signed_and_retried_in_order_per_entity),
        cmocka_unit_test(a_failed_change_emits_nothing_and_the_test_button_sends_one),
        cmocka_unit_test(the_pages_add_an_endpoint_show_its_log_and_send_a_test),
        cmocka_unit_test(a_kill_mid_delivery_loses_no_event),
        cmocka_unit_test(private_addresses_are_refused_unless_allowed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

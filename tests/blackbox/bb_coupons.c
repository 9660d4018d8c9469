/*
 * bb_coupons.c — coupons end to end through the real binary: the admin API
 * creates, lists, changes and deletes them and refuses bad ones naming the
 * field; a client's order with a percent coupon gets a "Coupon CODE (−10 %)"
 * discount line, a fixed one is capped so the invoice is never negative;
 * unknown, expired, wrong-product and wrong-currency codes are a 400 that
 * creates nothing; two orders racing for the last use → one 201, one 409
 * and one service; the coupon's cycles are honoured on renewals made by
 * `lumi cron` (due dates moved by SQL); the admin page lists coupons and its
 * form needs the CSRF token. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/testdb.h"

#define SECRET_KEY "7e1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "coupon-admin@example.com"
#define ADMIN_PASSWORD "Coupon-Admin-Password-1"
#define PASSWORD "Coupon-Client-Password-1"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"

struct who {
    int64_t id;
    char cookie[200], csrf[80];
};

struct ctx {
    int64_t product, other_product;
    struct who a, b;
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int client_call(const struct who *w, const char *method, const char *path,
                       const char *body, struct http_result *r)
{
    char url[256], cookie_h[256], csrf_h[128];
    const char *headers[4] = {"Content-Type: application/json", cookie_h, csrf_h, NULL};
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    snprintf(cookie_h, sizeof cookie_h, "Cookie: %s", w->cookie);
    snprintf(csrf_h, sizeof csrf_h, "X-CSRF-Token: %s", w->csrf);
    memset(r, 0, sizeof *r);
    return http_request(method, url, headers, body, r);
}

static const char *error_message(const struct http_result *r)
{
    const char *m =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m != NULL ? m : "";
}

/* The client's order with coupon (NULL: none) of product; expects status (and message part). */
static json_t *order(const struct who *w, int64_t product, const char *coupon, long status,
                     const char *msg_part)
{
    char body[200];
    struct http_result r;
    if (coupon != NULL)
        snprintf(body, sizeof body, "{\"product_id\":%" PRId64 ",\"coupon\":\"%s\"}", product,
                 coupon);
    else
        snprintf(body, sizeof body, "{\"product_id\":%" PRId64 "}", product);
    if (client_call(w, "POST", "/api/client/orders", body, &r) != 0)
        fail_msg("order: no answer");
    if (r.status != status)
        fail_msg("order %s: want %ld, got %ld %s", body, status, r.status, buf_cstr(&r.body));
    if (msg_part != NULL && strstr(error_message(&r), msg_part) == NULL)
        fail_msg("order %s: message '%s' lacks '%s'", body, error_message(&r), msg_part);
    json_t *j = json_incref(r.json);
    http_result_free(&r);
    return j;
}

static int64_t coupon(const char *body)
{
    return bb_create_ok("/api/admin/coupons", body);
}

static void refused(const char *body, long status, const char *msg_part)
{
    struct http_result r = bb_api("POST", "/api/admin/coupons", body);
    if (r.status != status || strstr(error_message(&r), msg_part) == NULL)
        fail_msg("coupon %s: want %ld '%s', got %ld %s", body, status, msg_part, r.status,
                 buf_cstr(&r.body));
    http_result_free(&r);
}

/* The discount line of an invoice JSON (borrowed), or NULL. */
static json_t *discount_line(const json_t *inv)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(inv, "items"), i, it)
    {
        if (strcmp(bb_str(it, "kind"), "discount") == 0)
            return it;
    }
    return NULL;
}

static void make_client(struct who *w, const char *email)
{
    char body[300], sql[200];
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"" PASSWORD "\",\"first_name\":\"C\","
             "\"last_name\":\"Coupon\"}",
             email);
    w->id = bb_create_ok("/api/admin/clients", body);
    snprintf(sql, sizeof sql,
             "UPDATE users SET email_verified_at = created_at WHERE id = %" PRId64, w->id);
    testdb_exec(bb_db(), sql);
    if (browse_login(bb_base_url(), "client", email, PASSWORD, w->cookie, sizeof w->cookie) != 303)
        fail_msg("login of %s failed", email);
    browse_csrf(bb_base_url(), w->cookie, "/client", w->csrf);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "coupon-test");
    bb_serve();
    int64_t server = bb_create_ok("/api/admin/servers",
                                  "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":"
                                  "\"http://127.0.0.1:9\",\"api_key\":\"ptla_x\"}");
    char body[800];
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"setup_fee\":500,"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"manual\",\"config\":" GAME_CONFIG "}",
             server);
    C->product = bb_create_ok("/api/admin/products", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 4G\",\"type\":\"game_server\",\"price\":4000,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\","
             "\"server_id\":%" PRId64 ",\"autosetup\":\"manual\",\"config\":" GAME_CONFIG "}",
             server);
    C->other_product = bb_create_ok("/api/admin/products", body);
    make_client(&C->a, "amy@example.com");
    make_client(&C->b, "bob@example.com");
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void admin_creates_lists_changes_and_deletes_coupons(void **state)
{
    (void)state;
    int64_t created = bb_audit_count("COUPON_CREATED");
    int64_t id = coupon("{\"code\":\"spring-24\",\"kind\":\"percent\",\"value\":2500}");
    json_t *c = bb_json("GET", NULL, 200, "/api/admin/coupons/%" PRId64, id);
    assert_string_equal(bb_str(c, "code"), "SPRING-24");
    assert_int_equal(bb_int(c, "cycles"), 1);
    assert_int_equal(bb_int(c, "uses"), 0);
    assert_true(json_is_null(json_object_get(c, "currency")));
    json_decref(c);
    assert_int_equal(bb_audit_count("COUPON_CREATED"), created + 1);

    refused("{\"code\":\"SPRING-24\",\"kind\":\"percent\",\"value\":100}", 409, "already exists");
    refused("{\"code\":\"F1\",\"kind\":\"fixed\",\"value\":100}", 400, "currency");
    refused("{\"code\":\"P1\",\"kind\":\"percent\",\"value\":10001}", 400, "value");
    refused("{\"code\":\"P2\",\"kind\":\"percent\",\"value\":100,\"currency\":\"usd\"}", 400,
            "currency");
    refused("{\"code\":\"P3\",\"kind\":\"percent\",\"value\":100,\"product_ids\":[999999]}", 400,
            "product_ids");
    refused("{\"code\":\"bad code!\",\"kind\":\"percent\",\"value\":100}", 400, "code");
    refused("{\"code\":\"P4\",\"kind\":\"half\",\"value\":100}", 400, "kind");
    refused("{\"code\":\"P5\",\"kind\":\"percent\",\"value\":100,\"expires_at\":\"soon\"}", 400,
            "expires_at");
    refused("{\"code\":\"P6\",\"kind\":\"percent\",\"value\":100,\"cycles\":-1}", 400, "cycles");

    c = bb_json("PATCH", "{\"max_uses\":5,\"expires_at\":\"2099-01-01\"}", 200,
                "/api/admin/coupons/%" PRId64, id);
    assert_int_equal(bb_int(c, "max_uses"), 5);
    assert_string_equal(bb_str(c, "expires_at"), "2099-01-01T00:00:00Z");
    json_decref(c);
    json_t *list = bb_json("GET", NULL, 200, "/api/admin/coupons");
    assert_true(json_array_size(json_object_get(list, "data")) >= 1);
    json_decref(list);
    json_decref(bb_json("DELETE", NULL, 204, "/api/admin/coupons/%" PRId64, id));
    json_decref(bb_json("GET", NULL, 404, "/api/admin/coupons/%" PRId64, id));
    assert_int_equal(bb_audit_count("COUPON_DELETED"), 1);
    assert_int_equal(bb_audit_count("COUPON_UPDATED"), 1);
}

static void percent_and_fixed_coupons_discount_the_order(void **state)
{
    (void)state;
    coupon("{\"code\":\"TEN\",\"kind\":\"percent\",\"value\":1000}");
    json_t *o = order(&C->a, C->product, "ten", 201, NULL);
    json_t *inv = json_object_get(o, "invoice");
    json_t *line = discount_line(inv);
    assert_non_null(line);
    assert_int_equal(bb_int(line, "amount"), -200); /* 10 % of 1500 + 500 */
    assert_string_equal(bb_str(line, "description"), "Coupon TEN (\u221210 %)");
    assert_int_equal(bb_int(inv, "total"), 1800);
    assert_int_equal(bb_int(inv, "discount"), 200);
    json_decref(o);
    assert_int_equal(bb_count("SELECT uses FROM coupons WHERE code = 'TEN'"), 1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM coupon_uses"), 1);

    /* a fixed coupon larger than the invoice is capped: total 0, settled at once */
    coupon("{\"code\":\"BIG\",\"kind\":\"fixed\",\"value\":50000,\"currency\":\"usd\"}");
    o = order(&C->a, C->product, "BIG", 201, NULL);
    inv = json_object_get(o, "invoice");
    assert_int_equal(bb_int(discount_line(inv), "amount"), -2000);
    assert_int_equal(bb_int(inv, "total"), 0);
    assert_string_equal(bb_str(inv, "status"), "paid");
    json_decref(o);
}

static void bad_codes_are_refused_and_create_nothing(void **state)
{
    (void)state;
    char body[200];
    coupon("{\"code\":\"OLD\",\"kind\":\"percent\",\"value\":1000,\"expires_at\":\"2020-01-01\"}");
    snprintf(body, sizeof body,
             "{\"code\":\"ONLY4G\",\"kind\":\"percent\",\"value\":1000,\"product_ids\":[%" PRId64
             "]}",
             C->other_product);
    coupon(body);
    coupon("{\"code\":\"EURO\",\"kind\":\"fixed\",\"value\":100,\"currency\":\"eur\"}");
    coupon("{\"code\":\"OFF\",\"kind\":\"percent\",\"value\":1000,\"active\":false}");
    int64_t services = bb_count("SELECT COUNT(*) FROM services");
    int64_t invoices = bb_count("SELECT COUNT(*) FROM invoices");
    json_decref(order(&C->a, C->product, "NOPE", 400, "no coupon NOPE"));
    json_decref(order(&C->a, C->product, "OLD", 400, "expired"));
    json_decref(order(&C->a, C->product, "ONLY4G", 400, "does not apply"));
    json_decref(order(&C->a, C->product, "EURO", 400, "eur"));
    json_decref(order(&C->a, C->product, "OFF", 400, "not active"));
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services"), services);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoices"), invoices);
    assert_int_equal(bb_count("SELECT SUM(uses) FROM coupons WHERE code IN ('OLD', 'ONLY4G', "
                              "'EURO', 'OFF')"),
                     0);
    /* the 4G product takes ONLY4G */
    json_decref(order(&C->a, C->other_product, "ONLY4G", 201, NULL));
}

struct racer {
    const struct who *w;
    long status;
    char answer[600];
};

static void *race(void *arg)
{
    struct racer *x = arg;
    struct http_result r;
    char body[200];
    snprintf(body, sizeof body, "{\"product_id\":%" PRId64 ",\"coupon\":\"LAST\"}", C->product);
    if (client_call(x->w, "POST", "/api/client/orders", body, &r) == 0) {
        x->status = r.status;
        snprintf(x->answer, sizeof x->answer, "%s", buf_cstr(&r.body));
    }
    http_result_free(&r);
    return NULL;
}

static void two_orders_racing_for_the_last_use_one_wins(void **state)
{
    (void)state;
    coupon("{\"code\":\"LAST\",\"kind\":\"percent\",\"value\":5000,\"max_uses\":2}");
    json_decref(order(&C->b, C->product, "LAST", 201, NULL)); /* one of two used */
    int64_t services = bb_count("SELECT COUNT(*) FROM services");
    struct racer x[2] = {{&C->a, 0, ""}, {&C->b, 0, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, race, &x[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int won = (x[0].status == 201) + (x[1].status == 201);
    int lost = (x[0].status == 409) + (x[1].status == 409);
    if (won != 1 || lost != 1)
        fail_msg("want one 201 and one 409: %ld %s / %ld %s", x[0].status, x[0].answer,
                 x[1].status, x[1].answer);
    assert_non_null(strstr(x[0].status == 409 ? x[0].answer : x[1].answer, "no uses left"));
    assert_int_equal(bb_count("SELECT COUNT(*) FROM services"), services + 1);
    assert_int_equal(bb_count("SELECT uses FROM coupons WHERE code = 'LAST'"), 2);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM coupon_uses u JOIN coupons c ON c.id = "
                              "u.coupon_id WHERE c.code = 'LAST'"),
                     2);
    /* and now it is used up for everybody */
    json_decref(order(&C->a, C->product, "LAST", 409, "no uses left"));
}

/* Moves the service's next due date k days ahead, active, then runs `lumi cron`. */
static void renew(int64_t service, int k)
{
    char when[32];
    time_t t = time(NULL) + (time_t)k * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT00:00:00Z", &tm);
    char sql[300];
    snprintf(sql, sizeof sql,
             "UPDATE services SET status = 'active', next_due_date = '%s' WHERE id = %" PRId64,
             when, service);
    testdb_exec(bb_db(), sql);
    const char *argv[] = {"cron", NULL};
    bb_run_ok(argv, NULL);
}

/* The discount of the service's newest invoice. */
static int64_t newest_discount(int64_t service)
{
    return bb_count("SELECT COALESCE(-SUM(ii.amount), 0) FROM invoice_items ii WHERE ii.kind = "
                    "'discount' AND ii.invoice_id = (SELECT MAX(invoice_id) FROM invoice_items "
                    "WHERE service_id = %" PRId64 ")",
                    service);
}

static void cycles_are_honoured_on_renewals(void **state)
{
    (void)state;
    coupon("{\"code\":\"TWO\",\"kind\":\"percent\",\"value\":2000,\"cycles\":2}");
    coupon("{\"code\":\"ONCE\",\"kind\":\"percent\",\"value\":2000}");
    coupon("{\"code\":\"EVER\",\"kind\":\"fixed\",\"value\":100,\"currency\":\"usd\","
           "\"cycles\":0}");
    int64_t svc[3];
    const char *codes[3] = {"TWO", "ONCE", "EVER"};
    for (int i = 0; i < 3; i++) {
        json_t *o = order(&C->a, C->product, codes[i], 201, NULL);
        svc[i] = bb_int(json_object_get(o, "service"), "id");
        json_decref(o);
    }
    assert_int_equal(newest_discount(svc[0]), 400); /* 20 % of 2000 */
    assert_int_equal(newest_discount(svc[1]), 400);
    assert_int_equal(newest_discount(svc[2]), 100);
    for (int k = 1; k <= 3; k++) {
        for (int i = 0; i < 3; i++)
            renew(svc[i], k);
        /* renewal k: TWO discounts the first renewal only (its second invoice) */
        assert_int_equal(newest_discount(svc[0]), k == 1 ? 300 : 0); /* 20 % of 1500 */
        assert_int_equal(newest_discount(svc[1]), 0);
        assert_int_equal(newest_discount(svc[2]), 100);
    }
    assert_int_equal(bb_count("SELECT COUNT(*) FROM invoice_items WHERE kind = 'recurring' AND "
                              "service_id = %" PRId64,
                              svc[2]),
                     4);
    assert_int_equal(bb_count("SELECT discount FROM invoices WHERE id = (SELECT MAX(invoice_id) "
                              "FROM invoice_items WHERE service_id = %" PRId64 ")",
                              svc[2]),
                     100);
}

static void admin_page_lists_and_creates_coupons_with_the_csrf_token(void **state)
{
    (void)state;
    char admin[200], csrf[80], form[400];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, admin, sizeof admin);
    browse_csrf(bb_base_url(), admin, "/admin", csrf);
    struct http_result r = browse(bb_base_url(), "GET", "/admin/coupons", admin, NULL, NULL);
    assert_int_equal(r.status, 200);
    if (strstr(buf_cstr(&r.body), "TWO") == NULL || strstr(buf_cstr(&r.body), "href=\"/admin/coupons\"") == NULL)
        fail_msg("coupons page lacks the list or the nav entry:\n%s", buf_cstr(&r.body));
    http_result_free(&r);
    const char *fields = "code=page12&kind=percent&value=12.5&cycles=1&max_uses=0&product_ids=";
    r = browse(bb_base_url(), "POST", "/admin/coupons", admin, fields, NULL);
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM coupons WHERE code = 'PAGE12'"), 0);
    snprintf(form, sizeof form, "csrf_token=%s&%s", csrf, fields);
    r = browse(bb_base_url(), "POST", "/admin/coupons", admin, form, NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT value FROM coupons WHERE code = 'PAGE12'"), 1250);
    /* the store's order form has the coupon field */
    char path[64];
    snprintf(path, sizeof path, "/store/products/%" PRId64, C->product);
    r = browse(bb_base_url(), "GET", path, C->a.cookie, NULL, NULL);
    assert_non_null(strstr(buf_cstr(&r.body), "name=\"coupon\""));
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_creates_lists_changes_and_deletes_coupons),
        cmocka_unit_test(percent_and_fixed_coupons_discount_the_order),
        cmocka_unit_test(bad_codes_are_refused_and_create_nothing),
        cmocka_unit_test(two_orders_racing_for_the_last_use_one_wins),
        cmocka_unit_test(cycles_are_honoured_on_renewals),
        cmocka_unit_test(admin_page_lists_and_creates_coupons_with_the_csrf_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

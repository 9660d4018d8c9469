/*
 * dbtest_reconcile.c — the drift check against the three fake panels: a
 * clean state reports nothing; a live service without its resource is
 * missing; a resource of a terminated service, or carrying this
 * installation's key with no service, is orphaned; other tools' resources
 * are only counted; suspended states that disagree are reported both ways;
 * a panel that refuses the credentials is one error line and the others are
 * still checked; --server limits the pass; and the pass writes nothing —
 * neither rows nor panel requests other than GETs. Runs on SQLite and
 * PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"
#include "fakes/fake_directadmin.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_virtfusion.h"
#include "panels/pterodactyl.h"
#include "panels/virtfusion.h"
#include "provisioning/reconcile.h"
#include "provisioning/servers.h"
#include "support/testdb.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PTERO_KEY "ptla_ReconcileTestApplicationKey123456789ab"
#define VF_TOKEN "vf-token-reconcile-1234"
#define DA_PASSWORD "s3cret pass"
#define INSTALLATION "ab12cd34"
#define PREFIX "lumi-" INSTALLATION "-"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    FILE *log;
    struct fake_ptero *fp;
    struct fake_da *da;
    struct fake_vf *vf;
    int64_t client_id, product_id;
    int64_t ptero_id, da_id, vf_id; /* Lumi's servers.id of each panel */
    int64_t ptero_user, vf_user;    /* the client on each panel */
    struct reconcile_report rep;
    char *out; /* the lines of the last run */
};

static int64_t add_server(struct fixture *f, const char *json)
{
    struct lumi_err err;
    json_t *in = json_loads(json, 0, NULL);
    assert_non_null(in);
    json_t *out = servers_create(f->db, &ACTOR, in, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("servers_create: %s", err.msg);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    return id;
}

static void add_pterodactyl(struct fixture *f, const char *api_key)
{
    char json[512];
    f->fp = fake_ptero_start(PTERO_KEY);
    snprintf(json, sizeof json,
             "{\"name\":\"games\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"%s\"}",
             fake_ptero_url(f->fp), api_key);
    f->ptero_id = add_server(f, json);
    f->ptero_user = fake_ptero_add_user(f->fp, "ann@example.com", "ann", "1");
}

static void add_directadmin(struct fixture *f, const char *password)
{
    char json[512];
    f->da = fake_da_start("admin", DA_PASSWORD);
    snprintf(json, sizeof json,
             "{\"name\":\"web\",\"type\":\"directadmin\",\"url\":\"%s\",\"username\":\"admin\","
             "\"password\":\"%s\"}",
             fake_da_url(f->da), password);
    f->da_id = add_server(f, json);
}

static void add_virtfusion(struct fixture *f)
{
    char json[512];
    f->vf = fake_vf_start(VF_TOKEN);
    snprintf(json, sizeof json,
             "{\"name\":\"vps\",\"type\":\"virtfusion\",\"url\":\"%s\",\"api_key\":\"" VF_TOKEN
             "\"}",
             fake_vf_url(f->vf));
    f->vf_id = add_server(f, json);
    f->vf_user = fake_vf_add_user(f->vf, 1, "ann@example.com");
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    setenv("LUMI_SECRET_KEY", KEY, 1);
    unsetenv("PTERODACTYL_URL");
    unsetenv("DIRECTADMIN_URL");
    unsetenv("VIRTFUSION_URL");
    f->db = testdb_start(&f->url);
    f->log = tmpfile();
    assert_non_null(f->log);
    log_set_output(f->log);
    testdb_execp(f->db,
                 "INSERT INTO users (email, role, first_name, last_name, created_at, updated_at) "
                 "VALUES ('ann@example.com', 'client', 'Ann', 'Lee', '2026-01-01T00:00:00Z', "
                 "'2026-01-01T00:00:00Z')",
                 0, NULL);
    f->client_id = testdb_int64(f->db, "SELECT MAX(id) FROM users");
    testdb_execp(
        f->db,
        "INSERT INTO settings (key, value, updated_at) VALUES ('installation.id', '" INSTALLATION
        "', '2026-01-01T00:00:00Z')",
        0, NULL);
    testdb_execp(
        f->db,
        "INSERT INTO products (name, type, price, currency, billing_cycle, autosetup, config, "
        "created_at, updated_at) VALUES ('Plan', 'other', 500, 'usd', 'monthly', 'order', "
        "'{}', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        0, NULL);
    f->product_id = testdb_int64(f->db, "SELECT MAX(id) FROM products");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_set_output(stderr);
    fclose(f->log);
    free(f->out);
    fake_ptero_stop(f->fp);
    fake_da_stop(f->da);
    fake_vf_stop(f->vf);
    testdb_finish(f->db, f->url);
    free(f);
    return 0;
}

/*
 * A service row on server_id with this installation's key for its id
 * (suffix NULL) or the given key; external_id and username may be NULL.
 * Returns its id.
 */
static int64_t add_service(struct fixture *f, int64_t server_id, const char *status,
                           const char *reason, const char *external_id, const char *username)
{
    char cid[24], pid[24], sid[24], key[64];
    snprintf(cid, sizeof cid, "%lld", (long long)f->client_id);
    snprintf(pid, sizeof pid, "%lld", (long long)f->product_id);
    snprintf(sid, sizeof sid, "%lld", (long long)server_id);
    snprintf(key, sizeof key, "tmp-%lld",
             (long long)testdb_int64(f->db, "SELECT COALESCE(MAX(id), 0) + 1 FROM services"));
    const char *p[] = {cid, pid, sid, status, reason, key, external_id, username};
    testdb_execp(f->db,
                 "INSERT INTO services (client_id, product_id, server_id, status, suspend_reason, "
                 "remote_key, external_id, username, billing_cycle, recurring_amount, currency, "
                 "created_at, updated_at) VALUES (CAST($1 AS BIGINT), CAST($2 AS BIGINT), "
                 "CAST($3 AS BIGINT), $4, $5, $6, $7, $8, 'monthly', 500, 'usd', "
                 "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                 8, p);
    int64_t id = testdb_int64(f->db, "SELECT MAX(id) FROM services");
    char idt[24];
    snprintf(idt, sizeof idt, "%lld", (long long)id);
    snprintf(key, sizeof key, PREFIX "%lld", (long long)id);
    testdb_execp(f->db, "UPDATE services SET remote_key = $1 WHERE id = CAST($2 AS BIGINT)", 2,
                 (const char *const[]){key, idt});
    return id;
}

static void key_of(int64_t service_id, char out[64])
{
    snprintf(out, 64, PREFIX "%lld", (long long)service_id);
}

static void id_text(int64_t id, char out[24])
{
    snprintf(out, 24, "%lld", (long long)id);
}

/* A Pterodactyl server for service_id (NULL key: an unmarked server); returns the panel id. */
static int64_t ptero_server(struct fixture *f, const char *key)
{
    return fake_ptero_add_server(f->fp, key, f->ptero_user);
}

static void ptero_suspend(struct fixture *f, int64_t panel_id)
{
    struct server_conn sc;
    struct lumi_err err;
    struct hc_error e = {0};
    assert_int_equal(servers_conn(f->db, f->ptero_id, &sc, &err), 0);
    assert_int_equal(ptero_suspend_server(&sc.conn, panel_id, &e), 0);
    servers_conn_clear(&sc);
}

static void vf_suspend_server(struct fixture *f, int64_t panel_id)
{
    struct server_conn sc;
    struct lumi_err err;
    struct hc_error e = {0};
    char id[24];
    id_text(panel_id, id);
    assert_int_equal(servers_conn(f->db, f->vf_id, &sc, &err), 0);
    if (vf_suspend(&sc.conn, id, &e) != 0)
        fail_msg("vf_suspend: %s", e.message);
    servers_conn_clear(&sc);
}

static void clear_requests(struct fixture *f)
{
    if (f->fp != NULL)
        fake_clear_requests(fake_ptero_http(f->fp));
    if (f->da != NULL)
        fake_clear_requests(fake_da_http(f->da));
    if (f->vf != NULL)
        fake_clear_requests(fake_vf_http(f->vf));
}

/* One pass over server_id; its lines land in f->out. Returns reconcile_run's result. */
static int run(struct fixture *f, int64_t server_id)
{
    struct lumi_err err;
    size_t len = 0;
    free(f->out);
    f->out = NULL;
    FILE *mem = open_memstream(&f->out, &len);
    assert_non_null(mem);
    int rc = reconcile_run(f->db, server_id, mem, &f->rep, &err);
    fclose(mem);
    if (rc != 0 && rc != LUMI_ENOTFOUND)
        fail_msg("reconcile_run: %s", err.msg);
    return rc;
}

static int lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p != '\0'; p++)
        n += *p == '\n';
    return n;
}

static void assert_line(struct fixture *f, const char *want)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n", want);
    if (strstr(f->out, buf) == NULL)
        fail_msg("missing line \"%s\" in:\n%s", want, f->out);
}

/* --- tests ------------------------------------------------------------------ */

static void clean_state_reports_no_difference(void **state)
{
    struct fixture *f = *state;
    char key[64], id[24];
    add_pterodactyl(f, PTERO_KEY);
    add_directadmin(f, DA_PASSWORD);
    add_virtfusion(f);

    int64_t s1 = add_service(f, f->ptero_id, "active", NULL, NULL, NULL);
    key_of(s1, key);
    ptero_server(f, key);
    /* matched by external_id alone: a server made before keys were written */
    int64_t p2 = ptero_server(f, NULL);
    id_text(p2, id);
    add_service(f, f->ptero_id, "suspended", "overdue", id, NULL);
    ptero_suspend(f, p2);
    add_service(f, f->ptero_id, "pending", NULL, NULL, NULL);     /* nothing on the panel yet */
    add_service(f, f->ptero_id, "terminated", NULL, "999", NULL); /* gone from the panel too */

    add_service(f, f->da_id, "active", NULL, "annex1", "annex1");
    assert_int_equal(
        fake_da_add_account(f->da, "annex1", "ann@example.com", "ann.example", "basic", "pw123456"),
        0);
    add_service(f, f->da_id, "suspended", "manual", NULL, "annex2");
    assert_int_equal(fake_da_add_account(f->da, "annex2", "ann@example.com", "ann2.example",
                                         "basic", "pw123456"),
                     0);
    fake_da_set_suspended(f->da, "annex2", true);

    int64_t s3 = add_service(f, f->vf_id, "active", NULL, NULL, NULL);
    key_of(s3, key);
    fake_vf_add_server(f->vf, f->vf_user, 1, key, true);

    clear_requests(f);
    assert_int_equal(run(f, 0), 0);
    assert_string_equal(f->out, "");
    assert_int_equal(f->rep.servers, 3);
    assert_int_equal(f->rep.services_checked, 6);
    assert_int_equal(f->rep.missing, 0);
    assert_int_equal(f->rep.orphaned, 0);
    assert_int_equal(f->rep.suspended_mismatch, 0);
    assert_int_equal(f->rep.errors, 0);
    assert_int_equal(f->rep.unmanaged, 0);
}

static void active_service_without_resource_is_missing(void **state)
{
    struct fixture *f = *state;
    char want[512];
    add_pterodactyl(f, PTERO_KEY);
    add_directadmin(f, DA_PASSWORD);
    int64_t s1 = add_service(f, f->ptero_id, "active", NULL, "7", NULL);
    int64_t s2 = add_service(f, f->ptero_id, "suspended", "overdue", NULL, NULL);
    int64_t s3 = add_service(f, f->da_id, "active", NULL, "annex9", "annex9");
    add_service(f, f->ptero_id, "failed", NULL, NULL, NULL); /* may have nothing */
    add_service(f, f->ptero_id, "provisioning", NULL, NULL, NULL);

    assert_int_equal(run(f, 0), 0);
    snprintf(
        want, sizeof want,
        "server %lld (pterodactyl): missing: service %lld is active in Lumi (remote key " PREFIX
        "%lld, panel id 7) but the panel has no such server",
        (long long)f->ptero_id, (long long)s1, (long long)s1);
    assert_line(f, want);
    snprintf(
        want, sizeof want,
        "server %lld (pterodactyl): missing: service %lld is suspended in Lumi (remote key " PREFIX
        "%lld) but the panel has no such server",
        (long long)f->ptero_id, (long long)s2, (long long)s2);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (directadmin): missing: service %lld is active in Lumi (remote key "
             "annex9, panel id annex9) but the panel has no such account",
             (long long)f->da_id, (long long)s3);
    assert_line(f, want);
    assert_int_equal(lines(f->out), 3);
    assert_int_equal(f->rep.missing, 3);
    assert_int_equal(f->rep.services_checked, 5);
    assert_int_equal(f->rep.orphaned + f->rep.suspended_mismatch + f->rep.errors, 0);
}

static void leftover_and_unclaimed_keyed_resources_are_orphaned(void **state)
{
    struct fixture *f = *state;
    char key[64], want[512];
    add_pterodactyl(f, PTERO_KEY);
    add_directadmin(f, DA_PASSWORD);
    add_virtfusion(f);

    int64_t gone = add_service(f, f->ptero_id, "terminated", NULL, NULL, NULL);
    key_of(gone, key);
    int64_t p_gone = ptero_server(f, key);
    int64_t p_stray = ptero_server(f, PREFIX "999");
    ptero_server(f, "lumi-ffffffff-5"); /* another installation's: not ours to judge */
    ptero_server(f, NULL);              /* made by hand */

    int64_t da_gone = add_service(f, f->da_id, "terminated", NULL, "oldacct1", "oldacct1");
    assert_int_equal(fake_da_add_account(f->da, "oldacct1", "ann@example.com", "old.example",
                                         "basic", "pw123456"),
                     0);
    assert_int_equal(fake_da_add_account(f->da, "someone", "bob@example.com", "bob.example",
                                         "basic", "pw123456"),
                     0);

    /* a VirtFusion server named for a service that lives on another server */
    int64_t elsewhere = add_service(f, f->ptero_id, "pending", NULL, NULL, NULL);
    key_of(elsewhere, key);
    int64_t v_stray = fake_vf_add_server(f->vf, f->vf_user, 1, key, true);
    fake_vf_add_server(f->vf, f->vf_user, 1, NULL, false); /* "server-<id>": unmarked */

    assert_int_equal(run(f, 0), 0);
    snprintf(want, sizeof want,
             "server %lld (pterodactyl): orphaned: panel server %lld (external id " PREFIX
             "%lld) belongs to no live service (service %lld is terminated)",
             (long long)f->ptero_id, (long long)p_gone, (long long)gone, (long long)gone);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (pterodactyl): orphaned: panel server %lld (external id " PREFIX
             "999) belongs to no live service (no service has this key)",
             (long long)f->ptero_id, (long long)p_stray);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (directadmin): orphaned: panel account oldacct1 belongs to no live "
             "service (service %lld is terminated)",
             (long long)f->da_id, (long long)da_gone);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (virtfusion): orphaned: panel server %lld (name %s) belongs to no live "
             "service (service %lld is on server %lld)",
             (long long)f->vf_id, (long long)v_stray, key, (long long)elsewhere,
             (long long)f->ptero_id);
    assert_line(f, want);
    assert_int_equal(lines(f->out), 4);
    assert_int_equal(f->rep.orphaned, 4);
    assert_int_equal(f->rep.unmanaged, 4); /* 2 Pterodactyl, 1 DirectAdmin, 1 VirtFusion */
    assert_int_equal(f->rep.missing + f->rep.suspended_mismatch + f->rep.errors, 0);
    assert_null(strstr(f->out, "lumi-ffffffff-5"));
    assert_null(strstr(f->out, "someone"));
}

static void suspended_states_that_disagree_are_reported_both_ways(void **state)
{
    struct fixture *f = *state;
    char key[64], want[512];
    add_pterodactyl(f, PTERO_KEY);
    add_directadmin(f, DA_PASSWORD);
    add_virtfusion(f);

    int64_t s1 = add_service(f, f->ptero_id, "suspended", "overdue", NULL, NULL);
    key_of(s1, key);
    int64_t p1 = ptero_server(f, key);
    int64_t s2 = add_service(f, f->ptero_id, "active", NULL, NULL, NULL);
    key_of(s2, key);
    int64_t p2 = ptero_server(f, key);
    ptero_suspend(f, p2);

    int64_t s3 = add_service(f, f->da_id, "suspended", "abuse", NULL, "annex3");
    assert_int_equal(fake_da_add_account(f->da, "annex3", "ann@example.com", "ann3.example",
                                         "basic", "pw123456"),
                     0);

    int64_t s4 = add_service(f, f->vf_id, "active", NULL, NULL, NULL);
    key_of(s4, key);
    int64_t v4 = fake_vf_add_server(f->vf, f->vf_user, 1, key, true);
    vf_suspend_server(f, v4);

    assert_int_equal(run(f, 0), 0);
    snprintf(want, sizeof want,
             "server %lld (pterodactyl): suspended mismatch: service %lld is suspended in Lumi "
             "(reason overdue) but active on the panel (server %lld)",
             (long long)f->ptero_id, (long long)s1, (long long)p1);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (pterodactyl): suspended mismatch: service %lld is active in Lumi but "
             "suspended on the panel (server %lld)",
             (long long)f->ptero_id, (long long)s2, (long long)p2);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (directadmin): suspended mismatch: service %lld is suspended in Lumi "
             "(reason abuse) but active on the panel (account annex3)",
             (long long)f->da_id, (long long)s3);
    assert_line(f, want);
    snprintf(want, sizeof want,
             "server %lld (virtfusion): suspended mismatch: service %lld is active in Lumi but "
             "suspended on the panel (server %lld)",
             (long long)f->vf_id, (long long)s4, (long long)v4);
    assert_line(f, want);
    assert_int_equal(lines(f->out), 4);
    assert_int_equal(f->rep.suspended_mismatch, 4);
    assert_int_equal(f->rep.missing + f->rep.orphaned + f->rep.errors, 0);
}

static void refused_credentials_are_one_error_and_the_pass_goes_on(void **state)
{
    struct fixture *f = *state;
    char want[256];
    add_directadmin(f, "wrong password");
    add_pterodactyl(f, PTERO_KEY);
    add_service(f, f->da_id, "active", NULL, "annex1", "annex1");
    int64_t s2 = add_service(f, f->ptero_id, "active", NULL, NULL, NULL);

    assert_int_equal(run(f, 0), 0);
    snprintf(want, sizeof want,
             "server %lld (directadmin): could not list accounts: ", (long long)f->da_id);
    assert_non_null(strstr(f->out, want));
    assert_int_equal(f->rep.errors, 1);
    assert_int_equal(f->rep.servers, 2);
    assert_int_equal(f->rep.missing, 1); /* the Pterodactyl server was still checked */
    snprintf(want, sizeof want, "missing: service %lld is active", (long long)s2);
    assert_non_null(strstr(f->out, want));
    assert_int_equal(lines(f->out), 2);
    /* the DirectAdmin line comes first: servers in id order */
    assert_true(strstr(f->out, "(directadmin)") < strstr(f->out, "(pterodactyl)"));
    assert_null(strstr(f->out, "wrong password"));
}

static void server_option_limits_the_pass(void **state)
{
    struct fixture *f = *state;
    add_pterodactyl(f, PTERO_KEY);
    add_virtfusion(f);
    add_service(f, f->ptero_id, "active", NULL, NULL, NULL);
    add_service(f, f->vf_id, "active", NULL, NULL, NULL);

    assert_int_equal(run(f, f->vf_id), 0);
    assert_int_equal(f->rep.servers, 1);
    assert_int_equal(f->rep.missing, 1);
    assert_int_equal(lines(f->out), 1);
    assert_non_null(strstr(f->out, "(virtfusion)"));
    assert_int_equal(fake_request_count(fake_ptero_http(f->fp)), 0);

    assert_int_equal(run(f, 0), 0);
    assert_int_equal(f->rep.servers, 2);
    assert_int_equal(f->rep.missing, 2);

    /* an inactive server is skipped by the full pass, but checked when named */
    testdb_execp(f->db, "UPDATE servers SET active = 0 WHERE type = 'virtfusion'", 0, NULL);
    assert_int_equal(run(f, 0), 0);
    assert_int_equal(f->rep.servers, 1);
    assert_int_equal(run(f, f->vf_id), 0);
    assert_int_equal(f->rep.servers, 1);

    assert_int_equal(run(f, 424242), LUMI_ENOTFOUND);
    assert_int_equal(f->rep.servers, 0);
}

static void the_pass_changes_nothing(void **state)
{
    struct fixture *f = *state;
    char key[64];
    add_pterodactyl(f, PTERO_KEY);
    add_directadmin(f, DA_PASSWORD);
    add_virtfusion(f);
    int64_t s1 = add_service(f, f->ptero_id, "suspended", "overdue", NULL, NULL);
    key_of(s1, key);
    ptero_server(f, key);
    int64_t gone = add_service(f, f->ptero_id, "terminated", NULL, NULL, NULL);
    key_of(gone, key);
    ptero_server(f, key);
    add_service(f, f->da_id, "suspended", "overdue", NULL, "annex1");
    assert_int_equal(
        fake_da_add_account(f->da, "annex1", "ann@example.com", "ann.example", "basic", "pw123456"),
        0);
    add_service(f, f->vf_id, "active", NULL, NULL, NULL);
    int64_t s5 = add_service(f, f->vf_id, "suspended", "manual", NULL, NULL);
    key_of(s5, key);
    fake_vf_add_server(f->vf, f->vf_user, 1, key, true);

    static const char *const counts[] = {
        "SELECT COUNT(*) FROM services",
        "SELECT COUNT(*) FROM jobs",
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM servers",
        "SELECT COUNT(*) FROM settings",
        "SELECT COUNT(*) FROM services WHERE status = 'suspended'"};
    int64_t before[6];
    for (size_t i = 0; i < 6; i++)
        before[i] = testdb_int64(f->db, counts[i]);
    clear_requests(f);

    assert_int_equal(run(f, 0), 0);
    assert_true(f->rep.missing + f->rep.orphaned + f->rep.suspended_mismatch >= 4);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(testdb_int64(f->db, counts[i]), before[i]);

    struct fake_server *fakes[] = {fake_ptero_http(f->fp), fake_da_http(f->da),
                                   fake_vf_http(f->vf)};
    for (size_t k = 0; k < 3; k++) {
        size_t n = fake_request_count(fakes[k]);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            struct fake_recorded rec;
            assert_int_equal(fake_recorded(fakes[k], i, &rec), 0);
            if (strcmp(rec.method, "GET") != 0)
                fail_msg("a %s %s reached a fake panel", rec.method, rec.path);
            fake_recorded_free(&rec);
        }
    }
    /* the panels' states are as seeded */
    key_of(s1, key);
    struct fake_ptero_server ps;
    assert_int_equal(fake_ptero_find_server(f->fp, key, &ps), 1);
    assert_false(ps.suspended);
    assert_false(fake_da_suspended(f->da, "annex1"));
    assert_int_equal(fake_ptero_server_count(f->fp), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(clean_state_reports_no_difference, setup, teardown),
        cmocka_unit_test_setup_teardown(active_service_without_resource_is_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(leftover_and_unclaimed_keyed_resources_are_orphaned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(suspended_states_that_disagree_are_reported_both_ways,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(refused_credentials_are_one_error_and_the_pass_goes_on,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(server_option_limits_the_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(the_pass_changes_nothing, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

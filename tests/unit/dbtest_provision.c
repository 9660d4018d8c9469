/*
 * dbtest_provision.c — the executor of the ProvisioningService against the
 * three fake panels: a service becomes active only when the panel confirmed,
 * a lost answer or a crash after `create` is adopted instead of creating a
 * second resource, transient failures are retried (honouring Retry-After)
 * and permanent ones fail at once with the panel's reason, suspend/unsuspend
 * are idempotent, termination scrubs credentials and gives the slot back,
 * and the service password never reaches the audit trail, the logs or any
 * error column. Runs on SQLite and PostgreSQL.
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
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"
#include "fakes/fake_directadmin.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_virtfusion.h"
#include "panels/directadmin.h"
#include "provisioning/jobs.h"
#include "provisioning/provision.h"
#include "provisioning/selfservice.h"
#include "provisioning/servers.h"
#include "support/testdb.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PTERO_KEY "ptla_ProvisionTestApplicationKey1234567890ab"
#define VF_TOKEN "vf-token-provision-1234"
#define DA_PASSWORD "s3cret pass"
#define CLIENT_EMAIL "ann@example.com"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    FILE *log;
    struct fake_ptero *fp;
    struct fake_da *da;
    struct fake_vf *vf;
    int64_t client_id, server_id, product_id, service_id;
};

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
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_set_output(stderr);
    fclose(f->log);
    fake_ptero_stop(f->fp);
    fake_da_stop(f->da);
    fake_vf_stop(f->vf);
    testdb_finish(f->db, f->url);
    free(f);
    return 0;
}

/* --- rows ------------------------------------------------------------------ */

static int64_t count1(struct db *db, const char *sql, const char *param)
{
    struct lumi_err err;
    int64_t n = -1;
    const char *p[] = {param};
    if (db_query_int64(db, sql, 1, p, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

/* The first column of the first row as text (caller frees; NULL for SQL NULL). */
static char *text_of(struct db *db, const char *sql, int64_t id)
{
    struct lumi_err err;
    struct db_stmt *st = db_prepare(db, sql, &err);
    if (st == NULL)
        fail_msg("%s: %s", sql, err.msg);
    db_bind_int64(st, 1, id);
    assert_int_equal(db_step(st, &err), DB_ROW);
    char *s = db_col_is_null(st, 0) ? NULL : str_dup(db_col_text(st, 0));
    db_finalize(st);
    return s;
}

static char *service_col(struct fixture *f, const char *sql)
{
    return text_of(f->db, sql, f->service_id);
}

static void assert_service(struct fixture *f, const char *status)
{
    char *s = service_col(f, "SELECT status FROM services WHERE id = $1");
    assert_non_null(s);
    assert_string_equal(s, status);
    free(s);
}

static void add_client(struct fixture *f)
{
    const char *p[] = {CLIENT_EMAIL};
    testdb_execp(
        f->db,
        "INSERT INTO users (email, role, first_name, last_name, created_at, updated_at) "
        "VALUES ($1, 'client', 'Ann', 'Lee', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        1, p);
    f->client_id = testdb_int64(f->db, "SELECT MAX(id) FROM users");
}

static void add_server(struct fixture *f, const char *json)
{
    struct lumi_err err;
    json_t *in = json_loads(json, 0, NULL);
    assert_non_null(in);
    /* Every test's database numbers its first server 1, and rate budgets are
     * per process: lift the limit so one test does not wait for another's. */
    json_object_set_new(in, "rate_limit_per_minute", json_integer(1000000));
    json_t *out = servers_create(f->db, &ACTOR, in, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("servers_create: %s", err.msg);
    f->server_id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
}

static int64_t add_product(struct fixture *f, const char *type, const char *config)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)f->server_id);
    const char *p[] = {type, sid, config};
    testdb_execp(
        f->db,
        "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
        "autosetup, config, created_at, updated_at) VALUES ('Plan', $1, CAST($2 AS BIGINT), "
        "500, 'usd', 'monthly', 'order', $3, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        3, p);
    return testdb_int64(f->db, "SELECT MAX(id) FROM products");
}

/* A pending service on the fixture's server, holding one of its slots. */
static void add_service(struct fixture *f, const char *domain, bool with_server)
{
    char cid[24], pid[24], sid[24];
    snprintf(cid, sizeof cid, "%lld", (long long)f->client_id);
    snprintf(pid, sizeof pid, "%lld", (long long)f->product_id);
    snprintf(sid, sizeof sid, "%lld", (long long)f->server_id);
    int64_t next = testdb_int64(f->db, "SELECT COALESCE(MAX(id), 0) + 1 FROM services");
    char key[64];
    snprintf(key, sizeof key, "lumi-test-%lld", (long long)next);
    const char *p[] = {cid, pid, with_server ? sid : NULL, key, domain};
    testdb_execp(
        f->db,
        "INSERT INTO services (client_id, product_id, server_id, status, remote_key, domain, "
        "billing_cycle, recurring_amount, currency, created_at, updated_at) VALUES "
        "(CAST($1 AS BIGINT), CAST($2 AS BIGINT), CAST($3 AS BIGINT), 'pending', $4, $5, "
        "'monthly', 500, 'usd', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        5, p);
    f->service_id = testdb_int64(f->db, "SELECT MAX(id) FROM services");
    if (with_server)
        testdb_execp(f->db,
                     "UPDATE servers SET account_count = account_count + 1 "
                     "WHERE id = CAST($1 AS BIGINT)",
                     1, (const char *const[]){sid});
}

static int64_t add_job(struct fixture *f, const char *action, const char *args)
{
    char svc[24];
    snprintf(svc, sizeof svc, "%lld", (long long)f->service_id);
    const char *p[] = {svc, action, args ? args : "{}"};
    testdb_execp(
        f->db,
        "INSERT INTO jobs (service_id, action, status, args, attempts, max_attempts, run_at, "
        "created_at, updated_at) VALUES (CAST($1 AS BIGINT), $2, 'running', $3, 0, 8, "
        "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        3, p);
    return testdb_int64(f->db, "SELECT MAX(id) FROM jobs");
}

/* Runs attempt `attempt` of job_id as the worker would after claiming it. */
static int run_job(struct fixture *f, int64_t job_id, const char *action, const char *args,
                   int attempt, int max_attempts)
{
    struct job j;
    struct lumi_err err = {0};
    memset(&j, 0, sizeof j);
    j.id = job_id;
    j.service_id = f->service_id;
    str_copy(j.action, action, sizeof j.action);
    str_copy(j.status, "running", sizeof j.status);
    str_copy(j.locked_by, "test-worker", sizeof j.locked_by);
    j.args = json_loads(args ? args : "{}", 0, NULL);
    j.attempts = attempt;
    j.max_attempts = max_attempts;
    char a[16];
    snprintf(a, sizeof a, "%d", attempt);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)job_id);
    /* As jobs_claim leaves it: running, held by this worker, under a lease. */
    testdb_execp(f->db,
                 "UPDATE jobs SET status = 'running', attempts = CAST($1 AS INTEGER), "
                 "locked_by = 'test-worker', locked_until = '2999-01-01T00:00:00Z' "
                 "WHERE id = CAST($2 AS BIGINT)",
                 2, (const char *const[]){a, id});
    int rc = provision_run_job(f->db, &j, &err);
    json_decref(j.args);
    if (rc < 0)
        fail_msg("provision_run_job: %s", err.msg);
    return rc;
}

/* One job run to its first outcome. */
static int run_action(struct fixture *f, const char *action, const char *args)
{
    int64_t id = add_job(f, action, args);
    return run_job(f, id, action, args, 1, 8);
}

static int64_t audit_count(struct fixture *f, const char *action)
{
    return count1(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = $1", action);
}

/* The service's stored password, decrypted (caller frees). */
static char *stored_password(struct fixture *f)
{
    char *enc = service_col(f, "SELECT password_enc FROM services WHERE id = $1");
    assert_non_null(enc);
    char ad[64];
    snprintf(ad, sizeof ad, "services.password:%lld", (long long)f->service_id);
    struct buf out;
    struct lumi_err err;
    buf_init(&out, 1024);
    if (crypto_open(config_secret_key(), ad, enc, &out, &err) != 0)
        fail_msg("crypto_open: %s", err.msg);
    free(enc);
    char *pw = buf_steal(&out);
    buf_free(&out);
    return pw;
}

/* The secret appears in no log line, audit row, error column or job. */
static void assert_secret_nowhere(struct fixture *f, const char *secret)
{
    fflush(f->log);
    long size = ftell(f->log);
    assert_true(size > 0);
    char *logs = calloc(1, (size_t)size + 1);
    rewind(f->log);
    assert_int_equal(fread(logs, 1, (size_t)size, f->log), (size_t)size);
    fseek(f->log, 0, SEEK_END);
    assert_null(strstr(logs, secret));
    assert_non_null(strstr(logs, "event=provision.outcome"));
    free(logs);
    char like[128];
    snprintf(like, sizeof like, "%%%s%%", secret);
    assert_true(count1(f->db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE $1", like) == 0);
    assert_true(
        count1(f->db, "SELECT COUNT(*) FROM provision_attempts WHERE error LIKE $1", like) == 0);
    assert_true(count1(f->db,
                       "SELECT COUNT(*) FROM services WHERE last_error LIKE $1 "
                       "OR password_enc LIKE $1",
                       like) == 0);
    assert_true(count1(f->db, "SELECT COUNT(*) FROM jobs WHERE last_error LIKE $1", like) == 0);
}

/* --- panels ---------------------------------------------------------------- */

static void with_pterodactyl(struct fixture *f, const char *config)
{
    char json[512];
    f->fp = fake_ptero_start(PTERO_KEY);
    snprintf(json, sizeof json,
             "{\"name\":\"games\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"%s\","
             "\"max_accounts\":10}",
             fake_ptero_url(f->fp), PTERO_KEY);
    add_client(f);
    add_server(f, json);
    f->product_id = add_product(f, "game_server",
                                config ? config : "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1}");
    add_service(f, NULL, true);
}

static void with_directadmin(struct fixture *f)
{
    char json[512];
    f->da = fake_da_start("admin", DA_PASSWORD);
    snprintf(json, sizeof json,
             "{\"name\":\"web\",\"type\":\"directadmin\",\"url\":\"%s\",\"username\":\"admin\","
             "\"password\":\"" DA_PASSWORD "\"}",
             fake_da_url(f->da));
    add_client(f);
    add_server(f, json);
    f->product_id = add_product(f, "hosting", "{\"package\":\"basic\"}");
    add_service(f, "ann-example.com", true);
}

static void with_virtfusion(struct fixture *f)
{
    char json[512];
    f->vf = fake_vf_start(VF_TOKEN);
    snprintf(json, sizeof json,
             "{\"name\":\"vps\",\"type\":\"virtfusion\",\"url\":\"%s\",\"api_key\":\"" VF_TOKEN
             "\"}",
             fake_vf_url(f->vf));
    add_client(f);
    add_server(f, json);
    f->product_id = add_product(f, "vps", "{\"package_id\":1,\"hypervisor_group_id\":1}");
    add_service(f, "vm1.example.com", true);
}

static char *remote_key(struct fixture *f)
{
    return service_col(f, "SELECT remote_key FROM services WHERE id = $1");
}

static void assert_attempt(struct fixture *f, int64_t job_id, int nth, const char *action,
                           const char *outcome)
{
    struct lumi_err err;
    struct db_stmt *st = db_prepare(
        f->db, "SELECT action, outcome FROM provision_attempts WHERE job_id = $1 ORDER BY id",
        &err);
    assert_non_null(st);
    db_bind_int64(st, 1, job_id);
    int i = 0, rc;
    while ((rc = db_step(st, &err)) == DB_ROW) {
        if (i++ == nth) {
            assert_string_equal(db_col_text(st, 0), action);
            assert_string_equal(db_col_text(st, 1), outcome);
        }
    }
    db_finalize(st);
    assert_int_equal(rc, DB_DONE);
    assert_true(i > nth);
}

/* --- leases ------------------------------------------------------------------- */

/* A job another worker took over (its lease expired) makes no panel call and
 * records nothing: the new holder decides the outcome. */
static void taken_over_job_calls_nothing_and_records_nothing(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    int64_t job = add_job(f, "provision", NULL);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)job);
    testdb_execp(f->db,
                 "UPDATE jobs SET locked_by = 'another-worker', attempts = 1 "
                 "WHERE id = CAST($1 AS BIGINT)",
                 1, (const char *const[]){id});
    size_t calls_before = fake_request_count(fake_ptero_http(f->fp));
    struct job j;
    struct lumi_err err = {0};
    memset(&j, 0, sizeof j);
    j.id = job;
    j.service_id = f->service_id;
    str_copy(j.action, "provision", sizeof j.action);
    str_copy(j.status, "running", sizeof j.status);
    str_copy(j.locked_by, "test-worker", sizeof j.locked_by);
    j.attempts = 1;
    j.max_attempts = 8;
    assert_int_equal(provision_run_job(f->db, &j, &err), LUMI_ECONFLICT);
    assert_int_equal(fake_request_count(fake_ptero_http(f->fp)), calls_before);
    assert_int_equal(fake_ptero_server_count(f->fp), 0);
    assert_service(f, "pending");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM provision_attempts") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'running'") == 1);
}

/* --- success on each panel ----------------------------------------------------- */

static void provisions_on_pterodactyl(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    int64_t job = add_job(f, "provision", NULL);
    assert_int_equal(run_job(f, job, "provision", NULL, 1, 8), PROVISION_DONE);

    assert_service(f, "active");
    assert_int_equal(fake_ptero_server_count(f->fp), 1);
    char *key = remote_key(f);
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(f->fp, key, &s), 1);
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    char want[24];
    snprintf(want, sizeof want, "%lld", (long long)s.id);
    assert_string_equal(ext, want);
    char *puk = service_col(f, "SELECT panel_user_key FROM services WHERE id = $1");
    snprintf(want, sizeof want, "%lld", (long long)f->client_id);
    assert_string_equal(puk, want);

    /* The panel user got the stored password; it is sealed at rest and nowhere else. */
    char *pw = stored_password(f);
    assert_int_equal(strlen(pw), 32);
    json_t *user = fake_ptero_user_json(f->fp, CLIENT_EMAIL);
    assert_string_equal(json_string_value(json_object_get(user, "password")), pw);
    json_decref(user);

    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'done'") == 1);
    assert_true(audit_count(f, "SERVICE_PROVISIONED") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM provision_attempts") == 2);
    assert_attempt(f, job, 0, "find", "success");
    assert_attempt(f, job, 1, "create", "success");
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%remote_id%'") == 1);

    /* Provisioning again adopts: still one server, nothing created. */
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    assert_int_equal(fake_ptero_server_count(f->fp), 1);
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM provision_attempts WHERE action = 'create'") == 1);
    assert_secret_nowhere(f, pw);
    free(pw);
    free(puk);
    free(ext);
    free(key);
}

static void provisions_on_directadmin(void **state)
{
    struct fixture *f = *state;
    with_directadmin(f);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    assert_service(f, "active");

    char want[DA_USERNAME_MAX + 1];
    assert_int_equal(da_username_for(f->service_id, "ann-example.com", want), 0);
    char *user = service_col(f, "SELECT username FROM services WHERE id = $1");
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    assert_string_equal(user, want);
    assert_string_equal(ext, want);
    assert_int_equal(fake_da_account_count(f->da), 1);
    assert_true(fake_da_account_exists(f->da, want));
    char *pw = stored_password(f);
    assert_true(fake_da_password_matches(f->da, want, pw));
    assert_true(audit_count(f, "SERVICE_PROVISIONED") == 1);
    assert_secret_nowhere(f, pw);
    free(pw);
    free(user);
    free(ext);
}

static void provisions_on_virtfusion(void **state)
{
    struct fixture *f = *state;
    with_virtfusion(f);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    assert_service(f, "active");
    assert_int_equal(fake_vf_server_count(f->vf), 1);
    assert_int_equal(fake_vf_user_count(f->vf), 1);
    assert_true(fake_vf_user_id(f->vf, f->client_id) != 0);
    char *key = remote_key(f);
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(f->vf, key, &s));
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    char want[24];
    snprintf(want, sizeof want, "%lld", (long long)s.id);
    assert_string_equal(ext, want);
    assert_true(audit_count(f, "SERVICE_PROVISIONED") == 1);
    char *pw = stored_password(f);
    assert_secret_nowhere(f, pw);
    free(pw);
    free(ext);
    free(key);
}

/* --- exactly once ------------------------------------------------------------- */

static void lost_create_answer_is_adopted_on_directadmin(void **state)
{
    struct fixture *f = *state;
    with_directadmin(f);
    int64_t job = add_job(f, "provision", NULL);
    fake_fault(fake_da_http(f->da), FAKE_FAULT_DROP_AFTER, 1, 0, "CMD_API_ACCOUNT_USER");
    assert_int_equal(run_job(f, job, "provision", NULL, 1, 8), PROVISION_RETRY);
    assert_service(f, "pending");
    assert_int_equal(fake_da_account_count(f->da), 1); /* the panel did create it */
    char *err = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    assert_non_null(err);
    free(err);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'") == 1);
    assert_attempt(f, job, 1, "create", "timeout");
    assert_true(audit_count(f, "SERVICE_PROVISIONED") == 0);

    assert_int_equal(run_job(f, job, "provision", NULL, 2, 8), PROVISION_DONE);
    assert_service(f, "active");
    assert_int_equal(fake_da_account_count(f->da), 1);
    assert_attempt(f, job, 2, "find", "success");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM provision_attempts") == 3);
    char *user = service_col(f, "SELECT username FROM services WHERE id = $1");
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    assert_string_equal(ext, user);
    assert_true(fake_da_account_exists(f->da, user));
    /* The second attempt used the password stored before the first create. */
    char *pw = stored_password(f);
    assert_true(fake_da_password_matches(f->da, user, pw));
    assert_true(audit_count(f, "SERVICE_PROVISIONED") == 1);
    free(pw);
    free(user);
    free(ext);
}

static void lost_create_answer_is_adopted_on_virtfusion(void **state)
{
    struct fixture *f = *state;
    with_virtfusion(f);
    int64_t job = add_job(f, "provision", NULL);
    fake_vf_lose_next_create(f->vf);
    assert_int_equal(run_job(f, job, "provision", NULL, 1, 8), PROVISION_RETRY);
    assert_service(f, "pending");
    assert_int_equal(fake_vf_server_count(f->vf), 1);
    assert_int_equal(run_job(f, job, "provision", NULL, 2, 8), PROVISION_DONE);
    assert_service(f, "active");
    assert_int_equal(fake_vf_server_count(f->vf), 1);
    char *key = remote_key(f);
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_name(f->vf, key, &s));
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    char want[24];
    snprintf(want, sizeof want, "%lld", (long long)s.id);
    assert_string_equal(ext, want);
    free(ext);
    free(key);
}

/* A crash between the panel's create and Lumi's commit: the next run adopts. */
static void server_created_before_a_crash_is_adopted_on_pterodactyl(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    char ck[24];
    snprintf(ck, sizeof ck, "%lld", (long long)f->client_id);
    int64_t uid = fake_ptero_add_user(f->fp, CLIENT_EMAIL, "ann", ck);
    char *key = remote_key(f);
    int64_t sid = fake_ptero_add_server(f->fp, key, uid);
    fake_clear_requests(fake_ptero_http(f->fp));

    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    assert_service(f, "active");
    assert_int_equal(fake_ptero_server_count(f->fp), 1);
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    char want[24];
    snprintf(want, sizeof want, "%lld", (long long)sid);
    assert_string_equal(ext, want);
    struct fake_recorded rec;
    assert_int_equal(
        fake_find_last(fake_ptero_http(f->fp), "POST", "/api/application/servers", &rec), -1);
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM provision_attempts WHERE action = 'create'") == 0);
    free(ext);
    free(key);
}

/* --- retries -------------------------------------------------------------------- */

static void server_error_is_retried_then_succeeds(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    int64_t job = add_job(f, "provision", NULL);
    fake_fault(fake_ptero_http(f->fp), FAKE_FAULT_500, 1, 0, NULL);
    assert_int_equal(run_job(f, job, "provision", NULL, 1, 8), PROVISION_RETRY);
    assert_service(f, "pending");
    char *err = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    assert_non_null(strstr(err, "500"));
    free(err);
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM provision_attempts WHERE http_status = 500 "
                             "AND outcome = 'upstream'") == 1);
    assert_int_equal(fake_ptero_server_count(f->fp), 0);

    assert_int_equal(run_job(f, job, "provision", NULL, 2, 8), PROVISION_DONE);
    assert_service(f, "active");
    assert_int_equal(fake_ptero_server_count(f->fp), 1);
    char *le = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    assert_null(le);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'done'") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM provision_attempts WHERE attempt = 2") ==
                2);
}

static void rate_limit_waits_at_least_retry_after(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    int64_t job = add_job(f, "provision", NULL);
    int64_t before = utc_now();
    fake_fault(fake_ptero_http(f->fp), FAKE_FAULT_429, 1, 2, NULL);
    assert_int_equal(run_job(f, job, "provision", NULL, 1, 8), PROVISION_RETRY);
    char *run_at = text_of(f->db, "SELECT run_at FROM jobs WHERE id = $1", job);
    int64_t t = 0;
    struct lumi_err err;
    assert_int_equal(utc_parse(run_at, &t, &err), 0);
    assert_true(t >= before + 2);
    free(run_at);
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM provision_attempts WHERE http_status = 429 "
                             "AND outcome = 'rate_limited'") == 1);
    assert_service(f, "pending");
}

static void refused_input_fails_at_once_with_the_panels_reason(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"io\":5}");
    int64_t job = add_job(f, "provision", NULL);
    assert_int_equal(run_job(f, job, "provision", NULL, 1, 8), PROVISION_FAILED);
    assert_service(f, "failed");
    char *err = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    assert_non_null(err);
    assert_non_null(strstr(err, "limits.io must be between 10 and 1000"));
    free(err);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'") == 1);
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM provision_attempts WHERE http_status = 422 "
                             "AND outcome = 'invalid'") == 1);
    assert_true(audit_count(f, "SERVICE_PROVISION_FAILED") == 1);
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%limits.io%'") == 1);
    assert_int_equal(fake_ptero_server_count(f->fp), 0);
}

static void dead_panel_is_retried_until_attempts_run_out(void **state)
{
    struct fixture *f = *state;
    /* A port that was just freed: connections are refused. */
    struct fake_da *gone = fake_da_start("admin", DA_PASSWORD);
    char json[512];
    snprintf(json, sizeof json,
             "{\"name\":\"dead\",\"type\":\"directadmin\",\"url\":\"%s\",\"username\":\"admin\","
             "\"password\":\"" DA_PASSWORD "\"}",
             fake_da_url(gone));
    fake_da_stop(gone);
    add_client(f);
    add_server(f, json);
    f->product_id = add_product(f, "hosting", "{\"package\":\"basic\"}");
    add_service(f, "ann-example.com", true);
    int64_t job = add_job(f, "provision", NULL);
    for (int attempt = 1; attempt < 3; attempt++) {
        assert_int_equal(run_job(f, job, "provision", NULL, attempt, 3), PROVISION_RETRY);
        assert_service(f, "pending");
    }
    assert_int_equal(run_job(f, job, "provision", NULL, 3, 3), PROVISION_FAILED);
    assert_service(f, "failed");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM provision_attempts WHERE outcome = "
                                    "'connection' AND action = 'find'") == 3);
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM provision_attempts WHERE action = 'create'") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'") == 1);
    assert_true(audit_count(f, "SERVICE_PROVISION_FAILED") == 1);
    assert_true(audit_count(f, "SERVICE_PROVISIONED") == 0);
    char *err = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    assert_non_null(err);
    free(err);
}

static void service_without_server_fails_at_once(void **state)
{
    struct fixture *f = *state;
    f->fp = fake_ptero_start(PTERO_KEY);
    add_client(f);
    char json[512];
    snprintf(json, sizeof json,
             "{\"name\":\"games\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"%s\"}",
             fake_ptero_url(f->fp), PTERO_KEY);
    add_server(f, json);
    f->product_id = add_product(f, "game_server", "{\"nest_id\":1,\"egg_id\":1}");
    add_service(f, NULL, false);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_FAILED);
    assert_service(f, "failed");
    char *err = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    char want[64];
    snprintf(want, sizeof want, "service %lld has no server", (long long)f->service_id);
    assert_string_equal(err, want);
    free(err);
    assert_true(audit_count(f, "SERVICE_PROVISION_FAILED") == 1);
    assert_int_equal(fake_request_count(fake_ptero_http(f->fp)), 0);
}

/* --- lifecycle ---------------------------------------------------------------- */

static void suspend_and_unsuspend_are_idempotent(void **state)
{
    struct fixture *f = *state;
    with_directadmin(f);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    char *user = service_col(f, "SELECT username FROM services WHERE id = $1");

    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_action(f, "suspend", "{\"reason\":\"overdue\"}"), PROVISION_DONE);
        assert_service(f, "suspended");
        assert_true(fake_da_suspended(f->da, user));
        char *reason = service_col(f, "SELECT suspend_reason FROM services WHERE id = $1");
        assert_string_equal(reason, "overdue");
        free(reason);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_action(f, "unsuspend", NULL), PROVISION_DONE);
        assert_service(f, "active");
        assert_false(fake_da_suspended(f->da, user));
        assert_null(service_col(f, "SELECT suspend_reason FROM services WHERE id = $1"));
    }
    assert_true(audit_count(f, "SERVICE_SUSPENDED") == 2);
    assert_true(audit_count(f, "SERVICE_UNSUSPENDED") == 2);
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%overdue%'") == 2);
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM provision_attempts WHERE action = 'suspend' "
                             "AND outcome = 'success'") == 2);
    free(user);
}

static void failed_suspend_keeps_the_status_with_the_reason(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    fake_ptero_set_daemon_down(f->fp, true);
    int64_t job = add_job(f, "suspend", "{\"reason\":\"abuse\"}");
    assert_int_equal(run_job(f, job, "suspend", "{\"reason\":\"abuse\"}", 1, 2), PROVISION_RETRY);
    assert_service(f, "active");
    char *err = service_col(f, "SELECT last_error FROM services WHERE id = $1");
    assert_non_null(err);
    free(err);
    assert_true(audit_count(f, "SERVICE_SUSPEND_FAILED") == 0);

    assert_int_equal(run_job(f, job, "suspend", "{\"reason\":\"abuse\"}", 2, 2), PROVISION_FAILED);
    assert_service(f, "active");
    assert_null(service_col(f, "SELECT suspend_reason FROM services WHERE id = $1"));
    assert_true(audit_count(f, "SERVICE_SUSPEND_FAILED") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'") == 1);
    char *key = remote_key(f);
    struct fake_ptero_server s;
    assert_int_equal(fake_ptero_find_server(f->fp, key, &s), 1);
    assert_false(s.suspended);
    free(key);
}

static void terminate_removes_the_resource_and_scrubs_credentials(void **state)
{
    struct fixture *f = *state;
    with_pterodactyl(f, NULL);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    assert_true(testdb_int64(f->db, "SELECT account_count FROM servers") == 1);

    assert_int_equal(run_action(f, "terminate", NULL), PROVISION_DONE);
    assert_service(f, "terminated");
    assert_int_equal(fake_ptero_server_count(f->fp), 0);
    assert_null(service_col(f, "SELECT password_enc FROM services WHERE id = $1"));
    char *at = service_col(f, "SELECT terminated_at FROM services WHERE id = $1");
    assert_non_null(at);
    free(at);
    assert_true(testdb_int64(f->db, "SELECT account_count FROM servers") == 0);
    assert_true(audit_count(f, "SERVICE_TERMINATED") == 1);
    /* History stays: the service row, its attempts and audit rows. */
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM services") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM provision_attempts") == 3);

    /* Terminating again is harmless: the slot is not given back twice. */
    testdb_execp(f->db, "UPDATE servers SET account_count = 5", 0, NULL);
    assert_int_equal(run_action(f, "terminate", NULL), PROVISION_DONE);
    assert_true(testdb_int64(f->db, "SELECT account_count FROM servers") == 5);
    /* Other actions on a terminated service fail without calling the panel. */
    size_t before = fake_request_count(fake_ptero_http(f->fp));
    assert_int_equal(run_action(f, "suspend", NULL), PROVISION_FAILED);
    assert_int_equal(fake_request_count(fake_ptero_http(f->fp)), before);
    assert_service(f, "terminated");
}

static void package_and_password_changes_are_stored_on_success(void **state)
{
    struct fixture *f = *state;
    with_directadmin(f);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    char *user = service_col(f, "SELECT username FROM services WHERE id = $1");
    char *old_pw = stored_password(f);

    int64_t pro = add_product(f, "hosting", "{\"package\":\"pro\"}");
    char args[64];
    snprintf(args, sizeof args, "{\"product_id\":%lld}", (long long)pro);
    assert_int_equal(run_action(f, "change_package", args), PROVISION_DONE);
    char pkg[32];
    assert_true(fake_da_package(f->da, user, pkg, sizeof pkg));
    assert_string_equal(pkg, "pro");
    assert_true(testdb_int64(f->db, "SELECT product_id FROM services") == pro);
    assert_true(audit_count(f, "SERVICE_PACKAGE_CHANGED") == 1);

    assert_int_equal(run_action(f, "change_password", NULL), PROVISION_DONE);
    char *new_pw = stored_password(f);
    assert_string_not_equal(new_pw, old_pw);
    assert_true(fake_da_password_matches(f->da, user, new_pw));
    assert_true(audit_count(f, "SERVICE_PASSWORD_CHANGED") == 1);

    assert_int_equal(run_action(f, "change_password", "{\"password\":\"Chosen-Pass-42\"}"),
                     PROVISION_DONE);
    assert_true(fake_da_password_matches(f->da, user, "Chosen-Pass-42"));
    char *chosen = stored_password(f);
    assert_string_equal(chosen, "Chosen-Pass-42");
    assert_secret_nowhere(f, old_pw);
    assert_secret_nowhere(f, new_pw);
    free(chosen);
    free(new_pw);
    free(old_pw);
    free(user);
}

/*
 * A client's reset on VirtFusion: the job carries no password, the service
 * keeps the root password VirtFusion chose (not one Lumi made), and the
 * client's reveal gives it once, then never again; a second request while
 * the first is queued is refused.
 */
static void virtfusion_reset_keeps_the_panels_password_and_reveals_it_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    const struct audit_actor actor = {.type = "user", .id = "client", .email = "c@example.com"};
    with_virtfusion(f);
    assert_int_equal(run_action(f, "provision", NULL), PROVISION_DONE);
    json_t *job = selfservice_password_reset(f->db, &actor, f->client_id, f->service_id, &err);
    assert_non_null(job);
    int64_t job_id = json_integer_value(json_object_get(job, "id"));
    json_decref(job);
    assert_null(selfservice_password_reset(f->db, &actor, f->client_id, f->service_id, &err));
    assert_int_equal(err.code, LUMI_ECONFLICT);
    assert_null(
        selfservice_password_reset(f->db, &actor, f->client_id + 1000, f->service_id, &err));
    assert_int_equal(err.code, LUMI_ENOTFOUND);
    json_t *r = selfservice_password_reveal(f->db, &actor, f->client_id, f->service_id, &err);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "pending");
    json_decref(r);

    assert_int_equal(run_job(f, job_id, "change_password", NULL, 1, 8), PROVISION_DONE);
    char *ext = service_col(f, "SELECT external_id FROM services WHERE id = $1");
    struct fake_vf_server s;
    assert_true(fake_vf_server_by_id(f->vf, strtoll(ext, NULL, 10), &s));
    free(ext);
    char *stored = stored_password(f);
    assert_string_equal(stored, s.last_password);

    r = selfservice_password_reveal(f->db, &actor, f->client_id, f->service_id, &err);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "shown");
    assert_string_equal(json_string_value(json_object_get(r, "password")), s.last_password);
    json_decref(r);
    r = selfservice_password_reveal(f->db, &actor, f->client_id, f->service_id, &err);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "shown");
    assert_null(json_object_get(r, "password"));
    json_decref(r);
    assert_true(audit_count(f, "SERVICE_PASSWORD_REVEALED") == 1);
    assert_secret_nowhere(f, s.last_password);
    free(stored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(provisions_on_pterodactyl, setup, teardown),
        cmocka_unit_test_setup_teardown(
            virtfusion_reset_keeps_the_panels_password_and_reveals_it_once, setup, teardown),
        cmocka_unit_test_setup_teardown(taken_over_job_calls_nothing_and_records_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(provisions_on_directadmin, setup, teardown),
        cmocka_unit_test_setup_teardown(provisions_on_virtfusion, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_create_answer_is_adopted_on_directadmin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(lost_create_answer_is_adopted_on_virtfusion, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(server_created_before_a_crash_is_adopted_on_pterodactyl,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(server_error_is_retried_then_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limit_waits_at_least_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_input_fails_at_once_with_the_panels_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dead_panel_is_retried_until_attempts_run_out, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(service_without_server_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(suspend_and_unsuspend_are_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_suspend_keeps_the_status_with_the_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(terminate_removes_the_resource_and_scrubs_credentials,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(package_and_password_changes_are_stored_on_success, setup,
                                        teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

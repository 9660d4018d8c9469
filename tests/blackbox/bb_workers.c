/*
 * bb_workers.c — the job worker through the real binary, against a fake
 * Pterodactyl stored as a database server:
 *   - `lumi serve` killed with SIGKILL while its panel create call is in
 *     flight: once restarted, the job's lease expires, the job is taken over
 *     and adopts the server the lost call created — exactly one panel server,
 *     the service active (SQLite and PostgreSQL);
 *   - three `lumi worker` processes on one PostgreSQL database run 1,000
 *     provision jobs: every job runs once (one create per remote key, every
 *     job done on its first attempt), none is lost, every service is active,
 *     and every process took part; only one ran the scheduler (PostgreSQL only);
 *   - with LUMI_WORKER_PER_SERVER=1, the jobs of one panel server run one at
 *     a time although four threads are free.
 * Orders are placed in-process with orders_place on the test's own
 * connection; the fake panel runs in this process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "billing/clients.h"
#include "billing/products.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/str.h"
#include "core/utc.h"
#include "fakes/fake_pterodactyl.h"
#include "provisioning/servers.h"
#include "provisioning/orders.h"
#include "provisioning/services.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "6a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define PTERO_KEY "ptla_WorkersTestKey0123456789abcdefABCDEFghijk"
#define SERVERS_PATH "/api/application/servers"

#define BULK_JOBS 1000
#define BULK_PROCS 3
#define SEED_ALLOCATIONS (BULK_JOBS + 10) /* the fake node starts with 10 */

struct ctx {
    char *url;
    char env_db[600];
    struct db *db;
    struct fake_ptero *ptero;
    int64_t server_id, client_id, product_id;
    pid_t workers[BULK_PROCS];
    char worker_dirs[BULK_PROCS][256];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t now_ms(void)
{
    return utc_monotonic_ms();
}

static int64_t count_sql(const char *sql, int64_t arg)
{
    struct lumi_err err;
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, arg);
    const char *const p[] = {a};
    int64_t n = -1;
    if (db_query_int64(C->db, sql, strstr(sql, "$1") ? 1 : 0, p, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

/* A text column of one row (caller frees), "" when NULL. */
static char *text_sql(const char *sql, int64_t arg)
{
    struct lumi_err err;
    struct db_stmt *st = db_prepare(C->db, sql, &err);
    if (st == NULL)
        fail_msg("%s: %s", sql, err.msg);
    db_bind_int64(st, 1, arg);
    if (db_step(st, &err) != DB_ROW)
        fail_msg("%s: no row (%s)", sql, err.msg);
    const char *v = db_col_text(st, 0);
    char *out = str_dup(v ? v : "");
    db_finalize(st);
    return out;
}

static json_t *create(json_t *(*fn)(struct db *, const struct audit_actor *, const json_t *,
                                    struct lumi_err *),
                      json_t *in, const char *what)
{
    struct lumi_err err;
    if (in == NULL)
        fail_msg("%s: bad test input", what);
    json_t *out = fn(C->db, &AUDIT_SYSTEM, in, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("%s: %s", what, err.msg);
    return out;
}

static int64_t id_of(const json_t *o)
{
    return json_integer_value(json_object_get(o, "id"));
}

/* One order; answers the service id and its remote key (into key). */
static int64_t order(char *key, size_t keysz)
{
    json_t *svc = create(orders_place,
                         json_pack("{s:I s:I}", "client_id", (json_int_t)C->client_id, "product_id",
                                   (json_int_t)C->product_id),
                         "orders_place");
    int64_t id = id_of(svc);
    if (key != NULL)
        str_copy(key, json_string_value(json_object_get(svc, "remote_key")), keysz);
    if (json_object_get(svc, "job") == NULL || json_is_null(json_object_get(svc, "job")))
        fail_msg("the order of service %" PRId64 " queued no provision job", id);
    json_decref(svc);
    return id;
}

/* POST /api/application/servers requests the fake received. */
static size_t creates_received(void)
{
    struct fake_server *http = fake_ptero_http(C->ptero);
    size_t n = 0, total = fake_request_count(http);
    for (size_t i = 0; i < total; i++) {
        struct fake_recorded r;
        if (fake_recorded(http, i, &r) != 0)
            break;
        if (strcmp(r.method, "POST") == 0 && strcmp(r.path, SERVERS_PATH) == 0)
            n++;
        fake_recorded_free(&r);
    }
    return n;
}

static bool log_has(const char *log, const char *needle)
{
    return log != NULL && strstr(log, needle) != NULL;
}

/* Lines of text that contain needle, and also also (when not NULL). */
static size_t lines_with(const char *text, const char *needle, const char *also)
{
    size_t n = 0;
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = str_ndup(p, len);
        if (line != NULL && strstr(line, needle) != NULL && (also == NULL || strstr(line, also)))
            n++;
        free(line);
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* ---- `lumi worker` processes ------------------------------------------------ */

/* Starts `lumi worker` in a fresh directory, its output in DIR/worker.log. */
static pid_t spawn_worker(int i, const char *const *extra_env)
{
    char *dir = C->worker_dirs[i];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof C->worker_dirs[i], "%s/lumi-worker-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    char log_path[300], home[300], path_env[4096], asan[1024], ubsan[1024];
    snprintf(log_path, sizeof log_path, "%s/worker.log", dir);
    snprintf(home, sizeof home, "HOME=%s", dir);
    snprintf(path_env, sizeof path_env, "PATH=%s",
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s",
             getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
    snprintf(ubsan, sizeof ubsan, "UBSAN_OPTIONS=%s",
             getenv("UBSAN_OPTIONS") ? getenv("UBSAN_OPTIONS") : "");
    const char *envp[16];
    size_t n = 0;
    for (size_t k = 0; extra_env != NULL && extra_env[k] != NULL && n < 10; k++)
        envp[n++] = extra_env[k];
    envp[n++] = home;
    envp[n++] = path_env;
    envp[n++] = asan;
    envp[n++] = ubsan;
    envp[n] = NULL;
    const char *bin = getenv("LUMI_BIN");
    if (bin == NULL)
        fail_msg("LUMI_BIN is not set (run the tests through ctest)");
    char *const argv[] = {(char *)bin, "worker", NULL};
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0)
        fail_msg("cannot open %s: %s", log_path, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls: the fake's threads run in this process. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (chdir(dir) != 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
            _exit(127);
        execve(bin, argv, (char *const *)envp);
        _exit(127);
    }
    close(log_fd);
    close(null_fd);
    return pid;
}

static char *worker_log(int i)
{
    char path[300];
    snprintf(path, sizeof path, "%s/worker.log", C->worker_dirs[i]);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    struct buf b;
    buf_init(&b, 64u << 20);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n) != 0)
            break;
    fclose(f);
    return buf_steal(&b);
}

/* SIGTERM and wait (20 s, then SIGKILL); answers the exit status (128+signal when killed). */
static int stop_worker(int i)
{
    pid_t pid = C->workers[i];
    int status = 0;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    int64_t deadline = now_ms() + 20000;
    pid_t done;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
        sleep_ms(20);
    if (done != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        status = (128 + SIGKILL) << 8;
    }
    C->workers[i] = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    struct lumi_err err;
    C = calloc(1, sizeof *C);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    crypto_init();
    /* The test seals the panel key itself (servers_create), so it needs the same key. */
    setenv("LUMI_SECRET_KEY", SECRET_KEY, 1);
    unsetenv("PTERODACTYL_URL");
    unsetenv("PTERODACTYL_API_KEY");
    if (config_load(NULL, &err) != 0)
        fail_msg("config: %s", err.msg);
    C->ptero = fake_ptero_start(PTERO_KEY);
    C->url = testdb_create();
    snprintf(C->env_db, sizeof C->env_db, "DATABASE_URL=%s", C->url);
    C->db = testdb_open_migrated(C->url);

    json_t *s = create(servers_create,
                       json_pack("{s:s s:s s:s s:s s:i}", "name", "Game nodes", "type",
                                 "pterodactyl", "url", fake_ptero_url(C->ptero), "api_key",
                                 PTERO_KEY, "rate_limit_per_minute", 1000000),
                       "servers_create");
    C->server_id = id_of(s);
    json_decref(s);
    json_t *c = create(clients_create,
                       json_pack("{s:s s:s s:s}", "email", "grace@example.com", "first_name",
                                 "Grace", "last_name", "Hopper"),
                       "clients_create");
    C->client_id = id_of(c);
    json_decref(c);
    /* Deployment by location: the panel picks a free allocation itself, atomically. */
    json_t *p = create(
        products_create,
        json_pack("{s:s s:s s:i s:s s:s s:I s:s s:{s:i s:i s:[i] s:i s:i}}", "name", "Minecraft",
                  "type", "game_server", "price", 1500, "currency", "usd", "billing_cycle",
                  "monthly", "server_id", (json_int_t)C->server_id, "autosetup", "order", "config",
                  "nest_id", 1, "egg_id", 1, "location_ids", 1, "memory", 32, "disk", 512),
        "products_create");
    C->product_id = id_of(p);
    json_decref(p);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < BULK_PROCS; i++) {
        if (C->workers[i] > 0) {
            kill(C->workers[i], SIGKILL);
            waitpid(C->workers[i], NULL, 0);
        }
        if (C->worker_dirs[i][0] != '\0' && getenv("LUMI_TEST_KEEP_DIRS") == NULL) {
            char path[300];
            snprintf(path, sizeof path, "%s/worker.log", C->worker_dirs[i]);
            unlink(path);
            rmdir(C->worker_dirs[i]);
        }
    }
    db_close(C->db);
    fake_ptero_stop(C->ptero);
    testdb_drop(C->url);
    free(C);
    curl_global_cleanup();
    return 0;
}

/* ---- a worker killed in the middle of a create ------------------------------- */

static void killed_mid_create_is_taken_over_and_adopts_the_server(void **state)
{
    struct fake_server *http = fake_ptero_http(C->ptero);
    const char *env[] = {C->env_db, "LUMI_SECRET_KEY=" SECRET_KEY, "LUMI_JOB_LEASE_S=2", NULL};
    struct lumi_server srv;
    lumi_serve_start(&srv, env);

    /* Both requests on the servers path are slow: the lookup by external id, then the
     * create. The create is in flight for 800 ms; the 2 s lease is still held. */
    fake_fault(http, FAKE_FAULT_SLOW, 2, 800, SERVERS_PATH);
    char key[64];
    int64_t svc = order(key, sizeof key);
    int64_t job = count_sql("SELECT MIN(id) FROM jobs WHERE service_id = $1", svc);

    int64_t deadline = now_ms() + 15000;
    while (creates_received() == 0 && now_ms() < deadline)
        sleep_ms(5);
    if (creates_received() == 0) {
        char *log = lumi_server_log(&srv);
        fail_msg("the create never reached the panel; log:\n%s", log ? log : "");
    }
    kill(srv.pid, SIGKILL);
    assert_int_equal(lumi_serve_stop(&srv), 128 + SIGKILL);

    /* Left behind: a running job leased to a dead worker, the service not active. */
    char *st = text_sql("SELECT status FROM jobs WHERE id = $1", job);
    assert_string_equal(st, "running");
    free(st);
    st = text_sql("SELECT status FROM services WHERE id = $1", svc);
    assert_true(strcmp(st, "active") != 0);
    free(st);

    lumi_serve_start(&srv, env);
    deadline = now_ms() + 30000;
    while (count_sql("SELECT COUNT(*) FROM services WHERE id = $1 AND status = 'active'", svc) !=
               1 &&
           now_ms() < deadline)
        sleep_ms(100);
    char *log = lumi_server_log(&srv);
    if (count_sql("SELECT COUNT(*) FROM services WHERE id = $1 AND status = 'active'", svc) != 1)
        fail_msg("the service never became active; log:\n%s", log ? log : "");
    assert_true(log_has(log, "event=job.lease_expired"));
    free(log);
    assert_int_equal(lumi_serve_stop(&srv), 0);

    /* Exactly one server, under the service's key, and the service points at it: the
     * second attempt found the server the lost call had created, and created nothing. */
    assert_int_equal(creates_received(), 1);
    assert_int_equal(fake_ptero_server_count(C->ptero), 1);
    struct fake_ptero_server fs;
    assert_int_equal(fake_ptero_find_server(C->ptero, key, &fs), 1);
    char *ext = text_sql("SELECT external_id FROM services WHERE id = $1", svc);
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, fs.id);
    assert_string_equal(ext, want);
    free(ext);
    st = text_sql("SELECT status FROM jobs WHERE id = $1", job);
    assert_string_equal(st, "done");
    free(st);
    assert_true(count_sql("SELECT attempts FROM jobs WHERE id = $1", job) == 2);
    assert_true(
        count_sql("SELECT COUNT(*) FROM audit_log WHERE action = 'SERVICE_PROVISIONED'", 0) == 1);
}

/* ---- n orders through lumi serve (4 worker threads), every panel call latency_ms ---- */

static void serve_orders_on_a_slow_panel(int n, const char *per_server, int latency_ms)
{
    struct fake_server *http = fake_ptero_http(C->ptero);
    const char *env[] = {C->env_db, "LUMI_SECRET_KEY=" SECRET_KEY, "LUMI_WORKER_THREADS=4",
                         per_server, NULL};
    struct lumi_server srv;
    lumi_serve_start(&srv, env);
    fake_set_latency(http, latency_ms);
    for (int i = 0; i < n; i++)
        order(NULL, 0);
    int64_t deadline = now_ms() + 30000;
    while (count_sql("SELECT COUNT(*) FROM services WHERE status = 'active'", 0) != n &&
           now_ms() < deadline)
        sleep_ms(100);
    assert_true(count_sql("SELECT COUNT(*) FROM services WHERE status = 'active'", 0) == n);
    assert_int_equal(lumi_serve_stop(&srv), 0);
    fake_set_latency(http, 0);
}

/* ---- one slot per server ------------------------------------------------------ */

static void one_slot_per_server_runs_its_jobs_one_at_a_time(void **state)
{
    struct fake_server *http = fake_ptero_http(C->ptero);
    enum { N = 4 };
    serve_orders_on_a_slow_panel(N, "LUMI_WORKER_PER_SERVER=1", 40); /* jobs would overlap */

    /* Each job's calls — its lookup by key to its create — never interleave with another's. */
    const char *ext_prefix = SERVERS_PATH "/external/";
    char current[64] = "";
    int jobs_seen = 0;
    size_t total = fake_request_count(http);
    for (size_t i = 0; i < total; i++) {
        struct fake_recorded r;
        if (fake_recorded(http, i, &r) != 0)
            break;
        if (strcmp(r.method, "GET") == 0 && str_starts_with(r.path, ext_prefix)) {
            const char *key = r.path + strlen(ext_prefix);
            if (current[0] != '\0' && strcmp(current, key) != 0)
                fail_msg("the job of %s called the panel while the job of %s was running", key,
                         current);
            if (current[0] == '\0')
                jobs_seen++;
            str_copy(current, key, sizeof current);
        } else if (strcmp(r.method, "POST") == 0 && strcmp(r.path, SERVERS_PATH) == 0) {
            if (current[0] == '\0' || strstr(r.body, current) == NULL)
                fail_msg("a create for another service while the job of %s was running", current);
            current[0] = '\0';
        }
        fake_recorded_free(&r);
    }
    assert_int_equal(jobs_seen, N);
    assert_int_equal(fake_ptero_server_count(C->ptero), N);
}

/* ---- idle threads take turns, a burst wakes them all --------------------------- */

/*
 * Idle job threads sleep while one polls (issue 15); the one that claims a
 * job wakes the next. Four jobs queued at once on a slow panel must still
 * run side by side on the four threads: every job's lookup reaches the panel
 * before any job's create.
 */
static void a_burst_of_jobs_runs_on_every_thread_at_once(void **state)
{
    struct fake_server *http = fake_ptero_http(C->ptero);
    enum { N = 4 };
    serve_orders_on_a_slow_panel(N, "LUMI_WORKER_PER_SERVER=4", 300);

    /* Jobs in flight: from a job's lookup by key to its create. */
    const char *ext_prefix = SERVERS_PATH "/external/";
    int open = 0, most = 0;
    size_t total = fake_request_count(http);
    for (size_t i = 0; i < total; i++) {
        struct fake_recorded r;
        if (fake_recorded(http, i, &r) != 0)
            break;
        if (strcmp(r.method, "GET") == 0 && str_starts_with(r.path, ext_prefix))
            open++;
        else if (strcmp(r.method, "POST") == 0 && strcmp(r.path, SERVERS_PATH) == 0)
            open--;
        if (open > most)
            most = open;
        fake_recorded_free(&r);
    }
    if (most != N)
        fail_msg("at most %d of the %d jobs ran at once on 4 threads", most, N);
    assert_int_equal(fake_ptero_server_count(C->ptero), N);
}

/* ---- three worker processes, a thousand jobs --------------------------------- */

/* The fake node has 10 allocations; each seeded server brings one, and deleting it frees it. */
static void seed_allocations(int n)
{
    int64_t user = fake_ptero_add_user(C->ptero, "seed@example.com", "seeduser", NULL);
    int64_t *ids = calloc((size_t)n, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < n; i++)
        ids[i] = fake_ptero_add_server(C->ptero, NULL, user);
    const char *h[] = {"Authorization: Bearer " PTERO_KEY, "Accept: application/json", NULL};
    for (int i = 0; i < n; i++) {
        char url[256];
        struct http_result r;
        snprintf(url, sizeof url, "%s%s/%" PRId64 "/force", fake_ptero_url(C->ptero), SERVERS_PATH,
                 ids[i]);
        if (http_request("DELETE", url, h, NULL, &r) != 0 || r.status != 204)
            fail_msg("seeding allocations: DELETE %s answered %ld", url, r.status);
        http_result_free(&r);
    }
    free(ids);
    assert_int_equal(fake_ptero_server_count(C->ptero), 0);
    fake_clear_requests(fake_ptero_http(C->ptero));
}

static void three_processes_run_a_thousand_jobs_once_each(void **state)
{
    if (!testdb_is_postgres())
        skip(); /* several processes share one database only on PostgreSQL */
    seed_allocations(SEED_ALLOCATIONS - 10);
    const char *env[] = {C->env_db, "LUMI_SECRET_KEY=" SECRET_KEY, NULL};
    int64_t t0 = now_ms();
    for (int i = 0; i < BULK_PROCS; i++)
        C->workers[i] = spawn_worker(i, env);

    /* Orders while the workers already run: claims race the inserts too. */
    int64_t *svc = calloc(BULK_JOBS, sizeof *svc);
    char(*keys)[64] = calloc(BULK_JOBS, sizeof *keys);
    assert_non_null(svc);
    assert_non_null(keys);
    for (int i = 0; i < BULK_JOBS; i++)
        svc[i] = order(keys[i], sizeof keys[i]);
    int64_t ordered = now_ms();

    int64_t deadline = now_ms() + 50000;
    int64_t active = 0;
    while ((active = count_sql("SELECT COUNT(*) FROM services WHERE status = 'active'", 0)) <
               BULK_JOBS &&
           now_ms() < deadline) {
        if (count_sql("SELECT COUNT(*) FROM jobs WHERE status <> 'done' AND status <> 'queued'"
                      " AND status <> 'running'",
                      0) > 0)
            break;
        sleep_ms(200);
    }
    int64_t settled = now_ms();
    if (active != BULK_JOBS) {
        char *e = text_sql("SELECT COALESCE(MAX(last_error), '') FROM jobs WHERE id > $1", 0);
        fail_msg("%" PRId64 " of %d services active; a job error: %s", active, BULK_JOBS, e);
    }
    for (int i = 0; i < BULK_PROCS; i++)
        assert_int_equal(stop_worker(i), 0);
    print_message("orders placed in %.1f s, all active after %.1f s\n", (ordered - t0) / 1000.0,
                  (settled - t0) / 1000.0);

    /* Each job ran once: done on its first attempt, one create per key, one server per key. */
    assert_true(
        count_sql("SELECT COUNT(*) FROM jobs WHERE action = 'provision' AND status = 'done'", 0) ==
        BULK_JOBS);
    assert_true(count_sql("SELECT MAX(attempts) FROM jobs", 0) == 1);
    assert_int_equal(creates_received(), BULK_JOBS);
    assert_int_equal(fake_ptero_server_count(C->ptero), BULK_JOBS);
    for (int i = 0; i < BULK_JOBS; i++) {
        struct fake_ptero_server fs;
        if (fake_ptero_find_server(C->ptero, keys[i], &fs) != 1)
            fail_msg("no panel server for service %" PRId64 " (%s)", svc[i], keys[i]);
        char *ext = text_sql("SELECT external_id FROM services WHERE id = $1", svc[i]);
        char want[32];
        snprintf(want, sizeof want, "%" PRId64, fs.id);
        assert_string_equal(ext, want);
        free(ext);
    }
    assert_true(count_sql("SELECT COUNT(*) FROM audit_log WHERE action = 'SERVICE_PROVISIONED'",
                          0) == BULK_JOBS);

    /* Every process took part; their logs account for every job once. */
    size_t finished = 0, passes = 0;
    for (int i = 0; i < BULK_PROCS; i++) {
        char *log = worker_log(i);
        size_t n = lines_with(log, "event=job.finished", NULL);
        size_t done = lines_with(log, "event=job.finished", " outcome=done ");
        if (n == 0 || done != n)
            fail_msg("worker %d: %zu jobs finished, %zu done; log:\n%.4000s", i + 1, n, done,
                     log ? log : "");
        finished += n;
        passes += lines_with(log, "event=scheduler.pass", NULL);
        free(log);
    }
    assert_int_equal(finished, BULK_JOBS);
    /* The scheduler ran in the one process that holds its advisory lock. */
    assert_int_equal(passes, 1);
    free(svc);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(killed_mid_create_is_taken_over_and_adopts_the_server,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(one_slot_per_server_runs_its_jobs_one_at_a_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_burst_of_jobs_runs_on_every_thread_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(three_processes_run_a_thousand_jobs_once_each, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

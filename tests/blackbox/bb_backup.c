/*
 * bb_backup.c — `lumi backup` / `lumi restore` and the scheduled copies
 * (issue 16, item 2), against the real `lumi serve` under load:
 *   - a load generator of its own (threads sending signed Stripe deliveries
 *     and creating clients, each an audited write) runs while `lumi backup`
 *     copies the database; the copy, restored into a fresh database, passes
 *     PRAGMA integrity_check (SQLite) and `lumi audit verify`, and holds every
 *     delivery that was acknowledged (2xx) before the backup began;
 *   - `lumi restore` is refused while `lumi serve` runs, and while a `lumi
 *     worker` runs alone (and goes through once it stopped), and refuses a
 *     file that is not a sound database;
 *   - with LUMI_BACKUP_DIR the scheduler's pass writes a copy and keeps only
 *     LUMI_BACKUP_KEEP of them.
 * On PostgreSQL the copy is pg_dump's (restored here with pg_restore, which
 * `lumi restore` tells the admin to use).
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakes/fake_stripe.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "7f1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define STRIPE_KEY "sk_test_bbBackupKey0123456789"
#define WHSEC "whsec_bb_backup_secret"
#define SENDERS 3
#define MAX_EVENTS 20000
#define MIN_ACKED_BEFORE 60

struct acked {
    char id[48];
    int64_t at_ns; /* monotonic, when the 2xx arrived */
};

static struct fake_stripe *stripe;
static char tmpdir[] = "/tmp/lumi-bb-backup-XXXXXX";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct acked *acks;
static size_t nacks;
static atomic_bool stop_load;
static atomic_long failures, clients_made;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the load generator ---- */

static void *sender(void *arg)
{
    long no = (long)(intptr_t)arg;
    char url[128], body[512], id[48], sigh[STRIPE_SIG_HEADER_LEN + 32];
    snprintf(url, sizeof url, "%s/api/stripe/webhook", bb_base_url());
    for (long i = 0; !atomic_load(&stop_load); i++) {
        snprintf(id, sizeof id, "evt_bk_%ld_%ld", no, i);
        snprintf(body, sizeof body,
                 "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"customer.created\","
                 "\"created\":%ld,\"livemode\":false,\"data\":{\"object\":{\"id\":\"cus_%ld\","
                 "\"object\":\"customer\"}}}",
                 id, (long)time(NULL), i);
        char *sig = fake_stripe_sign(stripe, body, (int64_t)time(NULL));
        snprintf(sigh, sizeof sigh, "Stripe-Signature: %s", sig);
        free(sig);
        const char *h[] = {"Content-Type: application/json", sigh, NULL};
        struct http_result r;
        if (http_request("POST", url, h, body, &r) != 0 || r.status < 200 || r.status > 299) {
            atomic_fetch_add(&failures, 1);
            if (r.status == 0)
                return NULL;
        } else {
            int64_t at = now_ns();
            pthread_mutex_lock(&lock);
            if (nacks < MAX_EVENTS) {
                snprintf(acks[nacks].id, sizeof acks[nacks].id, "%s", id);
                acks[nacks].at_ns = at;
                nacks++;
            }
            pthread_mutex_unlock(&lock);
        }
        http_result_free(&r);
    }
    return NULL;
}

/* Audited writes beside the deliveries: clients created through the API. */
static void *creator(void *arg)
{
    (void)arg;
    char body[256];
    for (long i = 0; !atomic_load(&stop_load); i++) {
        snprintf(
            body, sizeof body,
            "{\"email\":\"load%ld@example.com\",\"first_name\":\"Load\",\"last_name\":\"%ld\"}", i,
            i);
        struct http_result r =
            http_api(bb_base_url(), bb_auth(), "POST", "/api/admin/clients", body);
        if (r.status == 201)
            atomic_fetch_add(&clients_made, 1);
        http_result_free(&r);
    }
    return NULL;
}

static size_t acked_count(void)
{
    pthread_mutex_lock(&lock);
    size_t n = nacks;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- helpers ---- */

/* The environment with DATABASE_URL replaced by url (static storage, until the next call). */
static const char *const *env_with_db(const char *url)
{
    static const char *env[64];
    static char dbe[1024];
    const char *const *e = bb_env();
    size_t n = 0;
    snprintf(dbe, sizeof dbe, "DATABASE_URL=%s", url);
    env[n++] = dbe;
    for (size_t i = 0; e[i] != NULL && n < 63; i++)
        if (strncmp(e[i], "DATABASE_URL=", 13) != 0)
            env[n++] = e[i];
    env[n] = NULL;
    return env;
}

static int run(const char *const *argv, const char *const *env, struct lumi_run_result *r)
{
    if (lumi_run(argv, env, NULL, r) != 0)
        fail_msg("lumi %s did not run", argv[0]);
    return r->exit_code;
}

static void run_ok(const char *const *argv, const char *const *env)
{
    struct lumi_run_result r;
    if (run(argv, env, &r) != 0)
        fail_msg("lumi %s %s: exit %d: %s", argv[0], argv[1] ? argv[1] : "", r.exit_code,
                 buf_cstr(&r.err));
    lumi_run_result_free(&r);
}

/* Loads the backup into the fresh database url: `lumi restore` (SQLite) or pg_restore. */
static void restore_into(const char *url, const char *path)
{
    if (!testdb_is_postgres()) {
        const char *argv[] = {"restore", path, NULL};
        run_ok(argv, env_with_db(url));
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "pg_restore --no-owner --dbname='%s' '%s' 2>&1", url, path);
    if (system(cmd) != 0)
        fail_msg("pg_restore of %s failed", path);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpdir));
    stripe = fake_stripe_start(STRIPE_KEY, WHSEC);
    acks = calloc(MAX_EVENTS, sizeof *acks);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_SECRET_KEY=%s", STRIPE_KEY);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_prepare("keeper@example.com", "Harbor-Quill-Meadow-93", "ci");
    bb_serve();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_stripe_stop(stripe);
    free(acks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return -1;
    return status == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void backup_under_load_restores_with_every_acknowledged_delivery(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/under-load.%s", tmpdir, testdb_is_postgres() ? "dump" : "db");
    pthread_t t[SENDERS + 1];
    atomic_store(&stop_load, false);
    for (long i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sender, (void *)(intptr_t)i), 0);
    assert_int_equal(pthread_create(&t[SENDERS], NULL, creator, NULL), 0);
    for (int i = 0; i < 600 && acked_count() < MIN_ACKED_BEFORE; i++)
        bb_sleep_ms(10);

    int64_t began = now_ns();
    const char *argv[] = {"backup", path, NULL};
    struct lumi_run_result r;
    int code = run(argv, bb_env(), &r);
    size_t acked_during = acked_count();
    bb_sleep_ms(100);
    atomic_store(&stop_load, true);
    for (int i = 0; i <= SENDERS; i++)
        pthread_join(t[i], NULL);
    if (code != 0)
        fail_msg("lumi backup: exit %d: %s", code, buf_cstr(&r.err));
    lumi_run_result_free(&r);
    assert_int_equal(atomic_load(&failures), 0);
    assert_true(atomic_load(&clients_made) > 0);

    size_t before = 0;
    for (size_t i = 0; i < nacks; i++)
        before += acks[i].at_ns < began;
    print_message("deliveries acknowledged: %zu before the backup began, %zu by its end, %zu "
                  "in all; clients created: %ld\n",
                  before, acked_during, nacks, atomic_load(&clients_made));
    assert_true(before >= MIN_ACKED_BEFORE);

    char *url = testdb_create();
    restore_into(url, path);
    const char *verify[] = {"audit", "verify", NULL};
    run_ok(verify, env_with_db(url));
    struct db *db = testdb_open(url);
    if (!testdb_is_postgres()) {
        struct lumi_err err;
        struct db_stmt *st = db_prepare(db, "PRAGMA integrity_check", &err);
        assert_non_null(st);
        assert_int_equal(db_step(st, &err), DB_ROW);
        assert_string_equal(db_col_text(st, 0), "ok");
        db_finalize(st);
    }
    size_t missing = 0;
    for (size_t i = 0; i < nacks; i++)
        if (acks[i].at_ns < began &&
            testdb_int64f(db, "SELECT COUNT(*) FROM webhook_events WHERE event_id = '%s'",
                          acks[i].id) != 1) {
            if (missing++ < 5)
                print_message("missing from the backup: %s\n", acks[i].id);
        }
    assert_int_equal(missing, 0);
    /* and the copy is not the live database: what came after it is not in it */
    assert_true(testdb_int64(db, "SELECT COUNT(*) FROM webhook_events") <
                bb_count("SELECT COUNT(*) FROM webhook_events"));
    db_close(db);
    testdb_drop(url);
}

static void restore_is_refused_while_the_server_runs(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/refused.%s", tmpdir, testdb_is_postgres() ? "dump" : "db");
    const char *backup[] = {"backup", path, NULL};
    run_ok(backup, bb_env());
    const char *restore[] = {"restore", path, NULL};
    struct lumi_run_result r;
    assert_int_not_equal(run(restore, bb_env(), &r), 0);
    const char *want = testdb_is_postgres() ? "pg_restore" : "in use";
    if (strstr(buf_cstr(&r.err), want) == NULL)
        fail_msg("restore: want '%s' in: %s", want, buf_cstr(&r.err));
    lumi_run_result_free(&r);
    /* the server still answers from its database */
    json_decref(bb_json("GET", NULL, 200, "/api/admin/clients?limit=1"));

    if (testdb_is_postgres())
        return;
    /* a file that is not a sound database is refused before anything is touched */
    char junk[512];
    snprintf(junk, sizeof junk, "%s/junk.db", tmpdir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not a database at all, just text\n", f);
    fclose(f);
    char *url = testdb_create();
    const char *bad[] = {"restore", junk, NULL};
    assert_int_not_equal(run(bad, env_with_db(url), &r), 0);
    if (strstr(buf_cstr(&r.err), "not a usable database") == NULL)
        fail_msg("restore of junk: %s", buf_cstr(&r.err));
    lumi_run_result_free(&r);
    testdb_drop(url);
}

/* Starts `lumi worker` with the environment, its stderr into log; answers its pid. */
static pid_t worker_start(const char *log)
{
    const char *bin = getenv("LUMI_BIN");
    assert_non_null(bin);
    static const char *env[80];
    const char *const *e = bb_env();
    size_t n = 0;
    env[n++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; e[i] != NULL && n < 79; i++)
        env[n++] = e[i];
    env[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0 || chdir(tmpdir) != 0)
            _exit(126);
        execle(bin, "lumi", "worker", (char *)NULL, (char *const *)env);
        _exit(127);
    }
    return pid;
}

static bool file_has(const char *path, const char *text)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static void restore_is_refused_while_a_worker_runs(void **state)
{
    (void)state;
    if (testdb_is_postgres())
        skip(); /* PostgreSQL restores are pg_restore's: nothing to refuse */
    char path[512], log[512];
    snprintf(path, sizeof path, "%s/worker.db", tmpdir);
    snprintf(log, sizeof log, "%s/worker.log", tmpdir);
    const char *backup[] = {"backup", path, NULL};
    run_ok(backup, bb_env());
    bb_stop();
    pid_t pid = worker_start(log);
    for (int i = 0; i < 500 && !file_has(log, "worker.process_started"); i++)
        bb_sleep_ms(10);
    assert_true(file_has(log, "worker.process_started"));
    const char *restore[] = {"restore", path, NULL};
    struct lumi_run_result r;
    assert_int_not_equal(run(restore, bb_env(), &r), 0);
    if (strstr(buf_cstr(&r.err), "in use") == NULL)
        fail_msg("restore beside a worker: %s", buf_cstr(&r.err));
    lumi_run_result_free(&r);
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* with nothing running the same restore goes through and the chain verifies */
    assert_int_equal(run(restore, bb_env(), &r), 0);
    assert_non_null(strstr(buf_cstr(&r.out), "audit chain intact"));
    lumi_run_result_free(&r);
}

static size_t copies_in(const char *dir, char *newest, size_t sz)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    newest[0] = '\0';
    while (d != NULL && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "lumi-", 5) == 0) {
            n++;
            if (strcmp(e->d_name, newest) > 0)
                snprintf(newest, sz, "%s", e->d_name);
        }
    if (d != NULL)
        closedir(d);
    return n;
}

static void the_scheduler_writes_copies_and_keeps_the_newest(void **state)
{
    (void)state;
    const char *ext = testdb_is_postgres() ? ".dump" : ".db";
    char dir[512], old[1024], newest[256];
    snprintf(dir, sizeof dir, "%s/scheduled", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const stamps[] = {"20200101T000000Z", "20200102T000000Z",
                                         "20200103T000000Z"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(old, sizeof old, "%s/lumi-%s%s", dir, stamps[i], ext);
        FILE *f = fopen(old, "w");
        assert_non_null(f);
        fclose(f);
    }
    bb_stop();
    bb_env_add("LUMI_BACKUP_DIR=%s", dir);
    bb_env_add("LUMI_BACKUP_KEEP=2");
    bb_serve(); /* the scheduler's first pass runs right after the start */
    for (int i = 0; i < 500 && copies_in(dir, newest, sizeof newest) != 2; i++)
        bb_sleep_ms(20);
    assert_int_equal(copies_in(dir, newest, sizeof newest), 2);
    assert_true(strncmp(newest, "lumi-2020", 9) != 0);
    /* the oldest two went; the newest old one stays beside the new copy */
    snprintf(old, sizeof old, "%s/lumi-%s%s", dir, stamps[2], ext);
    assert_int_equal(access(old, F_OK), 0);
    snprintf(old, sizeof old, "%s/%s", dir, newest);
    struct stat st;
    assert_int_equal(stat(old, &st), 0);
    assert_true(st.st_size > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backup_under_load_restores_with_every_acknowledged_delivery),
        cmocka_unit_test(restore_is_refused_while_the_server_runs),
        cmocka_unit_test(restore_is_refused_while_a_worker_runs),
        cmocka_unit_test(the_scheduler_writes_copies_and_keeps_the_newest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

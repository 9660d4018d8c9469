/*
 * cmd_worker.c — `lumi worker`: the job worker and the scheduler without
 * HTTP, until SIGTERM/SIGINT. Also builds the worker's configuration for
 * `lumi serve` (cmd_worker_config).
 *
 * Like serve: SIGINT and SIGTERM are blocked before any thread starts and
 * taken with sigwait() on the main thread; shutdown lets running jobs finish.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "provisioning/servers.h"
#include "provisioning/worker.h"

void cmd_worker_config(struct worker_config *c);

/* The worker as configured (LUMI_WORKER_*, LUMI_JOB_LEASE_S, LUMI_SCHEDULER_INTERVAL_S). */
void cmd_worker_config(struct worker_config *c)
{
    *c = (struct worker_config){
        .database_url = config_str("DATABASE_URL"),
        .threads = (int)config_int("LUMI_WORKER_THREADS"),
        .per_server = (int)config_int("LUMI_WORKER_PER_SERVER"),
        .lease_s = (int)config_int("LUMI_JOB_LEASE_S"),
        .idle_poll_ms = 500,
        .scheduler = true,
        .scheduler_interval_s = (int)config_int("LUMI_SCHEDULER_INTERVAL_S"),
    };
}

int cmd_worker(int argc, char **argv)
{
    struct lumi_err err;
    if (argc != 1)
        return cli_usage_of(cmd_worker);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    if (config_require("LUMI_SECRET_KEY", &err) != 0)
        return cli_fail("%s", err.msg);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int rc = CLI_FAIL;
    struct db *db = cli_open_db();
    if (db == NULL)
        goto out;
    const char *engine = db_kind(db) == DB_POSTGRES ? "postgres" : "sqlite";
    int synced = servers_sync_environment(db, &err);
    db_close(db);
    if (synced != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    struct worker_config cfg;
    cmd_worker_config(&cfg);
    struct worker *w = worker_start(&cfg, &err);
    if (w == NULL) {
        cli_fail("%s", err.msg);
        goto out;
    }
    log_info("worker.process_started", "database=%s version=%s", engine, LUMI_VERSION);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    log_info("worker.stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    worker_stop(w);
    rc = CLI_OK;
out:
    curl_global_cleanup();
    return rc;
}

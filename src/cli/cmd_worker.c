/*
 * cmd_worker.c — `lumi worker`: the job worker, the scheduler, the mail
 * thread and the outgoing-events thread without HTTP, until SIGTERM/SIGINT.
 * Also builds the worker's configuration for `lumi serve` (cmd_worker_config).
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
#include "events/dispatcher.h"
#include "notify/mailer.h"
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
    int rc = CLI_FAIL;
    const char *engine = NULL;
    if (cli_daemon_begin(&engine) != 0)
        goto out;
    struct worker_config cfg;
    cmd_worker_config(&cfg);
    struct worker *w = worker_start(&cfg, &err);
    struct mailer *m = w != NULL ? mailer_start(cfg.database_url, cfg.idle_poll_ms, &err) : NULL;
    struct events_dispatcher *ev =
        m != NULL ? events_dispatcher_start(cfg.database_url, cfg.idle_poll_ms, &err) : NULL;
    if (w == NULL || m == NULL || ev == NULL) {
        mailer_stop(m);
        worker_stop(w);
        cli_fail("%s", err.msg);
        goto out;
    }
    log_info("worker.process_started", "database=%s version=%s", engine, LUMI_VERSION);
    int sig = cli_wait_for_signal();
    log_info("worker.stopping", "signal=%s", cli_signal_name(sig));
    events_dispatcher_stop(ev);
    mailer_stop(m);
    worker_stop(w);
    rc = CLI_OK;
out:
    cli_daemon_end();
    return rc;
}

/*
 * cmd_serve.c — `lumi serve`: migrate, then serve HTTP (and, unless
 * --no-worker, run the job worker, the scheduler, the mail thread and the
 * outgoing-events thread) until SIGTERM/SIGINT.
 *
 * SIGINT and SIGTERM are blocked before any thread starts (threads inherit
 * the mask) and taken synchronously with sigwait() on the main thread, so
 * shutdown runs as ordinary code: stop accepting, finish in-flight requests,
 * let running jobs finish, close, exit 0. The worker starts after the web
 * server and stops after it.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "events/dispatcher.h"
#include "notify/mailer.h"
#include "provisioning/servers.h"
#include "provisioning/worker.h"
#include "web/routes.h"
#include "web/server.h"

void cmd_worker_config(struct worker_config *c); /* cmd_worker.c */

struct serve_opts {
    const char *listen;
    int no_worker;
};

static int parse_opts(int argc, char **argv, struct serve_opts *o)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            o->listen = argv[++i];
        else if (strncmp(argv[i], "--listen=", 9) == 0)
            o->listen = argv[i] + 9;
        else if (strcmp(argv[i], "--no-worker") == 0)
            o->no_worker = 1;
        else
            return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o = {0};
    struct lumi_err err;
    if (parse_opts(argc, argv, &o) != 0)
        return cli_usage_of(cmd_serve);
    int rc = CLI_FAIL;
    const char *engine = NULL;
    if (cli_daemon_begin(&engine) != 0)
        goto out;

    struct web_config cfg = {
        .listen = o.listen ? o.listen : config_str("LUMI_LISTEN"),
        .database_url = config_str("DATABASE_URL"),
        .max_body = (size_t)config_int("LUMI_MAX_BODY"),
        .io_threads = (int)config_int("LUMI_HTTP_THREADS"),
        .workers = (int)config_int("LUMI_WORKERS"),
        .batch_max = (int)config_int("LUMI_BATCH_MAX"),
        .pg_writers = (int)config_int("LUMI_PG_WRITERS"),
        .queue_max = (int)config_int("LUMI_QUEUE_MAX"),
        .request_timeout_s = 60,
        .routes = lumi_routes(),
        .max_connections = (int)config_int("LUMI_MAX_CONNECTIONS"),
        .max_conn_per_ip = (int)config_int("LUMI_MAX_CONN_PER_IP"),
        .recv_timeout_s = (int)config_int("LUMI_REQUEST_TIMEOUT_S"),
    };
    if (cfg.routes == NULL) {
        cli_fail("out of memory building the route table");
        goto out;
    }
    struct web_server *srv = web_server_start(&cfg, &err);
    if (srv == NULL) {
        cli_fail("%s", err.msg);
        goto out;
    }
    struct worker *worker = NULL;
    struct mailer *mailer = NULL;
    struct events_dispatcher *events = NULL; /* outgoing events (issue 16) */
    if (!o.no_worker) {
        struct worker_config wcfg;
        cmd_worker_config(&wcfg);
        worker = worker_start(&wcfg, &err);
        if (worker != NULL)
            mailer = mailer_start(cfg.database_url, wcfg.idle_poll_ms, &err);
        if (mailer != NULL)
            events = events_dispatcher_start(cfg.database_url, wcfg.idle_poll_ms, &err);
        if (worker == NULL || mailer == NULL || events == NULL) {
            mailer_stop(mailer);
            worker_stop(worker);
            web_server_stop(srv);
            cli_fail("%s", err.msg);
            goto out;
        }
    }
    log_info("server.started", "listen=%s port=%d database=%s version=%s worker=%s", cfg.listen,
             web_server_port(srv), engine, LUMI_VERSION, worker != NULL ? "on" : "off");
    int sig = cli_wait_for_signal();
    log_info("server.stopping", "signal=%s", cli_signal_name(sig));
    web_server_stop(srv);
    events_dispatcher_stop(events);
    mailer_stop(mailer);
    worker_stop(worker);
    log_info("server.stopped", "%s", "clean=1");
    rc = CLI_OK;
out:
    cli_daemon_end();
    return rc;
}

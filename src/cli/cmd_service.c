/*
 * cmd_service.c — `lumi service provision|suspend|unsuspend|terminate ID
 * [--reason TEXT]`: requests the action like the admin API does (actor
 * system "cli"), then runs the job to an outcome on this process's own
 * connection (worker_run_until_settled, which waits instead when another
 * worker holds the job) and prints what the panel confirmed.
 *
 * Single-threaded: runs on the main thread with one connection.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/str.h"
#include "provisioning/servers.h"
#include "provisioning/services.h"
#include "provisioning/worker.h"

#define SETTLE_TIMEOUT_S 120

static const struct audit_actor CLI_ACTOR = {"system", "cli", NULL, NULL, "lumi-cli"};

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "service 12: active (pterodactyl server 7)" */
static void print_outcome(struct db *db, int64_t id)
{
    struct lumi_err err;
    json_t *s = services_get(db, id, &err);
    if (s == NULL) {
        printf("service %" PRId64 ": done\n", id);
        return;
    }
    const char *status = str_of(s, "status");
    const char *external = str_of(s, "external_id");
    json_t *server = NULL;
    int64_t server_id = json_integer_value(json_object_get(s, "server_id"));
    if (server_id > 0)
        server = servers_get(db, server_id, &err);
    if (external != NULL && server != NULL)
        printf("service %" PRId64 ": %s (%s server %s)\n", id, status, str_of(server, "type"),
               external);
    else if (external != NULL)
        printf("service %" PRId64 ": %s (server %s)\n", id, status, external);
    else
        printf("service %" PRId64 ": %s\n", id, status != NULL ? status : "unknown");
    json_decref(server);
    json_decref(s);
}

static int run(int argc, char **argv, const char *action, int (*self)(int, char **))
{
    const char *reason = NULL;
    int64_t id = 0;
    int rc = CLI_FAIL;
    struct db *db = NULL;
    json_t *job = NULL, *final = NULL;
    struct lumi_err err;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
            reason = argv[++i];
        else if (strncmp(argv[i], "--reason=", 9) == 0)
            reason = argv[i] + 9;
        else if (id == 0 && str_to_i64z(argv[i], 1, INT64_MAX, &id) == 0)
            continue;
        else
            return cli_usage_of(self);
    }
    if (id == 0)
        return cli_usage_of(self);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    db = cli_open_db();
    if (db == NULL)
        goto out;
    /* The job may run against an environment panel: make its row current first. */
    if (servers_sync_environment(db, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    job = services_request(db, &CLI_ACTOR, id, action, reason, &err);
    if (job == NULL) {
        cli_fail("service %" PRId64 ": %s", id, err.msg);
        goto out;
    }
    int64_t job_id = json_integer_value(json_object_get(job, "id"));
    final = worker_run_until_settled(db, job_id, SETTLE_TIMEOUT_S, &err);
    if (final == NULL) {
        cli_fail("service %" PRId64 ": %s (job %" PRId64 ")", id, err.msg, job_id);
        goto out;
    }
    const char *status = str_of(final, "status");
    const char *last_error = str_of(final, "last_error");
    if (str_eq(status, "done")) {
        print_outcome(db, id);
        rc = CLI_OK;
    } else if (str_eq(status, "failed")) {
        cli_fail("service %" PRId64 ": %s failed: %s", id, action,
                 last_error != NULL ? last_error : "unknown error");
    } else {
        cli_fail("service %" PRId64 ": %s not finished after %d s (job %" PRId64 " %s%s%s)", id,
                 action, SETTLE_TIMEOUT_S, job_id, status != NULL ? status : "?",
                 last_error != NULL ? ": " : "", last_error != NULL ? last_error : "");
    }
out:
    json_decref(job);
    json_decref(final);
    db_close(db);
    curl_global_cleanup();
    return rc;
}

int cmd_service_provision(int argc, char **argv)
{
    return run(argc, argv, "provision", cmd_service_provision);
}

int cmd_service_suspend(int argc, char **argv)
{
    return run(argc, argv, "suspend", cmd_service_suspend);
}

int cmd_service_unsuspend(int argc, char **argv)
{
    return run(argc, argv, "unsuspend", cmd_service_unsuspend);
}

int cmd_service_terminate(int argc, char **argv)
{
    return run(argc, argv, "terminate", cmd_service_terminate);
}

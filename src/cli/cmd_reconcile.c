/*
 * cmd_reconcile.c — `lumi reconcile [--server ID]`: the drift check between
 * Lumi's services and the panels (provisioning/reconcile.h). Changes
 * nothing, neither in the database nor on any panel.
 *
 * Prints one line per difference or unreadable panel on stdout, then the
 * summary. Exit 0 when nothing differs and every panel could be read, 1
 * when something differs or failed, 2 on bad usage. Runs on the main thread.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/str.h"
#include "provisioning/reconcile.h"
#include "provisioning/servers.h"

static const char *plural(int n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

int cmd_reconcile(int argc, char **argv)
{
    int64_t server_id = 0;
    struct db *db = NULL;
    struct reconcile_report rep;
    struct lumi_err err;
    int rc, status = CLI_FAIL;
    if (argc == 3 && strcmp(argv[1], "--server") == 0) {
        if (str_to_i64z(argv[2], 1, INT64_MAX, &server_id) != 0)
            return cli_usage_of(cmd_reconcile);
    } else if (argc != 1) {
        return cli_usage_of(cmd_reconcile);
    }
    db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    if (servers_sync_environment(db, &err) != 0) {
        status = cli_fail("cannot sync the environment's panels: %s", err.msg);
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        status = cli_fail("cannot initialise libcurl");
        goto out;
    }
    rc = reconcile_run(db, server_id, stdout, &rep, &err);
    curl_global_cleanup();
    if (rc != 0) {
        status = cli_fail("reconcile stopped: %s", err.msg);
        goto out;
    }
    printf("checked %d %s on %d %s: %d missing, %d orphaned, %d suspended %s, %d %s;"
           " %d panel %s without a Lumi key\n",
           rep.services_checked, plural(rep.services_checked, "service", "services"), rep.servers,
           plural(rep.servers, "server", "servers"), rep.missing, rep.orphaned,
           rep.suspended_mismatch, plural(rep.suspended_mismatch, "mismatch", "mismatches"),
           rep.errors, plural(rep.errors, "error", "errors"), rep.unmanaged,
           plural(rep.unmanaged, "resource", "resources"));
    fflush(stdout);
    status =
        rep.missing + rep.orphaned + rep.suspended_mismatch + rep.errors == 0 ? CLI_OK : CLI_FAIL;
out:
    db_close(db);
    return status;
}

/*
 * cmd_cron.c — `lumi cron [--dry-run]`: one automation pass (renewal
 * invoices, overdue suspension, termination) and the dated mail notices
 * (invoice reminders, overdue notices) as of now.
 *
 * Prints one line per action (or, with --dry-run, per planned action) on
 * stdout, then a summary line. Exit 1 when the pass could not run or a
 * service failed (the log on stderr names each one). Runs on the main
 * thread; the queued jobs are run by the worker, not here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/utc.h"
#include "notify/notify.h"
#include "provisioning/automation.h"

int cmd_cron(int argc, char **argv)
{
    bool dry = false;
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--dry-run") != 0))
        return cli_usage_of(cmd_cron);
    dry = argc == 2;
    struct db *db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    struct automation_report rep;
    struct lumi_err err;
    int64_t now = utc_now();
    int notices = 0;
    int rc = automation_run(db, now, dry, stdout, &rep, &err);
    if (rc == 0)
        rc = notify_reminders(db, now, dry, stdout, &notices, &err);
    db_close(db);
    printf("%s: %d renewal invoice%s, %d suspension%s, %d termination%s, %d cancellation%s, "
           "%d notice%s, %d error%s\n",
           dry ? "dry run, would do" : "done", rep.invoices_created,
           rep.invoices_created == 1 ? "" : "s", rep.suspensions_queued,
           rep.suspensions_queued == 1 ? "" : "s", rep.terminations_queued,
           rep.terminations_queued == 1 ? "" : "s", rep.cancellations_executed,
           rep.cancellations_executed == 1 ? "" : "s", notices, notices == 1 ? "" : "s",
           rep.errors, rep.errors == 1 ? "" : "s");
    fflush(stdout);
    if (rc != 0)
        return cli_fail("automation pass stopped: %s", err.msg);
    if (rep.errors > 0)
        return cli_fail("%d service%s could not be handled; see the automation.failed log lines",
                        rep.errors, rep.errors == 1 ? "" : "s");
    return CLI_OK;
}

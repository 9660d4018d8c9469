/*
 * cmd_backup.c — `lumi backup PATH` and `lumi restore PATH` (db/backup.h).
 *
 * Both run beside a live server: backup reads one consistent snapshot while
 * Lumi keeps writing; restore refuses while a `lumi serve` or `lumi worker`
 * holds the database, checks the backup's integrity before touching
 * anything, and afterwards checks the audit chain of what it restored.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "core/config.h"
#include "db/backup.h"

int cmd_backup(int argc, char **argv)
{
    struct lumi_err err;
    struct stat st;
    if (argc != 2)
        return cli_usage_of(cmd_backup);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    if (db_backup(config_str("DATABASE_URL"), argv[1], &err) != 0)
        return cli_fail("%s", err.msg);
    long long size = stat(argv[1], &st) == 0 ? (long long)st.st_size : -1;
    printf("backup written to %s (%lld bytes)\n", argv[1], size);
    return CLI_OK;
}

int cmd_restore(int argc, char **argv)
{
    struct lumi_err err;
    struct audit_verify_result res;
    if (argc != 2)
        return cli_usage_of(cmd_restore);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    if (db_restore(config_str("DATABASE_URL"), argv[1], &err) != 0)
        return cli_fail("%s", err.msg);
    printf("restored %s; the database as it was is kept as <database>.before-restore\n", argv[1]);
    struct db *db = cli_open_db(); /* migrates a backup from an older version */
    if (db == NULL)
        return CLI_FAIL;
    int rc = audit_verify_record(db, &res, &err);
    db_close(db);
    if (rc != 0)
        return cli_fail("the restored database cannot be read: %s", err.msg);
    if (res.broken_id != 0)
        return cli_fail("the restored audit chain is broken at #%lld: %s", (long long)res.broken_id,
                        res.reason);
    printf("audit chain intact: %lld rows, up to #%lld\n", (long long)res.rows,
           (long long)res.last_good_id);
    if (res.last_good_id > 0)
        printf("head: #%lld %s\n", (long long)res.last_good_id, res.last_hash);
    return CLI_OK;
}

/*
 * cmd_migrate.c — `lumi migrate`: apply pending schema migrations.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "core/config.h"
#include "db/migrate.h"

int cmd_migrate(int argc, char **argv)
{
    if (argc != 1)
        return cli_usage_of(cmd_migrate);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    struct lumi_err err;
    struct db *db = db_open(config_str("DATABASE_URL"), &err);
    if (db == NULL)
        return cli_fail("DATABASE_URL: %s", err.msg);
    int applied = 0;
    int rc = db_migrate(db, &applied, &err);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("migrations: %d applied, schema at version %d\n", applied,
           db_schema_version_latest());
    return CLI_OK;
}

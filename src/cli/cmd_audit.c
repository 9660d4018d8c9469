/*
 * cmd_audit.c — `lumi audit verify` and `lumi audit export`.
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "core/utc.h"

int cmd_audit_verify(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_usage_of(cmd_audit_verify);
    struct db *db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    struct lumi_err err;
    struct audit_verify_result res;
    /* Recorded, so the audit page can say when the whole chain was last checked. */
    int rc = audit_verify_record(db, &res, &err);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    if (res.broken_id != 0) {
        fprintf(stderr, "lumi: audit chain broken at #%lld: %s (intact up to #%lld)\n",
                (long long)res.broken_id, res.reason, (long long)res.last_good_id);
        printf("%lld\n", (long long)res.broken_id);
        return CLI_FAIL;
    }
    printf("audit chain intact: %lld rows, up to #%lld\n", (long long)res.rows,
           (long long)res.last_good_id);
    /* The head: kept off the machine, it shows later that no row up to it was rewritten. */
    if (res.last_good_id > 0)
        printf("head: #%lld %s\n", (long long)res.last_good_id, res.last_hash);
    return CLI_OK;
}

int cmd_audit_export(int argc, char **argv)
{
    enum audit_format fmt = AUDIT_JSONL;
    struct audit_filter f = {0};
    char since[UTC_ISO_LEN];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "csv") == 0)
                fmt = AUDIT_CSV;
            else if (strcmp(v, "jsonl") == 0)
                fmt = AUDIT_JSONL;
            else
                return cli_usage_of(cmd_audit_export);
        } else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            int64_t t;
            struct lumi_err perr;
            if (utc_parse(argv[++i], &t, &perr) != 0 || utc_format(t, since) != 0) {
                cli_fail("--since: %s", perr.msg);
                return CLI_USAGE;
            }
            f.from = since;
        } else {
            return cli_usage_of(cmd_audit_export);
        }
    }
    struct db *db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    struct lumi_err err;
    int64_t n = 0;
    int rc = audit_export(db, &f, fmt, stdout, &n, &err);
    db_close(db);
    if (fflush(stdout) != 0 && rc == 0)
        return cli_fail("could not write to standard output");
    if (rc != 0)
        return cli_fail("%s", err.msg);
    fprintf(stderr, "exported %lld rows\n", (long long)n);
    return CLI_OK;
}

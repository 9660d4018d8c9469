/*
 * cmd_server.c — `lumi server list` and `lumi server test ID`.
 *
 * Both first bring the environment's panels into the servers table, so what
 * they show matches what `lumi serve` would use.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/str.h"
#include "provisioning/servers.h"

static const struct audit_actor CLI_ACTOR = {"system", "cli", NULL, NULL, "lumi-cli"};

static struct db *open_synced(void)
{
    struct db *db = cli_start();
    struct lumi_err err;
    if (db != NULL && servers_sync_environment(db, &err) != 0) {
        cli_fail("%s", err.msg);
        db_close(db);
        return NULL;
    }
    return db;
}

static const char *str_field(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void print_server(json_t *s)
{
    json_t *status = json_object_get(s, "status");
    json_t *ok = json_object_get(status, "ok");
    char accounts[48];
    snprintf(accounts, sizeof accounts, "%lld/%lld",
             (long long)json_integer_value(json_object_get(s, "account_count")),
             (long long)json_integer_value(json_object_get(s, "max_accounts")));
    printf("%-5lld %-12s %-24.24s %-40.40s %-12s %-6s %-10s %s\n",
           (long long)json_integer_value(json_object_get(s, "id")), str_field(s, "type"),
           str_field(s, "name"), str_field(s, "url"), str_field(s, "source"),
           json_is_true(json_object_get(s, "active")) ? "yes" : "no", accounts,
           json_is_null(ok) || ok == NULL ? "untested" : json_is_true(ok) ? "ok" : "failing");
}

int cmd_server_list(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_usage_of(cmd_server_list);
    struct db *db = open_synced();
    if (db == NULL)
        return CLI_FAIL;
    struct lumi_err err;
    int64_t after = 0, next = 0;
    int rc = CLI_OK;
    printf("%-5s %-12s %-24s %-40s %-12s %-6s %-10s %s\n", "ID", "TYPE", "NAME", "URL",
           "SOURCE", "ACTIVE", "ACCOUNTS", "STATUS");
    do {
        json_t *rows = servers_list(db, after, SERVERS_PAGE_MAX, &next, &err);
        if (rows == NULL) {
            rc = cli_fail("%s", err.msg);
            break;
        }
        size_t i;
        json_t *s;
        json_array_foreach(rows, i, s) print_server(s);
        json_decref(rows);
        after = next;
    } while (next > 0);
    db_close(db);
    return rc;
}

int cmd_server_test(int argc, char **argv)
{
    int64_t id = 0;
    if (argc != 2 || str_to_i64z(argv[1], 1, INT64_MAX, &id) != 0)
        return cli_usage_of(cmd_server_test);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct db *db = open_synced();
    int rc = CLI_FAIL;
    if (db == NULL)
        goto out;
    struct lumi_err err;
    json_t *result = servers_test(db, &CLI_ACTOR, id, &err);
    db_close(db);
    if (result == NULL) {
        cli_fail("%s", err.msg);
        goto out;
    }
    const char *msg = json_string_value(json_object_get(result, "message"));
    long long ms = (long long)json_integer_value(json_object_get(result, "latency_ms"));
    if (json_is_true(json_object_get(result, "success"))) {
        printf("ok: %s (%lld ms)\n", msg, ms);
        rc = CLI_OK;
    } else {
        cli_fail("server %lld: %s (%lld ms)", (long long)id, msg, ms);
    }
    json_decref(result);
out:
    curl_global_cleanup();
    return rc;
}

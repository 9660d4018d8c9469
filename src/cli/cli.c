/*
 * cli.c — the command table and dispatch of `lumi` (see cli.h).
 *
 * A command's name may have two words ("audit verify"); the longest match
 * wins. Runs on the main thread before any other thread exists.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "db/backup.h"
#include "db/migrate.h"
#include "provisioning/servers.h"

int cmd_serve(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_admin_create(int argc, char **argv);
int cmd_token_create(int argc, char **argv);
int cmd_token_revoke(int argc, char **argv);
int cmd_admin_totp_reset(int argc, char **argv);
int cmd_admin_password(int argc, char **argv);
int cmd_server_list(int argc, char **argv);
int cmd_server_test(int argc, char **argv);
int cmd_service_provision(int argc, char **argv);
int cmd_service_suspend(int argc, char **argv);
int cmd_service_unsuspend(int argc, char **argv);
int cmd_service_terminate(int argc, char **argv);
int cmd_cron(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);
int cmd_audit_verify(int argc, char **argv);
int cmd_audit_export(int argc, char **argv);
int cmd_mail_test(int argc, char **argv);
int cmd_backup(int argc, char **argv);  /* operations: cmd_backup.c */
int cmd_restore(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct cli_command commands[] = {
    {"serve", "[--listen ADDR:PORT] [--no-worker]",
     "serve HTTP (JSON API, webhooks, pages); migrates first", cmd_serve},
    {"worker", "", "job worker and scheduler only", cmd_worker},
    {"migrate", "", "apply database migrations", cmd_migrate},
    {"admin create", "EMAIL [--role admin|billing|support|readonly]",
     "create an admin (default) or staff account (password read from stdin)", cmd_admin_create},
    {"admin password", "EMAIL",
     "set a new password for an admin or staff member (read from stdin); ends its sessions",
     cmd_admin_password},
    {"admin totp-reset", "EMAIL",
     "switch off an admin's two-factor sign-in (lost device and recovery codes)",
     cmd_admin_totp_reset},
    {"token create", "NAME [--user EMAIL] [--expires DAYS]",
     "create an API token (acting with the user's role) and print it once", cmd_token_create},
    {"token revoke", "ID", "revoke an API token at once", cmd_token_revoke},
    {"server list", "", "list the panels Lumi drives (database and environment)", cmd_server_list},
    {"server test", "ID", "test the connection to a panel", cmd_server_test},
    {"service provision", "ID [--reason TEXT]", "provision a service now and wait for the panel",
     cmd_service_provision},
    {"service suspend", "ID [--reason overdue|manual|abuse|dispute]",
     "suspend a service and wait for the panel", cmd_service_suspend},
    {"service unsuspend", "ID [--reason TEXT]", "unsuspend a service and wait for the panel",
     cmd_service_unsuspend},
    {"service terminate", "ID [--reason TEXT]", "terminate a service and wait for the panel",
     cmd_service_terminate},
    {"cron", "[--dry-run]",
     "one automation pass: renewal invoices, overdue suspension, termination, mail notices",
     cmd_cron},
    {"mail test", "ADDRESS", "send a test message through SMTP_* and print the server's answer",
     cmd_mail_test},
    {"reconcile", "[--server ID]",
     "list differences between Lumi's services and the panels (changes nothing; exit 1 when any)",
     cmd_reconcile},
    {"audit verify", "", "check the audit hash chain (exit 1 on a broken link)", cmd_audit_verify},
    {"audit export", "[--format csv|jsonl] [--since ISO8601]", "write the audit trail to stdout",
     cmd_audit_export},
    /* Operations (backups) */
    {"backup", "PATH", "write a consistent copy of the database to PATH (while Lumi runs)",
     cmd_backup},
    {"restore", "PATH",
     "replace the database with the backup at PATH (refused while serve or worker runs)",
     cmd_restore},
    {"version", "", "print the version", cmd_version},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *out)
{
    fprintf(out, "usage: lumi COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", commands[i].name, commands[i].usage);
        fprintf(out, "  %-48s %s\n", head, commands[i].summary);
    }
    fprintf(out, "\nConfiguration comes from .env and the environment; see README.md.\n"
                 "Run `lumi COMMAND --help` for one command.\n");
}

/* Number of words of name matched by argv[1..], or 0. */
static int match(const struct cli_command *c, int argc, char **argv)
{
    const char *sp = strchr(c->name, ' ');
    if (sp == NULL)
        return argc > 1 && strcmp(argv[1], c->name) == 0 ? 1 : 0;
    size_t n = (size_t)(sp - c->name);
    if (argc > 2 && strlen(argv[1]) == n && strncmp(argv[1], c->name, n) == 0 &&
        strcmp(argv[2], sp + 1) == 0)
        return 2;
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        int words = match(&commands[i], argc, argv);
        if (words == 0)
            continue;
        char **sub = argv + words;
        int subc = argc - words;
        if (cli_wants_help(subc, sub)) {
            printf("usage: lumi %s %s\n%s\n", commands[i].name, commands[i].usage,
                   commands[i].summary);
            return CLI_OK;
        }
        return commands[i].run(subc, sub);
    }
    fprintf(stderr, "lumi: unknown command '%s'\n", argv[1]);
    print_help(stderr);
    return CLI_USAGE;
}

int cli_usage(const struct cli_command *cmd)
{
    fprintf(stderr, "usage: lumi %s %s\n", cmd->name, cmd->usage);
    return CLI_USAGE;
}

/* Usage line for the command whose run function is fn (for commands' own use). */
int cli_usage_of(int (*fn)(int, char **))
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].run == fn)
            return cli_usage(&commands[i]);
    return CLI_USAGE;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lumi: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

int cli_load_config(void)
{
    struct lumi_err err;
    if (config_load(".env", &err) != 0) {
        cli_fail("%s", err.msg);
        return -1;
    }
    enum log_level level;
    if (log_level_parse(config_str("LUMI_LOG_LEVEL"), &level) == 0)
        log_set_level(level);
    if (crypto_init() != 0) {
        cli_fail("could not initialise the crypto libraries");
        return -1;
    }
    return 0;
}

struct db *cli_open_db(void)
{
    struct lumi_err err;
    struct db *db = db_open(config_str("DATABASE_URL"), &err);
    if (db == NULL) {
        cli_fail("DATABASE_URL: %s", err.msg);
        return NULL;
    }
    if (db_migrate(db, NULL, &err) != 0) {
        cli_fail("%s", err.msg);
        db_close(db);
        return NULL;
    }
    return db;
}

struct db *cli_start(void)
{
    return cli_load_config() == 0 ? cli_open_db() : NULL;
}

static void daemon_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/* Operations (backups): held by serve and worker for their life, so `lumi restore` refuses. */
static int in_use_lock = -1;

int cli_daemon_begin(const char **engine)
{
    struct lumi_err err;
    sigset_t set;
    if (cli_load_config() != 0)
        return -1;
    if (db_lock_shared(config_str("DATABASE_URL"), &in_use_lock, &err) != 0) {
        cli_fail("%s", err.msg);
        return -1;
    }
    if (config_require("LUMI_SECRET_KEY", &err) != 0) {
        cli_fail("%s", err.msg);
        return -1;
    }
    daemon_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct db *db = cli_open_db();
    if (db == NULL)
        return -1;
    *engine = db_kind(db) == DB_POSTGRES ? "postgres" : "sqlite";
    int rc = servers_sync_environment(db, &err);
    db_close(db);
    if (rc != 0) {
        cli_fail("%s", err.msg);
        return -1;
    }
    return 0;
}

int cli_wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;
    daemon_signals(&set);
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}

const char *cli_signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

void cli_daemon_end(void)
{
    db_lock_release(in_use_lock);
    in_use_lock = -1;
    curl_global_cleanup();
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("lumi %s\n", LUMI_VERSION);
    return CLI_OK;
}

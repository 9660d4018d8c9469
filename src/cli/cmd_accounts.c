/*
 * cmd_accounts.c — `lumi admin create EMAIL [--role ROLE]`, `lumi admin
 * password|totp-reset EMAIL`, `lumi token create NAME [--user EMAIL]
 * [--expires DAYS]` and `lumi token revoke ID`.
 *
 * The password is read from standard input (one line; with a terminal, echo
 * is turned off), never from the command line where `ps` would show it.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "accounts/tokens.h"
#include "cli/cli.h"
#include "core/str.h"

static const struct audit_actor CLI_ACTOR = {"system", "cli", NULL, NULL, "lumi-cli"};

/* Reads one line of at most size-1 bytes from stdin without the newline. */
static int read_password(char *out, size_t size)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO);
    if (tty) {
        fprintf(stderr, "Password: ");
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(out, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (line == NULL)
        return -1;
    size_t n = strlen(out);
    if (n == size - 1 && out[n - 1] != '\n')
        return -2; /* longer than allowed */
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

/* Finds "--name VALUE" in argv; returns VALUE, NULL when absent, or "" when it has no value. */
static const char *option(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return i + 1 < argc ? argv[i + 1] : "";
    return NULL;
}

/* Positional arguments other than options with values; returns count, first in *first. */
static int positionals(int argc, char **argv, const char **first)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            i++;
            continue;
        }
        if (n++ == 0)
            *first = argv[i];
    }
    return n;
}

int cmd_admin_create(int argc, char **argv)
{
    const char *email = NULL;
    const char *role = option(argc, argv, "--role");
    if (positionals(argc, argv, &email) != 1 || (role != NULL && !accounts_is_staff_role(role)))
        return cli_usage_of(cmd_admin_create);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    char password[1026];
    int r = read_password(password, sizeof password);
    if (r == -1)
        return cli_fail("no password on standard input");
    if (r == -2)
        return cli_fail("the password is longer than 1024 characters");
    struct db *db = cli_open_db();
    if (db == NULL) {
        sodium_memzero(password, sizeof password);
        return CLI_FAIL;
    }
    struct lumi_err err;
    int64_t id = 0;
    int rc =
        accounts_create_user(db, &CLI_ACTOR, email, role ? role : "admin", password, &id, &err);
    sodium_memzero(password, sizeof password);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("created %s %s (id %lld)\n", role ? role : "admin", email, (long long)id);
    return CLI_OK;
}

/*
 * A new password for an admin or staff member (read from stdin like `admin
 * create`); every session of the account ends.
 */
int cmd_admin_password(int argc, char **argv)
{
    const char *email = NULL;
    if (positionals(argc, argv, &email) != 1)
        return cli_usage_of(cmd_admin_password);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    char password[1026];
    int r = read_password(password, sizeof password);
    if (r == -1)
        return cli_fail("no password on standard input");
    if (r == -2)
        return cli_fail("the password is longer than 1024 characters");
    struct db *db = cli_open_db();
    if (db == NULL) {
        sodium_memzero(password, sizeof password);
        return CLI_FAIL;
    }
    struct lumi_err err;
    int rc = accounts_set_staff_password(db, &CLI_ACTOR, email, password, &err);
    sodium_memzero(password, sizeof password);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("password changed for %s; all of its sessions have ended\n", email);
    return CLI_OK;
}

/*
 * The way back in for an admin who lost both the authenticator and the
 * recovery codes: whoever can run lumi on the server (and so read
 * LUMI_SECRET_KEY and the database) switches the second factor off; the
 * admin signs in with the password and can enable it again. Audited as
 * TOTP_DISABLED with method "reset".
 */
int cmd_admin_totp_reset(int argc, char **argv)
{
    const char *email = NULL;
    if (positionals(argc, argv, &email) != 1)
        return cli_usage_of(cmd_admin_totp_reset);
    struct db *db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    struct lumi_err err;
    int rc = accounts_totp_reset(db, &CLI_ACTOR, email, &err);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("two-factor sign-in is off for %s; the password alone signs in until it is enabled "
           "again\n",
           email);
    return CLI_OK;
}

int cmd_token_create(int argc, char **argv)
{
    struct tokens_new in = {0};
    const char *expires = option(argc, argv, "--expires");
    in.owner_email = option(argc, argv, "--user");
    if (positionals(argc, argv, &in.name) != 1 ||
        (in.owner_email != NULL && *in.owner_email == '\0') ||
        (expires != NULL && str_to_i64z(expires, 1, TOKENS_MAX_DAYS, &in.expires_days) != 0))
        return cli_usage_of(cmd_token_create);
    struct db *db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    struct lumi_err err;
    char token[TOKENS_LEN];
    int64_t id = 0;
    int rc = tokens_create(db, &CLI_ACTOR, &in, token, &id, &err);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    /* The token alone on stdout, so `TOKEN=$(lumi token create x)` works. */
    printf("%s\n", token);
    fflush(stdout);
    fprintf(stderr, "token %lld '%s' created; it is shown only this once\n", (long long)id,
            in.name);
    sodium_memzero(token, sizeof token);
    return CLI_OK;
}

int cmd_token_revoke(int argc, char **argv)
{
    const char *arg = NULL;
    int64_t id = 0;
    if (positionals(argc, argv, &arg) != 1 || str_to_i64z(arg, 1, INT64_MAX, &id) != 0)
        return cli_usage_of(cmd_token_revoke);
    struct db *db = cli_start();
    if (db == NULL)
        return CLI_FAIL;
    struct lumi_err err;
    int rc = tokens_revoke(db, &CLI_ACTOR, id, &err);
    db_close(db);
    if (rc != 0)
        return cli_fail("%s", err.msg);
    printf("token %lld revoked; requests with it are refused from now on\n", (long long)id);
    return CLI_OK;
}

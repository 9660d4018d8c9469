/*
 * cli.h — the sub-command table of `lumi` (after tmux's cmd_entry).
 *
 * Each command lives in its own file (cli/cmd_*.c) and is listed once in
 * cli.c. A command returns the process exit status: 0 success, 1 failure
 * (one readable line already printed on stderr), 2 bad usage.
 */
#ifndef LUMI_CLI_CLI_H
#define LUMI_CLI_CLI_H

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;     /* "serve", "admin create", "audit verify", ... */
    const char *usage;    /* arguments after the name */
    const char *summary;  /* one line for `lumi --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the last word of name */
};

/** Dispatches `lumi ARGS...`; returns the exit status. */
int cli_main(int argc, char **argv);

/** Prints "usage: lumi NAME USAGE" to stderr and returns CLI_USAGE. */
int cli_usage(const struct cli_command *cmd);

/** Usage line of the command whose run function is fn. */
int cli_usage_of(int (*fn)(int, char **));

/** True when argv has -h or --help (then the command prints its usage on stdout, exit 0). */
int cli_wants_help(int argc, char **argv);

/** Loads .env + environment; on error prints the one-line message and returns -1. */
int cli_load_config(void);

/** Opens DATABASE_URL and applies migrations; prints the error and returns NULL on failure. */
struct db *cli_open_db(void);

/** Prints "lumi: MESSAGE" on stderr and returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

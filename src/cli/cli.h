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
    const char *name;                  /* "serve", "admin create", "audit verify", ... */
    const char *usage;                 /* arguments after the name */
    const char *summary;               /* one line for `lumi --help` */
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

/**
 * The start of a one-shot command: cli_load_config, then cli_open_db. The
 * database (caller closes it with db_close), or NULL after printing the error.
 */
struct db *cli_start(void);

/**
 * Start-up shared by the long-running commands (serve, worker): loads the
 * configuration, requires LUMI_SECRET_KEY, blocks SIGINT and SIGTERM (before
 * any thread starts, so every thread inherits the mask and
 * cli_wait_for_signal takes them), ignores SIGPIPE, initialises libcurl,
 * migrates, and brings the environment's panels into the servers table.
 * 0 with *engine "sqlite" or "postgres"; -1 after printing the error.
 * Call cli_daemon_end() afterwards in either case.
 */
int cli_daemon_begin(const char **engine);

/** Blocks until SIGINT or SIGTERM arrives; returns which. */
int cli_wait_for_signal(void);

/** Undoes cli_daemon_begin's process-wide set-up. */
void cli_daemon_end(void);

/** Name of a signal cli_wait_for_signal returns, for logs. */
const char *cli_signal_name(int sig);

/** Prints "lumi: MESSAGE" on stderr and returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

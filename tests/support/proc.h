/*
 * proc.h — run the real `lumi` binary from tests ($LUMI_BIN).
 *
 * lumi_run() runs a sub-command to completion and captures its output;
 * lumi_serve_start() starts `lumi serve` on a free 127.0.0.1 port with a given
 * environment and waits until /healthz answers; lumi_serve_stop() sends
 * SIGTERM and returns the exit status. The child gets a clean environment
 * (PATH, ASAN/UBSAN options, and what the test passes) and runs in a fresh
 * temporary working directory, so no stray .env is read.
 */
#ifndef LUMI_TEST_PROC_H
#define LUMI_TEST_PROC_H

#include <stddef.h>

#include "core/buf.h"

struct lumi_run_result {
    int exit_code;  /* exit status, or 128+signal */
    struct buf out; /* stdout */
    struct buf err; /* stderr */
};

/**
 * Runs `lumi argv...` (argv NULL-terminated, without "lumi") with env entries
 * "NAME=value" (NULL-terminated, may be NULL) and stdin_text (may be NULL)
 * fed to its standard input. Returns 0 when it ran (see res->exit_code).
 * Free res with lumi_run_result_free.
 */
int lumi_run(const char *const *argv, const char *const *env, const char *stdin_text,
             struct lumi_run_result *res);
void lumi_run_result_free(struct lumi_run_result *res);

/**
 * Runs `lumi token create NAME` with env and writes "Authorization: Bearer
 * <token>" into out; fails the test when the command fails.
 */
void lumi_token_header(const char *const *env, const char *name, char *out, size_t outsz);

struct lumi_server {
    int pid;
    int port;
    char base_url[64];  /* "http://127.0.0.1:PORT" */
    char log_path[512]; /* its stderr, for assertions on log lines */
    char dir[256];      /* its working directory */
};

/**
 * For programs run outside ctest (the benchmarks): keeps $LUMI_BIN when it is
 * set and executable, else sets it to the lumi of this build tree, one
 * directory above the program's own. 0, or -1 when there is none.
 */
int lumi_bin_find(void);

/** Starts `lumi serve --listen 127.0.0.1:PORT` with env; fails the test if not healthy in 20 s. */
void lumi_serve_start(struct lumi_server *s, const char *const *env);

/** SIGTERM, wait (up to 20 s, then SIGKILL and fail); returns the exit status. */
int lumi_serve_stop(struct lumi_server *s);

/** Reads the server's log so far (caller frees). */
char *lumi_server_log(const struct lumi_server *s);

/**
 * For the benchmarks: waits until the server has done what its start found
 * to do (a start-up automation pass, the mail thread composing a backlog of
 * mails, indexing audit rows, folding dashboard deltas): under 2 % of a
 * core over one second, twice in a row, or max_s seconds (an idle server
 * uses none; the audit indexing, paced to a few percent, passed for idle
 * under 5 %). Returns the seconds waited.
 */
double lumi_serve_settle(const struct lumi_server *s, double max_s);

/** utime + stime of a running process so far, in seconds (/proc/PID/stat), or -1. */
double proc_cpu_seconds(int pid);

#endif

/*
 * faultrun.h — a `lumi serve` over the fault VFS, for the fault tests.
 *
 * The test program is its own server: run as `PROGRAM serve ...` it
 * registers the fault VFS from the environment (faultvfs_register_env) and
 * then behaves exactly as `lumi` does (cli_main), so the server's code is
 * Lumi's own and only the storage under it is the shim. fault_server_start
 * starts /proc/self/exe that way on a free 127.0.0.1 port.
 */
#ifndef LUMI_TEST_FAULTRUN_H
#define LUMI_TEST_FAULTRUN_H

#include <stdbool.h>

struct fault_server {
    int pid;
    int port;
    char base_url[64];
};

/**
 * In main(), first: when argv is `PROGRAM serve ...`, runs the server and
 * answers true with *status its exit status; false otherwise (run the tests).
 */
bool fault_serve_main(int argc, char **argv, int *status);

/**
 * Starts the server with env ("NAME=value", NULL-terminated; PATH and the
 * sanitizer options are added) and its stdout/stderr appended to log_path;
 * waits up to 20 s for /healthz. 1 healthy, 0 exited first (*status = its
 * exit status), -1 no answer in time (then killed).
 */
int fault_server_start(struct fault_server *s, const char *const *env, const char *log_path,
                       int *status);

/** True while the server process has not exited (reaps it when it has; *status set). */
bool fault_server_alive(struct fault_server *s, int *status);

/** SIGTERM (or SIGKILL when kill9), waits; the exit status (128+signal when killed). */
int fault_server_stop(struct fault_server *s, bool kill9);

/** Status of waitpid as an exit code (128+signal when killed). */
int fault_exit_code(int wstatus);

#endif

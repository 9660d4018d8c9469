/*
 * faultrun.c — starting this test program as a server over the fault VFS
 * (see faultrun.h).
 */
#include "support/faultrun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "support/faultvfs.h"
#include "support/httpc.h"

#define MAX_ENV 48
#define START_MS 20000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool fault_serve_main(int argc, char **argv, int *status)
{
    if (argc < 2 || strcmp(argv[1], "serve") != 0)
        return false;
    if (faultvfs_register_env() != 0) {
        fprintf(stderr, "faultvfs: cannot register the VFS\n");
        *status = 1;
        return true;
    }
    *status = cli_main(argc, argv);
    return true;
}

int fault_exit_code(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static const char *const PASS_ON[] = {"PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
                                      NULL};

static int spawn(struct fault_server *s, const char *const *env, const char *log_path)
{
    char listen_arg[64];
    char *argv[] = {"lumi", "serve", "--listen", listen_arg, NULL};
    char store[4][1024];
    const char *envp[MAX_ENV + 8];
    int n = 0;
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", s->port);
    for (int i = 0; PASS_ON[i] != NULL; i++) {
        const char *v = getenv(PASS_ON[i]);
        if (v != NULL) {
            snprintf(store[i], sizeof store[i], "%s=%s", PASS_ON[i], v);
            envp[n++] = store[i];
        }
    }
    for (int i = 0; env != NULL && env[i] != NULL && n < MAX_ENV; i++)
        envp[n++] = env[i];
    envp[n] = NULL;
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execve("/proc/self/exe", argv, (char *const *)envp);
        _exit(127);
    }
    close(log_fd);
    return pid;
}

bool fault_server_alive(struct fault_server *s, int *status)
{
    if (s->pid <= 0)
        return false;
    int w = 0;
    if (waitpid(s->pid, &w, WNOHANG) == s->pid) {
        s->pid = 0;
        if (status != NULL)
            *status = fault_exit_code(w);
        return false;
    }
    return true;
}

int fault_server_start(struct fault_server *s, const char *const *env, const char *log_path,
                       int *status)
{
    memset(s, 0, sizeof *s);
    s->port = free_port();
    if (s->port < 0)
        return -1;
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", s->port);
    s->pid = spawn(s, env, log_path);
    if (s->pid < 0)
        return -1;
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", s->base_url);
    long long deadline = now_ms() + START_MS;
    while (now_ms() < deadline) {
        if (!fault_server_alive(s, status))
            return 0;
        struct http_result r;
        int rc = http_request("GET", url, NULL, NULL, &r);
        long code = r.status;
        http_result_free(&r);
        if (rc == 0 && code == 200)
            return 1;
        nap_ms(20);
    }
    fault_server_stop(s, true);
    return -1;
}

int fault_server_stop(struct fault_server *s, bool kill9)
{
    if (s->pid <= 0)
        return 0;
    int w = 0;
    kill(s->pid, kill9 ? SIGKILL : SIGTERM);
    while (waitpid(s->pid, &w, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    return fault_exit_code(w);
}

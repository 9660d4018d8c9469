/*
 * proc.c — runs the real `lumi` binary ($LUMI_BIN) for black-box tests (see proc.h).
 *
 * Each child gets a fresh mkdtemp directory as working directory and HOME,
 * and a clean environment: PATH, the sanitizer options and LUMI_PDF_MODULE
 * (CTest's: this build's PDF module) when set, then what the test passes
 * (which wins over the defaults). Everything the child needs
 * (argv, envp, descriptors) is prepared before fork(), so the child only
 * calls async-signal-safe functions — tests may have threads (fake upstreams).
 *
 * Threading: call these from the test's main thread. Servers started here are
 * remembered; any still running when the test program exits (a failed
 * assertion skips lumi_serve_stop) are killed by an atexit handler, and they
 * also die with the test process (PR_SET_PDEATHSIG). lumi_run's directory is
 * removed when the command ends; a server's directory (its log) stays
 * readable after lumi_serve_stop and is removed when the test program exits,
 * unless LUMI_TEST_KEEP_DIRS is set (for looking at logs after a failure).
 */
#include "support/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/str.h"
#include "support/httpc.h"

#define RUN_OUTPUT_MAX (64u << 20)
#define RUN_TIMEOUT_MS 120000
#define SERVE_START_MS 20000
#define SERVE_STOP_MS 20000
#define SERVE_ATTEMPTS 5
#define LOG_TAIL 4000
#define MAX_ENV 128
#define MAX_ARGS 64
#define MAX_SERVERS 32

static pid_t live_servers[MAX_SERVERS];
static bool atexit_done;

struct dir_entry {
    struct dir_entry *next;
    char path[256];
};
static struct dir_entry *server_dirs;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void remove_tree(const char *dir);

static void cleanup_at_exit(void)
{
    for (int i = 0; i < MAX_SERVERS; i++)
        if (live_servers[i] > 0) {
            kill(live_servers[i], SIGKILL);
            waitpid(live_servers[i], NULL, 0);
            live_servers[i] = 0;
        }
    bool keep = getenv("LUMI_TEST_KEEP_DIRS") != NULL;
    while (server_dirs != NULL) {
        struct dir_entry *d = server_dirs;
        server_dirs = d->next;
        if (!keep)
            remove_tree(d->path);
        free(d);
    }
}

static void ensure_atexit(void)
{
    if (!atexit_done) {
        atexit(cleanup_at_exit);
        atexit_done = true;
    }
}

static void remember_dir(const char *dir)
{
    struct dir_entry *d = calloc(1, sizeof *d);
    if (d == NULL)
        return;
    ensure_atexit();
    str_copy(d->path, dir, sizeof d->path);
    d->next = server_dirs;
    server_dirs = d;
}

static void remember_server(pid_t pid, bool add)
{
    ensure_atexit();
    for (int i = 0; i < MAX_SERVERS; i++)
        if (add ? live_servers[i] == 0 : live_servers[i] == pid) {
            live_servers[i] = add ? pid : 0;
            return;
        }
}

static const char *lumi_bin(void)
{
    const char *bin = getenv("LUMI_BIN");
    if (bin == NULL || bin[0] == '\0')
        fail_msg("LUMI_BIN is not set (run the tests through ctest)");
    return bin;
}

/* ---- environment and arguments ---- */

struct child_env {
    char *entries[MAX_ENV + 1];
    size_t n;
};

static bool env_has(const struct child_env *e, const char *entry)
{
    size_t len = strcspn(entry, "=");
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->entries[i], entry, len) == 0 && e->entries[i][len] == '=')
            return true;
    return false;
}

static void env_add(struct child_env *e, const char *entry)
{
    if (env_has(e, entry))
        return;
    if (e->n == MAX_ENV)
        fail_msg("too many environment entries for lumi");
    e->entries[e->n] = str_dup(entry);
    if (e->entries[e->n] == NULL)
        fail_msg("out of memory");
    e->n++;
    e->entries[e->n] = NULL;
}

static void env_add_pair(struct child_env *e, const char *name, const char *value)
{
    char line[4096];
    int n = snprintf(line, sizeof line, "%s=%s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        fail_msg("environment value for %s is too long", name);
    env_add(e, line);
}

/* The test's entries first: env_add keeps the first of each name. */
static void env_build(struct child_env *e, const char *const *env, const char *home)
{
    static const char *const passed[] = {"ASAN_OPTIONS",   "UBSAN_OPTIONS",   "LSAN_OPTIONS",
                                         "GLIBC_TUNABLES", "LUMI_PDF_MODULE", NULL};
    e->n = 0;
    e->entries[0] = NULL;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        env_add(e, env[i]);
    const char *path = getenv("PATH");
    env_add_pair(e, "PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
    env_add_pair(e, "HOME", home);
    for (size_t i = 0; passed[i] != NULL; i++) {
        const char *v = getenv(passed[i]);
        if (v != NULL)
            env_add_pair(e, passed[i], v);
    }
}

static void env_free(struct child_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->entries[i]);
    e->n = 0;
}

static void make_argv(const char *bin, const char *const *args, char **argv)
{
    size_t n = 0;
    argv[n++] = (char *)bin;
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        if (n == MAX_ARGS)
            fail_msg("too many arguments for lumi");
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
}

static void make_tempdir(char *dir, size_t dirsz, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, dirsz, "%s/%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", prefix);
    if (n < 0 || (size_t)n >= dirsz || mkdtemp(dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int exit_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* ---- lumi_run ---- */

struct run_pipes {
    int in[2];
    int out[2];
    int err[2];
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void open_pipes(struct run_pipes *p)
{
    if (pipe2(p->in, O_CLOEXEC) != 0 || pipe2(p->out, O_CLOEXEC) != 0 ||
        pipe2(p->err, O_CLOEXEC) != 0)
        fail_msg("pipe: %s", strerror(errno));
}

/* Child side: never returns. Only async-signal-safe calls. */
static void exec_child(const char *dir, int in, int out, int err, char **argv, char **envp)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (chdir(dir) != 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(126);
    signal(SIGPIPE, SIG_DFL);
    execve(argv[0], argv, envp);
    _exit(127);
}

/* Feeds stdin and drains stdout/stderr together, so neither side can block the other. */
static void pump(int in_fd, const char *input, int out_fd, int err_fd, struct lumi_run_result *res,
                 pid_t pid)
{
    size_t in_len = input ? strlen(input) : 0, in_off = 0;
    int64_t deadline = now_ms() + RUN_TIMEOUT_MS;
    char chunk[8192];
    if (in_len == 0)
        close_fd(&in_fd);
    while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0) {
        struct pollfd pf[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
        int left = (int)(deadline - now_ms());
        if (left <= 0) {
            kill(pid, SIGKILL);
            fail_msg("lumi did not finish within %d s", RUN_TIMEOUT_MS / 1000);
        }
        if (poll(pf, 3, left) < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        int *fds[2] = {&out_fd, &err_fd};
        struct buf *bufs[2] = {&res->out, &res->err};
        for (int i = 0; i < 2; i++) {
            if (*fds[i] < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(*fds[i], chunk, sizeof chunk);
            if (n > 0 && buf_append(bufs[i], chunk, (size_t)n) != 0)
                fail_msg("lumi wrote more than %u bytes", RUN_OUTPUT_MAX);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                close_fd(fds[i]);
        }
        if (in_fd >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(in_fd, input + in_off, in_len - in_off);
            if (n > 0)
                in_off += (size_t)n;
            if ((n < 0 && errno != EINTR && errno != EAGAIN) || in_off == in_len)
                close_fd(&in_fd);
        }
    }
}

int lumi_run(const char *const *argv, const char *const *env, const char *stdin_text,
             struct lumi_run_result *res)
{
    char dir[512];
    char *args[MAX_ARGS + 2];
    struct child_env e = {0};
    struct run_pipes p;
    int status = 0;

    memset(res, 0, sizeof *res);
    buf_init(&res->out, RUN_OUTPUT_MAX);
    buf_init(&res->err, RUN_OUTPUT_MAX);
    make_tempdir(dir, sizeof dir, "lumi-run");
    make_argv(lumi_bin(), argv, args);
    env_build(&e, env, dir);
    open_pipes(&p);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0)
        exec_child(dir, p.in[0], p.out[1], p.err[1], args, e.entries);
    close_fd(&p.in[0]);
    close_fd(&p.out[1]);
    close_fd(&p.err[1]);
    env_free(&e);
    /* A child that exits without reading stdin must not kill us with SIGPIPE. */
    fcntl(p.in[1], F_SETFL, O_NONBLOCK);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pump(p.in[1], stdin_text, p.out[0], p.err[0], res, pid);
    struct timespec zero = {0, 0};
    sigtimedwait(&block, NULL, &zero); /* discard a pending SIGPIPE */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    res->exit_code = exit_status(status);
    remove_tree(dir);
    return 0;
}

void lumi_run_result_free(struct lumi_run_result *res)
{
    if (res == NULL)
        return;
    buf_free(&res->out);
    buf_free(&res->err);
}

/* ---- lumi serve ---- */

char *lumi_server_log(const struct lumi_server *s)
{
    struct buf b;
    char chunk[8192];
    buf_init(&b, RUN_OUTPUT_MAX);
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        for (ssize_t n = read(fd, chunk, sizeof chunk); n > 0; n = read(fd, chunk, sizeof chunk))
            if (buf_append(&b, chunk, (size_t)n) != 0)
                break;
        close(fd);
    }
    return buf_steal(&b);
}

/* Prints the end of the server's log, for a failure message. */
static void print_log_tail(const struct lumi_server *s)
{
    char *log = lumi_server_log(s);
    size_t len = log ? strlen(log) : 0;
    const char *tail = len > LOG_TAIL ? log + len - LOG_TAIL : (log ? log : "");
    fprintf(stderr, "---- %s (last %d bytes) ----\n%s\n---- end of log ----\n", s->log_path,
            LOG_TAIL, tail);
    free(log);
}

/* A port that was free a moment ago (the child may still lose a race: we retry). */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        fail_msg("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

static pid_t spawn_server(struct lumi_server *s, const char *const *env)
{
    char listen_arg[64];
    const char *args[] = {"serve", "--listen", listen_arg, NULL};
    char *argv[MAX_ARGS + 2];
    struct child_env e = {0};

    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", s->port);
    make_argv(lumi_bin(), args, argv);
    env_build(&e, env, s->dir);
    int log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0)
        fail_msg("cannot open %s: %s", s->log_path, strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0)
        exec_child(s->dir, null_fd, log_fd, log_fd, argv, e.entries);
    close(log_fd);
    close(null_fd);
    env_free(&e);
    remember_server(pid, true);
    return pid;
}

static bool log_says_in_use(const struct lumi_server *s)
{
    char *log = lumi_server_log(s);
    bool in_use = log && (strstr(log, "address in use") || strstr(log, "Address already in use"));
    free(log);
    return in_use;
}

enum wait_outcome { SERVE_HEALTHY, SERVE_EXITED, SERVE_TIMEOUT };

/* Polls GET /healthz until 200, the child's exit, or the deadline. */
static enum wait_outcome wait_healthy(struct lumi_server *s, int *status)
{
    char url[128];
    int64_t deadline = now_ms() + SERVE_START_MS;
    snprintf(url, sizeof url, "%s/healthz", s->base_url);
    while (now_ms() < deadline) {
        if (waitpid(s->pid, status, WNOHANG) == s->pid) {
            remember_server(s->pid, false);
            return SERVE_EXITED;
        }
        struct http_result r;
        int rc = http_request("GET", url, NULL, NULL, &r);
        long code = r.status;
        http_result_free(&r);
        if (rc == 0 && code == 200)
            return SERVE_HEALTHY;
        sleep_ms(50);
    }
    return SERVE_TIMEOUT;
}

void lumi_serve_start(struct lumi_server *s, const char *const *env)
{
    int status = 0;
    memset(s, 0, sizeof *s);
    make_tempdir(s->dir, sizeof s->dir, "lumi-serve");
    remember_dir(s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    for (int attempt = 1; attempt <= SERVE_ATTEMPTS; attempt++) {
        s->port = free_port();
        snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", s->port);
        s->pid = spawn_server(s, env);
        switch (wait_healthy(s, &status)) {
        case SERVE_HEALTHY:
            return;
        case SERVE_EXITED:
            if (log_says_in_use(s) && attempt < SERVE_ATTEMPTS)
                continue;
            print_log_tail(s);
            s->pid = 0;
            fail_msg("lumi serve exited with status %d before answering /healthz",
                     exit_status(status));
            return;
        case SERVE_TIMEOUT:
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            remember_server(s->pid, false);
            s->pid = 0;
            print_log_tail(s);
            fail_msg("lumi serve did not answer GET /healthz with 200 within %d s",
                     SERVE_START_MS / 1000);
            return;
        }
    }
}

int lumi_serve_stop(struct lumi_server *s)
{
    int status = 0;
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int64_t deadline = now_ms() + SERVE_STOP_MS;
    pid_t done = waitpid(s->pid, &status, WNOHANG);
    while (done == 0 && now_ms() < deadline) {
        sleep_ms(20);
        done = waitpid(s->pid, &status, WNOHANG);
    }
    if (done != s->pid) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        remember_server(s->pid, false);
        s->pid = 0;
        print_log_tail(s);
        fail_msg("lumi serve did not stop within %d s of SIGTERM", SERVE_STOP_MS / 1000);
        return -1;
    }
    remember_server(s->pid, false);
    s->pid = 0;
    int code = exit_status(status);
    if (code != 0)
        print_log_tail(s); /* the caller fails the test on it: show why */
    return code;
}

void lumi_token_header(const char *const *env, const char *name, char *out, size_t outsz)
{
    struct lumi_run_result r;
    const char *argv[] = {"token", "create", name, NULL};
    if (lumi_run(argv, env, NULL, &r) != 0 || r.exit_code != 0)
        fail_msg("token create: %s", buf_cstr(&r.err));
    int n = snprintf(out, outsz, "Authorization: Bearer %.*s", (int)strcspn(buf_cstr(&r.out), "\n"),
                     buf_cstr(&r.out));
    lumi_run_result_free(&r);
    if (n < 0 || (size_t)n >= outsz)
        fail_msg("token header does not fit in %zu bytes", outsz);
}

int lumi_bin_find(void)
{
    const char *set = getenv("LUMI_BIN");
    char self[PATH_MAX], bin[PATH_MAX + 16];
    if (set != NULL && set[0] != '\0')
        return access(set, X_OK) == 0 ? 0 : -1;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    snprintf(bin, sizeof bin, "%s/../lumi", self);
    if (access(bin, X_OK) != 0)
        return -1;
    return setenv("LUMI_BIN", bin, 1);
}

double proc_cpu_seconds(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double lumi_serve_settle(const struct lumi_server *s, double max_s)
{
    struct timespec t0, now, second = {1, 0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int quiet = 0;
    double waited = 0, before = proc_cpu_seconds(s->pid);
    while (before >= 0 && quiet < 2 && waited < max_s) {
        nanosleep(&second, NULL);
        double cpu = proc_cpu_seconds(s->pid);
        quiet = cpu >= 0 && cpu - before < 0.02 ? quiet + 1 : 0; /* under 2 % of a core */
        before = cpu;
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
    }
    return waited;
}

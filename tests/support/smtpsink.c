/*
 * smtpsink.c — runs tests/smtp_sink.py for the mail tests (see smtpsink.h).
 *
 * The script is found through $LUMI_SOURCE_DIR (set by ctest) and run with
 * /usr/bin/python3 (Debian's, which has python3-aiosmtpd; never a pyenv one).
 * Its stdout is a pipe that carries one line, "PORT <n>"; its stderr is ours,
 * so a traceback shows up in the test's output. Everything the child needs is
 * prepared before fork(). The child dies with the test process
 * (PR_SET_PDEATHSIG), and sinks still running at exit (a failed assertion
 * skipped smtpsink_stop) are killed by an atexit handler.
 *
 * Messages are counted as the NNNNNN.json files in the directory: the sink
 * renames each one into place after its .eml, so a counted message is
 * complete.
 */
#include "support/smtpsink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/str.h"

#define PYTHON "/usr/bin/python3"
#define START_MS 10000
#define STOP_MS 10000
#define MAX_SINKS 16
#define SETUP_HINT "run scripts/setup.sh --test"

struct smtpsink {
    pid_t pid;
    int port;
    char dir[256];
};

static pid_t live[MAX_SINKS];
static bool atexit_done;

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

static void kill_all(void)
{
    for (int i = 0; i < MAX_SINKS; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
}

static void remember(pid_t pid, bool add)
{
    if (!atexit_done) {
        atexit(kill_all);
        atexit_done = true;
    }
    for (int i = 0; i < MAX_SINKS; i++)
        if (add ? live[i] == 0 : live[i] == pid) {
            live[i] = add ? pid : 0;
            return;
        }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void path_in(const struct smtpsink *s, const char *name, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/%s", s->dir, name);
    if (n < 0 || (size_t)n >= outsz)
        fail_msg("path too long in %s", s->dir);
}

/* Reads the "PORT <n>" line from fd until the deadline; 0 when the sink exited first. */
static int read_port(int fd, pid_t pid)
{
    char line[64];
    size_t len = 0;
    int64_t deadline = now_ms() + START_MS;
    while (len + 1 < sizeof line) {
        int left = (int)(deadline - now_ms());
        if (left <= 0) {
            kill(pid, SIGKILL);
            fail_msg("the SMTP sink did not start listening within %d s", START_MS / 1000);
        }
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0)
            continue;
        ssize_t n = read(fd, line + len, sizeof line - 1 - len);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        len += (size_t)n;
        line[len] = '\0';
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            int64_t port = 0;
            *nl = '\0';
            if (strncmp(line, "PORT ", 5) != 0 || str_to_i64z(line + 5, 1, 65535, &port) != 0)
                fail_msg("the SMTP sink printed '%s' instead of PORT <n>", line);
            return (int)port;
        }
    }
    fail_msg("the SMTP sink printed a line too long");
    return 0;
}

struct smtpsink *smtpsink_start(const struct smtpsink_opts *opts)
{
    static const struct smtpsink_opts none;
    char script[512];
    const char *argv[16];
    size_t n = 0;
    int out[2];

    if (opts == NULL)
        opts = &none;
    const char *src = getenv("LUMI_SOURCE_DIR");
    if (src == NULL || src[0] == '\0')
        fail_msg("LUMI_SOURCE_DIR is not set (run the tests through ctest)");
    snprintf(script, sizeof script, "%s/tests/smtp_sink.py", src);
    if (access(PYTHON, X_OK) != 0)
        fail_msg("the mail tests need " PYTHON " with python3-aiosmtpd: " SETUP_HINT);
    if (access(script, R_OK) != 0)
        fail_msg("%s is missing", script);

    struct smtpsink *s = calloc(1, sizeof *s);
    if (s == NULL)
        fail_msg("out of memory");
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/lumi-smtp-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));

    argv[n++] = PYTHON;
    argv[n++] = script;
    argv[n++] = "--dir";
    argv[n++] = s->dir;
    char port[16];
    snprintf(port, sizeof port, "%d", opts->port > 0 ? opts->port : 0);
    argv[n++] = "--port";
    argv[n++] = port;
    if (opts->light)
        argv[n++] = "--light";
    if (opts->auth != NULL) {
        argv[n++] = "--auth";
        argv[n++] = opts->auth;
    }
    if (opts->tls_cert != NULL) {
        argv[n++] = "--tls-cert";
        argv[n++] = opts->tls_cert;
        argv[n++] = "--tls-key";
        argv[n++] = opts->tls_key;
        if (opts->implicit_tls)
            argv[n++] = "--implicit-tls";
    }
    argv[n] = NULL;

    if (pipe2(out, O_CLOEXEC) != 0)
        fail_msg("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (dup2(out[1], 1) < 0)
            _exit(126);
        execv(PYTHON, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    remember(pid, true);
    s->pid = pid;
    s->port = read_port(out[0], pid);
    close(out[0]);
    if (s->port == 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        remember(pid, false);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
            fail_msg("the SMTP sink needs python3-aiosmtpd: " SETUP_HINT);
        fail_msg("the SMTP sink exited (status %d) before listening; see its output above",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    return s;
}

void smtpsink_stop(struct smtpsink *s)
{
    int status = 0;
    if (s == NULL)
        return;
    kill(s->pid, SIGTERM);
    int64_t deadline = now_ms() + STOP_MS;
    pid_t done = waitpid(s->pid, &status, WNOHANG);
    while (done == 0 && now_ms() < deadline) {
        sleep_ms(20);
        done = waitpid(s->pid, &status, WNOHANG);
    }
    if (done != s->pid) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    }
    bool stopped = done == s->pid;
    remember(s->pid, false);
    if (getenv("LUMI_TEST_KEEP_DIRS") == NULL)
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(s);
    if (!stopped)
        fail_msg("the SMTP sink did not stop within %d s of SIGTERM", STOP_MS / 1000);
}

int smtpsink_port(const struct smtpsink *s)
{
    return s->port;
}

const char *smtpsink_dir(const struct smtpsink *s)
{
    return s->dir;
}

static bool is_sidecar(const char *name)
{
    return strlen(name) == 11 && strspn(name, "0123456789") == 6 && strcmp(name + 6, ".json") == 0;
}

int smtpsink_count(const struct smtpsink *s)
{
    int n = 0;
    DIR *d = opendir(s->dir);
    if (d == NULL)
        fail_msg("opendir %s: %s", s->dir, strerror(errno));
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        if (is_sidecar(e->d_name))
            n++;
    closedir(d);
    return n;
}

bool smtpsink_wait(const struct smtpsink *s, int n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (smtpsink_count(s) < n) {
        if (now_ms() >= deadline)
            return false;
        sleep_ms(20);
    }
    return true;
}

json_t *smtpsink_message(const struct smtpsink *s, int i)
{
    char name[32], path[512];
    json_error_t jerr;
    snprintf(name, sizeof name, "%06d.json", i + 1);
    path_in(s, name, path, sizeof path);
    if (access(path, R_OK) != 0)
        return NULL;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

char *smtpsink_raw(const struct smtpsink *s, int i, size_t *len)
{
    char name[32], path[512];
    struct stat st;
    snprintf(name, sizeof name, "%06d.eml", i + 1);
    path_in(s, name, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0)
        fail_msg("fstat %s: %s", path, strerror(errno));
    char *data = malloc((size_t)st.st_size + 1);
    if (data == NULL)
        fail_msg("out of memory");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
        if (r <= 0)
            fail_msg("read %s: %s", path, strerror(errno));
        got += (size_t)r;
    }
    close(fd);
    data[got] = '\0';
    if (len != NULL)
        *len = got;
    return data;
}

/* Writes (or with text NULL removes) a control file, atomically. */
static void control(struct smtpsink *s, const char *name, const char *text)
{
    char path[512], tmp[520];
    path_in(s, name, path, sizeof path);
    if (text == NULL) {
        if (unlink(path) != 0 && errno != ENOENT)
            fail_msg("unlink %s: %s", path, strerror(errno));
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        fail_msg("cannot write %s: %s", path, strerror(errno));
}

void smtpsink_set_reply(struct smtpsink *s, const char *line)
{
    control(s, "reply", line);
}

void smtpsink_set_delay_ms(struct smtpsink *s, int ms)
{
    char text[32];
    snprintf(text, sizeof text, "%d", ms);
    control(s, "delay_ms", ms > 0 ? text : NULL);
}

int smtpsink_count_message_id(const struct smtpsink *s, const char *id)
{
    int n = 0, total = smtpsink_count(s);
    for (int i = 0; i < total; i++) {
        json_t *j = smtpsink_message(s, i);
        const char *v = json_string_value(json_object_get(j, "message_id"));
        if (v != NULL && strcmp(v, id) == 0)
            n++;
        json_decref(j);
    }
    return n;
}

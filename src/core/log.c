/*
 * log.c — one-line key=value event log with secret redaction (see log.h).
 *
 * Owns the output stream, the minimum level, the list of secrets to redact
 * and the per-thread context id. Threading: the level is atomic; the secret
 * list and the stream share one mutex, and each line is written with a
 * single fwrite under it, so lines from different threads never interleave.
 * The context id is thread-local.
 *
 * Redaction runs on the whole formatted line before anything is written, and
 * the line is cut to LINE_MAX only afterwards, so a cut can never expose the
 * beginning of a secret. CR and LF inside the text are escaped: one event is
 * always one line.
 */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utc.h"

#define LINE_MAX_BYTES 16384
#define RID_MAX 64
#define SECRET_MIN 4
#define QUOTE_MAX_INPUT 200

static const char redacted[] = "[REDACTED]";
static const char *const level_names[] = {"debug", "info", "warn", "error"};

static atomic_int min_level = LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *output;   /* NULL: stderr (not a constant expression) */
static char **secrets; /* longest first, so the longest match wins */
static size_t nsecrets;
static bool redaction_broken; /* a secret could not be registered: write nothing */
static _Thread_local char context[RID_MAX];

void log_set_level(enum log_level level)
{
    atomic_store(&min_level, (int)level);
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (s != NULL && strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_output(FILE *f)
{
    pthread_mutex_lock(&lock);
    output = f;
    pthread_mutex_unlock(&lock);
}

static bool secret_known(const char *value)
{
    for (size_t i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i], value) == 0)
            return true;
    return false;
}

void log_add_secret(const char *value)
{
    if (value == NULL || strlen(value) < SECRET_MIN)
        return;
    pthread_mutex_lock(&lock);
    if (secret_known(value))
        goto out;
    char *copy = strdup(value);
    char **grown = realloc(secrets, (nsecrets + 1) * sizeof *secrets);
    if (grown != NULL)
        secrets = grown;
    if (copy == NULL || grown == NULL) {
        /* Cannot remember it, so it could leak: better no log than a leak. */
        free(copy);
        redaction_broken = true;
        goto out;
    }
    size_t at = nsecrets;
    size_t len = strlen(copy);
    while (at > 0 && strlen(secrets[at - 1]) < len) {
        secrets[at] = secrets[at - 1];
        at--;
    }
    secrets[at] = copy;
    nsecrets++;
out:
    pthread_mutex_unlock(&lock);
}

void log_clear_secrets(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        memset(secrets[i], 0, strlen(secrets[i]));
        free(secrets[i]);
    }
    free(secrets);
    secrets = NULL;
    nsecrets = 0;
    redaction_broken = false;
    pthread_mutex_unlock(&lock);
}

/* Request and job ids are ours, but keep the line parseable whatever they are. */
void log_set_context(const char *rid)
{
    size_t i = 0;
    for (; rid != NULL && rid[i] != '\0' && i < RID_MAX - 1; i++) {
        char c = rid[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_' || c == '.' || c == ':';
        context[i] = ok ? c : '_';
    }
    context[i] = '\0';
}

/* Length of the registered secret starting at p (longest first), or 0. */
static size_t secret_at(const char *p, size_t left)
{
    for (size_t i = 0; i < nsecrets; i++) {
        size_t n = strlen(secrets[i]);
        if (n <= left && memcmp(p, secrets[i], n) == 0)
            return n;
    }
    return 0;
}

/* Copies text into out with secrets replaced and CR/LF escaped. Caller holds lock. */
static int redact_into(struct buf *out, const char *text, size_t len)
{
    size_t i = 0, run = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        size_t n = secret_at(text + i, len - i);
        const char *repl = n ? redacted : text[i] == '\n' ? "\\n" : text[i] == '\r' ? "\\r" : NULL;
        if (repl == NULL) {
            i++;
            run++;
            continue;
        }
        rc = buf_append(out, text + i - run, run);
        if (rc == 0)
            rc = buf_append_str(out, repl);
        run = 0;
        i += n ? n : 1;
    }
    if (rc == 0)
        rc = buf_append(out, text + i - run, run);
    return rc;
}

static void write_line(const char *line, size_t len)
{
    FILE *f = output ? output : stderr;
    fwrite(line, 1, len, f);
    fflush(f);
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    if ((int)level < atomic_load(&min_level))
        return;
    if ((int)level < LOG_DEBUG || (int)level > LOG_ERROR)
        level = LOG_ERROR;

    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct buf raw, out;
    buf_init(&raw, SIZE_MAX / 2);
    buf_init(&out, SIZE_MAX / 2);
    int rc = buf_printf(&raw, "%s level=%s event=%s", now, level_names[level], event ? event : "-");
    if (rc == 0 && context[0] != '\0')
        rc = buf_printf(&raw, " rid=%s", context);
    if (rc == 0 && fmt != NULL && fmt[0] != '\0') {
        va_list ap;
        va_start(ap, fmt);
        rc = buf_append_char(&raw, ' ');
        if (rc == 0)
            rc = buf_vprintf(&raw, fmt, ap);
        va_end(ap);
        /* No trailing space when the text came out empty ("%s" of ""). */
        if (rc == 0 && raw.data[raw.len - 1] == ' ')
            raw.data[--raw.len] = '\0';
    }

    pthread_mutex_lock(&lock);
    if (rc == 0 && redaction_broken)
        rc = LUMI_ENOMEM;
    if (rc == 0)
        rc = redact_into(&out, raw.data, raw.len);
    if (rc != 0) {
        static const char oom[] = "level=error event=log.failed reason=out_of_memory\n";
        write_line(oom, sizeof oom - 1);
        goto out;
    }
    /* Cut after redaction; "..." marks the cut. The buffer already holds more
     * than LINE_MAX_BYTES, so shrinking and re-appending cannot fail. */
    if (out.len > LINE_MAX_BYTES) {
        out.len = LINE_MAX_BYTES - 3;
        buf_append_str(&out, "...");
    }
    buf_append_char(&out, '\n');
    write_line(out.data, out.len);
out:
    pthread_mutex_unlock(&lock);
    buf_free(&raw);
    buf_free(&out);
}

const char *log_quote(const char *s, char *out, size_t outsz)
{
    if (outsz == 0)
        return out;
    size_t o = 0, i = 0;
    /* Reserve room for the closing quote, "..." and the NUL. */
    size_t room = outsz > 5 ? outsz - 5 : 0;
    if (room > 0)
        out[o++] = '"';
    for (; s != NULL && s[i] != '\0' && i < QUOTE_MAX_INPUT; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            n = 4;
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (o + n > room)
            break;
        memcpy(out + o, esc, n);
        o += n;
    }
    bool cut = s != NULL && s[i] != '\0';
    if (cut && o + 3 < outsz - 1) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (room > 0)
        out[o++] = '"';
    out[o] = '\0';
    return out;
}

/*
 * smtp.c — the SMTP transport over libcurl (see smtp.h).
 *
 * Owns: one libcurl easy handle per struct smtp_conn, set up once in
 * smtp_open (URL, TLS mode, credentials, timeouts) so that consecutive
 * smtp_send calls reuse the open connection; the capture of the server's
 * replies; the decision transient/permanent and the admin-facing message.
 *
 * Threading: a struct smtp_conn is used by one thread at a time; nothing is
 * shared between connections. curl_global_init must have run.
 *
 * Why a debug callback: libcurl reports an SMTP refusal only as a curl error
 * (CURLE_SEND_ERROR for MAIL/RCPT, CURLE_WEIRD_SERVER_REPLY after the data,
 * CURLE_LOGIN_DENIED for AUTH) plus the numeric code; the server's text
 * ("4.3.0 Try again later") reaches the application only through
 * CURLOPT_DEBUGFUNCTION, which libcurl calls only with CURLOPT_VERBOSE on.
 * With a debug callback installed, verbose output goes nowhere else. The
 * callback reads CURLINFO_HEADER_IN (each reply line) and the first word of
 * CURLINFO_HEADER_OUT (which command a reply answers); it keeps no other
 * outgoing text except, during AUTH, the last credential line sent, only to
 * scrub it from a reply that would echo it, and wipes it after each send.
 * Replies after QUIT are ignored so "221 Bye" never hides the real answer
 * (libcurl closes the connection, saying QUIT, after any failed transfer).
 *
 * We rely on the captured reply code, not on the curl error, to tell a
 * server's "try again" (4xx) from its "no" (5xx).
 */
#include "mail/smtp.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/http_client.h"
#include "core/str.h"
#include "mail/mime.h"

#define DEFAULT_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MAX_MS 10000
#define HOST_MAX 256
#define WHERE_MAX (HOST_MAX + 16)
#define USER_MAX 256
#define URL_MAX 1024
#define REPLY_MAX 512
#define MAYBE_DELIVERED " (the message may have been delivered)"

/* Which command the server's next reply answers. */
enum stage {
    ST_CONNECT, /* greeting, EHLO, STARTTLS */
    ST_AUTH,
    ST_MAIL,
    ST_RCPT,
    ST_DATA,
    ST_QUIT,
};

struct smtp_conn {
    CURL *curl;
    char where[WHERE_MAX]; /* "host:port" for messages */
    char user[USER_MAX];   /* for messages; "" when no login */
    char *password;        /* copy, only to scrub messages; wiped on close */
    long timeout_ms;
    char errbuf[CURL_ERROR_SIZE];

    /* state of the current smtp_send */
    enum stage stage;
    bool body_done;        /* the read callback handed over the last byte */
    int code;              /* last reply code seen (before QUIT) */
    enum stage code_stage; /* which command it answered */
    char reply[REPLY_MAX];
    char auth_line[REPLY_MAX]; /* last credential text sent during AUTH */
    const char *msg;
    size_t len, off;
};

/* ---- capturing the conversation ---- */

/* Replaces every occurrence of secret (at least 3 bytes) in s with "***". */
static void scrub(char *s, size_t size, const char *secret)
{
    size_t slen = secret != NULL ? strlen(secret) : 0;
    if (slen < 3)
        return;
    char *hit;
    while ((hit = strstr(s, secret)) != NULL) {
        memmove(hit + 3, hit + slen, strlen(hit + slen) + 1);
        memcpy(hit, "***", 3);
        s[size - 1] = '\0';
    }
}

static bool word_is(const char *p, size_t n, const char *word)
{
    size_t wl = strlen(word);
    return n >= wl && strncasecmp(p, word, wl) == 0 && (n == wl || p[wl] == ' ' || p[wl] == '\r');
}

/* A command we sent: moves the stage on; keeps credential text only during AUTH. */
static void on_command(struct smtp_conn *c, const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (word_is(p, n, "EHLO") || word_is(p, n, "HELO") || word_is(p, n, "STARTTLS")) {
        c->stage = ST_CONNECT;
    } else if (word_is(p, n, "MAIL")) {
        c->stage = ST_MAIL;
    } else if (word_is(p, n, "RCPT")) {
        c->stage = ST_RCPT;
    } else if (word_is(p, n, "DATA")) {
        c->stage = ST_DATA;
    } else if (word_is(p, n, "QUIT")) {
        c->stage = ST_QUIT;
    } else if (word_is(p, n, "AUTH")) {
        c->stage = ST_AUTH;
        /* "AUTH MECH [initial-response]": keep the initial response */
        const char *sp = n > 5 ? memchr(p + 5, ' ', n - 5) : NULL;
        c->auth_line[0] = '\0';
        if (sp != NULL)
            snprintf(c->auth_line, sizeof c->auth_line, "%.*s", (int)(p + n - sp - 1), sp + 1);
    } else if (c->stage == ST_AUTH) {
        snprintf(c->auth_line, sizeof c->auth_line, "%.*s", (int)n, p);
    }
}

/* One reply line "NNN-text" or "NNN text"; the last one seen wins. */
static void on_reply_line(struct smtp_conn *c, const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    if (c->stage == ST_QUIT || n < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
        p[2] < '0' || p[2] > '9' || (n > 3 && p[3] != ' ' && p[3] != '-'))
        return;
    c->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    c->code_stage = c->stage;
    size_t skip = n > 3 ? 4 : 3;
    size_t k = 0;
    for (size_t i = skip; i < n && k + 1 < sizeof c->reply; i++) {
        unsigned char ch = (unsigned char)p[i];
        c->reply[k++] = (ch < 0x20 || ch == 0x7F) ? ' ' : (char)ch;
    }
    c->reply[k] = '\0';
    scrub(c->reply, sizeof c->reply, c->auth_line);
    scrub(c->reply, sizeof c->reply, c->password);
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    struct smtp_conn *c = arg;
    if (type == CURLINFO_HEADER_OUT) {
        on_command(c, data, size);
    } else if (type == CURLINFO_HEADER_IN) {
        /* normally one line per call; split anyway */
        while (size > 0) {
            const char *nl = memchr(data, '\n', size);
            size_t n = nl != NULL ? (size_t)(nl - data) + 1 : size;
            on_reply_line(c, data, n);
            data += n;
            size -= n;
        }
    }
    return 0;
}

static size_t on_read(char *buffer, size_t size, size_t nitems, void *arg)
{
    struct smtp_conn *c = arg;
    size_t room = size * nitems, left = c->len - c->off;
    size_t n = left < room ? left : room;
    memcpy(buffer, c->msg + c->off, n);
    c->off += n;
    /* curl knows the size (CURLOPT_INFILESIZE_LARGE), so it may never ask past the end */
    if (c->off == c->len)
        c->body_done = true;
    return n;
}

/* ---- smtp_open / smtp_close ---- */

static bool host_ok(const char *h, bool allow_colon)
{
    size_t n = h != NULL ? strlen(h) : 0;
    if (n == 0 || n >= HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = h[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
                  (allow_colon && ch == ':');
        if (!ok)
            return false;
    }
    return true;
}

static CURLcode setup(struct smtp_conn *c, const struct smtp_config *cfg, const char *url)
{
    CURLcode rc = CURLE_OK;
    long cto = c->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? c->timeout_ms : CONNECT_TIMEOUT_MAX_MS;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if ((rc = curl_easy_setopt(c->curl, opt, val)) != CURLE_OK)                                \
            return rc;                                                                             \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
    SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
    SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_USE_SSL, (long)(cfg->tls == SMTP_TLS_STARTTLS ? CURLUSESSL_ALL : CURLUSESSL_NONE));
    if (cfg->ca_file != NULL && cfg->ca_file[0] != '\0')
        SET(CURLOPT_CAINFO, cfg->ca_file);
    if (c->user[0] != '\0') {
        SET(CURLOPT_USERNAME, c->user);
        SET(CURLOPT_PASSWORD, cfg->password != NULL ? cfg->password : "");
    }
    SET(CURLOPT_UPLOAD, 1L);
    SET(CURLOPT_READFUNCTION, on_read);
    SET(CURLOPT_READDATA, c);
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    /* verbose only feeds on_debug; nothing is printed (see the top of this file) */
    SET(CURLOPT_DEBUGFUNCTION, on_debug);
    SET(CURLOPT_DEBUGDATA, c);
    SET(CURLOPT_VERBOSE, 1L);
#undef SET
    return rc;
}

struct smtp_conn *smtp_open(const struct smtp_config *cfg, struct lumi_err *err)
{
    struct smtp_conn *c = NULL, *ret = NULL;
    char url[URL_MAX];
    char *helo = NULL;
    int n;

    if (cfg == NULL || !host_ok(cfg->host, true)) {
        err_set(err, LUMI_EINVAL, "the SMTP host must be a host name or an IP address");
        goto out;
    }
    if (cfg->port < 1 || cfg->port > 65535) {
        err_set(err, LUMI_EINVAL, "the SMTP port must be 1..65535, got %d", cfg->port);
        goto out;
    }
    if (cfg->helo_host != NULL && !host_ok(cfg->helo_host, false)) {
        err_set(err, LUMI_EINVAL, "the EHLO host name must be a host name");
        goto out;
    }
    if (cfg->user != NULL && (strlen(cfg->user) >= USER_MAX || strpbrk(cfg->user, "\r\n"))) {
        err_set(err, LUMI_EINVAL, "the SMTP user name is too long or has a line break");
        goto out;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    bool v6 = strchr(cfg->host, ':') != NULL;
    snprintf(c->where, sizeof c->where, "%s%s%s:%d", v6 ? "[" : "", cfg->host, v6 ? "]" : "",
             cfg->port);
    if (cfg->user != NULL)
        str_copy(c->user, cfg->user, sizeof c->user);
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    if (cfg->password != NULL) {
        c->password = str_dup(cfg->password);
        if (c->password == NULL) {
            err_set(err, LUMI_ENOMEM, "out of memory");
            goto out;
        }
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        err_set(err, LUMI_ENOMEM, "could not create a libcurl handle");
        goto out;
    }
    /* curl takes the URL path as the EHLO name */
    if (cfg->helo_host != NULL) {
        helo = curl_easy_escape(c->curl, cfg->helo_host, 0);
        if (helo == NULL) {
            err_set(err, LUMI_ENOMEM, "out of memory");
            goto out;
        }
    }
    n = snprintf(url, sizeof url, "%s://%s/%s", cfg->tls == SMTP_TLS_TLS ? "smtps" : "smtp",
                 c->where, helo != NULL ? helo : "");
    if (n < 0 || (size_t)n >= sizeof url) {
        err_set(err, LUMI_EINVAL, "the SMTP host name is too long");
        goto out;
    }
    CURLcode rc = setup(c, cfg, url);
    if (rc != CURLE_OK) {
        err_set(err, LUMI_EINVAL, "could not set up SMTP to %s: %s", c->where,
                curl_easy_strerror(rc));
        goto out;
    }
    ret = c;
    c = NULL;
out:
    curl_free(helo);
    smtp_close(c);
    return ret;
}

void smtp_close(struct smtp_conn *c)
{
    if (c == NULL)
        return;
    /* no reply is kept from here on; curl says QUIT on an open connection */
    c->stage = ST_QUIT;
    curl_easy_cleanup(c->curl);
    if (c->password != NULL) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    explicit_bzero(c->auth_line, sizeof c->auth_line);
    free(c);
}

/* ---- smtp_send ---- */

static const char *stage_name(enum stage s, bool body_done)
{
    switch (s) {
    case ST_CONNECT:
        return "before the message was sent (greeting, EHLO or STARTTLS)";
    case ST_AUTH:
        return "at AUTH";
    case ST_MAIL:
        return "at MAIL FROM";
    case ST_RCPT:
        return "at RCPT TO";
    case ST_DATA:
        return body_done ? "at the end of the message data" : "at DATA";
    case ST_QUIT:
        break;
    }
    return "at QUIT";
}

static bool is_auth_code(int code)
{
    return code == 530 || code == 534 || code == 535 || code == 538;
}

/* Fills res and err for a failed transfer; returns the LUMI_E* code. */
static int failure(struct smtp_conn *c, CURLcode rc, struct smtp_result *res, struct lumi_err *err)
{
    const char *curl_msg = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);
    bool replied = c->code >= 400;
    const char *at = stage_name(c->code_stage, c->body_done);
    long os_errno = 0;
    int code;

    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    res->transient = true;
    if (rc == CURLE_COULDNT_RESOLVE_HOST) {
        code = err_set(err, LUMI_EIO, "SMTP server %s not found (DNS)", c->where);
    } else if (rc == CURLE_COULDNT_CONNECT) {
        code = err_set(err, LUMI_EIO, "could not connect to SMTP server %s: %s", c->where,
                       os_errno == ECONNREFUSED ? "connection refused" : curl_msg);
    } else if (rc == CURLE_USE_SSL_FAILED && replied) {
        code = err_set(err, LUMI_EIO, "SMTP server %s refused STARTTLS: %d %s", c->where, c->code,
                       c->reply);
    } else if (rc == CURLE_USE_SSL_FAILED) {
        code = err_set(err, LUMI_EIO,
                       "SMTP server %s does not offer STARTTLS (with SMTP_TLS=starttls it must; "
                       "port 465 wants SMTP_TLS=tls)",
                       c->where);
    } else if (hc_is_tls_error(rc)) {
        code = err_set(err, LUMI_EIO, "TLS with SMTP server %s failed: %s", c->where, curl_msg);
    } else if (rc == CURLE_LOGIN_DENIED || (replied && is_auth_code(c->code))) {
        if (c->user[0] != '\0')
            code = err_set(err, LUMI_EAUTH, "SMTP server %s refused the login as '%s' %s: %d %s",
                           c->where, c->user, at, c->code, c->reply);
        else
            code = err_set(err, LUMI_EAUTH,
                           "SMTP server %s requires a login (set SMTP_USER and SMTP_PASSWORD) "
                           "%s: %d %s",
                           c->where, at, c->code, c->reply);
    } else if (replied && c->code_stage >= ST_MAIL && c->code_stage <= ST_DATA) {
        if (c->code < 500) {
            code = err_set(err, LUMI_EBUSY, "SMTP server %s deferred the message %s: %d %s",
                           c->where, at, c->code, c->reply);
        } else {
            res->transient = false;
            code = err_set(err, LUMI_EUPSTREAM, "SMTP server %s refused the message %s: %d %s",
                           c->where, at, c->code, c->reply);
        }
    } else if (replied) {
        code = err_set(err, LUMI_EUPSTREAM, "SMTP server %s answered %s: %d %s", c->where, at,
                       c->code, c->reply);
    } else if (rc == CURLE_OPERATION_TIMEDOUT && c->code == 0) {
        code = err_set(err, LUMI_EIO, "could not reach SMTP server %s within %ld ms", c->where,
                       c->timeout_ms);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        code = err_set(err, LUMI_EIO, "SMTP server %s did not answer within %ld ms %s%s", c->where,
                       c->timeout_ms, stage_name(c->stage, c->body_done),
                       c->body_done ? MAYBE_DELIVERED : "");
    } else {
        code = err_set(err, LUMI_EIO, "the connection to SMTP server %s failed %s: %s%s", c->where,
                       stage_name(c->stage, c->body_done), curl_msg,
                       c->body_done ? MAYBE_DELIVERED : "");
    }
    if (err != NULL) {
        scrub(err->msg, sizeof err->msg, c->auth_line);
        scrub(err->msg, sizeof err->msg, c->password);
    }
    return code;
}

int smtp_send(struct smtp_conn *c, const char *mail_from, const char *rcpt, const char *msg,
              size_t len, struct smtp_result *res, struct lumi_err *err)
{
    char from_arg[MAIL_ADDR_MAX + 2], rcpt_arg[MAIL_ADDR_MAX + 2], bare[MAIL_ADDR_MAX];
    struct curl_slist *rcpts = NULL;
    struct lumi_err e = {0};
    int ret = LUMI_EINVAL;

    memset(res, 0, sizeof *res);
    res->transient = false;
    if (c == NULL || msg == NULL) {
        ret = err_set(err, LUMI_EINVAL, "smtp_send: no connection or no message");
        goto out;
    }
    /* Bare addresses only: anything else could smuggle a command into the envelope. */
    if (mail_addr_extract(mail_from, bare, sizeof bare, &e) != 0 || !str_eq(bare, mail_from)) {
        ret = err_set(err, LUMI_EINVAL, "envelope sender: %s",
                      e.msg[0] ? e.msg : "not a bare address");
        goto out;
    }
    if (mail_addr_extract(rcpt, bare, sizeof bare, &e) != 0 || !str_eq(bare, rcpt)) {
        ret = err_set(err, LUMI_EINVAL, "envelope recipient: %s",
                      e.msg[0] ? e.msg : "not a bare address");
        goto out;
    }
    snprintf(from_arg, sizeof from_arg, "<%s>", mail_from);
    snprintf(rcpt_arg, sizeof rcpt_arg, "<%s>", rcpt);
    rcpts = curl_slist_append(NULL, rcpt_arg);
    if (rcpts == NULL) {
        ret = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }

    c->stage = ST_CONNECT;
    c->code_stage = ST_CONNECT;
    c->body_done = false;
    c->code = 0;
    c->reply[0] = '\0';
    c->errbuf[0] = '\0';
    c->msg = msg;
    c->len = len;
    c->off = 0;
    if (curl_easy_setopt(c->curl, CURLOPT_MAIL_FROM, from_arg) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_MAIL_RCPT, rcpts) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len) != CURLE_OK) {
        ret = err_set(err, LUMI_ENOMEM, "could not set up the SMTP envelope (out of memory)");
        goto out;
    }
    CURLcode rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_MAIL_RCPT, NULL);
    if (c->code == 0) {
        long code = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
        c->code = (int)code;
    }
    res->code = c->code;
    str_copy(res->reply, c->reply, sizeof res->reply);
    if (rc == CURLE_OK) {
        ret = 0;
        goto out;
    }
    ret = failure(c, rc, res, err);
out:
    if (c != NULL) {
        explicit_bzero(c->auth_line, sizeof c->auth_line);
        c->msg = NULL;
    }
    curl_slist_free_all(rcpts);
    return ret;
}

/* ---- configuration ---- */

int smtp_config_from_env(struct smtp_config *out)
{
    memset(out, 0, sizeof *out);
    if (!config_has("SMTP_HOST"))
        return LUMI_ENOTFOUND;
    const char *tls = config_str("SMTP_TLS");
    out->host = config_str("SMTP_HOST");
    out->port = (int)config_int("SMTP_PORT");
    out->user = config_has("SMTP_USER") ? config_str("SMTP_USER") : NULL;
    out->password = config_str("SMTP_PASSWORD");
    out->tls = str_eq(tls, "tls")    ? SMTP_TLS_TLS
               : str_eq(tls, "none") ? SMTP_TLS_NONE
                                     : SMTP_TLS_STARTTLS;
    out->ca_file = config_has("LUMI_CA_FILE") ? config_str("LUMI_CA_FILE") : NULL;
    out->timeout_ms = DEFAULT_TIMEOUT_MS;
    out->helo_host = NULL;
    return 0;
}

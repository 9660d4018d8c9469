/*
 * fake_http.c — the HTTP server under every fake upstream (see fake_http.h).
 *
 * Owns one libmicrohttpd daemon per fake, the log of recorded requests and
 * the armed fault. Threading: the daemon runs a thread per connection, so
 * concurrent clients are served concurrently (as by a real panel), but the
 * handlers never run at the same time. Mutexes, never held together:
 * `rec_mu` guards the recorded requests, the fault and the latency (short
 * critical sections, so fake_request_count() works while a test holds the
 * state lock); `state_mu` is the fake's state lock, held around every
 * handler call and by fake_lock()/fake_unlock() on the test thread;
 * `live_mu` guards the list of request contexts. A SLOW fault and the
 * latency sleep without any lock held.
 *
 * The raw request target comes from MHD's URI log callback (MHD decodes the
 * path it passes to the access handler); we split path and query ourselves
 * so that fake_request.path is undecoded and fake_query() can decode names
 * like "filter[email]". Per-request contexts are also linked into a list so
 * that fake_stop() frees any that MHD never completed.
 *
 * Dropping a connection: returning MHD_NO from the access handler makes MHD
 * close the socket without writing an answer; the client sees an empty reply.
 */
#include "fakes/fake_http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/str.h"

#define FAKE_BODY_MAX (32u << 20)
#define FAKE_RESPONSE_MAX (32u << 20)
#define FAKE_CONN_TIMEOUT_S 30
#define FAKE_AUTH_MAX 1024

struct fake_header_line {
    char *name;
    char *value;
};

/* Behind fake_response.priv: the headers the handler added. */
struct resp_priv {
    struct fake_header_line *h;
    size_t n, cap;
};

struct query_pair {
    char *key;
    char *value;
};

/* One request in flight, from the URI log callback to MHD's completion. */
struct req_ctx {
    struct fake_server *f;
    struct req_ctx *prev, *next;
    struct MHD_Connection *conn;
    char *path;  /* raw, without query */
    char *query; /* raw, "" when none */
    struct buf body;
    bool started;
    bool too_large;
    char *basic_user, *basic_password;
    struct query_pair *pairs; /* decoded query, for fake_query */
    size_t npairs;
};

struct fake_server {
    struct MHD_Daemon *mhd;
    fake_handler handler;
    void *state;
    int port;
    char url[64];

    pthread_mutex_t state_mu;
    pthread_mutex_t rec_mu;
    struct fake_recorded *recs; /* rec_mu */
    size_t nrecs, caprecs;
    enum fake_fault fault; /* rec_mu */
    int fault_count;
    int fault_param;
    char *fault_filter;

    pthread_mutex_t live_mu;
    struct req_ctx *live; /* live_mu */
    int latency_ms;       /* rec_mu; every request waits this long (outside any lock) */
    char *tls_cert, *tls_key; /* PEM copies, alive as long as the daemon (TLS fakes only) */
};

/* ---- decoding helpers ---- */

/* Finds name in an '&'-separated list of key=value (both encoded); value decoded, caller frees. */
static char *find_pair(const char *s, size_t len, const char *name)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && s[eq] != '=')
            eq++;
        char *key = str_url_decode(s + i, eq - i, true);
        if (key == NULL)
            return NULL;
        bool match = strcmp(key, name) == 0;
        free(key);
        if (match)
            return eq < end ? str_url_decode(s + eq + 1, end - eq - 1, true) : str_dup("");
        i = end + 1;
    }
    return NULL;
}

/* ---- per-request context ---- */

static void ctx_free(struct req_ctx *c)
{
    if (c == NULL)
        return;
    struct fake_server *f = c->f;
    pthread_mutex_lock(&f->live_mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (f->live == c)
        f->live = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&f->live_mu);
    free(c->path);
    free(c->query);
    buf_free(&c->body);
    free(c->basic_user);
    if (c->basic_password != NULL) {
        sodium_memzero(c->basic_password, strlen(c->basic_password));
        free(c->basic_password);
    }
    for (size_t i = 0; i < c->npairs; i++) {
        free(c->pairs[i].key);
        free(c->pairs[i].value);
    }
    free(c->pairs);
    free(c);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct fake_server *f = cls;
    struct req_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->f = f;
    c->conn = conn;
    buf_init(&c->body, FAKE_BODY_MAX);
    const char *q = strchr(uri, '?');
    c->path = q != NULL ? str_ndup(uri, (size_t)(q - uri)) : str_dup(uri);
    c->query = str_dup(q != NULL ? q + 1 : "");
    pthread_mutex_lock(&f->live_mu);
    c->next = f->live;
    if (f->live != NULL)
        f->live->prev = c;
    f->live = c;
    pthread_mutex_unlock(&f->live_mu);
    return c;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ctx_free(*con_cls);
    *con_cls = NULL;
}

/* Decodes "Authorization: Basic …" into c->basic_user/password. */
static void decode_basic(struct req_ctx *c, const char *auth)
{
    unsigned char raw[FAKE_AUTH_MAX];
    size_t n = 0;
    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
        return;
    const char *b64 = auth + 6;
    while (*b64 == ' ')
        b64++;
    if (sodium_base642bin(raw, sizeof(raw) - 1, b64, strlen(b64), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return;
    raw[n] = '\0';
    char *colon = memchr(raw, ':', n);
    if (colon == NULL)
        return;
    c->basic_user = str_ndup((const char *)raw, (size_t)(colon - (char *)raw));
    c->basic_password = str_dup(colon + 1);
    sodium_memzero(raw, sizeof(raw));
}

static void parse_query_pairs(struct req_ctx *c)
{
    const char *s = c->query;
    size_t len = strlen(s), i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && s[eq] != '=')
            eq++;
        struct query_pair *p = realloc(c->pairs, (c->npairs + 1) * sizeof(*p));
        if (p == NULL)
            return;
        c->pairs = p;
        p[c->npairs].key = str_url_decode(s + i, eq - i, true);
        p[c->npairs].value = eq < end ? str_url_decode(s + eq + 1, end - eq - 1, true) : str_dup("");
        c->npairs++;
        i = end + 1;
    }
}

/* ---- recording and faults ---- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? str_dup(s) : NULL;
}

static void record(struct fake_server *f, struct req_ctx *c, const char *method)
{
    if (f->nrecs == f->caprecs) {
        size_t cap = f->caprecs ? f->caprecs * 2 : 16;
        struct fake_recorded *p = realloc(f->recs, cap * sizeof(*p));
        if (p == NULL)
            return;
        f->recs = p;
        f->caprecs = cap;
    }
    struct fake_recorded *r = &f->recs[f->nrecs++];
    struct MHD_Connection *conn = c->conn;
    r->method = str_dup(method);
    r->path = str_dup(c->path);
    r->query = str_dup(c->query);
    r->body = str_dup(buf_cstr(&c->body));
    r->authorization =
        dup_or_null(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    r->content_type =
        dup_or_null(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
    r->accept = dup_or_null(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"));
    r->basic_user = dup_or_null(c->basic_user);
}

/* Records the request and returns the fault that applies to it (consuming one use). */
static enum fake_fault record_and_pick_fault(struct fake_server *f, struct req_ctx *c,
                                             const char *method, int *param)
{
    enum fake_fault fault = FAKE_FAULT_NONE;
    pthread_mutex_lock(&f->rec_mu);
    record(f, c, method);
    if (f->fault != FAKE_FAULT_NONE && f->fault_count > 0 &&
        (f->fault_filter == NULL || strstr(c->path, f->fault_filter) != NULL)) {
        fault = f->fault;
        *param = f->fault_param;
        if (--f->fault_count == 0)
            f->fault = FAKE_FAULT_NONE;
    }
    pthread_mutex_unlock(&f->rec_mu);
    return fault;
}

/* ---- responses ---- */

static void resp_init(struct fake_response *w, struct resp_priv *p)
{
    memset(p, 0, sizeof(*p));
    w->status = 200;
    w->content_type = "application/json";
    buf_init(&w->body, FAKE_RESPONSE_MAX);
    w->priv = p;
}

static void resp_free(struct fake_response *w)
{
    struct resp_priv *p = w->priv;
    for (size_t i = 0; i < p->n; i++) {
        free(p->h[i].name);
        free(p->h[i].value);
    }
    free(p->h);
    buf_free(&w->body);
}

void fake_add_header(struct fake_response *w, const char *name, const char *value)
{
    struct resp_priv *p = w->priv;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct fake_header_line *h = realloc(p->h, cap * sizeof(*h));
        if (h == NULL)
            return;
        p->h = h;
        p->cap = cap;
    }
    p->h[p->n].name = str_dup(name);
    p->h[p->n].value = str_dup(value);
    p->n++;
}

void fake_reply(struct fake_response *w, int status, const char *content_type, const char *body)
{
    w->status = status;
    if (content_type != NULL)
        w->content_type = content_type;
    buf_reset(&w->body);
    if (body != NULL)
        buf_append_str(&w->body, body);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct fake_response *w)
{
    struct resp_priv *p = w->priv;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        w->body.len, w->body.data ? w->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (w->content_type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, w->content_type);
    for (size_t i = 0; i < p->n; i++)
        if (p->h[i].name != NULL && p->h[i].value != NULL)
            MHD_add_response_header(r, p->h[i].name, p->h[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)w->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void run_handler(struct fake_server *f, const struct fake_request *rq,
                        struct fake_response *w)
{
    pthread_mutex_lock(&f->state_mu);
    f->handler(f->state, rq, w);
    pthread_mutex_unlock(&f->state_mu);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Handles a complete request: record, fault or handler, answer (or drop). */
static enum MHD_Result finish(struct fake_server *f, struct req_ctx *c, const char *method)
{
    struct fake_request rq = {
        .method = method,
        .path = c->path,
        .query = c->query,
        .body = buf_cstr(&c->body),
        .body_len = c->body.len,
        .priv = c,
    };
    struct fake_response w;
    struct resp_priv wp;
    enum MHD_Result ret = MHD_NO;
    int param = 0;
    char num[32];

    decode_basic(c, MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Authorization"));
    parse_query_pairs(c);
    rq.basic_user = c->basic_user;
    rq.basic_password = c->basic_password;
    resp_init(&w, &wp);

    enum fake_fault fault = record_and_pick_fault(f, c, method, &param);
    pthread_mutex_lock(&f->rec_mu);
    int latency = f->latency_ms;
    pthread_mutex_unlock(&f->rec_mu);
    if (latency > 0)
        sleep_ms(latency);
    switch (fault) {
    case FAKE_FAULT_NONE:
        if (c->too_large)
            fake_reply(&w, 413, "text/plain", "request body too large");
        else
            run_handler(f, &rq, &w);
        break;
    case FAKE_FAULT_500:
        fake_reply(&w, 500, "text/html",
                   "<html><head><title>500 Internal Server Error</title></head>"
                   "<body><h1>Internal Server Error</h1></body></html>");
        break;
    case FAKE_FAULT_429:
        snprintf(num, sizeof(num), "%d", param);
        fake_reply(&w, 429, "application/json",
                   "{\"error\":{\"code\":\"too_many_requests\",\"message\":\"slow down\"}}");
        fake_add_header(&w, "Retry-After", num);
        break;
    case FAKE_FAULT_SLOW:
        sleep_ms(param);
        run_handler(f, &rq, &w);
        break;
    case FAKE_FAULT_DROP_AFTER:
        run_handler(f, &rq, &w);
        goto out; /* MHD_NO: closed without an answer */
    case FAKE_FAULT_DROP_BEFORE:
        goto out;
    case FAKE_FAULT_MALFORMED:
        run_handler(f, &rq, &w);
        buf_reset(&w.body);
        buf_append_str(&w.body, "{\"data\": [unterminated");
        break;
    case FAKE_FAULT_HTML:
        fake_reply(&w, 200, "text/html",
                   "<!DOCTYPE html><html><head><title>Login</title></head><body>"
                   "<form method=\"post\" action=\"/login\"><input name=\"username\">"
                   "<input type=\"password\" name=\"password\"><button>Login</button>"
                   "</form></body></html>");
        break;
    }
    ret = send_reply(c->conn, &w);
out:
    resp_free(&w);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fake_server *f = cls;
    struct req_ctx *c = *con_cls;
    if (c == NULL)
        return MHD_NO; /* the URI callback failed to allocate */
    c->conn = conn;
    if (!c->started) {
        c->started = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (buf_append(&c->body, upload_data, *upload_data_size) != 0)
            c->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return finish(f, c, method);
}

/* ---- public API ---- */

/* Starts the daemon; TLS when cert_pem/key_pem are given (then fake_url is https://localhost). */
static struct fake_server *start_server(fake_handler handler, void *state, const char *cert_pem,
                                        const char *key_pem)
{
    bool tls = cert_pem != NULL;
    struct fake_server *f = calloc(1, sizeof(*f));
    if (f == NULL)
        fail_msg("fake_start: out of memory");
    f->handler = handler;
    f->state = state;
    pthread_mutex_init(&f->state_mu, NULL);
    pthread_mutex_init(&f->rec_mu, NULL);
    pthread_mutex_init(&f->live_mu, NULL);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (tls) {
        f->tls_cert = str_dup(cert_pem);
        f->tls_key = str_dup(key_pem);
        if (f->tls_cert == NULL || f->tls_key == NULL) {
            fake_stop(f);
            fail_msg("fake_start_tls: out of memory");
            return NULL;
        }
        flags |= MHD_USE_TLS;
    }
    /* A thread per connection, like a real panel's worker pool: slow answers
     * to one client do not hold up the others. */
    if (tls)
        f->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR,
                                  (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, f,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FAKE_CONN_TIMEOUT_S,
                                  MHD_OPTION_HTTPS_MEM_KEY, f->tls_key, MHD_OPTION_HTTPS_MEM_CERT,
                                  f->tls_cert, MHD_OPTION_END);
    else
        f->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR,
                                  (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, f,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FAKE_CONN_TIMEOUT_S,
                                  MHD_OPTION_END);
    if (f->mhd == NULL) {
        fake_stop(f);
        fail_msg("fake_start: could not start libmicrohttpd%s on 127.0.0.1",
                 tls ? " with TLS (bad certificate or key?)" : "");
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        fake_stop(f);
        fail_msg("fake_start: could not read the bound port");
        return NULL;
    }
    f->port = info->port;
    /* TLS: a name the test certificate can carry (SAN DNS:localhost). */
    snprintf(f->url, sizeof(f->url), "%s://%s:%d", tls ? "https" : "http",
             tls ? "localhost" : "127.0.0.1", f->port);
    return f;
}

struct fake_server *fake_start(fake_handler handler, void *state)
{
    return start_server(handler, state, NULL, NULL);
}

struct fake_server *fake_start_tls(fake_handler handler, void *state, const char *cert_pem,
                                   const char *key_pem)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        fail_msg("fake_start_tls: this libmicrohttpd was built without TLS support "
                 "(MHD_FEATURE_TLS); install one built with GnuTLS");
        return NULL;
    }
    if (cert_pem == NULL || key_pem == NULL) {
        fail_msg("fake_start_tls: a certificate and a key are required");
        return NULL;
    }
    return start_server(handler, state, cert_pem, key_pem);
}

void fake_stop(struct fake_server *f)
{
    if (f == NULL)
        return;
    if (f->mhd != NULL)
        MHD_stop_daemon(f->mhd);
    while (f->live != NULL)
        ctx_free(f->live);
    for (size_t i = 0; i < f->nrecs; i++)
        fake_recorded_free(&f->recs[i]);
    free(f->recs);
    free(f->fault_filter);
    free(f->tls_cert);
    if (f->tls_key != NULL) {
        sodium_memzero(f->tls_key, strlen(f->tls_key));
        free(f->tls_key);
    }
    pthread_mutex_destroy(&f->state_mu);
    pthread_mutex_destroy(&f->rec_mu);
    pthread_mutex_destroy(&f->live_mu);
    free(f);
}

const char *fake_url(const struct fake_server *f)
{
    return f->url;
}

int fake_port(const struct fake_server *f)
{
    return f->port;
}

const char *fake_header(const struct fake_request *r, const char *name)
{
    const struct req_ctx *c = r->priv;
    return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

const char *fake_query(const struct fake_request *r, const char *name)
{
    const struct req_ctx *c = r->priv;
    for (size_t i = 0; i < c->npairs; i++)
        if (c->pairs[i].key != NULL && strcmp(c->pairs[i].key, name) == 0)
            return c->pairs[i].value;
    return NULL;
}

char *fake_form(const struct fake_request *r, const char *name)
{
    if (r->body == NULL)
        return NULL;
    return find_pair(r->body, r->body_len, name);
}

void fake_fault(struct fake_server *f, enum fake_fault fault, int count, int param,
                const char *path_filter)
{
    pthread_mutex_lock(&f->rec_mu);
    free(f->fault_filter);
    f->fault_filter = path_filter != NULL ? str_dup(path_filter) : NULL;
    f->fault = count > 0 ? fault : FAKE_FAULT_NONE;
    f->fault_count = count;
    f->fault_param = param;
    pthread_mutex_unlock(&f->rec_mu);
}

size_t fake_request_count(struct fake_server *f)
{
    pthread_mutex_lock(&f->rec_mu);
    size_t n = f->nrecs;
    pthread_mutex_unlock(&f->rec_mu);
    return n;
}

static void recorded_copy(const struct fake_recorded *src, struct fake_recorded *out)
{
    out->method = dup_or_null(src->method);
    out->path = dup_or_null(src->path);
    out->query = dup_or_null(src->query);
    out->body = dup_or_null(src->body);
    out->authorization = dup_or_null(src->authorization);
    out->content_type = dup_or_null(src->content_type);
    out->accept = dup_or_null(src->accept);
    out->basic_user = dup_or_null(src->basic_user);
}

int fake_recorded(struct fake_server *f, size_t index, struct fake_recorded *out)
{
    int rc = -1;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&f->rec_mu);
    if (index < f->nrecs) {
        recorded_copy(&f->recs[index], out);
        rc = 0;
    }
    pthread_mutex_unlock(&f->rec_mu);
    return rc;
}

int fake_find_last(struct fake_server *f, const char *method, const char *path,
                   struct fake_recorded *out)
{
    int rc = -1;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&f->rec_mu);
    for (size_t i = f->nrecs; i-- > 0;) {
        if (str_eq(f->recs[i].method, method) && str_eq(f->recs[i].path, path)) {
            recorded_copy(&f->recs[i], out);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&f->rec_mu);
    return rc;
}

void fake_recorded_free(struct fake_recorded *r)
{
    if (r == NULL)
        return;
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r->authorization);
    free(r->content_type);
    free(r->accept);
    free(r->basic_user);
    memset(r, 0, sizeof(*r));
}

void fake_clear_requests(struct fake_server *f)
{
    pthread_mutex_lock(&f->rec_mu);
    for (size_t i = 0; i < f->nrecs; i++)
        fake_recorded_free(&f->recs[i]);
    f->nrecs = 0;
    pthread_mutex_unlock(&f->rec_mu);
}

void fake_lock(struct fake_server *f)
{
    pthread_mutex_lock(&f->state_mu);
}

void fake_unlock(struct fake_server *f)
{
    pthread_mutex_unlock(&f->state_mu);
}

void fake_set_latency(struct fake_server *f, int ms)
{
    pthread_mutex_lock(&f->rec_mu);
    f->latency_ms = ms;
    pthread_mutex_unlock(&f->rec_mu);
}

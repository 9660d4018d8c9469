/*
 * server.c — the HTTP server (see server.h): the libmicrohttpd daemon, the
 * access handler, hand-off to the worker pool, the access log, graceful stop.
 *
 * Threading: libmicrohttpd's epoll threads run on_request() and
 * on_completed(); they never touch the database. A complete request is
 * suspended and committed to the worker pool (pool.c). A worker runs the
 * route's handler with its own database connection, marks the exchange
 * READY and resumes the connection — after which it never touches the
 * exchange again; the I/O thread is called once more and queues the
 * response. The only shared mutable state is the in-flight counter (s->lock)
 * that web_server_stop() waits on, and two atomic flags.
 *
 * Caveats: suspended connections do not time out in libmicrohttpd, so a
 * worker answers 503 to a request that waited in the queue longer than
 * request_timeout_s; a handler that is already running cannot be cut short.
 * Every suspended connection must be resumed before MHD_stop_daemon(), which
 * wpool_stop() guarantees by running (or refusing) each queued item.
 *
 * Hostile traffic (issue 17, finding 2): libmicrohttpd's own timeout counts
 * idle time only, so a client sending one byte a second keeps a connection
 * forever. Each connection therefore has a slot (NOTIFY_CONNECTION) saying
 * since when its current request has been arriving; a sweep thread shuts
 * down the socket of any request not received in full within
 * recv_timeout_s (libmicrohttpd then sees the end of the stream and closes
 * it on its own thread). Slots are under conn_lock, and the CLOSED
 * notification (which comes before libmicrohttpd closes the descriptor)
 * removes the slot under it too, so the sweep never shuts down a reused fd.
 * Connections are also limited per client address and in total, and the
 * descriptor limit is raised to the hard limit so the total fits.
 */
#include "web/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/foreground.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/str.h"
#include "db/batch.h"
#include "web/auth.h"
#include "web/internal.h"
#include "web/observe.h"
#include "web/pool.h"
#include "web/proxy.h"
#include "web/router.h"

#define STOP_DEADLINE_S 30
#define LISTEN_BACKLOG 511
#define IDLE_TIMEOUT_S 60 /* libmicrohttpd closes connections idle this long */
#define QUOTE_MAX 1024
#define FD_RESERVE 256 /* descriptors kept for databases, files, upstreams */

struct web_server {
    struct MHD_Daemon *mhd;
    int listen_fd;
    int port;
    char *database_url;
    size_t max_body;
    int request_timeout_s;
    const struct web_route *routes;
    size_t nroutes; /* for the metrics' route index */
    struct wpool *pool;
    struct db_batch *batch; /* group commit; NULL when cfg->batch_max is 0 */

    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when inflight drops */
    int inflight;        /* requests begun and not yet completed */

    atomic_bool stopping; /* quiesced: answers carry Connection: close */
    atomic_bool abandon;  /* stop deadline passed: queued requests get 503 */

    /* Connection deadlines (issue 17, finding 2): see the top of the file. */
    int recv_timeout_s;        /* 0: no sweep */
    pthread_mutex_t conn_lock; /* guards conns and every slot */
    pthread_cond_t sweep_wake; /* signalled to stop the sweep */
    struct conn_slot *conns;
    pthread_t sweeper;
    bool sweeper_on, sweep_stop;
};

/* ---- listening socket ---- */

/* Splits "ADDR:PORT" / "[V6]:PORT" and resolves ADDR numerically or by name. */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *sslen,
                        struct lumi_err *err)
{
    char host[256];
    int64_t port = 0;
    struct addrinfo hints = {0}, *res = NULL;
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (colon == NULL || colon == text || str_to_i64z(colon + 1, 0, 65535, &port) != 0 ||
        (size_t)(colon - text) >= sizeof host)
        return err_set(err, LUMI_EINVAL, "listen address '%s' must be ADDR:PORT", text ? text : "");
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(h, NULL, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof *ss) {
        if (res != NULL)
            freeaddrinfo(res);
        return err_set(err, LUMI_EINVAL, "listen address '%s': %s", text,
                       rc ? gai_strerror(rc) : "no usable address");
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return 0;
}

/* Binds and listens ourselves, so "address in use" reaches the admin as such. */
static int open_listener(const char *text, struct lumi_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int one = 1;
    if (parse_listen(text, &ss, &sslen, err) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        err_set(err, LUMI_EIO, "%s: cannot create socket: %s", text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
        err_set(err, LUMI_EIO, "%s: %s", text,
                errno == EADDRINUSE ? "address in use" : strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        err_set(err, LUMI_EIO, "%s: cannot listen: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- in-flight accounting ---- */

static void inflight_add(struct web_server *s, int delta)
{
    pthread_mutex_lock(&s->lock);
    s->inflight += delta;
    if (s->inflight == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

/* Waits until no request is in flight or deadline_s pass; returns what is left. */
static int wait_idle(struct web_server *s, int deadline_s)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += deadline_s;
    pthread_mutex_lock(&s->lock);
    while (s->inflight > 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &until) == ETIMEDOUT)
            break;
    int left = s->inflight;
    pthread_mutex_unlock(&s->lock);
    return left;
}

/* ---- connection deadlines (issue 17, finding 2) ---- */

struct conn_slot {
    struct conn_slot *prev, *next;
    MHD_socket fd;
    int64_t since_ms; /* the current request began to arrive (or the connection opened) */
    bool busy;        /* the request is complete: being handled or answered */
    bool cut;         /* the sweep shut it down already */
    char ip[INET6_ADDRSTRLEN];
};

static void client_ip(struct MHD_Connection *conn, char *out, size_t outsz);

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct web_server *s = cls;
    struct conn_slot *slot = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        slot = calloc(1, sizeof *slot);
        if (slot == NULL || ci == NULL) {
            free(slot); /* untracked: the idle timeout still applies */
            return;
        }
        slot->fd = ci->connect_fd;
        slot->since_ms = web_now_ms();
        client_ip(conn, slot->ip, sizeof slot->ip);
        pthread_mutex_lock(&s->conn_lock);
        slot->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = slot;
        s->conns = slot;
        pthread_mutex_unlock(&s->conn_lock);
        *socket_context = slot;
        return;
    }
    if (slot == NULL)
        return;
    pthread_mutex_lock(&s->conn_lock);
    if (slot->prev != NULL)
        slot->prev->next = slot->next;
    else
        s->conns = slot->next;
    if (slot->next != NULL)
        slot->next->prev = slot->prev;
    pthread_mutex_unlock(&s->conn_lock);
    *socket_context = NULL;
    free(slot);
}

/* busy: the request is in (no deadline until answered); else a new one may begin now. */
static void conn_mark(struct web_server *s, struct MHD_Connection *conn, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *slot = ci != NULL ? ci->socket_context : NULL;
    if (slot == NULL)
        return;
    pthread_mutex_lock(&s->conn_lock);
    if (!busy && slot->busy != busy)
        slot->since_ms = web_now_ms();
    slot->busy = busy;
    pthread_mutex_unlock(&s->conn_lock);
}

/* The request line is in: the request's deadline counts from here (a
 * kept-alive connection's idle time before it is the idle timeout's business). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct web_server *s = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *slot = ci != NULL ? ci->socket_context : NULL;
    (void)uri;
    if (slot != NULL) {
        pthread_mutex_lock(&s->conn_lock);
        slot->busy = false;
        slot->since_ms = web_now_ms();
        pthread_mutex_unlock(&s->conn_lock);
    }
    return NULL; /* the access handler's first call still sees *con_cls == NULL */
}

/* Shuts down every connection whose request has been arriving too long. */
static void sweep_once(struct web_server *s)
{
    int64_t now = web_now_ms(), limit = (int64_t)s->recv_timeout_s * 1000;
    pthread_mutex_lock(&s->conn_lock);
    for (struct conn_slot *c = s->conns; c != NULL; c = c->next) {
        if (c->busy || c->cut || now - c->since_ms <= limit)
            continue;
        c->cut = true;
        shutdown(c->fd, SHUT_RDWR);
        log_warn("http.request_deadline", "ip=%s timeout_s=%d", c->ip, s->recv_timeout_s);
    }
    pthread_mutex_unlock(&s->conn_lock);
}

static void *sweep_main(void *arg)
{
    struct web_server *s = arg;
    struct timespec until;
    pthread_mutex_lock(&s->conn_lock);
    while (!s->sweep_stop) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 250 * 1000000L; /* a deadline is kept to within a quarter second */
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->sweep_wake, &s->conn_lock, &until);
        if (s->sweep_stop)
            break;
        pthread_mutex_unlock(&s->conn_lock);
        sweep_once(s);
        pthread_mutex_lock(&s->conn_lock);
    }
    pthread_mutex_unlock(&s->conn_lock);
    return NULL;
}

static void sweep_stop(struct web_server *s)
{
    if (!s->sweeper_on)
        return;
    pthread_mutex_lock(&s->conn_lock);
    s->sweep_stop = true;
    pthread_cond_signal(&s->sweep_wake);
    pthread_mutex_unlock(&s->conn_lock);
    pthread_join(s->sweeper, NULL);
    s->sweeper_on = false;
}

/* The soft descriptor limit raised to the hard one; the connections that fit in it. */
static unsigned int fit_connections(int wanted, int workers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return (unsigned int)wanted;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t reserve = FD_RESERVE + 2 * (rlim_t)(workers > 0 ? workers : 1);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)wanted + reserve)
        return (unsigned int)wanted;
    unsigned int fit = rl.rlim_cur > reserve + 16 ? (unsigned int)(rl.rlim_cur - reserve) : 16;
    log_warn("http.connection_limit", "wanted=%d fits=%u nofile=%llu", wanted, fit,
             (unsigned long long)rl.rlim_cur);
    return fit;
}

/* ---- exchanges ---- */

static void client_ip(struct MHD_Connection *conn, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    str_copy(out, "-", outsz);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outsz);
}

struct deferred {
    struct db_batch_item item; /* first: the batch hands it back */
    struct web_exchange *x;
    web_tx_fn fn;
    void *arg;
    void (*free_arg)(void *);
};

static void exchange_free(struct web_exchange *x)
{
    if (x == NULL)
        return;
    /* A deferred step's argument (a parsed webhook, say) is freed here, on
     * libmicrohttpd's thread, not by the group-commit thread that ran it:
     * that thread is the one every durable write waits for. */
    if (x->deferred != NULL && x->deferred->free_arg != NULL)
        x->deferred->free_arg(x->deferred->arg);
    if (x->file_fd >= 0)
        close(x->file_fd);
    buf_free(&x->upload);
    buf_free(&x->resp.body);
    arena_free(&x->arena);
    free(x);
}

static struct web_exchange *exchange_new(struct web_server *s, struct MHD_Connection *conn,
                                         const char *url, const char *method)
{
    struct web_exchange *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->server = s;
    x->conn = conn;
    x->started_ms = web_now_ms();
    x->started_ns = metrics_now_ns();
    x->file_fd = -1;
    atomic_init(&x->phase, PHASE_RECEIVING);
    buf_init(&x->upload, s->max_body);
    buf_init(&x->resp.body, WEB_RESP_MAX);
    x->req.priv = x;
    x->resp.priv = x;
    x->req.method = arena_strdup(&x->arena, method);
    x->req.path = arena_strdup(&x->arena, url);
    if (x->req.method == NULL || x->req.path == NULL) {
        exchange_free(x);
        return NULL;
    }
    crypto_random_token(WEB_REQUEST_ID_LEN / 2, x->request_id, sizeof x->request_id);
    client_ip(conn, x->peer_ip, sizeof x->peer_ip);
    str_copy(x->client_ip, x->peer_ip, sizeof x->client_ip);
    x->req.request_id = x->request_id;
    x->req.client_ip = x->client_ip;
    x->req.body = "";
    return x;
}

struct collector {
    struct web_arena *arena;
    struct web_kvlist *list;
    size_t cap;
    bool failed;
};

static enum MHD_Result collect_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct collector *c = cls;
    if (key == NULL)
        return MHD_YES;
    if (c->list->n == c->cap)
        return MHD_NO;
    struct web_kv *kv = &c->list->v[c->list->n];
    kv->name = arena_strdup(c->arena, key);
    kv->value = arena_strdup(c->arena, value);
    if (kv->name == NULL || (value != NULL && kv->value == NULL)) {
        c->failed = true;
        return MHD_NO;
    }
    c->list->n++;
    return MHD_YES;
}

/* Copies one kind of connection values (headers, cookies, query) into the arena. */
static int collect(struct web_exchange *x, enum MHD_ValueKind kind, struct web_kvlist *list)
{
    int n = MHD_get_connection_values(x->conn, kind, NULL, NULL);
    list->n = 0;
    if (n <= 0)
        return 0;
    list->v = arena_alloc(&x->arena, (size_t)n * sizeof *list->v);
    if (list->v == NULL)
        return LUMI_ENOMEM;
    struct collector c = {&x->arena, list, (size_t)n, false};
    MHD_get_connection_values(x->conn, kind, collect_one, &c);
    return c.failed ? LUMI_ENOMEM : 0;
}

/* Every X-Forwarded-For line joined with ", " in order (a proxy may add its
 * own line after the client's), in the arena; NULL when there is none. */
static const char *forwarded_for(struct web_exchange *x)
{
    size_t total = 0, used = 0;
    for (size_t i = 0; i < x->headers.n; i++)
        if (str_eq_nocase(x->headers.v[i].name, "X-Forwarded-For") && x->headers.v[i].value)
            total += strlen(x->headers.v[i].value) + 2;
    char *joined = total > 0 ? arena_alloc(&x->arena, total + 1) : NULL;
    if (joined == NULL)
        return NULL;
    for (size_t i = 0; i < x->headers.n; i++) {
        const char *v = x->headers.v[i].value;
        if (!str_eq_nocase(x->headers.v[i].name, "X-Forwarded-For") || v == NULL)
            continue;
        used += str_copy(joined + used, used > 0 ? ", " : "", total + 1 - used);
        used += str_copy(joined + used, v, total + 1 - used);
    }
    return joined;
}

/* Makes the request self-contained: nothing in it points into libmicrohttpd. */
static int fill_request(struct web_exchange *x)
{
    if (collect(x, MHD_HEADER_KIND, &x->headers) != 0 ||
        collect(x, MHD_COOKIE_KIND, &x->cookies) != 0 ||
        collect(x, MHD_GET_ARGUMENT_KIND, &x->query) != 0)
        return LUMI_ENOMEM;
    /* Operations (proxies): from here on client_ip is the effective client. */
    proxy_resolve(x->peer_ip, forwarded_for(x), kv_find(&x->headers, "X-Forwarded-Proto", true),
                  x->client_ip, sizeof x->client_ip, &x->https);
    x->req.user_agent = kv_find(&x->headers, MHD_HTTP_HEADER_USER_AGENT, true);
    x->req.body = buf_cstr(&x->upload);
    x->req.body_len = x->upload.len;
    return 0;
}

/* ---- responses and the access log ---- */

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
    char quoted[QUOTE_MAX];
    if (MHD_add_response_header(r, name, value) != MHD_YES)
        log_warn("http.header_failed", "name=%s", log_quote(name, quoted, sizeof quoted));
}

static bool has_resp_header(const struct web_exchange *x, const char *name)
{
    for (size_t i = 0; i < x->nresp_headers; i++)
        if (str_eq_nocase(x->resp_headers[i].name, name))
            return true;
    return false;
}

static void add_all_headers(struct web_exchange *x, struct MHD_Response *r)
{
    const char *ct = x->resp.content_type ? x->resp.content_type : "application/json";
    if (!has_resp_header(x, MHD_HTTP_HEADER_CONTENT_TYPE))
        add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    add_header(r, "X-Request-Id", x->request_id);
    add_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < x->nresp_headers; i++)
        add_header(r, x->resp_headers[i].name, x->resp_headers[i].value);
    if (str_starts_with(x->req.path, "/api/") && !has_resp_header(x, "Cache-Control"))
        add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (atomic_load(&x->server->stopping))
        add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* The body is a file (web_reply_file): libmicrohttpd reads it as it sends
 * and closes it with the response. */
static enum MHD_Result send_file_response(struct web_exchange *x)
{
    int fd = x->file_fd;
    x->file_fd = -1;
    struct MHD_Response *r = MHD_create_response_from_fd64(x->file_len, fd);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    add_all_headers(x, r);
    x->sent_bytes = (size_t)x->file_len;
    atomic_store(&x->phase, PHASE_SENT);
    enum MHD_Result ret = MHD_queue_response(x->conn, (unsigned)x->resp.status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Hands the filled x->resp to libmicrohttpd (I/O thread only). */
static enum MHD_Result send_response(struct web_exchange *x)
{
    conn_mark(x->server, x->conn, true); /* answered: no receive deadline */
    if (x->resp.status < 100 || x->resp.status > 599)
        web_reply_error(&x->resp, 500, "internal_error", "the request was not answered");
    if (x->file_fd >= 0)
        return send_file_response(x);
    size_t len = x->resp.body.len;
    char *body = buf_steal(&x->resp.body);
    if (body == NULL)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    add_all_headers(x, r);
    x->sent_bytes = len;
    atomic_store(&x->phase, PHASE_SENT);
    enum MHD_Result ret = MHD_queue_response(x->conn, (unsigned)x->resp.status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_now(struct web_exchange *x, int status, const char *code,
                                 const char *msg)
{
    web_reply_error(&x->resp, status, code, "%s", msg);
    return send_response(x);
}

/* A value from outside as is when it is plain (log.h's example), else quoted. */
static const char *log_value(const char *v, char *out, size_t outsz)
{
    size_t i = 0;
    for (; v[i] != '\0' && i < 200; i++)
        if (v[i] <= ' ' || v[i] == '"' || v[i] == '\\' || v[i] == '=' || v[i] == 0x7f)
            break;
    if (v[i] == '\0' && i > 0 && i < outsz) {
        memcpy(out, v, i + 1);
        return out;
    }
    return log_quote(v, out, outsz);
}

static void access_log(const struct web_exchange *x)
{
    char qmethod[QUOTE_MAX], qpath[QUOTE_MAX];
    log_set_context(x->request_id);
    log_info("http.request", "method=%s path=%s status=%d ms=%lld ip=%s bytes=%zu",
             log_value(x->req.method, qmethod, sizeof qmethod),
             log_value(x->req.path, qpath, sizeof qpath), x->resp.status,
             (long long)(web_now_ms() - x->started_ms), x->client_ip, x->sent_bytes);
    log_set_context(NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct web_server *s = cls;
    struct web_exchange *x = *con_cls;
    if (x == NULL)
        return;
    *con_cls = NULL;
    conn_mark(s, conn, false); /* a kept-alive connection's next request may begin */
    if (atomic_load(&x->phase) == PHASE_SENT) {
        access_log(x);
        observe_exchange(x, x->route != NULL ? (size_t)(x->route - s->routes) : s->nroutes);
    }
    exchange_free(x);
    inflight_add(s, -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512], quoted[QUOTE_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        return;
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    log_warn("http.mhd", "message=%s", log_quote(msg, quoted, sizeof quoted));
}

/* ---- group commit ---- */

static int deferred_apply(struct db *db, struct db_batch_item *it)
{
    struct deferred *d = (struct deferred *)it;
    log_set_context(d->x->request_id);
    int rc = d->fn(db, d->arg, &d->x->resp);
    log_set_context(NULL);
    return rc; /* d->arg is freed with the exchange (exchange_free) */
}

static void deferred_done(struct db_batch_item *it, int rc, const struct lumi_err *err)
{
    struct deferred *d = (struct deferred *)it;
    struct web_exchange *x = d->x;
    if (rc != 0) {
        log_set_context(x->request_id);
        log_error("http.commit_failed", "route=%s code=%d", x->route->pattern, rc);
        log_set_context(NULL);
        (void)err; /* logged by the batch; its text is not for the caller */
        web_reply_error(&x->resp, 503, "unavailable",
                        "the change could not be stored; nothing was changed, try again");
    } else if (x->resp.status == 0) {
        web_reply_error(&x->resp, 500, "internal_error", "the request was not answered");
    }
    /* x (and d, in its arena) is not ours once resumed. */
    struct MHD_Connection *conn = x->conn;
    atomic_store(&x->phase, PHASE_READY);
    MHD_resume_connection(conn);
}

void web_reply_after_commit(struct web_req *req, struct web_resp *resp, web_tx_fn fn, void *arg,
                            void (*free_arg)(void *))
{
    struct web_exchange *x = exchange_of_req(req);
    struct deferred *d = arena_alloc(&x->arena, sizeof *d);
    if (d == NULL || x->server->batch == NULL) {
        if (free_arg != NULL)
            free_arg(arg);
        web_reply_error(resp, 503, "unavailable", "durable writes are not available");
        return;
    }
    memset(d, 0, sizeof *d);
    d->item.apply = deferred_apply;
    d->item.done = deferred_done;
    d->x = x;
    d->fn = fn;
    d->arg = arg;
    d->free_arg = free_arg;
    /* Submitted by the worker once it is done with x (submit_deferred): the
     * batch may answer, and libmicrohttpd free x, at any moment after that. */
    x->deferred = d;
}

/* Hands x's deferred step to the batch writer: 0, or answers 503 and returns < 0. */
static int submit_deferred(struct web_server *s, struct web_exchange *x)
{
    struct deferred *d = x->deferred;
    if (db_batch_submit(s->batch, &d->item) == 0)
        return 0;
    x->deferred = NULL;
    if (d->free_arg != NULL)
        d->free_arg(d->arg);
    web_reply_error(&x->resp, 503, "unavailable", "the server is shutting down");
    return -1;
}

/* ---- workers ---- */

/* Runs auth and the handler with the worker's database connection (*slot). */
static void run_handler(struct web_server *s, struct web_exchange *x, void **slot)
{
    struct lumi_err err;
    char quoted[QUOTE_MAX];
    struct db *db = *slot;
    err_clear(&err);
    foreground_note(); /* someone waits for this answer: the mail thread yields (notify/pace.h) */
    if (db == NULL) {
        db = db_open(s->database_url, &err);
        if (db == NULL) {
            log_error("http.db_open_failed", "message=%s",
                      log_quote(err.msg, quoted, sizeof quoted));
            web_reply_error(&x->resp, 503, "unavailable", "the database is unavailable");
            return;
        }
    }
    x->req.db = db;
    int allowed = 0;
    if (x->route->auth == WEB_AUTH_ADMIN)
        allowed = auth_require_admin(&x->req, &x->resp);
    else if (x->route->auth == WEB_AUTH_USER)
        allowed = auth_require_user(&x->req, &x->resp);
    /* Staff roles (issue 16): the route names who besides admins may call it. */
    if (allowed == 0 && (x->route->auth == WEB_AUTH_ADMIN || x->route->auth == WEB_AUTH_USER))
        allowed = auth_require_role(&x->req, &x->resp, x->route->roles);
    if (allowed == 0)
        x->route->handler(&x->req, &x->resp);
    if (db_in_tx(db)) {
        log_warn("http.tx_left_open", "route=%s", x->route->pattern);
        db_rollback(db);
    }
    if (x->db_failed) {
        db_close(db);
        db = NULL;
    }
    x->req.db = NULL;
    *slot = db;
}

static void run_exchange(void *item, void **slot, void *arg)
{
    struct web_server *s = arg;
    struct web_exchange *x = item;
    int64_t waited_ms = web_now_ms() - x->queued_ms;

    log_set_context(x->request_id);
    if (atomic_load(&s->abandon))
        web_reply_error(&x->resp, 503, "unavailable", "the server is shutting down");
    else if (s->request_timeout_s > 0 && waited_ms > (int64_t)s->request_timeout_s * 1000)
        web_reply_error(&x->resp, 503, "unavailable",
                        "the server is busy; the request waited too long, try again");
    else
        run_handler(s, x, slot);
    if (x->deferred && submit_deferred(s, x) == 0) {
        log_set_context(NULL);
        return; /* the batch writer answers it; x is not ours any more */
    }
    if (x->resp.status == 0) {
        log_error("http.no_response", "route=%s", x->route->pattern);
        web_reply_error(&x->resp, 500, "internal_error", "the request was not answered");
    }
    log_set_context(NULL);
    /* Publish the response, then give the connection back; x is not ours after this. */
    struct MHD_Connection *conn = x->conn;
    atomic_store(&x->phase, PHASE_READY);
    MHD_resume_connection(conn);
}

static void worker_exit(void *slot, void *arg)
{
    db_close(slot);
}

/* ---- the access handler ---- */

static bool declared_too_large(struct web_server *s, struct MHD_Connection *conn)
{
    int64_t declared = 0;
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl != NULL && str_to_i64z(cl, 0, INT64_MAX, &declared) == 0 &&
           (uint64_t)declared > s->max_body;
}

struct length_count {
    const char *first;
    bool conflict;
};

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct length_count *c = cls;
    (void)kind;
    if (key == NULL || !str_eq_nocase(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        return MHD_YES;
    if (c->first == NULL)
        c->first = value != NULL ? value : "";
    else if (!str_eq(c->first, value != NULL ? value : ""))
        c->conflict = true;
    return MHD_YES;
}

/* Two Content-Length headers that disagree: which body is meant is anyone's
 * guess (request smuggling), so the request is refused. */
static bool conflicting_lengths(struct MHD_Connection *conn)
{
    struct length_count c = {NULL, false};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_length, &c);
    return c.conflict;
}

static enum MHD_Result begin(struct web_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    struct web_exchange *x = exchange_new(s, conn, url, method);
    if (x == NULL)
        return MHD_NO;
    *con_cls = x;
    inflight_add(s, 1);
    if (conflicting_lengths(conn)) {
        web_add_header(&x->resp, MHD_HTTP_HEADER_CONNECTION, "close");
        web_reply_error(&x->resp, 400, "invalid_request",
                        "the request has conflicting Content-Length headers");
        return send_response(x);
    }
    if (declared_too_large(s, conn)) {
        web_reply_error(&x->resp, 413, "payload_too_large",
                        "the request body is larger than %zu bytes", s->max_body);
        return send_response(x);
    }
    return MHD_YES;
}

static void take_upload(struct web_exchange *x, const char *data, size_t n)
{
    if (x->too_large)
        return;
    if (buf_append(&x->upload, data, n) != 0) {
        x->too_large = true;
        buf_free(&x->upload);
    }
}

/* A WEB_AUTH_PUBLIC_INLINE route: the handler runs here, on the I/O thread. */
static enum MHD_Result run_inline(struct web_server *s, struct web_exchange *x)
{
    log_set_context(x->request_id);
    x->req.db = NULL; /* such a handler has no connection of its own */
    x->route->handler(&x->req, &x->resp);
    log_set_context(NULL);
    if (x->deferred == NULL)
        return send_response(x); /* which answers 500 for a handler that did not */
    atomic_store(&x->phase, PHASE_QUEUED);
    /* Suspend before the batch can answer, so its resume always follows our suspend. */
    MHD_suspend_connection(x->conn);
    if (submit_deferred(s, x) != 0) {
        atomic_store(&x->phase, PHASE_READY);
        MHD_resume_connection(x->conn);
    }
    return MHD_YES;
}

/* The request is complete: answer routing errors now, or queue it for a worker. */
static enum MHD_Result dispatch(struct web_server *s, struct web_exchange *x)
{
    char allow[128];
    conn_mark(s, x->conn, true); /* the request is in: no receive deadline */
    if (x->too_large) {
        web_reply_error(&x->resp, 413, "payload_too_large",
                        "the request body is larger than %zu bytes", s->max_body);
        return send_response(x);
    }
    switch (router_match(s->routes, x->req.method, x->req.path, &x->arena, x->params, &x->nparams,
                         &x->route, allow, sizeof allow)) {
    case ROUTE_FOUND:
        break;
    case ROUTE_NOT_FOUND:
        return reply_now(x, 404, "not_found", "no such resource");
    case ROUTE_BAD_METHOD:
        web_add_header(&x->resp, MHD_HTTP_HEADER_ALLOW, allow);
        web_reply_error(&x->resp, 405, "method_not_allowed",
                        "method %s is not allowed here; use %s", x->req.method, allow);
        return send_response(x);
    case ROUTE_NOMEM:
        return reply_now(x, 500, "internal_error", "out of memory");
    }
    if (fill_request(x) != 0)
        return reply_now(x, 500, "internal_error", "out of memory");
    if (x->route->auth == WEB_AUTH_PUBLIC_INLINE)
        return run_inline(s, x);
    if (wpool_reserve(s->pool) != 0) {
        bool stopping = atomic_load(&s->stopping);
        log_set_context(x->request_id);
        log_warn("http.queue_full", "route=%s stopping=%d", x->route->pattern, stopping);
        log_set_context(NULL);
        return reply_now(x, 503, "unavailable",
                         stopping ? "the server is shutting down"
                                  : "the server is busy; try again shortly");
    }
    x->queued_ms = web_now_ms();
    atomic_store(&x->phase, PHASE_QUEUED);
    /* Suspend before any worker can see x, so its resume always follows our suspend. */
    MHD_suspend_connection(x->conn);
    wpool_commit(s->pool, x);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct web_server *s = cls;
    struct web_exchange *x = *con_cls;
    if (x == NULL)
        return begin(s, conn, url, method, con_cls);
    if (*upload_data_size > 0) {
        take_upload(x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (atomic_load(&x->phase)) {
    case PHASE_RECEIVING:
        return dispatch(s, x);
    case PHASE_READY:
        return send_response(x);
    default:
        return MHD_YES; /* queued or sent: nothing to do until resumed or completed */
    }
}

/* ---- start / stop ---- */

static void server_free(struct web_server *s)
{
    if (s == NULL)
        return;
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->sweep_wake);
    pthread_mutex_destroy(&s->conn_lock);
    free(s->database_url);
    free(s);
}

static struct web_server *server_new(const struct web_config *cfg, struct lumi_err *err)
{
    pthread_condattr_t ca;
    struct web_server *s = calloc(1, sizeof *s);
    char *url = str_dup(cfg->database_url ? cfg->database_url : "");
    if (s == NULL || url == NULL) {
        free(s);
        free(url);
        err_set(err, LUMI_ENOMEM, "out of memory starting the HTTP server");
        return NULL;
    }
    s->database_url = url;
    s->listen_fd = -1;
    s->max_body = cfg->max_body;
    s->request_timeout_s = cfg->request_timeout_s;
    s->routes = cfg->routes;
    s->nroutes = observe_routes(cfg->routes);
    atomic_init(&s->stopping, false);
    atomic_init(&s->abandon, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->idle, &ca);
    pthread_cond_init(&s->sweep_wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->conn_lock, NULL);
    s->recv_timeout_s = cfg->recv_timeout_s;
    return s;
}

static int bound_port(struct web_server *s)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (di != NULL && di->port != 0)
        return di->port;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * Once the server is stopping, a new connection is closed as soon as it is
 * accepted. This replaces MHD_quiesce_daemon, which in libmicrohttpd 0.9.75
 * races with its own epoll thread over removing the listening socket from the
 * epoll set and then aborts the process ("Failed to remove listen FD from
 * epoll set"), seen by the power-loss runs at SIGTERM.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    struct web_server *s = cls;
    return atomic_load(&s->stopping) ? MHD_NO : MHD_YES;
}

static int start_daemon(struct web_server *s, const struct web_config *cfg, struct lumi_err *err)
{
    unsigned int flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    unsigned int io = cfg->io_threads > 1 ? (unsigned int)cfg->io_threads : 1;
    /* Connection limits (issue 17, finding 2); 0 leaves libmicrohttpd's own. */
    unsigned int total =
        cfg->max_connections > 0 ? fit_connections(cfg->max_connections, cfg->workers) : 0;
    if (total > 0 && total < io)
        total = io;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
        {MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
         cfg->max_conn_per_ip > 0 ? (intptr_t)cfg->max_conn_per_ip : 0, NULL},
        {total > 0 ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_END, (intptr_t)total, NULL},
        {io > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, io, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The logger must be the very first option, outside the array, or
     * libmicrohttpd warns that early messages went to its own logger. */
    s->mhd = MHD_start_daemon(flags, 0, on_accept, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                              on_mhd_log, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (s->mhd == NULL)
        return err_set(err, LUMI_EIO, "%s: cannot start the HTTP server (see the log)",
                       cfg->listen);
    return 0;
}

struct web_server *web_server_start(const struct web_config *cfg, struct lumi_err *err)
{
    struct web_server *s = NULL;
    if (cfg == NULL || cfg->routes == NULL) {
        err_set(err, LUMI_EINVAL, "HTTP server: no route table");
        return NULL;
    }
    if (crypto_init() != 0) {
        err_set(err, LUMI_EINTERNAL, "HTTP server: cannot initialise the crypto library");
        return NULL;
    }
    s = server_new(cfg, err);
    if (s == NULL)
        return NULL;
    s->listen_fd = open_listener(cfg->listen, err);
    if (s->listen_fd < 0)
        goto fail;
    if (cfg->batch_max > 0) {
        s->batch = db_batch_start_writers(s->database_url, cfg->batch_max, cfg->pg_writers, err);
        if (s->batch == NULL)
            goto fail;
    }
    s->pool = wpool_start(cfg->workers, cfg->queue_max, run_exchange, worker_exit, s, err);
    if (s->pool == NULL)
        goto fail;
    if (start_daemon(s, cfg, err) != 0)
        goto fail;
    s->port = bound_port(s);
    if (s->recv_timeout_s > 0) {
        if (pthread_create(&s->sweeper, NULL, sweep_main, s) != 0) {
            MHD_stop_daemon(s->mhd);
            s->mhd = NULL;
            err_set(err, LUMI_EIO, "%s: cannot start the connection sweep", cfg->listen);
            goto fail;
        }
        s->sweeper_on = true;
    }
    return s;
fail:
    wpool_stop(s->pool);
    db_batch_stop(s->batch);
    /* libmicrohttpd may or may not have closed a socket it was given before failing. */
    if (s->listen_fd >= 0 && fcntl(s->listen_fd, F_GETFD) != -1)
        close(s->listen_fd);
    server_free(s);
    return NULL;
}

int web_server_port(const struct web_server *s)
{
    return s ? s->port : 0;
}

void web_server_stop(struct web_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true); /* on_accept now closes new connections */
    int left = wait_idle(s, STOP_DEADLINE_S);
    if (left > 0) {
        log_warn("server.stop_deadline", "inflight=%d deadline_s=%d", left, STOP_DEADLINE_S);
        atomic_store(&s->abandon, true);
    }
    /* Runs or refuses what is still queued, so every suspended connection is resumed. */
    wpool_stop(s->pool);
    /* After the pool: nothing submits any more; what is queued commits and resumes. */
    db_batch_stop(s->batch);
    sweep_stop(s); /* before libmicrohttpd frees the connections it points at */
    MHD_stop_daemon(s->mhd); /* closes the listening socket too */
    server_free(s);
}

/*
 * http.c — the handler-facing helpers of http.h, and the request arena.
 *
 * Threading: every function here works on one exchange, which belongs to
 * exactly one thread at a time (see internal.h), so nothing is locked.
 * Everything handed out (params, headers, copied strings) lives in the
 * exchange's arena and is freed, zeroed, with it: headers and cookies carry
 * credentials.
 */
#include "web/internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/str.h"

#define ARENA_BLOCK 4096
#define ARENA_ALIGN 16
#define ERROR_MSG_MAX 1024

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t cap;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void *arena_alloc(struct web_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = n == 0 ? ARENA_ALIGN : (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *arena_strdup(struct web_arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *p = arena_alloc(a, n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

void arena_free(struct web_arena *a)
{
    struct arena_block *b = a->head;
    while (b != NULL) {
        struct arena_block *next = b->next;
        sodium_memzero(b->data, b->used);
        free(b);
        b = next;
    }
    a->head = NULL;
}

const char *kv_find(const struct web_kvlist *l, const char *name, bool nocase)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        bool eq = nocase ? str_eq_nocase(l->v[i].name, name) : str_eq(l->v[i].name, name);
        if (eq)
            return l->v[i].value;
    }
    return NULL;
}

int64_t web_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *web_param(const struct web_req *req, const char *name)
{
    const struct web_exchange *x = exchange_of_req(req);
    for (size_t i = 0; i < x->nparams; i++)
        if (str_eq(x->params[i].name, name))
            return x->params[i].value;
    return NULL;
}

int64_t web_param_id(const struct web_req *req, const char *name)
{
    int64_t id = 0;
    if (str_to_i64z(web_param(req, name), 1, INT64_MAX, &id) != 0)
        return 0;
    return id;
}

const char *web_query(const struct web_req *req, const char *name)
{
    return kv_find(&exchange_of_req(req)->query, name, false);
}

const char *web_header(const struct web_req *req, const char *name)
{
    return kv_find(&exchange_of_req(req)->headers, name, true);
}

const char *web_cookie(const struct web_req *req, const char *name)
{
    return kv_find(&exchange_of_req(req)->cookies, name, false);
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* "application/json", optionally with parameters; a charset, if given, must be UTF-8. */
static bool is_json_type(const char *ct)
{
    static const char type[] = "application/json";
    if (ct == NULL)
        return false;
    ct = skip_spaces(ct);
    if (strncasecmp(ct, type, sizeof type - 1) != 0)
        return false;
    ct = skip_spaces(ct + sizeof type - 1);
    if (*ct == '\0')
        return true;
    if (*ct != ';')
        return false;
    const char *cs = strcasestr(ct, "charset=");
    if (cs == NULL)
        return true;
    cs += strlen("charset=");
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0;
}

static bool has_type(const char *ct, const char *type)
{
    size_t n = strlen(type);
    if (ct == NULL)
        return false;
    ct = skip_spaces(ct);
    if (strncasecmp(ct, type, n) != 0)
        return false;
    ct = skip_spaces(ct + n);
    return *ct == '\0' || *ct == ';';
}

bool web_is_form(const struct web_req *req)
{
    return has_type(web_header(req, "Content-Type"), "application/x-www-form-urlencoded");
}

const char *web_form_value(struct web_req *req, const char *name)
{
    if (!web_is_form(req))
        return NULL;
    struct web_exchange *x = exchange_of_req(req);
    size_t nlen = strlen(name);
    const char *p = req->body, *end = req->body + req->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        char *key = str_url_decode(p, (size_t)(kend - p), true);
        bool match = key != NULL && strlen(key) == nlen && memcmp(key, name, nlen) == 0;
        free(key);
        if (match) {
            char *v = eq ? str_url_decode(eq + 1, (size_t)(stop - eq - 1), true) : str_dup("");
            char *copy = arena_strdup(&x->arena, v);
            free(v);
            return copy;
        }
        p = stop + 1;
    }
    return NULL;
}

json_t *web_json_body(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err;
    err_clear(&err);
    if (!is_json_type(web_header(req, "Content-Type"))) {
        web_reply_error(resp, 415, "unsupported_media_type",
                        "Content-Type must be application/json");
        return NULL;
    }
    if (req->body_len == 0) {
        web_reply_error(resp, 400, "invalid_request", "request body must be a JSON object");
        return NULL;
    }
    json_t *v = jsonx_parse_object(req->body, req->body_len, &err);
    if (v == NULL)
        web_reply_error(resp, 400, "invalid_request", "%s",
                        err.msg[0] ? err.msg : "request body must be a JSON object");
    return v;
}

/* Last resort when a response cannot be built: 500 with a fixed envelope. */
static void reply_broken(struct web_resp *resp)
{
    static const char body[] =
        "{\"error\":{\"code\":\"internal_error\",\"message\":\"could not build the response\"}}";
    buf_reset(&resp->body);
    buf_append(&resp->body, body, sizeof body - 1);
    resp->status = 500;
    resp->content_type = "application/json";
}

void web_reply_json(struct web_resp *resp, int status, json_t *value)
{
    char *text = value ? jsonx_dump(value) : NULL;
    json_decref(value);
    buf_reset(&resp->body);
    if (text == NULL || buf_append_str(&resp->body, text) != 0) {
        log_error("http.reply_failed", "status=%d reason=%s", status,
                  text ? "too_large_or_nomem" : "no_value");
        reply_broken(resp);
    } else {
        resp->status = status;
        resp->content_type = "application/json";
    }
    free(text);
}

static void reply_envelope(struct web_resp *resp, int status, const char *code, const char *msg)
{
    json_t *v = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    if (v == NULL) /* msg was not valid UTF-8 */
        v = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", code);
    web_reply_json(resp, status, v);
}

void web_reply_error(struct web_resp *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        str_copy(msg, code, sizeof msg);
    reply_envelope(resp, status, code, msg);
}

void web_reply_err(struct web_resp *resp, const struct lumi_err *err)
{
    struct web_exchange *x = exchange_of_resp(resp);
    int code = err != NULL && err->code != LUMI_OK ? err->code : LUMI_EINTERNAL;
    const char *msg = err != NULL && err->msg[0] ? err->msg : err_code_name(code);
    int status = err_http_status(code);
    char quoted[256];

    if (code == LUMI_EDB)
        x->db_failed = true;
    /* Internal details (SQL, file names) never reach the client; a database's
     * or an upstream's own text does not reach anonymous callers either
     * (issue 17, finding 12): they get the request id, the log the text. */
    bool anonymous = x->req.who.kind == PRINCIPAL_NONE;
    if (status == 500 || (anonymous && (status > 500 || code == LUMI_EUPSTREAM ||
                                        (err != NULL && err->internal)))) {
        if (status == 500)
            log_error("http.internal_error", "code=%d message=%s", code,
                      log_quote(msg, quoted, sizeof quoted));
        else
            log_warn("http.error_detail", "code=%d status=%d message=%s", code, status,
                     log_quote(msg, quoted, sizeof quoted));
        web_reply_error(resp, status, status == 500 ? "internal_error" : err_code_name(code),
                        "%s; the server log has details under request id %s",
                        status == 500 ? "internal error" : "the request could not be completed",
                        x->request_id);
        return;
    }
    reply_envelope(resp, status, err_code_name(code), msg);
}

void web_reply_file(struct web_resp *resp, int status, const char *content_type, FILE *f)
{
    struct web_exchange *x = exchange_of_resp(resp);
    const char *ct = arena_strdup(&x->arena, content_type ? content_type : "text/plain");
    int fd = -1;
    off_t len = -1;
    if (f != NULL && fflush(f) == 0 && !ferror(f)) {
        fd = dup(fileno(f));
        if (fd >= 0)
            len = lseek(fd, 0, SEEK_END);
    }
    if (f != NULL)
        fclose(f);
    if (ct == NULL || fd < 0 || len < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        if (fd >= 0)
            close(fd);
        log_error("http.reply_failed", "status=%d reason=file", status);
        reply_broken(resp);
        return;
    }
    if (x->file_fd >= 0)
        close(x->file_fd);
    buf_reset(&resp->body);
    x->file_fd = fd;
    x->file_len = (uint64_t)len;
    resp->status = status;
    resp->content_type = ct;
}

void web_reply_text(struct web_resp *resp, int status, const char *content_type, const char *text,
                    size_t len)
{
    struct web_exchange *x = exchange_of_resp(resp);
    const char *ct = arena_strdup(&x->arena, content_type ? content_type : "text/plain");
    buf_reset(&resp->body);
    if (ct == NULL || buf_append(&resp->body, text, len) != 0) {
        log_error("http.reply_failed", "status=%d len=%zu", status, len);
        reply_broken(resp);
        return;
    }
    resp->status = status;
    resp->content_type = ct;
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

void web_add_header(struct web_resp *resp, const char *name, const char *value)
{
    struct web_exchange *x = exchange_of_resp(resp);
    char quoted[128];
    if (name == NULL || value == NULL || !header_safe(name) || !header_safe(value)) {
        log_warn("http.header_rejected", "name=%s",
                 log_quote(name ? name : "", quoted, sizeof quoted));
        return;
    }
    if (x->nresp_headers == WEB_MAX_RESP_HEADERS) {
        log_warn("http.header_dropped", "name=%s", log_quote(name, quoted, sizeof quoted));
        return;
    }
    struct web_kv *h = &x->resp_headers[x->nresp_headers];
    h->name = arena_strdup(&x->arena, name);
    h->value = arena_strdup(&x->arena, value);
    if (h->name == NULL || h->value == NULL) {
        log_error("http.header_dropped", "name=%s reason=nomem",
                  log_quote(name, quoted, sizeof quoted));
        return;
    }
    x->nresp_headers++;
}

void web_redirect(struct web_resp *resp, const char *location)
{
    web_add_header(resp, "Location", location);
    buf_reset(&resp->body);
    resp->status = 303;
    resp->content_type = "text/plain; charset=utf-8";
}

int web_page_params(struct web_req *req, struct web_resp *resp, int def, int max, int *limit,
                    int64_t *cursor)
{
    const char *l = web_query(req, "limit");
    const char *c = web_query(req, "cursor");
    int64_t v = def;
    *cursor = 0;
    if (l != NULL && str_to_i64z(l, 1, max, &v) != 0) {
        web_reply_error(resp, 400, "invalid_request",
                        "query parameter 'limit' must be an integer from 1 to %d", max);
        return -1;
    }
    if (c != NULL && str_to_i64z(c, 1, INT64_MAX, cursor) != 0) {
        web_reply_error(resp, 400, "invalid_request",
                        "query parameter 'cursor' must be a next_cursor from a previous page");
        return -1;
    }
    *limit = (int)v;
    return 0;
}

void web_reply_page(struct web_resp *resp, json_t *rows, int64_t next)
{
    char cursor[24];
    snprintf(cursor, sizeof cursor, "%lld", (long long)next);
    web_reply_json(resp, 200,
                   json_pack("{s:o s:s?}", "data", rows, "next_cursor", next > 0 ? cursor : NULL));
}

int web_query_enum(struct web_req *req, struct web_resp *resp, const char *name,
                   const char *const *choices, const char **out)
{
    const char *v = web_query(req, name);
    *out = NULL;
    if (v == NULL || *v == '\0')
        return 0;
    for (size_t i = 0; choices[i] != NULL; i++)
        if (strcmp(v, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    struct buf list;
    buf_init(&list, 1024);
    for (size_t i = 0; choices[i] != NULL; i++)
        buf_printf(&list, "%s%s", i ? ", " : "", choices[i]);
    web_reply_error(resp, 400, "invalid_request", "query parameter '%s' must be one of %s", name,
                    buf_cstr(&list));
    buf_free(&list);
    return -1;
}

int web_query_id(struct web_req *req, struct web_resp *resp, const char *name, int64_t *out)
{
    const char *v = web_query(req, name);
    *out = 0;
    if (v == NULL || *v == '\0')
        return 0;
    if (str_to_i64z(v, 1, INT64_MAX, out) == 0)
        return 0;
    web_reply_error(resp, 400, "invalid_request", "query parameter '%s' must be a positive id",
                    name);
    return -1;
}

void web_reply_created(struct web_resp *resp, const char *collection, json_t *obj)
{
    char location[256];
    snprintf(location, sizeof location, "%s/%" JSON_INTEGER_FORMAT, collection,
             json_integer_value(json_object_get(obj, "id")));
    web_add_header(resp, "Location", location);
    web_reply_json(resp, 201, obj);
}

void web_reply_result(struct web_resp *resp, int status, json_t *value,
                      const struct lumi_err *err)
{
    if (value == NULL)
        web_reply_err(resp, err);
    else
        web_reply_json(resp, status, value);
}

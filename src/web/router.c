/*
 * router.c — matches a request against the route table (see router.h).
 *
 * Stateless and thread-safe: the table is read-only; captures are copied into
 * the caller's request arena. The path is compared as decoded by
 * libmicrohttpd, segment by segment, without allocating until a route wins.
 */
#include "web/router.h"

#include <stdbool.h>
#include <string.h>

#include "core/str.h"

#define MAX_ALLOW 16

struct span {
    const char *p;
    size_t n;
};

struct capture {
    struct span name;
    struct span value;
};

static bool is_param(const char *seg, size_t n)
{
    return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

/*
 * Number of literal segments when pattern matches path, or -1. Every request
 * is matched against every route (a few hundred), so a literal segment is
 * compared as it is walked: most routes fail at their first differing
 * character without the rest of either segment being read.
 */
static int match(const char *pat, const char *path, struct capture caps[WEB_MAX_PARAMS],
                 size_t *ncaps)
{
    int literal = 0;
    size_t nc = 0;
    if (pat[0] != '/' || path[0] != '/')
        return -1;
    for (;;) {
        pat++;
        path++;
        size_t pl = pat[0] == '{' ? strcspn(pat, "/") : 0;
        if (is_param(pat, pl)) {
            size_t sl = strcspn(path, "/");
            if (sl == 0 || nc == WEB_MAX_PARAMS)
                return -1;
            caps[nc].name = (struct span){pat + 1, pl - 2};
            caps[nc].value = (struct span){path, sl};
            nc++;
            pat += pl;
            path += sl;
        } else {
            for (; *pat != '/' && *pat != '\0'; pat++, path++)
                if (*path != *pat)
                    return -1; /* also when the path's segment ended first */
            if (*path != '/' && *path != '\0')
                return -1; /* the path's segment is longer */
            literal++;
        }
        if (*pat == '\0' && *path == '\0')
            break;
        if (*pat == '\0' || *path == '\0')
            return -1;
    }
    *ncaps = nc;
    return literal;
}

static void add_method(const char **set, size_t *n, const char *m)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(set[i], m) == 0)
            return;
    if (*n < MAX_ALLOW)
        set[(*n)++] = m;
}

static void format_allow(const char **set, size_t n, char *allow, size_t allowsz)
{
    bool get = false, head = false;
    size_t used = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        get = get || strcmp(set[i], "GET") == 0;
        head = head || strcmp(set[i], "HEAD") == 0;
    }
    if (get && !head)
        add_method(set, &n, "HEAD");
    for (size_t i = 0; i < n && used < allowsz; i++) {
        size_t w = str_copy(allow + used, i ? ", " : "", allowsz - used);
        used += w;
        if (used >= allowsz)
            break;
        used += str_copy(allow + used, set[i], allowsz - used);
    }
}

static char *arena_strndup(struct web_arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int copy_captures(struct web_arena *arena, const struct capture *caps, size_t nc,
                         struct web_kv *params)
{
    for (size_t i = 0; i < nc; i++) {
        params[i].name = arena_strndup(arena, caps[i].name.p, caps[i].name.n);
        params[i].value = arena_strndup(arena, caps[i].value.p, caps[i].value.n);
        if (params[i].name == NULL || params[i].value == NULL)
            return -1;
    }
    return 0;
}

enum route_outcome router_match(const struct web_route *routes, const char *method,
                                const char *path, struct web_arena *arena,
                                struct web_kv params[WEB_MAX_PARAMS], size_t *nparams,
                                const struct web_route **out, char *allow, size_t allowsz)
{
    struct capture caps[WEB_MAX_PARAMS];
    const char *methods[MAX_ALLOW];
    size_t nmethods = 0, nc = 0;
    const struct web_route *best = NULL, *best_get = NULL;
    int best_lit = -1, best_get_lit = -1;
    bool head = strcmp(method, "HEAD") == 0;

    *nparams = 0;
    *out = NULL;
    if (allowsz > 0)
        allow[0] = '\0';
    for (const struct web_route *r = routes; r->method != NULL; r++) {
        int lit = match(r->pattern, path, caps, &nc);
        if (lit < 0)
            continue;
        add_method(methods, &nmethods, r->method);
        if (strcmp(r->method, method) == 0 && lit > best_lit) {
            best = r;
            best_lit = lit;
        }
        if (head && strcmp(r->method, "GET") == 0 && lit > best_get_lit) {
            best_get = r;
            best_get_lit = lit;
        }
    }
    if (best == NULL)
        best = best_get;
    if (nmethods == 0)
        return ROUTE_NOT_FOUND;
    if (best == NULL) {
        format_allow(methods, nmethods, allow, allowsz);
        return ROUTE_BAD_METHOD;
    }
    match(best->pattern, path, caps, &nc);
    if (copy_captures(arena, caps, nc, params) != 0)
        return ROUTE_NOMEM;
    *nparams = nc;
    *out = best;
    return ROUTE_FOUND;
}

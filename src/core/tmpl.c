/*
 * tmpl.c — the template renderer and the embedded file table (see tmpl.h for
 * the language).
 *
 * A template is parsed once into a flat list of ops that point into its
 * source (text runs, variable paths, section bounds, resolved partials);
 * rendering walks that list with a stack of JSON contexts, so a page costs a
 * few lookups and appends per tag and no re-parsing.
 *
 * Threading: embedded templates are parsed on first use under pthread_once
 * and never change afterwards (kept for the life of the process); all render
 * state lives on the caller's stack, so renders run in parallel freely.
 *
 * The embedded table comes from the file tools/embed.c generates, compiled in
 * when the build defines LUMI_HAVE_EMBED (cmake/Embed.cmake). Without it an
 * empty table is defined here, so this file always builds and links; a strong
 * reference (not a weak symbol) is used on purpose: a weak definition here
 * would stop the linker from pulling the generated object out of the static
 * library.
 */
#include "core/tmpl.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#ifndef LUMI_HAVE_EMBED
const struct tmpl_file lumi_embedded_files[] = {{NULL, NULL, 0, NULL}};
const size_t lumi_embedded_count = 0;
#endif

enum op_kind {
    OP_TEXT,     /* src[off, off+len) as is */
    OP_VAR,      /* escaped value of the path src[off, off+len) */
    OP_RAW,      /* raw value of the path */
    OP_SECTION,  /* body is ops (i, arg): arg is the index of the matching OP_END */
    OP_INVERTED, /* same, rendered when the value is falsy */
    OP_END,      /* closes the section at index arg */
    OP_PARTIAL,  /* embedded template number arg */
};

#define OPF_URL 1 /* the value starts a URL attribute: check its scheme */

struct op {
    uint8_t kind;
    uint8_t flags;
    uint32_t off;
    uint32_t len;
    uint32_t arg;
};

struct tmpl {
    const char *name; /* for messages; static or "<text>" */
    const char *src;  /* borrowed: embedded data or the caller's text */
    size_t len;
    struct op *ops;
    size_t nops;
    size_t cap;
    long layout; /* embedded template number, or -1 */
};

/* The context stack can hold one entry per open section in every nested
 * template, plus one per layout, plus the data. */
#define STACK_MAX                                                                                  \
    (TMPL_MAX_SECTION_DEPTH * (TMPL_MAX_PARTIAL_DEPTH + 1) + TMPL_MAX_PARTIAL_DEPTH + 2)

/* ---- the embedded table ---------------------------------------------- */

static int cmp_file(const void *key, const void *elem)
{
    return strcmp(key, ((const struct tmpl_file *)elem)->name);
}

const struct tmpl_file *tmpl_file_find(const char *name)
{
    if (name == NULL || lumi_embedded_count == 0)
        return NULL;
    return bsearch(name, lumi_embedded_files, lumi_embedded_count, sizeof lumi_embedded_files[0],
                   cmp_file);
}

size_t tmpl_file_count(void)
{
    return lumi_embedded_count;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n > k && memcmp(s + n - k, suffix, k) == 0;
}

/* Templates are the top-level *.html files and the mail templates
 * ("mail/NAME.html", "mail/NAME.txt"); static files ("static/...") are
 * served as they are and can be neither rendered nor included. */
static bool is_template(const struct tmpl_file *f)
{
    size_t n = strlen(f->name);
    if (strncmp(f->name, "mail/", 5) == 0 && strchr(f->name + 5, '/') == NULL)
        return ends_with(f->name, n, ".html") || ends_with(f->name, n, ".txt");
    return strchr(f->name, '/') == NULL && ends_with(f->name, n, ".html");
}

/* The embedded template named src[0..len), as its table index, or -1. */
static long find_template(const char *s, size_t len)
{
    char name[256];
    if (len == 0 || len >= sizeof name)
        return -1;
    memcpy(name, s, len);
    name[len] = '\0';
    const struct tmpl_file *f = tmpl_file_find(name);
    if (f == NULL || !is_template(f))
        return -1;
    return (long)(f - lumi_embedded_files);
}

/* ---- parsing ------------------------------------------------------------ */

static int add_op(struct tmpl *t, int kind, int flags, size_t off, size_t len, size_t arg)
{
    if (t->nops == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct op *ops = realloc(t->ops, cap * sizeof *ops);
        if (ops == NULL)
            return LUMI_ENOMEM;
        t->ops = ops;
        t->cap = cap;
    }
    t->ops[t->nops++] =
        (struct op){(uint8_t)kind, (uint8_t)flags, (uint32_t)off, (uint32_t)len, (uint32_t)arg};
    return 0;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '/';
}

/* A path is "." or non-empty segments joined by single dots. */
static bool valid_path(const char *s, size_t n)
{
    if (n == 1 && s[0] == '.')
        return true;
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (s[i] == '.' && s[i + 1] == '.'))
            return false;
    return true;
}

static bool ends_with_nocase(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        char c = s[n - k + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return false;
    }
    return true;
}

/* Does the text op right before a value at `at` open a URL attribute? */
static bool starts_url_attr(const struct tmpl *t, size_t at)
{
    if (t->nops == 0)
        return false;
    const struct op *p = &t->ops[t->nops - 1];
    if (p->kind != OP_TEXT || p->off + p->len != at)
        return false;
    static const char *const attrs[] = {"href=\"", "href='",    "src=\"",
                                        "src='",   "action=\"", "action='"};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (ends_with_nocase(t->src + p->off, p->len, attrs[i]))
            return true;
    return false;
}

static bool all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

static void tmpl_release(struct tmpl *t)
{
    free(t->ops);
    t->ops = NULL;
    t->nops = t->cap = 0;
}

/* Parses src[0..len) into t (t->ops owned by t; src borrowed for t's life). */
static int tmpl_parse(struct tmpl *t, const char *name, const char *src, size_t len,
                      struct lumi_err *err)
{
    uint32_t open[TMPL_MAX_SECTION_DEPTH];
    unsigned open_line[TMPL_MAX_SECTION_DEPTH];
    size_t depth = 0, pos = 0, counted = 0;
    unsigned line = 1;
    bool any_tag = false;
    int rc = 0;

    *t = (struct tmpl){.name = name, .src = src, .len = len, .layout = -1};
    if (len > TMPL_MAX_SOURCE) {
        rc = err_set(err, LUMI_ETOOLARGE, "template '%s' is larger than %d bytes", name,
                     TMPL_MAX_SOURCE);
        goto out;
    }
    while (pos < len) {
        const char *o = memmem(src + pos, len - pos, "{{", 2);
        size_t tag = o ? (size_t)(o - src) : len;
        if (tag > pos) {
            rc = add_op(t, OP_TEXT, 0, pos, tag - pos, 0);
            if (rc != 0)
                goto nomem;
        }
        if (o == NULL)
            break;
        for (; counted < tag; counted++)
            if (src[counted] == '\n')
                line++;

        bool triple = tag + 2 < len && src[tag + 2] == '{';
        size_t inner = tag + (triple ? 3 : 2);
        const char *closer = triple ? "}}}" : "}}";
        const char *c = memmem(src + inner, len - inner, closer, triple ? 3 : 2);
        if (c == NULL) {
            rc = err_set(err, LUMI_EINVAL, "template '%s' line %u: unterminated tag (no '%s')",
                         name, line, closer);
            goto out;
        }
        size_t end = (size_t)(c - src);
        size_t next = end + (triple ? 3 : 2);
        char sigil = 0;
        if (!triple && inner < end && strchr("#^/>!<", src[inner]) != NULL)
            sigil = src[inner];
        bool first_tag = !any_tag;
        any_tag = true;
        if (sigil == '!') {
            pos = next;
            continue;
        }
        size_t a = inner + (sigil ? 1 : 0), b = end;
        while (a < b && (src[a] == ' ' || src[a] == '\t'))
            a++;
        while (b > a && (src[b - 1] == ' ' || src[b - 1] == '\t'))
            b--;
        for (size_t i = a; i < b; i++)
            if (!name_char(src[i])) {
                rc = err_set(err, LUMI_EINVAL, "template '%s' line %u: invalid character in tag",
                             name, line);
                goto out;
            }
        const char *nm = src + a;
        size_t nlen = b - a;
        int nl = nlen > 64 ? 64 : (int)nlen; /* for messages */
        if (nlen == 0) {
            rc = err_set(err, LUMI_EINVAL, "template '%s' line %u: empty tag", name, line);
            goto out;
        }

        if (sigil == '>' || sigil == '<') {
            long idx = find_template(nm, nlen);
            if (idx < 0) {
                rc = err_set(err, LUMI_EINVAL, "template '%s' line %u: unknown %s '%.*s'", name,
                             line, sigil == '>' ? "partial" : "layout", nl, nm);
                goto out;
            }
            if (sigil == '>') {
                rc = add_op(t, OP_PARTIAL, 0, a, nlen, (size_t)idx);
                if (rc != 0)
                    goto nomem;
            } else {
                bool only_space = t->nops == 0 || (t->nops == 1 && all_space(src, tag));
                if (!first_tag || !only_space) {
                    rc = err_set(err, LUMI_EINVAL,
                                 "template '%s' line %u: the layout tag must come first", name,
                                 line);
                    goto out;
                }
                t->nops = 0; /* whitespace before the layout tag is dropped */
                t->layout = idx;
            }
            pos = next;
            continue;
        }
        if (!valid_path(nm, nlen)) {
            rc = err_set(err, LUMI_EINVAL, "template '%s' line %u: invalid name '%.*s'", name, line,
                         nl, nm);
            goto out;
        }
        if (sigil == '#' || sigil == '^') {
            if (depth == TMPL_MAX_SECTION_DEPTH) {
                rc = err_set(err, LUMI_EINVAL,
                             "template '%s' line %u: sections nested deeper than %d", name, line,
                             TMPL_MAX_SECTION_DEPTH);
                goto out;
            }
            open[depth] = (uint32_t)t->nops;
            open_line[depth++] = line;
            rc = add_op(t, sigil == '#' ? OP_SECTION : OP_INVERTED, 0, a, nlen, 0);
            if (rc != 0)
                goto nomem;
        } else if (sigil == '/') {
            if (depth == 0) {
                rc = err_set(err, LUMI_EINVAL,
                             "template '%s' line %u: '{{/%.*s}}' closes no open section", name,
                             line, nl, nm);
                goto out;
            }
            struct op *s = &t->ops[open[depth - 1]];
            if (s->len != nlen || memcmp(src + s->off, nm, nlen) != 0) {
                rc = err_set(err, LUMI_EINVAL,
                             "template '%s' line %u: '{{/%.*s}}' does not match section '%.*s' "
                             "opened on line %u",
                             name, line, nl, nm, s->len > 64 ? 64 : (int)s->len, src + s->off,
                             open_line[depth - 1]);
                goto out;
            }
            s->arg = (uint32_t)t->nops;
            depth--;
            rc = add_op(t, OP_END, 0, a, nlen, open[depth]);
            if (rc != 0)
                goto nomem;
        } else {
            int flags = starts_url_attr(t, tag) ? OPF_URL : 0;
            rc = add_op(t, triple ? OP_RAW : OP_VAR, flags, a, nlen, 0);
            if (rc != 0)
                goto nomem;
        }
        pos = next;
    }
    if (depth > 0) {
        const struct op *s = &t->ops[open[depth - 1]];
        rc = err_set(err, LUMI_EINVAL, "template '%s' line %u: section '%.*s' is never closed",
                     name, open_line[depth - 1], s->len > 64 ? 64 : (int)s->len, src + s->off);
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    rc = err_set(err, LUMI_ENOMEM, "out of memory parsing template '%s'", name);
out:
    if (rc != 0)
        tmpl_release(t);
    return rc;
}

/* ---- the embedded templates, parsed once -------------------------------- */

struct parsed {
    struct tmpl t;
    int rc; /* 0, or why t is unusable */
    struct lumi_err err;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct parsed *g_parsed; /* one per embedded file; kept for the process's life */
static int g_init_rc;
static struct lumi_err g_init_err;

static void init_once(void)
{
    g_parsed = calloc(lumi_embedded_count ? lumi_embedded_count : 1, sizeof *g_parsed);
    if (g_parsed == NULL) {
        g_init_rc = err_set(&g_init_err, LUMI_ENOMEM, "out of memory parsing templates");
        return;
    }
    for (size_t i = 0; i < lumi_embedded_count; i++) {
        const struct tmpl_file *f = &lumi_embedded_files[i];
        struct parsed *p = &g_parsed[i];
        if (!is_template(f)) {
            p->rc = err_set(&p->err, LUMI_ENOTFOUND, "'%s' is not a template", f->name);
            continue;
        }
        p->rc = tmpl_parse(&p->t, f->name, f->data, f->len, &p->err);
        if (p->rc != 0 && g_init_rc == 0) {
            g_init_rc = p->rc;
            g_init_err = p->err;
        }
    }
}

int tmpl_init(struct lumi_err *err)
{
    pthread_once(&g_once, init_once);
    if (g_init_rc != 0 && err != NULL)
        *err = g_init_err;
    return g_init_rc;
}

/* ---- rendering ------------------------------------------------------------ */

struct render {
    struct buf *out;
    const json_t *stack[STACK_MAX];
    size_t depth;
    unsigned nest; /* partials and layouts entered */
    size_t max;    /* the caller's cap, for messages */
    struct lumi_err *err;
};

static int out_fail(struct render *r, int rc)
{
    if (rc == LUMI_ETOOLARGE)
        return err_set(r->err, rc, "rendered page is larger than %zu bytes", r->max);
    return err_set(r->err, rc, "out of memory rendering a template");
}

static int put(struct render *r, const char *s, size_t n)
{
    int rc = buf_append(r->out, s, n);
    return rc == 0 ? 0 : out_fail(r, rc);
}

static int put_escaped(struct render *r, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ent;
        switch (s[i]) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&#39;";
            break;
        case '`':
            ent = "&#96;";
            break;
        case '=':
            ent = "&#61;";
            break;
        default:
            continue;
        }
        int rc = put(r, s + run, i - run);
        if (rc == 0)
            rc = put(r, ent, strlen(ent));
        if (rc != 0)
            return rc;
        run = i + 1;
    }
    return put(r, s + run, n - run);
}

/*
 * May a value that starts a URL attribute be used as it is? Only when it has
 * no scheme (relative) or an allowed one. Browsers ignore spaces, tabs and
 * newlines around and inside a scheme ("java\tscript:"), so those are dropped
 * before comparing; anything unusual makes the value "#".
 */
static bool url_allowed(const char *s, size_t n)
{
    char scheme[8]; /* the longest allowed, "mailto", fits */
    size_t k = 0;
    bool other = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '/' || c == '?' || c == '#')
            return true;
        if (c == ':') {
            scheme[k] = '\0';
            return !other && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 ||
                              strcmp(scheme, "mailto") == 0);
        }
        if ((unsigned char)c <= 0x20)
            continue;
        if (k + 1 < sizeof scheme)
            scheme[k++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        else
            other = true;
    }
    return true;
}

/* One step down from v: an object member, or an array element by number. */
static const json_t *child(const json_t *v, const char *seg, size_t n)
{
    if (json_is_object(v))
        return json_object_getn(v, seg, n);
    if (json_is_array(v)) {
        int64_t i;
        if (str_to_i64(seg, n, 0, INT64_MAX, &i) != 0 || (uint64_t)i >= json_array_size(v))
            return NULL;
        return json_array_get(v, (size_t)i);
    }
    return NULL;
}

static const json_t *lookup(const struct render *r, const char *path, size_t n)
{
    if (n == 1 && path[0] == '.')
        return r->depth ? r->stack[r->depth - 1] : NULL;
    const char *dot = memchr(path, '.', n);
    size_t first = dot ? (size_t)(dot - path) : n;
    const json_t *v = NULL;
    for (size_t d = r->depth; d-- > 0 && v == NULL;)
        v = child(r->stack[d], path, first);
    size_t pos = first;
    while (v != NULL && pos < n) {
        pos++; /* the dot */
        const char *seg = path + pos;
        const char *d2 = memchr(seg, '.', n - pos);
        size_t sl = d2 ? (size_t)(d2 - seg) : n - pos;
        v = child(v, seg, sl);
        pos += sl;
    }
    return v;
}

static int put_value(struct render *r, const json_t *v, bool raw, bool url)
{
    char num[64];
    const char *s = "";
    size_t n = 0;
    int k;

    switch (json_typeof(v)) {
    case JSON_STRING:
        s = json_string_value(v);
        n = json_string_length(v);
        break;
    case JSON_INTEGER:
        k = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
        n = k > 0 && (size_t)k < sizeof num ? (size_t)k : 0;
        break;
    case JSON_REAL:
        k = snprintf(num, sizeof num, "%g", json_real_value(v));
        s = num;
        n = k > 0 && (size_t)k < sizeof num ? (size_t)k : 0;
        break;
    case JSON_TRUE:
        s = "true";
        n = 4;
        break;
    case JSON_FALSE:
        s = "false";
        n = 5;
        break;
    default:
        break;
    }
    if (url && !url_allowed(s, n)) {
        s = "#";
        n = 1;
    }
    return raw ? put(r, s, n) : put_escaped(r, s, n);
}

static bool truthy(const json_t *v)
{
    if (v == NULL)
        return false;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return true;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    case JSON_TRUE:
        return true;
    default:
        return false;
    }
}

static int render_tmpl(struct render *r, const struct tmpl *t);

static int push(struct render *r, const json_t *v)
{
    if (r->depth == STACK_MAX)
        return err_set(r->err, LUMI_EINVAL, "templates nested too deeply");
    r->stack[r->depth++] = v;
    return 0;
}

static int render_ops(struct render *r, const struct tmpl *t, size_t from, size_t to)
{
    int rc = 0;
    for (size_t i = from; i < to && rc == 0; i++) {
        const struct op *op = &t->ops[i];
        const char *s = t->src + op->off;
        const json_t *v;
        switch (op->kind) {
        case OP_TEXT:
            rc = put(r, s, op->len);
            break;
        case OP_VAR:
        case OP_RAW:
            v = lookup(r, s, op->len);
            if (v != NULL)
                rc = put_value(r, v, op->kind == OP_RAW, op->flags & OPF_URL);
            break;
        case OP_SECTION:
            v = lookup(r, s, op->len);
            if (json_is_array(v)) {
                for (size_t k = 0; k < json_array_size(v) && rc == 0; k++) {
                    rc = push(r, json_array_get(v, k));
                    if (rc == 0)
                        rc = render_ops(r, t, i + 1, op->arg);
                    r->depth--;
                }
            } else if (truthy(v)) {
                rc = push(r, v);
                if (rc == 0)
                    rc = render_ops(r, t, i + 1, op->arg);
                r->depth--;
            }
            i = op->arg;
            break;
        case OP_INVERTED:
            if (!truthy(lookup(r, s, op->len)))
                rc = render_ops(r, t, i + 1, op->arg);
            i = op->arg;
            break;
        case OP_PARTIAL: {
            const struct parsed *p = &g_parsed[op->arg];
            if (p->rc != 0) {
                if (r->err != NULL)
                    *r->err = p->err;
                rc = p->rc;
                break;
            }
            rc = render_tmpl(r, &p->t);
            break;
        }
        default: /* OP_END is always jumped over */
            break;
        }
    }
    return rc;
}

static int render_tmpl(struct render *r, const struct tmpl *t)
{
    struct buf body;
    json_t *ctx = NULL;
    struct buf *outer = r->out;
    int rc = 0;

    buf_init(&body, 0);
    if (r->nest >= TMPL_MAX_PARTIAL_DEPTH) {
        rc = err_set(r->err, LUMI_EINVAL,
                     "template '%s': partials and layouts nested deeper than %d (a loop?)", t->name,
                     TMPL_MAX_PARTIAL_DEPTH);
        goto out;
    }
    r->nest++;
    if (t->layout < 0) {
        rc = render_ops(r, t, 0, t->nops);
        r->nest--;
        goto out;
    }
    /* The body can only be as large as what is left of the page. */
    buf_init(&body, outer->max > outer->len ? outer->max - outer->len : 0);
    r->out = &body;
    rc = render_ops(r, t, 0, t->nops);
    r->out = outer;
    if (rc == 0) {
        const struct parsed *lp = &g_parsed[t->layout];
        ctx = json_object();
        json_t *content = json_stringn_nocheck(buf_cstr(&body), body.len);
        if (ctx == NULL || content == NULL ||
            json_object_set_new_nocheck(ctx, "content", content)) {
            rc = out_fail(r, LUMI_ENOMEM);
        } else if (lp->rc != 0) {
            if (r->err != NULL)
                *r->err = lp->err;
            rc = lp->rc;
        } else {
            rc = push(r, ctx);
            if (rc == 0) {
                rc = render_tmpl(r, &lp->t);
                r->depth--;
            }
        }
    }
    r->nest--;
out:
    json_decref(ctx);
    buf_free(&body);
    return rc;
}

static int render_top(const struct tmpl *t, const json_t *data, struct buf *out,
                      struct lumi_err *err)
{
    size_t before = out->len;
    struct render *r = malloc(sizeof *r);
    int rc;

    if (r == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory rendering template '%s'", t->name);
    r->out = out;
    r->depth = 0;
    r->nest = 0;
    r->max = out->max;
    r->err = err;
    if (data != NULL)
        r->stack[r->depth++] = data;
    rc = render_tmpl(r, t);
    free(r);
    if (rc != 0) {
        out->len = before;
        if (out->data != NULL)
            out->data[before] = '\0';
    }
    return rc;
}

int tmpl_render(const char *name, const json_t *data, struct buf *out, struct lumi_err *err)
{
    pthread_once(&g_once, init_once);
    if (g_parsed == NULL) {
        if (err != NULL)
            *err = g_init_err;
        return g_init_rc;
    }
    long idx = name ? find_template(name, strlen(name)) : -1;
    if (idx < 0)
        return err_set(err, LUMI_ENOTFOUND, "no template named '%.64s'", name ? name : "");
    const struct parsed *p = &g_parsed[idx];
    if (p->rc != 0) {
        if (err != NULL)
            *err = p->err;
        return p->rc;
    }
    return render_top(&p->t, data, out, err);
}

int tmpl_render_text(const char *text, size_t len, const json_t *data, struct buf *out,
                     struct lumi_err *err)
{
    struct tmpl t = {0};
    int rc;

    pthread_once(&g_once, init_once);
    if (g_parsed == NULL) {
        if (err != NULL)
            *err = g_init_err;
        return g_init_rc;
    }
    rc = tmpl_parse(&t, "<text>", text ? text : "", text ? len : 0, err);
    if (rc == 0)
        rc = render_top(&t, data, out, err);
    tmpl_release(&t);
    return rc;
}

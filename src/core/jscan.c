/*
 * jscan.c — one-pass JSON validation that builds only kept members (see jscan.h).
 *
 * Owns a hand-written recursive-descent parser whose accept/reject decision
 * mirrors jansson 2.14's json_loadb(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
 * followed by jsonx_parse()'s container depth bound. Anything jansson rejects
 * is rejected here, dropped members included: strings are checked for control
 * bytes, escapes, surrogate pairing, \u0000 and UTF-8 form; integers for
 * long long overflow; reals for overflow to infinity; every object for
 * duplicate decoded keys; every value for depth.
 *
 * One jansson quirk is reproduced on purpose: a single NUL byte right after
 * a number or literal is skipped (see skip_unget_nul), since jansson's
 * validity is the contract, not RFC 8259's.
 *
 * Memory: one parse owns a scratch arena (decoded keys of the objects still
 * open, the string or number being converted), a stack of key spans, the
 * filter path and a hash table for the duplicate check of large objects.
 * The arena is on the C stack for inputs up to ~4 KB and one allocation of
 * len + 16 bytes otherwise (every entry is a decoded copy of a disjoint span
 * of the input, so that always suffices); the others start on the C stack
 * and grow geometrically. Nothing is allocated per dropped value.
 * Recursion: one frame per nesting level, stopped at max_depth + 1 for
 * containers and at JSON_PARSER_MAX_DEPTH (jansson's own limit) overall.
 *
 * Threading: no shared state; any number of parses may run at once.
 */
#include "core/jscan.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

/* Small inputs (webhook events are ~3 KB) never touch the heap for scratch. */
#define LOCAL_ARENA 4096
#define LOCAL_SPANS 128
#define LOCAL_PATH 16
#define LOCAL_TABLE 256
/* Objects with more keys than this are checked for duplicates through a hash table. */
#define DUP_LINEAR_MAX 16

enum mode { M_DROP, M_BUILD, M_FILTER };

/* One key of an open object: decoded bytes (in the input when the key has no
 * escape, else in the arena) and where it starts, for the error message. */
struct span {
    const char *p;
    size_t len;
    size_t at;
};

/* A string token as scanned: raw body between the quotes. */
struct str {
    const char *raw;
    size_t len;
    bool esc;
};

struct scan {
    const unsigned char *p, *begin, *end;
    size_t max_depth;
    jscan_filter keep;
    void *kctx;
    /* first failure: offset and a constant reason */
    const char *why;
    size_t where;
    bool too_deep, nomem;
    char *arena;
    size_t used, cap;
    struct span *spans;
    size_t nspans, spans_cap;
    const char **path;
    size_t path_cap;
    uint32_t *table; /* duplicate check of large objects: indexes into spans */
    size_t table_cap;
    uint32_t table_local[LOCAL_TABLE];
    struct span spans_local[LOCAL_SPANS];
    const char *path_local[LOCAL_PATH];
};

/* Byte classes inside a string: 0 plain ASCII, 1 '"', 2 '\\', 3 control, 4 >= 0x80. */
static const unsigned char str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

static int fail_at(struct scan *s, const unsigned char *at, const char *why)
{
    if (s->why == NULL && !s->too_deep && !s->nomem) {
        s->why = why;
        s->where = (size_t)(at - s->begin);
    }
    return -1;
}

static int fail_nomem(struct scan *s)
{
    s->nomem = true;
    return -1;
}

static inline void skip_ws(struct scan *s)
{
    const unsigned char *p = s->p, *end = s->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    s->p = p;
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Four hex digits at q (the caller checked they are in bounds), or -1. */
static long hex4(const unsigned char *q)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_digit((char)q[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* One UTF-8 sequence at q (lead byte >= 0x80): its length, or 0 when it is
 * not the shortest form of a scalar value <= U+10FFFF (utf8.c's rules). */
static size_t utf8_len(const unsigned char *q, const unsigned char *end)
{
    unsigned char c = q[0];
    size_t n;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if ((size_t)(end - q) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((q[i] & 0xC0) != 0x80)
            return 0;
    if (c == 0xE0 && q[1] < 0xA0) /* overlong */
        return 0;
    if (c == 0xED && q[1] >= 0xA0) /* U+D800..DFFF */
        return 0;
    if (c == 0xF0 && q[1] < 0x90) /* overlong */
        return 0;
    if (c == 0xF4 && q[1] >= 0x90) /* above U+10FFFF */
        return 0;
    return n;
}

/* Scans the string token at s->p (a '"') and leaves s->p after its closing
 * quote. Validates everything jansson does; decoding is left to decode(). */
static int scan_string(struct scan *s, struct str *out)
{
    const unsigned char *q = s->p + 1, *end = s->end;
    bool esc = false;
    out->raw = (const char *)q;
    for (;;) {
        /* eight plain bytes at a time: none >= 0x80, < 0x20, '"' or '\\' */
        while (end - q >= 8) {
            const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
            uint64_t w, quote, bslash;
            memcpy(&w, q, 8);
            quote = w ^ (ones * '"');
            bslash = w ^ (ones * '\\');
            if (((w | ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
                  ((bslash - ones) & ~bslash)) &
                 high) != 0)
                break;
            q += 8;
        }
        while (q < end && str_class[*q] == 0)
            q++;
        if (q >= end)
            return fail_at(s, q, "premature end of input");
        switch (str_class[*q]) {
        case 1:
            out->len = (size_t)((const char *)q - out->raw);
            out->esc = esc;
            s->p = q + 1;
            return 0;
        case 2: {
            esc = true;
            if (end - q < 2)
                return fail_at(s, q, "premature end of input");
            unsigned char e = q[1];
            if (e != 'u') {
                if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                    e != 'r' && e != 't')
                    return fail_at(s, q, "invalid escape");
                q += 2;
                break;
            }
            long v = end - q >= 6 ? hex4(q + 2) : -1;
            if (v < 0)
                return fail_at(s, q, "invalid escape");
            if (v == 0)
                return fail_at(s, q, "\\u0000 is not allowed");
            if (v >= 0xDC00 && v <= 0xDFFF)
                return fail_at(s, q, "invalid Unicode escape (lone low surrogate)");
            if (v >= 0xD800 && v <= 0xDBFF) {
                long lo = (end - q >= 12 && q[6] == '\\' && q[7] == 'u') ? hex4(q + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(s, q, "invalid Unicode escape (unpaired surrogate)");
                q += 12;
            } else {
                q += 6;
            }
            break;
        }
        case 3:
            return fail_at(s, q, "control character in string");
        default: {
            size_t n = utf8_len(q, end);
            if (n == 0)
                return fail_at(s, q, "invalid UTF-8");
            q += n;
            break;
        }
        }
    }
}

/* Writes the decoded form of a scanned string with escapes to dst (room for
 * src->len bytes: decoding never grows) and returns its length. */
static size_t decode(const struct str *src, char *dst)
{
    const unsigned char *q = (const unsigned char *)src->raw, *end = q + src->len;
    unsigned char *t = (unsigned char *)dst;
    while (q < end) {
        if (*q != '\\') {
            *t++ = *q++;
            continue;
        }
        unsigned char e = q[1];
        if (e != 'u') {
            switch (e) {
            case 'b':
                *t++ = '\b';
                break;
            case 'f':
                *t++ = '\f';
                break;
            case 'n':
                *t++ = '\n';
                break;
            case 'r':
                *t++ = '\r';
                break;
            case 't':
                *t++ = '\t';
                break;
            default:
                *t++ = e;
                break;
            }
            q += 2;
            continue;
        }
        unsigned long v = (unsigned long)hex4(q + 2);
        q += 6;
        if (v >= 0xD800 && v <= 0xDBFF) {
            unsigned long lo = (unsigned long)hex4(q + 2);
            q += 6;
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (v < 0x80) {
            *t++ = (unsigned char)v;
        } else if (v < 0x800) {
            *t++ = (unsigned char)(0xC0 | (v >> 6));
            *t++ = (unsigned char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            *t++ = (unsigned char)(0xE0 | (v >> 12));
            *t++ = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
            *t++ = (unsigned char)(0x80 | (v & 0x3F));
        } else {
            *t++ = (unsigned char)(0xF0 | (v >> 18));
            *t++ = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
            *t++ = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
            *t++ = (unsigned char)(0x80 | (v & 0x3F));
        }
    }
    return (size_t)((char *)t - dst);
}

/* Room for n more bytes at the top of the arena. By construction (every use
 * is a decoded copy of a disjoint input span) this never fails; the check
 * keeps a bug from becoming an overflow. */
static char *arena_room(struct scan *s, size_t n)
{
    if (n > s->cap - s->used) {
        fail_at(s, s->p, "internal scratch overflow");
        return NULL;
    }
    return s->arena + s->used;
}

/* jansson quirk, reproduced for exact validity: a number or literal ends
 * when the lexer reads one byte too many and puts it back; its stream
 * buffer is NUL-terminated, so a NUL put back is lost and the byte after it
 * read instead. One NUL right after a number or literal is thus skipped. */
static inline void skip_unget_nul(struct scan *s)
{
    if (s->p < s->end && *s->p == '\0')
        s->p++;
}

static int scan_number(struct scan *s, json_t **out)
{
    const unsigned char *q = s->p, *end = s->end, *start = q, *digits;
    bool neg = false, real = false, has_exp = false;
    if (*q == '-') {
        neg = true;
        q++;
    }
    digits = q;
    if (q >= end || !is_digit(*q))
        return fail_at(s, start, "invalid token");
    if (*q == '0') {
        q++;
        if (q < end && is_digit(*q))
            return fail_at(s, start, "invalid token");
    } else {
        while (q < end && is_digit(*q))
            q++;
    }
    size_t int_digits = (size_t)(q - digits);
    if (q < end && *q == '.') {
        real = true;
        q++;
        if (q >= end || !is_digit(*q))
            return fail_at(s, start, "invalid token");
        while (q < end && is_digit(*q))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        real = has_exp = true;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || !is_digit(*q))
            return fail_at(s, start, "invalid token");
        while (q < end && is_digit(*q))
            q++;
    }
    s->p = q;
    skip_unget_nul(s);
    if (!real) {
        /* json_int_t is long long: at most 19 digits, and 19 only up to the limit. */
        if (int_digits > 19 ||
            (int_digits == 19 &&
             memcmp(digits, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0))
            return fail_at(s, start, "integer out of range");
        if (out == NULL)
            return 0;
        uint64_t u = 0;
        for (const unsigned char *d = digits; d < q; d++)
            u = u * 10 + (uint64_t)(*d - '0');
        json_int_t v;
        if (!neg)
            v = (json_int_t)u;
        else if (u == (uint64_t)INT64_MAX + 1)
            v = INT64_MIN;
        else
            v = -(json_int_t)u;
        *out = json_integer(v);
        return *out != NULL ? 0 : fail_nomem(s);
    }
    /* Without an exponent and with at most 300 integer digits the value is
     * below DBL_MAX: a dropped real needs no conversion. */
    if (out == NULL && !has_exp && int_digits <= 300)
        return 0;
    size_t n = (size_t)(q - start);
    char *tmp = arena_room(s, n + 1);
    if (tmp == NULL)
        return -1;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL); /* the process runs in the C locale (STYLE.md) */
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
        return fail_at(s, start, "real number overflow");
    if (out == NULL)
        return 0;
    *out = json_real(v);
    return *out != NULL ? 0 : fail_nomem(s);
}

static int scan_literal(struct scan *s, const char *word, size_t n, json_t **out)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail_at(s, s->p, "invalid token");
    s->p += n;
    skip_unget_nul(s);
    if (out == NULL)
        return 0;
    *out = word[0] == 't' ? json_true() : word[0] == 'f' ? json_false() : json_null();
    return 0;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->p, y->p, x->len);
}

static inline bool span_eq(const struct span *x, const struct span *y)
{
    return x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

/* A multiply-xor hash of the decoded key, eight bytes at a time. Not seeded:
 * crafted collisions only make the probe count grow, and check_duplicates
 * falls back to sorting then. */
static uint32_t key_hash(const struct span *k)
{
    const uint64_t m = 0x9E3779B97F4A7C15u;
    uint64_t h = (uint64_t)k->len * m, w;
    const char *p = k->p;
    size_t n = k->len;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * m;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * m;
    h ^= h >> 29;
    return (uint32_t)h;
}

static int sorted_check(struct scan *s, struct span *k, size_t n)
{
    qsort(k, n, sizeof *k, span_cmp);
    for (size_t i = 1; i < n; i++)
        if (span_eq(&k[i - 1], &k[i]))
            return fail_at(s, s->begin + k[i].at, "duplicate object key");
    return 0;
}

/* Duplicate decoded keys among spans[base..nspans): pairwise for the small
 * objects that are the rule, an open-addressing table of span indexes for
 * larger ones, and sorting (O(n log n) whatever the keys) when the table
 * probes too much. */
static int check_duplicates(struct scan *s, size_t base)
{
    struct span *k = s->spans + base;
    size_t n = s->nspans - base;
    if (n <= DUP_LINEAR_MAX) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (span_eq(&k[i], &k[j]))
                    return fail_at(s, s->begin + k[i].at, "duplicate object key");
        return 0;
    }
    if (n >= UINT32_MAX / 4)
        return sorted_check(s, k, n);
    size_t size = 64;
    while (size < 2 * n)
        size *= 2;
    if (size > s->table_cap) {
        uint32_t *grown = malloc(size * sizeof *grown);
        if (grown == NULL)
            return fail_nomem(s);
        if (s->table != s->table_local)
            free(s->table);
        s->table = grown;
        s->table_cap = size;
    }
    memset(s->table, 0xff, size * sizeof *s->table);
    size_t probes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t slot = key_hash(&k[i]) & (size - 1);
        while (s->table[slot] != UINT32_MAX) {
            if (span_eq(&k[s->table[slot]], &k[i]))
                return fail_at(s, s->begin + k[i].at, "duplicate object key");
            if (++probes > 8 * n)
                return sorted_check(s, k, n);
            slot = (slot + 1) & (size - 1);
        }
        s->table[slot] = (uint32_t)i;
    }
    return 0;
}

static int push_span(struct scan *s, const char *p, size_t len, size_t at)
{
    if (s->nspans == s->spans_cap) {
        size_t cap = s->spans_cap * 2;
        struct span *grown;
        if (s->spans == s->spans_local) {
            grown = malloc(cap * sizeof *grown);
            if (grown != NULL)
                memcpy(grown, s->spans, s->nspans * sizeof *grown);
        } else {
            grown = realloc(s->spans, cap * sizeof *grown);
        }
        if (grown == NULL)
            return fail_nomem(s);
        s->spans = grown;
        s->spans_cap = cap;
    }
    s->spans[s->nspans++] = (struct span){p, len, at};
    return 0;
}

static int set_path(struct scan *s, size_t i, const char *key)
{
    if (i >= s->path_cap) {
        size_t cap = s->path_cap * 2;
        const char **grown;
        if (s->path == s->path_local) {
            grown = malloc(cap * sizeof *grown);
            if (grown != NULL)
                memcpy(grown, s->path, s->path_cap * sizeof *grown);
        } else {
            grown = realloc(s->path, cap * sizeof *grown);
        }
        if (grown == NULL)
            return fail_nomem(s);
        s->path = grown;
        s->path_cap = cap;
    }
    s->path[i] = key;
    return 0;
}

static int scan_value(struct scan *s, size_t depth, enum mode mode, size_t pdepth, json_t **out);

static enum jscan_kind kind_at(const struct scan *s)
{
    if (s->p < s->end && *s->p == '{')
        return JSCAN_OBJECT;
    if (s->p < s->end && *s->p == '[')
        return JSCAN_ARRAY;
    return JSCAN_SCALAR;
}

/* After a member or element: 0 at a ',' (consumed), 1 at `close` (consumed), -1 (failed). */
static int after_member(struct scan *s, char close)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
        s->p++;
        skip_ws(s);
        return 0;
    }
    if (s->p < s->end && *s->p == (unsigned char)close) {
        s->p++;
        return 1;
    }
    return fail_at(s, s->p, close == '}' ? "'}' expected" : "']' expected");
}

/* s->p at '{'. In M_FILTER mode path[0..pdepth) leads here. */
static int scan_object(struct scan *s, size_t depth, enum mode mode, size_t pdepth, json_t **out)
{
    json_t *obj = NULL;
    size_t base = s->nspans, mark = s->used;
    int rc = -1;
    if (mode != M_DROP) {
        obj = json_object();
        if (obj == NULL)
            return fail_nomem(s);
    }
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        goto done;
    }
    for (;;) {
        struct str k;
        const unsigned char *kat = s->p;
        const char *key;
        size_t klen;
        json_t *v = NULL;
        enum mode child = mode;
        if (s->p >= s->end || *s->p != '"') {
            fail_at(s, s->p, "string or '}' expected");
            goto out;
        }
        if (scan_string(s, &k) != 0)
            goto out;
        if (mode == M_FILTER || k.esc) {
            /* decoded copy, NUL-terminated for the filter; it stays until the
             * object closes because the duplicate check reads it */
            char *dst = arena_room(s, k.len + 1);
            if (dst == NULL)
                goto out;
            klen = k.esc ? decode(&k, dst) : k.len;
            if (!k.esc)
                memcpy(dst, k.raw, k.len);
            dst[klen] = '\0';
            s->used += klen + 1;
            key = dst;
        } else {
            key = k.raw;
            klen = k.len;
        }
        if (push_span(s, key, klen, (size_t)(kat - s->begin)) != 0)
            goto out;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') {
            fail_at(s, s->p, "':' expected");
            goto out;
        }
        s->p++;
        skip_ws(s);
        size_t child_pdepth = pdepth;
        if (mode == M_FILTER) {
            enum jscan_kind kind = kind_at(s);
            enum jscan_keep r = s->keep((const char *const *)s->path, pdepth, key, kind, s->kctx);
            if (r == JSCAN_DROP) {
                child = M_DROP;
            } else if (r == JSCAN_DESCEND && kind == JSCAN_OBJECT) {
                if (set_path(s, pdepth, key) != 0)
                    goto out;
                child_pdepth = pdepth + 1;
            } else {
                child = M_BUILD;
            }
        }
        if (scan_value(s, depth + 1, child, child_pdepth, child == M_DROP ? NULL : &v) != 0)
            goto out;
        if (v != NULL && json_object_setn_new_nocheck(obj, key, klen, v) != 0) {
            fail_nomem(s);
            goto out;
        }
        int next = after_member(s, '}');
        if (next < 0)
            goto out;
        if (next == 1)
            break;
    }
    if (check_duplicates(s, base) != 0)
        goto out;
done:
    if (out != NULL) {
        *out = obj;
        obj = NULL;
    }
    rc = 0;
out:
    json_decref(obj);
    s->nspans = base;
    s->used = mark;
    return rc;
}

/* s->p at '['. Elements of a built array are built whole. */
static int scan_array(struct scan *s, size_t depth, enum mode mode, json_t **out)
{
    json_t *arr = NULL;
    int rc = -1;
    enum mode child = mode == M_DROP ? M_DROP : M_BUILD;
    if (mode != M_DROP) {
        arr = json_array();
        if (arr == NULL)
            return fail_nomem(s);
    }
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        goto done;
    }
    for (;;) {
        json_t *v = NULL;
        if (scan_value(s, depth + 1, child, 0, arr != NULL ? &v : NULL) != 0)
            goto out;
        if (v != NULL && json_array_append_new(arr, v) != 0) {
            fail_nomem(s);
            goto out;
        }
        int next = after_member(s, ']');
        if (next < 0)
            goto out;
        if (next == 1)
            break;
    }
done:
    if (out != NULL) {
        *out = arr;
        arr = NULL;
    }
    rc = 0;
out:
    json_decref(arr);
    return rc;
}

/* One value at s->p (whitespace already skipped), at jansson depth `depth`
 * (the root value is 1; a container's depth is also its nesting level).
 * out is NULL when the value is only validated. */
static int scan_value(struct scan *s, size_t depth, enum mode mode, size_t pdepth, json_t **out)
{
    if (s->p >= s->end)
        return fail_at(s, s->p, "premature end of input");
    if (depth > JSON_PARSER_MAX_DEPTH)
        return fail_at(s, s->p, "maximum parsing depth reached");
    switch (*s->p) {
    case '{':
    case '[':
        if (depth > s->max_depth) {
            s->too_deep = true;
            return -1;
        }
        if (*s->p == '[')
            return scan_array(s, depth, mode, out);
        return scan_object(s, depth, mode, pdepth, out);
    case '"': {
        struct str str;
        if (scan_string(s, &str) != 0)
            return -1;
        if (out == NULL)
            return 0;
        if (!str.esc) {
            *out = json_stringn_nocheck(str.raw, str.len);
        } else {
            char *tmp = arena_room(s, str.len);
            if (tmp == NULL)
                return -1;
            *out = json_stringn_nocheck(tmp, decode(&str, tmp));
        }
        return *out != NULL ? 0 : fail_nomem(s);
    }
    case 't':
        return scan_literal(s, "true", 4, out);
    case 'f':
        return scan_literal(s, "false", 5, out);
    case 'n':
        return scan_literal(s, "null", 4, out);
    default:
        if (*s->p == '-' || is_digit(*s->p))
            return scan_number(s, out);
        return fail_at(s, s->p, "invalid token");
    }
}

json_t *jscan_parse(const char *data, size_t len, size_t max_depth, jscan_filter keep, void *ctx,
                    struct lumi_err *err)
{
    char local_arena[LOCAL_ARENA];
    struct scan s;
    json_t *v = NULL;

    if (data == NULL)
        len = 0;
    memset(&s, 0, offsetof(struct scan, table_local));
    s.begin = s.p = (const unsigned char *)(data != NULL ? data : "");
    s.end = s.begin + len;
    s.max_depth = max_depth;
    s.keep = keep;
    s.kctx = ctx;
    s.spans = s.spans_local;
    s.spans_cap = LOCAL_SPANS;
    s.path = s.path_local;
    s.path_cap = LOCAL_PATH;
    s.table = s.table_local;
    s.table_cap = LOCAL_TABLE;
    s.arena = local_arena;
    s.cap = sizeof local_arena;
    if (len > sizeof local_arena - 16) {
        s.cap = len + 16;
        s.arena = malloc(s.cap);
        if (s.arena == NULL) {
            err_set(err, LUMI_ENOMEM, "out of memory parsing JSON");
            return NULL;
        }
    }

    skip_ws(&s);
    if (scan_value(&s, 1, keep != NULL ? M_FILTER : M_BUILD, 0, &v) == 0) {
        skip_ws(&s);
        if (s.p != s.end) {
            fail_at(&s, s.p, "end of file expected");
            json_decref(v);
            v = NULL;
        }
    }
    if (v == NULL) {
        if (s.nomem)
            err_set(err, LUMI_ENOMEM, "out of memory parsing JSON");
        else if (s.too_deep)
            err_set(err, LUMI_EINVAL, "JSON nested deeper than %zu levels", max_depth);
        else
            err_set(err, LUMI_EINVAL, "invalid JSON at offset %zu: %s", s.where,
                    s.why != NULL ? s.why : "invalid token");
    }
    if (s.arena != local_arena)
        free(s.arena);
    if (s.spans != s.spans_local)
        free(s.spans);
    if (s.path != s.path_local)
        free((void *)s.path);
    if (s.table != s.table_local)
        free(s.table);
    return v;
}

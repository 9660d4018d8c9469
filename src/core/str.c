/*
 * str.c — string helpers and the bounded number parser (see str.h).
 */
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int str_to_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || len == 0)
        return LUMI_EINVAL;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return LUMI_EINVAL;
    }
    /* Accumulate as a negative number so INT64_MIN is representable. */
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return LUMI_EINVAL;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return LUMI_EINVAL;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return LUMI_EINVAL;
        v = -v;
    }
    if (v < min || v > max)
        return LUMI_EINVAL;
    *out = v;
    return 0;
}

int str_to_i64z(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL)
        return LUMI_EINVAL;
    return str_to_i64(s, strlen(s), min, max, out);
}

size_t str_copy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size > 0) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

char *str_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *str_ndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

const char *str_digit_span(const char *s, size_t *len)
{
    const char *first = NULL, *last = NULL;
    *len = 0;
    for (const char *p = s; p != NULL && *p != '\0'; p++)
        if (*p >= '0' && *p <= '9') {
            if (first == NULL)
                first = p;
            last = p;
        }
    if (first == NULL || last - first + 1 < 3 || (first == s && last[1] == '\0'))
        return NULL;
    *len = (size_t)(last - first + 1);
    return first;
}

bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool str_eq_nocase(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return false;
    return *a == *b;
}

bool str_starts_with(const char *s, const char *prefix)
{
    return s && prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

char *str_lower(char *s)
{
    for (char *p = s; p && *p; p++)
        *p = lower(*p);
    return s;
}

bool str_present(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return true;
    return false;
}

int hex_encode(const void *p, size_t n, char *out, size_t outsz)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    if (outsz < 2 * n + 1)
        return LUMI_EINVAL;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
    return 0;
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *hex, size_t len, void *out, size_t outsz)
{
    unsigned char *o = out;
    if (len % 2 != 0 || len / 2 > outsz)
        return LUMI_EINVAL;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return LUMI_EINVAL;
        o[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

char *str_url_decode(const char *s, size_t len, bool plus_is_space)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hex_digit(s[i + 1]) >= 0 &&
                   hex_digit(s[i + 2]) >= 0) {
            out[o++] = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

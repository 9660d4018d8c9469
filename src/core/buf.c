/*
 * buf.c — bounded growable buffers (see buf.h). One owner, no locking.
 */
#include "core/buf.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Makes room for `extra` more bytes plus the terminating NUL. */
static int reserve(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return LUMI_ETOOLARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256; /* most buffers are a few hundred bytes */
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = malloc(cap);
    if (p == NULL)
        return LUMI_ENOMEM;
    /* Copy instead of realloc so that an old copy of a secret is wiped. */
    if (b->data != NULL) {
        memcpy(p, b->data, b->len + 1);
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return LUMI_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

char *buf_steal(struct buf *b)
{
    char *p = b->data;
    if (p == NULL) {
        p = malloc(1);
        if (p != NULL)
            p[0] = '\0';
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void buf_reset(struct buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        b->data[0] = '\0';
    }
    b->len = 0;
}

void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int buf_read_file(struct buf *b, const char *path, struct lumi_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? 1
                               : err_set(err, LUMI_EIO, "%s: cannot open: %s", path,
                                         strerror(errno));
    int rc = 0;
    char chunk[4096];
    size_t n;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(b, chunk, n);
    if (rc == LUMI_ETOOLARGE)
        rc = err_set(err, LUMI_ETOOLARGE, "%s: larger than %zu bytes", path, b->max);
    else if (rc != 0)
        rc = err_set(err, rc, "%s: out of memory", path);
    else if (ferror(f))
        rc = err_set(err, LUMI_EIO, "%s: read error", path);
    sodium_memzero(chunk, sizeof chunk);
    fclose(f);
    return rc;
}

/*
 * buf.h — growable byte buffers with a mandatory maximum size (after curl's dynbuf).
 *
 * A buffer never grows past the `max` given at init: appending beyond it fails
 * with LUMI_ETOOLARGE and leaves the contents unchanged. The data is always
 * NUL-terminated so it can be used as a C string. Not thread-safe; a buffer
 * belongs to one owner.
 */
#ifndef LUMI_CORE_BUF_H
#define LUMI_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct buf {
    char *data;  /* NULL until the first append; use buf_cstr() for a string */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard limit on len */
};

/** Prepares an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/** Appends n bytes. 0, LUMI_ETOOLARGE (over max) or LUMI_ENOMEM; on error b is unchanged. */
int buf_append(struct buf *b, const void *p, size_t n);

/** Appends a NUL-terminated string. */
int buf_append_str(struct buf *b, const char *s);

/** Appends one byte. */
int buf_append_char(struct buf *b, char c);

/** Appends printf-formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/** The contents as a C string (borrowed; "" when empty). */
const char *buf_cstr(const struct buf *b);

/** Takes ownership of the contents (caller frees; never NULL unless out of memory)
 *  and leaves b empty with the same max. */
char *buf_steal(struct buf *b);

/** Empties b but keeps its allocation. */
void buf_reset(struct buf *b);

/**
 * Appends the whole file at path to b. 0; 1 when the file does not exist (b
 * unchanged, err clear); LUMI_ETOOLARGE ("PATH: larger than MAX bytes"),
 * LUMI_EIO ("PATH: cannot open: …" / "PATH: read error") or LUMI_ENOMEM with
 * err filled. What was read is wiped from the stack (files may hold secrets).
 */
int buf_read_file(struct buf *b, const char *path, struct lumi_err *err);

/** Frees the contents (zeroing them first: buffers may hold secrets). b may be NULL. */
void buf_free(struct buf *b);

#endif

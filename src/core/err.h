/*
 * err.h — errors as values.
 *
 * Fallible functions return 0 on success or a negative LUMI_E* code, and fill
 * an optional caller-owned `struct lumi_err` whose message an admin can act on
 * ("field 'price' must be an integer ≥ 0", not "EINVAL"). A NULL err is allowed
 * everywhere: the code is still returned.
 */
#ifndef LUMI_CORE_ERR_H
#define LUMI_CORE_ERR_H

#include <stdbool.h>

enum lumi_errcode {
    LUMI_OK = 0,
    LUMI_EINVAL = -1,     /* bad input from the caller (→ 400 invalid_request) */
    LUMI_ENOTFOUND = -2,  /* no such thing (→ 404 not_found) */
    LUMI_ECONFLICT = -3,  /* unique key or state conflict (→ 409 conflict) */
    LUMI_EAUTH = -4,      /* not authenticated (→ 401 unauthorized) */
    LUMI_EFORBIDDEN = -5, /* authenticated but not allowed (→ 403 forbidden) */
    LUMI_ETOOLARGE = -6,  /* a size limit was hit (→ 413) */
    LUMI_ETHROTTLED = -7, /* too many attempts (→ 429) */
    LUMI_EDB = -8,        /* database failure (→ 500 / 503) */
    LUMI_EIO = -9,        /* file or network I/O failure */
    LUMI_ENOMEM = -10,    /* allocation failed */
    LUMI_EUPSTREAM = -11, /* an upstream API failed (→ 502 upstream_error) */
    LUMI_EBUSY = -12,     /* temporarily unavailable, try again (→ 503) */
    LUMI_EINTERNAL = -13, /* broken invariant (→ 500 internal_error) */
};

#define LUMI_ERR_MSG_MAX 512

struct lumi_err {
    int code;                    /* one of enum lumi_errcode */
    char msg[LUMI_ERR_MSG_MAX];  /* readable, never contains a secret */
    bool internal;               /* msg is a database's own text (err_set_internal): for the
                                    log and for signed-in callers, not for anonymous ones */
};

/** Clears *e (e may be NULL). */
void err_clear(struct lumi_err *e);

/**
 * Records code and a printf-style message in *e (e may be NULL) and returns
 * code, so callers can write `return err_set(err, LUMI_EINVAL, "...")`.
 * A message too long for the buffer is truncated, never overflowed.
 */
int err_set(struct lumi_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Machine-readable name of a code for the API envelope ("invalid_request", …). */
/** err_set for a message quoting a database's own text (marks err->internal). */
int err_set_internal(struct lumi_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *err_code_name(int code);

/** HTTP status that a code maps to (400, 404, 409, 401, 403, 413, 429, 500, 502, 503). */
int err_http_status(int code);

#endif

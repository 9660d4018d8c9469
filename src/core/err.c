/*
 * err.c — error values (see err.h). Stateless and thread-safe.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct lumi_err *e)
{
    if (e == NULL)
        return;
    e->code = LUMI_OK;
    e->msg[0] = '\0';
}

int err_set(struct lumi_err *e, int code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    e->code = code;
    e->internal = false;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        e->msg[0] = '\0';
    return code;
}

int err_set_internal(struct lumi_err *e, int code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    e->code = code;
    e->internal = true;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        e->msg[0] = '\0';
    return code;
}

struct code_info {
    int code;
    const char *name;
    int status;
};

static const struct code_info codes[] = {
    {LUMI_EINVAL, "invalid_request", 400},
    {LUMI_ENOTFOUND, "not_found", 404},
    {LUMI_ECONFLICT, "conflict", 409},
    {LUMI_EAUTH, "unauthorized", 401},
    {LUMI_EFORBIDDEN, "forbidden", 403},
    {LUMI_ETOOLARGE, "payload_too_large", 413},
    {LUMI_ETHROTTLED, "too_many_requests", 429},
    {LUMI_EDB, "internal_error", 500},
    {LUMI_EIO, "internal_error", 500},
    {LUMI_ENOMEM, "internal_error", 500},
    {LUMI_EUPSTREAM, "upstream_error", 502},
    {LUMI_EBUSY, "unavailable", 503},
    {LUMI_EINTERNAL, "internal_error", 500},
};

static const struct code_info *find(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code)
            return &codes[i];
    return NULL;
}

const char *err_code_name(int code)
{
    const struct code_info *ci = find(code);
    return ci ? ci->name : "internal_error";
}

int err_http_status(int code)
{
    const struct code_info *ci = find(code);
    return ci ? ci->status : 500;
}

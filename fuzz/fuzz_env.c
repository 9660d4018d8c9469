/*
 * fuzz_env.c — the .env parser (env_parse) on arbitrary bytes.
 *
 * Invariants checked (abort on violation): every entry handed to the
 * callback has a valid, NUL-terminated key ([A-Za-z_][A-Za-z0-9_]*) and a
 * NUL-terminated value no longer than the input; a failure is LUMI_EINVAL
 * with a "line N: " message that names a line that exists. Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

struct fuzz_ctx {
    size_t size;
    size_t entries;
};

static int is_key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_key_char(char c)
{
    return is_key_start(c) || (c >= '0' && c <= '9');
}

static int check_entry(const char *key, const char *value, void *arg)
{
    struct fuzz_ctx *ctx = arg;
    size_t klen = strnlen(key, ctx->size + 1);
    size_t vlen = strnlen(value, ctx->size + 1);
    if (klen == 0 || klen > ctx->size || !is_key_start(key[0]))
        abort();
    for (size_t i = 1; i < klen; i++)
        if (!is_key_char(key[i]))
            abort();
    /* A key and '=' precede the value on its line. */
    if (vlen + klen + 1 > ctx->size)
        abort();
    ctx->entries++;
    return 0;
}

static size_t count_lines(const uint8_t *data, size_t size)
{
    size_t n = size > 0 ? 1 : 0;
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '\n')
            n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_ctx ctx = {.size = size, .entries = 0};
    struct lumi_err err;
    err_clear(&err);
    int rc = env_parse((const char *)data, size, check_entry, &ctx, &err);
    if (rc == 0)
        return 0;
    if (rc != LUMI_EINVAL || err.code != LUMI_EINVAL || strncmp(err.msg, "line ", 5) != 0)
        abort();
    unsigned long line = strtoul(err.msg + 5, NULL, 10);
    if (line == 0 || line > count_lines(data, size))
        abort();
    return 0;
}

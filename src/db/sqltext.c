/*
 * sqltext.c — finding $n parameters in SQL text (see driver.h).
 *
 * Owns the one small lexer both drivers rely on: the SQLite driver rewrites
 * $n to ?n (in SQLite "$1" is a *named* parameter numbered by first
 * appearance, so "$2 … $1" would silently swap values), and the PostgreSQL
 * driver needs the parameter count for PQexecParams. Pure functions,
 * thread-safe. Caveat: PostgreSQL E'…' strings with backslash escapes are
 * lexed as plain literals; Lumi's SQL does not use them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/str.h"
#include "db/driver.h"

typedef void (*param_fn)(void *ctx, size_t pos, const char *digits, size_t ndigits);

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || (unsigned char)c >= 0x80;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Index just past a quoted run starting at sql[i] == q; a doubled quote is an escape. */
static size_t skip_quoted(const char *sql, size_t i, char q)
{
    i++;
    while (sql[i] != '\0') {
        if (sql[i] == q) {
            if (sql[i + 1] != q)
                return i + 1;
            i++;
        }
        i++;
    }
    return i;
}

static size_t skip_line_comment(const char *sql, size_t i)
{
    while (sql[i] != '\0' && sql[i] != '\n')
        i++;
    return i;
}

static size_t skip_block_comment(const char *sql, size_t i)
{
    i += 2;
    while (sql[i] != '\0') {
        if (sql[i] == '*' && sql[i + 1] == '/')
            return i + 2;
        i++;
    }
    return i;
}

/* Length of a dollar-quote tag "$tag$" starting at sql[i] == '$', or 0 if there is none. */
static size_t dollar_tag_len(const char *sql, size_t i)
{
    size_t j = i + 1;
    if (is_digit(sql[j]))
        return 0;
    while (sql[j] != '\0' && sql[j] != '$' && is_ident_char(sql[j]))
        j++;
    return sql[j] == '$' ? j - i + 1 : 0;
}

/* Index just past the closing tag of a dollar-quoted string opened at sql[i]. */
static size_t skip_dollar_quoted(const char *sql, size_t i, size_t taglen)
{
    const char *tag = sql + i;
    size_t j = i + taglen;
    while (sql[j] != '\0') {
        if (strncmp(sql + j, tag, taglen) == 0)
            return j + taglen;
        j++;
    }
    return j;
}

/* Calls fn for each $n parameter outside literals, identifiers and comments. */
static void walk(const char *sql, param_fn fn, void *ctx)
{
    size_t i = 0;
    while (sql[i] != '\0') {
        char c = sql[i];
        if (c == '\'' || c == '"') {
            i = skip_quoted(sql, i, c);
        } else if (c == '-' && sql[i + 1] == '-') {
            i = skip_line_comment(sql, i);
        } else if (c == '/' && sql[i + 1] == '*') {
            i = skip_block_comment(sql, i);
        } else if (c == '$' && i > 0 && is_ident_char(sql[i - 1])) {
            i++; /* part of an identifier such as a$1 */
        } else if (c == '$' && is_digit(sql[i + 1])) {
            size_t j = i + 1;
            while (is_digit(sql[j]))
                j++;
            fn(ctx, i, sql + i + 1, j - i - 1);
            i = j;
        } else if (c == '$' && dollar_tag_len(sql, i) > 0) {
            i = skip_dollar_quoted(sql, i, dollar_tag_len(sql, i));
        } else {
            i++;
        }
    }
}

struct max_ctx {
    int max;
    int limit;
    bool too_big;
};

static void note_max(void *ctx, size_t pos, const char *digits, size_t ndigits)
{
    struct max_ctx *m = ctx;
    int64_t n = 0;
    if (str_to_i64(digits, ndigits, 1, m->limit, &n) != 0) {
        m->too_big = true;
        return;
    }
    if (n > m->max)
        m->max = (int)n;
}

int sql_max_param(const char *sql, int max, int *out)
{
    struct max_ctx m = {.max = 0, .limit = max, .too_big = false};
    walk(sql, note_max, &m);
    if (m.too_big)
        return LUMI_EINVAL;
    *out = m.max;
    return 0;
}

static void to_question(void *ctx, size_t pos, const char *digits, size_t ndigits)
{
    char *copy = ctx;
    copy[pos] = '?';
}

char *sql_dollar_to_question(const char *sql)
{
    /* "$n" and "?n" have the same length, so the rewrite is done in place on a copy. */
    char *copy = str_dup(sql);
    if (copy == NULL)
        return NULL;
    walk(sql, to_question, copy);
    return copy;
}

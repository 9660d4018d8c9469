/*
 * password.c — the password rules (see password.h) and the embedded list of
 * common passwords ("data/common-passwords.txt" in the embedded file table,
 * cmake/Embed.cmake; one password a line). The list is scanned line by line:
 * a check runs only where a password is set, next to an argon2id hash that
 * costs far more.
 *
 * The list: SecLists' Passwords/Common-Credentials/10k-most-common.txt (MIT
 * licence, github.com/danielmiessler/SecLists) — its first ~2,000 entries as
 * they are, and of the rest those of 8 characters or more (a shorter one is
 * refused by the length rule anyway). One password a line, no comments.
 *
 * Threading: no state; the embedded table is read-only.
 */
#include "core/password.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/tmpl.h"

#define COMMON_LIST "data/common-passwords.txt"

bool password_is_common(const char *pw)
{
    const struct tmpl_file *f = tmpl_file_find(COMMON_LIST);
    size_t n = strlen(pw);
    if (f == NULL || n == 0)
        return false;
    const char *p = f->data, *end = f->data + f->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl != NULL ? nl : end) - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (len == n && strncasecmp(p, pw, n) == 0)
            return true;
        p = nl != NULL ? nl + 1 : end;
    }
    return false;
}

static bool only_space(const char *pw)
{
    for (const unsigned char *p = (const unsigned char *)pw; *p != '\0'; p++)
        if (!isspace(*p))
            return false;
    return true;
}

int password_check(const char *pw, bool staff, const char *field, struct lumi_err *err)
{
    size_t n = pw != NULL ? strlen(pw) : 0;
    int min = staff ? PASSWORD_MIN_STAFF : PASSWORD_MIN_CLIENT;
    if (n < (size_t)min || n > PASSWORD_MAX)
        return err_set(err, LUMI_EINVAL, "field '%s' must be %d to %d characters long", field, min,
                       PASSWORD_MAX);
    if (only_space(pw))
        return err_set(err, LUMI_EINVAL, "field '%s' must not be only spaces", field);
    if (password_is_common(pw))
        return err_set(err, LUMI_EINVAL,
                       "field '%s' is one of the most common passwords, which are guessed "
                       "first; choose another",
                       field);
    return 0;
}

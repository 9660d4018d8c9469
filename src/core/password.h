/*
 * password.h — the rules every new password must meet, in one place: every
 * path that sets a password (an admin or staff member made with `lumi admin
 * create`, a client made or changed by an admin, a sign-up, a reset, a
 * change) calls password_check before hashing.
 *
 * Rules: at least PASSWORD_MIN_STAFF bytes for admins and staff,
 * PASSWORD_MIN_CLIENT for clients, at most PASSWORD_MAX; not only
 * whitespace; not one of the most common passwords (data/common-passwords.txt,
 * embedded into the binary; compared without regard to case).
 */
#ifndef LUMI_CORE_PASSWORD_H
#define LUMI_CORE_PASSWORD_H

#include <stdbool.h>

#include "core/err.h"

#define PASSWORD_MIN_CLIENT 8
#define PASSWORD_MIN_STAFF 10
#define PASSWORD_MAX 1024

/**
 * 0 when pw may be set for an account (staff: an admin or staff member);
 * LUMI_EINVAL naming field and saying which rule it breaks otherwise.
 */
int password_check(const char *pw, bool staff, const char *field, struct lumi_err *err);

/** true when pw (any case) is in the embedded list of common passwords. */
bool password_is_common(const char *pw);

#endif

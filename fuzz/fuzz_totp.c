/*
 * fuzz_totp.c — the TOTP parsers of outside input: totp_base32_decode on the
 * raw bytes (as a pasted or stored secret), totp_verify on the input as a
 * typed code (cut at its first NUL) and as a secret, and the recovery-code
 * normaliser.
 *
 * Invariants checked (abort on violation): results are only the documented
 * codes; an accepted base32 text has one canonical form (re-encoding the
 * bytes gives the input upper-cased without spaces and '='), and decoding into
 * a smaller buffer either gives the same bytes or LUMI_ETOOLARGE; a code is
 * accepted only when its digits are exactly the code of the matched step,
 * that step lies inside the window and after the last used one; refusals carry
 * a message that holds no code of the window and not the secret; a normalised
 * recovery code is 12 lower-case letters or digits. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/totp.h"
#include "core/err.h"

#define SECRET_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
#define SECRET_RAW "12345678901234567890"
#define NOW INT64_C(1111111109)
#define LAST_USED (NOW / TOTP_STEP_S - 1) /* the step before now was used already */
#define WINDOW 1

static void check_base32(const uint8_t *data, size_t size)
{
    uint8_t out[256], small[8];
    size_t n = 0, n_small = 0;
    struct lumi_err err;
    err_clear(&err);
    int rc = totp_base32_decode((const char *)data, size, out, sizeof out, &n, &err);
    if (rc != 0 && rc != LUMI_EINVAL && rc != LUMI_ETOOLARGE)
        abort();
    if (rc != 0 && (n != 0 || err.code != rc || err.msg[0] == '\0'))
        abort();
    int rc_small =
        totp_base32_decode((const char *)data, size, small, sizeof small, &n_small, NULL);
    if (rc != 0) {
        /* Refused with room to spare: refused with less room too. */
        if (rc == LUMI_EINVAL && rc_small == 0)
            abort();
        return;
    }
    if (n > sizeof out)
        abort();
    if (n <= sizeof small) {
        if (rc_small != 0 || n_small != n || memcmp(small, out, n) != 0)
            abort();
    } else if (rc_small != LUMI_ETOOLARGE) {
        abort();
    }

    char canon[TOTP_B32_ENCODED_LEN(sizeof out)];
    if (totp_base32_encode(out, n, canon, sizeof canon, NULL) != 0)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < size; i++) {
        char c = (char)data[i];
        if (c == ' ' || c == '=')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (canon[k++] != c)
            abort();
    }
    if (canon[k] != '\0')
        abort();
}

static void check_code(const char *text)
{
    char window[2 * WINDOW + 1][TOTP_CODE_LEN];
    int64_t step = NOW / TOTP_STEP_S;
    for (int d = -WINDOW; d <= WINDOW; d++)
        if (totp_code((const uint8_t *)SECRET_RAW, 20, (step + d) * TOTP_STEP_S, TOTP_STEP_S,
                      TOTP_DIGITS, window[d + WINDOW], NULL) != 0)
            abort();

    struct lumi_err err;
    err_clear(&err);
    int64_t matched = -7;
    int rc = totp_verify(SECRET_B32, text, NOW, WINDOW, LAST_USED, &matched, &err);
    if (rc != 0 && rc != LUMI_EINVAL)
        abort();
    if (rc != 0) {
        if (matched != -7 || err.code != rc || err.msg[0] == '\0' ||
            strstr(err.msg, SECRET_B32) != NULL)
            abort();
        for (int i = 0; i < 2 * WINDOW + 1; i++)
            if (strstr(err.msg, window[i]) != NULL)
                abort();
        return;
    }
    if (matched <= LAST_USED || matched < step - WINDOW || matched > step + WINDOW)
        abort();
    char digits[TOTP_CODE_LEN];
    size_t n = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == ' ')
            continue;
        if (*p < '0' || *p > '9' || n >= TOTP_DIGITS)
            abort();
        digits[n++] = *p;
    }
    digits[n] = '\0';
    if (strcmp(digits, window[matched - step + WINDOW]) != 0)
        abort();
}

/* The only refusals for a stored secret are two fixed messages, so no part
 * of the secret can be echoed. */
static void check_secret(const char *text)
{
    struct lumi_err err, bad_secret, no_match;
    err_clear(&err);
    if (totp_verify("!", "123456", NOW, WINDOW, TOTP_STEP_NONE, NULL, &bad_secret) != LUMI_EINVAL ||
        totp_verify(SECRET_B32, "000000", NOW, WINDOW, TOTP_STEP_NONE, NULL, &no_match) !=
            LUMI_EINVAL)
        abort();
    int rc = totp_verify(text, "123456", NOW, WINDOW, TOTP_STEP_NONE, NULL, &err);
    if (rc != 0 && rc != LUMI_EINVAL)
        abort();
    if (rc != 0 && strcmp(err.msg, bad_secret.msg) != 0 && strcmp(err.msg, no_match.msg) != 0)
        abort();
}

static void check_recovery(const char *text)
{
    char norm[TOTP_RECOVERY_LEN];
    char hex[TOTP_RECOVERY_HEX];
    int rc = totp_recovery_normalize(text, norm, NULL);
    if (rc != 0 && rc != LUMI_EINVAL)
        abort();
    if (rc != 0) {
        if (norm[0] != '\0' || totp_recovery_hash(text, hex, NULL) != LUMI_EINVAL)
            abort();
        return;
    }
    if (strlen(norm) != TOTP_RECOVERY_CHARS)
        abort();
    for (const char *p = norm; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            abort();
    if (totp_recovery_hash(text, hex, NULL) != 0 || strlen(hex) != 64)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_base32(data, size);

    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_code(text);
    check_secret(text);
    check_recovery(text);
    free(text);
    return 0;
}

/*
 * test_totp.c — the TOTP second factor's pure part: the published RFC 6238
 * (SHA1) and RFC 4226 vectors, RFC 4648 base32 vectors and what the decoder
 * must refuse, random secrets, verification (±1 step accepted, ±2 refused,
 * replay refused, malformed codes refused, no expected code in messages),
 * the otpauth:// URI, and recovery codes (format, alphabet, distinctness,
 * normalised hashes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "accounts/totp.h"
#include "core/crypto.h"

/* RFC 6238 Appendix B / RFC 4226 Appendix D secret, and its base32. */
#define RFC_KEY "12345678901234567890"
#define RFC_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
#define NOW INT64_C(1111111109) /* step 37037036 */
#define NOW_STEP INT64_C(37037036)

static int setup(void **state)
{
    (void)state;
    return crypto_init();
}

static const uint8_t *rfc_key(void)
{
    return (const uint8_t *)RFC_KEY;
}

/* The 6-digit code at `step` for the RFC key, computed by totp_code. */
static void code_at_step(int64_t step, char out[TOTP_CODE_LEN])
{
    assert_int_equal(totp_code(rfc_key(), 20, step * TOTP_STEP_S, TOTP_STEP_S, 6, out, NULL), 0);
}

static void rfc6238_sha1_vectors_match(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *code;
    } vec[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {INT64_C(20000000000), "65353130"},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char out[TOTP_CODE_LEN];
        assert_int_equal(totp_code(rfc_key(), 20, vec[i].t, 30, 8, out, NULL), 0);
        assert_string_equal(out, vec[i].code);
    }
}

static void rfc4226_hotp_vectors_match(void **state)
{
    (void)state;
    static const char *const vec[] = {"755224", "287082", "359152", "969429", "338314",
                                      "254676", "287922", "162583", "399871", "520489"};
    for (uint64_t c = 0; c < 10; c++) {
        char out[TOTP_CODE_LEN];
        assert_int_equal(totp_hotp(rfc_key(), 20, c, 6, out, NULL), 0);
        assert_string_equal(out, vec[c]);
        /* The same counter through TOTP: any time inside step c. */
        assert_int_equal(totp_code(rfc_key(), 20, (int64_t)c * 30 + 29, 30, 6, out, NULL), 0);
        assert_string_equal(out, vec[c]);
    }
}

static void code_refuses_bad_parameters(void **state)
{
    (void)state;
    char out[TOTP_CODE_LEN] = "x";
    struct lumi_err e;
    assert_int_equal(totp_code(rfc_key(), 20, -1, 30, 6, out, &e), LUMI_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(totp_code(rfc_key(), 20, 59, 0, 6, out, &e), LUMI_EINVAL);
    assert_int_equal(totp_code(rfc_key(), 20, 59, 30, 5, out, &e), LUMI_EINVAL);
    assert_int_equal(totp_code(rfc_key(), 20, 59, 30, 9, out, &e), LUMI_EINVAL);
    assert_int_equal(totp_code(rfc_key(), 0, 59, 30, 6, out, &e), LUMI_EINVAL);
    assert_int_equal(totp_code(NULL, 20, 59, 30, 6, out, &e), LUMI_EINVAL);
    assert_int_equal(e.code, LUMI_EINVAL);
}

static const struct {
    const char *plain, *b32, *padded;
} b32vec[] = {
    {"", "", ""},
    {"f", "MY", "MY======"},
    {"fo", "MZXQ", "MZXQ===="},
    {"foo", "MZXW6", "MZXW6==="},
    {"foob", "MZXW6YQ", "MZXW6YQ="},
    {"fooba", "MZXW6YTB", "MZXW6YTB"},
    {"foobar", "MZXW6YTBOI", "MZXW6YTBOI======"},
};

static void base32_rfc4648_vectors_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b32vec / sizeof b32vec[0]; i++) {
        char out[32];
        size_t n = strlen(b32vec[i].plain);
        assert_int_equal(
            totp_base32_encode((const uint8_t *)b32vec[i].plain, n, out, sizeof out, NULL), 0);
        assert_string_equal(out, b32vec[i].b32);
        assert_int_equal(TOTP_B32_ENCODED_LEN(n), strlen(b32vec[i].b32) + 1);
    }
    char out[TOTP_SECRET_B32_LEN];
    assert_int_equal(totp_base32_encode(rfc_key(), 20, out, sizeof out, NULL), 0);
    assert_string_equal(out, RFC_B32);
}

static void expect_decodes(const char *text, const char *plain)
{
    uint8_t out[32];
    size_t n = 99;
    struct lumi_err e;
    err_clear(&e);
    int rc = totp_base32_decode(text, strlen(text), out, sizeof out, &n, &e);
    if (rc != 0)
        fail_msg("'%s' refused: %s", text, e.msg);
    assert_int_equal(n, strlen(plain));
    assert_memory_equal(out, plain, n);
}

static void base32_rfc4648_vectors_decode_in_every_accepted_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b32vec / sizeof b32vec[0]; i++) {
        expect_decodes(b32vec[i].b32, b32vec[i].plain);
        expect_decodes(b32vec[i].padded, b32vec[i].plain);
    }
    expect_decodes("mzxw6ytboi", "foobar");
    expect_decodes("MzXw6YtBoI", "foobar");
    expect_decodes("mzxw 6ytb oi== ====", "foobar");
    expect_decodes(" gezd gnbv gy3t qojq gezd gnbv gy3t qojq ", RFC_KEY);
}

static void expect_refused(const char *text, int code, const char *msg_part)
{
    uint8_t out[32];
    size_t n = 99;
    struct lumi_err e;
    err_clear(&e);
    int rc = totp_base32_decode(text, strlen(text), out, sizeof out, &n, &e);
    if (rc != code || strstr(e.msg, msg_part) == NULL)
        fail_msg("'%s': rc %d message '%s', wanted %d '%s'", text, rc, e.msg, code, msg_part);
    assert_int_equal(n, 0);
}

static void base32_decoder_refuses_malformed_text(void **state)
{
    (void)state;
    expect_refused("MZXW6!", LUMI_EINVAL, "invalid character at position 6");
    expect_refused("MZ0W", LUMI_EINVAL, "invalid character at position 3");
    expect_refused("MZ1W", LUMI_EINVAL, "invalid character");
    expect_refused("MZ8W", LUMI_EINVAL, "invalid character");
    expect_refused("MZ-XQ", LUMI_EINVAL, "invalid character");
    expect_refused("MZXQ\n", LUMI_EINVAL, "invalid character");
    expect_refused("M", LUMI_EINVAL, "not a possible length");
    expect_refused("MZX", LUMI_EINVAL, "not a possible length");
    expect_refused("MZXW6Y", LUMI_EINVAL, "not a possible length");
    expect_refused("MY=", LUMI_EINVAL, "padding");
    expect_refused("MY=======", LUMI_EINVAL, "padding");
    expect_refused("MZXW6YTB========", LUMI_EINVAL, "padding");
    expect_refused("=", LUMI_EINVAL, "padding");
    expect_refused("MY==A===", LUMI_EINVAL, "data after '=' padding");
    /* "MZ" carries 'f' plus two set unused bits: only "MY" is canonical. */
    expect_refused("MZ", LUMI_EINVAL, "non-canonical");

    /* A result larger than the buffer is refused, not truncated. */
    uint8_t small[5];
    size_t n = 99;
    struct lumi_err e;
    assert_int_equal(totp_base32_decode("MZXW6YTB", 8, small, sizeof small, &n, &e), 0);
    assert_int_equal(n, 5);
    assert_int_equal(totp_base32_decode("MZXW6YTBOI", 10, small, sizeof small, &n, &e),
                     LUMI_ETOOLARGE);
    assert_int_equal(n, 0);
    assert_memory_equal(small, "\0\0\0\0\0", 5); /* partial output wiped */
}

static void base32_encoder_refuses_small_buffer(void **state)
{
    (void)state;
    char out[10] = "junk";
    struct lumi_err e;
    assert_int_equal(totp_base32_encode((const uint8_t *)"foobar", 6, out, 10, &e), LUMI_EINVAL);
    assert_string_equal(out, "");
    char exact[11];
    assert_int_equal(totp_base32_encode((const uint8_t *)"foobar", 6, exact, 11, &e), 0);
    assert_string_equal(exact, "MZXW6YTBOI");
}

static void new_secrets_are_random_20_byte_base32(void **state)
{
    (void)state;
    char a[TOTP_SECRET_B32_LEN], b[TOTP_SECRET_B32_LEN];
    assert_int_equal(totp_secret_new(a, sizeof a, NULL), 0);
    assert_int_equal(totp_secret_new(b, sizeof b, NULL), 0);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    uint8_t key[TOTP_KEY_MAX];
    size_t n = 0;
    assert_int_equal(totp_base32_decode(a, strlen(a), key, sizeof key, &n, NULL), 0);
    assert_int_equal(n, TOTP_SECRET_BYTES);
    /* Usable at once: its current code verifies. */
    char code[TOTP_CODE_LEN];
    assert_int_equal(totp_code(key, n, NOW, 30, 6, code, NULL), 0);
    int64_t step = 0;
    assert_int_equal(totp_verify(a, code, NOW, 1, TOTP_STEP_NONE, &step, NULL), 0);
    assert_int_equal(step, NOW_STEP);

    char small[TOTP_SECRET_B32_LEN - 1];
    assert_int_equal(totp_secret_new(small, sizeof small, NULL), LUMI_EINVAL);
}

static void verify_accepts_codes_one_step_either_side(void **state)
{
    (void)state;
    for (int d = -1; d <= 1; d++) {
        char code[TOTP_CODE_LEN];
        code_at_step(NOW_STEP + d, code);
        int64_t step = -5;
        struct lumi_err e;
        err_clear(&e);
        int rc = totp_verify(RFC_B32, code, NOW, 1, TOTP_STEP_NONE, &step, &e);
        if (rc != 0)
            fail_msg("step %+d refused: %s", d, e.msg);
        assert_int_equal(step, NOW_STEP + d);
    }
    /* The RFC's own value for this time. */
    int64_t step = 0;
    assert_int_equal(totp_verify(RFC_B32, "081804", NOW, 1, TOTP_STEP_NONE, &step, NULL), 0);
    assert_int_equal(step, NOW_STEP);
}

static void verify_refuses_codes_two_steps_away(void **state)
{
    (void)state;
    for (int d = -2; d <= 2; d += 4) {
        char code[TOTP_CODE_LEN];
        code_at_step(NOW_STEP + d, code);
        int64_t step = -5;
        struct lumi_err e;
        err_clear(&e);
        assert_int_equal(totp_verify(RFC_B32, code, NOW, 1, TOTP_STEP_NONE, &step, &e),
                         LUMI_EINVAL);
        assert_int_equal(step, -5);
        assert_non_null(strstr(e.msg, "does not match"));
        /* A wider window would accept it: the refusal is about distance. */
        assert_int_equal(totp_verify(RFC_B32, code, NOW, 2, TOTP_STEP_NONE, &step, &e), 0);
        assert_int_equal(step, NOW_STEP + d);
        /* Window 0 accepts only the current step. */
        assert_int_equal(totp_verify(RFC_B32, code, NOW, 0, TOTP_STEP_NONE, &step, &e),
                         LUMI_EINVAL);
    }
    char code[TOTP_CODE_LEN];
    code_at_step(NOW_STEP, code);
    assert_int_equal(totp_verify(RFC_B32, code, NOW, 0, TOTP_STEP_NONE, NULL, NULL), 0);
}

static void verify_refuses_replay_of_a_used_step(void **state)
{
    (void)state;
    char code[TOTP_CODE_LEN];
    code_at_step(NOW_STEP, code);
    int64_t used = TOTP_STEP_NONE;
    assert_int_equal(totp_verify(RFC_B32, code, NOW, 1, used, &used, NULL), 0);
    assert_int_equal(used, NOW_STEP);

    struct lumi_err e;
    err_clear(&e);
    int64_t step = -5;
    assert_int_equal(totp_verify(RFC_B32, code, NOW, 1, used, &step, &e), LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "already used"));
    assert_int_equal(step, -5);
    /* Still refused 20 seconds later, when the step is in the past window. */
    assert_int_equal(totp_verify(RFC_B32, code, NOW + 20, 1, used, &step, &e), LUMI_EINVAL);
    /* An older, never-used step is refused too: steps only move forward. */
    char older[TOTP_CODE_LEN];
    code_at_step(NOW_STEP - 1, older);
    assert_int_equal(totp_verify(RFC_B32, older, NOW, 1, used, &step, &e), LUMI_EINVAL);
    /* The next step's code is fine. */
    char next[TOTP_CODE_LEN];
    code_at_step(NOW_STEP + 1, next);
    assert_int_equal(totp_verify(RFC_B32, next, NOW, 1, used, &step, &e), 0);
    assert_int_equal(step, NOW_STEP + 1);
}

static void assert_code_refused(const char *code, const char *msg_part)
{
    struct lumi_err e;
    err_clear(&e);
    int64_t step = -5;
    int rc = totp_verify(RFC_B32, code, NOW, 1, TOTP_STEP_NONE, &step, &e);
    if (rc != LUMI_EINVAL || strstr(e.msg, msg_part) == NULL)
        fail_msg("code '%s': rc %d message '%s', wanted '%s'", code, rc, e.msg, msg_part);
    assert_int_equal(step, -5);
    /* No code of the window (nor the secret) is ever in a message. */
    for (int d = -1; d <= 1; d++) {
        char want[TOTP_CODE_LEN];
        code_at_step(NOW_STEP + d, want);
        assert_null(strstr(e.msg, want));
    }
    assert_null(strstr(e.msg, RFC_B32));
}

static void verify_refuses_malformed_codes(void **state)
{
    (void)state;
    assert_code_refused("", "must be 6 digits");
    assert_code_refused("08180", "must be 6 digits");
    assert_code_refused("0818040", "must be 6 digits");
    assert_code_refused("07081804", "must be 6 digits"); /* the 8-digit code of this time */
    assert_code_refused("08180a", "must be 6 digits");
    assert_code_refused("081-804", "must be 6 digits");
    assert_code_refused("+81804", "must be 6 digits");
    assert_code_refused("081804\n", "must be 6 digits");
    assert_code_refused("\xd9\xa0\x38\x31\x38\x30\x34", "must be 6 digits");
    assert_code_refused("0 8 1 8 0 4                                        ", "must be 6 digits");
    assert_code_refused("000000", "does not match");

    /* Spaces as authenticator apps show them are fine. */
    int64_t step = 0;
    assert_int_equal(totp_verify(RFC_B32, "081 804", NOW, 1, TOTP_STEP_NONE, &step, NULL), 0);
    assert_int_equal(totp_verify(RFC_B32, " 081804 ", NOW, 1, TOTP_STEP_NONE, &step, NULL), 0);
}

static void verify_refuses_bad_secret_window_and_time(void **state)
{
    (void)state;
    struct lumi_err e;
    assert_int_equal(totp_verify("GEZDGNBV!", "081804", NOW, 1, TOTP_STEP_NONE, NULL, &e),
                     LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "not valid base32"));
    assert_null(strstr(e.msg, "GEZDGNBV"));
    assert_int_equal(totp_verify("", "081804", NOW, 1, TOTP_STEP_NONE, NULL, &e), LUMI_EINVAL);
    assert_int_equal(totp_verify(NULL, "081804", NOW, 1, TOTP_STEP_NONE, NULL, &e), LUMI_EINVAL);
    assert_int_equal(totp_verify(RFC_B32, NULL, NOW, 1, TOTP_STEP_NONE, NULL, &e), LUMI_EINVAL);
    assert_int_equal(totp_verify(RFC_B32, "081804", NOW, -1, TOTP_STEP_NONE, NULL, &e),
                     LUMI_EINVAL);
    assert_int_equal(
        totp_verify(RFC_B32, "081804", NOW, TOTP_WINDOW_MAX + 1, TOTP_STEP_NONE, NULL, &e),
        LUMI_EINVAL);
    assert_int_equal(totp_verify(RFC_B32, "081804", -1, 1, TOTP_STEP_NONE, NULL, &e), LUMI_EINVAL);
    /* The secret in lower case with spaces, as a user might paste it, works. */
    assert_int_equal(totp_verify("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", "081804", NOW, 1,
                                 TOTP_STEP_NONE, NULL, &e),
                     0);
}

static void verify_near_the_epoch_does_not_use_negative_steps(void **state)
{
    (void)state;
    char code[TOTP_CODE_LEN];
    code_at_step(0, code);
    int64_t step = -5;
    assert_int_equal(totp_verify(RFC_B32, code, 10, 1, TOTP_STEP_NONE, &step, NULL), 0);
    assert_int_equal(step, 0);
    assert_int_equal(totp_verify(RFC_B32, code, 10, 1, 0, &step, NULL), LUMI_EINVAL);
}

static void uri_percent_encodes_issuer_and_account(void **state)
{
    (void)state;
    char uri[TOTP_URI_MAX];
    assert_int_equal(totp_uri(uri, sizeof uri, "Lumi Billing", "admin@example.com", RFC_B32, NULL),
                     0);
    assert_string_equal(uri, "otpauth://totp/Lumi%20Billing:admin%40example.com?secret=" RFC_B32
                             "&issuer=Lumi%20Billing&algorithm=SHA1&digits=6&period=30");

    /* Separators inside the names cannot break the label or the query. */
    assert_int_equal(totp_uri(uri, sizeof uri, "A:B&C=D?", "x/y#z+w", RFC_B32, NULL), 0);
    assert_string_equal(uri, "otpauth://totp/A%3AB%26C%3DD%3F:x%2Fy%23z%2Bw?secret=" RFC_B32
                             "&issuer=A%3AB%26C%3DD%3F&algorithm=SHA1&digits=6&period=30");
    /* UTF-8 is encoded byte by byte; unreserved characters stay. */
    assert_int_equal(
        totp_uri(uri, sizeof uri, "L\xc3\xbcmi", "a.b-c_d~e", "mzxw 6ytb oi======", NULL), 0);
    assert_string_equal(uri, "otpauth://totp/L%C3%BCmi:a.b-c_d~e?secret=MZXW6YTBOI"
                             "&issuer=L%C3%BCmi&algorithm=SHA1&digits=6&period=30");
}

static void uri_refuses_bad_input_and_small_buffers(void **state)
{
    (void)state;
    char uri[TOTP_URI_MAX];
    struct lumi_err e;
    assert_int_equal(totp_uri(uri, sizeof uri, "", "admin", RFC_B32, &e), LUMI_EINVAL);
    assert_int_equal(totp_uri(uri, sizeof uri, "Lumi", NULL, RFC_B32, &e), LUMI_EINVAL);
    assert_int_equal(totp_uri(uri, sizeof uri, "Lumi", "admin", "not base32!", &e), LUMI_EINVAL);
    assert_string_equal(uri, "");
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(totp_uri(uri, sizeof uri, big, "admin", RFC_B32, &e), LUMI_EINVAL);

    /* Exactly the right size fits; one byte less is refused and leaves "". */
    char full[TOTP_URI_MAX];
    assert_int_equal(totp_uri(full, sizeof full, "Lumi", "admin", RFC_B32, NULL), 0);
    size_t need = strlen(full) + 1;
    char exact[TOTP_URI_MAX];
    assert_int_equal(totp_uri(exact, need, "Lumi", "admin", RFC_B32, NULL), 0);
    assert_string_equal(exact, full);
    assert_int_equal(totp_uri(exact, need - 1, "Lumi", "admin", RFC_B32, &e), LUMI_ETOOLARGE);
    assert_string_equal(exact, "");
    assert_null(strstr(e.msg, RFC_B32));
}

static void recovery_codes_are_distinct_and_readable(void **state)
{
    (void)state;
    char codes[TOTP_RECOVERY_MAX][TOTP_RECOVERY_LEN];
    assert_int_equal(totp_recovery_codes(TOTP_RECOVERY_MAX, codes, NULL), 0);
    int seen[256] = {0};
    for (int i = 0; i < TOTP_RECOVERY_MAX; i++) {
        const char *c = codes[i];
        assert_int_equal(strlen(c), 14);
        for (int k = 0; k < 14; k++) {
            if (k == 4 || k == 9) {
                assert_int_equal(c[k], '-');
                continue;
            }
            if (strchr("abcdefghijkmnpqrstuvwxyz23456789", c[k]) == NULL || c[k] == '\0')
                fail_msg("code '%s' has '%c' outside the alphabet", c, c[k]);
            seen[(unsigned char)c[k]]++;
        }
        for (int j = 0; j < i; j++)
            assert_string_not_equal(c, codes[j]);
        /* A generated code is accepted back exactly. */
        char norm[TOTP_RECOVERY_LEN], expect[TOTP_RECOVERY_LEN];
        snprintf(expect, sizeof expect, "%.4s%.4s%.4s", c, c + 5, c + 10);
        assert_int_equal(totp_recovery_normalize(c, norm, NULL), 0);
        assert_string_equal(norm, expect);
    }
    assert_int_equal(seen['0'] + seen['o'] + seen['1'] + seen['l'], 0);
    /* Over 3072 draws every one of the 32 characters shows up (a character
     * missing by chance has probability ~1e-41): the whole alphabet is used. */
    for (int round = 0; round < 7; round++) {
        assert_int_equal(totp_recovery_codes(TOTP_RECOVERY_MAX, codes, NULL), 0);
        for (int i = 0; i < TOTP_RECOVERY_MAX; i++)
            for (const char *p = codes[i]; *p != '\0'; p++)
                seen[(unsigned char)*p]++;
    }
    for (const char *p = "abcdefghijkmnpqrstuvwxyz23456789"; *p != '\0'; p++)
        if (seen[(unsigned char)*p] == 0)
            fail_msg("'%c' never appears in recovery codes", *p);

    char one[1][TOTP_RECOVERY_LEN];
    assert_int_equal(totp_recovery_codes(1, one, NULL), 0);
    assert_int_equal(totp_recovery_codes(0, one, NULL), LUMI_EINVAL);
    assert_int_equal(totp_recovery_codes(TOTP_RECOVERY_MAX + 1, codes, NULL), LUMI_EINVAL);
}

static void recovery_hash_is_sha256_of_the_normalised_code(void **state)
{
    (void)state;
    static const char *const forms[] = {"ABCD-EFGH-IJKL", "abcdefghijkl", " abcd efgh ijkl ",
                                        "AbCd-eFgH-iJkL", "abcd--efgh -ijkl"};
    /* sha256("abcdefghijkl"), computed independently. */
    static const char want[] = "d682ed4ca4d989c134ec94f1551e1ec580dd6d5a6ecde9f3d35e6e4a717fbde4";
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char hex[TOTP_RECOVERY_HEX];
        char norm[TOTP_RECOVERY_LEN];
        assert_int_equal(totp_recovery_normalize(forms[i], norm, NULL), 0);
        assert_string_equal(norm, "abcdefghijkl");
        assert_int_equal(totp_recovery_hash(forms[i], hex, NULL), 0);
        assert_string_equal(hex, want);
    }
    char a[TOTP_RECOVERY_HEX], b[TOTP_RECOVERY_HEX];
    assert_int_equal(totp_recovery_hash("abcd-efgh-ijkm", a, NULL), 0);
    assert_int_equal(totp_recovery_hash("abcd-efgh-ijkn", b, NULL), 0);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, want);
}

static void recovery_hash_refuses_what_is_not_a_code(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "abcd-efgh-ijk",
                                      "abcd-efgh-ijklm",
                                      "abcd_efgh_ijkl",
                                      "abcd.efgh.ijkl",
                                      "abcd-efgh-ijk\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char hex[TOTP_RECOVERY_HEX] = "junk";
        struct lumi_err e;
        err_clear(&e);
        assert_int_equal(totp_recovery_hash(bad[i], hex, &e), LUMI_EINVAL);
        assert_string_equal(hex, "");
        assert_non_null(strstr(e.msg, "12 letters or digits"));
    }
    char hex[TOTP_RECOVERY_HEX];
    assert_int_equal(totp_recovery_hash(NULL, hex, NULL), LUMI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc6238_sha1_vectors_match),
        cmocka_unit_test(rfc4226_hotp_vectors_match),
        cmocka_unit_test(code_refuses_bad_parameters),
        cmocka_unit_test(base32_rfc4648_vectors_encode),
        cmocka_unit_test(base32_rfc4648_vectors_decode_in_every_accepted_form),
        cmocka_unit_test(base32_decoder_refuses_malformed_text),
        cmocka_unit_test(base32_encoder_refuses_small_buffer),
        cmocka_unit_test(new_secrets_are_random_20_byte_base32),
        cmocka_unit_test(verify_accepts_codes_one_step_either_side),
        cmocka_unit_test(verify_refuses_codes_two_steps_away),
        cmocka_unit_test(verify_refuses_replay_of_a_used_step),
        cmocka_unit_test(verify_refuses_malformed_codes),
        cmocka_unit_test(verify_refuses_bad_secret_window_and_time),
        cmocka_unit_test(verify_near_the_epoch_does_not_use_negative_steps),
        cmocka_unit_test(uri_percent_encodes_issuer_and_account),
        cmocka_unit_test(uri_refuses_bad_input_and_small_buffers),
        cmocka_unit_test(recovery_codes_are_distinct_and_readable),
        cmocka_unit_test(recovery_hash_is_sha256_of_the_normalised_code),
        cmocka_unit_test(recovery_hash_refuses_what_is_not_a_code),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

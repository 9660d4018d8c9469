/*
 * totp.c — base32, HOTP/TOTP, code verification, otpauth URIs and recovery
 * codes for the admin second factor (see totp.h).
 *
 * Owns one OpenSSL HMAC-SHA1 context used as a template: it is fetched and
 * configured once (pthread_once) because implicit fetches take locks on every
 * call, and each HOTP computation works on its own duplicate. The template is
 * read-only after initialisation, so every function here is thread-safe.
 *
 * Secrets and computed codes live only in stack buffers that are wiped before
 * returning; error messages describe what is wrong with the input's shape,
 * never its value.
 */
#include "accounts/totp.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"

#define B32_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define HOTP_KEY_MAX 1024
#define SHA1_LEN 20
#define LABEL_MAX 256           /* issuer / account bytes in a URI */
#define B32_SECRET_TEXT_MAX 256 /* longest base32 secret text looked at */
#define CODE_TEXT_MAX 32        /* longest typed TOTP code looked at (digits + spaces) */
#define RECOVERY_TEXT_MAX 64    /* longest typed recovery code looked at */
#define RECOVERY_ATTEMPTS 100

/* 32 characters, so each is exactly 5 random bits; 0/o and 1/l are left out
 * because people copy these codes from paper. */
static const char recovery_alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
_Static_assert(sizeof recovery_alphabet - 1 == 32, "recovery alphabet must have 32 characters");
_Static_assert(TOTP_RECOVERY_LEN >= TOTP_RECOVERY_CHARS + 2 + 1, "recovery buffer too small");
_Static_assert(TOTP_RECOVERY_HEX == CRYPTO_SHA256_HEX, "recovery hash buffer");
_Static_assert(TOTP_SECRET_B32_LEN >= TOTP_B32_ENCODED_LEN(TOTP_SECRET_BYTES), "secret buffer");

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static EVP_MAC_CTX *hmac_sha1_template;

static void init_once_fn(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (ctx == NULL)
        return;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return;
    }
    hmac_sha1_template = ctx;
}

static int hmac_sha1(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                     uint8_t out[SHA1_LEN])
{
    pthread_once(&init_once, init_once_fn);
    if (hmac_sha1_template == NULL)
        return LUMI_EINTERNAL;
    int rc = LUMI_EINTERNAL;
    size_t n = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(hmac_sha1_template);
    if (ctx == NULL)
        goto out;
    if (EVP_MAC_init(ctx, key, keylen, NULL) != 1 || EVP_MAC_update(ctx, data, len) != 1 ||
        EVP_MAC_final(ctx, out, &n, SHA1_LEN) != 1 || n != SHA1_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int totp_base32_encode(const uint8_t *data, size_t len, char *out, size_t outsz,
                       struct lumi_err *err)
{
    if (out != NULL && outsz > 0)
        out[0] = '\0';
    if (out == NULL || (data == NULL && len > 0))
        return err_set(err, LUMI_EINVAL, "base32: missing buffer");
    if (len > (SIZE_MAX - 5) / 8 || outsz < TOTP_B32_ENCODED_LEN(len))
        return err_set(err, LUMI_EINVAL, "base32: output buffer too small for %zu bytes", len);
    size_t o = 0;
    uint32_t acc = 0;
    int nbits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        nbits += 8;
        while (nbits >= 5) {
            nbits -= 5;
            out[o++] = B32_ALPHABET[(acc >> nbits) & 31];
        }
        acc &= (1u << nbits) - 1;
    }
    if (nbits > 0)
        out[o++] = B32_ALPHABET[(acc << (5 - nbits)) & 31];
    out[o] = '\0';
    return 0;
}

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

int totp_base32_decode(const char *s, size_t len, uint8_t *out, size_t outsz, size_t *out_len,
                       struct lumi_err *err)
{
    int rc = 0;
    size_t o = 0, ndata = 0, npad = 0;
    uint32_t acc = 0;
    int nbits = 0;
    if (out_len != NULL)
        *out_len = 0;
    if ((s == NULL && len > 0) || (out == NULL && outsz > 0) || out_len == NULL)
        return err_set(err, LUMI_EINVAL, "base32: missing argument");
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ')
            continue;
        if (c == '=') {
            npad++;
            continue;
        }
        int v = b32_value(c);
        if (v < 0) {
            rc = err_set(err, LUMI_EINVAL, "base32: invalid character at position %zu", i + 1);
            goto out;
        }
        if (npad > 0) {
            rc = err_set(err, LUMI_EINVAL, "base32: data after '=' padding at position %zu", i + 1);
            goto out;
        }
        ndata++;
        acc = (acc << 5) | (uint32_t)v;
        nbits += 5;
        if (nbits >= 8) {
            nbits -= 8;
            if (o >= outsz) {
                rc = err_set(err, LUMI_ETOOLARGE, "base32: decoded value longer than %zu bytes",
                             outsz);
                goto out;
            }
            out[o++] = (uint8_t)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    /* 1, 3 or 6 characters in the last group cannot come from whole bytes. */
    size_t rem = ndata % 8;
    if (rem == 1 || rem == 3 || rem == 6) {
        rc = err_set(err, LUMI_EINVAL, "base32: %zu characters is not a possible length", ndata);
        goto out;
    }
    if (npad > 0 && npad != (8 - rem) % 8) {
        rc = err_set(err, LUMI_EINVAL, "base32: wrong amount of '=' padding");
        goto out;
    }
    /* Non-zero unused bits would let two texts decode to one value. */
    if (acc != 0) {
        rc = err_set(err, LUMI_EINVAL, "base32: non-canonical final character");
        goto out;
    }
    *out_len = o;
out:
    if (rc != 0 && o > 0)
        sodium_memzero(out, o);
    return rc;
}

int totp_secret_new(char *b32, size_t sz, struct lumi_err *err)
{
    uint8_t raw[TOTP_SECRET_BYTES];
    if (b32 != NULL && sz > 0)
        b32[0] = '\0';
    if (b32 == NULL || sz < TOTP_SECRET_B32_LEN)
        return err_set(err, LUMI_EINVAL, "TOTP secret buffer needs %d bytes", TOTP_SECRET_B32_LEN);
    if (crypto_init() != 0)
        return err_set(err, LUMI_EINTERNAL, "crypto library unavailable");
    randombytes_buf(raw, sizeof raw);
    int rc = totp_base32_encode(raw, sizeof raw, b32, sz, err);
    sodium_memzero(raw, sizeof raw);
    return rc;
}

int totp_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits,
              char out[TOTP_CODE_LEN], struct lumi_err *err)
{
    static const uint32_t pow10[] = {1000000, 10000000, 100000000};
    uint8_t msg[8], mac[SHA1_LEN];
    int rc = 0;
    if (out != NULL)
        out[0] = '\0';
    if (out == NULL || key == NULL || keylen == 0 || keylen > HOTP_KEY_MAX)
        return err_set(err, LUMI_EINVAL, "HOTP key must be 1..%d bytes", HOTP_KEY_MAX);
    if (digits < 6 || digits > 8)
        return err_set(err, LUMI_EINVAL, "HOTP digits must be 6..8, not %d", digits);
    for (int i = 7; i >= 0; i--) {
        msg[i] = (uint8_t)(counter & 0xff);
        counter >>= 8;
    }
    if (hmac_sha1(key, keylen, msg, sizeof msg, mac) != 0) {
        rc = err_set(err, LUMI_EINTERNAL, "HMAC-SHA1 unavailable");
        goto out;
    }
    /* RFC 4226 §5.3 dynamic truncation: 31 bits at the offset named by the
     * low nibble of the last byte. */
    unsigned off = mac[SHA1_LEN - 1] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    int n = snprintf(out, TOTP_CODE_LEN, "%0*lu", digits, (unsigned long)(bin % pow10[digits - 6]));
    if (n != digits) {
        out[0] = '\0';
        rc = err_set(err, LUMI_EINTERNAL, "HOTP formatting failed");
    }
out:
    sodium_memzero(mac, sizeof mac);
    return rc;
}

int totp_code(const uint8_t *key, size_t keylen, int64_t unix_time, int step_s, int digits,
              char out[TOTP_CODE_LEN], struct lumi_err *err)
{
    if (out != NULL)
        out[0] = '\0';
    if (unix_time < 0)
        return err_set(err, LUMI_EINVAL, "TOTP time must not be before 1970");
    if (step_s <= 0)
        return err_set(err, LUMI_EINVAL, "TOTP step must be positive, not %d", step_s);
    return totp_hotp(key, keylen, (uint64_t)(unix_time / step_s), digits, out, err);
}

/* The digits of a typed code into got (TOTP_DIGITS + NUL), spaces dropped. */
static int code_parse(const char *code, char got[TOTP_CODE_LEN], struct lumi_err *err)
{
    size_t len = strnlen(code, CODE_TEXT_MAX + 1), n = 0;
    if (len > CODE_TEXT_MAX)
        return err_set(err, LUMI_EINVAL, "the code must be %d digits", TOTP_DIGITS);
    for (size_t i = 0; i < len; i++) {
        char c = code[i];
        if (c == ' ')
            continue;
        if (c < '0' || c > '9' || n >= TOTP_DIGITS)
            return err_set(err, LUMI_EINVAL, "the code must be %d digits", TOTP_DIGITS);
        got[n++] = c;
    }
    got[n] = '\0';
    if (n != TOTP_DIGITS)
        return err_set(err, LUMI_EINVAL, "the code must be %d digits", TOTP_DIGITS);
    return 0;
}

/* Decodes a stored base32 secret into key; messages never echo it. */
static int secret_parse(const char *b32, uint8_t key[TOTP_KEY_MAX], size_t *keylen,
                        struct lumi_err *err)
{
    size_t len = strnlen(b32, B32_SECRET_TEXT_MAX + 1);
    if (len > B32_SECRET_TEXT_MAX ||
        totp_base32_decode(b32, len, key, TOTP_KEY_MAX, keylen, NULL) != 0 || *keylen == 0)
        return err_set(err, LUMI_EINVAL, "the TOTP secret is not valid base32 of 1..%d bytes",
                       TOTP_KEY_MAX);
    return 0;
}

int totp_verify(const char *b32_secret, const char *code, int64_t now, int window,
                int64_t last_used_step, int64_t *matched_step, struct lumi_err *err)
{
    uint8_t key[TOTP_KEY_MAX];
    size_t keylen = 0;
    char got[TOTP_CODE_LEN] = "", want[TOTP_CODE_LEN] = "";
    int64_t best = -1;
    bool replay = false;
    int rc = 0;
    if (b32_secret == NULL || code == NULL)
        return err_set(err, LUMI_EINVAL, "a TOTP secret and code are required");
    if (window < 0 || window > TOTP_WINDOW_MAX)
        return err_set(err, LUMI_EINVAL, "TOTP window must be 0..%d steps", TOTP_WINDOW_MAX);
    if (now < 0)
        return err_set(err, LUMI_EINVAL, "TOTP time must not be before 1970");
    rc = code_parse(code, got, err);
    if (rc != 0)
        goto out;
    rc = secret_parse(b32_secret, key, &keylen, err);
    if (rc != 0)
        goto out;
    /* Every step of the window is computed and compared, match or not, so
     * the time taken does not depend on where (or whether) the code matched. */
    int64_t step = now / TOTP_STEP_S;
    for (int64_t s = step - window; s <= step + window; s++) {
        if (s < 0)
            continue;
        rc = totp_hotp(key, keylen, (uint64_t)s, TOTP_DIGITS, want, err);
        if (rc != 0)
            goto out;
        bool eq = crypto_ct_equal(want, got, TOTP_DIGITS);
        bool fresh = s > last_used_step;
        if (eq && fresh)
            best = s;
        replay = replay || (eq && !fresh);
    }
    if (best >= 0) {
        if (matched_step != NULL)
            *matched_step = best;
        rc = 0;
    } else if (replay) {
        rc = err_set(err, LUMI_EINVAL, "this TOTP code was already used; wait for the next one");
    } else {
        rc = err_set(err, LUMI_EINVAL, "the TOTP code does not match");
    }
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(got, sizeof got);
    sodium_memzero(want, sizeof want);
    return rc;
}

/* A bounded writer for totp_uri: once something does not fit, it stays full. */
struct uri_out {
    char *p;
    size_t sz, len;
    bool full;
};

static void put_raw(struct uri_out *w, const char *s)
{
    for (; *s != '\0' && !w->full; s++) {
        if (w->len + 1 >= w->sz) {
            w->full = true;
            return;
        }
        w->p[w->len++] = *s;
    }
}

/* RFC 3986 percent-encoding: only unreserved characters stay as they are. */
static void put_encoded(struct uri_out *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char piece[4] = {0};
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            piece[0] = (char)c;
        } else {
            piece[0] = '%';
            piece[1] = hex[c >> 4];
            piece[2] = hex[c & 15];
        }
        put_raw(w, piece);
    }
}

static bool label_ok(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strnlen(s, LABEL_MAX + 1);
    return n > 0 && n <= LABEL_MAX;
}

int totp_uri(char *out, size_t sz, const char *issuer, const char *account, const char *b32,
             struct lumi_err *err)
{
    uint8_t key[TOTP_KEY_MAX];
    size_t keylen = 0;
    char canon[TOTP_B32_ENCODED_LEN(TOTP_KEY_MAX)] = "";
    struct uri_out w = {.p = out, .sz = sz};
    int rc = 0;
    if (out == NULL || sz == 0)
        return err_set(err, LUMI_EINVAL, "TOTP URI: missing buffer");
    out[0] = '\0';
    if (!label_ok(issuer) || !label_ok(account))
        return err_set(err, LUMI_EINVAL, "TOTP URI: issuer and account must be 1..%d bytes",
                       LABEL_MAX);
    if (b32 == NULL)
        return err_set(err, LUMI_EINVAL, "TOTP URI: missing secret");
    rc = secret_parse(b32, key, &keylen, err);
    if (rc != 0)
        goto out;
    rc = totp_base32_encode(key, keylen, canon, sizeof canon, err);
    if (rc != 0)
        goto out;
    put_raw(&w, "otpauth://totp/");
    put_encoded(&w, issuer);
    put_raw(&w, ":");
    put_encoded(&w, account);
    put_raw(&w, "?secret=");
    put_raw(&w, canon);
    put_raw(&w, "&issuer=");
    put_encoded(&w, issuer);
    put_raw(&w, "&algorithm=SHA1&digits=6&period=30");
    if (w.full) {
        rc = err_set(err, LUMI_ETOOLARGE, "TOTP URI does not fit in %zu bytes", sz);
        goto out;
    }
    out[w.len] = '\0';
out:
    if (rc != 0)
        sodium_memzero(out, sz);
    sodium_memzero(key, sizeof key);
    sodium_memzero(canon, sizeof canon);
    return rc;
}

static void recovery_one(char code[TOTP_RECOVERY_LEN])
{
    size_t o = 0;
    for (int i = 0; i < TOTP_RECOVERY_CHARS; i++) {
        if (i > 0 && i % 4 == 0)
            code[o++] = '-';
        code[o++] = recovery_alphabet[randombytes_uniform(32)];
    }
    memset(code + o, 0, TOTP_RECOVERY_LEN - o);
}

int totp_recovery_codes(int n, char codes[][TOTP_RECOVERY_LEN], struct lumi_err *err)
{
    if (codes == NULL || n < 1 || n > TOTP_RECOVERY_MAX)
        return err_set(err, LUMI_EINVAL, "between 1 and %d recovery codes can be made",
                       TOTP_RECOVERY_MAX);
    if (crypto_init() != 0)
        return err_set(err, LUMI_EINTERNAL, "crypto library unavailable");
    for (int i = 0; i < n; i++) {
        /* With 60 bits a repeat is astronomically unlikely, but a duplicate
         * would silently leave the user one code short, so make sure. */
        bool unique = false;
        for (int attempt = 0; attempt < RECOVERY_ATTEMPTS && !unique; attempt++) {
            recovery_one(codes[i]);
            unique = true;
            for (int j = 0; j < i && unique; j++)
                unique = strcmp(codes[i], codes[j]) != 0;
        }
        if (!unique) {
            sodium_memzero(codes, (size_t)n * TOTP_RECOVERY_LEN);
            return err_set(err, LUMI_EINTERNAL, "random generator repeats itself");
        }
    }
    return 0;
}

int totp_recovery_normalize(const char *code, char out[TOTP_RECOVERY_LEN], struct lumi_err *err)
{
    if (out == NULL)
        return err_set(err, LUMI_EINVAL, "recovery code: missing buffer");
    out[0] = '\0';
    if (code == NULL)
        return err_set(err, LUMI_EINVAL, "a recovery code is required");
    size_t len = strnlen(code, RECOVERY_TEXT_MAX + 1), n = 0;
    if (len > RECOVERY_TEXT_MAX)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        char c = code[i];
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) || n >= TOTP_RECOVERY_CHARS)
            goto bad;
        out[n++] = c;
    }
    if (n != TOTP_RECOVERY_CHARS)
        goto bad;
    out[n] = '\0';
    return 0;
bad:
    sodium_memzero(out, TOTP_RECOVERY_LEN);
    return err_set(err, LUMI_EINVAL, "a recovery code is %d letters or digits, like abcd-efgh-ijkm",
                   TOTP_RECOVERY_CHARS);
}

int totp_recovery_hash(const char *code, char hex_out[TOTP_RECOVERY_HEX], struct lumi_err *err)
{
    char norm[TOTP_RECOVERY_LEN];
    if (hex_out == NULL)
        return err_set(err, LUMI_EINVAL, "recovery code: missing buffer");
    hex_out[0] = '\0';
    int rc = totp_recovery_normalize(code, norm, err);
    if (rc != 0)
        return rc;
    crypto_sha256_hex(norm, TOTP_RECOVERY_CHARS, hex_out);
    sodium_memzero(norm, sizeof norm);
    return 0;
}

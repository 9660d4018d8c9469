/*
 * crypto.c — hashes, HMAC, tokens, secrets at rest and password hashes (see crypto.h).
 *
 * Owns the OpenSSL algorithm handles (SHA-256 digest, HMAC), fetched once in
 * crypto_init because implicit fetches take locks on every call, and the gate
 * that bounds concurrent argon2id hashing (each hash holds ~64 MiB).
 * Threading: crypto_init runs once (pthread_once; every entry point calls it,
 * so a forgotten init is harmless); the handles are read-only afterwards; the
 * hashing gate is a mutex + condition variable.
 *
 * Sealed format: "v1." + base64url-without-padding(nonce[24] || ciphertext||tag),
 * XChaCha20-Poly1305 (IETF) with the caller's `ad` as associated data.
 */
#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#define SEAL_PREFIX "v1."
#define SEAL_PREFIX_LEN 3
#define SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_MAX ((size_t)64 << 20) /* far above any credential; bounds the arithmetic */
#define TOKEN_MAX_BYTES 256
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define HASHING_MAX 2

_Static_assert(CRYPTO_PWHASH_MAX >= crypto_pwhash_STRBYTES, "pwhash buffer too small");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == CRYPTO_KEY_LEN, "key size");

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc = LUMI_EINTERNAL;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_busy;

static void init_once_fn(void)
{
    if (sodium_init() < 0)
        return;
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (sha256_md != NULL && hmac_mac != NULL)
        init_rc = 0;
}

int crypto_init(void)
{
    pthread_once(&init_once, init_once_fn);
    return init_rc;
}

/* The digest is used for the audit chain: a silently wrong hash would be
 * worse than stopping, and it fails only if OpenSSL itself is broken. */
static void must_init(void)
{
    if (crypto_init() != 0) {
        fputs("lumi: cannot initialise libsodium/OpenSSL\n", stderr);
        abort();
    }
}

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    must_init();
    unsigned int n = 0;
    if (EVP_Digest(len ? data : "", len, out, &n, sha256_md, NULL) != 1 || n != CRYPTO_SHA256_LEN) {
        fputs("lumi: SHA-256 failed\n", stderr);
        abort();
    }
}

void crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX])
{
    uint8_t md[CRYPTO_SHA256_LEN];
    crypto_sha256(data, len, md);
    hex_encode(md, sizeof md, out, CRYPTO_SHA256_HEX);
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       uint8_t out[CRYPTO_SHA256_LEN])
{
    if (crypto_init() != 0)
        return LUMI_EINTERNAL;
    /* A NULL key means "keep the previous key" to EVP_MAC_init; an empty key
     * must still be a valid pointer. */
    static const unsigned char empty[1];
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int rc = LUMI_EINTERNAL;
    size_t n = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    if (ctx == NULL)
        goto out;
    if (EVP_MAC_init(ctx, key_len ? key : empty, key_len, params) != 1 ||
        EVP_MAC_update(ctx, len ? data : empty, len) != 1 ||
        EVP_MAC_final(ctx, out, &n, CRYPTO_SHA256_LEN) != 1 || n != CRYPTO_SHA256_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

bool crypto_ct_equal(const void *a, const void *b, size_t n)
{
    return n == 0 || sodium_memcmp(a, b, n) == 0;
}

void crypto_random(void *out, size_t n)
{
    must_init();
    randombytes_buf(out, n);
}

int crypto_random_token(size_t nbytes, char *out, size_t outsz)
{
    if (nbytes == 0 || nbytes > TOKEN_MAX_BYTES || outsz < 2 * nbytes + 1)
        return LUMI_EINVAL;
    uint8_t raw[TOKEN_MAX_BYTES];
    crypto_random(raw, nbytes);
    int rc = hex_encode(raw, nbytes, out, outsz);
    sodium_memzero(raw, sizeof raw);
    return rc;
}

/* Exactly 32 bytes from text in one base64 variant, the whole text consumed. */
static bool key_from_base64(const char *text, size_t len, int variant, uint8_t key[CRYPTO_KEY_LEN])
{
    size_t bin_len = 0;
    const char *end = NULL;
    return sodium_base642bin(key, CRYPTO_KEY_LEN, text, len, NULL, &bin_len, &end, variant) == 0 &&
           bin_len == CRYPTO_KEY_LEN && end == text + len;
}

int crypto_key_parse(const char *text, uint8_t key[CRYPTO_KEY_LEN], struct lumi_err *err)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL,
        sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE,
        sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    };
    size_t len = text ? strlen(text) : 0;
    if (len == 2 * CRYPTO_KEY_LEN && hex_decode(text, len, key, CRYPTO_KEY_LEN) == CRYPTO_KEY_LEN)
        return 0;
    for (size_t i = 0; len > 0 && i < sizeof variants / sizeof variants[0]; i++)
        if (key_from_base64(text, len, variants[i], key))
            return 0;
    sodium_memzero(key, CRYPTO_KEY_LEN);
    /* Never echo the text: it is (meant to be) a secret. */
    return err_set(err, LUMI_EINVAL, "expected 32 bytes as 64 hex digits or base64");
}

char *crypto_seal(const uint8_t key[CRYPTO_KEY_LEN], const char *ad, const void *plaintext,
                  size_t len)
{
    if (crypto_init() != 0 || len > SEAL_MAX || (plaintext == NULL && len > 0))
        return NULL;
    char *result = NULL;
    size_t box_len = SEAL_NONCE + len + SEAL_TAG;
    uint8_t *box = malloc(box_len);
    if (box == NULL)
        goto out;
    randombytes_buf(box, SEAL_NONCE);
    unsigned long long ct_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + SEAL_NONCE, &ct_len, plaintext, len,
                                               (const unsigned char *)(ad ? ad : ""),
                                               ad ? strlen(ad) : 0, NULL, box, key);
    size_t b64_len = sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    result = malloc(SEAL_PREFIX_LEN + b64_len);
    if (result == NULL)
        goto out;
    memcpy(result, SEAL_PREFIX, SEAL_PREFIX_LEN);
    sodium_bin2base64(result + SEAL_PREFIX_LEN, b64_len, box, box_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
out:
    free(box);
    return result;
}

int crypto_open(const uint8_t key[CRYPTO_KEY_LEN], const char *ad, const char *sealed,
                struct buf *out, struct lumi_err *err)
{
    if (crypto_init() != 0)
        return err_set(err, LUMI_EINTERNAL, "crypto library unavailable");
    int rc = LUMI_EINVAL;
    uint8_t *box = NULL, *plain = NULL;
    size_t plain_len = 0;
    if (sealed == NULL || strncmp(sealed, SEAL_PREFIX, SEAL_PREFIX_LEN) != 0) {
        err_set(err, LUMI_EINVAL, "sealed value is malformed (expected v1. prefix)");
        goto out;
    }
    const char *b64 = sealed + SEAL_PREFIX_LEN;
    size_t b64_len = strlen(b64);
    size_t box_max = b64_len / 4 * 3 + 3;
    if (box_max > SEAL_MAX + SEAL_NONCE + SEAL_TAG + 3) {
        err_set(err, LUMI_EINVAL, "sealed value is too large");
        goto out;
    }
    box = malloc(box_max);
    if (box == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    size_t box_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(box, box_max, b64, b64_len, NULL, &box_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != b64 + b64_len || box_len < SEAL_NONCE + SEAL_TAG) {
        err_set(err, LUMI_EINVAL, "sealed value is malformed");
        goto out;
    }
    plain = malloc(box_len - SEAL_NONCE - SEAL_TAG + 1);
    if (plain == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    unsigned long long n = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            plain, &n, NULL, box + SEAL_NONCE, box_len - SEAL_NONCE,
            (const unsigned char *)(ad ? ad : ""), ad ? strlen(ad) : 0, box, key) != 0) {
        err_set(err, LUMI_EINVAL,
                "sealed value cannot be opened (wrong key, wrong place or tampered)");
        goto out;
    }
    plain_len = (size_t)n;
    rc = buf_append(out, plain, plain_len);
    if (rc != 0)
        err_set(err, rc, "opened value does not fit the buffer");
out:
    if (plain != NULL)
        sodium_memzero(plain, plain_len);
    free(plain);
    free(box);
    return rc;
}

static void gate_enter(void)
{
    pthread_mutex_lock(&gate_lock);
    while (gate_busy >= HASHING_MAX)
        pthread_cond_wait(&gate_cond, &gate_lock);
    gate_busy++;
    pthread_mutex_unlock(&gate_lock);
}

static void gate_leave(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_busy--;
    pthread_cond_signal(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_MAX], struct lumi_err *err)
{
    size_t len = password ? strnlen(password, PASSWORD_MAX + 1) : 0;
    if (len < PASSWORD_MIN)
        return err_set(err, LUMI_EINVAL, "password must be at least %d characters", PASSWORD_MIN);
    if (len > PASSWORD_MAX)
        return err_set(err, LUMI_EINVAL, "password must be at most %d characters", PASSWORD_MAX);
    if (crypto_init() != 0)
        return err_set(err, LUMI_EINTERNAL, "crypto library unavailable");
    gate_enter();
    int r = crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
    gate_leave();
    if (r != 0)
        return err_set(err, LUMI_ENOMEM, "out of memory while hashing the password");
    return 0;
}

bool crypto_password_verify(const char *hash, const char *password)
{
    if (hash == NULL || password == NULL || crypto_init() != 0)
        return false;
    /* libsodium reads the hash as a string of at most STRBYTES. */
    if (strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
        return false;
    size_t len = strnlen(password, PASSWORD_MAX + 1);
    if (len > PASSWORD_MAX)
        return false;
    gate_enter();
    int r = crypto_pwhash_str_verify(hash, password, len);
    gate_leave();
    return r == 0;
}

/*
 * crypto.h — hashes, MACs, random tokens, secrets at rest, password hashes.
 *
 * SHA-256 and HMAC-SHA256 through OpenSSL EVP (algorithms fetched once in
 * crypto_init); randomness, secretbox and argon2id through libsodium.
 * crypto_init() must be called once before threads start; everything else is
 * thread-safe.
 */
#ifndef LUMI_CORE_CRYPTO_H
#define LUMI_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define CRYPTO_KEY_LEN 32
#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA256_HEX 65     /* 64 hex digits + NUL */
#define CRYPTO_PWHASH_MAX 128    /* >= crypto_pwhash_STRBYTES */

/** Initialises libsodium and OpenSSL algorithm handles. Idempotent. 0 or LUMI_EINTERNAL. */
int crypto_init(void);

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX]);

/** HMAC-SHA256(key, data). Returns 0 or LUMI_EINTERNAL. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       uint8_t out[CRYPTO_SHA256_LEN]);

/** Constant-time comparison of n bytes. */
bool crypto_ct_equal(const void *a, const void *b, size_t n);

/** n cryptographically random bytes. */
void crypto_random(void *out, size_t n);

/** A random token of nbytes of entropy as lower-case hex (out needs 2*nbytes+1). 0 or LUMI_EINVAL. */
int crypto_random_token(size_t nbytes, char *out, size_t outsz);

/** Decodes a 32-byte key given as 64 hex digits or base64 (with or without padding). */
int crypto_key_parse(const char *text, uint8_t key[CRYPTO_KEY_LEN], struct lumi_err *err);

/**
 * Encrypts plaintext for storage with XChaCha20-Poly1305 under key, binding
 * the associated data `ad` (e.g. "servers.secret:17") so a ciphertext cannot
 * be moved to another row or column. Returns "v1." + base64url(nonce||box),
 * caller frees; NULL on failure.
 */
char *crypto_seal(const uint8_t key[CRYPTO_KEY_LEN], const char *ad, const void *plaintext,
                  size_t len);

/** Reverses crypto_seal into out (appended). LUMI_EINVAL if malformed, tampered,
 *  or sealed under another key or ad. */
int crypto_open(const uint8_t key[CRYPTO_KEY_LEN], const char *ad, const char *sealed,
                struct buf *out, struct lumi_err *err);

/**
 * argon2id password hash (libsodium interactive limits) into out. At most a
 * few hashes run at once (each needs ~64 MiB); callers beyond that wait.
 * Passwords must be 8..1024 bytes. Returns 0, LUMI_EINVAL or LUMI_ENOMEM.
 */
int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_MAX], struct lumi_err *err);

/** true when password matches hash (bounded like hashing). */
bool crypto_password_verify(const char *hash, const char *password);

#endif

/*
 * totp.h — the pure part of the admin login's optional second factor:
 * RFC 4648 base32, HOTP (RFC 4226) / TOTP (RFC 6238) with HMAC-SHA1,
 * verification with a step window and replay protection, the otpauth:// URI
 * for authenticator apps, and one-time recovery codes stored only as hashes.
 *
 * No database, no HTTP: callers store the secret (encrypted, crypto_seal), the
 * last used step and the recovery-code hashes. Everything here is thread-safe.
 * Messages never contain a secret or an expected code.
 */
#ifndef LUMI_ACCOUNTS_TOTP_H
#define LUMI_ACCOUNTS_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TOTP_SECRET_BYTES 20   /* RFC 4226 recommends 160 bits */
#define TOTP_SECRET_B32_LEN 33 /* 32 base32 characters + NUL */
#define TOTP_KEY_MAX 64        /* longest decoded secret accepted by totp_verify/totp_uri */
#define TOTP_STEP_S 30
#define TOTP_DIGITS 6
#define TOTP_CODE_LEN 9            /* up to 8 digits + NUL */
#define TOTP_WINDOW_MAX 10         /* ±5 minutes at 30 s; more would weaken the code */
#define TOTP_STEP_NONE INT64_C(-1) /* last_used_step when no code was ever accepted */
#define TOTP_URI_MAX 1024
#define TOTP_RECOVERY_LEN 16   /* "abcd-efgh-ijkl" + NUL, rounded up */
#define TOTP_RECOVERY_CHARS 12 /* characters in a normalised recovery code */
#define TOTP_RECOVERY_MAX 32   /* most codes one call makes */
#define TOTP_RECOVERY_HEX 65   /* SHA-256 as 64 hex digits + NUL */

/** Base32 output size (with NUL, without padding) for n input bytes. */
#define TOTP_B32_ENCODED_LEN(n) (((n)*8 + 4) / 5 + 1)

/**
 * RFC 4648 base32 of data[0..len) into out (upper case, no '=' padding,
 * NUL-terminated). Returns 0, or LUMI_EINVAL when outsz is smaller than
 * TOTP_B32_ENCODED_LEN(len) (out is then "" if outsz > 0).
 */
int totp_base32_encode(const uint8_t *data, size_t len, char *out, size_t outsz,
                       struct lumi_err *err);

/**
 * Decodes RFC 4648 base32 text s[0..len) into out (at most outsz bytes) and
 * stores the byte count in *out_len. Letters may be upper or lower case;
 * spaces are ignored anywhere; '=' padding is optional, but when present must
 * be complete and only at the end. Any other character, an impossible length
 * or non-zero unused trailing bits are refused (so every accepted text has one
 * canonical form). Returns 0, LUMI_EINVAL (malformed) or LUMI_ETOOLARGE (the
 * result would not fit in outsz). The message names the position, never the text.
 */
int totp_base32_decode(const char *s, size_t len, uint8_t *out, size_t outsz, size_t *out_len,
                       struct lumi_err *err);

/**
 * A new random secret of TOTP_SECRET_BYTES (libsodium randombytes_buf) as
 * base32 into b32 (needs sz >= TOTP_SECRET_B32_LEN). Returns 0, LUMI_EINVAL
 * (buffer too small) or LUMI_EINTERNAL (crypto library unavailable).
 */
int totp_secret_new(char *b32, size_t sz, struct lumi_err *err);

/**
 * HOTP (RFC 4226): HMAC-SHA1(key, counter as 8 bytes big-endian), dynamic
 * truncation, the last `digits` (6..8) decimal digits with leading zeros into
 * out. keylen must be 1..1024. Returns 0, LUMI_EINVAL or LUMI_EINTERNAL.
 */
int totp_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits,
              char out[TOTP_CODE_LEN], struct lumi_err *err);

/**
 * TOTP (RFC 6238): HOTP at counter floor(unix_time / step_s). unix_time must
 * be >= 0, step_s > 0 (normally TOTP_STEP_S), digits 6..8 (normally
 * TOTP_DIGITS). Returns 0, LUMI_EINVAL or LUMI_EINTERNAL; out is "" on error.
 */
int totp_code(const uint8_t *key, size_t keylen, int64_t unix_time, int step_s, int digits,
              char out[TOTP_CODE_LEN], struct lumi_err *err);

/**
 * Checks a code typed by the user against the base32 secret at time now,
 * accepting steps floor(now/30) ± window (0..TOTP_WINDOW_MAX; 1 is usual).
 * The code must be exactly TOTP_DIGITS digits, spaces allowed ("123 456").
 * Every step in the window is computed and compared in constant time. A
 * matching step <= last_used_step (TOTP_STEP_NONE if none) is refused as a
 * replay: on success *matched_step (may be NULL) is the step to store as the
 * new last_used_step. Returns 0 on a match, LUMI_EINVAL otherwise (malformed
 * code or secret, no match, replay); the message never holds the expected code.
 */
int totp_verify(const char *b32_secret, const char *code, int64_t now, int window,
                int64_t last_used_step, int64_t *matched_step, struct lumi_err *err);

/**
 * The key URI for authenticator apps into out:
 * otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * with issuer and account percent-encoded (everything but RFC 3986 unreserved
 * characters) and the secret in canonical form (upper case, no spaces or
 * padding). issuer and account must be 1..256 bytes; b32 a valid secret of at
 * most TOTP_KEY_MAX bytes. Returns 0, LUMI_EINVAL, or LUMI_ETOOLARGE when it
 * does not fit in sz (out is then "").
 */
int totp_uri(char *out, size_t sz, const char *issuer, const char *account, const char *b32,
             struct lumi_err *err);

/**
 * Fills codes[0..n) (1 <= n <= TOTP_RECOVERY_MAX) with distinct random
 * recovery codes "xxxx-xxxx-xxxx" over the 32 characters a-z 2-9 without
 * 0, o, 1, l (60 bits each). Show them once; store only totp_recovery_hash.
 * Returns 0, LUMI_EINVAL or LUMI_EINTERNAL.
 */
int totp_recovery_codes(int n, char codes[][TOTP_RECOVERY_LEN], struct lumi_err *err);

/**
 * Normalises a typed recovery code into out: ASCII letters lower-cased,
 * dashes and spaces removed. The result must be TOTP_RECOVERY_CHARS letters
 * or digits. Returns 0 or LUMI_EINVAL (out is then "").
 */
int totp_recovery_normalize(const char *code, char out[TOTP_RECOVERY_LEN], struct lumi_err *err);

/**
 * SHA-256 hex (lower case) of the normalised code into hex_out, the value to
 * store and look up; "ABCD-EFGH-IJKL" and "abcdefghijkl" hash the same.
 * Returns 0 or LUMI_EINVAL (not a recovery code; hex_out is then "").
 */
int totp_recovery_hash(const char *code, char hex_out[TOTP_RECOVERY_HEX], struct lumi_err *err);

#endif

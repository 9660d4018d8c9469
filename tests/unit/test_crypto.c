/*
 * test_crypto.c — digests and MACs against published vectors, tokens, key
 * parsing, sealing secrets at rest (and every way opening must fail), and
 * argon2id password hashes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/str.h"

static const char *hex_of(const uint8_t *p, size_t n, char *out, size_t outsz)
{
    assert_int_equal(hex_encode(p, n, out, outsz), 0);
    return out;
}

static int setup(void **state)
{
    (void)state;
    return crypto_init();
}

static void sha256_matches_published_vectors(void **state)
{
    (void)state;
    char hex[CRYPTO_SHA256_HEX];
    crypto_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    crypto_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void hmac_matches_rfc4231(void **state)
{
    (void)state;
    uint8_t mac[CRYPTO_SHA256_LEN];
    char hex[CRYPTO_SHA256_HEX];
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof key1);
    assert_int_equal(crypto_hmac_sha256(key1, sizeof key1, "Hi There", 8, mac), 0);
    assert_string_equal(hex_of(mac, sizeof mac, hex, sizeof hex),
                        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *data2 = "what do ya want for nothing?";
    assert_int_equal(crypto_hmac_sha256("Jefe", 4, data2, strlen(data2), mac), 0);
    assert_string_equal(hex_of(mac, sizeof mac, hex, sizeof hex),
                        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 6: a key longer than the block size is hashed first. */
    uint8_t key6[131];
    memset(key6, 0xaa, sizeof key6);
    const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(crypto_hmac_sha256(key6, sizeof key6, data6, strlen(data6), mac), 0);
    assert_string_equal(hex_of(mac, sizeof mac, hex, sizeof hex),
                        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* Empty key and message: a published value (e.g. Python's hmac module). */
    assert_int_equal(crypto_hmac_sha256("", 0, "", 0, mac), 0);
    assert_string_equal(hex_of(mac, sizeof mac, hex, sizeof hex),
                        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void ct_equal_compares_bytes(void **state)
{
    (void)state;
    assert_true(crypto_ct_equal("abcdef", "abcdef", 6));
    assert_false(crypto_ct_equal("abcdef", "abcdeg", 6));
    assert_false(crypto_ct_equal("xbcdef", "abcdef", 6));
    assert_true(crypto_ct_equal("abc", "abd", 2));
    assert_true(crypto_ct_equal("a", "b", 0));
}

static void random_tokens_are_hex_and_differ(void **state)
{
    (void)state;
    char a[65], b[65];
    assert_int_equal(crypto_random_token(32, a, sizeof a), 0);
    assert_int_equal(crypto_random_token(32, b, sizeof b), 0);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_string_not_equal(a, b);
    assert_int_equal(crypto_random_token(32, a, 64), LUMI_EINVAL);
    assert_int_equal(crypto_random_token(0, a, sizeof a), LUMI_EINVAL);
    uint8_t r1[16] = {0}, r2[16] = {0};
    crypto_random(r1, sizeof r1);
    crypto_random(r2, sizeof r2);
    assert_memory_not_equal(r1, r2, sizeof r1);
}

static void key_parse_accepts_hex_and_base64(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_LEN], want[CRYPTO_KEY_LEN];
    struct lumi_err err;
    for (int i = 0; i < CRYPTO_KEY_LEN; i++)
        want[i] = (uint8_t)(i * 7 + 250);
    char hex[65];
    hex_of(want, sizeof want, hex, sizeof hex);
    assert_int_equal(crypto_key_parse(hex, key, &err), 0);
    assert_memory_equal(key, want, sizeof key);
    {
        char upper[65];
        for (int i = 0; i < 65; i++)
            upper[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? (char)(hex[i] - 32) : hex[i];
        assert_int_equal(crypto_key_parse(upper, key, &err), 0);
        assert_memory_equal(key, want, sizeof key);
    }
    /* The same bytes in the four base64 spellings. */
    const char *b64[] = {"+gEIDxYdJCsyOUBHTlVcY2pxeH+GjZSboqmwt77FzNM=",
                         "+gEIDxYdJCsyOUBHTlVcY2pxeH+GjZSboqmwt77FzNM",
                         "-gEIDxYdJCsyOUBHTlVcY2pxeH-GjZSboqmwt77FzNM=",
                         "-gEIDxYdJCsyOUBHTlVcY2pxeH-GjZSboqmwt77FzNM"};
    for (size_t i = 0; i < 4; i++) {
        memset(key, 0, sizeof key);
        if (crypto_key_parse(b64[i], key, &err) != 0)
            fail_msg("base64 form %zu refused: %s", i, err.msg);
        assert_memory_equal(key, want, sizeof key);
    }
}

static void key_parse_refuses_wrong_sizes_without_echo(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_LEN];
    struct lumi_err err;
    const char *bad[] = {"",
                         "00",
                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd",
                         "+gEIDxYdJCsyOUBHTlVcY2pxeH+GjZSboqmwt77FzN==",
                         "c2hvcnQ=",
                         "+gEIDxYdJCsyOUBHTlVcY2pxeH+GjZSboqmwt77FzNM= ",
                         "+gEIDxYdJCsyOUBHTlVcY2pxeH-GjZSboqmwt77FzNM=",
                         "+gEIDxYdJCsyOUBHTlVcY2pxeH+GjZSboqmwt77FzNMAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_clear(&err);
        if (crypto_key_parse(bad[i], key, &err) != LUMI_EINVAL)
            fail_msg("accepted bad key %zu", i);
        assert_string_equal(err.msg, "expected 32 bytes as 64 hex digits or base64");
    }
    assert_int_equal(crypto_key_parse(NULL, key, &err), LUMI_EINVAL);
}

static void fixed_key(uint8_t key[CRYPTO_KEY_LEN], uint8_t fill)
{
    memset(key, fill, CRYPTO_KEY_LEN);
}

static void seal_round_trips(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_LEN];
    fixed_key(key, 1);
    struct lumi_err err;
    struct buf out;
    buf_init(&out, 1 << 20);
    const char *secret = "ptlc_0123456789abcdef";
    char *sealed = crypto_seal(key, "servers.api_key:17", secret, strlen(secret));
    assert_non_null(sealed);
    assert_true(str_starts_with(sealed, "v1."));
    assert_null(strstr(sealed, "ptlc"));
    assert_int_equal(strspn(sealed + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789-_"),
                     strlen(sealed) - 3);
    assert_int_equal(crypto_open(key, "servers.api_key:17", sealed, &out, &err), 0);
    assert_int_equal(out.len, strlen(secret));
    assert_string_equal(buf_cstr(&out), secret);
    /* Same plaintext twice gives different ciphertexts (random nonce). */
    char *again = crypto_seal(key, "servers.api_key:17", secret, strlen(secret));
    assert_string_not_equal(sealed, again);
    free(again);
    /* Empty plaintext and binary plaintext. */
    char *empty = crypto_seal(key, "t.c:1", "", 0);
    buf_reset(&out);
    assert_int_equal(crypto_open(key, "t.c:1", empty, &out, &err), 0);
    assert_int_equal(out.len, 0);
    free(empty);
    const uint8_t bin[5] = {0, 1, 0, 255, 0};
    char *sb = crypto_seal(key, NULL, bin, sizeof bin);
    buf_reset(&out);
    assert_int_equal(crypto_open(key, NULL, sb, &out, &err), 0);
    assert_int_equal(out.len, sizeof bin);
    assert_memory_equal(out.data, bin, sizeof bin);
    free(sb);
    free(sealed);
    buf_free(&out);
}

static void open_fails(const uint8_t *key, const char *ad, const char *sealed)
{
    struct lumi_err err;
    struct buf out;
    buf_init(&out, 1 << 20);
    err_clear(&err);
    int rc = crypto_open(key, ad, sealed, &out, &err);
    assert_int_equal(rc, LUMI_EINVAL);
    assert_int_equal(out.len, 0);
    assert_true(err.msg[0] != '\0');
    buf_free(&out);
}

static void open_refuses_other_key_ad_tampering_and_truncation(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_LEN], other[CRYPTO_KEY_LEN];
    fixed_key(key, 1);
    fixed_key(other, 2);
    char *sealed = crypto_seal(key, "servers.api_key:17", "hunter2-secret", 14);
    assert_non_null(sealed);
    size_t n = strlen(sealed);

    open_fails(other, "servers.api_key:17", sealed);
    open_fails(key, "servers.api_key:18", sealed);
    open_fails(key, "servers.password:17", sealed);
    open_fails(key, NULL, sealed);

    /* Every single-character change anywhere is detected. */
    for (size_t i = 3; i < n; i++) {
        char *t = strdup(sealed);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        open_fails(key, "servers.api_key:17", t);
        free(t);
    }
    /* Truncated at every length, and the wrong version prefix. */
    for (size_t len = 0; len < n; len++) {
        char *t = strndup(sealed, len);
        open_fails(key, "servers.api_key:17", t);
        free(t);
    }
    char *v2 = strdup(sealed);
    v2[1] = '2';
    open_fails(key, "servers.api_key:17", v2);
    free(v2);
    open_fails(key, "x", "v1.!!!!");
    open_fails(key, "x", NULL);
    free(sealed);
}

static void password_hash_and_verify(void **state)
{
    (void)state;
    char hash[CRYPTO_PWHASH_MAX];
    struct lumi_err err;
    assert_int_equal(crypto_password_hash("correct horse battery", hash, &err), 0);
    assert_true(str_starts_with(hash, "$argon2id$"));
    assert_null(strstr(hash, "correct horse"));
    assert_true(crypto_password_verify(hash, "correct horse battery"));
    assert_false(crypto_password_verify(hash, "correct horse batterY"));
    assert_false(crypto_password_verify(hash, ""));
    assert_false(crypto_password_verify("not a hash", "correct horse battery"));
    assert_false(crypto_password_verify(NULL, "x"));

    assert_int_equal(crypto_password_hash("short12", hash, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "password must be at least 8 characters");
    char *huge = malloc(1026);
    memset(huge, 'p', 1025);
    huge[1025] = '\0';
    assert_int_equal(crypto_password_hash(huge, hash, &err), LUMI_EINVAL);
    assert_string_equal(err.msg, "password must be at most 1024 characters");
    free(huge);
}

struct verify_job {
    const char *hash;
    bool ok;
};

static void *verify_thread(void *arg)
{
    struct verify_job *j = arg;
    j->ok = crypto_password_verify(j->hash, "parallel password");
    return NULL;
}

static void concurrent_verifies_all_complete(void **state)
{
    (void)state;
    char hash[CRYPTO_PWHASH_MAX];
    assert_int_equal(crypto_password_hash("parallel password", hash, NULL), 0);
    pthread_t th[4];
    struct verify_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].hash = hash;
        jobs[i].ok = false;
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_matches_published_vectors),
        cmocka_unit_test(hmac_matches_rfc4231),
        cmocka_unit_test(ct_equal_compares_bytes),
        cmocka_unit_test(random_tokens_are_hex_and_differ),
        cmocka_unit_test(key_parse_accepts_hex_and_base64),
        cmocka_unit_test(key_parse_refuses_wrong_sizes_without_echo),
        cmocka_unit_test(seal_round_trips),
        cmocka_unit_test(open_refuses_other_key_ad_tampering_and_truncation),
        cmocka_unit_test(password_hash_and_verify),
        cmocka_unit_test(concurrent_verifies_all_complete),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

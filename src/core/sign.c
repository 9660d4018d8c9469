/*
 * sign.c — signatures with keys derived from LUMI_SECRET_KEY (see sign.h).
 *
 * Stateless: the purpose key is derived on every call (two HMACs of a few
 * bytes), so nothing secret is cached beyond the configuration's own copy.
 */
#include "core/sign.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/str.h"

#define PURPOSE_MAX 64

static int sign_raw(const char *purpose, const char *text, uint8_t mac[CRYPTO_SHA256_LEN])
{
    char label[PURPOSE_MAX + 16];
    uint8_t key[CRYPTO_SHA256_LEN];
    const unsigned char *secret = config_secret_key();
    int n = snprintf(label, sizeof label, "lumi-sign:%s", purpose ? purpose : "");
    if (secret == NULL || text == NULL || n < 0 || (size_t)n >= sizeof label)
        return LUMI_EINVAL;
    int rc = crypto_hmac_sha256(secret, CRYPTO_KEY_LEN, label, (size_t)n, key);
    if (rc == 0)
        rc = crypto_hmac_sha256(key, sizeof key, text, strlen(text), mac);
    memset(key, 0, sizeof key);
    return rc;
}

int sign_hex(const char *purpose, const char *text, char out[SIGN_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t mac[CRYPTO_SHA256_LEN];
    out[0] = '\0';
    int rc = sign_raw(purpose, text, mac);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < sizeof mac; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[2 * sizeof mac] = '\0';
    return 0;
}

bool sign_check(const char *purpose, const char *text, const char *hex)
{
    char want[SIGN_HEX_LEN];
    if (hex == NULL || strlen(hex) != SIGN_HEX_LEN - 1 || sign_hex(purpose, text, want) != 0)
        return false;
    return crypto_ct_equal(want, hex, SIGN_HEX_LEN - 1);
}

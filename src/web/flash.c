/*
 * flash.c — signed one-time messages in a cookie (see flash.h).
 *
 * Layout of the value: EXPIRY "." KIND "." HEX "." SIG, where SIG signs
 * everything before its dot for the purpose "flash". The message is hex so
 * the value needs no cookie quoting. Stateless and thread-safe.
 */
#include "web/flash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/sign.h"
#include "core/str.h"
#include "core/utc.h"

#define VALUE_MAX (24 + 8 + 2 * FLASH_TEXT_MAX + SIGN_HEX_LEN + 8)
#define COOKIE_MAX (VALUE_MAX + 128)

static bool kind_known(const char *kind)
{
    return str_eq(kind, "ok") || str_eq(kind, "error") || str_eq(kind, "warn") ||
           str_eq(kind, "info");
}

static void set_cookie(struct web_resp *resp, const char *value, long max_age)
{
    char cookie[COOKIE_MAX];
    bool secure = str_starts_with(config_str("LUMI_BASE_URL"), "https://");
    int n = snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%ld%s",
                     FLASH_COOKIE, value, max_age, secure ? "; Secure" : "");
    if (n > 0 && (size_t)n < sizeof cookie)
        web_add_header(resp, "Set-Cookie", cookie);
}

void flash_set(struct web_resp *resp, const char *kind, const char *msg)
{
    static const char hex[] = "0123456789abcdef";
    char value[VALUE_MAX], sig[SIGN_HEX_LEN];
    if (msg == NULL || *msg == '\0' || !kind_known(kind))
        return;
    size_t len = strlen(msg);
    if (len > FLASH_TEXT_MAX) {
        len = FLASH_TEXT_MAX;
        while (len > 0 && ((unsigned char)msg[len] & 0xC0) == 0x80)
            len--; /* not inside a UTF-8 sequence */
    }
    int n = snprintf(value, sizeof value, "%" PRId64 ".%s.", utc_now() + FLASH_TTL_S, kind);
    if (n < 0 || (size_t)n + 2 * len + 1 >= sizeof value)
        return;
    size_t at = (size_t)n;
    for (size_t i = 0; i < len; i++) {
        value[at++] = hex[(unsigned char)msg[i] >> 4];
        value[at++] = hex[(unsigned char)msg[i] & 15];
    }
    value[at] = '\0';
    if (sign_hex("flash", value, sig) != 0 || at + 1 + strlen(sig) + 1 > sizeof value)
        return;
    value[at++] = '.';
    memcpy(value + at, sig, strlen(sig) + 1);
    set_cookie(resp, value, FLASH_TTL_S);
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The message of a well-signed, unexpired value into text; its kind into kind. */
static bool flash_parse(const char *value, char *kind, size_t kindsz, char *text, size_t textsz)
{
    char signed_part[VALUE_MAX], num[24];
    int64_t expiry = 0;
    const char *last = strrchr(value, '.');
    if (last == NULL || (size_t)(last - value) >= sizeof signed_part)
        return false;
    memcpy(signed_part, value, (size_t)(last - value));
    signed_part[last - value] = '\0';
    if (!sign_check("flash", signed_part, last + 1))
        return false;
    char *d1 = strchr(signed_part, '.');
    char *d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL || (size_t)(d1 - signed_part) >= sizeof num || (size_t)(d2 - d1 - 1) >= kindsz)
        return false;
    memcpy(num, signed_part, (size_t)(d1 - signed_part));
    num[d1 - signed_part] = '\0';
    if (str_to_i64z(num, 1, INT64_MAX, &expiry) != 0 || expiry < utc_now())
        return false;
    memcpy(kind, d1 + 1, (size_t)(d2 - d1 - 1));
    kind[d2 - d1 - 1] = '\0';
    const char *h = d2 + 1;
    size_t hl = strlen(h);
    if (!kind_known(kind) || hl % 2 != 0 || hl / 2 >= textsz)
        return false;
    for (size_t i = 0; i < hl / 2; i++) {
        int hi = hex_val(h[2 * i]), lo = hex_val(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        text[i] = (char)(hi << 4 | lo);
    }
    text[hl / 2] = '\0';
    return true;
}

json_t *flash_take(struct web_req *req, struct web_resp *resp)
{
    char kind[8], text[FLASH_TEXT_MAX + 1];
    const char *value = web_cookie(req, FLASH_COOKIE);
    if (value == NULL || *value == '\0')
        return NULL;
    set_cookie(resp, "", 0);
    if (!flash_parse(value, kind, sizeof kind, text, sizeof text))
        return NULL;
    return json_pack("{s:s s:s}", "kind", kind, "message", text);
}

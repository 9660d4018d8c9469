/*
 * fuzz_vf_json.c — VirtFusion's answers on arbitrary bytes: the error-body
 * reader (vf_parse_errors) at several output sizes, the server reader
 * (vf_parse_server) and the user-server matcher (vf_match_user_servers) with
 * differently shaped service keys.
 *
 * Invariants (abort on violation): error text is NUL-terminated inside its
 * buffer, free of control characters, valid UTF-8 (cut on a character
 * boundary), empty exactly when no message was counted, and at most 16
 * messages are counted; a parsed server or a match has a positive decimal id
 * and a failure leaves it empty with a message. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "panels/virtfusion.h"

/* Strict UTF-8 shape check (lead bytes and continuation counts). */
static bool utf8_ok(const unsigned char *s)
{
    while (*s != '\0') {
        size_t n = *s < 0x80             ? 0
                   : (*s & 0xE0) == 0xC0 ? 1
                   : (*s & 0xF0) == 0xE0 ? 2
                   : (*s & 0xF8) == 0xF0 ? 3
                                         : 4;
        if (n == 4)
            return false;
        s++;
        for (size_t i = 0; i < n; i++, s++)
            if ((*s & 0xC0) != 0x80)
                return false;
    }
    return true;
}

static bool decimal_id(const char *s)
{
    if (s[0] == '\0' || s[0] == '0')
        return false;
    return strspn(s, "0123456789") == strlen(s);
}

static void check_errors(const char *data, size_t size, size_t outsz)
{
    char out[512];
    memset(out, 'X', sizeof(out));
    int n = vf_parse_errors(data, size, out, outsz);
    size_t len = strnlen(out, outsz);
    if (n < 0 || n > 16 || len >= outsz)
        abort();
    if (n == 0 && len != 0)
        abort();
    if (n > 0 && len == 0 && outsz >= 8) /* smaller: the first character may not fit */
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            abort();
    if (!utf8_ok((const unsigned char *)out))
        abort();
    if (outsz < sizeof(out) && out[outsz] != 'X')
        abort(); /* wrote past the size it was given */
}

static void check_server(const char *data, size_t size)
{
    struct panel_result r;
    struct hc_error e;
    int rc = vf_parse_server(data, size, &r, &e);
    if (rc == 0 && !decimal_id(r.external_id))
        abort();
    if (rc == 0 && r.panel_user_id[0] != '\0' && !decimal_id(r.panel_user_id))
        abort();
    if (rc != 0 &&
        (rc != -1 || r.external_id[0] != '\0' || e.cls != HC_BAD_RESPONSE || e.message[0] == '\0'))
        abort();
}

static void check_match(const char *data, size_t size, const char *key)
{
    struct panel_result r;
    struct hc_error e;
    size_t orphans = 12345;
    int rc = vf_match_user_servers(data, size, key, 5, 1, &r, &orphans, &e);
    if (rc == 1 && (!decimal_id(r.external_id) || strcmp(r.panel_user_id, "5") != 0))
        abort();
    if (rc == 0 && (r.external_id[0] != '\0' || orphans == 12345))
        abort();
    if (rc == -1 && (e.message[0] == '\0' || e.cls == HC_OK))
        abort();
    if (rc < -1 || rc > 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    static const size_t sizes[] = {1, 2, 7, 64, 512};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_errors(d, size, sizes[i]);
    check_server(d, size);
    check_match(d, size, "lumi-svc-1");
    check_match(d, size, "42");
    check_match(d, size, "9f4e28ba-2fa1-11d2-883f-0016d3cca000");
    check_match(d, size, "server");
    return 0;
}

/*
 * fuzz_mail_addr.c — the mail address parser (mail_addr_extract and
 * mail_addr_list_check): text that admins type into settings and clients into
 * their profile, and that ends up in SMTP envelopes and mail headers.
 *
 * Properties checked on any input: no crash or overread; an accepted address
 * is NUL-terminated, at most 254 bytes, has exactly one '@' with something on
 * both sides, and contains no byte that could end or break an SMTP command or
 * a header (controls, space, '<', '>', ','); it is accepted again unchanged as
 * a bare address; and a list check never accepts a list whose single entry
 * the extractor refused. Then the input is built into a message as its To:
 * and must either be refused or build.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/mime.h"

#define INPUT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[INPUT_MAX + 1], out[MAIL_ADDR_MAX], again[MAIL_ADDR_MAX];
    struct lumi_err err;
    if (size > INPUT_MAX)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    err_clear(&err);
    int rc = mail_addr_extract(in, out, sizeof out, &err);
    if (rc != 0) {
        if (rc != LUMI_EINVAL || err.msg[0] == '\0')
            abort();
        if (strchr(in, ',') == NULL && strlen(in) == size && in[0] != '\0' &&
            strspn(in, " \t") != size && mail_addr_list_check(in, &err) == 0)
            abort(); /* one entry, refused alone, accepted in a list */
        return 0;
    }
    size_t n = strlen(out);
    const char *at = strchr(out, '@');
    if (n == 0 || n > 254 || at == NULL || at == out || at[1] == '\0' || strchr(at + 1, '@'))
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',')
            abort();
    }
    if (mail_addr_extract(out, again, sizeof again, &err) != 0 || strcmp(out, again) != 0)
        abort();
    struct buf b;
    buf_init(&b, 1 << 20);
    struct mail_message m = {.from = "Lumi <lumi@example.com>", .to = in, .subject = "x",
                             .message_id = "<fuzz@example.com>", .date = 0, .text = "x"};
    rc = mime_build(&m, &b, &err);
    if (rc != 0 && rc != LUMI_EINVAL)
        abort();
    buf_free(&b);
    return 0;
}

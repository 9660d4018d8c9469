/*
 * test_mime.c — the MIME builder and the address helpers, byte by byte:
 * CRLF-only output within line limits, the header block, quoted-printable
 * that decodes back to the text (soft breaks, UTF-8, '=', trailing spaces,
 * lone dots) at every line length around the 76-character limit, RFC 2047
 * subjects and display names, multipart layout with random boundaries absent
 * from the bodies, base64 attachments and RFC 2231 file names, header
 * injection refused with the output untouched, the size cap, and the address
 * grammar. Python's own parser reads the same messages in test_smtp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "mail/mime.h"

#define DATE_2026 1795554818 /* Tue, 24 Nov 2026 21:13:38 +0000 */

/* ---- helpers ---- */

static struct mail_message base_message(void)
{
    struct mail_message m = {
        .from = "Lumi Billing <billing@lumi.test>",
        .to = "client@example.test",
        .subject = "Your invoice",
        .message_id = "<inv-42.abc@lumi.test>",
        .date = DATE_2026,
        .text = "Hello,\nyour invoice is ready.\n",
    };
    return m;
}

/* Builds m into a fresh buffer (caller frees the result); the build must succeed. */
static char *build(const struct mail_message *m, size_t *len)
{
    struct buf b;
    struct lumi_err err = {0};
    buf_init(&b, MIME_MAX_BYTES);
    int rc = mime_build(m, &b, &err);
    if (rc != 0)
        fail_msg("mime_build: %d %s", rc, err.msg);
    if (len != NULL)
        *len = b.len;
    return buf_steal(&b);
}

/* Every line ends with CRLF, no bare CR or LF, no line over 998 (or max_line) characters. */
static void assert_crlf_lines(const char *s, size_t n, size_t max_line)
{
    size_t col = 0;
    assert_true(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            assert_true(i + 1 < n && s[i + 1] == '\n');
            if (col > max_line)
                fail_msg("line of %zu characters: %.*s", col, (int)col, s + i - col);
            i++;
            col = 0;
            continue;
        }
        assert_true(s[i] != '\n');
        assert_true(s[i] != '\0');
        col++;
    }
}

static const char *body_of(const char *msg)
{
    const char *p = strstr(msg, "\r\n\r\n");
    assert_non_null(p);
    return p + 4;
}

/* The value of header name in the header block, unfolded (CRLF removed); NULL when absent. */
static char *header(const char *msg, const char *name)
{
    static char out[4096];
    size_t nl = strlen(name), k = 0;
    const char *end = strstr(msg, "\r\n\r\n");
    const char *p = msg;
    while (p != NULL && p < end) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            for (;;) {
                const char *eol = strstr(v, "\r\n");
                memcpy(out + k, v, (size_t)(eol - v));
                k += (size_t)(eol - v);
                if (eol[2] != ' ' && eol[2] != '\t')
                    break;
                v = eol + 2;
            }
            out[k] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes quoted-printable s[0..n) into out (NUL-terminated, caller frees),
 * checking the encoding rules on the way: lines at most 76 characters, no
 * white space before a line end, only printable ASCII, '=' followed by two
 * upper-case hex digits or a line end, no line starting with '.'.
 */
static char *qp_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0, col = 0;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\r') {
            assert_true(i + 1 < n && s[i + 1] == '\n');
            assert_true(col <= 76);
            assert_true(i == 0 || (s[i - 1] != ' ' && s[i - 1] != '\t'));
            out[k++] = '\r';
            out[k++] = '\n';
            i++;
            col = 0;
            continue;
        }
        if (col == 0)
            assert_true(c != '.');
        if (c == '=') {
            if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
                assert_true(col + 1 <= 76);
                i += 2;
                col = 0;
                continue;
            }
            if (i + 2 >= n)
                fail_msg("'=' at the end of the body");
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                fail_msg("bad escape '=%c%c'", s[i + 1], s[i + 2]);
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
            col += 3;
            continue;
        }
        assert_true(c == ' ' || c == '\t' || (c >= 33 && c <= 126));
        out[k++] = c;
        col++;
    }
    assert_true(col <= 76);
    out[k] = '\0';
    return out;
}

static int b64val(char c)
{
    const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c != '\0' ? strchr(t, c) : NULL;
    return p != NULL ? (int)(p - t) : -1;
}

/* Decodes base64 s[0..n), skipping CRLF; returns bytes written to out. */
static size_t b64_decode(const char *s, size_t n, unsigned char *out)
{
    unsigned long acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
            continue;
        int v = b64val(s[i]);
        if (v < 0)
            fail_msg("bad base64 character '%c'", s[i]);
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(acc >> bits);
        }
    }
    return k;
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xE0) == 0xC0 ? 2 : (s[i] & 0xF0) == 0xE0 ? 3 : 4;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/*
 * Decodes an unfolded header value made of RFC 2047 words separated by
 * spaces (text after the last word, e.g. " <addr>", goes to rest). Each word
 * must be at most 75 characters and decode to complete UTF-8 on its own.
 */
static char *ew_decode(const char *v, const char **rest)
{
    static char out[4096];
    size_t k = 0;
    while (strncmp(v, "=?UTF-8?B?", 10) == 0) {
        const char *end = strstr(v + 10, "?=");
        assert_non_null(end);
        assert_true(end + 2 - v <= 75);
        unsigned char word[128];
        size_t n = b64_decode(v + 10, (size_t)(end - v - 10), word);
        assert_true(utf8_ok(word, n));
        memcpy(out + k, word, n);
        k += n;
        v = end + 2;
        if (*v == ' ' && strncmp(v + 1, "=?", 2) == 0)
            v++;
    }
    out[k] = '\0';
    if (rest != NULL)
        *rest = v;
    return out;
}

/* The wire form of a text: a "\n" not after "\r" becomes "\r\n"; with final, a line
 * break is added at the end when missing (caller frees). */
static char *crlf(const char *s, bool final)
{
    size_t n = strlen(s), k = 0;
    char *out = malloc(n * 2 + 3);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            out[k++] = '\r';
        out[k++] = s[i];
    }
    if (final && (k < 2 || out[k - 2] != '\r' || out[k - 1] != '\n')) {
        out[k++] = '\r';
        out[k++] = '\n';
    }
    out[k] = '\0';
    return out;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- structure ---- */

static void text_only_message_has_the_headers_and_crlf_lines(void **state)
{
    struct mail_message m = base_message();
    m.list_unsubscribe = "<https://lumi.test/client/settings>";
    size_t n;
    char *msg = build(&m, &n);
    assert_crlf_lines(msg, n, 78);
    assert_string_equal(header(msg, "Date"), "Tue, 24 Nov 2026 21:13:38 +0000");
    assert_string_equal(header(msg, "From"), "\"Lumi Billing\" <billing@lumi.test>");
    assert_string_equal(header(msg, "To"), "client@example.test");
    assert_string_equal(header(msg, "Subject"), "Your invoice");
    assert_string_equal(header(msg, "Message-ID"), "<inv-42.abc@lumi.test>");
    assert_string_equal(header(msg, "MIME-Version"), "1.0");
    assert_string_equal(header(msg, "Auto-Submitted"), "auto-generated");
    assert_string_equal(header(msg, "List-Unsubscribe"), "<https://lumi.test/client/settings>");
    assert_null(header(msg, "List-Unsubscribe-Post"));
    assert_string_equal(header(msg, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(header(msg, "Content-Transfer-Encoding"), "quoted-printable");
    assert_string_equal(body_of(msg), "Hello,\r\nyour invoice is ready.\r\n");
    free(msg);

    m.list_unsubscribe = NULL;
    m.date = 0;
    msg = build(&m, NULL);
    assert_null(header(msg, "List-Unsubscribe"));
    assert_string_equal(header(msg, "Date"), "Thu, 01 Jan 1970 00:00:00 +0000");
    free(msg);
}

static void quoted_printable_round_trips_tricky_text(void **state)
{
    char text[2048];
    char longline[201];
    memset(longline, 'x', 200);
    longline[200] = '\0';
    snprintf(text, sizeof text,
             "Grüße aus Köln: 12,50 € fällig\n%s\n.\n..\n.leading dot\nFrom here on\n"
             "trailing spaces   \ntrailing tab\t\na=b==c =3D\n"
             "€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€\n"
             "lone\rCR and crlf\r\nend without newline",
             longline);
    struct mail_message m = base_message();
    m.text = text;
    size_t n;
    char *msg = build(&m, &n);
    assert_crlf_lines(msg, n, 78);
    char *decoded = qp_decode(body_of(msg), strlen(body_of(msg)));
    char *want = crlf(text, true); /* the whole message ends with a line break */
    assert_string_equal(decoded, want);
    /* UTF-8 is encoded as =XX, never sent raw; '=' itself too */
    assert_non_null(strstr(body_of(msg), "Gr=C3=BC=C3=9Fe"));
    assert_non_null(strstr(body_of(msg), "a=3Db=3D=3Dc =3D3D"));
    assert_non_null(strstr(body_of(msg), "\r\n=2E\r\n"));
    assert_non_null(strstr(body_of(msg), "\r\n=46rom here on"));
    assert_non_null(strstr(body_of(msg), "trailing spaces  =20\r\n"));
    assert_non_null(strstr(body_of(msg), "trailing tab=09\r\n"));
    free(decoded);
    free(want);
    free(msg);
}

/* Every line length around the limit, with tokens of 1 and 3 characters at the edge. */
static void quoted_printable_soft_breaks_at_every_length(void **state)
{
    static const char *const fills[] = {"x", "=", " ", ".", "é", "€", "xé", "x "};
    char text[2000], first[600];
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        for (size_t len = 60; len <= 160; len++) {
            size_t k = 0, fl = strlen(fills[f]);
            while (k + fl <= len) {
                memcpy(first + k, fills[f], fl);
                k += fl;
            }
            first[k] = '\0';
            snprintf(text, sizeof text, "%s\n%sy\n%s", first, first, first);
            struct mail_message m = base_message();
            m.text = text;
            size_t n;
            char *msg = build(&m, &n);
            assert_crlf_lines(msg, n, 78);
            char *decoded = qp_decode(body_of(msg), strlen(body_of(msg)));
            char *want = crlf(text, true);
            if (strcmp(decoded, want) != 0)
                fail_msg("fill '%s' length %zu: decoded text differs", fills[f], len);
            free(decoded);
            free(want);
            free(msg);
        }
    }
}

static void utf8_subject_is_encoded_words_that_decode_back(void **state)
{
    /* 3- and 4-byte sequences so a naive split would cut one */
    const char *subject = "Rechnung Nr. 42 – fällig am 1. Dezember: 12,50 € 🎉🎉🎉 "
                          "Übersicht über alle Dienste und Zahlungen €€€€€€€€€€€€€";
    struct mail_message m = base_message();
    m.subject = subject;
    size_t n;
    char *msg = build(&m, &n);
    assert_crlf_lines(msg, n, 76);
    const char *rest;
    const char *v = header(msg, "Subject");
    assert_true(strncmp(v, "=?UTF-8?B?", 10) == 0);
    assert_string_equal(ew_decode(v, &rest), subject);
    assert_string_equal(rest, "");
    assert_true(count(msg, "=?UTF-8?B?") >= 3);
    free(msg);

    /* every offset of 2-, 3- and 4-byte sequences against the word size */
    for (int k = 0; k < 6; k++) {
        char subj[512];
        int len = snprintf(subj, sizeof subj, "%.*s", k, "xxxxxx");
        for (int r = 0; r < 12; r++)
            len += snprintf(subj + len, sizeof subj - (size_t)len, "€🎉é");
        m.subject = subj;
        msg = build(&m, &n);
        assert_crlf_lines(msg, n, 76);
        assert_string_equal(ew_decode(header(msg, "Subject"), NULL), subj);
        free(msg);
    }

    /* ASCII with something that looks like an encoded word is encoded too */
    m.subject = "Price =?x?= ok";
    msg = build(&m, NULL);
    assert_string_equal(ew_decode(header(msg, "Subject"), NULL), "Price =?x?= ok");
    free(msg);

    m.subject = "";
    msg = build(&m, NULL);
    assert_non_null(strstr(msg, "\r\nSubject:\r\n"));
    free(msg);
}

static void long_ascii_subject_is_folded_at_spaces(void **state)
{
    const char *subject = "Your invoice 2026-0042 for the game server \"Minecraft Survival\" "
                          "and two other services is due on 1 December 2026 - please pay";
    struct mail_message m = base_message();
    m.subject = subject;
    size_t n;
    char *msg = build(&m, &n);
    assert_crlf_lines(msg, n, 78);
    assert_string_equal(header(msg, "Subject"), subject);
    assert_non_null(strstr(msg, "\r\n "));
    free(msg);
}

static void display_names_are_quoted_or_encoded(void **state)
{
    struct mail_message m = base_message();
    m.from = "\"Acme, Inc.\" <billing@acme.test>";
    m.to = "Say \"hi\" \\o/ <a@b.test>";
    char *msg = build(&m, NULL);
    assert_string_equal(header(msg, "From"), "\"Acme, Inc.\" <billing@acme.test>");
    assert_string_equal(header(msg, "To"), "\"Say \\\"hi\\\" \\\\o/\" <a@b.test>");
    free(msg);

    const char *rest;
    m.from = "Zoë Müller-Lüdenscheidt vom Großen Haus am See und Überall <zoe@example.test>";
    m.to = "<bare@example.test>";
    size_t n;
    msg = build(&m, &n);
    assert_crlf_lines(msg, n, 78);
    assert_string_equal(ew_decode(header(msg, "From"), &rest),
                        "Zoë Müller-Lüdenscheidt vom Großen Haus am See und Überall");
    assert_string_equal(rest, " <zoe@example.test>");
    assert_string_equal(header(msg, "To"), "bare@example.test");
    free(msg);
}

static void header_injection_is_refused_and_nothing_is_written(void **state)
{
    static const char *const evil[] = {"x\r\nBcc: victim@example.test", "x\nBcc: v@e.test",
                                       "x\rBcc: v@e.test"};
    struct mail_attachment att = {.filename = "a.txt",
                                  .content_type = "text/plain",
                                  .data = (const unsigned char *)"hi",
                                  .len = 2};
    for (size_t i = 0; i < 3; i++) {
        char addr[128];
        snprintf(addr, sizeof addr, "Name%s <a@b.test>", evil[i]);
        for (int field = 0; field < 6; field++) {
            struct mail_message m = base_message();
            struct mail_attachment a = att;
            char id[128];
            snprintf(id, sizeof id, "<a%s@b>", evil[i]);
            switch (field) {
            case 0:
                m.from = addr;
                break;
            case 1:
                m.to = addr;
                break;
            case 2:
                m.subject = evil[i];
                break;
            case 3:
                m.message_id = id;
                break;
            case 4:
                m.list_unsubscribe = evil[i];
                break;
            case 5:
                a.filename = evil[i];
                m.attachments = &a;
                m.nattachments = 1;
                break;
            }
            struct buf b;
            struct lumi_err err = {0};
            buf_init(&b, 1 << 20);
            assert_int_equal(buf_append_str(&b, "keep"), 0);
            int rc = mime_build(&m, &b, &err);
            assert_true(rc == LUMI_EINVAL);
            assert_string_equal(buf_cstr(&b), "keep");
            assert_true(err.msg[0] != '\0');
            assert_null(strchr(err.msg, '\n'));
            assert_null(strchr(err.msg, '\r'));
            buf_free(&b);
        }
    }
}

static void bad_fields_are_refused(void **state)
{
    struct lumi_err err;
    struct buf b;
    buf_init(&b, 1 << 20);
    struct mail_message m;

#define REFUSED(assignment, words)                                                                 \
    do {                                                                                           \
        m = base_message();                                                                        \
        assignment;                                                                                \
        memset(&err, 0, sizeof err);                                                               \
        assert_true(mime_build(&m, &b, &err) == LUMI_EINVAL);                                      \
        if (strstr(err.msg, words) == NULL)                                                        \
            fail_msg("expected '%s' in: %s", words, err.msg);                                      \
        assert_int_equal(b.len, 0);                                                                \
    } while (0)
    REFUSED(m.text = NULL, "text");
    REFUSED(m.text = "bad \xC3\x28 utf-8", "UTF-8");
    REFUSED(m.html = "<p>\xE2\x82</p>", "html");
    REFUSED(m.subject = "\xF0\x9F\x8E", "subject");
    REFUSED(m.subject = NULL, "subject");
    REFUSED(m.from = "not an address", "from");
    REFUSED(m.to = NULL, "to");
    REFUSED(m.message_id = "no-brackets@x", "message_id");
    REFUSED(m.message_id = "<no-at>", "message_id");
    REFUSED(m.message_id = "<sp ace@x>", "message_id");
    REFUSED(m.date = -1, "date");
    REFUSED(m.list_unsubscribe = "<https://x.test/é>", "list_unsubscribe");
    struct mail_attachment a = {.filename = "ok.txt", .content_type = "text/plain; x=y"};
    REFUSED((m.attachments = &a, m.nattachments = 1), "content type");
    a.content_type = NULL;
    a.filename = "../etc/passwd";
    REFUSED((m.attachments = &a, m.nattachments = 1), "file name");
    a.filename = "";
    REFUSED((m.attachments = &a, m.nattachments = 1), "file name");
    a.filename = "x.bin";
    a.len = 3;
    REFUSED((m.attachments = &a, m.nattachments = 1), "no data");
#undef REFUSED
    buf_free(&b);
}

/* ---- multipart ---- */

/* The boundary= value of the Content-Type header in text (at most 64 characters). */
static void boundary_of(const char *ctype, char out[80])
{
    const char *p = strstr(ctype, "boundary=\"");
    assert_non_null(p);
    p += 10;
    size_t n = strcspn(p, "\"");
    assert_true(n < 80);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void html_and_attachments_make_mixed_around_alternative(void **state)
{
    unsigned char bin[5000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7 + 3);
    struct mail_attachment att[] = {
        {.filename = "Rechnung-42.pdf",
         .content_type = "application/pdf",
         .data = bin,
         .len = sizeof bin},
        {.filename = "Übersicht € \"2026\".csv",
         .content_type = "text/csv",
         .data = (const unsigned char *)"a,b\n",
         .len = 4},
        {.filename = "Say \"hi\".txt", .data = (const unsigned char *)"", .len = 0},
    };
    struct mail_message m = base_message();
    /* text that would collide with a naive boundary: "=_" and "--" lines */
    m.text = "--\n--=_\n=_lumi\n";
    m.html = "<p>Hello &amp; welcome — 12,50 €</p>\n";
    m.attachments = att;
    m.nattachments = 3;
    size_t n;
    char *msg = build(&m, &n);
    assert_crlf_lines(msg, n, 78);

    char mixed[80], alt[80], line[128];
    boundary_of(header(msg, "Content-Type"), mixed);
    assert_true(strncmp(header(msg, "Content-Type"), "multipart/mixed;", 16) == 0);
    assert_int_equal(strlen(mixed), 34);
    assert_true(strncmp(mixed, "=_", 2) == 0);
    const char *alt_ct = strstr(msg, "Content-Type: multipart/alternative;");
    assert_non_null(alt_ct);
    boundary_of(alt_ct, alt);
    assert_string_not_equal(mixed, alt);

    /* each boundary occurs only in its parameter and its delimiter lines */
    snprintf(line, sizeof line, "\r\n--%s\r\n", mixed);
    assert_int_equal(count(msg, line), 4);
    snprintf(line, sizeof line, "\r\n--%s--\r\n", mixed);
    assert_int_equal(count(msg, line), 1);
    assert_int_equal(count(msg, mixed), 6);
    snprintf(line, sizeof line, "\r\n--%s\r\n", alt);
    assert_int_equal(count(msg, line), 2);
    snprintf(line, sizeof line, "\r\n--%s--\r\n", alt);
    assert_int_equal(count(msg, line), 1);
    assert_int_equal(count(msg, alt), 4);

    /* text before html inside the alternative */
    const char *text_part = strstr(msg, "Content-Type: text/plain; charset=utf-8");
    const char *html_part = strstr(msg, "Content-Type: text/html; charset=utf-8");
    assert_non_null(text_part);
    assert_non_null(html_part);
    assert_true(alt_ct < text_part && text_part < html_part);

    /* the binary attachment: base64 in 76-character lines that decode to the data */
    const char *pdf = strstr(msg, "Content-Type: application/pdf\r\n"
                                  "Content-Disposition: attachment;\r\n"
                                  " filename=\"Rechnung-42.pdf\"\r\n"
                                  "Content-Transfer-Encoding: base64\r\n\r\n");
    assert_non_null(pdf);
    const char *data = strstr(pdf, "\r\n\r\n") + 4;
    const char *data_end = strstr(data, "\r\n--");
    unsigned char *back = malloc(sizeof bin);
    assert_non_null(back);
    for (const char *l = data; l < data_end;) {
        const char *eol = strstr(l, "\r\n");
        assert_true(eol - l <= 76);
        l = eol + 2;
    }
    assert_int_equal(b64_decode(data, (size_t)(data_end - data), back), sizeof bin);
    assert_memory_equal(back, bin, sizeof bin);
    free(back);

    /* RFC 2231 for the UTF-8 name, a quoted string with escapes for the ASCII one */
    assert_non_null(strstr(msg, "Content-Type: text/csv\r\n"));
    assert_non_null(strstr(msg, " filename*0*=UTF-8''%C3%9Cbersicht%20%E2%82%AC%20%222026%22.csv"));
    assert_non_null(strstr(msg, "Content-Type: application/octet-stream\r\n"));
    assert_non_null(strstr(msg, " filename=\"Say \\\"hi\\\".txt\""));
    free(msg);
}

static void boundaries_differ_between_builds(void **state)
{
    struct mail_message m = base_message();
    m.html = "<p>x</p>";
    char a[80], b[80];
    char *one = build(&m, NULL);
    boundary_of(header(one, "Content-Type"), a);
    char *two = build(&m, NULL);
    boundary_of(header(two, "Content-Type"), b);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a + 2, "0123456789abcdef"), 32);
    free(one);
    free(two);
}

static void long_utf8_file_names_use_rfc2231_continuations(void **state)
{
    char name[256];
    size_t k = 0;
    while (k + 3 <= 240) {
        memcpy(name + k, "€", 3);
        k += 3;
    }
    memcpy(name + k, ".pdf", 5);
    struct mail_attachment a = {.filename = name, .data = (const unsigned char *)"x", .len = 1};
    struct mail_message m = base_message();
    m.attachments = &a;
    m.nattachments = 1;
    size_t n;
    char *msg = build(&m, &n);
    assert_crlf_lines(msg, n, 78);
    assert_non_null(strstr(msg, " filename*0*=UTF-8''%E2%82%AC"));
    assert_non_null(strstr(msg, " filename*11*="));
    free(msg);
}

/* ---- limits ---- */

static void size_cap_and_buffer_max_leave_the_output_untouched(void **state)
{
    struct lumi_err err = {0};
    struct buf b;
    struct mail_message m = base_message();

    /* encoding pushes a raw size under the cap over it */
    size_t big = MIME_MAX_BYTES - 1000;
    unsigned char *data = calloc(1, big);
    assert_non_null(data);
    struct mail_attachment a = {.filename = "big.bin", .data = data, .len = big};
    m.attachments = &a;
    m.nattachments = 1;
    buf_init(&b, 64u << 20);
    assert_int_equal(buf_append_str(&b, "keep"), 0);
    assert_true(mime_build(&m, &b, &err) == LUMI_ETOOLARGE);
    assert_string_equal(buf_cstr(&b), "keep");
    assert_non_null(strstr(err.msg, "25 MiB"));

    /* raw content over the cap is refused before encoding */
    a.len = MIME_MAX_BYTES + 1;
    assert_true(mime_build(&m, &b, &err) == LUMI_ETOOLARGE);
    assert_string_equal(buf_cstr(&b), "keep");
    buf_free(&b);
    free(data);

    /* the caller's buffer limit */
    m = base_message();
    buf_init(&b, 100);
    assert_true(mime_build(&m, &b, &err) == LUMI_ETOOLARGE);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(err.msg, "100 bytes"));
    buf_free(&b);
}

/* ---- addresses ---- */

static void good_addresses_are_extracted(void **state)
{
    static const char *const good[][2] = {
        {"a@b.co", "a@b.co"},
        {"  a@b.co  ", "a@b.co"},
        {"Name <a@b.co>", "a@b.co"},
        {"<a@b.co>", "a@b.co"},
        {"\"Doe, Jane\" <j.d+tag@mail.example.org>", "j.d+tag@mail.example.org"},
        {"Zoë Müller <zoe@example.test>", "zoe@example.test"},
        {"root@localhost", "root@localhost"},
        {"x@LOCALHOST", "x@LOCALHOST"},
        {"!#$%&'*+-/=?^_`{|}~@x-y.z9.test", "!#$%&'*+-/=?^_`{|}~@x-y.z9.test"},
    };
    char out[MAIL_ADDR_MAX];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct lumi_err err = {0};
        if (mail_addr_extract(good[i][0], out, sizeof out, &err) != 0)
            fail_msg("'%s' refused: %s", good[i][0], err.msg);
        assert_string_equal(out, good[i][1]);
    }
}

static void bad_addresses_are_refused_with_a_reason(void **state)
{
    char local65[80], long_addr[300];
    memset(local65, 'a', 65);
    snprintf(local65 + 65, sizeof local65 - 65, "@b.co");
    memset(long_addr, 'b', 251);
    memcpy(long_addr, "a@", 2);
    snprintf(long_addr + 251, sizeof long_addr - 251, ".com");
    static const char *const bad_static[][2] = {
        {"", "empty"},
        {"   ", "empty"},
        {"a", "no '@'"},
        {"a@", "domain"},
        {"@b.co", "before '@'"},
        {"a@b", "no dot"},
        {"a@@b.co", "more than one"},
        {"a b@c.co", "space"},
        {"a@b..co", "empty label"},
        {".a@b.co", "dot"},
        {"a.@b.co", "dot"},
        {"a..b@c.co", "dot"},
        {"a@-b.co", "'-'"},
        {"a@b_c.co", "'_'"},
        {"a\"b@c.co", "'\"'"},
        {"Name <a@b.co", "'>'"},
        {"Name a@b.co>", "'>'"},
        {"<a@b.co> trailing", "'>'"},
        {"A <b> <a@b.co>", "angle bracket"},
        {"é@b.co", "non-ASCII"},
        {"a@b.co\r\nBcc: x@y.z", "space or a control"},
        {"Name\t<a@b.co", "'>'"},
    };
    char out[MAIL_ADDR_MAX];
    struct lumi_err err;
    for (size_t i = 0; i < sizeof bad_static / sizeof bad_static[0]; i++) {
        memset(&err, 0, sizeof err);
        snprintf(out, sizeof out, "junk");
        if (mail_addr_extract(bad_static[i][0], out, sizeof out, &err) != LUMI_EINVAL)
            fail_msg("'%s' accepted", bad_static[i][0]);
        assert_string_equal(out, "");
        if (strstr(err.msg, bad_static[i][1]) == NULL)
            fail_msg("'%s': expected '%s' in: %s", bad_static[i][0], bad_static[i][1], err.msg);
        assert_null(strchr(err.msg, '\n'));
    }
    assert_true(mail_addr_extract(local65, out, sizeof out, &err) == LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "64"));
    assert_true(mail_addr_extract(long_addr, out, sizeof out, &err) == LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "254"));
    assert_true(mail_addr_extract(NULL, out, sizeof out, &err) == LUMI_EINVAL);
    char small[4];
    assert_true(mail_addr_extract("a@b.co", small, sizeof small, &err) == LUMI_EINVAL);
}

static void address_lists_are_checked_entry_by_entry(void **state)
{
    static const char *const good[] = {"", "   ", "a@b.co", "a@b.co, c@d.co",
                                       " a@b.co ,c@d.co , Name <e@f.co> "};
    struct lumi_err err;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        memset(&err, 0, sizeof err);
        if (mail_addr_list_check(good[i], &err) != 0)
            fail_msg("'%s' refused: %s", good[i], err.msg);
    }
    assert_int_equal(mail_addr_list_check(NULL, &err), 0);
    assert_true(mail_addr_list_check("a@b.co,,c@d.co", &err) == LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "empty entry"));
    assert_true(mail_addr_list_check("a@b.co,", &err) == LUMI_EINVAL);
    assert_true(mail_addr_list_check("a@b.co, nope, c@d.co", &err) == LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "'nope'"));
}

int main(void)
{
    crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_only_message_has_the_headers_and_crlf_lines),
        cmocka_unit_test(quoted_printable_round_trips_tricky_text),
        cmocka_unit_test(quoted_printable_soft_breaks_at_every_length),
        cmocka_unit_test(utf8_subject_is_encoded_words_that_decode_back),
        cmocka_unit_test(long_ascii_subject_is_folded_at_spaces),
        cmocka_unit_test(display_names_are_quoted_or_encoded),
        cmocka_unit_test(header_injection_is_refused_and_nothing_is_written),
        cmocka_unit_test(bad_fields_are_refused),
        cmocka_unit_test(html_and_attachments_make_mixed_around_alternative),
        cmocka_unit_test(boundaries_differ_between_builds),
        cmocka_unit_test(long_utf8_file_names_use_rfc2231_continuations),
        cmocka_unit_test(size_cap_and_buffer_max_leave_the_output_untouched),
        cmocka_unit_test(good_addresses_are_extracted),
        cmocka_unit_test(bad_addresses_are_refused_with_a_reason),
        cmocka_unit_test(address_lists_are_checked_entry_by_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

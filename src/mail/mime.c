/*
 * mime.c — builds one e-mail message as MIME bytes, and checks e-mail addresses
 * (see mime.h).
 *
 * Owns: the RFC 5322 header block (Date, From, To, Subject, Message-ID, …),
 * the MIME tree (text, alternative, mixed), the encoders it needs
 * (quoted-printable, base64, RFC 2047 encoded-words, RFC 2231 parameters) and
 * the address grammar Lumi accepts for envelopes and settings.
 *
 * Threading: no shared state; any thread may build messages (the boundary
 * randomness comes from crypto_random, which is thread-safe).
 *
 * Everything a caller passes is validated before the first byte is written,
 * and every byte then goes through one writer (struct w) that enforces
 * MIME_MAX_BYTES and remembers the first error, so the encoders stay free of
 * error plumbing; mime_build rewinds the output if anything failed.
 *
 * Caveats: addresses are ASCII (no SMTPUTF8). A text that does not end with a
 * line break gains one when it is the whole message (SMTP ends data with a
 * line break anyway); inside a multipart it round-trips exactly.
 */
#include "mail/mime.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/crypto.h"
#include "core/str.h"

#define LOCAL_MAX 64
#define ADDR_MAX 254
#define NAME_MAX_BYTES 256 /* display names */
#define FILENAME_MAX_BYTES 255
#define CTYPE_MAX 127
#define MSGID_MAX 250
#define UNSUB_MAX 900        /* keeps the header line under 998 bytes */
#define SUBJECT_WORD_MAX 900 /* a longer unbroken ASCII word is encoded instead */
#define EW_CHUNK 39          /* bytes per encoded-word: 52 base64 chars, 64-char word */
#define QP_LINE 76           /* RFC 2045: encoded lines at most 76 characters */
#define B64_LINE_BYTES 57    /* 57 bytes -> 76 base64 characters */
#define RFC2231_CHUNK 60     /* encoded characters per continuation */
#define FOLD_AT 78
#define SHOW_MAX 80             /* how much of a bad value an error message quotes */
#define DATE_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* ---- the writer ---- */

struct w {
    struct buf *b;
    size_t start;  /* out->len before mime_build */
    int rc;        /* first error; later writes are no-ops */
    bool over_cap; /* the error was MIME_MAX_BYTES, not out->max or memory */
};

static void put(struct w *w, const void *p, size_t n)
{
    if (w->rc != 0)
        return;
    if (w->b->len - w->start + n > MIME_MAX_BYTES) {
        w->rc = LUMI_ETOOLARGE;
        w->over_cap = true;
        return;
    }
    w->rc = buf_append(w->b, p, n);
}

static void put_str(struct w *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Formatted text of at most one header line. */
static void put_fmt(struct w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct w *w, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        if (w->rc == 0)
            w->rc = LUMI_EINTERNAL;
        return;
    }
    put(w, line, (size_t)n);
}

/* ---- small checks ---- */

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned long cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

static bool all_printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return false;
    return true;
}

/* A copy of s[0..n) fit for an error message: controls become '?', long values are cut. */
static const char *show(const char *s, size_t n, char out[SHOW_MAX + 4])
{
    size_t k = n > SHOW_MAX ? SHOW_MAX : n;
    for (size_t i = 0; i < k; i++)
        out[i] = is_ctl((unsigned char)s[i]) ? '?' : s[i];
    if (k < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

/* A header field value must stay on its header line: CR or LF would start a new one. */
static int check_one_line(const char *field, const char *v, struct lumi_err *err)
{
    if (v != NULL && strpbrk(v, "\r\n") != NULL)
        return err_set(err, LUMI_EINVAL, "%s must not contain a line break", field);
    return 0;
}

/* ---- addresses ---- */

static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* What is wrong with the bare address a[0..n) (written into why), or NULL when nothing. */
static const char *addr_problem(const char *a, size_t n, char *why, size_t whysz)
{
    if (n == 0)
        return "it is empty";
    if (n > ADDR_MAX)
        return "it is longer than 254 characters";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c == ' ' || is_ctl(c))
            return "it contains a space or a control character";
        if (c >= 0x80)
            return "it contains a non-ASCII character (give the domain in its xn-- form)";
    }
    const char *at = memchr(a, '@', n);
    if (at == NULL)
        return "it has no '@'";
    size_t llen = (size_t)(at - a), dlen = n - llen - 1;
    const char *dom = at + 1;
    if (memchr(dom, '@', dlen) != NULL)
        return "it has more than one '@'";
    if (llen == 0)
        return "the part before '@' is empty";
    if (llen > LOCAL_MAX)
        return "the part before '@' is longer than 64 characters";
    for (size_t i = 0; i < llen; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c == '.') {
            if (i == 0 || i + 1 == llen || a[i + 1] == '.')
                return "the part before '@' has a dot at its start, its end or twice in a row";
        } else if (!is_atext(c)) {
            snprintf(why, whysz, "the part before '@' contains '%c'", c);
            return why;
        }
    }
    if (dlen == 0)
        return "the domain after '@' is empty";
    if (dlen == 9 && strncasecmp(dom, "localhost", 9) == 0)
        return NULL;
    if (memchr(dom, '.', dlen) == NULL)
        return "the domain has no dot";
    size_t label = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i == dlen || dom[i] == '.') {
            if (label == 0)
                return "the domain has an empty label (a dot at its start, its end or twice)";
            if (dom[i - 1] == '-' || dom[i - label] == '-')
                return "a domain label starts or ends with '-'";
            if (label > 63)
                return "a domain label is longer than 63 characters";
            label = 0;
            continue;
        }
        if (!is_ldh((unsigned char)dom[i])) {
            snprintf(why, whysz, "the domain contains '%c'", dom[i]);
            return why;
        }
        label++;
    }
    return NULL;
}

/* Trims spaces and tabs from both ends of s[0..*n); returns the new start. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && (*s == ' ' || *s == '\t'))
        s++, (*n)--;
    while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/*
 * Splits "Name <addr>", "<addr>" or "addr" (in[0..len)) into the display name
 * (name, name_len; may be empty, still quoted if it was) and the bare address
 * (copied into out).
 */
static int addr_split(const char *in, size_t len, const char **name, size_t *name_len, char *out,
                      size_t outsz, struct lumi_err *err)
{
    char shown[SHOW_MAX + 4], why[64];
    const char *s = trim(in, &len);
    const char *a = s;
    size_t alen = len;

    if (out != NULL && outsz > 0)
        out[0] = '\0';
    *name = s;
    *name_len = 0;
    const char *lt = memrchr(s, '<', len);
    if (lt != NULL) {
        if (s[len - 1] != '>')
            return err_set(err, LUMI_EINVAL,
                           "'%s' is not a valid e-mail address: '<' without a closing '>' at "
                           "the end",
                           show(s, len, shown));
        size_t nl = (size_t)(lt - s);
        *name = trim(s, &nl);
        *name_len = nl;
        for (size_t i = 0; i < nl; i++) {
            unsigned char c = (unsigned char)(*name)[i];
            if (c == '<' || c == '>' || is_ctl(c))
                return err_set(err, LUMI_EINVAL,
                               "'%s' is not a valid e-mail address: the name contains an angle "
                               "bracket or a control character",
                               show(s, len, shown));
        }
        a = lt + 1;
        alen = (size_t)(s + len - 1 - a);
    } else if (memchr(s, '>', len) != NULL) {
        return err_set(err, LUMI_EINVAL, "'%s' is not a valid e-mail address: '>' without '<'",
                       show(s, len, shown));
    }
    const char *problem = addr_problem(a, alen, why, sizeof why);
    if (problem != NULL)
        return err_set(err, LUMI_EINVAL, "'%s' is not a valid e-mail address: %s",
                       show(s, len, shown), problem);
    if (out == NULL || alen >= outsz)
        return err_set(err, LUMI_EINVAL, "no room for the address '%s'", show(a, alen, shown));
    memcpy(out, a, alen);
    out[alen] = '\0';
    return 0;
}

int mail_addr_extract(const char *in, char *out, size_t outsz, struct lumi_err *err)
{
    const char *name;
    size_t name_len;
    if (in == NULL) {
        if (out != NULL && outsz > 0)
            out[0] = '\0';
        return err_set(err, LUMI_EINVAL, "no e-mail address given");
    }
    return addr_split(in, strlen(in), &name, &name_len, out, outsz, err);
}

int mail_addr_list_check(const char *list, struct lumi_err *err)
{
    char entry[1024], addr[MAIL_ADDR_MAX], shown[SHOW_MAX + 4];
    if (list == NULL)
        return 0;
    size_t all = strlen(list);
    trim(list, &all);
    if (all == 0)
        return 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *e = trim(p, &n);
        if (n == 0)
            return err_set(err, LUMI_EINVAL,
                           "the address list has an empty entry (a comma at an end or two in a "
                           "row)");
        if (n >= sizeof entry)
            return err_set(err, LUMI_EINVAL, "'%s' in the address list is too long",
                           show(e, n, shown));
        memcpy(entry, e, n);
        entry[n] = '\0';
        int rc = mail_addr_extract(entry, addr, sizeof addr, err);
        if (rc != 0)
            return rc;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* ---- encoders ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of p[0..n) on one line. */
static void put_b64(struct w *w, const unsigned char *p, size_t n)
{
    char quad[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        quad[0] = B64[(v >> 18) & 63];
        quad[1] = B64[(v >> 12) & 63];
        quad[2] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        quad[3] = i + 2 < n ? B64[v & 63] : '=';
        put(w, quad, 4);
    }
}

/* Base64 body in lines of 76 characters, CRLF between lines (none after the last). */
static void put_b64_body(struct w *w, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i += B64_LINE_BYTES) {
        if (i > 0)
            put(w, "\r\n", 2);
        put_b64(w, p + i, n - i > B64_LINE_BYTES ? B64_LINE_BYTES : n - i);
    }
}

/*
 * s[0..n) as RFC 2047 B encoded-words of at most EW_CHUNK bytes each, never
 * splitting a UTF-8 sequence, one word per line (CRLF SP between words).
 * The widest line is "Subject: " + a 64-character word = 73 characters.
 * col is where the first word starts; returns the column after the last word.
 */
static size_t put_encoded_words(struct w *w, size_t col, const char *s, size_t n)
{
    size_t i = 0;
    do {
        size_t take = n - i > EW_CHUNK ? EW_CHUNK : n - i;
        while (take > 1 && i + take < n && ((unsigned char)s[i + take] & 0xC0) == 0x80)
            take--;
        if (i > 0)
            put(w, "\r\n ", 3);
        put_str(w, "=?UTF-8?B?");
        put_b64(w, (const unsigned char *)s + i, take);
        put_str(w, "?=");
        col = (i == 0 ? col : 1) + 12 + (take + 2) / 3 * 4;
        i += take;
    } while (i < n);
    return col;
}

/*
 * Quoted-printable (RFC 2045 6.7) of a UTF-8 text. "\n" and "\r\n" become
 * CRLF hard breaks; a lone CR is data (=0D). Soft breaks keep every line
 * at most 76 characters, the '=' included, and never split an =XX triplet.
 * Space or tab before a line end is encoded (transports strip trailing
 * white space). A '.' or "From " at the start of a line is encoded too: SMTP
 * dot-stuffing and mbox "From " quoting then have nothing to change.
 */
static void put_qp(struct w *w, const char *text)
{
    static const char HEX[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text), col = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
            if (c == '\r')
                i++;
            put(w, "\r\n", 2);
            col = 0;
            continue;
        }
        bool at_eol =
            i + 1 == n || s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
        for (int pass = 0; pass < 2; pass++) {
            bool literal =
                (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
            if (col == 0 && (c == '.' || (c == 'F' && strncmp(text + i, "From ", 5) == 0)))
                literal = false;
            size_t t = literal ? 1 : 3;
            /* The last token of a line may use column 76; others leave room for '='. */
            if (pass == 0 && col + t > QP_LINE - 1 && !(at_eol && col + t <= QP_LINE)) {
                put(w, "=\r\n", 3);
                col = 0;
                continue; /* again at column 0, where '.' and "From " are encoded */
            }
            if (literal) {
                put(w, &c, 1);
            } else {
                char tok[3] = {'=', HEX[c >> 4], HEX[c & 15]};
                put(w, tok, 3);
            }
            col += t;
            break;
        }
    }
}

/* ---- headers ---- */

struct mailbox {
    char addr[MAIL_ADDR_MAX];
    char name[NAME_MAX_BYTES + 1]; /* unquoted display name, UTF-8 */
    size_t name_len;
};

/* Parses a From/To value into mb; a quoted display name is unquoted. */
static int mailbox_parse(const char *field, const char *v, struct mailbox *mb, struct lumi_err *err)
{
    const char *name;
    size_t nlen, k = 0;
    struct lumi_err e;
    if (v == NULL)
        return err_set(err, LUMI_EINVAL, "%s is missing", field);
    if (check_one_line(field, v, err) != 0)
        return LUMI_EINVAL;
    if (addr_split(v, strlen(v), &name, &nlen, mb->addr, sizeof mb->addr, &e) != 0)
        return err_set(err, LUMI_EINVAL, "%s: %s", field, e.msg);
    bool quoted = nlen >= 2 && name[0] == '"' && name[nlen - 1] == '"';
    if (quoted) {
        name++;
        nlen -= 2;
    }
    for (size_t i = 0; i < nlen; i++) {
        if (quoted && name[i] == '\\' && i + 1 < nlen)
            i++;
        if (k == NAME_MAX_BYTES)
            return err_set(err, LUMI_EINVAL, "%s: the display name is longer than %d bytes", field,
                           NAME_MAX_BYTES);
        mb->name[k++] = name[i];
    }
    mb->name[k] = '\0';
    mb->name_len = k;
    if (!utf8_valid((const unsigned char *)mb->name, k))
        return err_set(err, LUMI_EINVAL, "%s: the display name is not valid UTF-8", field);
    return 0;
}

/* "Field: name <addr>": the name quoted when ASCII and short, else encoded-words. */
static void put_mailbox(struct w *w, const char *field, const struct mailbox *mb)
{
    size_t col = strlen(field) + 2;
    put_fmt(w, "%s: ", field);
    if (mb->name_len == 0) {
        put_fmt(w, "%s\r\n", mb->addr);
        return;
    }
    size_t quoted = 2;
    for (size_t i = 0; i < mb->name_len; i++)
        quoted += (mb->name[i] == '"' || mb->name[i] == '\\') ? 2 : 1;
    if (all_printable_ascii(mb->name, mb->name_len) && col + quoted <= QP_LINE &&
        strstr(mb->name, "=?") == NULL) {
        put(w, "\"", 1);
        for (size_t i = 0; i < mb->name_len; i++) {
            if (mb->name[i] == '"' || mb->name[i] == '\\')
                put(w, "\\", 1);
            put(w, &mb->name[i], 1);
        }
        put(w, "\"", 1);
        col += quoted;
    } else {
        col = put_encoded_words(w, col, mb->name, mb->name_len);
    }
    if (col + strlen(mb->addr) + 3 > FOLD_AT)
        put(w, "\r\n", 2);
    put_fmt(w, " <%s>\r\n", mb->addr);
}

/* A subject sent as it is: printable ASCII, no "=?", no edge spaces, no giant word. */
static bool subject_plain(const char *s)
{
    size_t n = strlen(s), word = 0;
    if (n == 0)
        return true;
    if (s[0] == ' ' || s[n - 1] == ' ' || strstr(s, "=?") != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return false;
        word = s[i] == ' ' ? 0 : word + 1;
        if (word > SUBJECT_WORD_MAX)
            return false;
    }
    return true;
}

/* An ASCII subject folded before spaces so lines stay within 78 characters where possible. */
static void put_subject_plain(struct w *w, const char *s)
{
    size_t col = strlen("Subject:");
    put_str(w, "Subject:");
    if (s[0] != '\0') {
        put(w, " ", 1);
        col++;
    }
    while (*s != '\0') {
        /* token: the spaces before a word, then the word */
        size_t sp = strspn(s, " ");
        size_t wl = strcspn(s + sp, " ");
        if (col > strlen("Subject: ") && col + sp + wl > FOLD_AT) {
            put(w, "\r\n", 2);
            col = 0;
        }
        put(w, s, sp + wl);
        col += sp + wl;
        s += sp + wl;
    }
    put(w, "\r\n", 2);
}

static void put_date(struct w *w, int64_t date)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t t = (time_t)date;
    if (gmtime_r(&t, &tm) == NULL) {
        if (w->rc == 0)
            w->rc = LUMI_EINTERNAL;
        return;
    }
    put_fmt(w, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
            months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- attachments ---- */

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7F && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static int check_content_type(const char *ct, struct lumi_err *err)
{
    char shown[SHOW_MAX + 4];
    size_t n = strlen(ct), slashes = 0;
    bool ok = n > 2 && n <= CTYPE_MAX && ct[0] != '/' && ct[n - 1] != '/';
    for (size_t i = 0; ok && i < n; i++) {
        if (ct[i] == '/')
            slashes++;
        else if (!is_token_char((unsigned char)ct[i]))
            ok = false;
    }
    if (!ok || slashes != 1)
        return err_set(err, LUMI_EINVAL,
                       "attachment content type '%s' is not of the form type/subtype",
                       show(ct, n, shown));
    return 0;
}

static int check_filename(const char *f, struct lumi_err *err)
{
    char shown[SHOW_MAX + 4];
    if (f == NULL || f[0] == '\0')
        return err_set(err, LUMI_EINVAL, "an attachment has no file name");
    size_t n = strlen(f);
    if (check_one_line("an attachment's file name", f, err) != 0)
        return LUMI_EINVAL;
    if (n > FILENAME_MAX_BYTES)
        return err_set(err, LUMI_EINVAL, "attachment file name '%s' is longer than %d bytes",
                       show(f, n, shown), FILENAME_MAX_BYTES);
    for (size_t i = 0; i < n; i++)
        if (is_ctl((unsigned char)f[i]) || f[i] == '/' || f[i] == '\\')
            return err_set(err, LUMI_EINVAL,
                           "attachment file name '%s' contains a control character, '/' or '\\'",
                           show(f, n, shown));
    if (!utf8_valid((const unsigned char *)f, n))
        return err_set(err, LUMI_EINVAL, "attachment file name '%s' is not valid UTF-8",
                       show(f, n, shown));
    return 0;
}

static bool is_attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL);
}

/*
 * "; filename=..." for Content-Disposition: a quoted string when the name is
 * short printable ASCII, else RFC 2231 UTF-8 percent-encoding split into
 * continuations (filename*0*=UTF-8''…; filename*1*=…), one per line.
 */
static void put_filename_param(struct w *w, const char *f)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t n = strlen(f);
    if (all_printable_ascii(f, n) && n <= RFC2231_CHUNK) {
        put_str(w, ";\r\n filename=\"");
        for (size_t i = 0; i < n; i++) {
            if (f[i] == '"' || f[i] == '\\')
                put(w, "\\", 1);
            put(w, &f[i], 1);
        }
        put(w, "\"", 1);
        return;
    }
    size_t i = 0;
    for (int part = 0; i < n; part++) {
        put_fmt(w, ";\r\n filename*%d*=%s", part, part == 0 ? "UTF-8''" : "");
        /* whole characters per continuation: some readers decode each one alone */
        for (size_t used = 0; i < n;) {
            size_t clen = 1;
            while (i + clen < n && ((unsigned char)f[i + clen] & 0xC0) == 0x80)
                clen++;
            size_t cost = is_attr_char((unsigned char)f[i]) ? 1 : 3 * clen;
            if (used > 0 && used + cost > RFC2231_CHUNK)
                break;
            for (size_t k = 0; k < clen; k++, i++) {
                unsigned char c = (unsigned char)f[i];
                if (is_attr_char(c)) {
                    put(w, &c, 1);
                } else {
                    char tok[3] = {'%', HEX[c >> 4], HEX[c & 15]};
                    put(w, tok, 3);
                }
            }
            used += cost;
        }
    }
}

/* ---- the MIME tree ---- */

#define BOUNDARY_LEN 34 /* "=_" + 32 hex digits */

/* "=_" cannot appear in quoted-printable (=XX or soft break) nor in base64 (no '_'). */
static void make_boundary(char out[BOUNDARY_LEN + 1])
{
    unsigned char r[16];
    crypto_random(r, sizeof r);
    out[0] = '=';
    out[1] = '_';
    hex_encode(r, sizeof r, out + 2, BOUNDARY_LEN - 1);
}

static void put_text_part(struct w *w, const char *subtype, const char *body)
{
    put_fmt(w,
            "Content-Type: text/%s; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            subtype);
    put_qp(w, body);
}

/* The text, or text and html as multipart/alternative: headers and body, no final CRLF. */
static void put_content(struct w *w, const struct mail_message *m, const char *alt)
{
    if (m->html == NULL) {
        put_text_part(w, "plain", m->text);
        return;
    }
    put_fmt(w, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", alt);
    put_fmt(w, "--%s\r\n", alt);
    put_text_part(w, "plain", m->text);
    put_fmt(w, "\r\n--%s\r\n", alt);
    put_text_part(w, "html", m->html);
    put_fmt(w, "\r\n--%s--", alt);
}

static void put_attachment(struct w *w, const struct mail_attachment *a)
{
    const char *ct = a->content_type != NULL ? a->content_type : "application/octet-stream";
    put_fmt(w, "Content-Type: %s\r\n", ct);
    put_str(w, "Content-Disposition: attachment");
    put_filename_param(w, a->filename);
    put_str(w, "\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    put_b64_body(w, a->data, a->len);
}

/* ---- validation ---- */

static int check_message_id(const char *id, struct lumi_err *err)
{
    char shown[SHOW_MAX + 4];
    if (id == NULL)
        return err_set(err, LUMI_EINVAL, "message_id is missing");
    if (check_one_line("message_id", id, err) != 0)
        return LUMI_EINVAL;
    size_t n = strlen(id);
    const char *at = memchr(id, '@', n);
    bool ok = n >= 5 && n <= MSGID_MAX && id[0] == '<' && id[n - 1] == '>' && at != NULL &&
              at > id + 1 && at < id + n - 2 &&
              memchr(at + 1, '@', (size_t)(id + n - at - 1)) == NULL;
    for (size_t i = 1; ok && i + 1 < n; i++)
        if (id[i] <= ' ' || id[i] > '~' || id[i] == '<' || id[i] == '>')
            ok = false;
    if (!ok)
        return err_set(err, LUMI_EINVAL, "message_id '%s' is not of the form <token@host>",
                       show(id, n, shown));
    return 0;
}

static int check_text(const char *field, const char *s, struct lumi_err *err)
{
    if (!utf8_valid((const unsigned char *)s, strlen(s)))
        return err_set(err, LUMI_EINVAL, "%s is not valid UTF-8", field);
    return 0;
}

static int validate(const struct mail_message *m, struct mailbox *from, struct mailbox *to,
                    struct lumi_err *err)
{
    char shown[SHOW_MAX + 4];
    /* every check below fails with LUMI_EINVAL, except the size */
    if (mailbox_parse("from", m->from, from, err) != 0 ||
        mailbox_parse("to", m->to, to, err) != 0 || check_message_id(m->message_id, err) != 0)
        return LUMI_EINVAL;
    if (m->subject == NULL)
        return err_set(err, LUMI_EINVAL, "subject is missing");
    if (check_one_line("subject", m->subject, err) != 0 || check_text("subject", m->subject, err))
        return LUMI_EINVAL;
    if (m->date < 0 || m->date > DATE_MAX)
        return err_set(err, LUMI_EINVAL, "date %lld is outside 1970..9999", (long long)m->date);
    if (m->text == NULL)
        return err_set(err, LUMI_EINVAL, "the message has no text part");
    if (check_text("text", m->text, err) != 0 ||
        (m->html != NULL && check_text("html", m->html, err) != 0))
        return LUMI_EINVAL;
    if (m->list_unsubscribe != NULL) {
        const char *u = m->list_unsubscribe;
        size_t n = strlen(u);
        if (check_one_line("list_unsubscribe", u, err) != 0)
            return LUMI_EINVAL;
        if (n == 0 || n > UNSUB_MAX || !all_printable_ascii(u, n))
            return err_set(err, LUMI_EINVAL,
                           "list_unsubscribe '%s' must be 1..%d printable ASCII characters",
                           show(u, n, shown), UNSUB_MAX);
    }
    if (m->nattachments > 0 && m->attachments == NULL)
        return err_set(err, LUMI_EINVAL, "attachments missing for nattachments=%zu",
                       m->nattachments);
    size_t total = strlen(m->text) + (m->html != NULL ? strlen(m->html) : 0);
    for (size_t i = 0; i < m->nattachments; i++) {
        const struct mail_attachment *a = &m->attachments[i];
        if (check_filename(a->filename, err) != 0 ||
            (a->content_type != NULL && check_content_type(a->content_type, err) != 0))
            return LUMI_EINVAL;
        if (a->data == NULL && a->len > 0)
            return err_set(err, LUMI_EINVAL, "attachment '%s' has no data",
                           show(a->filename, strlen(a->filename), shown));
        total += a->len > MIME_MAX_BYTES ? MIME_MAX_BYTES + 1 : a->len;
        if (total > MIME_MAX_BYTES)
            break;
    }
    /* Encoding only grows the content: refuse early rather than encode 25 MiB for nothing. */
    if (total > MIME_MAX_BYTES)
        return err_set(err, LUMI_ETOOLARGE, "the message is larger than %u MiB",
                       MIME_MAX_BYTES >> 20);
    return 0;
}

/* ---- mime_build ---- */

int mime_build(const struct mail_message *m, struct buf *out, struct lumi_err *err)
{
    struct mailbox from, to;
    char mixed[BOUNDARY_LEN + 1], alt[BOUNDARY_LEN + 1];
    struct w w = {.b = out, .start = out->len};
    int rc = validate(m, &from, &to, err);

    if (rc != 0)
        return rc;
    make_boundary(mixed);
    make_boundary(alt);

    put_date(&w, m->date);
    put_mailbox(&w, "From", &from);
    put_mailbox(&w, "To", &to);
    if (subject_plain(m->subject)) {
        put_subject_plain(&w, m->subject);
    } else {
        put_str(&w, "Subject: ");
        put_encoded_words(&w, strlen("Subject: "), m->subject, strlen(m->subject));
        put_str(&w, "\r\n");
    }
    put_fmt(&w, "Message-ID: %s\r\n", m->message_id);
    put_str(&w, "MIME-Version: 1.0\r\n");
    put_str(&w, "Auto-Submitted: auto-generated\r\n");
    if (m->list_unsubscribe != NULL)
        put_fmt(&w, "List-Unsubscribe: %s\r\n", m->list_unsubscribe);

    if (m->nattachments == 0) {
        put_content(&w, m, alt);
        if (w.rc == 0 && (out->len - w.start < 2 || memcmp(out->data + out->len - 2, "\r\n", 2)))
            put(&w, "\r\n", 2);
    } else {
        put_fmt(&w, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n", mixed);
        put_fmt(&w, "--%s\r\n", mixed);
        put_content(&w, m, alt);
        for (size_t i = 0; i < m->nattachments; i++) {
            put_fmt(&w, "\r\n--%s\r\n", mixed);
            put_attachment(&w, &m->attachments[i]);
        }
        put_fmt(&w, "\r\n--%s--\r\n", mixed);
    }

    rc = w.rc;
    if (rc != 0) {
        out->len = w.start;
        if (out->data != NULL)
            out->data[w.start] = '\0';
        if (rc == LUMI_ETOOLARGE && w.over_cap)
            err_set(err, rc, "the message is larger than %u MiB", MIME_MAX_BYTES >> 20);
        else if (rc == LUMI_ETOOLARGE)
            err_set(err, rc, "the message does not fit in %zu bytes", out->max);
        else if (rc == LUMI_ENOMEM)
            err_set(err, rc, "out of memory building a message");
        else
            err_set(err, rc, "internal error building a message");
    }
    return rc;
}

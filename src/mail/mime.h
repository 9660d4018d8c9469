/*
 * mime.h — one e-mail message as RFC 5322 / MIME bytes, and e-mail address checks.
 *
 * mime_build() turns a struct mail_message into the exact bytes handed to the
 * SMTP transport (src/mail/smtp.h): CRLF line ends, every line at most 998
 * bytes (78 where the RFCs ask for it), UTF-8 text as quoted-printable,
 * attachments as base64, non-ASCII header text as RFC 2047 encoded-words.
 * Nothing a caller passes can add a header line: a CR, LF or NUL in any header
 * field is refused before anything is written.
 *
 * Addresses are ASCII only (no SMTPUTF8): an internationalised domain must be
 * given in its punycode form. Display names may be UTF-8.
 */
#ifndef LUMI_MAIL_MIME_H
#define LUMI_MAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/** Largest message mime_build produces (the whole output, attachments encoded). */
#define MIME_MAX_BYTES (25u << 20)

/** Room for any address mail_addr_extract accepts (254 characters + NUL). */
#define MAIL_ADDR_MAX 255

/** One attachment; all fields borrowed. */
struct mail_attachment {
    const char *filename;     /* UTF-8, 1..255 bytes, no controls, '/' or '\\' */
    const char *content_type; /* "type/subtype" without parameters; NULL means
                                 application/octet-stream */
    const unsigned char *data;
    size_t len;
};

/** What one message says; all fields borrowed. */
struct mail_message {
    const char *from;             /* "Name <addr>" or "addr"; the name may be UTF-8 */
    const char *to;               /* one recipient, same forms */
    const char *subject;          /* UTF-8; may be empty */
    const char *message_id;       /* "<token@host>", chosen by the caller (reused on resend) */
    int64_t date;                 /* seconds since the epoch; written in UTC (+0000) */
    const char *text;             /* UTF-8 plain-text part, required */
    const char *html;             /* UTF-8 HTML part, or NULL for text/plain only */
    const char *list_unsubscribe; /* the List-Unsubscribe value ("<https://…>"), or NULL */
    const struct mail_attachment *attachments;
    size_t nattachments;
};

/**
 * Appends message m to out as MIME bytes.
 *
 * Layout: text/plain alone; multipart/alternative (text, then html) when html
 * is given; multipart/mixed around that when there are attachments. Boundaries
 * are random ("=_" + 32 hex digits from crypto_random) and cannot occur in a
 * body: quoted-printable never writes "=_" and base64 has no '_'.
 * Headers: Date, From, To, Subject, Message-ID, MIME-Version,
 * Auto-Submitted: auto-generated (RFC 3834: no vacation replies to our
 * sender), List-Unsubscribe when given, Content-Type and
 * Content-Transfer-Encoding.
 *
 * List-Unsubscribe-Post (RFC 8058 one-click) is never written: it promises
 * that a bare POST to the URL unsubscribes without a session, and Lumi's
 * unsubscribe link is a settings page behind a login. A mail provider would
 * POST to it and nothing would change.
 *
 * Returns 0; LUMI_EINVAL naming the field (CR/LF/NUL in a header field, an
 * invalid address, message_id not "<x@y>", text missing, invalid UTF-8, a
 * bad filename or content type, a date before 1970 or after 9999);
 * LUMI_ETOOLARGE when the message would exceed MIME_MAX_BYTES or out->max;
 * LUMI_ENOMEM. On error out is left exactly as it was.
 */
int mime_build(const struct mail_message *m, struct buf *out, struct lumi_err *err);

/**
 * The bare address of "Name <a@b>", "<a@b>" or "a@b" into out (outsz bytes,
 * MAIL_ADDR_MAX is always enough). Surrounding spaces are ignored.
 *
 * A valid address here: at most 254 characters; one '@'; the local part a
 * dot-atom (letters, digits, !#$%&'*+-/=?^_`{|}~ and single inner dots, at
 * most 64 characters; no quoted local parts); the domain dot-separated labels
 * of letters, digits and inner hyphens with at least one dot, or the literal
 * "localhost". The display name may be any text without controls or angle
 * brackets. Returns 0, or LUMI_EINVAL saying what is wrong (out is then "").
 */
int mail_addr_extract(const char *in, char *out, size_t outsz, struct lumi_err *err);

/**
 * Checks a comma-separated list of addresses in either form of
 * mail_addr_extract (spaces around commas allowed; "" or only spaces is an
 * empty list and valid; an empty entry between commas is not). Returns 0 or
 * LUMI_EINVAL naming the bad entry. Display names cannot contain commas here.
 */
int mail_addr_list_check(const char *list, struct lumi_err *err);

#endif

/*
 * smtp.h — sending messages over SMTP with libcurl (smtp:// with STARTTLS,
 * smtps://, or plain).
 *
 * A struct smtp_conn keeps one connection open across messages (libcurl's
 * connection reuse); it belongs to one thread at a time. curl_global_init
 * must have run before smtp_open.
 *
 * Transient or permanent? A failed send is PERMANENT only when the server
 * answered a 5xx reply to this message's MAIL FROM, RCPT TO or DATA: the
 * server refused this message or this recipient, and sending it again would
 * be refused again. Everything else is TRANSIENT, and the caller should retry
 * later with the same bytes (same Message-ID):
 *   - 4xx replies anywhere (the server said "try again");
 *   - no connection, timeouts, a dropped connection (after the message data
 *     was handed over the message may have been delivered: the text says so,
 *     and the unchanged Message-ID lets receivers drop the duplicate);
 *   - problems of the connection or the configuration rather than of the
 *     message: TLS handshake or certificate failures, a server without
 *     STARTTLS, a refused login, "530 authentication required", a server that
 *     refuses us at the greeting. These fail every message alike; marking
 *     queued mail as permanently failed would lose it, while retrying lets it
 *     go out once the admin fixes the setting. err->code tells them apart
 *     (below), and err->msg says what to fix.
 *
 * err->code of a failed smtp_send: LUMI_EINVAL (bad envelope address, not
 * sent), LUMI_EIO (connection, TLS, timeout), LUMI_EAUTH (login refused or
 * required), LUMI_EBUSY (a 4xx reply), LUMI_EUPSTREAM (a 5xx reply to the
 * message, or an unexpected reply before it), LUMI_ENOMEM.
 *
 * Messages name the server as host:port and quote its reply; they never
 * contain the password (libcurl's verbose mode is on only to feed a debug
 * callback that reads the server's replies; nothing is printed).
 */
#ifndef LUMI_MAIL_SMTP_H
#define LUMI_MAIL_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/** How the connection is protected. */
enum smtp_tls {
    SMTP_TLS_STARTTLS, /* smtp://, STARTTLS required (CURLUSESSL_ALL); usually port 587 */
    SMTP_TLS_TLS,      /* smtps://, TLS from the first byte; usually port 465 */
    SMTP_TLS_NONE,     /* smtp:// in clear text (a relay on localhost) */
};

/** Where and how to send; all strings borrowed for the duration of smtp_open only. */
struct smtp_config {
    const char *host;     /* name or IP address (IPv6 without brackets is fine) */
    int port;             /* 1..65535 */
    const char *user;     /* NULL or "": no AUTH */
    const char *password; /* secret */
    enum smtp_tls tls;
    const char *ca_file;   /* PEM bundle to verify the server with; NULL: the system's */
    int timeout_ms;        /* per message, connection included; <= 0: 30000 */
    const char *helo_host; /* name given in EHLO; NULL: this machine's host name */
};

/** The outcome of one smtp_send. */
struct smtp_result {
    int code;        /* the server's last reply code (250 on success), 0 when none */
    char reply[512]; /* that reply's text without the code, e.g. "4.3.0 Try again later";
                        for a multi-line reply its last line; "" when none */
    bool transient;  /* on failure: retrying later may succeed (see above) */
};

/** One SMTP connection (a libcurl easy handle); opaque. */
struct smtp_conn;

/**
 * Prepares a connection to cfg (nothing is sent yet: the first smtp_send
 * connects). Returns NULL with err filled (LUMI_EINVAL for a bad host, port
 * or helo_host; LUMI_ENOMEM). Free with smtp_close.
 */
struct smtp_conn *smtp_open(const struct smtp_config *cfg, struct lumi_err *err);

/** Says QUIT if connected, and frees c. NULL is a no-op. */
void smtp_close(struct smtp_conn *c);

/**
 * Sends msg[0..len) (a complete message with CRLF line ends, as mime_build
 * makes it) from the envelope sender mail_from to rcpt (bare addresses, see
 * mail_addr_extract). res is always filled (may not be NULL).
 * Returns 0 when the server accepted the message (res->code 250), else a
 * negative LUMI_E* code with res and err filled (see the top of this file).
 */
int smtp_send(struct smtp_conn *c, const char *mail_from, const char *rcpt, const char *msg,
              size_t len, struct smtp_result *res, struct lumi_err *err);

/**
 * Fills *out from the configuration (src/core/config.h): SMTP_HOST,
 * SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_TLS (starttls|tls|none) and
 * LUMI_CA_FILE; timeout 30 s; helo_host NULL. The strings are borrowed from
 * the configuration (valid until the next config_load). Returns 0, or
 * LUMI_ENOTFOUND when SMTP_HOST is not set (mail is not configured).
 */
int smtp_config_from_env(struct smtp_config *out);

#endif

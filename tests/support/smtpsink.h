/*
 * smtpsink.h — a real SMTP server for the mail tests (tests/smtp_sink.py).
 *
 * smtpsink_start() runs the sink with Debian's /usr/bin/python3 and aiosmtpd
 * in a fresh temporary directory on a free 127.0.0.1 port; every message it
 * accepts is stored there and read back as the JSON that Python's email
 * package made of it (see tests/smtp_sink.py for the fields). Faults are
 * injected through control files (smtpsink_set_reply, smtpsink_set_delay_ms).
 * Failures fail the running cmocka test. Call from the test's main thread.
 */
#ifndef LUMI_TEST_SMTPSINK_H
#define LUMI_TEST_SMTPSINK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/** How to run the sink; a zeroed struct (or NULL) is a plain server without AUTH or TLS. */
struct smtpsink_opts {
    const char *auth;     /* "USER:PASS": AUTH required before MAIL, or NULL */
    const char *tls_cert; /* PEM certificate and key: offer STARTTLS, or NULL */
    const char *tls_key;
    bool implicit_tls; /* with tls_cert: TLS from the first byte (smtps) instead */
    int port;          /* > 0: listen on this port (a sink started again where one was) */
    bool light;        /* the JSON holds only envelope and Message-ID (benchmarks) */
};

struct smtpsink;

/**
 * Starts the sink and waits (10 s at most) until it listens. Fails the test
 * with a message naming the fix when python3 or aiosmtpd is missing.
 * Stop it with smtpsink_stop (a sink still running at exit is killed).
 */
struct smtpsink *smtpsink_start(const struct smtpsink_opts *opts);

/** SIGTERM, wait for it, remove its directory, free s. NULL is a no-op. */
void smtpsink_stop(struct smtpsink *s);

/** The port it listens on (127.0.0.1). */
int smtpsink_port(const struct smtpsink *s);

/** Its directory (borrowed). */
const char *smtpsink_dir(const struct smtpsink *s);

/** How many messages it has stored so far. */
int smtpsink_count(const struct smtpsink *s);

/** Waits until at least n messages are stored; false after timeout_ms. */
bool smtpsink_wait(const struct smtpsink *s, int n, int timeout_ms);

/** The JSON sidecar of the i-th stored message (0-based; caller decrefs), or NULL. */
json_t *smtpsink_message(const struct smtpsink *s, int i);

/** The raw bytes of the i-th stored message (0-based; caller frees), or NULL. */
char *smtpsink_raw(const struct smtpsink *s, int i, size_t *len);

/**
 * Makes the sink answer `line` at a stage instead of accepting, e.g.
 * "data 451 4.3.0 Try again later", "rcpt 550 5.1.1 No such user",
 * "mail 553 …", "auth 535 …"; NULL clears it.
 */
void smtpsink_set_reply(struct smtpsink *s, const char *line);

/** Makes the sink sleep ms before answering DATA; 0 clears it. */
void smtpsink_set_delay_ms(struct smtpsink *s, int ms);

/** How many stored messages carry Message-ID id (e.g. "<a@b>"). */
int smtpsink_count_message_id(const struct smtpsink *s, const char *id);

#endif

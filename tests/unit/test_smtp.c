/*
 * test_smtp.c — the SMTP transport against a real SMTP server
 * (tests/smtp_sink.py, aiosmtpd), whose own e-mail parser reads back what
 * mime_build made: subject, text, html, attachments, Message-ID and Date
 * arrive intact; bytes (dot lines included) arrive unchanged; one connection
 * carries several messages; 4xx replies are transient and 5xx permanent, with
 * the server's text in the result and the message; refused connections and
 * timeouts are transient; AUTH with good and bad credentials (the password
 * never shows); STARTTLS and implicit TLS verified against a CA file made
 * with the openssl CLI (skipped without it); SMTP_* configuration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "mail/mime.h"
#include "mail/smtp.h"
#include "support/smtpsink.h"

#define FROM "billing@lumi.test"
#define RCPT "client@example.test"
#define AUTH_USER "lumi"
#define AUTH_PASS "s3cret-Pass-77"

static struct smtpsink *sink; /* plain sink shared by most tests */

static int group_setup(void **state)
{
    sink = smtpsink_start(NULL);
    return 0;
}

static int group_teardown(void **state)
{
    smtpsink_stop(sink);
    return 0;
}

/* Each test starts with no injected fault. */
static int reset(void **state)
{
    smtpsink_set_reply(sink, NULL);
    smtpsink_set_delay_ms(sink, 0);
    return 0;
}

static struct smtp_conn *open_conn(int port, enum smtp_tls tls, const char *user,
                                   const char *password, const char *ca_file, int timeout_ms)
{
    struct lumi_err err = {0};
    struct smtp_config cfg = {.host = "127.0.0.1",
                              .port = port,
                              .user = user,
                              .password = password,
                              .tls = tls,
                              .ca_file = ca_file,
                              .timeout_ms = timeout_ms > 0 ? timeout_ms : 10000,
                              .helo_host = "lumi.test"};
    struct smtp_conn *c = smtp_open(&cfg, &err);
    if (c == NULL)
        fail_msg("smtp_open: %s", err.msg);
    return c;
}

static struct smtp_conn *open_plain(void)
{
    return open_conn(smtpsink_port(sink), SMTP_TLS_NONE, NULL, NULL, NULL, 0);
}

/* A small message with Message-ID id (caller frees). */
static char *simple_message(const char *id, size_t *len)
{
    struct buf b;
    struct lumi_err err = {0};
    struct mail_message m = {.from = "Lumi <" FROM ">",
                             .to = RCPT,
                             .subject = "Test",
                             .message_id = id,
                             .date = 1795554818,
                             .text = "Hello.\n"};
    buf_init(&b, MIME_MAX_BYTES);
    if (mime_build(&m, &b, &err) != 0)
        fail_msg("mime_build: %s", err.msg);
    *len = b.len;
    return buf_steal(&b);
}

static void send_ok(struct smtp_conn *c, const char *msg, size_t len)
{
    struct smtp_result res;
    struct lumi_err err = {0};
    int rc = smtp_send(c, FROM, RCPT, msg, len, &res, &err);
    if (rc != 0)
        fail_msg("smtp_send: %d %s", rc, err.msg);
    assert_int_equal(res.code, 250);
}

/* Sends and expects the failure code want; on a mismatch the failure shows what happened. */
static void send_fails(struct smtp_conn *c, const char *msg, size_t len, int want,
                       struct smtp_result *res, struct lumi_err *err)
{
    memset(err, 0, sizeof *err);
    int rc = smtp_send(c, FROM, RCPT, msg, len, res, err);
    if (rc != want)
        fail_msg("smtp_send returned %d, expected %d: %s (reply %d %s)", rc, want, err->msg,
                 res->code, res->reply);
}

static const char *jstr(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static void where(char *out, size_t outsz, int port)
{
    snprintf(out, outsz, "127.0.0.1:%d", port);
}

/* ---- delivery ---- */

static void full_message_arrives_and_python_reads_it_back(void **state)
{
    const char *subject = "Rechnung Nr. 42 – fällig: 12,50 € 🎉 und eine sehr lange Betreffzeile "
                          "mit Umlauten äöü";
    const char *text =
        "Hallo Zoë,\n\nIhre Rechnung über 12,50 € ist fällig.\n.\n..\n"
        "trailing spaces   \na=b\n"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx€"
        "\nFrom the team\n";
    const char *html = "<p>Hallo Zo&euml;,</p>\n<p>12,50 € — <a href=\"https://x.test/?a=b\">"
                       "bezahlen</a></p>\n";
    unsigned char bin[6000];
    crypto_random(bin, sizeof bin);
    struct mail_attachment att[] = {
        {.filename = "Rechnung-42.pdf",
         .content_type = "application/pdf",
         .data = bin,
         .len = sizeof bin},
        {.filename = "Übersicht €.csv",
         .content_type = "text/csv",
         .data = (const unsigned char *)"a;b\n1;2\n",
         .len = 8},
    };
    struct mail_message m = {.from = "Zoë's Billing <" FROM ">",
                             .to = "Zoë Müller <" RCPT ">",
                             .subject = subject,
                             .message_id = "<full-1.4f2a@lumi.test>",
                             .date = 1795554818,
                             .text = text,
                             .html = html,
                             .list_unsubscribe = "<https://lumi.test/client/settings>",
                             .attachments = att,
                             .nattachments = 2};
    struct buf b;
    struct lumi_err err = {0};
    buf_init(&b, MIME_MAX_BYTES);
    assert_int_equal(mime_build(&m, &b, &err), 0);

    int before = smtpsink_count(sink);
    struct smtp_conn *c = open_plain();
    send_ok(c, b.data, b.len);
    smtp_close(c);
    assert_true(smtpsink_wait(sink, before + 1, 5000));

    json_t *j = smtpsink_message(sink, before);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "defects")), 0);
    assert_string_equal(jstr(j, "mail_from"), FROM);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "rcpt_tos"), 0)), RCPT);
    assert_string_equal(jstr(j, "subject"), subject);
    assert_string_equal(jstr(j, "message_id"), "<full-1.4f2a@lumi.test>");
    assert_int_equal(json_integer_value(json_object_get(j, "date_epoch")), 1795554818);
    assert_string_equal(jstr(j, "text"), text);
    assert_string_equal(jstr(j, "html"), html);
    json_t *atts = json_object_get(j, "attachments");
    assert_int_equal(json_array_size(atts), 2);
    json_t *a0 = json_array_get(atts, 0), *a1 = json_array_get(atts, 1);
    assert_string_equal(jstr(a0, "filename"), "Rechnung-42.pdf");
    assert_string_equal(jstr(a0, "content_type"), "application/pdf");
    assert_int_equal(json_integer_value(json_object_get(a0, "size")), sizeof bin);
    assert_string_equal(jstr(a1, "filename"), "Übersicht €.csv");
    assert_string_equal(jstr(a1, "content_type"), "text/csv");
    assert_int_equal(json_integer_value(json_object_get(a1, "size")), 8);
    json_t *h = json_object_get(j, "headers");
    assert_string_equal(jstr(h, "MIME-Version"), "1.0");
    assert_string_equal(jstr(h, "List-Unsubscribe"), "<https://lumi.test/client/settings>");
    assert_null(json_object_get(h, "List-Unsubscribe-Post"));
    json_decref(j);

    /* and the stored bytes are exactly the ones built */
    size_t len;
    char *raw = smtpsink_raw(sink, before, &len);
    assert_non_null(raw);
    assert_int_equal(len, b.len);
    assert_memory_equal(raw, b.data, len);
    free(raw);
    buf_free(&b);
}

static void text_only_message_arrives_with_null_html(void **state)
{
    size_t len;
    char *msg = simple_message("<text-only@lumi.test>", &len);
    int before = smtpsink_count(sink);
    struct smtp_conn *c = open_plain();
    send_ok(c, msg, len);
    smtp_close(c);
    json_t *j = smtpsink_message(sink, before);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "defects")), 0);
    assert_string_equal(jstr(j, "text"), "Hello.\n");
    assert_true(json_is_null(json_object_get(j, "html")));
    assert_int_equal(json_array_size(json_object_get(j, "attachments")), 0);
    json_decref(j);
    free(msg);
}

/* curl dot-stuffs and the server unstuffs: lines of dots arrive unchanged. */
static void dot_lines_arrive_unchanged(void **state)
{
    static const char raw_msg[] = "From: " FROM "\r\nTo: " RCPT "\r\nSubject: dots\r\n"
                                  "Message-ID: <dots@lumi.test>\r\n\r\n"
                                  ".\r\n..\r\n.x\r\n. \r\n...\r\nend\r\n.";
    int before = smtpsink_count(sink);
    struct smtp_conn *c = open_plain();
    send_ok(c, raw_msg, sizeof raw_msg - 1);
    smtp_close(c);
    size_t len;
    char *raw = smtpsink_raw(sink, before, &len);
    assert_non_null(raw);
    /* curl ends the data with CRLF when the message does not */
    assert_int_equal(len, sizeof raw_msg - 1 + 2);
    assert_memory_equal(raw, raw_msg, sizeof raw_msg - 1);
    assert_memory_equal(raw + len - 2, "\r\n", 2);
    free(raw);
}

static void two_messages_travel_on_one_connection(void **state)
{
    size_t l1, l2;
    char *m1 = simple_message("<reuse-1@lumi.test>", &l1);
    char *m2 = simple_message("<reuse-2@lumi.test>", &l2);
    int before = smtpsink_count(sink);
    struct smtp_conn *c = open_plain();
    send_ok(c, m1, l1);
    send_ok(c, m2, l2);
    smtp_close(c);
    assert_true(smtpsink_wait(sink, before + 2, 5000));
    assert_int_equal(smtpsink_count_message_id(sink, "<reuse-1@lumi.test>"), 1);
    assert_int_equal(smtpsink_count_message_id(sink, "<reuse-2@lumi.test>"), 1);
    json_t *j1 = smtpsink_message(sink, before), *j2 = smtpsink_message(sink, before + 1);
    assert_string_equal(jstr(j1, "peer"), jstr(j2, "peer")); /* the same TCP connection */
    json_decref(j1);
    json_decref(j2);
    free(m1);
    free(m2);
}

/* ---- refusals ---- */

static void data_451_is_transient_with_the_server_text(void **state)
{
    char hp[64];
    size_t len;
    char *msg = simple_message("<deferred@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    int before = smtpsink_count(sink);
    smtpsink_set_reply(sink, "data 451 4.3.0 Try again later");
    struct smtp_conn *c = open_plain();
    send_fails(c, msg, len, LUMI_EBUSY, &res, &err);
    assert_true(err.code == LUMI_EBUSY);
    assert_true(res.transient);
    assert_int_equal(res.code, 451);
    assert_string_equal(res.reply, "4.3.0 Try again later");
    where(hp, sizeof hp, smtpsink_port(sink));
    assert_non_null(strstr(err.msg, hp));
    assert_non_null(strstr(err.msg, "451 4.3.0 Try again later"));
    assert_non_null(strstr(err.msg, "end of the message data"));
    assert_int_equal(smtpsink_count(sink), before);

    /* the same connection object recovers and delivers once the server does */
    smtpsink_set_reply(sink, NULL);
    send_ok(c, msg, len);
    assert_int_equal(smtpsink_count_message_id(sink, "<deferred@lumi.test>"), 1);
    smtp_close(c);
    free(msg);
}

static void data_554_is_permanent_with_the_server_text(void **state)
{
    size_t len;
    char *msg = simple_message("<spam@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    smtpsink_set_reply(sink, "data 554 5.7.1 Message rejected as spam");
    struct smtp_conn *c = open_plain();
    send_fails(c, msg, len, LUMI_EUPSTREAM, &res, &err);
    assert_false(res.transient);
    assert_int_equal(res.code, 554);
    assert_string_equal(res.reply, "5.7.1 Message rejected as spam");
    assert_non_null(strstr(err.msg, "refused the message"));
    assert_non_null(strstr(err.msg, "5.7.1 Message rejected as spam"));
    smtp_close(c);
    free(msg);
}

static void rcpt_and_mail_refusals_are_permanent(void **state)
{
    size_t len;
    char *msg = simple_message("<rcpt@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    int before = smtpsink_count(sink);
    struct smtp_conn *c = open_plain();

    smtpsink_set_reply(sink, "rcpt 550 5.1.1 <client@example.test>: No such user");
    send_fails(c, msg, len, LUMI_EUPSTREAM, &res, &err);
    assert_false(res.transient);
    assert_int_equal(res.code, 550);
    assert_non_null(strstr(res.reply, "No such user"));
    assert_non_null(strstr(err.msg, "at RCPT TO"));

    smtpsink_set_reply(sink, "rcpt 450 4.2.0 Mailbox busy");
    send_fails(c, msg, len, LUMI_EBUSY, &res, &err);
    assert_true(res.transient);
    assert_int_equal(res.code, 450);

    smtpsink_set_reply(sink, "mail 553 5.7.1 Sender address rejected");
    send_fails(c, msg, len, LUMI_EUPSTREAM, &res, &err);
    assert_false(res.transient);
    assert_int_equal(res.code, 553);
    assert_non_null(strstr(err.msg, "at MAIL FROM"));
    assert_non_null(strstr(err.msg, "Sender address rejected"));

    assert_int_equal(smtpsink_count(sink), before);
    smtp_close(c);
    free(msg);
}

static void bad_envelope_addresses_are_refused_before_sending(void **state)
{
    struct smtp_result res;
    struct lumi_err err = {0};
    struct smtp_conn *c = open_plain();
    int before = smtpsink_count(sink);
    assert_true(smtp_send(c, FROM, "x@y.test>\r\nRCPT TO:<evil@y.test", "x\r\n", 3, &res, &err) ==
                LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "recipient"));
    assert_true(smtp_send(c, "Name <" FROM ">", RCPT, "x\r\n", 3, &res, &err) == LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "sender"));
    assert_false(res.transient);
    assert_int_equal(res.code, 0);
    assert_int_equal(smtpsink_count(sink), before);
    smtp_close(c);
}

/* ---- transport failures ---- */

/*
 * A port that refuses connections: bound but not listening (Linux answers RST).
 * The socket stays open until the caller closes *fd, so no other process on
 * the machine can start listening there meanwhile.
 */
static int refusing_port(int *fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static void refused_connection_is_transient_and_readable(void **state)
{
    char hp[64];
    size_t len;
    char *msg = simple_message("<refused@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    int fd;
    int port = refusing_port(&fd);
    struct smtp_conn *c = open_conn(port, SMTP_TLS_NONE, NULL, NULL, NULL, 3000);
    send_fails(c, msg, len, LUMI_EIO, &res, &err);
    assert_true(res.transient);
    assert_int_equal(res.code, 0);
    where(hp, sizeof hp, port);
    assert_non_null(strstr(err.msg, hp));
    assert_non_null(strstr(err.msg, "connection refused"));
    smtp_close(c);
    close(fd);
    free(msg);
}

static void timeout_after_the_data_is_transient_and_may_have_delivered(void **state)
{
    size_t len;
    char *msg = simple_message("<slow@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    int before = smtpsink_count(sink);
    smtpsink_set_delay_ms(sink, 3500);
    struct smtp_conn *c = open_conn(smtpsink_port(sink), SMTP_TLS_NONE, NULL, NULL, NULL, 1500);
    int rc = smtp_send(c, FROM, RCPT, msg, len, &res, &err);
    if (rc != LUMI_EIO || strstr(err.msg, "may have been delivered") == NULL)
        fail_msg("expected a timeout after the data, got %d: %s", rc, err.msg);
    assert_true(res.transient);
    assert_non_null(strstr(err.msg, "1500 ms"));
    assert_non_null(strstr(err.msg, "may have been delivered"));
    smtp_close(c);
    /* it was: the server stored it after we gave up (hence the stable Message-ID) */
    assert_true(smtpsink_wait(sink, before + 1, 10000));
    assert_int_equal(smtpsink_count_message_id(sink, "<slow@lumi.test>"), 1);
    free(msg);
}

/* ---- AUTH ---- */

static void auth_good_credentials_deliver_and_bad_ones_never_leak(void **state)
{
    char hp[64];
    size_t len;
    char *msg = simple_message("<auth@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    struct smtpsink_opts opts = {.auth = AUTH_USER ":" AUTH_PASS};
    struct smtpsink *s = smtpsink_start(&opts);
    int port = smtpsink_port(s);
    where(hp, sizeof hp, port);

    struct smtp_conn *c = open_conn(port, SMTP_TLS_NONE, AUTH_USER, AUTH_PASS, NULL, 0);
    send_ok(c, msg, len);
    smtp_close(c);
    assert_int_equal(smtpsink_count(s), 1);

    const char *wrong = "wrong-Pass-123";
    c = open_conn(port, SMTP_TLS_NONE, AUTH_USER, wrong, NULL, 0);
    send_fails(c, msg, len, LUMI_EAUTH, &res, &err);
    assert_true(res.transient); /* the admin fixes the password; queued mail then goes out */
    assert_int_equal(res.code, 535);
    assert_non_null(strstr(err.msg, hp));
    assert_non_null(strstr(err.msg, "'" AUTH_USER "'"));
    assert_non_null(strstr(err.msg, "535"));
    assert_null(strstr(err.msg, wrong));

    /* a server that echoes the password: it is scrubbed from the reply and the message */
    smtpsink_set_reply(s, "auth 535 5.7.8 bad password wrong-Pass-123 for lumi");
    send_fails(c, msg, len, LUMI_EAUTH, &res, &err);
    assert_null(strstr(err.msg, wrong));
    assert_null(strstr(res.reply, wrong));
    assert_non_null(strstr(res.reply, "bad password *** for lumi"));
    smtpsink_set_reply(s, NULL);
    smtp_close(c);

    /* no login at all: 530 at MAIL FROM, also a configuration problem */
    c = open_conn(port, SMTP_TLS_NONE, NULL, NULL, NULL, 0);
    send_fails(c, msg, len, LUMI_EAUTH, &res, &err);
    assert_true(res.transient);
    assert_int_equal(res.code, 530);
    assert_non_null(strstr(err.msg, "SMTP_USER"));
    smtp_close(c);

    assert_int_equal(smtpsink_count(s), 1);
    smtpsink_stop(s);
    free(msg);
}

/* ---- TLS ---- */

/* A self-signed certificate for 127.0.0.1 in dir (cert.pem, key.pem); false without openssl. */
static bool make_cert(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
             dir, dir);
    return system(cmd) == 0;
}

static void starttls_and_implicit_tls_verify_with_the_ca_file(void **state)
{
    char dir[] = "/tmp/lumi-smtp-tls-XXXXXX", cert[128], key[128];
    size_t len;
    char *msg = simple_message("<tls@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (!make_cert(dir)) {
        rmdir(dir);
        free(msg);
        skip(); /* no openssl CLI */
    }

    struct smtpsink_opts opts = {.tls_cert = cert, .tls_key = key};
    struct smtpsink *s = smtpsink_start(&opts);
    struct smtp_conn *c = open_conn(smtpsink_port(s), SMTP_TLS_STARTTLS, NULL, NULL, cert, 0);
    send_ok(c, msg, len);
    smtp_close(c);
    json_t *j = smtpsink_message(s, 0);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "tls")));
    json_decref(j);

    /* with the system's CAs the self-signed certificate does not verify: refused, transient */
    c = open_conn(smtpsink_port(s), SMTP_TLS_STARTTLS, NULL, NULL, NULL, 0);
    send_fails(c, msg, len, LUMI_EIO, &res, &err);
    assert_true(res.transient);
    assert_non_null(strstr(err.msg, "TLS"));
    assert_non_null(strstr(err.msg, "certificate"));
    smtp_close(c);
    assert_int_equal(smtpsink_count(s), 1);
    smtpsink_stop(s);

    opts.implicit_tls = true;
    s = smtpsink_start(&opts);
    c = open_conn(smtpsink_port(s), SMTP_TLS_TLS, NULL, NULL, cert, 0);
    send_ok(c, msg, len);
    smtp_close(c);
    j = smtpsink_message(s, 0);
    assert_true(json_is_true(json_object_get(j, "tls")));
    json_decref(j);
    smtpsink_stop(s);

    unlink(cert);
    unlink(key);
    rmdir(dir);
    free(msg);
}

static void starttls_required_but_not_offered_fails_clearly(void **state)
{
    size_t len;
    char *msg = simple_message("<nostarttls@lumi.test>", &len);
    struct smtp_result res;
    struct lumi_err err = {0};
    struct smtp_conn *c = open_conn(smtpsink_port(sink), SMTP_TLS_STARTTLS, NULL, NULL, NULL, 0);
    send_fails(c, msg, len, LUMI_EIO, &res, &err);
    assert_true(res.transient);
    assert_non_null(strstr(err.msg, "STARTTLS"));
    smtp_close(c);
    free(msg);
}

/* ---- configuration ---- */

static void open_refuses_bad_settings(void **state)
{
    struct lumi_err err = {0};
    struct smtp_config cfg = {.host = "mail.example.test", .port = 0};
    assert_null(smtp_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "port"));
    cfg.port = 25;
    cfg.host = "mail.example.test/evil";
    assert_null(smtp_open(&cfg, &err));
    cfg.host = "";
    assert_null(smtp_open(&cfg, &err));
    cfg.host = "mail.example.test";
    cfg.helo_host = "a b";
    assert_null(smtp_open(&cfg, &err));
    smtp_close(NULL);
}

static void config_from_env_reads_the_smtp_variables(void **state)
{
    struct smtp_config cfg;
    struct lumi_err err = {0};
    setenv("SMTP_HOST", "mail.example.test", 1);
    setenv("SMTP_PORT", "465", 1);
    setenv("SMTP_USER", "postmaster", 1);
    setenv("SMTP_PASSWORD", "pw-secret", 1);
    setenv("SMTP_TLS", "tls", 1);
    setenv("LUMI_CA_FILE", "/etc/ssl/x.pem", 1);
    if (config_load(NULL, &err) != 0)
        fail_msg("config_load: %s", err.msg);
    assert_int_equal(smtp_config_from_env(&cfg), 0);
    assert_string_equal(cfg.host, "mail.example.test");
    assert_int_equal(cfg.port, 465);
    assert_string_equal(cfg.user, "postmaster");
    assert_string_equal(cfg.password, "pw-secret");
    assert_int_equal(cfg.tls, SMTP_TLS_TLS);
    assert_string_equal(cfg.ca_file, "/etc/ssl/x.pem");
    assert_true(cfg.timeout_ms > 0);

    unsetenv("SMTP_PORT");
    unsetenv("SMTP_USER");
    unsetenv("SMTP_PASSWORD");
    unsetenv("SMTP_TLS");
    unsetenv("LUMI_CA_FILE");
    assert_int_equal(config_load(NULL, &err), 0);
    assert_int_equal(smtp_config_from_env(&cfg), 0);
    assert_int_equal(cfg.port, 587);
    assert_int_equal(cfg.tls, SMTP_TLS_STARTTLS);
    assert_null(cfg.user);
    assert_null(cfg.ca_file);

    unsetenv("SMTP_HOST");
    assert_int_equal(config_load(NULL, &err), 0);
    assert_true(smtp_config_from_env(&cfg) == LUMI_ENOTFOUND);
}

#define T(f) cmocka_unit_test_setup(f, reset)

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    crypto_init();
    const struct CMUnitTest tests[] = {
        T(full_message_arrives_and_python_reads_it_back),
        T(text_only_message_arrives_with_null_html),
        T(dot_lines_arrive_unchanged),
        T(two_messages_travel_on_one_connection),
        T(data_451_is_transient_with_the_server_text),
        T(data_554_is_permanent_with_the_server_text),
        T(rcpt_and_mail_refusals_are_permanent),
        T(bad_envelope_addresses_are_refused_before_sending),
        T(refused_connection_is_transient_and_readable),
        T(timeout_after_the_data_is_transient_and_may_have_delivered),
        T(auth_good_credentials_deliver_and_bad_ones_never_leak),
        T(starttls_required_but_not_offered_fails_clearly),
        T(starttls_and_implicit_tls_verify_with_the_ca_file),
        T(open_refuses_bad_settings),
        T(config_from_env_reads_the_smtp_variables),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}

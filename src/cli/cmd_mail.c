/*
 * cmd_mail.c — `lumi mail test ADDRESS`: sends one test message straight
 * through the configured SMTP server (not through the outbox) and prints the
 * server's answer, so an admin can check SMTP_* before relying on them.
 * Exit 0 when the server accepted it, 1 with its answer (or why no answer
 * came) otherwise. Needs no database.
 */
#include <curl/curl.h>
#include <stdio.h>

#include "cli/cli.h"
#include "core/config.h"
#include "mail/render.h"
#include "mail/sender.h"

int cmd_mail_test(int argc, char **argv)
{
    struct lumi_err err = {0};
    struct mail_rendered r = {0};
    struct mail_sender *s = NULL;
    char reply[600];
    int rc = CLI_FAIL;
    if (argc != 2)
        return cli_usage_of(cmd_mail_test);
    if (cli_load_config() != 0)
        return CLI_FAIL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return cli_fail("cannot initialise libcurl");
    json_t *data = json_pack("{s:s}", "base_url", config_str("LUMI_BASE_URL"));
    s = mail_sender_new(&err);
    if (s == NULL || data == NULL) {
        cli_fail("out of memory");
        goto out;
    }
    if (!mail_sender_configured(s)) {
        cli_fail("SMTP_HOST is not set: set SMTP_HOST (and SMTP_PORT, SMTP_USER, SMTP_PASSWORD, "
                 "SMTP_FROM, SMTP_TLS) in .env or the environment");
        goto out;
    }
    if (mail_render("test", data, &r, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    printf("sending a test message from %s to %s through %s:%lld (%s)\n", mail_sender_from(s),
           argv[1], config_str("SMTP_HOST"), (long long)config_int("SMTP_PORT"),
           config_str("SMTP_TLS"));
    int sent = mail_sender_send_now(s, argv[1], r.subject, r.text, r.html, reply, sizeof reply,
                                    &err);
    if (sent != 0) {
        if (reply[0] != '\0')
            printf("server answered: %s\n", reply);
        cli_fail("not sent: %s", err.msg);
        goto out;
    }
    printf("server answered: %s\n", reply);
    rc = CLI_OK;
out:
    fflush(stdout);
    mail_rendered_clear(&r);
    json_decref(data);
    mail_sender_free(s);
    curl_global_cleanup();
    return rc;
}

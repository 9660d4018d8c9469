/*
 * dbtest_account_tokens.c — the account tokens and the outbox's sealed secret,
 * in process, on both engines:
 *   - a message's secret is stored sealed (never as given), the body keeps
 *     the mark, and only outbox_reveal puts the secret into the bytes to send;
 *   - a sealed secret copied to another message does not open there;
 *   - sign-up with an admin's address, or a reset for it, makes no token;
 *   - a token is spent once and not at its expiry instant.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "core/str.h"
#include "mail/outbox.h"
#include "support/testdb.h"

#define KEY "7a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct signup_origin FROM = {"192.0.2.1", "test"};

struct fixture {
    char *url;
    struct db *db;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    setenv("LUMI_SECRET_KEY", KEY, 1);
    setenv("LUMI_BASE_URL", "https://billing.example.com", 1);
    setenv("SMTP_HOST", "127.0.0.1", 1);
    setenv("SMTP_PORT", "1", 1);
    setenv("SMTP_TLS", "none", 1);
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static void queue(struct db *db, const char *event, const char *to)
{
    struct lumi_err err;
    struct outbox_new m = {
        .event_key = event,
        .tmpl = "account_verification",
        .to = to,
        .subject = "Confirm",
        .text = "open https://x/verify?token=" OUTBOX_SECRET_MARK " now",
        .html = "<a href=\"https://x/verify?token=" OUTBOX_SECRET_MARK "\">x</a>",
        .secret = SECRET,
    };
    if (outbox_enqueue(db, &m, &err) != 1)
        fail_msg("enqueue: %s", err.msg);
}

static void a_secret_is_put_in_only_when_sent(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct outbox_msg m;
    char *text = NULL, *html = NULL;
    queue(f->db, "account_token:1", "a@example.com");
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE secret LIKE '%" SECRET
                                         "%' OR body_text LIKE '%" SECRET "%'"),
                     0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE secret IS NOT NULL"),
                     1);
    assert_int_equal(outbox_claim(f->db, "t", utc_now(), &m, &err), 1);
    assert_non_null(strstr(m.text, OUTBOX_SECRET_MARK));
    assert_int_equal(outbox_reveal(&m, &text, &html, &err), 0);
    assert_string_equal(text, "open https://x/verify?token=" SECRET " now");
    assert_string_equal(html, "<a href=\"https://x/verify?token=" SECRET "\">x</a>");
    free(text);
    free(html);
    outbox_msg_clear(&m);
}

static void a_secret_moved_to_another_message_does_not_open(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct outbox_msg m;
    char *text = NULL, *html = NULL;
    queue(f->db, "account_token:1", "a@example.com");
    queue(f->db, "account_token:2", "mallory@example.com");
    testdb_exec(f->db, "UPDATE emails SET secret = (SELECT secret FROM emails WHERE rcpt = "
                       "'a@example.com') WHERE rcpt = 'mallory@example.com'");
    testdb_exec(f->db, "UPDATE emails SET status = 'sent' WHERE rcpt = 'a@example.com'");
    assert_int_equal(outbox_claim(f->db, "t", utc_now(), &m, &err), 1);
    assert_string_equal(m.rcpt, "mallory@example.com");
    assert_int_equal(outbox_reveal(&m, &text, &html, &err), LUMI_EINVAL);
    assert_null(text);
    outbox_msg_clear(&m);
}

static void an_admins_address_gets_no_token(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t id = 0;
    assert_int_equal(accounts_create_user(f->db, &AUDIT_SYSTEM, "boss@example.com", "admin",
                                          "a long admin password", &id, &err),
                     0);
    json_t *in =
        json_pack("{s:s s:s s:s s:s s:s}", "email", "Boss@Example.com", "password",
                  "another password", "first_name", "B", "last_name", "C", "country", "DE");
    assert_int_equal(signup_register(f->db, in, &FROM, &err), 0);
    json_decref(in);
    assert_int_equal(signup_reset_request(f->db, "boss@example.com", &FROM, &err), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM account_tokens"), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM emails"), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM users WHERE role = 'client'"), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                         "'SIGNUP_EXISTING_EMAIL'"),
                     1);
}

static void a_token_is_spent_once_and_not_at_its_expiry(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    char sql[300], hash[CRYPTO_SHA256_HEX];
    int64_t client = testdb_add_client(f->db, "c@example.com");
    crypto_sha256_hex(SECRET, 64, hash);
    snprintf(sql, sizeof sql,
             "INSERT INTO account_tokens (user_id, purpose, token_hash, created_at, expires_at) "
             "VALUES (%" PRId64 ", 'verify', '%s', '2026-01-01T00:00:00Z', '2999-01-01T00:00:00Z')",
             client, hash);
    testdb_exec(f->db, "UPDATE users SET email_verified_at = NULL");
    testdb_exec(f->db, sql);
    /* Another purpose's token does not verify. */
    assert_int_equal(signup_reset_confirm(f->db, SECRET, "a new password", &FROM, &err),
                     LUMI_ENOTFOUND);
    assert_int_equal(signup_verify(f->db, SECRET, &FROM, &err), 0);
    assert_int_equal(signup_verify(f->db, SECRET, &FROM, &err), LUMI_ENOTFOUND);
    testdb_exec(f->db, "UPDATE account_tokens SET used_at = NULL, expires_at = "
                       "'2000-01-01T00:00:00Z'");
    assert_int_equal(signup_verify(f->db, SECRET, &FROM, &err), LUMI_ENOTFOUND);
    assert_int_equal(signup_verify(f->db, "not-a-token", &FROM, &err), LUMI_ENOTFOUND);
    assert_int_equal(signup_verify(f->db, "", &FROM, &err), LUMI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_secret_is_put_in_only_when_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(a_secret_moved_to_another_message_does_not_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_admins_address_gets_no_token, setup, teardown),
        cmocka_unit_test_setup_teardown(a_token_is_spent_once_and_not_at_its_expiry, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

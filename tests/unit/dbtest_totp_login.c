/*
 * dbtest_totp_login.c — the admin login's optional second factor, in the
 * domain (accounts.h): switching it on needs a right code from the shown
 * secret; then a right password opens no session but a single-use challenge,
 * which a current code turns into a session; wrong codes fail and are audited
 * and throttled; a code works once; a recovery code works once; challenges
 * expire and run out of attempts; switching it off needs the password or a
 * code; no secret or code reaches the audit trail. Codes are computed here
 * from the secret with totp.h, as an authenticator app would.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "accounts/totp.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/utc.h"
#include "support/testdb.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define EMAIL "second-factor@example.com"
#define PASSWORD "Correct-Horse-Battery-9"

struct fixture {
    char *url;
    struct db *db;
    int64_t user_id;
    char b32[TOTP_SECRET_B32_LEN];
    char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN];
};

static const struct accounts_login_policy POLICY = {
    .max_failures = 50, .window_s = 900, .session_ttl_s = 3600, .client_area = false};

static const struct audit_actor ME = {"user", NULL, EMAIL, "192.0.2.9", "test"};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct lumi_err err;
    setenv("LUMI_SECRET_KEY", KEY, 1);
    f->db = testdb_start(&f->url);
    if (accounts_create_user(f->db, &AUDIT_SYSTEM, EMAIL, "admin", PASSWORD, &f->user_id, &err) !=
        0)
        fail_msg("create user: %s", err.msg);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

/* The code an authenticator app shows for b32 at time t. */
static void code_at(const char *b32, int64_t t, char out[TOTP_CODE_LEN])
{
    uint8_t key[TOTP_KEY_MAX];
    size_t n = 0;
    struct lumi_err err;
    if (totp_base32_decode(b32, strlen(b32), key, sizeof key, &n, &err) != 0)
        fail_msg("secret shown is not base32: %s", err.msg);
    if (totp_code(key, n, t, TOTP_STEP_S, TOTP_DIGITS, out, &err) != 0)
        fail_msg("totp_code: %s", err.msg);
}

/* A wrong code: the right one with its first digit changed. */
static void wrong_code(const char *b32, char out[TOTP_CODE_LEN])
{
    code_at(b32, utc_now(), out);
    out[0] = out[0] == '9' ? '0' : (char)(out[0] + 1);
}

static int64_t count1(struct db *db, const char *sql, const char *param)
{
    int64_t n = -1;
    struct lumi_err err;
    const char *params[] = {param};
    if (db_query_int64(db, sql, param ? 1 : 0, params, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

static int64_t audit_count(struct db *db, const char *action)
{
    return count1(db, "SELECT COUNT(*) FROM audit_log WHERE action = $1", action);
}

/* Every audit detail and stored column as one string, to look for secrets. */
static char *everything_stored(struct db *db)
{
    struct lumi_err err;
    size_t cap = 1 << 20, len = 0;
    char *all = calloc(1, cap);
    static const char *const sqls[] = {
        "SELECT details FROM audit_log",
        "SELECT COALESCE(totp_secret, '') || ' ' || COALESCE(totp_pending, '') FROM users",
        "SELECT code_hash FROM totp_recovery_codes",
        "SELECT token_hash FROM login_challenges",
    };
    for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
        struct db_stmt *st = db_prepare(db, sqls[i], &err);
        assert_non_null(st);
        while (db_step(st, &err) == DB_ROW) {
            const char *t = db_col_text(st, 0) ? db_col_text(st, 0) : "";
            size_t n = strlen(t);
            assert_true(len + n + 2 < cap);
            memcpy(all + len, t, n);
            len += n;
            all[len++] = '\n';
        }
        db_finalize(st);
    }
    return all;
}

/* Begins, reads the secret, confirms with the current code: the second factor is on. */
static void enable(struct fixture *f)
{
    struct lumi_err err;
    char uri[TOTP_URI_MAX], code[TOTP_CODE_LEN];
    assert_int_equal(accounts_totp_begin(f->db, f->user_id, &err), 0);
    assert_int_equal(accounts_totp_pending(f->db, f->user_id, f->b32, uri, &err), 0);
    code_at(f->b32, utc_now(), code);
    struct audit_actor me = ME;
    if (accounts_totp_confirm(f->db, &me, f->user_id, code, f->codes, &err) != 0)
        fail_msg("confirm: %s", err.msg);
}

/* Password step: must answer the challenge, not a session. */
static void password_step(struct fixture *f, struct accounts_session *s)
{
    struct lumi_err err;
    int rc = accounts_login(f->db, EMAIL, PASSWORD, "192.0.2.9", "test", &POLICY, s, &err);
    assert_int_equal(rc, ACCOUNTS_LOGIN_NEED_CODE);
    assert_int_equal(strlen(s->challenge), 64);
    assert_string_equal(s->token, "");
}

static void enabling_needs_a_right_code_from_the_shown_secret(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_totp_status st;
    char b32[TOTP_SECRET_B32_LEN], uri[TOTP_URI_MAX], code[TOTP_CODE_LEN];
    char codes[ACCOUNTS_RECOVERY_CODES][TOTP_RECOVERY_LEN];
    struct audit_actor me = ME;

    assert_int_equal(accounts_totp_pending(f->db, f->user_id, b32, uri, &err), LUMI_ENOTFOUND);
    assert_int_equal(accounts_totp_begin(f->db, f->user_id, &err), 0);
    assert_int_equal(accounts_totp_pending(f->db, f->user_id, b32, uri, &err), 0);
    assert_int_equal(strlen(b32), 32);
    assert_true(strncmp(uri, "otpauth://totp/Lumi:second-factor%40example.com?secret=", 55) == 0);
    assert_non_null(strstr(uri, b32));
    assert_int_equal(accounts_totp_status(f->db, f->user_id, &st, &err), 0);
    assert_false(st.enabled);
    assert_true(st.pending);

    /* A wrong code switches nothing on; a password login still opens a session. */
    wrong_code(b32, code);
    assert_int_equal(accounts_totp_confirm(f->db, &me, f->user_id, code, codes, &err), LUMI_EINVAL);
    assert_null(strstr(err.msg, code));
    assert_int_equal(accounts_totp_status(f->db, f->user_id, &st, &err), 0);
    assert_false(st.enabled);
    struct accounts_session s;
    assert_int_equal(accounts_login(f->db, EMAIL, PASSWORD, "192.0.2.9", "t", &POLICY, &s, &err),
                     0);
    assert_int_equal(strlen(s.token), 64);
    assert_int_equal(audit_count(f->db, "TOTP_ENABLED"), 0);

    /* The right code does, with ten distinct recovery codes. */
    code_at(b32, utc_now(), code);
    assert_int_equal(accounts_totp_confirm(f->db, &me, f->user_id, code, codes, &err), 0);
    for (int i = 0; i < ACCOUNTS_RECOVERY_CODES; i++) {
        assert_int_equal(strlen(codes[i]), 14);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(codes[i], codes[j]);
    }
    assert_int_equal(accounts_totp_status(f->db, f->user_id, &st, &err), 0);
    assert_true(st.enabled);
    assert_false(st.pending);
    assert_true(st.recovery_left == ACCOUNTS_RECOVERY_CODES);
    assert_int_equal(audit_count(f->db, "TOTP_ENABLED"), 1);
    /* Enabling again is refused while on. */
    assert_int_equal(accounts_totp_begin(f->db, f->user_id, &err), LUMI_ECONFLICT);

    /* Stored sealed, bound to the row; no secret or code anywhere in the record. */
    char *all = everything_stored(f->db);
    assert_null(strstr(all, b32));
    for (int i = 0; i < ACCOUNTS_RECOVERY_CODES; i++)
        assert_null(strstr(all, codes[i]));
    assert_int_equal(
        count1(f->db, "SELECT COUNT(*) FROM users WHERE totp_secret LIKE 'v1.%'", NULL), 1);
    free(all);
}

static void login_needs_a_current_code_and_a_code_works_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_session s, done;
    char code[TOTP_CODE_LEN];
    enable(f);
    int64_t sessions = count1(f->db, "SELECT COUNT(*) FROM sessions", NULL);

    password_step(f, &s);
    /* No session yet; only the challenge's hash is stored. */
    assert_true(count1(f->db, "SELECT COUNT(*) FROM sessions", NULL) == sessions);
    assert_true(count1(f->db, "SELECT COUNT(*) FROM login_challenges WHERE token_hash = $1",
                       s.challenge) == 0);
    assert_true(count1(f->db, "SELECT COUNT(*) FROM login_challenges", NULL) == 1);

    /* A wrong code fails, is audited with its reason and leaves the challenge usable. */
    int64_t failed = audit_count(f->db, "LOGIN_FAILED");
    wrong_code(f->b32, code);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err),
        LUMI_EAUTH);
    assert_string_equal(done.token, "");
    assert_true(audit_count(f->db, "LOGIN_FAILED") == failed + 1);
    assert_true(count1(f->db,
                       "SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND "
                       "details LIKE $1",
                       "%wrong second-factor code%") == 1);

    /* The code of the next step (the confirm code's step is spent) opens the session. */
    code_at(f->b32, utc_now() + TOTP_STEP_S, code);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err), 0);
    assert_int_equal(strlen(done.token), 64);
    assert_string_equal(done.email, EMAIL);
    assert_true(done.user_id == f->user_id);
    assert_true(count1(f->db, "SELECT COUNT(*) FROM sessions", NULL) == sessions + 1);
    assert_true(count1(f->db,
                       "SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN' AND details LIKE $1",
                       "%\"factor\":\"totp\"%") == 1);

    /* The challenge was single-use. */
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err),
        LUMI_ENOTFOUND);
    /* The same code, replayed with a fresh challenge, fails; so does an older one. */
    password_step(f, &s);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err),
        LUMI_EAUTH);
    code_at(f->b32, utc_now(), code);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err),
        LUMI_EAUTH);

    /* A wrong password never reaches the second step. */
    assert_int_equal(
        accounts_login(f->db, EMAIL, "Wrong-Password-123", "192.0.2.9", "t", &POLICY, &s, &err),
        LUMI_EAUTH);
    assert_string_equal(s.challenge, "");

    /* The client area is unaffected: an admin is refused there as before. */
    struct accounts_login_policy client = POLICY;
    client.client_area = true;
    assert_int_equal(accounts_login(f->db, EMAIL, PASSWORD, "192.0.2.9", "t", &client, &s, &err),
                     LUMI_EFORBIDDEN);
}

static void recovery_code_works_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_session s, done;
    struct accounts_totp_status st;
    char typed[40];
    enable(f);

    /* Typed in upper case without dashes, as people do. */
    size_t n = 0;
    for (const char *p = f->codes[3]; *p; p++)
        if (*p != '-')
            typed[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    typed[n] = '\0';
    password_step(f, &s);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, typed, "192.0.2.9", "t", &POLICY, &done, &err), 0);
    assert_int_equal(strlen(done.token), 64);
    assert_int_equal(audit_count(f->db, "RECOVERY_CODE_USED"), 1);
    assert_true(count1(f->db,
                       "SELECT COUNT(*) FROM audit_log WHERE action = 'RECOVERY_CODE_USED' AND "
                       "details LIKE $1",
                       "%\"remaining\":9%") == 1);
    assert_int_equal(accounts_totp_status(f->db, f->user_id, &st, &err), 0);
    assert_true(st.recovery_left == ACCOUNTS_RECOVERY_CODES - 1);

    password_step(f, &s);
    assert_int_equal(accounts_login_code(f->db, s.challenge, f->codes[3], "192.0.2.9", "t", &POLICY,
                                         &done, &err),
                     LUMI_EAUTH);
    assert_int_equal(accounts_login_code(f->db, s.challenge, "zzzz-zzzz-zzzz", "192.0.2.9", "t",
                                         &POLICY, &done, &err),
                     LUMI_EAUTH);
    /* Another one still works. */
    assert_int_equal(accounts_login_code(f->db, s.challenge, f->codes[7], "192.0.2.9", "t", &POLICY,
                                         &done, &err),
                     0);
    char *all = everything_stored(f->db);
    for (int i = 0; i < ACCOUNTS_RECOVERY_CODES; i++)
        assert_null(strstr(all, f->codes[i]));
    assert_null(strstr(all, typed));
    free(all);
}

static void expired_or_exhausted_challenge_needs_the_password_again(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_session s, done;
    char code[TOTP_CODE_LEN];
    enable(f);

    password_step(f, &s);
    testdb_exec(f->db, "UPDATE login_challenges SET expires_at = '2000-01-01T00:00:00Z'");
    code_at(f->b32, utc_now() + TOTP_STEP_S, code);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err),
        LUMI_ENOTFOUND);
    assert_string_equal(done.token, "");
    assert_true(count1(f->db, "SELECT COUNT(*) FROM login_challenges", NULL) == 0);
    assert_true(count1(f->db,
                       "SELECT COUNT(*) FROM audit_log WHERE action = 'LOGIN_FAILED' AND "
                       "details LIKE $1",
                       "%login challenge expired%") == 1);

    /* An unknown challenge is refused too. */
    assert_int_equal(accounts_login_code(f->db,
                                         "0000000000000000000000000000000000000000000000000000000"
                                         "000000000",
                                         code, "192.0.2.9", "t", &POLICY, &done, &err),
                     LUMI_ENOTFOUND);

    /* After ACCOUNTS_CHALLENGE_ATTEMPTS wrong codes even the right one is refused. */
    password_step(f, &s);
    char wrong[TOTP_CODE_LEN];
    wrong_code(f->b32, wrong);
    for (int i = 1; i <= ACCOUNTS_CHALLENGE_ATTEMPTS; i++)
        assert_int_equal(
            accounts_login_code(f->db, s.challenge, wrong, "192.0.2.9", "t", &POLICY, &done, &err),
            i < ACCOUNTS_CHALLENGE_ATTEMPTS ? LUMI_EAUTH : LUMI_ENOTFOUND);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err),
        LUMI_ENOTFOUND);
    /* A fresh password step still works with the code. */
    password_step(f, &s);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &POLICY, &done, &err), 0);
}

static void wrong_codes_are_throttled_like_passwords(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_session s, done;
    char code[TOTP_CODE_LEN], wrong[TOTP_CODE_LEN];
    struct accounts_login_policy tight = POLICY;
    tight.max_failures = 3;
    enable(f);

    password_step(f, &s);
    wrong_code(f->b32, wrong);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            accounts_login_code(f->db, s.challenge, wrong, "192.0.2.9", "t", &tight, &done, &err),
            LUMI_EAUTH);
    code_at(f->b32, utc_now() + TOTP_STEP_S, code);
    assert_int_equal(
        accounts_login_code(f->db, s.challenge, code, "192.0.2.9", "t", &tight, &done, &err),
        LUMI_ETHROTTLED);
    assert_string_equal(done.token, "");
    /* The password step counts the same failures. */
    assert_int_equal(accounts_login(f->db, EMAIL, PASSWORD, "192.0.2.9", "t", &tight, &s, &err),
                     LUMI_ETHROTTLED);
}

static void disabling_needs_the_password_or_a_code(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_session s;
    struct accounts_totp_status st;
    struct audit_actor me = ME;
    char code[TOTP_CODE_LEN];
    enable(f);

    assert_int_equal(accounts_totp_disable(f->db, &me, f->user_id, NULL, NULL, &POLICY, &err),
                     LUMI_EINVAL);
    assert_int_equal(
        accounts_totp_disable(f->db, &me, f->user_id, "Not-The-Password-1", NULL, &POLICY, &err),
        LUMI_EAUTH);
    wrong_code(f->b32, code);
    assert_int_equal(accounts_totp_disable(f->db, &me, f->user_id, "", code, &POLICY, &err),
                     LUMI_EAUTH);
    assert_int_equal(audit_count(f->db, "TOTP_DISABLE_FAILED"), 2);
    assert_int_equal(accounts_totp_status(f->db, f->user_id, &st, &err), 0);
    assert_true(st.enabled);

    /* With a current code: off, recovery codes gone, password alone opens a session again. */
    code_at(f->b32, utc_now() + TOTP_STEP_S, code);
    assert_int_equal(accounts_totp_disable(f->db, &me, f->user_id, NULL, code, &POLICY, &err), 0);
    assert_int_equal(audit_count(f->db, "TOTP_DISABLED"), 1);
    assert_int_equal(accounts_totp_status(f->db, f->user_id, &st, &err), 0);
    assert_false(st.enabled);
    assert_true(st.recovery_left == 0);
    assert_int_equal(accounts_login(f->db, EMAIL, PASSWORD, "192.0.2.9", "t", &POLICY, &s, &err),
                     0);
    assert_int_equal(strlen(s.token), 64);
    assert_int_equal(accounts_totp_disable(f->db, &me, f->user_id, PASSWORD, NULL, &POLICY, &err),
                     LUMI_ECONFLICT);

    /* On again (a new secret), off with the password. */
    enable(f);
    assert_int_equal(accounts_totp_disable(f->db, &me, f->user_id, PASSWORD, NULL, &POLICY, &err),
                     0);
    assert_int_equal(audit_count(f->db, "TOTP_DISABLED"), 2);

    /* Too many wrong proofs are throttled. */
    enable(f);
    struct accounts_login_policy tight = POLICY;
    tight.max_failures = 2; /* two TOTP_DISABLE_FAILED rows exist already */
    assert_int_equal(accounts_totp_disable(f->db, &me, f->user_id, PASSWORD, NULL, &tight, &err),
                     LUMI_ETHROTTLED);
}

struct racer {
    const char *url;
    const char *challenge;
    const char *code;
    int rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct lumi_err err;
    struct accounts_session s;
    struct db *db = testdb_open(r->url);
    r->rc = accounts_login_code(db, r->challenge, r->code, "192.0.2.9", "t", &POLICY, &s, &err);
    db_close(db);
    return NULL;
}

/* Two logins racing with one code (each with its own challenge), and two
 * racing with one challenge: exactly one of each pair gets a session. */
static void racing_requests_cannot_both_spend_one_code(void **state)
{
    struct fixture *f = *state;
    struct accounts_session a, b;
    char code[TOTP_CODE_LEN];
    enable(f);
    for (int round = 0; round < 2; round++) {
        password_step(f, &a);
        password_step(f, &b);
        int64_t sessions = count1(f->db, "SELECT COUNT(*) FROM sessions", NULL);
        code_at(f->b32, utc_now() + TOTP_STEP_S, code);
        struct racer r[2] = {{f->url, a.challenge, code, 99}, {f->url, b.challenge, code, 99}};
        if (round == 1) { /* one challenge, two different good recovery codes */
            r[0].code = f->codes[1];
            r[1] = (struct racer){f->url, a.challenge, f->codes[2], 99};
        }
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        int wins = (r[0].rc == 0) + (r[1].rc == 0);
        if (wins != 1)
            fail_msg("round %d: %d winners (rc %d and %d)", round, wins, r[0].rc, r[1].rc);
        assert_true(r[0].rc == 0 || r[0].rc == LUMI_EAUTH || r[0].rc == LUMI_ENOTFOUND);
        assert_true(r[1].rc == 0 || r[1].rc == LUMI_EAUTH || r[1].rc == LUMI_ENOTFOUND);
        assert_true(count1(f->db, "SELECT COUNT(*) FROM sessions", NULL) == sessions + 1);
    }
}

static void reset_is_the_way_out_for_a_locked_out_admin(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct accounts_session s;
    enable(f);
    static const struct audit_actor CLI = {"system", "cli", NULL, NULL, "lumi-cli"};
    assert_int_equal(accounts_totp_reset(f->db, &CLI, "nobody@example.com", &err), LUMI_ENOTFOUND);
    assert_int_equal(accounts_totp_reset(f->db, &CLI, "Second-Factor@Example.com", &err), 0);
    assert_true(count1(f->db,
                       "SELECT COUNT(*) FROM audit_log WHERE action = 'TOTP_DISABLED' AND "
                       "details LIKE $1",
                       "%\"method\":\"reset\"%") == 1);
    assert_int_equal(accounts_login(f->db, EMAIL, PASSWORD, "192.0.2.9", "t", &POLICY, &s, &err),
                     0);
    assert_int_equal(accounts_totp_reset(f->db, &CLI, EMAIL, &err), LUMI_ECONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(enabling_needs_a_right_code_from_the_shown_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(login_needs_a_current_code_and_a_code_works_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(recovery_code_works_once, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_or_exhausted_challenge_needs_the_password_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_codes_are_throttled_like_passwords, setup, teardown),
        cmocka_unit_test_setup_teardown(disabling_needs_the_password_or_a_code, setup, teardown),
        cmocka_unit_test_setup_teardown(racing_requests_cannot_both_spend_one_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reset_is_the_way_out_for_a_locked_out_admin, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

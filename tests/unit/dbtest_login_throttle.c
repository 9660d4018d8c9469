/*
 * dbtest_login_throttle.c — the login throttle (accounts/throttle.h), in the
 * domain: an attacker guessing from one address is stopped there but cannot
 * lock the owner, signing in from another address, out (issue 17, finding
 * 6); one address guessing many accounts is stopped; an account guessed from
 * many addresses is stopped by the slower per-account hourly limit.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "support/testdb.h"

#define EMAIL "owner@example.com"
#define PASSWORD "Harbor-Quilt-Meadow-17"
#define ATTACKER "198.51.100.7"
#define OWNER_IP "203.0.113.5"

struct fixture {
    char *url;
    struct db *db;
};

static const struct accounts_login_policy POLICY = {.max_failures = 5,
                                                    .window_s = 900,
                                                    .session_ttl_s = 3600,
                                                    .account_max_per_hour = 12,
                                                    .client_area = false};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct lumi_err err;
    f->db = testdb_start(&f->url);
    if (accounts_create_user(f->db, &AUDIT_SYSTEM, EMAIL, "admin", PASSWORD, NULL, &err) != 0)
        fail_msg("create user: %s", err.msg);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int login(struct fixture *f, const char *email, const char *password, const char *ip)
{
    struct accounts_session s;
    struct lumi_err err;
    return accounts_login(f->db, email, password, ip, "test", &POLICY, &s, &err);
}

static void reset(struct fixture *f)
{
    struct lumi_err err;
    assert_int_equal(db_exec(f->db, "DELETE FROM rate_events", &err), 0);
}

static void attacker_cannot_lock_the_owner_out(void **state)
{
    struct fixture *f = *state;
    reset(f);
    for (int i = 0; i < 5; i++)
        assert_int_equal(login(f, EMAIL, "guess-number-x", ATTACKER), LUMI_EAUTH);
    /* The attacker's address is stopped, even with the right password … */
    assert_int_equal(login(f, EMAIL, "guess-number-y", ATTACKER), LUMI_ETHROTTLED);
    assert_int_equal(login(f, EMAIL, PASSWORD, ATTACKER), LUMI_ETHROTTLED);
    /* … and the owner, elsewhere, signs in; the attacker cannot renew a lockout. */
    assert_int_equal(login(f, EMAIL, PASSWORD, OWNER_IP), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(login(f, EMAIL, "guess-number-z", ATTACKER), LUMI_ETHROTTLED);
    assert_int_equal(login(f, EMAIL, PASSWORD, OWNER_IP), 0);
}

static void one_address_guessing_many_accounts_is_stopped(void **state)
{
    struct fixture *f = *state;
    char mail[64];
    reset(f);
    for (int i = 0; i < 20; i++) { /* 4 x max_failures, each account only once */
        snprintf(mail, sizeof mail, "victim%d@example.com", i);
        assert_int_equal(login(f, mail, "guess-number-x", ATTACKER), LUMI_EAUTH);
    }
    assert_int_equal(login(f, "victim99@example.com", "guess-number-x", ATTACKER),
                     LUMI_ETHROTTLED);
    assert_int_equal(login(f, EMAIL, PASSWORD, OWNER_IP), 0);
}

static void many_addresses_guessing_one_account_are_stopped(void **state)
{
    struct fixture *f = *state;
    char ip[32];
    reset(f);
    for (int i = 0; i < 12; i++) { /* account_max_per_hour, from as many addresses */
        snprintf(ip, sizeof ip, "192.0.2.%d", 10 + i);
        assert_int_equal(login(f, EMAIL, "guess-number-x", ip), LUMI_EAUTH);
    }
    assert_int_equal(login(f, EMAIL, PASSWORD, OWNER_IP), LUMI_ETHROTTLED);
    reset(f);
    assert_int_equal(login(f, EMAIL, PASSWORD, OWNER_IP), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attacker_cannot_lock_the_owner_out),
        cmocka_unit_test(one_address_guessing_many_accounts_is_stopped),
        cmocka_unit_test(many_addresses_guessing_one_account_are_stopped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

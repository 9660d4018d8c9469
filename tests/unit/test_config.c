/*
 * test_config.c — the .env syntax, loading from .env and the environment
 * (which wins), defaults and typed getters, and the one-line errors an admin
 * sees for bad values — which never contain a secret.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

static const char *const all_vars[] = {"DATABASE_URL",
                                       "LUMI_LISTEN",
                                       "LUMI_BASE_URL",
                                       "LUMI_SECRET_KEY",
                                       "LUMI_LOG_LEVEL",
                                       "LUMI_MAX_BODY",
                                       "LUMI_HTTP_THREADS",
                                       "LUMI_WORKERS",
                                       "LUMI_QUEUE_MAX",
                                       "LUMI_LOGIN_MAX_FAILURES",
                                       "LUMI_LOGIN_WINDOW",
                                       "STRIPE_SECRET_KEY",
                                       "STRIPE_PUBLISHABLE_KEY",
                                       "STRIPE_WEBHOOK_SECRET",
                                       "STRIPE_API_BASE",
                                       "PAYPAL_CLIENT_ID",
                                       "PAYPAL_CLIENT_SECRET",
                                       "PAYPAL_WEBHOOK_ID",
                                       "PAYPAL_MODE",
                                       "PAYPAL_API_BASE",
                                       "PAYPAL_WEBHOOK_VERIFY",
                                       "PAYPAL_CERT_HOSTS",
                                       "PTERODACTYL_URL",
                                       "PTERODACTYL_API_KEY",
                                       "DIRECTADMIN_URL",
                                       "DIRECTADMIN_USERNAME",
                                       "DIRECTADMIN_PASSWORD",
                                       "DIRECTADMIN_API_VERSION",
                                       "VIRTFUSION_URL",
                                       "VIRTFUSION_API_KEY",
                                       NULL};

static char dir[64];
static char env_path[128];

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; all_vars[i] != NULL; i++)
        unsetenv(all_vars[i]);
    snprintf(dir, sizeof dir, "/tmp/lumi-test-config-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(env_path, sizeof env_path, "%s/.env", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(env_path);
    rmdir(dir);
    log_clear_secrets();
    return 0;
}

/* Each test starts with no variables in the environment and no .env. */
static int reset(void **state)
{
    (void)state;
    for (size_t i = 0; all_vars[i] != NULL; i++)
        unsetenv(all_vars[i]);
    unlink(env_path);
    return 0;
}

static void write_env(const char *text)
{
    FILE *f = fopen(env_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static void load_ok(void)
{
    struct lumi_err err;
    err_clear(&err);
    if (config_load(env_path, &err) != 0)
        fail_msg("config_load failed: %s", err.msg);
}

/* Loads and expects failure; returns the message (static). */
static const char *load_fails(void)
{
    static struct lumi_err err;
    err_clear(&err);
    if (config_load(env_path, &err) == 0)
        fail_msg("config_load accepted the configuration");
    assert_null(strchr(err.msg, '\n'));
    return err.msg;
}

/* ---- env_parse --------------------------------------------------------------- */

struct entries {
    int n;
    char keys[32][32];
    char values[32][128];
    int stop_after;
};

static int collect(const char *key, const char *value, void *ctx)
{
    struct entries *e = ctx;
    assert_true(e->n < 32);
    snprintf(e->keys[e->n], sizeof e->keys[0], "%s", key);
    snprintf(e->values[e->n], sizeof e->values[0], "%s", value);
    e->n++;
    return e->stop_after && e->n >= e->stop_after ? 5 : 0;
}

static void parse_ok(const char *text, struct entries *e)
{
    struct lumi_err err;
    memset(e, 0, sizeof *e);
    err_clear(&err);
    if (env_parse(text, strlen(text), collect, e, &err) != 0)
        fail_msg("env_parse failed: %s", err.msg);
}

static void parse_fails(const char *text, const char *msg)
{
    struct lumi_err err;
    struct entries e;
    memset(&e, 0, sizeof e);
    err_clear(&err);
    assert_int_equal(env_parse(text, strlen(text), collect, &e, &err), LUMI_EINVAL);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("message was \"%s\", expected \"%s\"", err.msg, msg);
}

static void env_syntax_values(void **state)
{
    (void)state;
    struct entries e;
    parse_ok("# a comment\n"
             "\n"
             "   \t\n"
             "   # indented comment\n"
             "A=1\n"
             "  B = two words  # trailing comment\n"
             "C='single # kept \\n literal'\n"
             "D=\"double \\\"q\\\" \\\\ \\n\\t end\" # comment\n"
             "export E=exported\n"
             "F=\n"
             "G=a#b\n"
             "H=a #b\n"
             "I=#x\n"
             "J=\"# in quotes\"\n"
             "K=crlf\r\n"
             "L=back\\slash\n"
             "M=\"keep \\q\"\n"
             "export=1\n"
             "N=''\n"
             "O=\"\"\n"
             "P='a' # after quote\n"
             "Q=last",
             &e);
    const char *want[][2] = {{"A", "1"},
                             {"B", "two words"},
                             {"C", "single # kept \\n literal"},
                             {"D", "double \"q\" \\ \n\t end"},
                             {"E", "exported"},
                             {"F", ""},
                             {"G", "a#b"},
                             {"H", "a"},
                             {"I", "#x"},
                             {"J", "# in quotes"},
                             {"K", "crlf"},
                             {"L", "back\\slash"},
                             {"M", "keep \\q"},
                             {"export", "1"},
                             {"N", ""},
                             {"O", ""},
                             {"P", "a"},
                             {"Q", "last"}};
    size_t nwant = sizeof want / sizeof want[0];
    assert_int_equal(e.n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        assert_string_equal(e.keys[i], want[i][0]);
        assert_string_equal(e.values[i], want[i][1]);
    }
}

static void env_syntax_errors_give_line_numbers(void **state)
{
    (void)state;
    parse_fails("A=1\nB=2\nNOEQUALS\n", "line 3: expected KEY=VALUE");
    parse_fails("A=1\nB='oops\nC=3\n", "line 2: unterminated single quote");
    parse_fails("A=\"never closed", "line 1: unterminated double quote");
    parse_fails("A=\"ends in backslash\\\"", "line 1: unterminated double quote");
    parse_fails("\r\n\r\nA='x\r\n", "line 3: unterminated single quote");
    parse_fails("1A=x", "line 1: invalid variable name (letters, digits and _ only)");
    parse_fails("ok=1\nA-B=x", "line 2: invalid variable name (letters, digits and _ only)");
    parse_fails("=x", "line 1: invalid variable name (letters, digits and _ only)");
    parse_fails("A B=x", "line 1: invalid variable name (letters, digits and _ only)");
    parse_fails("A=\"x\" y", "line 1: unexpected text after the closing quote");
    struct lumi_err err;
    assert_int_equal(env_parse("A=1\nB=x\0y\n", 10, collect, &(struct entries){0}, &err),
                     LUMI_EINVAL);
    assert_string_equal(err.msg, "line 2: contains a NUL byte");
}

static void env_callback_can_stop(void **state)
{
    (void)state;
    struct entries e;
    memset(&e, 0, sizeof e);
    e.stop_after = 1;
    assert_int_equal(env_parse("A=1\nB=2\n", 8, collect, &e, NULL), 5);
    assert_int_equal(e.n, 1);
    memset(&e, 0, sizeof e);
    assert_int_equal(env_parse(NULL, 0, collect, &e, NULL), 0);
    assert_int_equal(e.n, 0);
}

/* ---- config_load ------------------------------------------------------------- */

static void missing_file_gives_defaults(void **state)
{
    (void)state;
    load_ok();
    assert_string_equal(config_str("DATABASE_URL"), "sqlite:./lumi.db");
    assert_string_equal(config_str("LUMI_LISTEN"), "127.0.0.1:8080");
    assert_string_equal(config_str("LUMI_BASE_URL"), "http://127.0.0.1:8080");
    assert_string_equal(config_str("LUMI_LOG_LEVEL"), "info");
    assert_true(config_int("LUMI_MAX_BODY") == 1048576);
    assert_true(config_int("LUMI_HTTP_THREADS") == 2);
    assert_true(config_int("LUMI_WORKERS") == 8);
    assert_true(config_int("LUMI_QUEUE_MAX") == 256);
    assert_true(config_int("LUMI_LOGIN_MAX_FAILURES") == 5);
    assert_true(config_int("LUMI_LOGIN_WINDOW") == 900);
    assert_string_equal(config_str("STRIPE_API_BASE"), "https://api.stripe.com");
    assert_string_equal(config_str("PAYPAL_MODE"), "sandbox");
    assert_string_equal(config_str("PAYPAL_WEBHOOK_VERIFY"), "api");
    assert_string_equal(config_str("DIRECTADMIN_API_VERSION"), "v2");
    assert_null(config_str("STRIPE_SECRET_KEY"));
    assert_false(config_has("STRIPE_SECRET_KEY"));
    assert_true(config_has("DATABASE_URL"));
    assert_null(config_secret_key());
    assert_null(config_str("NOT_A_LUMI_VARIABLE"));
    assert_true(config_int("NOT_A_LUMI_VARIABLE") == 0);
    assert_false(config_bool("LUMI_LISTEN"));
    assert_int_equal(config_load(NULL, NULL), 0);
    assert_string_equal(config_str("LUMI_LISTEN"), "127.0.0.1:8080");
}

static void env_file_values_are_loaded(void **state)
{
    (void)state;
    write_env(
        "# Lumi\n"
        "export LUMI_LISTEN=0.0.0.0:9000\n"
        "LUMI_WORKERS=16\n"
        "LUMI_SECRET_KEY=\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n"
        "STRIPE_SECRET_KEY='sk_test_abc#123'\n"
        "PTERODACTYL_URL=https://panel.example.com  # game panel\n"
        "SOMETHING_ELSE=ignored\n"
        "PAYPAL_CLIENT_ID=\n");
    load_ok();
    assert_string_equal(config_str("LUMI_LISTEN"), "0.0.0.0:9000");
    assert_true(config_int("LUMI_WORKERS") == 16);
    assert_string_equal(config_str("STRIPE_SECRET_KEY"), "sk_test_abc#123");
    assert_string_equal(config_str("PTERODACTYL_URL"), "https://panel.example.com");
    assert_false(config_has("PAYPAL_CLIENT_ID"));
    const unsigned char *key = config_secret_key();
    assert_non_null(key);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key[i], i);
    assert_int_equal(config_require("LUMI_SECRET_KEY", NULL), 0);
}

static void environment_overrides_env_file(void **state)
{
    (void)state;
    write_env("LUMI_WORKERS=16\nLUMI_LOG_LEVEL=debug\nPAYPAL_MODE=live\n");
    setenv("LUMI_WORKERS", "32", 1);
    setenv("PAYPAL_MODE", "", 1); /* empty counts as unset: .env applies */
    load_ok();
    assert_true(config_int("LUMI_WORKERS") == 32);
    assert_string_equal(config_str("LUMI_LOG_LEVEL"), "debug");
    assert_string_equal(config_str("PAYPAL_MODE"), "live");
    unsetenv("LUMI_WORKERS");
    unsetenv("PAYPAL_MODE");
    load_ok();
    assert_true(config_int("LUMI_WORKERS") == 16);
}

static void paypal_api_base_follows_mode(void **state)
{
    (void)state;
    load_ok();
    assert_string_equal(config_str("PAYPAL_API_BASE"), "https://api-m.sandbox.paypal.com");
    setenv("PAYPAL_MODE", "live", 1);
    load_ok();
    assert_string_equal(config_str("PAYPAL_API_BASE"), "https://api-m.paypal.com");
    setenv("PAYPAL_API_BASE", "http://127.0.0.1:9999", 1);
    load_ok();
    assert_string_equal(config_str("PAYPAL_API_BASE"), "http://127.0.0.1:9999");
}

static void bad_values_name_the_variable(void **state)
{
    (void)state;
    struct {
        const char *var, *value, *msg;
    } cases[] = {
        {"LUMI_LISTEN", "8080", "LUMI_LISTEN: expected ADDRESS:PORT, got '8080'"},
        {"LUMI_LISTEN", "127.0.0.1:65536",
         "LUMI_LISTEN: expected ADDRESS:PORT, got '127.0.0.1:65536'"},
        {"LUMI_LISTEN", "example.com:80",
         "LUMI_LISTEN: expected ADDRESS:PORT, got 'example.com:80'"},
        {"LUMI_LISTEN", "[::1:80", "LUMI_LISTEN: expected ADDRESS:PORT, got '[::1:80'"},
        {"LUMI_LISTEN", "1.2.3:80", "LUMI_LISTEN: expected ADDRESS:PORT, got '1.2.3:80'"},
        {"LUMI_LISTEN", ":80", "LUMI_LISTEN: expected ADDRESS:PORT, got ':80'"},
        {"LUMI_MAX_BODY", "10",
         "LUMI_MAX_BODY: expected an integer between 1024 and 67108864, got '10'"},
        {"LUMI_WORKERS", "8x", "LUMI_WORKERS: expected an integer between 1 and 256, got '8x'"},
        {"LUMI_LOGIN_WINDOW", "86401",
         "LUMI_LOGIN_WINDOW: expected an integer between 10 and 86400, got '86401'"},
        {"LUMI_LOG_LEVEL", "verbose",
         "LUMI_LOG_LEVEL: expected one of debug|info|warn|error, got 'verbose'"},
        {"PAYPAL_MODE", "prod", "PAYPAL_MODE: expected one of sandbox|live, got 'prod'"},
        {"DIRECTADMIN_API_VERSION", "v3",
         "DIRECTADMIN_API_VERSION: expected one of v2|v1, got 'v3'"},
        {"LUMI_BASE_URL", "ftp://x",
         "LUMI_BASE_URL: expected an http:// or https:// URL, got 'ftp://x'"},
        {"PTERODACTYL_URL", "https://",
         "PTERODACTYL_URL: expected an http:// or https:// URL, got 'https://'"},
        {"STRIPE_API_BASE", "https://a b",
         "STRIPE_API_BASE: expected an http:// or https:// URL, got 'https://a b'"},
        {"DATABASE_URL", "mysql:x",
         "DATABASE_URL: expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB, got "
         "'mysql:x'"},
        {"LUMI_WORKERS", "line\nbreak",
         "LUMI_WORKERS: expected an integer between 1 and 256, got 'line\\nbreak'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset(NULL);
        setenv(cases[i].var, cases[i].value, 1);
        const char *msg = load_fails();
        if (strcmp(msg, cases[i].msg) != 0)
            fail_msg("case %zu: got \"%s\", expected \"%s\"", i, msg, cases[i].msg);
    }
}

static void good_listen_addresses(void **state)
{
    (void)state;
    const char *good[] = {"0.0.0.0:0", "localhost:8080", "[::1]:8080", "[::]:443",
                          "10.1.2.3:65535"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv("LUMI_LISTEN", good[i], 1);
        load_ok();
        assert_string_equal(config_str("LUMI_LISTEN"), good[i]);
    }
}

static void secrets_never_appear_in_errors(void **state)
{
    (void)state;
    const char *secret = "this-is-not-a-valid-key-but-is-secret";
    write_env("LUMI_SECRET_KEY=this-is-not-a-valid-key-but-is-secret\n");
    const char *msg = load_fails();
    assert_string_equal(msg, "LUMI_SECRET_KEY: expected 32 bytes as 64 hex digits or base64");
    assert_null(strstr(msg, secret));
    assert_null(strstr(msg, "secret-but"));

    /* A database URL with credentials is not echoed either. */
    reset(NULL);
    setenv("DATABASE_URL", "mysql://lumi:pw-hunter2@db/lumi", 1);
    msg = load_fails();
    assert_null(strstr(msg, "hunter2"));
    assert_non_null(strstr(msg, "DATABASE_URL: expected"));

    /* Nor in .env syntax errors, whatever the line holds. */
    reset(NULL);
    write_env("STRIPE_SECRET_KEY='sk_live_supersecret\n");
    msg = load_fails();
    assert_null(strstr(msg, "supersecret"));
    assert_non_null(strstr(msg, "line 1: unterminated single quote"));
}

static void env_file_errors_name_file_and_line(void **state)
{
    (void)state;
    write_env("LUMI_WORKERS=4\n# fine\nJUST_A_WORD\n");
    const char *msg = load_fails();
    char want[256];
    snprintf(want, sizeof want, "%s line 3: expected KEY=VALUE", env_path);
    assert_string_equal(msg, want);
}

static void failed_load_keeps_previous_configuration(void **state)
{
    (void)state;
    setenv("LUMI_WORKERS", "12", 1);
    load_ok();
    setenv("LUMI_WORKERS", "0", 1);
    load_fails();
    assert_true(config_int("LUMI_WORKERS") == 12);
}

static void require_and_secret_flags(void **state)
{
    (void)state;
    struct lumi_err err;
    load_ok();
    assert_int_equal(config_require("LUMI_SECRET_KEY", &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "LUMI_SECRET_KEY"));
    assert_int_equal(config_require("DATABASE_URL", &err), 0);
    assert_int_equal(config_require("NO_SUCH_VAR", &err), LUMI_EINTERNAL);
    const char *secret[] = {"LUMI_SECRET_KEY",      "STRIPE_SECRET_KEY",   "STRIPE_WEBHOOK_SECRET",
                            "PAYPAL_CLIENT_SECRET", "PTERODACTYL_API_KEY", "DIRECTADMIN_PASSWORD",
                            "VIRTFUSION_API_KEY"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        assert_true(config_is_secret(secret[i]));
    assert_false(config_is_secret("STRIPE_PUBLISHABLE_KEY"));
    assert_false(config_is_secret("LUMI_LISTEN"));
    assert_false(config_is_secret("NO_SUCH_VAR"));
    /* base64 keys work too. */
    setenv("LUMI_SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 1);
    load_ok();
    assert_non_null(config_secret_key());
    assert_int_equal(config_secret_key()[31], 31);
}

static void unreadable_env_file_is_an_error(void **state)
{
    (void)state;
    struct lumi_err err;
    /* A directory where the file should be: exists, cannot be read as a file. */
    assert_int_equal(config_load(dir, &err) != 0, 1);
    assert_non_null(strstr(err.msg, dir));
    /* Larger than 1 MiB: refused rather than read without bound. */
    FILE *f = fopen(env_path, "wb");
    assert_non_null(f);
    for (int i = 0; i < (1 << 20) / 16 + 1; i++)
        fputs("# padding line.\n", f);
    fclose(f);
    assert_int_equal(config_load(env_path, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "larger than 1048576 bytes"));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/does-not-exist/.env", dir);
    assert_int_equal(config_load(missing, &err), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, reset)
    const struct CMUnitTest tests[] = {
        T(env_syntax_values),
        T(env_syntax_errors_give_line_numbers),
        T(env_callback_can_stop),
        T(missing_file_gives_defaults),
        T(env_file_values_are_loaded),
        T(environment_overrides_env_file),
        T(paypal_api_base_follows_mode),
        T(bad_values_name_the_variable),
        T(good_listen_addresses),
        T(secrets_never_appear_in_errors),
        T(env_file_errors_name_file_and_line),
        T(failed_load_keeps_previous_configuration),
        T(require_and_secret_flags),
        T(unreadable_env_file_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

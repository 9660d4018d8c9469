/*
 * test_log.c — log lines as an operator reads them: time, level, event, rid,
 * key=value text; secrets loaded by config_load never reach the output;
 * level filtering; quoting of outside values; whole lines under concurrency.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"

static FILE *out;
static char dir[64];
static char env_path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lumi-test-log-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(env_path, sizeof env_path, "%s/.env", dir);
    const char *vars[] = {"LUMI_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                          "DATABASE_URL",    "LUMI_LOG_LEVEL",    NULL};
    for (size_t i = 0; vars[i] != NULL; i++)
        unsetenv(vars[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(env_path);
    rmdir(dir);
    log_set_output(NULL);
    log_clear_secrets();
    return 0;
}

/* A fresh capture file, level info, no context, no secrets. */
static int fresh(void **state)
{
    (void)state;
    out = tmpfile();
    if (out == NULL)
        return -1;
    log_set_output(out);
    log_set_level(LOG_INFO);
    log_set_context(NULL);
    log_clear_secrets();
    return 0;
}

static int close_capture(void **state)
{
    (void)state;
    log_set_output(NULL);
    fclose(out);
    return 0;
}

/* Everything written so far (caller frees). */
static char *captured(void)
{
    fflush(out);
    long n = ftell(out);
    assert_true(n >= 0);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    rewind(out);
    assert_int_equal(fread(text, 1, (size_t)n, out), (size_t)n);
    text[n] = '\0';
    return text;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("\"%s\" does not match /%s/", text, pattern);
}

static void write_env(const char *text)
{
    FILE *f = fopen(env_path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void line_has_time_level_event_and_text(void **state)
{
    (void)state;
    log_info("http.request", "method=%s status=%d", "GET", 200);
    char *text = captured();
    assert_matches(text, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z "
                         "level=info event=http.request method=GET status=200\n$");
    free(text);
}

static void rid_is_added_per_thread(void **state)
{
    (void)state;
    log_set_context("7f3a-req");
    log_warn("job.retry", "attempt=%d", 2);
    log_set_context(NULL);
    log_error("job.failed", "%s", "");
    char *text = captured();
    assert_matches(text, "Z level=warn event=job.retry rid=7f3a-req attempt=2\n"
                         "[0-9TZ:-]+ level=error event=job.failed\n$");
    free(text);
}

static void *log_from_other_thread(void *arg)
{
    (void)arg;
    log_info("other.thread", "x=1");
    return NULL;
}

static void rid_does_not_leak_to_other_threads(void **state)
{
    (void)state;
    log_set_context("main-only");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, log_from_other_thread, NULL), 0);
    pthread_join(th, NULL);
    char *text = captured();
    assert_null(strstr(text, "rid="));
    free(text);
    log_set_context(NULL);
}

static void secrets_loaded_by_config_are_redacted(void **state)
{
    (void)state;
    const char *key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    write_env("LUMI_SECRET_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
              "STRIPE_SECRET_KEY=\"sk_test_51Habc\"\n"
              "STRIPE_WEBHOOK_SECRET=whsec_old1111,whsec_new2222\n"
              "DATABASE_URL=postgres://lumi:pg-pass-99@127.0.0.1:5432/lumi\n");
    struct lumi_err err;
    if (config_load(env_path, &err) != 0)
        fail_msg("config_load: %s", err.msg);
    log_set_output(out); /* config_load does not change the stream */
    log_info("debug.dump", "key=%s stripe=%s hook=%s url=%s", key, "sk_test_51Habc",
             "whsec_new2222", config_str("DATABASE_URL"));
    log_info("embedded", "auth=Bearer:sk_test_51Habc;next");
    char *text = captured();
    assert_null(strstr(text, key));
    assert_null(strstr(text, "sk_test_51Habc"));
    assert_null(strstr(text, "whsec_new2222"));
    assert_null(strstr(text, "pg-pass-99"));
    assert_non_null(strstr(text, "key=[REDACTED] stripe=[REDACTED] hook=[REDACTED] "
                                 "url=postgres://lumi:[REDACTED]@127.0.0.1:5432/lumi"));
    assert_non_null(strstr(text, "auth=Bearer:[REDACTED];next"));
    free(text);

    /* Reloading without them forgets them. */
    unlink(env_path);
    assert_int_equal(config_load(env_path, &err), 0);
    log_info("after.reload", "stripe=%s", "sk_test_51Habc");
    text = captured();
    assert_non_null(strstr(text, "stripe=sk_test_51Habc"));
    free(text);
}

static void secrets_in_event_names_and_rid_are_redacted(void **state)
{
    (void)state;
    log_add_secret("topsecretvalue");
    log_set_context("topsecretvalue");
    log_info("event.topsecretvalue", "v=%s", "xtopsecretvaluex");
    log_set_context(NULL);
    char *text = captured();
    assert_null(strstr(text, "topsecret"));
    assert_non_null(strstr(text, "event=event.[REDACTED] rid=[REDACTED] v=x[REDACTED]x"));
    free(text);
}

static void longest_secret_wins_and_short_ones_are_ignored(void **state)
{
    (void)state;
    log_add_secret("abcd");
    log_add_secret("abcdefgh");
    log_add_secret("xyz"); /* too short to redact safely */
    log_add_secret(NULL);
    log_info("t", "a=abcdefgh b=abcd c=xyz");
    char *text = captured();
    assert_non_null(strstr(text, "a=[REDACTED] b=[REDACTED] c=xyz"));
    free(text);
}

static void level_filtering(void **state)
{
    (void)state;
    log_set_level(LOG_WARN);
    log_debug("d", "n=1");
    log_info("i", "n=2");
    log_warn("w", "n=3");
    log_error("e", "n=4");
    log_set_level(LOG_DEBUG);
    log_debug("d2", "n=5");
    char *text = captured();
    assert_null(strstr(text, "event=d "));
    assert_null(strstr(text, "event=i "));
    assert_non_null(strstr(text, "level=warn event=w n=3"));
    assert_non_null(strstr(text, "level=error event=e n=4"));
    assert_non_null(strstr(text, "level=debug event=d2 n=5"));
    free(text);
    enum log_level lv = LOG_ERROR;
    assert_int_equal(log_level_parse("debug", &lv), 0);
    assert_int_equal(lv, LOG_DEBUG);
    assert_int_equal(log_level_parse("warn", &lv), 0);
    assert_int_equal(lv, LOG_WARN);
    assert_int_equal(log_level_parse("WARNING", &lv), -1);
    assert_int_equal(log_level_parse(NULL, &lv), -1);
}

static void config_sets_the_level(void **state)
{
    (void)state;
    write_env("LUMI_LOG_LEVEL=error\n");
    assert_int_equal(config_load(env_path, NULL), 0);
    log_set_output(out);
    log_warn("hidden", "n=1");
    log_error("shown", "n=2");
    char *text = captured();
    assert_null(strstr(text, "hidden"));
    assert_non_null(strstr(text, "shown"));
    free(text);
    unlink(env_path);
    assert_int_equal(config_load(env_path, NULL), 0);
}

static void newlines_cannot_forge_lines(void **state)
{
    (void)state;
    log_info("login.failed", "email=%s", "x\nlevel=info event=login.ok");
    char *text = captured();
    assert_int_equal(strchr(text, '\n') - text, strlen(text) - 1);
    assert_non_null(strstr(text, "email=x\\nlevel=info"));
    free(text);
}

static void very_long_lines_are_cut_after_redaction(void **state)
{
    (void)state;
    log_add_secret("SECRETSECRET");
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 3000; i++)
        buf_append_str(&b, "SECRETSECRET");
    log_info("big", "v=%s", buf_cstr(&b));
    buf_free(&b);
    char *text = captured();
    assert_true(strlen(text) <= 16385);
    assert_null(strstr(text, "SECRET"));
    assert_non_null(strstr(text, "...\n"));
    free(text);
}

static void quote_escapes_and_cuts(void **state)
{
    (void)state;
    char q[512];
    assert_string_equal(log_quote("hello world", q, sizeof q), "\"hello world\"");
    assert_string_equal(log_quote("a\"b\\c\nd\te\x01", q, sizeof q),
                        "\"a\\\"b\\\\c\\nd\\te\\x01\"");
    assert_string_equal(log_quote("", q, sizeof q), "\"\"");
    assert_string_equal(log_quote(NULL, q, sizeof q), "\"\"");
    char long_text[301];
    memset(long_text, 'a', 300);
    long_text[300] = '\0';
    log_quote(long_text, q, sizeof q);
    assert_int_equal(strlen(q), 1 + 200 + 3 + 1);
    assert_true(strcmp(q + 201, "...\"") == 0);
    char small[8];
    log_quote("abcdefghij", small, sizeof small);
    assert_string_equal(small, "\"ab...\"");
    log_quote("abcdefghij", small, 1);
    assert_string_equal(small, "");
}

#define THREADS 4
#define LINES 300

static void *spam(void *arg)
{
    char rid[16];
    snprintf(rid, sizeof rid, "t%d", (int)(intptr_t)arg);
    log_set_context(rid);
    for (int i = 0; i < LINES; i++)
        log_info("spam", "i=%d payload=%s", i, "0123456789012345678901234567890123456789");
    return NULL;
}

static void concurrent_lines_stay_whole(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, spam, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    char *text = captured();
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        assert_matches(line, "^[0-9TZ:-]+ level=info event=spam rid=t[0-3] i=[0-9]+ "
                             "payload=0123456789012345678901234567890123456789$");
        lines++;
    }
    assert_int_equal(lines, THREADS * LINES);
    free(text);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fresh, close_capture)
    const struct CMUnitTest tests[] = {
        T(line_has_time_level_event_and_text),
        T(rid_is_added_per_thread),
        T(rid_does_not_leak_to_other_threads),
        T(secrets_loaded_by_config_are_redacted),
        T(secrets_in_event_names_and_rid_are_redacted),
        T(longest_secret_wins_and_short_ones_are_ignored),
        T(level_filtering),
        T(config_sets_the_level),
        T(newlines_cannot_forge_lines),
        T(very_long_lines_are_cut_after_redaction),
        T(quote_escapes_and_cuts),
        T(concurrent_lines_stay_whole),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

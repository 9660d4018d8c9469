/*
 * test_mail_pace.c — notify/pace: the mail thread yields while webhook
 * deliveries are being committed or requests answered, never for long, and
 * not at all once they stopped; core/foreground records the last one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/foreground.h"
#include "core/utc.h"
#include "notify/pace.h"

#define T0 1000000 /* a monotonic time, in ms */
#define FREE MAIL_ROUND_FREE
#define YIELD MAIL_ROUND_YIELD
#define CATCH_UP MAIL_ROUND_CATCH_UP

static void no_deliveries_no_yielding(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    assert_int_equal(mail_pace_round(&p, T0, 0), FREE);                       /* none ever */
    assert_int_equal(mail_pace_round(&p, T0, T0 - PACE_WINDOW_MS - 1), FREE); /* none lately */
}

static void a_delivery_just_committed_makes_it_yield(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    assert_int_equal(mail_pace_round(&p, T0, T0), YIELD);
    assert_int_equal(mail_pace_round(&p, T0 + PACE_WINDOW_MS, T0), YIELD);
    /* the deliveries stopped: the next round does everything */
    assert_int_equal(mail_pace_round(&p, T0 + PACE_WINDOW_MS + 1, T0), FREE);
}

/* Deliveries that never stop hold mail back for PACE_MAX_MS at most: then one
 * round catches up, and yielding starts again after it. */
static void yielding_ends_after_the_longest_wait_and_starts_again(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    int64_t t = T0;
    assert_int_equal(mail_pace_round(&p, t, t), YIELD);
    for (; t < T0 + PACE_MAX_MS; t += PACE_PAUSE_MS)
        assert_int_equal(mail_pace_round(&p, t, t), YIELD);
    assert_int_equal(mail_pace_round(&p, t, t), CATCH_UP); /* PACE_MAX_MS in a row */
    t += 3000;                                             /* that round took 3 s */
    assert_int_equal(mail_pace_round(&p, t, t), YIELD);
    assert_int_equal(mail_pace_round(&p, t + PACE_MAX_MS - 1, t + PACE_MAX_MS - 1), YIELD);
    assert_int_equal(mail_pace_round(&p, t + PACE_MAX_MS, t + PACE_MAX_MS), CATCH_UP);
}

/* A pause in the deliveries restarts the count. */
static void a_pause_in_the_deliveries_restarts_the_count(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    assert_int_equal(mail_pace_round(&p, T0, T0), YIELD);
    assert_int_equal(mail_pace_round(&p, T0 + PACE_MAX_MS - 500, T0 + PACE_MAX_MS - 500), YIELD);
    assert_int_equal(mail_pace_round(&p, T0 + PACE_MAX_MS + 1000, T0 + PACE_MAX_MS - 500), FREE);
    int64_t t = T0 + PACE_MAX_MS + 2000;
    assert_int_equal(mail_pace_round(&p, t, t), YIELD);
    assert_int_equal(mail_pace_round(&p, t + PACE_MAX_MS - 1, t + PACE_MAX_MS - 1), YIELD);
}

/* "Busy": foreground work within PACE_WINDOW_MS (a free round asks this between pumps). */
static void busy_means_noted_within_the_window(void **state)
{
    (void)state;
    assert_false(mail_pace_busy(T0, 0));
    assert_true(mail_pace_busy(T0, T0));
    assert_true(mail_pace_busy(T0 + PACE_WINDOW_MS, T0));
    assert_false(mail_pace_busy(T0 + PACE_WINDOW_MS + 1, T0));
}

static void foreground_remembers_the_last_note(void **state)
{
    (void)state;
    assert_int_equal(foreground_last_ms(), 0);
    int64_t before = utc_monotonic_ms();
    foreground_note();
    int64_t at = foreground_last_ms();
    assert_true(at >= before && at <= utc_monotonic_ms());
    struct mail_pace p = {0};
    assert_int_equal(mail_pace_round(&p, utc_monotonic_ms(), foreground_last_ms()), YIELD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreground_remembers_the_last_note),
        cmocka_unit_test(no_deliveries_no_yielding),
        cmocka_unit_test(a_delivery_just_committed_makes_it_yield),
        cmocka_unit_test(yielding_ends_after_the_longest_wait_and_starts_again),
        cmocka_unit_test(a_pause_in_the_deliveries_restarts_the_count),
        cmocka_unit_test(busy_means_noted_within_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

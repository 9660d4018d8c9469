/*
 * test_mail_pace.c — notify/pace: the mail thread yields while webhook
 * deliveries are being committed, never for long, and not at all once they
 * stopped; core/foreground records the last one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/foreground.h"
#include "core/utc.h"
#include "notify/pace.h"

#define T0 1000000 /* a monotonic time, in ms */

static void no_deliveries_no_yielding(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    assert_false(mail_pace_yield(&p, T0, 0));                       /* none ever */
    assert_false(mail_pace_yield(&p, T0, T0 - PACE_WINDOW_MS - 1)); /* none lately */
}

static void a_delivery_just_committed_makes_it_yield(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    assert_true(mail_pace_yield(&p, T0, T0));
    assert_true(mail_pace_yield(&p, T0 + PACE_WINDOW_MS, T0));
    /* the deliveries stopped: the next round does everything */
    assert_false(mail_pace_yield(&p, T0 + PACE_WINDOW_MS + 1, T0));
}

/* Deliveries that never stop hold mail back for PACE_MAX_MS at most: then one
 * round catches up, and yielding starts again after it. */
static void yielding_ends_after_the_longest_wait_and_starts_again(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    int64_t t = T0;
    assert_true(mail_pace_yield(&p, t, t));
    for (; t < T0 + PACE_MAX_MS; t += PACE_PAUSE_MS)
        assert_true(mail_pace_yield(&p, t, t));
    assert_false(mail_pace_yield(&p, t, t)); /* PACE_MAX_MS in a row: catch up */
    t += 3000;                               /* that round took 3 s */
    assert_true(mail_pace_yield(&p, t, t));
    assert_true(mail_pace_yield(&p, t + PACE_MAX_MS - 1, t + PACE_MAX_MS - 1));
    assert_false(mail_pace_yield(&p, t + PACE_MAX_MS, t + PACE_MAX_MS));
}

/* A pause in the deliveries restarts the count. */
static void a_pause_in_the_deliveries_restarts_the_count(void **state)
{
    (void)state;
    struct mail_pace p = {0};
    assert_true(mail_pace_yield(&p, T0, T0));
    assert_true(mail_pace_yield(&p, T0 + PACE_MAX_MS - 500, T0 + PACE_MAX_MS - 500));
    assert_false(mail_pace_yield(&p, T0 + PACE_MAX_MS + 1000, T0 + PACE_MAX_MS - 500));
    int64_t t = T0 + PACE_MAX_MS + 2000;
    assert_true(mail_pace_yield(&p, t, t));
    assert_true(mail_pace_yield(&p, t + PACE_MAX_MS - 1, t + PACE_MAX_MS - 1));
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
    assert_true(mail_pace_yield(&p, utc_monotonic_ms(), foreground_last_ms()));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreground_remembers_the_last_note),
        cmocka_unit_test(no_deliveries_no_yielding),
        cmocka_unit_test(a_delivery_just_committed_makes_it_yield),
        cmocka_unit_test(yielding_ends_after_the_longest_wait_and_starts_again),
        cmocka_unit_test(a_pause_in_the_deliveries_restarts_the_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

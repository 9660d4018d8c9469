/*
 * pace.h — when the mail thread yields to webhook deliveries and requests (issue 15).
 *
 * Composing a burst of mail costs the database about as much as taking the
 * payments that caused it: on PostgreSQL the mail thread's statements run in
 * a server process its nice value does not reach, and on SQLite it takes the
 * one write lock between the group commit's batches. So while deliveries are
 * being committed or requests answered (foreground.h: one within the last
 * PACE_WINDOW_MS), a round of the mail thread does a little (one pump of
 * audit rows, a few messages, one transaction of indexing) and then pauses
 * PACE_PAUSE_MS. A round that began with nobody waiting stops its pump as
 * soon as someone is (a long backlog is pumped 100 rows at a time). Mail is
 * never held back for long: after PACE_MAX_MS of yielding in a row, one
 * round catches up with everything, and yielding may start again after it.
 *
 * Threading: a struct mail_pace belongs to one thread.
 */
#ifndef LUMI_NOTIFY_PACE_H
#define LUMI_NOTIFY_PACE_H

#include <stdbool.h>
#include <stdint.h>

#define PACE_WINDOW_MS 100
#define PACE_PAUSE_MS 200
#define PACE_MAX_MS 10000

struct mail_pace {
    int64_t yielding_since_ms; /* 0: not yielding */
};

enum mail_round {
    MAIL_ROUND_FREE,     /* nobody waiting: full, but stops pumping once someone is */
    MAIL_ROUND_YIELD,    /* a little, then PACE_PAUSE_MS */
    MAIL_ROUND_CATCH_UP, /* everything, after PACE_MAX_MS of yielding */
};

/** Whether foreground work (foreground_last_ms; 0 when none) was noted within PACE_WINDOW_MS of
 * now_ms. */
bool mail_pace_busy(int64_t now_ms, int64_t foreground_ms);

/** The kind of the round starting at now_ms (monotonic). */
enum mail_round mail_pace_round(struct mail_pace *p, int64_t now_ms, int64_t foreground_ms);

#endif

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
 * PACE_PAUSE_MS. Mail is never held
 * back for long: after PACE_MAX_MS of yielding in a row, one round does all
 * there is, and yielding may start again after it.
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

/**
 * Whether the round starting at now_ms (monotonic) yields, given the time of
 * the last foreground work (foreground_last_ms; 0 when none).
 */
bool mail_pace_yield(struct mail_pace *p, int64_t now_ms, int64_t foreground_ms);

#endif

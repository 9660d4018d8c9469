/*
 * stop.h — a stop request that background threads wait on.
 *
 * A thread that loops "work, then sleep a while" sleeps with stop_wait_ms,
 * which returns early once stop_raise is called from another thread, so a
 * shutdown never waits out a poll interval. Waits use the monotonic clock.
 */
#ifndef LUMI_CORE_STOP_H
#define LUMI_CORE_STOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/** Embed in the owner's struct; stop_init before use, stop_destroy after the threads ended. */
struct stop_flag {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool raised;
};

void stop_init(struct stop_flag *s);
void stop_destroy(struct stop_flag *s);

/** Asks every waiter to stop (wakes them). Safe from any thread. */
void stop_raise(struct stop_flag *s);

/** Whether stop_raise was called. */
bool stop_raised(struct stop_flag *s);

/** Sleeps up to ms milliseconds or until stop_raise; true when stopping. */
bool stop_wait_ms(struct stop_flag *s, int64_t ms);

#endif

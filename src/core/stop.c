/*
 * stop.c — see stop.h. The flag, the mutex and the condition variable are
 * the whole state; the condition variable waits on CLOCK_MONOTONIC.
 */
#include "core/stop.h"

#include <errno.h>
#include <time.h>

void stop_init(struct stop_flag *s)
{
    pthread_condattr_t ca;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->raised = false;
}

void stop_destroy(struct stop_flag *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

void stop_raise(struct stop_flag *s)
{
    pthread_mutex_lock(&s->mu);
    s->raised = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

bool stop_raised(struct stop_flag *s)
{
    pthread_mutex_lock(&s->mu);
    bool r = s->raised;
    pthread_mutex_unlock(&s->mu);
    return r;
}

bool stop_wait_ms(struct stop_flag *s, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->raised)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            break;
    bool r = s->raised;
    pthread_mutex_unlock(&s->mu);
    return r;
}

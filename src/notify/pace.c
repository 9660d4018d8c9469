/*
 * pace.c — when the mail thread yields (see pace.h).
 */
#include "notify/pace.h"

bool mail_pace_yield(struct mail_pace *p, int64_t now_ms, int64_t foreground_ms)
{
    bool busy = foreground_ms > 0 && now_ms - foreground_ms <= PACE_WINDOW_MS;
    if (!busy) {
        p->yielding_since_ms = 0;
        return false;
    }
    if (p->yielding_since_ms == 0)
        p->yielding_since_ms = now_ms;
    if (now_ms - p->yielding_since_ms >= PACE_MAX_MS) {
        p->yielding_since_ms = 0; /* this round catches up; yielding may start again after it */
        return false;
    }
    return true;
}

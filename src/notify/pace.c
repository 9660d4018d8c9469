/*
 * pace.c — when the mail thread yields (see pace.h).
 */
#include "notify/pace.h"

bool mail_pace_busy(int64_t now_ms, int64_t foreground_ms)
{
    return foreground_ms > 0 && now_ms - foreground_ms <= PACE_WINDOW_MS;
}

enum mail_round mail_pace_round(struct mail_pace *p, int64_t now_ms, int64_t foreground_ms)
{
    if (!mail_pace_busy(now_ms, foreground_ms)) {
        p->yielding_since_ms = 0;
        return MAIL_ROUND_FREE;
    }
    if (p->yielding_since_ms == 0)
        p->yielding_since_ms = now_ms;
    if (now_ms - p->yielding_since_ms >= PACE_MAX_MS) {
        p->yielding_since_ms = 0; /* yielding may start again after this round */
        return MAIL_ROUND_CATCH_UP;
    }
    return MAIL_ROUND_YIELD;
}

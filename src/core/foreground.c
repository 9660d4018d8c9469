/*
 * foreground.c — the time of the last foreground work (see foreground.h).
 */
#include "core/foreground.h"

#include <stdatomic.h>

#include "core/utc.h"

static _Atomic int64_t last_ms;

void foreground_note(void)
{
    atomic_store_explicit(&last_ms, utc_monotonic_ms(), memory_order_relaxed);
}

int64_t foreground_last_ms(void)
{
    return atomic_load_explicit(&last_ms, memory_order_relaxed);
}

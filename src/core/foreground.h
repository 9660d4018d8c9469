/*
 * foreground.h — whether work someone is waiting for (webhook deliveries
 * answered after their commit) is under way in this process, so that
 * background threads can give it the database first (issue 15).
 *
 * The group commit notes each commit and the HTTP workers each request they
 * handle; the mail thread asks when the last one was. Threading: one atomic,
 * any thread.
 */
#ifndef LUMI_CORE_FOREGROUND_H
#define LUMI_CORE_FOREGROUND_H

#include <stdint.h>

/** Notes foreground work now (utc_monotonic_ms). */
void foreground_note(void);

/** The utc_monotonic_ms of the last foreground_note, 0 when there was none. */
int64_t foreground_last_ms(void);

#endif

/*
 * retention.h — how long outgoing events and their delivery log are kept.
 *
 * An event is removed with its deliveries once it is older than the kept
 * days (LUMI_EVENTS_KEEP_DAYS, default 30) and none of its deliveries is
 * still pending: delivered and failed ones go, one still retrying (at most
 * LUMI_WEBHOOK_GIVE_UP_S) or parked for an inactive endpoint stays. The
 * dispatcher (dispatcher.h) runs it hourly.
 */
#ifndef LUMI_EVENTS_RETENTION_H
#define LUMI_EVENTS_RETENTION_H

#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

/**
 * Removes events created before now - keep_days days that have no pending
 * delivery, with their deliveries, oldest first, in transactions of at most
 * a few hundred events (the write lock is never held long). *pruned gets how
 * many events went. 0, or the database's error (what was committed before
 * it stays removed).
 */
int events_prune(struct db *db, int64_t now, int keep_days, int64_t *pruned, struct lumi_err *err);

#endif

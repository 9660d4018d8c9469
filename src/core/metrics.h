/*
 * metrics.h — Lumi's own counters and histograms, and the Prometheus text
 * format they are written in (GET /metrics).
 *
 * Every observe/count call is a few relaxed atomic additions on fixed
 * arrays: no lock, no allocation, safe from any thread, cheap enough for the
 * hot path. Labels come from fixed lists (gateways, outcomes, panel types,
 * the route table registered at start), never from request data, so the
 * number of series is bounded. Counters are per process: with `lumi
 * worker` in its own process, job and panel counters of that process are
 * not in `lumi serve`'s scrape (gauges read from the database are).
 */
#ifndef LUMI_CORE_METRICS_H
#define LUMI_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/** Monotonic clock in nanoseconds, for the durations passed below. */
int64_t metrics_now_ns(void);

/**
 * Registers the HTTP route table: n routes whose labels are methods[i] and
 * patterns[i] (the arrays are copied, the strings borrowed for the life of
 * the process: string constants). The first call wins; later calls (another
 * server in the same process) are ignored.
 */
void metrics_http_routes(const char *const *methods, const char *const *patterns, size_t n);

/** One answered request: route index from the registered table (n or more: no route matched). */
void metrics_observe_http(size_t route, int status, int64_t ns);

/**
 * One webhook delivery answered: gateway "stripe" | "paypal"; outcome what
 * billing/webhooks.c made of it ("processed" | "duplicate" | "ignored" |
 * "failed" | "retry"), "rejected" (bad signature or body) or "error"
 * (anything else counts as "error").
 */
void metrics_count_webhook(const char *gateway, const char *outcome);

/** One group commit: n items in the batch, ns from begin to commit returned. */
void metrics_observe_batch(long long n, int64_t ns);

/** One fsync of the write-ahead log by the group-commit syncer. */
void metrics_observe_fsync(int64_t ns);

/**
 * One panel call: panel "pterodactyl" | "directadmin" | "virtfusion" (else
 * "other"); ok 1 when the panel did what was asked, 0 when the call failed.
 */
void metrics_observe_panel_call(const char *panel, int ok, int64_t ns);

/**
 * One job attempt finished: panel as above ("none" when no panel was
 * reached); outcome "done" | "retry" | "failed" | "error".
 */
void metrics_count_job_attempt(const char *panel, const char *outcome);

/** One mail delivery attempt: sent (1) or failed (0; retried or given up). */
void metrics_count_mail(int sent);

/** A database call that failed with LUMI_EDB or LUMI_EBUSY (other codes are not counted). */
void metrics_count_db_error(int code);

/**
 * Writes every counter and histogram above in the Prometheus text format:
 * 0, or < 0 when out is full.
 */
int metrics_write(struct buf *out);

/** Writes "# HELP name help" and "# TYPE name gauge". */
int metrics_write_gauge_head(struct buf *out, const char *name, const char *help);

/**
 * Writes one sample `name{label="value"} v` (label may be NULL for none);
 * the value is escaped as the format requires.
 */
int metrics_write_sample(struct buf *out, const char *name, const char *label, const char *value,
                         int64_t v);

#endif

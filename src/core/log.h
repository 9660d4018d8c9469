/*
 * log.h — one line per event, `key=value`, to stderr (or a chosen stream).
 *
 *   2026-11-24T21:13:38Z level=info event=http.request rid=7f3a... method=GET path=/healthz status=200 ms=1
 *
 * Every line passes through redaction: each value registered with
 * log_add_secret() is replaced by "[REDACTED]" wherever it appears. The
 * per-thread context (request or job id) is added to each line as `rid=`.
 * Thread-safe: a line is written with one write.
 */
#ifndef LUMI_CORE_LOG_H
#define LUMI_CORE_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/** Sets the minimum level written (default LOG_INFO). */
void log_set_level(enum log_level level);

/** Parses "debug"|"info"|"warn"|"error"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

/** Sends lines to f (default stderr; borrowed, must outlive logging). */
void log_set_output(FILE *f);

/** Registers a secret value to redact (copied; values shorter than 4 bytes are ignored). */
void log_add_secret(const char *value);

/** Forgets all registered secrets (config reload, tests). */
void log_clear_secrets(void);

/** Sets this thread's context id (request or job id; copied; NULL clears). */
void log_set_context(const char *rid);

/**
 * Writes one line: time, level, event, the thread's rid, then the formatted
 * key=value text. Values with spaces should be quoted by the caller
 * (use %s with log_quote() when the value comes from outside).
 */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(event, ...) log_event(LOG_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...) log_event(LOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_event(LOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_ERROR, event, __VA_ARGS__)

/**
 * Quotes s for a log value: "..." with \" \\ and control characters escaped,
 * cut to at most 200 bytes. Writes into out (outsz bytes), returns out.
 */
const char *log_quote(const char *s, char *out, size_t outsz);

#endif

/*
 * config.h — configuration from `.env` and the environment (the environment wins).
 *
 * Every variable Lumi reads is one row of a declarative table in config.c
 * (name, type, default, bounds, secret flag, validator). config_load() reads
 * the .env file, overlays the process environment, validates every known
 * variable, and then the configuration is immutable; getters are thread-safe
 * afterwards. A bad value is reported as one line naming the variable:
 *   "LUMI_LISTEN: expected ADDRESS:PORT, got '8080'".
 * Values of variables flagged secret are registered with the logger for
 * redaction as they are loaded.
 */
#ifndef LUMI_CORE_CONFIG_H
#define LUMI_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/**
 * Loads configuration. env_path may be NULL (no file) or a path that may not
 * exist (a missing .env is not an error; an unreadable or malformed one is,
 * with the line number). Unknown variables in .env are ignored. May be called
 * again (tests) to replace the previous configuration; not while other
 * threads read it. Returns 0 or LUMI_EINVAL/LUMI_EIO with err filled.
 */
int config_load(const char *env_path, struct lumi_err *err);

/** Fails with a one-line error naming the variable if it has no value. */
int config_require(const char *name, struct lumi_err *err);

/** The value (or default) of a known variable; NULL when unset with no default.
 *  Borrowed; valid until the next config_load. */
const char *config_str(const char *name);

/** Integer/boolean variables (already validated by config_load). */
int64_t config_int(const char *name);
bool config_bool(const char *name);

/** True when the variable has a non-empty value. */
bool config_has(const char *name);

/** True when the variable is declared secret (its value is never logged or shown). */
bool config_is_secret(const char *name);

/** The 32-byte LUMI_SECRET_KEY, decoded from hex or base64; NULL when unset. */
const unsigned char *config_secret_key(void);

/*
 * The .env parser, exposed for tests and its fuzz target.
 * Syntax: `KEY=value` per line; blank lines and `#` comments; optional
 * `export ` prefix; values may be unquoted (trailing ` # comment` and
 * surrounding spaces stripped), 'single-quoted' (literal) or "double-quoted"
 * (\n \t \" \\ escapes); empty values allowed. Keys are [A-Za-z_][A-Za-z0-9_]*.
 * The callback gets NUL-terminated key and value; returning non-zero stops.
 * Returns 0 or LUMI_EINVAL with "line N: ..." in err.
 */
typedef int (*env_entry_cb)(const char *key, const char *value, void *ctx);
int env_parse(const char *data, size_t len, env_entry_cb cb, void *ctx, struct lumi_err *err);

#endif

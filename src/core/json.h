/*
 * json.h — helpers over jansson for outside input and for stable output.
 *
 * Parsing rejects duplicate keys, bounds nesting depth, and produces an error
 * a client can act on ("invalid JSON at line 1, column 9: ..."). The `take`
 * readers validate one member each with a message that names the field.
 * Money is always a JSON integer; reals are rejected where an integer is expected.
 */
#ifndef LUMI_CORE_JSON_H
#define LUMI_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define JSONX_MAX_DEPTH 32

/**
 * Parses data[0..len) (not NUL-terminated) as one JSON value, rejecting
 * duplicate object keys and nesting deeper than max_depth. Returns a new
 * reference (caller decrefs) or NULL with err (LUMI_EINVAL) filled.
 */
json_t *jsonx_parse(const char *data, size_t len, size_t max_depth, struct lumi_err *err);

/** As jsonx_parse, and the value must be an object ("request body must be a JSON object"). */
json_t *jsonx_parse_object(const char *data, size_t len, struct lumi_err *err);

/** Compact serialisation; caller frees. NULL only when out of memory. */
char *jsonx_dump(const json_t *v);

/** Canonical serialisation: compact, keys sorted, no escaping of '/', UTF-8 as is.
 *  The same value always gives the same bytes (used by the audit hash). Caller frees. */
char *jsonx_dump_canonical(const json_t *v);

/**
 * Appends s as a JSON string, byte for byte as jsonx_dump_canonical() would
 * write it (quotes; \\, \" and control characters escaped, \b \f \n \r \t
 * short, others \u00XX; everything else as is). Used to hash rows without
 * building JSON values; must stay identical to jansson's output, which a test
 * checks. LUMI_EINVAL when s is not valid UTF-8 (jansson refuses those
 * strings too); LUMI_ETOOLARGE / LUMI_ENOMEM from the buffer.
 */
struct buf;
int jsonx_append_string(struct buf *b, const char *s);

/**
 * Rejects members not in the NULL-terminated `allowed` list:
 * LUMI_EINVAL "unknown field 'x'". Returns 0 when all are known.
 */
int jsonx_check_keys(const json_t *obj, const char *const *allowed, struct lumi_err *err);

/*
 * Member readers. Each returns 1 when the member was present and valid (and
 * *out set), 0 when absent or null and not required (*out untouched), or
 * LUMI_EINVAL with a message naming the field ("field 'email' is required",
 * "field 'price' must be an integer", "field 'name' is longer than 200 characters").
 */
int jsonx_take_str(const json_t *obj, const char *key, bool required, size_t max_len,
                   const char **out, struct lumi_err *err);
int jsonx_take_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, struct lumi_err *err);
int jsonx_take_bool(const json_t *obj, const char *key, bool required, bool *out,
                    struct lumi_err *err);
/** The member must be one of the NULL-terminated `choices` ("field 'billing_cycle' must be one of monthly, quarterly, ..."). */
int jsonx_take_enum(const json_t *obj, const char *key, bool required, const char *const *choices,
                    const char **out, struct lumi_err *err);
/** The member must be an object (borrowed reference). */
int jsonx_take_object(const json_t *obj, const char *key, bool required, json_t **out,
                      struct lumi_err *err);

/**
 * Applies every member of want onto cur and returns {key: {"from": old,
 * "to": new}} for the members whose value actually changes (a missing old
 * value is null). New reference; NULL when out of memory. Used to audit
 * partial updates.
 */
json_t *jsonx_apply_changes(json_t *cur, json_t *want);

/** Sets obj[key] to a string, or to null when s is NULL. Returns 0 or LUMI_ENOMEM. */
int jsonx_set_str(json_t *obj, const char *key, const char *s);
int jsonx_set_int(json_t *obj, const char *key, int64_t v);
int jsonx_set_bool(json_t *obj, const char *key, bool v);

#endif

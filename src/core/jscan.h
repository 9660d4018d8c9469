/*
 * jscan.h — one-pass validating JSON parser that builds only the members a
 * filter keeps.
 *
 * Validity is exactly that of jsonx_parse() (jansson 2.14 json_loadb with
 * JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, plus the container depth bound):
 * the whole document is checked, dropped members included, but jansson values
 * are created only for what the filter keeps. Used where a large outside
 * document (a Stripe event) is read for a handful of members.
 */
#ifndef LUMI_CORE_JSCAN_H
#define LUMI_CORE_JSCAN_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

/** What a member's value is, as far as its first byte tells. */
enum jscan_kind { JSCAN_SCALAR, JSCAN_OBJECT, JSCAN_ARRAY };

/** A filter's answer for one member. */
enum jscan_keep {
    JSCAN_DROP,    /* validate the value only; it is not in the result */
    JSCAN_KEEP,    /* build the value whole */
    JSCAN_DESCEND, /* an object: build it, asking the filter about each member (else KEEP) */
};

/**
 * Called for each member of an object being built under a filter.
 * path[0..depth) are the decoded, NUL-terminated keys of the objects that
 * lead here from the root (depth 0 = members of the root object); key is this
 * member's decoded key; kind what its value is. All strings are borrowed for
 * the duration of the call. Arrays are never filtered inside: a kept array is
 * built whole.
 */
typedef enum jscan_keep (*jscan_filter)(const char *const *path, size_t depth, const char *key,
                                        enum jscan_kind kind, void *ctx);

/**
 * Parses data[0..len) (not NUL-terminated) as one JSON value of any type,
 * rejecting what jsonx_parse(data, len, max_depth, ...) rejects. keep == NULL
 * keeps everything; the filter only applies when the root is an object.
 * Returns a new reference (caller decrefs) or NULL with err filled:
 * LUMI_EINVAL "invalid JSON at offset N: <reason>" or "JSON nested deeper
 * than <max_depth> levels", LUMI_ENOMEM when out of memory.
 * Thread-safe (no shared state); recursion is bounded by max_depth + 1 and by
 * jansson's own parser depth limit.
 */
json_t *jscan_parse(const char *data, size_t len, size_t max_depth, jscan_filter keep, void *ctx,
                    struct lumi_err *err);

#endif

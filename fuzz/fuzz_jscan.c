/*
 * fuzz_jscan.c — jscan_parse against jansson on arbitrary bytes.
 *
 * Invariants (abort on violation):
 *   1. keep-all: jscan_parse returns NULL exactly when jsonx_parse does, and
 *      otherwise an equal tree; a failure fills err with LUMI_EINVAL.
 *   2. with a filter dropping every member whose key has odd length (and
 *      descending into every object otherwise): the same validity as
 *      keep-all, and the keep-all tree with those members removed.
 * The depth bound is taken from the first input byte so both the container
 * bound and jansson's own limit are exercised. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jscan.h"
#include "core/json.h"

static enum jscan_keep odd_drop(const char *const *path, size_t depth, const char *key,
                                enum jscan_kind kind, void *ctx)
{
    (void)path;
    (void)depth;
    (void)kind;
    (void)ctx;
    return strlen(key) % 2 == 1 ? JSCAN_DROP : JSCAN_DESCEND;
}

/* Removes, in every object reachable through objects from v, the members with
 * an odd-length key (arrays are kept whole, as jscan does). */
static void prune(json_t *v)
{
    const char *key;
    json_t *member;
    void *tmp;
    if (!json_is_object(v))
        return;
    json_object_foreach_safe(v, tmp, key, member)
    {
        if (strlen(key) % 2 == 1)
            json_object_del(v, key);
        else
            prune(member);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lumi_err e1, e2, e3;
    size_t max_depth = JSONX_MAX_DEPTH;
    if (size > 0 && data[0] == '#') { /* "#N" selects a small depth bound N */
        max_depth = size > 1 ? (size_t)(data[1] % 8) : 0;
        data += size > 1 ? 2 : 1;
        size -= size > 1 ? 2 : 1;
    } else if (size > 0 && data[0] == '!') { /* "!": jansson's own limit only */
        max_depth = SIZE_MAX;
        data++;
        size--;
    }
    const char *text = (const char *)data;

    err_clear(&e1);
    err_clear(&e2);
    err_clear(&e3);
    json_t *ref = jsonx_parse(text, size, max_depth, &e1);
    json_t *all = jscan_parse(text, size, max_depth, NULL, NULL, &e2);
    if ((ref == NULL) != (all == NULL))
        abort();
    if (all == NULL && (e2.code != LUMI_EINVAL || e2.msg[0] == '\0'))
        abort();
    if (all != NULL && !json_equal(ref, all))
        abort();

    json_t *some = jscan_parse(text, size, max_depth, odd_drop, NULL, &e3);
    if ((some == NULL) != (all == NULL))
        abort();
    if (some != NULL) {
        prune(ref);
        if (!json_equal(ref, some))
            abort();
    }
    json_decref(some);
    json_decref(all);
    json_decref(ref);
    return 0;
}

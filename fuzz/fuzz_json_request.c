/*
 * fuzz_json_request.c — the JSON request path on arbitrary bytes:
 * jsonx_parse_object, jsonx_check_keys, every take_* reader over a set of
 * field names (and inside a nested "config" object), then the canonical dump,
 * which must parse back to an equal value and re-serialise to the same bytes.
 *
 * Invariants (abort on violation): readers return 1, 0 or LUMI_EINVAL with a
 * message; accepted values respect the bounds asked for; canonical output is
 * stable. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static const char *const fields[] = {"name",   "price", "currency",  "active", "billing_cycle",
                                     "config", "email", "setup_fee", "",       NULL};
static const char *const cycles[] = {"monthly",  "quarterly", "semiannually",
                                     "annually", "onetime",   NULL};

/* An accepted enum value is one of the table's own strings. */
static bool is_choice(const char *s)
{
    for (size_t i = 0; cycles[i] != NULL; i++)
        if (s == cycles[i])
            return true;
    return false;
}

static void check_rc(int rc, const struct lumi_err *err)
{
    if (rc == LUMI_EINVAL && err->code == LUMI_EINVAL && err->msg[0] != '\0')
        return;
    if (rc != 0 && rc != 1)
        abort();
}

static void take_all(const json_t *obj, int depth)
{
    for (size_t i = 0; fields[i] != NULL; i++) {
        const char *f = fields[i];
        for (int required = 0; required < 2; required++) {
            struct lumi_err err;
            const char *s = NULL;
            int64_t n = 0;
            bool b = false;
            json_t *o = NULL;
            err_clear(&err);
            int rc = jsonx_take_str(obj, f, required, 16, &s, &err);
            check_rc(rc, &err);
            if (rc == 1 && (s == NULL || strlen(s) > 16))
                abort();
            err_clear(&err);
            rc = jsonx_take_int(obj, f, required, -100, 100000, &n, &err);
            check_rc(rc, &err);
            if (rc == 1 && (n < -100 || n > 100000))
                abort();
            err_clear(&err);
            check_rc(jsonx_take_int(obj, f, required, INT64_MIN, INT64_MAX, &n, &err), &err);
            err_clear(&err);
            check_rc(jsonx_take_bool(obj, f, required, &b, &err), &err);
            err_clear(&err);
            rc = jsonx_take_enum(obj, f, required, cycles, &s, &err);
            check_rc(rc, &err);
            if (rc == 1 && !is_choice(s))
                abort();
            err_clear(&err);
            rc = jsonx_take_object(obj, f, required, &o, &err);
            check_rc(rc, &err);
            if (rc == 1 && depth < 2)
                take_all(o, depth + 1);
        }
    }
}

static void check_canonical(const json_t *v)
{
    struct lumi_err err;
    char *first = jsonx_dump_canonical(v);
    if (first == NULL)
        abort();
    json_t *again = jsonx_parse(first, strlen(first), JSONX_MAX_DEPTH, &err);
    if (again == NULL || !json_equal((json_t *)v, again))
        abort();
    char *second = jsonx_dump_canonical(again);
    if (second == NULL || strcmp(first, second) != 0)
        abort();
    char *compact = jsonx_dump(v);
    if (compact == NULL)
        abort();
    free(compact);
    free(second);
    free(first);
    json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lumi_err err;
    err_clear(&err);
    json_t *obj = jsonx_parse_object((const char *)data, size, &err);
    if (obj == NULL) {
        if (err.code != LUMI_EINVAL || err.msg[0] == '\0')
            abort();
        return 0;
    }
    err_clear(&err);
    int rc = jsonx_check_keys(obj, fields, &err);
    if (rc != 0 && (rc != LUMI_EINVAL || strncmp(err.msg, "unknown field '", 15) != 0))
        abort();
    take_all(obj, 0);
    check_canonical(obj);
    json_decref(obj);
    return 0;
}

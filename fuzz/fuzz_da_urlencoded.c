/*
 * fuzz_da_urlencoded.c — DirectAdmin's answer readers on arbitrary bytes:
 * da_parse_urlencoded (pairs, list[] arrays, HTML entities, percent-encoding)
 * and da_read_answer in both dialects (v1 url-encoded, v2 JSON) for every
 * answer shape.
 *
 * Invariants (abort on violation): the url-encoded parser always returns an
 * object whose keys are non-empty and whose values are strings or arrays of
 * strings, all valid UTF-8 without NUL (jansson checks it on creation); the
 * answer reader either returns a value of the asked shape, or fails with
 * HC_INVALID (the panel said no) or HC_BAD_RESPONSE and a message, never both.
 * Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "panels/directadmin.h"

static void check_string(const json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != json_string_length(v))
        abort();
}

static void check_parsed(const json_t *obj)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        abort();
    json_object_foreach((json_t *)obj, key, v)
    {
        if (key[0] == '\0')
            abort();
        if (json_is_array(v)) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item) check_string(item);
        } else {
            check_string(v);
        }
    }
    char *dump = json_dumps(obj, JSON_COMPACT);
    if (dump == NULL)
        abort();
    free(dump);
}

static void check_answer(enum da_api api, enum da_shape shape, const uint8_t *data, size_t size)
{
    struct hc_error e;
    json_t *out = NULL;
    memset(&e, 0, sizeof e);
    int rc = da_read_answer(api, "CMD_API_FUZZ", (const char *)data, size, shape, &out, &e);
    if (rc != 0) {
        if (rc != -1 || out != NULL || e.message[0] == '\0' ||
            (e.cls != HC_INVALID && e.cls != HC_BAD_RESPONSE))
            abort();
        return;
    }
    if (out == NULL)
        abort();
    if (shape == DA_ACTION) {
        check_string(json_object_get(out, "text"));
        check_string(json_object_get(out, "details"));
    } else if (shape == DA_LIST) {
        size_t i;
        json_t *item;
        if (!json_is_array(out))
            abort();
        json_array_foreach(out, i, item) check_string(item);
    } else if (!json_is_object(out)) {
        abort();
    }
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj = NULL;
    int rc = da_parse_urlencoded((const char *)data, size, &obj);
    if (rc != 0 || obj == NULL)
        abort();
    check_parsed(obj);
    json_decref(obj);
    for (int api = DA_API_V1; api <= DA_API_V2; api++)
        for (int shape = DA_ACTION; shape <= DA_RECORD; shape++)
            check_answer((enum da_api)api, (enum da_shape)shape, data, size);
    return 0;
}

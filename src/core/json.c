/*
 * json.c — jansson helpers for request bodies and stable output (see json.h).
 *
 * Owns the parse policy for outside JSON (no duplicate keys, bounded depth,
 * one value and nothing after it) and the per-field readers whose messages
 * name the field. Stateless; thread-safe as long as a json_t is not shared
 * between threads while being modified (jansson's own rule).
 *
 * Messages go back to clients inside JSON: whatever they quote from the
 * input is cut on a character boundary or reduced to printable ASCII so the
 * message stays valid UTF-8.
 */
#include "core/json.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* Depth counting containers only: a scalar at the top is depth 0, {} is 1.
 * Recursion is bounded by max_depth + 1 since it stops one level past it. */
static bool depth_ok(const json_t *v, size_t depth, size_t max_depth)
{
    if (!json_is_object(v) && !json_is_array(v))
        return true;
    if (depth + 1 > max_depth)
        return false;
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!depth_ok(item, depth + 1, max_depth))
                return false;
        }
        return true;
    }
    const char *key;
    const json_t *member;
    json_object_foreach((json_t *)v, key, member)
    {
        if (!depth_ok(member, depth + 1, max_depth))
            return false;
    }
    return true;
}

/* jansson quotes the offending input ("near '...'"), which may be any bytes:
 * keep printable ASCII so the message is always valid UTF-8 on one line. */
static void printable(const char *in, char *out, size_t outsz)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < outsz; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
}

/* Bytes of a client-supplied (valid UTF-8) name to quote: at most 64, and
 * never a partial character. */
static int name_len(const char *s)
{
    size_t n = strnlen(s, 65);
    if (n <= 64)
        return (int)n;
    n = 64;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

json_t *jsonx_parse(const char *data, size_t len, size_t max_depth, struct lumi_err *err)
{
    json_error_t jerr;
    char text[JSON_ERROR_TEXT_LENGTH];
    json_t *v = json_loadb(data ? data : "", data ? len : 0,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        printable(jerr.text, text, sizeof text);
        err_set(err, LUMI_EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                text);
        return NULL;
    }
    if (!depth_ok(v, 0, max_depth)) {
        json_decref(v);
        err_set(err, LUMI_EINVAL, "JSON nested deeper than %zu levels", max_depth);
        return NULL;
    }
    return v;
}

json_t *jsonx_parse_object(const char *data, size_t len, struct lumi_err *err)
{
    json_t *v = jsonx_parse(data, len, JSONX_MAX_DEPTH, err);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        err_set(err, LUMI_EINVAL, "request body must be a JSON object");
        return NULL;
    }
    return v;
}

static int canonical_value(struct buf *b, const json_t *v, bool sorted, size_t depth);

/* v written by canonical_value, or by jansson with the same flags when it declines. */
static char *dump_direct(const json_t *v, bool sorted)
{
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    int rc = v != NULL ? canonical_value(&b, v, sorted, 0) : LUMI_EINVAL;
    if (rc == 0)
        return buf_steal(&b);
    buf_free(&b);
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | (sorted ? JSON_SORT_KEYS : 0));
}

char *jsonx_dump(const json_t *v)
{
    return dump_direct(v, false);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object's members in key order (strcmp, as jansson's JSON_SORT_KEYS) or as inserted. */
static int canonical_object(struct buf *b, const json_t *v, bool sorted, size_t depth)
{
    size_t n = json_object_size(v), i = 0;
    const char *stack_keys[16];
    const char **keys = n <= 16 ? stack_keys : malloc(n * sizeof *keys);
    if (keys == NULL)
        return LUMI_ENOMEM;
    const char *key;
    const json_t *member;
    json_object_foreach((json_t *)v, key, member)
    {
        keys[i++] = key;
    }
    if (sorted)
        qsort(keys, n, sizeof *keys, cmp_keys);
    int rc = buf_append_char(b, '{');
    for (i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = buf_append_char(b, ',');
        if (rc == 0)
            rc = jsonx_append_string(b, keys[i]);
        if (rc == 0)
            rc = buf_append_char(b, ':');
        if (rc == 0)
            rc = canonical_value(b, json_object_get(v, keys[i]), sorted, depth + 1);
    }
    if (rc == 0)
        rc = buf_append_char(b, '}');
    if (keys != stack_keys)
        free(keys);
    return rc;
}

/*
 * Appends v as jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY) writes it (a test compares the two). LUMI_EINVAL for what
 * this writer leaves to jansson: reals (jansson's own number formatting),
 * strings holding a NUL, and nesting deeper than jansson dumps.
 */
static int canonical_value(struct buf *b, const json_t *v, bool sorted, size_t depth)
{
    if (depth > 2048)
        return LUMI_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return canonical_object(b, v, sorted, depth);
    case JSON_ARRAY: {
        int rc = buf_append_char(b, '[');
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
            if (i > 0)
                rc = buf_append_char(b, ',');
            if (rc == 0)
                rc = canonical_value(b, json_array_get(v, i), sorted, depth + 1);
        }
        return rc == 0 ? buf_append_char(b, ']') : rc;
    }
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v))
            return LUMI_EINVAL;
        return jsonx_append_string(b, json_string_value(v));
    case JSON_INTEGER: {
        /* the digits of %lld, without printf */
        json_int_t i = json_integer_value(v);
        uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
        char digits[24], *p = digits + sizeof digits;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (i < 0)
            *--p = '-';
        return buf_append(b, p, (size_t)(digits + sizeof digits - p));
    }
    case JSON_TRUE:
        return buf_append_str(b, "true");
    case JSON_FALSE:
        return buf_append_str(b, "false");
    case JSON_NULL:
        return buf_append_str(b, "null");
    case JSON_REAL:
    default:
        return LUMI_EINVAL;
    }
}

char *jsonx_dump_canonical(const json_t *v)
{
    /* JSON_COMPACT gives "," and ":" with no spaces; no JSON_ESCAPE_SLASH and
     * no JSON_ENSURE_ASCII, so text is emitted as the UTF-8 it is. The audit
     * chain hashes this text, and it is written for every audit row inside
     * the group commit: written directly, jansson being the fallback for
     * what the direct writer leaves to it. */
    return dump_direct(v, true);
}

/* Length of the valid UTF-8 sequence at s (jansson's rules: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    return n;
}

int jsonx_append_string(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *run = p;
    int rc = buf_append_char(b, '"');
    while (rc == 0 && *p != '\0') {
        size_t n = utf8_seq(p);
        if (n == 0)
            return LUMI_EINVAL;
        if (n > 1 || (*p >= 0x20 && *p != '"' && *p != '\\')) {
            p += n;
            continue;
        }
        char esc[6] = {'\\', (char)*p, 0, 0, 0, 0};
        size_t elen = 2;
        switch (*p) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xF];
            elen = 6;
        }
        rc = buf_append(b, run, (size_t)(p - run));
        if (rc == 0)
            rc = buf_append(b, esc, elen);
        run = ++p;
    }
    if (rc == 0)
        rc = buf_append(b, run, (size_t)(p - run));
    if (rc == 0)
        rc = buf_append_char(b, '"');
    return rc;
}

int jsonx_check_keys(const json_t *obj, const char *const *allowed, struct lumi_err *err)
{
    if (!json_is_object(obj))
        return err_set(err, LUMI_EINVAL, "request body must be a JSON object");
    const char *key;
    const json_t *member;
    json_object_foreach((json_t *)obj, key, member)
    {
        bool known = false;
        for (size_t i = 0; allowed != NULL && allowed[i] != NULL && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known)
            return err_set(err, LUMI_EINVAL, "unknown field '%.*s'", name_len(key), key);
    }
    return 0;
}

/* The member, or NULL when absent or null. */
static const json_t *member_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int absent(const char *key, bool required, struct lumi_err *err)
{
    if (required)
        return err_set(err, LUMI_EINVAL, "field '%.64s' is required", key);
    return 0;
}

int jsonx_take_str(const json_t *obj, const char *key, bool required, size_t max_len,
                   const char **out, struct lumi_err *err)
{
    const json_t *v = member_of(obj, key);
    if (v == NULL)
        return absent(key, required, err);
    if (!json_is_string(v))
        return err_set(err, LUMI_EINVAL, "field '%.64s' must be a string", key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    /* "\u0000" is refused by the parser, but values may come from elsewhere. */
    if (strlen(s) != n)
        return err_set(err, LUMI_EINVAL, "field '%.64s' must not contain NUL characters", key);
    if (n > max_len)
        return err_set(err, LUMI_EINVAL, "field '%.64s' is longer than %zu characters", key,
                       max_len);
    *out = s;
    return 1;
}

int jsonx_take_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, struct lumi_err *err)
{
    const json_t *v = member_of(obj, key);
    if (v == NULL)
        return absent(key, required, err);
    /* json_is_integer is false for 15.0: money and counts are never reals. */
    if (!json_is_integer(v))
        return err_set(err, LUMI_EINVAL, "field '%.64s' must be an integer", key);
    int64_t n = (int64_t)json_integer_value(v);
    if (n < min || n > max)
        return err_set(err, LUMI_EINVAL, "field '%.64s' must be between %" PRId64 " and %" PRId64,
                       key, min, max);
    *out = n;
    return 1;
}

int jsonx_take_bool(const json_t *obj, const char *key, bool required, bool *out,
                    struct lumi_err *err)
{
    const json_t *v = member_of(obj, key);
    if (v == NULL)
        return absent(key, required, err);
    if (!json_is_boolean(v))
        return err_set(err, LUMI_EINVAL, "field '%.64s' must be true or false", key);
    *out = json_is_true(v);
    return 1;
}

static int not_a_choice(const char *key, const char *const *choices, struct lumi_err *err)
{
    struct buf list;
    buf_init(&list, 300);
    for (size_t i = 0; choices[i] != NULL; i++) {
        if (buf_printf(&list, "%s%s", i ? ", " : "", choices[i]) != 0) {
            buf_append_str(&list, ", ...");
            break;
        }
    }
    int rc = err_set(err, LUMI_EINVAL, "field '%.64s' must be one of %s", key, buf_cstr(&list));
    buf_free(&list);
    return rc;
}

int jsonx_take_enum(const json_t *obj, const char *key, bool required, const char *const *choices,
                    const char **out, struct lumi_err *err)
{
    const json_t *v = member_of(obj, key);
    if (v == NULL)
        return absent(key, required, err);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    for (size_t i = 0; s != NULL && choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0 && strlen(s) == json_string_length(v)) {
            *out = choices[i];
            return 1;
        }
    }
    return not_a_choice(key, choices, err);
}

int jsonx_take_object(const json_t *obj, const char *key, bool required, json_t **out,
                      struct lumi_err *err)
{
    const json_t *v = member_of(obj, key);
    if (v == NULL)
        return absent(key, required, err);
    if (!json_is_object(v))
        return err_set(err, LUMI_EINVAL, "field '%.64s' must be an object", key);
    *out = (json_t *)v;
    return 1;
}

/* Takes the reference to v. json_string() refuses invalid UTF-8, which is
 * reported as LUMI_EINVAL rather than as a memory failure. */
static int set_new(json_t *obj, const char *key, json_t *v, int fail_code)
{
    if (v == NULL)
        return fail_code;
    return json_object_set_new(obj, key, v) == 0 ? 0 : LUMI_ENOMEM;
}

int jsonx_set_str(json_t *obj, const char *key, const char *s)
{
    if (s == NULL)
        return set_new(obj, key, json_null(), LUMI_ENOMEM);
    return set_new(obj, key, json_string(s), LUMI_EINVAL);
}

int jsonx_set_int(json_t *obj, const char *key, int64_t v)
{
    return set_new(obj, key, json_integer((json_int_t)v), LUMI_ENOMEM);
}

int jsonx_set_bool(json_t *obj, const char *key, bool v)
{
    return set_new(obj, key, json_boolean(v), LUMI_ENOMEM);
}

json_t *jsonx_apply_changes(json_t *cur, json_t *want)
{
    json_t *changed = json_object();
    const char *key;
    json_t *to;
    json_object_foreach(want, key, to)
    {
        if (changed == NULL)
            break;
        json_t *from = json_object_get(cur, key);
        if (from != NULL && json_equal(from, to))
            continue;
        json_t *pair = json_pack("{s:O?,s:O}", "from", from, "to", to);
        if (json_object_set_new(changed, key, pair) < 0 || json_object_set(cur, key, to) < 0) {
            json_decref(changed);
            changed = NULL;
        }
    }
    return changed;
}

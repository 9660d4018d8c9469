/*
 * fuzz_ptero_json.c — Pterodactyl's answers on arbitrary bytes: the error
 * body parser (also into tiny buffers), the server item and list page
 * parsers, the egg environment builder (the input as egg attributes and as
 * product-config overrides), and the username derivation (the input split
 * into an e-mail and a client key).
 *
 * Invariants (abort on violation): parsers return their documented codes;
 * an error body's text fits its buffer, has no control characters and does
 * not end inside a UTF-8 sequence; a parsed server has decimal ids; an
 * environment is an object of strings; a username matches p_username.
 * Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "panels/pterodactyl.h"

static void check_text(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
    /* No sequence cut short at the end. */
    size_t i = n, k = 0;
    while (i > 0 && k < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        k++;
    }
    if (i > 0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (lead >= 0x80 && n - (i - 1) < want)
            abort();
    }
}

static void fuzz_errors(const char *data, size_t size)
{
    static const size_t caps[] = {1, 2, 5, 64, 512};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char out[512];
        int n = ptero_parse_errors(data, size, out, caps[i]);
        if (n < 0 || (n == 0 && out[0] != '\0'))
            abort();
        check_text(out, caps[i]);
    }
}

static bool decimal(const char *s)
{
    if (*s == '\0' || *s == '0')
        return false;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static void fuzz_server(const char *data, size_t size)
{
    struct panel_result r;
    struct hc_error e;
    int rc = ptero_parse_server(data, size, &r, &e);
    if (rc == 0 && (!decimal(r.external_id) || !decimal(r.panel_user_id) || r.username[0]))
        abort();
    if (rc != 0 && (rc != -1 || e.cls != HC_BAD_RESPONSE || e.message[0] == '\0'))
        abort();
}

static void fuzz_list(const char *data, size_t size)
{
    struct hc_error e;
    int64_t cur = -1, total = -1;
    json_t *items = json_array();
    int rc = ptero_parse_list(data, size, items, &cur, &total, &e);
    if (rc == 0) {
        size_t i;
        json_t *v;
        if (cur < 0 || total < 0)
            abort();
        json_array_foreach(items, i, v)
        {
            if (!json_is_object(v))
                abort();
        }
    } else if (rc != -1 || e.cls != HC_BAD_RESPONSE) {
        abort();
    }
    json_decref(items);
}

static void check_env(const json_t *env)
{
    const char *key;
    json_t *v;
    if (!json_is_object(env))
        abort();
    json_object_foreach((json_t *)env, key, v)
    {
        if (!json_is_string(v))
            abort();
    }
}

static void fuzz_egg(const char *data, size_t size)
{
    struct lumi_err lerr;
    struct hc_error e;
    json_t *v = jsonx_parse(data, size, JSONX_MAX_DEPTH, &lerr);
    if (v == NULL)
        return;
    json_t *attrs = json_object_get(v, "attributes");
    json_t *egg = json_is_object(attrs) ? attrs : v;
    json_t *env = ptero_egg_environment(egg, NULL, &e);
    if (env != NULL)
        check_env(env);
    json_decref(env);
    /* The same bytes as product-config overrides over an empty egg. */
    json_t *empty = json_object();
    env = ptero_egg_environment(empty, v, &e);
    if (env != NULL)
        check_env(env);
    else if (e.cls != HC_INVALID && e.cls != HC_BAD_RESPONSE)
        abort();
    json_decref(env);
    json_decref(empty);
    json_decref(v);
}

static void fuzz_username(const char *data, size_t size)
{
    char email[256], key[64], out[64];
    size_t cut = size > 0 ? (unsigned char)data[0] % (size + 1) : 0;
    size_t elen = cut < sizeof email ? cut : sizeof email - 1;
    size_t klen = size - cut < sizeof key ? size - cut : sizeof key - 1;
    memcpy(email, data, elen);
    email[elen] = '\0';
    memcpy(key, data + cut, klen);
    key[klen] = '\0';
    if (ptero_username(email, key, out, sizeof out) != 0)
        abort();
    size_t n = strlen(out);
    if (n < 3)
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = out[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool mid = alnum || c == '_' || c == '.' || c == '-';
        if ((i == 0 || i == n - 1) ? !alnum : !mid)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    fuzz_errors(d, size);
    fuzz_server(d, size);
    fuzz_list(d, size);
    fuzz_egg(d, size);
    fuzz_username(d, size);
    return 0;
}

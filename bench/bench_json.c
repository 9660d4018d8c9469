/*
 * bench_json.c — microseconds per parse + decref of a Stripe webhook body:
 * jansson (json_loadb with duplicates rejected), jscan keeping everything,
 * and jscan with the Stripe-like filter (the members Lumi reads).
 *
 * Usage: bench_json [BODY.json [ITERATIONS]]
 *   BODY.json   the body to parse; default: built at start-up from
 *               LUMI_STRIPE_FIXTURES (default tests/data/stripe/ of the source tree,
 *               fixtures3.json): resources.event with data.object =
 *               resources["checkout.session"], compact (~3.3 KB).
 *   ITERATIONS  per figure (default 100000).
 * Each figure is the best of 5 runs. The three results are also checked
 * against each other (the filtered tree must be the full tree's subset the
 * filter asks for); a mismatch is exit status 1.
 *
 * Threading: one thread.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jscan.h"
#include "core/json.h"

#define FIXTURES_DEFAULT LUMI_BENCH_SOURCE_DIR "/tests/data/stripe/fixtures3.json"
#define BODY_MAX (1 << 20)
#define RUNS 5

/* The Stripe-like filter: at the root "data" is descended into, other
 * containers dropped, scalars kept; in data only "object"; in data.object
 * scalars and metadata, payment_intent, last_payment_error. */
static enum jscan_keep stripe_filter(const char *const *path, size_t depth, const char *key,
                                     enum jscan_kind kind, void *ctx)
{
    (void)path;
    (void)ctx;
    if (depth == 0) {
        if (strcmp(key, "data") == 0)
            return JSCAN_DESCEND;
        return kind == JSCAN_SCALAR ? JSCAN_KEEP : JSCAN_DROP;
    }
    if (depth == 1)
        return strcmp(key, "object") == 0 ? JSCAN_DESCEND : JSCAN_DROP;
    if (kind == JSCAN_SCALAR || strcmp(key, "metadata") == 0 ||
        strcmp(key, "payment_intent") == 0 || strcmp(key, "last_payment_error") == 0)
        return JSCAN_KEEP;
    return JSCAN_DROP;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *default_body(void)
{
    const char *path = getenv("LUMI_STRIPE_FIXTURES");
    char *text = NULL;
    json_error_t jerr;
    if (path == NULL || path[0] == '\0')
        path = FIXTURES_DEFAULT;
    json_t *fx = json_load_file(path, 0, &jerr);
    if (fx == NULL) {
        fprintf(stderr, "bench_json: cannot load %s: %s\n", path, jerr.text);
        return NULL;
    }
    json_t *res = json_object_get(fx, "resources");
    json_t *ev = json_deep_copy(json_object_get(res, "event"));
    json_t *cs = json_deep_copy(json_object_get(res, "checkout.session"));
    if (ev != NULL && cs != NULL && json_is_object(json_object_get(ev, "data"))) {
        json_object_set_new(json_object_get(ev, "data"), "object", cs);
        cs = NULL;
        text = json_dumps(ev, JSON_COMPACT);
    }
    json_decref(cs);
    json_decref(ev);
    json_decref(fx);
    if (text == NULL)
        fprintf(stderr, "bench_json: %s has no resources.event/checkout.session\n", path);
    return text;
}

static char *read_body(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL) {
        fprintf(stderr, "bench_json: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(BODY_MAX);
    if (buf != NULL)
        *len = fread(buf, 1, BODY_MAX, f);
    fclose(f);
    return buf;
}

enum which { JANSSON, JSCAN_ALL, JSCAN_STRIPE };

static json_t *parse_once(enum which w, const char *body, size_t len)
{
    json_error_t jerr;
    switch (w) {
    case JANSSON:
        return json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    case JSCAN_ALL:
        return jscan_parse(body, len, JSONX_MAX_DEPTH, NULL, NULL, NULL);
    default:
        return jscan_parse(body, len, JSONX_MAX_DEPTH, stripe_filter, NULL, NULL);
    }
}

/* Best-of-RUNS microseconds per parse + decref; negative when a parse fails. */
static double time_us(enum which w, const char *body, size_t len, long iters)
{
    double best = -1;
    for (int r = 0; r < RUNS; r++) {
        int64_t t = mono_ns();
        for (long i = 0; i < iters; i++) {
            json_t *v = parse_once(w, body, len);
            if (v == NULL)
                return -1;
            json_decref(v);
        }
        double us = (double)(mono_ns() - t) / 1e3 / (double)iters;
        if (best < 0 || us < best)
            best = us;
    }
    return best;
}

/* The filtered tree's members must be equal to the full tree's. */
static int subset_ok(const json_t *part, const json_t *full)
{
    const char *key;
    json_t *member;
    if (!json_is_object(part))
        return json_equal((json_t *)part, (json_t *)full);
    json_object_foreach((json_t *)part, key, member)
    {
        json_t *other = json_object_get(full, key);
        if (other == NULL || !subset_ok(member, other))
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    char *body = NULL;
    size_t len = 0;
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    int status = 1;
    json_t *a = NULL, *b = NULL, *c = NULL;

    if (argc > 1)
        body = read_body(argv[1], &len);
    else if ((body = default_body()) != NULL)
        len = strlen(body);
    if (body == NULL || iters <= 0)
        goto out;

    a = parse_once(JANSSON, body, len);
    b = parse_once(JSCAN_ALL, body, len);
    c = parse_once(JSCAN_STRIPE, body, len);
    if (a == NULL || b == NULL || c == NULL || !json_equal(a, b) || !subset_ok(c, a)) {
        fprintf(stderr, "bench_json: the parsers disagree on the body (or it is invalid)\n");
        goto out;
    }
    printf("body: %zu bytes, %ld iterations, best of %d\n", len, iters, RUNS);
    printf("jansson json_loadb + decref:      %7.2f us\n", time_us(JANSSON, body, len, iters));
    printf("jscan keep-all + decref:          %7.2f us\n", time_us(JSCAN_ALL, body, len, iters));
    printf("jscan Stripe-like filter + decref: %6.2f us\n",
           time_us(JSCAN_STRIPE, body, len, iters));
    status = 0;
out:
    json_decref(a);
    json_decref(b);
    json_decref(c);
    free(body);
    return status;
}

/*
 * fuzz_tmpl.c — the template parser and renderer on arbitrary bytes. The
 * input is split at its first NUL byte: the template text before it, a JSON
 * data document after it (a fixed sample document when there is no NUL or
 * the JSON does not parse). Partials and layouts resolve from the embedded
 * templates, so inputs can reach them by name.
 *
 * Invariants (abort on violation): only documented codes come back; an error
 * carries the same code and a message and leaves the output untouched; the
 * output never exceeds its small cap. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/tmpl.h"

#define OUT_CAP 4096

static const char sample[] =
    "{\"title\":\"<T>\",\"user\":{\"name\":\"Ann\"},\"items\":[\"a\",1,true,null,{\"x\":\"y\"}],"
    "\"nav\":[{\"href\":\"javascript:x\",\"label\":\"L\",\"active\":true}],"
    "\"children\":[{\"name\":\"n\",\"children\":[]}],\"flash\":{\"kind\":\"ok\",\"message\":\"m\"}"
    "}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t tlen = nul ? (size_t)(nul - text) : size;
    json_t *doc = NULL;
    struct lumi_err err;
    struct buf out;

    if (nul != NULL)
        doc = jsonx_parse(nul + 1, size - tlen - 1, JSONX_MAX_DEPTH, NULL);
    if (doc == NULL)
        doc = json_loads(sample, 0, NULL);

    buf_init(&out, OUT_CAP);
    if (buf_append_str(&out, "pre") != 0)
        abort();
    err_clear(&err);
    int rc = tmpl_render_text(text, tlen, doc, &out, &err);
    if (rc != 0 && rc != LUMI_EINVAL && rc != LUMI_ETOOLARGE && rc != LUMI_ENOMEM)
        abort();
    if (rc != 0 && (err.code != rc || err.msg[0] == '\0' || out.len != 3 ||
                    strcmp(buf_cstr(&out), "pre") != 0))
        abort();
    if (out.len > OUT_CAP || strlen(buf_cstr(&out)) > out.len)
        abort();
    buf_free(&out);
    json_decref(doc);
    return 0;
}

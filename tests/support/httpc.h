/*
 * httpc.h — a minimal HTTP client for tests (libcurl), with JSON answers parsed.
 */
#ifndef LUMI_TEST_HTTPC_H
#define LUMI_TEST_HTTPC_H

#include <jansson.h>

#include "core/buf.h"

struct http_result {
    long status;
    struct buf body;
    struct buf headers;  /* raw response header lines */
    json_t *json;        /* body parsed when it is JSON, else NULL */
};

/**
 * Sends method url with extra header lines ("Name: value", NULL-terminated,
 * may be NULL) and body (may be NULL; sent as-is, Content-Type from headers,
 * default application/json when a body is given). Returns 0 when an answer
 * arrived, -1 on a transport error. Free with http_result_free.
 */
int http_request(const char *method, const char *url, const char *const *headers,
                 const char *body, struct http_result *res);
void http_result_free(struct http_result *res);

/**
 * Sends method base_url+path with one extra header line (e.g. the
 * Authorization header; may be NULL) and body (may be NULL); fails the test
 * when no answer arrives. Free the result with http_result_free.
 */
struct http_result http_api(const char *base_url, const char *header, const char *method,
                            const char *path, const char *body);

/** Value of a response header (case-insensitive name; first occurrence) or NULL. Caller frees. */
char *http_header(const struct http_result *res, const char *name);

/** Error code from the envelope {"error":{"code":..}} or NULL (borrowed). */
const char *http_error_code(const struct http_result *res);

#endif

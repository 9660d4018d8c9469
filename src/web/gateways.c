/*
 * gateways.c — the process-wide gateway context (see gateways.h).
 *
 * Built once under pthread_once from the loaded configuration and kept for
 * the life of the process (the PayPal client and certificate cache are
 * shared by every worker; both are thread-safe).
 */
#include "web/gateways.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/str.h"

#define LIST_TEXT_MAX 2048

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct stripe_conf stripe;
static struct pay_ctx ctx;
static char base_url[2048];
static char secrets_text[LIST_TEXT_MAX];
static const char *secrets[GATEWAYS_MAX_SECRETS];
static size_t nsecrets;
static char hosts_text[LIST_TEXT_MAX];
static const char *hosts[GATEWAYS_MAX_SECRETS + 1];
static bool hosts_set;
static struct paypal_cert_cache *certs;

/* Splits text (copied into store) at commas, trimming spaces; returns the count. */
static size_t split_list(const char *text, char *store, size_t storesz, const char **out,
                         size_t max)
{
    size_t n = 0;
    if (text == NULL || str_copy(store, text, storesz) >= storesz)
        return 0;
    char *p = store;
    while (*p != '\0' && n < max) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        while (*p == ' ')
            p++;
        size_t len = strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            p[--len] = '\0';
        if (len > 0)
            out[n++] = p;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return n;
}

static void build(void)
{
    str_copy(base_url, config_str("LUMI_BASE_URL") ? config_str("LUMI_BASE_URL") : "",
             sizeof base_url);
    size_t bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/')
        base_url[--bl] = '\0';
    ctx.base_url = base_url;

    if (config_has("STRIPE_SECRET_KEY")) {
        stripe.api_base = config_str("STRIPE_API_BASE");
        stripe.secret_key = config_str("STRIPE_SECRET_KEY");
        stripe.ca_file = config_has("LUMI_CA_FILE") ? config_str("LUMI_CA_FILE") : NULL;
        ctx.stripe = &stripe;
    }
    nsecrets = split_list(config_str("STRIPE_WEBHOOK_SECRET"), secrets_text, sizeof secrets_text,
                          secrets, GATEWAYS_MAX_SECRETS);

    if (config_has("PAYPAL_CLIENT_ID") && config_has("PAYPAL_CLIENT_SECRET")) {
        struct paypal_conf pc = {
            .api_base = config_str("PAYPAL_API_BASE"),
            .client_id = config_str("PAYPAL_CLIENT_ID"),
            .client_secret = config_str("PAYPAL_CLIENT_SECRET"),
            .webhook_id = config_str("PAYPAL_WEBHOOK_ID"),
            .ca_file = config_has("LUMI_CA_FILE") ? config_str("LUMI_CA_FILE") : NULL,
        };
        ctx.paypal = paypal_client_new(&pc);
    }
    size_t nh = split_list(config_str("PAYPAL_CERT_HOSTS"), hosts_text, sizeof hosts_text, hosts,
                           GATEWAYS_MAX_SECRETS);
    hosts[nh] = NULL;
    hosts_set = nh > 0;
    certs = paypal_cert_cache_new(NULL, NULL, NULL, NULL);
    if (certs != NULL && config_has("LUMI_CA_FILE"))
        paypal_cert_cache_set_ca_file(certs, config_str("LUMI_CA_FILE"));
}

const struct pay_ctx *gateways_ctx(void)
{
    pthread_once(&once, build);
    return &ctx;
}

const char *const *gateways_stripe_secrets(size_t *n)
{
    pthread_once(&once, build);
    *n = nsecrets;
    return secrets;
}

const char *const *gateways_paypal_cert_hosts(void)
{
    pthread_once(&once, build);
    return hosts_set ? hosts : NULL;
}

struct paypal_cert_cache *gateways_paypal_certs(void)
{
    pthread_once(&once, build);
    return certs;
}

struct audit_actor gateway_actor(const char *gateway, const char *ip, const char *user_agent)
{
    struct audit_actor a = {.type = "gateway", .id = gateway, .ip = ip, .user_agent = user_agent};
    return a;
}

struct webhook_delivery *webhook_delivery_new(const struct web_req *req, json_t *event,
                                              json_t *prepared)
{
    struct webhook_delivery *d = calloc(1, sizeof *d);
    if (d == NULL) {
        json_decref(event);
        json_decref(prepared);
        return NULL;
    }
    d->event = event;
    d->prepared = prepared;
    d->raw = req->body;
    d->len = req->body_len;
    d->ip = web_client_ip(req);
    d->user_agent = req->user_agent;
    return d;
}

void webhook_delivery_free(void *arg)
{
    struct webhook_delivery *d = arg;
    json_decref(d->event);
    json_decref(d->prepared);
    free(d);
}

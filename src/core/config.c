/*
 * config.c — the configuration table, the .env parser and the loader (see config.h).
 *
 * Owns `defs[]`, the one declarative list of every variable Lumi reads, and
 * the loaded state. config_load builds a complete new state (.env, then the
 * environment on top, then defaults), validates every row, and only then
 * swaps it in: a failed load leaves the previous configuration untouched.
 * Threading: config_load is not thread-safe and must not run while others
 * read; after it returns, every getter only reads immutable memory.
 *
 * Rules: an empty value (in .env or the environment) counts as unset, so the
 * default applies. A default counts as a value for config_str/config_has/
 * config_require. Error messages name the variable and never echo the value
 * of a secret variable, nor of a value that looks like it carries credentials
 * (contains '@').
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/cidr.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"

#define ENV_FILE_MAX ((size_t)1 << 20)
#define ECHO_MAX 80 /* bytes of a bad value quoted back in a message */

enum cfg_type {
    CFG_STR,  /* any text */
    CFG_INT,  /* decimal integer within [min, max] */
    CFG_BOOL, /* true|false|1|0|yes|no|on|off */
    CFG_ENUM, /* one of `choices` ("a|b|c") */
    CFG_URL,  /* http:// or https:// URL */
};

struct cfg_state;
struct cfg_def;

/* Extra check after the type's own; fills err naming the variable. */
typedef int (*cfg_validator)(const struct cfg_def *d, const char *value, struct cfg_state *st,
                             struct lumi_err *err);
/* Default computed from other variables (evaluated after they are loaded). */
typedef const char *(*cfg_derive)(const struct cfg_state *st);

struct cfg_def {
    const char *name;
    enum cfg_type type;
    const char *def; /* default text, NULL for none */
    int64_t min, max;
    bool secret;
    const char *choices;
    cfg_validator validate;
    cfg_derive derive;
};

static int check_database_url(const struct cfg_def *, const char *, struct cfg_state *,
                              struct lumi_err *);
static int check_listen(const struct cfg_def *, const char *, struct cfg_state *,
                        struct lumi_err *);
static int check_secret_key(const struct cfg_def *, const char *, struct cfg_state *,
                            struct lumi_err *);
static const char *paypal_base_for_mode(const struct cfg_state *st);
static const char *smtp_port_for_tls(const struct cfg_state *st);

/* Operations (metrics, backups, proxies): LUMI_TRUSTED_PROXIES must be a valid CIDR list. */
static int check_trusted_proxies(const struct cfg_def *d, const char *value, struct cfg_state *st,
                                 struct lumi_err *err)
{
    struct cidr_list l;
    struct lumi_err cerr;
    (void)st;
    err_clear(&cerr);
    if (cidr_list_parse(value, &l, &cerr) != 0)
        return err_set(err, LUMI_EINVAL,
                       "%s: expected a comma-separated list of addresses or CIDR ranges "
                       "(e.g. 10.0.0.0/8,::1): %s",
                       d->name, cerr.msg);
    return 0;
}

/* clang-format off */
static const struct cfg_def defs[] = {
    /* name                     type      default                      min   max       secret choices            validator           derive */
    {"DATABASE_URL",            CFG_STR,  "sqlite:./lumi.db",          0,    0,        false, NULL,              check_database_url, NULL},
    {"LUMI_LISTEN",             CFG_STR,  "127.0.0.1:8080",            0,    0,        false, NULL,              check_listen,       NULL},
    {"LUMI_BASE_URL",           CFG_URL,  "http://127.0.0.1:8080",     0,    0,        false, NULL,              NULL,               NULL},
    {"LUMI_SECRET_KEY",         CFG_STR,  NULL,                        0,    0,        true,  NULL,              check_secret_key,   NULL},
    {"LUMI_LOG_LEVEL",          CFG_ENUM, "info",                      0,    0,        false, "debug|info|warn|error", NULL,         NULL},
    {"LUMI_MAX_BODY",           CFG_INT,  "1048576",                   1024, 67108864, false, NULL,              NULL,               NULL},
    {"LUMI_HTTP_THREADS",       CFG_INT,  "2",                         1,    64,       false, NULL,              NULL,               NULL},
    {"LUMI_WORKERS",            CFG_INT,  "8",                         1,    256,      false, NULL,              NULL,               NULL},
    {"LUMI_QUEUE_MAX",          CFG_INT,  "256",                       1,    100000,   false, NULL,              NULL,               NULL},
    {"LUMI_LOGIN_MAX_FAILURES", CFG_INT,  "5",                         1,    1000,     false, NULL,              NULL,               NULL},
    {"LUMI_LOGIN_WINDOW",       CFG_INT,  "900",                       10,   86400,    false, NULL,              NULL,               NULL},
    {"LUMI_SESSION_IDLE_S",     CFG_INT,  "7200",                      60,   43200,    false, NULL,              NULL,               NULL},
    {"LUMI_LOGIN_ACCOUNT_MAX",  CFG_INT,  "100",                       1,    100000,   false, NULL,              NULL,               NULL},
    {"LUMI_WORKER_THREADS",     CFG_INT,  "4",                         1,    64,       false, NULL,              NULL,               NULL},
    {"LUMI_WORKER_PER_SERVER",  CFG_INT,  "4",                         1,    64,       false, NULL,              NULL,               NULL},
    {"LUMI_JOB_MAX_ATTEMPTS",   CFG_INT,  "8",                         1,    100,      false, NULL,              NULL,               NULL},
    {"LUMI_JOB_LEASE_S",        CFG_INT,  "120",                       2,    86400,    false, NULL,              NULL,               NULL},
    {"LUMI_SCHEDULER_INTERVAL_S", CFG_INT, "3600",                     10,   86400,    false, NULL,              NULL,               NULL},
    {"LUMI_CA_FILE",            CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    /* The PDF module (documents/pdf_module.c): a path to lumi-pdf.so, else it is searched for */
    {"LUMI_PDF_MODULE",         CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"LUMI_BATCH_MAX",          CFG_INT,  "128",                       1,    4096,     false, NULL,              NULL,               NULL},
    /* Hostile traffic (issue 17, finding 2): connection limits, the receive deadline */
    {"LUMI_MAX_CONNECTIONS",    CFG_INT,  "4096",                      16,   1000000,  false, NULL,              NULL,               NULL},
    {"LUMI_MAX_CONN_PER_IP",    CFG_INT,  "64",                        0,    1000000,  false, NULL,              NULL,               NULL},
    {"LUMI_REQUEST_TIMEOUT_S",  CFG_INT,  "30",                        1,    3600,     false, NULL,              NULL,               NULL},
    /* pgwrite (issue 15): group-commit writer connections on PostgreSQL (SQLite has one) */
    {"LUMI_PG_WRITERS",         CFG_INT,  "4",                         1,    64,       false, NULL,              NULL,               NULL},
    {"SMTP_HOST",               CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"SMTP_PORT",               CFG_INT,  NULL,                        1,    65535,    false, NULL,              NULL,               smtp_port_for_tls},
    {"SMTP_USER",               CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"SMTP_PASSWORD",           CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"SMTP_FROM",               CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"SMTP_TLS",                CFG_ENUM, "starttls",                  0,    0,        false, "starttls|tls|none", NULL,             NULL},
    {"LUMI_MAIL_RETRY_S",       CFG_INT,  "30",                        1,    3600,     false, NULL,              NULL,               NULL},
    {"LUMI_MAIL_TEMPLATES",     CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    /* Outgoing events (issue 16, events): private targets allowed; retry backoff and give-up window */
    {"LUMI_WEBHOOK_ALLOW_PRIVATE", CFG_BOOL, "0",                      0,    0,        false, NULL,              NULL,               NULL},
    {"LUMI_WEBHOOK_RETRY_S",    CFG_INT,  "30",                        1,    3600,     false, NULL,              NULL,               NULL},
    {"LUMI_WEBHOOK_GIVE_UP_S",  CFG_INT,  "259200",                    1,    2592000,  false, NULL,              NULL,               NULL},
    /* Outgoing events kept this many days once none of their deliveries is pending */
    {"LUMI_EVENTS_KEEP_DAYS",   CFG_INT,  "30",                        1,    3650,     false, NULL,              NULL,               NULL},
    {"STRIPE_SECRET_KEY",       CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"STRIPE_PUBLISHABLE_KEY",  CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"STRIPE_WEBHOOK_SECRET",   CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"STRIPE_API_BASE",         CFG_URL,  "https://api.stripe.com",    0,    0,        false, NULL,              NULL,               NULL},
    {"PAYPAL_CLIENT_ID",        CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"PAYPAL_CLIENT_SECRET",    CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"PAYPAL_WEBHOOK_ID",       CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"PAYPAL_MODE",             CFG_ENUM, "sandbox",                   0,    0,        false, "sandbox|live",    NULL,               NULL},
    {"PAYPAL_API_BASE",         CFG_URL,  NULL,                        0,    0,        false, NULL,              NULL,               paypal_base_for_mode},
    {"PAYPAL_WEBHOOK_VERIFY",   CFG_ENUM, "api",                       0,    0,        false, "api|local",       NULL,               NULL},
    {"PAYPAL_CERT_HOSTS",       CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"PTERODACTYL_URL",         CFG_URL,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"PTERODACTYL_API_KEY",     CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"DIRECTADMIN_URL",         CFG_URL,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"DIRECTADMIN_USERNAME",    CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"DIRECTADMIN_PASSWORD",    CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"DIRECTADMIN_API_VERSION", CFG_ENUM, "v2",                        0,    0,        false, "v2|v1",           NULL,               NULL},
    {"VIRTFUSION_URL",          CFG_URL,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"VIRTFUSION_API_KEY",      CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    /* Operations (metrics, backups, proxies) */
    {"LUMI_METRICS_TOKEN",      CFG_STR,  NULL,                        0,    0,        true,  NULL,              NULL,               NULL},
    {"LUMI_BACKUP_DIR",         CFG_STR,  NULL,                        0,    0,        false, NULL,              NULL,               NULL},
    {"LUMI_BACKUP_KEEP",        CFG_INT,  "7",                         1,    1000,     false, NULL,              NULL,               NULL},
    {"LUMI_TRUSTED_PROXIES",    CFG_STR,  NULL,                        0,    0,        false, NULL,              check_trusted_proxies, NULL},
};
/* clang-format on */

#define NDEFS (sizeof defs / sizeof defs[0])

struct cfg_state {
    char *set[NDEFS];            /* value from .env or environment; NULL when unset */
    const char *value[NDEFS];    /* effective: set, default or derived; may be NULL */
    int64_t ints[NDEFS];         /* CFG_INT and CFG_BOOL, parsed */
    uint8_t key[CRYPTO_KEY_LEN]; /* LUMI_SECRET_KEY decoded */
    bool has_key;
};

static struct cfg_state *current;

static int def_index(const char *name)
{
    for (size_t i = 0; name != NULL && i < NDEFS; i++)
        if (strcmp(defs[i].name, name) == 0)
            return (int)i;
    return -1;
}

static const char *effective(const struct cfg_state *st, int i)
{
    return st ? st->value[i] : defs[i].def;
}

/* ---- messages ------------------------------------------------------------- */

/* "NAME: expected WHAT, got 'value'" — without the value when it may be secret. */
static int bad_value(const struct cfg_def *d, const char *value, const char *what,
                     struct lumi_err *err)
{
    if (d->secret || strchr(value, '@') != NULL)
        return err_set(err, LUMI_EINVAL, "%s: expected %s", d->name, what);
    char shown[ECHO_MAX + 4];
    log_quote(value, shown, sizeof shown);
    /* log_quote adds double quotes; the message uses single ones. */
    size_t n = strlen(shown);
    if (n >= 2) {
        shown[n - 1] = '\0';
        return err_set(err, LUMI_EINVAL, "%s: expected %s, got '%s'", d->name, what, shown + 1);
    }
    return err_set(err, LUMI_EINVAL, "%s: expected %s", d->name, what);
}

/* ---- validators ------------------------------------------------------------ */

static int check_database_url(const struct cfg_def *d, const char *value, struct cfg_state *st,
                              struct lumi_err *err)
{
    if ((str_starts_with(value, "sqlite:") && value[7] != '\0') ||
        (str_starts_with(value, "postgres://") && value[11] != '\0') ||
        (str_starts_with(value, "postgresql://") && value[13] != '\0'))
        return 0;
    return bad_value(d, value, "sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB", err);
}

static bool valid_host(const char *host, size_t len)
{
    char tmp[64];
    unsigned char addr[16];
    if (len == 0 || len >= sizeof tmp)
        return false;
    memcpy(tmp, host, len);
    tmp[len] = '\0';
    if (strcmp(tmp, "localhost") == 0)
        return true;
    if (tmp[0] == '[' && tmp[len - 1] == ']') {
        tmp[len - 1] = '\0';
        return inet_pton(AF_INET6, tmp + 1, addr) == 1;
    }
    return inet_pton(AF_INET, tmp, addr) == 1;
}

static int check_listen(const struct cfg_def *d, const char *value, struct cfg_state *st,
                        struct lumi_err *err)
{
    const char *colon = strrchr(value, ':');
    int64_t port;
    if (colon != NULL && valid_host(value, (size_t)(colon - value)) &&
        str_to_i64z(colon + 1, 0, 65535, &port) == 0)
        return 0;
    return bad_value(d, value, "ADDRESS:PORT", err);
}

static int check_secret_key(const struct cfg_def *d, const char *value, struct cfg_state *st,
                            struct lumi_err *err)
{
    struct lumi_err kerr;
    if (crypto_key_parse(value, st->key, &kerr) != 0)
        return err_set(err, LUMI_EINVAL, "%s: %s", d->name, kerr.msg);
    st->has_key = true;
    return 0;
}

static const char *paypal_base_for_mode(const struct cfg_state *st)
{
    const char *mode = effective(st, def_index("PAYPAL_MODE"));
    return str_eq(mode, "live") ? "https://api-m.paypal.com" : "https://api-m.sandbox.paypal.com";
}

/* SMTP_PORT by SMTP_TLS: 465 for implicit TLS (smtps), else the submission port 587. */
static const char *smtp_port_for_tls(const struct cfg_state *st)
{
    return str_eq(effective(st, def_index("SMTP_TLS")), "tls") ? "465" : "587";
}

/* ---- type checks ----------------------------------------------------------- */

static bool url_char_ok(char c)
{
    return (unsigned char)c > 0x20 && c != 0x7f && c != '"' && c != '<' && c != '>' && c != '\\' &&
           c != '`';
}

/* http(s)://HOST[:PORT][/path...], host of letters, digits, '.', '-', or [v6]. */
static bool valid_url(const char *v)
{
    const char *p;
    if (str_starts_with(v, "https://"))
        p = v + 8;
    else if (str_starts_with(v, "http://"))
        p = v + 7;
    else
        return false;
    size_t auth = strcspn(p, "/?#");
    size_t host = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-[]:");
    if (auth == 0 || host != auth)
        return false;
    for (const char *c = p + auth; *c != '\0'; c++)
        if (!url_char_ok(*c))
            return false;
    return true;
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (str_eq_nocase(v, yes[i]))
            return 1;
        if (str_eq_nocase(v, no[i]))
            return 0;
    }
    return -1;
}

static bool enum_has(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p != '\0';) {
        size_t len = strcspn(p, "|");
        if (len == n && memcmp(p, v, n) == 0)
            return true;
        p += len + (p[len] == '|');
    }
    return false;
}

static int check_type(size_t i, const char *v, struct cfg_state *st, struct lumi_err *err)
{
    const struct cfg_def *d = &defs[i];
    char what[160]; /* "an integer between INT64_MIN and INT64_MAX" or the choices: fits */
    switch (d->type) {
    case CFG_STR:
        return 0;
    case CFG_INT:
        if (str_to_i64z(v, d->min, d->max, &st->ints[i]) == 0)
            return 0;
        snprintf(what, sizeof what, "an integer between %" PRId64 " and %" PRId64, d->min, d->max);
        return bad_value(d, v, what, err);
    case CFG_BOOL:
        st->ints[i] = parse_bool(v);
        return st->ints[i] >= 0 ? 0 : bad_value(d, v, "true or false", err);
    case CFG_ENUM:
        if (enum_has(d->choices, v))
            return 0;
        snprintf(what, sizeof what, "one of %s", d->choices);
        return bad_value(d, v, what, err);
    case CFG_URL:
        return valid_url(v) ? 0 : bad_value(d, v, "an http:// or https:// URL", err);
    }
    return err_set(err, LUMI_EINTERNAL, "%s: unknown type", d->name);
}

/* ---- loading ----------------------------------------------------------------- */

static void state_free(struct cfg_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < NDEFS; i++) {
        if (st->set[i] != NULL)
            sodium_memzero(st->set[i], strlen(st->set[i]));
        free(st->set[i]);
    }
    sodium_memzero(st->key, sizeof st->key);
    free(st);
}

/* Stores value for a known variable; empty means unset. Later lines win. */
static int set_value(struct cfg_state *st, int i, const char *value)
{
    char *copy = NULL;
    if (value[0] != '\0') {
        copy = strdup(value);
        if (copy == NULL)
            return LUMI_ENOMEM;
    }
    if (st->set[i] != NULL)
        sodium_memzero(st->set[i], strlen(st->set[i]));
    free(st->set[i]);
    st->set[i] = copy;
    return 0;
}

static int env_file_entry(const char *key, const char *value, void *ctx)
{
    int i = def_index(key);
    return i < 0 ? 0 : set_value(ctx, i, value);
}

static int load_env_file(const char *path, struct cfg_state *st, struct lumi_err *err)
{
    struct buf data;
    buf_init(&data, ENV_FILE_MAX);
    struct lumi_err perr;
    int rc = buf_read_file(&data, path, err);
    if (rc == 1) { /* no .env: nothing to load */
        rc = 0;
        goto out;
    }
    if (rc == LUMI_ETOOLARGE) { /* a malformed .env, as far as the user is concerned */
        rc = LUMI_EINVAL;
        if (err != NULL)
            err->code = rc;
    }
    if (rc != 0)
        goto out;
    err_clear(&perr);
    rc = env_parse(data.data, data.len, env_file_entry, st, &perr);
    if (rc != 0 && perr.msg[0] != '\0')
        err_set(err, rc, "%s %s", path, perr.msg);
    else if (rc != 0)
        err_set(err, rc, "%s: out of memory", path);
out:
    buf_free(&data);
    return rc;
}

static int load_environment(struct cfg_state *st)
{
    for (size_t i = 0; i < NDEFS; i++) {
        const char *v = getenv(defs[i].name);
        if (v != NULL && v[0] != '\0' && set_value(st, (int)i, v) != 0)
            return LUMI_ENOMEM;
    }
    return 0;
}

/* Fills the effective values (derived defaults last, they read the others),
 * then validates every row in table order. */
static int validate(struct cfg_state *st, struct lumi_err *err)
{
    for (size_t i = 0; i < NDEFS; i++)
        st->value[i] = st->set[i] ? st->set[i] : defs[i].def;
    for (size_t i = 0; i < NDEFS; i++)
        if (st->value[i] == NULL && defs[i].derive != NULL)
            st->value[i] = defs[i].derive(st);
    for (size_t i = 0; i < NDEFS; i++) {
        const char *v = st->value[i];
        if (v == NULL)
            continue;
        int rc = check_type(i, v, st, err);
        if (rc == 0 && defs[i].validate != NULL)
            rc = defs[i].validate(&defs[i], v, st, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The password of postgres://user:password@host/... for redaction. */
static void add_database_password(const char *url)
{
    const char *p = strstr(url ? url : "", "://");
    if (p == NULL)
        return;
    p += 3;
    size_t auth = strcspn(p, "/?#");
    const char *at = memrchr(p, '@', auth);
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (colon == NULL)
        return;
    char *pw = str_ndup(colon + 1, (size_t)(at - colon - 1));
    if (pw != NULL)
        log_add_secret(pw);
    free(pw);
}

/* Each secret whole, and each comma-separated part (rotation lists). */
static void register_secrets(const struct cfg_state *st)
{
    log_clear_secrets();
    for (size_t i = 0; i < NDEFS; i++) {
        const char *v = st->value[i];
        if (!defs[i].secret || v == NULL)
            continue;
        log_add_secret(v);
        if (strchr(v, ',') == NULL)
            continue;
        for (const char *p = v; *p != '\0';) {
            size_t n = strcspn(p, ",");
            char *part = str_ndup(p, n);
            if (part != NULL)
                log_add_secret(part);
            free(part);
            p += n + (p[n] == ',');
        }
    }
    add_database_password(st->value[def_index("DATABASE_URL")]);
}

int config_load(const char *env_path, struct lumi_err *err)
{
    int rc;
    struct cfg_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory loading the configuration");
    if (env_path != NULL) {
        rc = load_env_file(env_path, st, err);
        if (rc != 0)
            goto out;
    }
    rc = load_environment(st);
    if (rc != 0) {
        err_set(err, rc, "out of memory loading the configuration");
        goto out;
    }
    rc = validate(st, err);
    if (rc != 0)
        goto out;

    register_secrets(st);
    enum log_level level = LOG_INFO;
    log_level_parse(st->value[def_index("LUMI_LOG_LEVEL")], &level);
    log_set_level(level);
    state_free(current);
    current = st;
    st = NULL;
out:
    state_free(st);
    return rc;
}

/* ---- getters ------------------------------------------------------------------ */

int config_require(const char *name, struct lumi_err *err)
{
    int i = def_index(name);
    if (i < 0)
        return err_set(err, LUMI_EINTERNAL, "unknown configuration variable %.64s", name);
    if (!config_has(name))
        return err_set(err, LUMI_EINVAL,
                       "%s: required but not set (add it to .env or the environment)", name);
    return 0;
}

const char *config_str(const char *name)
{
    int i = def_index(name);
    return i < 0 ? NULL : effective(current, i);
}

int64_t config_int(const char *name)
{
    int i = def_index(name);
    if (i < 0)
        return 0;
    if (current != NULL)
        return current->ints[i];
    /* Before any load: the default, which the table guarantees is valid. */
    int64_t v = 0;
    if (defs[i].type == CFG_BOOL)
        return parse_bool(defs[i].def) == 1;
    str_to_i64z(defs[i].def, INT64_MIN, INT64_MAX, &v);
    return v;
}

bool config_bool(const char *name)
{
    int i = def_index(name);
    if (i < 0 || defs[i].type != CFG_BOOL)
        return false;
    return config_int(name) == 1;
}

bool config_has(const char *name)
{
    const char *v = config_str(name);
    return v != NULL && v[0] != '\0';
}

bool config_is_secret(const char *name)
{
    int i = def_index(name);
    return i >= 0 && defs[i].secret;
}

const unsigned char *config_secret_key(void)
{
    return current != NULL && current->has_key ? current->key : NULL;
}

/* ---- .env syntax ------------------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool key_char(char c)
{
    return key_start(c) || (c >= '0' && c <= '9');
}

static size_t skip_space(const char *s, size_t i, size_t n)
{
    while (i < n && is_space(s[i]))
        i++;
    return i;
}

struct line {
    const char *s;
    size_t n;
    int no;
    char *key;   /* into scratch */
    char *value; /* into scratch, after the key */
};

/* 'literal' — returns the index after the closing quote, or -1. */
static long single_quoted(struct line *l, size_t i, char *out)
{
    const char *close = memchr(l->s + i + 1, '\'', l->n - i - 1);
    if (close == NULL)
        return -1;
    size_t len = (size_t)(close - (l->s + i + 1));
    memcpy(out, l->s + i + 1, len);
    out[len] = '\0';
    return (long)(close - l->s) + 1;
}

/* "text with \n \t \" \\ escapes" — other backslashes are kept as written. */
static long double_quoted(struct line *l, size_t i, char *out)
{
    size_t o = 0;
    for (i++; i < l->n; i++) {
        char c = l->s[i];
        if (c == '"') {
            out[o] = '\0';
            return (long)i + 1;
        }
        if (c == '\\' && i + 1 < l->n) {
            char e = l->s[i + 1];
            if (e == 'n' || e == 't' || e == '"' || e == '\\') {
                out[o++] = e == 'n' ? '\n' : e == 't' ? '\t' : e;
                i++;
                continue;
            }
        }
        out[o++] = c;
    }
    return -1;
}

/* Unquoted: up to a '#' that follows a space, trailing spaces dropped. */
static void unquoted(struct line *l, size_t i, char *out)
{
    size_t end = i;
    while (end < l->n && !(l->s[end] == '#' && is_space(l->s[end - 1])))
        end++;
    while (end > i && is_space(l->s[end - 1]))
        end--;
    memcpy(out, l->s + i, end - i);
    out[end - i] = '\0';
}

static int parse_value(struct line *l, size_t i, struct lumi_err *err)
{
    i = skip_space(l->s, i, l->n);
    if (i >= l->n || (l->s[i] != '\'' && l->s[i] != '"')) {
        unquoted(l, i, l->value);
        return 0;
    }
    bool single = l->s[i] == '\'';
    long after = single ? single_quoted(l, i, l->value) : double_quoted(l, i, l->value);
    if (after < 0)
        return err_set(err, LUMI_EINVAL, "line %d: unterminated %s quote", l->no,
                       single ? "single" : "double");
    size_t rest = skip_space(l->s, (size_t)after, l->n);
    if (rest < l->n && l->s[rest] != '#')
        return err_set(err, LUMI_EINVAL, "line %d: unexpected text after the closing quote", l->no);
    return 0;
}

/* 1 with l->key/value set, 0 for a blank or comment line, or LUMI_EINVAL. */
static int parse_line(struct line *l, char *scratch, struct lumi_err *err)
{
    const char *s = l->s;
    size_t n = l->n;
    if (memchr(s, '\0', n) != NULL)
        return err_set(err, LUMI_EINVAL, "line %d: contains a NUL byte", l->no);
    size_t i = skip_space(s, 0, n);
    if (i == n || s[i] == '#')
        return 0;
    if (n - i > 6 && memcmp(s + i, "export", 6) == 0 && is_space(s[i + 6])) {
        size_t k = skip_space(s, i + 6, n);
        if (k < n && key_start(s[k]))
            i = k;
    }
    size_t key = i;
    while (i < n && key_char(s[i]))
        i++;
    size_t key_len = i - key;
    i = skip_space(s, i, n);
    if (i == n || s[i] != '=') {
        if (memchr(s, '=', n) == NULL)
            return err_set(err, LUMI_EINVAL, "line %d: expected KEY=VALUE", l->no);
        return err_set(err, LUMI_EINVAL,
                       "line %d: invalid variable name (letters, digits and _ only)", l->no);
    }
    if (key_len == 0 || !key_start(s[key]))
        return err_set(err, LUMI_EINVAL,
                       "line %d: invalid variable name (letters, digits and _ only)", l->no);
    memcpy(scratch, s + key, key_len);
    scratch[key_len] = '\0';
    l->key = scratch;
    l->value = scratch + key_len + 1;
    int rc = parse_value(l, i + 1, err);
    return rc == 0 ? 1 : rc;
}

int env_parse(const char *data, size_t len, env_entry_cb cb, void *ctx, struct lumi_err *err)
{
    /* A key and a value from one line never need more than the line + 2 NULs. */
    char *scratch = malloc(len + 2);
    if (scratch == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    int rc = 0;
    size_t pos = 0;
    struct line l = {.no = 0};
    while (pos < len) {
        l.s = data + pos;
        const char *nl = memchr(l.s, '\n', len - pos);
        l.n = nl ? (size_t)(nl - l.s) : len - pos;
        pos += l.n + (nl != NULL);
        l.no++;
        if (l.n > 0 && l.s[l.n - 1] == '\r')
            l.n--;
        rc = parse_line(&l, scratch, err);
        if (rc < 0)
            goto out;
        if (rc == 1) {
            rc = cb(l.key, l.value, ctx);
            if (rc != 0)
                goto out;
        }
        rc = 0;
    }
out:
    sodium_memzero(scratch, len + 2);
    free(scratch);
    return rc;
}

/*
 * registry.c — the settings registry (see registry.h).
 *
 * Owns `defs[]`, the one declarative list of the settings an admin may
 * change, their validation and normal forms, and every write of those rows.
 * Depends only on db, audit and core: the domain modules that use a setting
 * (automation, services, mail) read it through here, never the other way.
 *
 * Validation turns a value into its stored normal form; two values are the
 * same setting exactly when their normal forms are equal, which is how an
 * update tells a change from a repeat. Messages say what was expected and
 * echo what was got, JSON-quoted and cut to ECHO_MAX bytes (on a UTF-8
 * boundary), so control characters and markup reach a page only as text.
 *
 * Writers take a transaction-scoped advisory lock on PostgreSQL before
 * reading the old values (SQLite's BEGIN IMMEDIATE already serialises them),
 * so the "old" of an audit row is what the change replaced.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "settings/registry.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/country.h"
#include "core/json.h"
#include "core/numfmt.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/settings.h"
#include "mail/mime.h"

#define VALUE_MAX 2048 /* stored text, NUL included */
#define INPUT_MAX 2000 /* longest text value accepted */
#define EMAILS_MAX 16  /* addresses in one email_list */
#define EMAIL_MAX 254  /* bytes of one address */
#define WHY_MAX 320    /* one problem's text */
#define ECHO_MAX 80    /* bytes of a bad value quoted back */
#define KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._-"
#define SETTINGS_LOCK_KEY INT64_C(0x6c756d6973657474) /* "lumisett" */

enum stype { T_INT, T_BOOL, T_ENUM, T_INT_LIST, T_EMAILS, T_TEXT, T_TEXTAREA };

/*
 * A further check of a text setting's normal form (which it may still
 * adjust in place, e.g. upper-case a country code): 0 or LUMI_EINVAL with
 * why. saving is true when an admin saves the value, false when a stored
 * value is read: checks of the outside world (a file) run only when saving,
 * so a logo removed later never stops the work that reads the settings.
 */
typedef int (*text_check)(char *norm, bool saving, char *why, size_t wsz);

struct def {
    const char *key;
    enum stype type;
    const char *dflt;           /* in normal form */
    int64_t min, max;           /* T_INT; each item of T_INT_LIST; T_TEXT*: max = characters */
    int max_items;              /* T_INT_LIST */
    const char *const *choices; /* T_ENUM, NULL-terminated */
    const char *group, *label, *help;
};

static int check_country(char *norm, bool saving, char *why, size_t wsz);
static int check_email(char *norm, bool saving, char *why, size_t wsz);
static int check_png(char *norm, bool saving, char *why, size_t wsz);
static int check_numfmt(char *norm, bool saving, char *why, size_t wsz);

/* The text settings checked further than their type (see text_check). */
static const struct {
    const char *key;
    text_check check;
} TEXT_CHECKS[] = {
    {"company.country", check_country},
    {"company.email", check_email},
    {"company.logo_path", check_png},
    {"invoice.number_format", check_numfmt},
    {"credit_note.number_format", check_numfmt},
};

static const char *const DISPUTE_CHOICES[] = {"suspend", "none", NULL};

/* clang-format off */
#define MAIL_SEND(type, what, when) \
    {"mail.send." type, T_BOOL, "1", 0, 0, 0, NULL, "Mail", "Send: " what, when}

static const struct def defs[] = {
    {"automation.renew_days_before", T_INT, "7", 0, 365, 0, NULL, "Automation",
     "Renewal invoice (days before due)",
     "A service's renewal invoice is created this many days before its next due date."},
    {"automation.suspend_days_after_due", T_INT, "3", 0, 365, 0, NULL, "Automation",
     "Suspend (days after due)",
     "A service whose renewal invoice is still unpaid this many days after its due date is "
     "suspended (reason: overdue)."},
    /* At least one day: zero would terminate a service in the same pass that suspended it. */
    {"automation.terminate_days_after_suspend", T_INT, "30", 1, 3650, 0, NULL, "Automation",
     "Terminate (days after suspension)",
     "A service suspended for an unpaid invoice is terminated after this many days; its data "
     "on the panel is deleted."},
    {"billing.dispute_action", T_ENUM, "suspend", 0, 0, 0, DISPUTE_CHOICES, "Billing",
     "On a chargeback",
     "suspend: the invoice's active services are suspended (reason: dispute) until an admin "
     "decides; none: the chargeback is only recorded."},
    {"mail.reminder_days_before", T_INT, "3", 0, 60, 0, NULL, "Mail",
     "Payment reminder (days before due)",
     "An unpaid invoice's reminder is sent this many days before its due date; 0 sends none."},
    {"mail.overdue_notice_days", T_INT_LIST, "1,5", 1, 365, 5, NULL, "Mail",
     "Overdue notices (days after due)",
     "Up to 5 distinct day counts separated by commas: an overdue notice is sent on each of "
     "those days after the due date of an unpaid invoice."},
    {"mail.admin_to", T_EMAILS, "", 0, 0, 0, NULL, "Mail", "Admin recipients",
     "Addresses, separated by commas, that receive the messages for admins (disputes, failed "
     "jobs and webhooks); empty sends none."},
    MAIL_SEND("invoice_created", "invoice created", "To the client when an invoice is issued."),
    MAIL_SEND("payment_receipt", "payment receipt", "To the client when a payment is recorded."),
    MAIL_SEND("invoice_reminder", "payment reminder",
              "To the client before an unpaid invoice is due (see the reminder days)."),
    MAIL_SEND("invoice_overdue", "overdue notice",
              "To the client after an unpaid invoice's due date (see the overdue notice days)."),
    MAIL_SEND("service_ready", "service ready",
              "To the client when a service has been set up on its panel."),
    MAIL_SEND("service_suspended", "service suspended",
              "To the client when a service is suspended."),
    MAIL_SEND("service_unsuspended", "service unsuspended",
              "To the client when a suspended service runs again."),
    MAIL_SEND("service_terminated", "service terminated",
              "To the client when a service is terminated."),
    MAIL_SEND("refund_issued", "refund issued", "To the client when a refund is recorded."),
    MAIL_SEND("admin_dispute_opened", "dispute opened (admins)",
              "To the admin recipients when a gateway reports a chargeback."),
    MAIL_SEND("admin_job_failed", "job failed (admins)",
              "To the admin recipients when a panel job has failed for good."),
    MAIL_SEND("admin_webhook_failed", "webhook failed (admins)",
              "To the admin recipients when a gateway's event could not be processed."),
    MAIL_SEND("account_verification", "e-mail verification",
              "To a new client, to confirm the e-mail address."),
    MAIL_SEND("account_password_reset", "password reset",
              "To a client who asked to reset the password."),
    /* Client accounts (issue 13). */
    {"store.signup_enabled", T_BOOL, "1", 0, 0, 0, NULL, "Store", "Sign-up open",
     "Visitors can create a client account at /client/signup (and POST /api/client/signup); "
     "off: sign-up answers that it is closed, existing clients log in as before."},
    /* The store and ordering (issue 13). */
    {"store.require_verified_email", T_BOOL, "1", 0, 0, 0, NULL, "Store",
     "Orders need a confirmed e-mail",
     "A client must confirm the e-mail address (the link in the verification message) before "
     "ordering from the store."},
    /* Tax and VAT (issue 14). */
    {"tax.eu_reverse_charge", T_BOOL, "1", 0, 0, 0, NULL, "Tax", "EU reverse charge",
     "A client with a tax id in another EU member state than the company's country pays 0 % "
     "and the invoice carries the reverse-charge note (Art. 196 Directive 2006/112/EC)."},
    /* Credit balance (issue 14). */
    {"credit.auto_apply", T_BOOL, "1", 0, 0, 0, NULL, "Billing", "Apply credit to new invoices",
     "A new invoice (an order, a renewal) is paid at once from the client's credit balance in "
     "its currency, as far as the balance covers it; off: credit is applied only from the "
     "invoice page."},
    /* Company details, invoice numbers and credit notes (issue 14). */
    {"company.name", T_TEXT, "", 0, 200, 0, NULL, "Company", "Company name",
     "The seller's name printed on invoices and credit notes."},
    {"company.address", T_TEXTAREA, "", 0, 1000, 0, NULL, "Company", "Company address",
     "The seller's postal address, one line per line, as printed on invoices."},
    {"company.country", T_TEXT, "", 0, 2, 0, NULL, "Company", "Company country",
     "The seller's country as an ISO 3166-1 alpha-2 code (e.g. DE, GB, US); empty: not set."},
    {"company.tax_id", T_TEXT, "", 0, 64, 0, NULL, "Company", "Company tax id",
     "The seller's VAT or tax number printed on invoices (e.g. DE123456789)."},
    {"company.email", T_TEXT, "", 0, 254, 0, NULL, "Company", "Company e-mail",
     "The billing contact address printed on invoices; empty: none."},
    {"company.logo_path", T_TEXT, "", 0, 1024, 0, NULL, "Company", "Logo file (PNG)",
     "Absolute path of a PNG file on the server printed at the top of PDF documents; "
     "checked to be a readable PNG when saved. Empty: no logo."},
    {"invoice.footer", T_TEXTAREA, "", 0, 1000, 0, NULL, "Invoices", "Invoice footer",
     "Text printed at the bottom of every invoice and credit note (bank details, "
     "registration)."},
    {"invoice.number_format", T_TEXT, "INV-{SEQ:6}", 0, NUMFMT_MAX_LEN, 0, NULL, "Invoices",
     "Invoice number format",
     "Tokens: {YYYY}, {YY}, {MM}, {SEQ} or {SEQ:n} (zero-padded to n digits), exactly one "
     "{SEQ}. With {YYYY} or {YY} the numbers start at 1 again each year. Numbers are "
     "gap-free and never reused."},
    {"credit_note.number_format", T_TEXT, "CN-{YYYY}-{SEQ:6}", 0, NUMFMT_MAX_LEN, 0, NULL,
     "Invoices", "Credit note number format",
     "As the invoice number format, for credit notes (their own sequence)."},
};
/* clang-format on */

#define NDEFS (sizeof defs / sizeof defs[0])

static const char SQL_ALL[] = "SELECT key, value FROM settings";
static const char SQL_UPSERT[] =
    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

static int find(const char *key)
{
    for (size_t i = 0; key != NULL && i < NDEFS; i++)
        if (strcmp(defs[i].key, key) == 0)
            return (int)i;
    return -1;
}

static const char *type_name(enum stype t)
{
    switch (t) {
    case T_INT:
        return "integer";
    case T_BOOL:
        return "bool";
    case T_ENUM:
        return "enum";
    case T_INT_LIST:
        return "integer_list";
    case T_EMAILS:
        return "email_list";
    case T_TEXT:
        return "text";
    case T_TEXTAREA:
        return "multiline_text";
    }
    return "?";
}

/* ---- messages ------------------------------------------------------------- */

/* The JSON text of v, cut to ECHO_MAX bytes on a UTF-8 boundary, into out. */
static void echo(const json_t *v, char *out, size_t sz)
{
    char *s = v != NULL ? jsonx_dump(v) : NULL;
    if (s == NULL) {
        str_copy(out, v != NULL ? "(unprintable)" : "nothing", sz);
        return;
    }
    size_t n = strlen(s);
    if (n > ECHO_MAX) {
        n = ECHO_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        s[n] = '\0';
        snprintf(out, sz, "%s…", s);
    } else {
        str_copy(out, s, sz);
    }
    free(s);
}

/* echo() of a text (not valid UTF-8 is said so, not copied). */
static void echo_text(const char *text, char *out, size_t sz)
{
    json_t *s = json_string(text);
    if (s == NULL)
        str_copy(out, "a text that is not valid UTF-8", sz);
    else
        echo(s, out, sz);
    json_decref(s);
}

/* What a value of d must be, for "expected …". */
static void expected(const struct def *d, char *out, size_t sz)
{
    switch (d->type) {
    case T_INT:
        snprintf(out, sz, "an integer from %" PRId64 " to %" PRId64, d->min, d->max);
        return;
    case T_BOOL:
        str_copy(out, "true or false", sz);
        return;
    case T_ENUM: {
        size_t used = (size_t)snprintf(out, sz, "one of");
        for (size_t i = 0; d->choices[i] != NULL && used < sz; i++)
            used += (size_t)snprintf(out + used, sz - used, "%s \"%s\"", i > 0 ? "," : "",
                                     d->choices[i]);
        return;
    }
    case T_INT_LIST:
        snprintf(out, sz,
                 "up to %d distinct whole numbers from %" PRId64 " to %" PRId64
                 " separated by commas (e.g. \"1,5\")",
                 d->max_items, d->min, d->max);
        return;
    case T_EMAILS:
        snprintf(out, sz, "up to %d e-mail addresses separated by commas", EMAILS_MAX);
        return;
    case T_TEXT:
        snprintf(out, sz, "a text of one line, at most %" PRId64 " characters", d->max);
        return;
    case T_TEXTAREA:
        snprintf(out, sz, "a text of at most %" PRId64 " characters", d->max);
        return;
    }
}

static int why_set(char *why, size_t sz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sz, fmt, ap);
    va_end(ap);
    return LUMI_EINVAL;
}

/* "expected <what d takes>, got <echo>" into why; LUMI_EINVAL. */
static int why_expected(const struct def *d, const char *got, char *why, size_t sz)
{
    char exp[200];
    expected(d, exp, sizeof exp);
    return why_set(why, sz, "expected %s, got %s", exp, got);
}

/* ---- normal forms --------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The next comma-separated item of *p, spaces around it trimmed; advances *p past the comma. */
static void next_item(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    while (is_space(*s))
        s++;
    size_t n = strcspn(s, ",");
    *p = s[n] == ',' ? s + n + 1 : s + n;
    while (n > 0 && is_space(s[n - 1]))
        n--;
    *start = s;
    *len = n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int norm_int_list(const struct def *d, const char *text, char *out, char *why, size_t wsz)
{
    int64_t v[8];
    int n = 0;
    char got[ECHO_MAX + 16];
    echo_text(text, got, sizeof got);
    /* Only spaces: the empty list (no notices); a comma at the end is forgiven. */
    const char *p = text + strspn(text, " \t");
    while (*p != '\0') {
        const char *s;
        size_t len;
        next_item(&p, &s, &len);
        int64_t x;
        if (len == 0 || str_to_i64(s, len, d->min, d->max, &x) != 0)
            return why_expected(d, got, why, wsz);
        for (int i = 0; i < n; i++)
            if (v[i] == x)
                return why_set(why, wsz, "%" PRId64 " is listed twice in %s", x, got);
        if (n == d->max_items)
            return why_set(why, wsz, "at most %d numbers, got %s", d->max_items, got);
        v[n++] = x;
    }
    qsort(v, (size_t)n, sizeof v[0], cmp_i64);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, VALUE_MAX - used, "%s%" PRId64, i ? "," : "", v[i]);
    return 0;
}

/* One bare address (no display name), by the rules the mail module sends by
 * (mail_addr_extract): a value that is more than an address is refused. */
static bool email_ok(const char *s, size_t len)
{
    char in[EMAIL_MAX + 1], bare[EMAIL_MAX + 1];
    struct lumi_err ignore;
    if (len == 0 || len > EMAIL_MAX)
        return false;
    memcpy(in, s, len);
    in[len] = '\0';
    return mail_addr_extract(in, bare, sizeof bare, &ignore) == 0 && strcmp(bare, in) == 0;
}

static int norm_emails(const struct def *d, const char *text, char *out, char *why, size_t wsz)
{
    size_t used = 0;
    int n = 0;
    out[0] = '\0';
    const char *p = text;
    while (*p != '\0') {
        const char *s;
        size_t len;
        next_item(&p, &s, &len);
        if (len == 0)
            continue; /* "a@x.com," or only spaces: nothing between the commas */
        if (!email_ok(s, len)) {
            char *one = str_ndup(s, len);
            char got[ECHO_MAX + 16];
            echo_text(one != NULL ? one : "", got, sizeof got);
            free(one);
            return why_set(why, wsz, "%s is not a valid e-mail address (expected name@example.com)",
                           got);
        }
        if (++n > EMAILS_MAX)
            return why_set(why, wsz, "at most %d addresses", EMAILS_MAX);
        used += (size_t)snprintf(out + used, VALUE_MAX - used, "%s%.*s", n > 1 ? ", " : "",
                                 (int)len, s);
    }
    (void)d;
    return 0;
}

/* ---- text settings -------------------------------------------------------- */

/* Characters (UTF-8 code points) of s. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/*
 * The normal form of a text setting: spaces at both ends trimmed; a
 * multi-line text has its line ends as "\n" (a "\r\n" becomes "\n") and
 * keeps tabs; no other control character anywhere; at most d->max
 * characters; then the key's own check (TEXT_CHECKS), also of an empty
 * text: a number format must not be empty, the optional ones may.
 */
static int norm_text(const struct def *d, const char *text, bool saving, char *out, char *why,
                     size_t wsz)
{
    bool multi = d->type == T_TEXTAREA;
    size_t used = 0;
    const char *s = text + strspn(text, multi ? " \t\r\n" : " \t");
    for (; *s != '\0' && used + 1 < VALUE_MAX; s++) {
        unsigned char c = (unsigned char)*s;
        if (multi && c == '\r' && s[1] == '\n')
            continue;
        if ((c < 0x20 && !(multi && (c == '\n' || c == '\t'))) || c == 0x7f)
            return why_set(why, wsz, "%s",
                           multi ? "contains a control character"
                                 : "must be one line without control characters");
        out[used++] = (char)c;
    }
    while (used > 0 && strchr(multi ? " \t\n" : " \t", out[used - 1]) != NULL)
        used--;
    out[used] = '\0';
    if ((int64_t)utf8_chars(out) > d->max)
        return why_set(why, wsz, "longer than %" PRId64 " characters", d->max);
    for (size_t i = 0; i < sizeof TEXT_CHECKS / sizeof TEXT_CHECKS[0]; i++)
        if (str_eq(TEXT_CHECKS[i].key, d->key))
            return TEXT_CHECKS[i].check(out, saving, why, wsz);
    return 0;
}

static int check_country(char *norm, bool saving, char *why, size_t wsz)
{
    char got[ECHO_MAX + 16];
    (void)saving;
    if (*norm == '\0')
        return 0; /* not set */
    for (char *c = norm; *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    if (country_code_valid(norm))
        return 0;
    echo_text(norm, got, sizeof got);
    return why_set(why, wsz, "expected an ISO 3166-1 alpha-2 country code (e.g. \"DE\"), got %s",
                   got);
}

static int check_email(char *norm, bool saving, char *why, size_t wsz)
{
    char got[ECHO_MAX + 16];
    (void)saving;
    if (*norm == '\0')
        return 0; /* not set */
    if (email_ok(norm, strlen(norm)))
        return 0;
    echo_text(norm, got, sizeof got);
    return why_set(why, wsz, "%s is not a valid e-mail address (expected name@example.com)", got);
}

static int check_png(char *norm, bool saving, char *why, size_t wsz)
{
    static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[24];
    struct stat st;
    if (*norm == '\0')
        return 0; /* no logo */
    if (norm[0] != '/')
        return why_set(why, wsz, "must be an absolute path (starting with /)");
    if (!saving)
        return 0;
    FILE *f = fopen(norm, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f != NULL)
            fclose(f);
        return why_set(why, wsz, "no readable file at that path");
    }
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    /* The signature, then the IHDR chunk that must come first. */
    if (n < sizeof head || memcmp(head, SIG, sizeof SIG) != 0 || memcmp(head + 12, "IHDR", 4) != 0)
        return why_set(why, wsz, "the file is not a PNG image");
    return 0;
}

static int check_numfmt(char *norm, bool saving, char *why, size_t wsz)
{
    (void)saving;
    return numfmt_check(norm, why, wsz);
}

/*
 * Checks text as a value of d and writes its normal form into out
 * (VALUE_MAX bytes). 0, or LUMI_EINVAL with what is wrong in why (without
 * the key). saving: see text_check.
 */
static int normalise_as(const struct def *d, const char *text, bool saving, char *out, char *why,
                        size_t wsz)
{
    char got[ECHO_MAX + 16];
    if (strlen(text) > INPUT_MAX)
        return why_set(why, wsz, "longer than %d characters", INPUT_MAX);
    switch (d->type) {
    case T_INT: {
        int64_t v;
        if (str_to_i64z(text, d->min, d->max, &v) != 0) {
            echo_text(text, got, sizeof got);
            return why_expected(d, got, why, wsz);
        }
        snprintf(out, VALUE_MAX, "%" PRId64, v);
        return 0;
    }
    case T_BOOL:
        if (!str_eq(text, "1") && !str_eq(text, "0")) {
            echo_text(text, got, sizeof got);
            return why_set(why, wsz, "expected \"1\" or \"0\", got %s", got);
        }
        str_copy(out, text, VALUE_MAX);
        return 0;
    case T_ENUM:
        for (size_t i = 0; d->choices[i] != NULL; i++)
            if (str_eq(text, d->choices[i])) {
                str_copy(out, text, VALUE_MAX);
                return 0;
            }
        echo_text(text, got, sizeof got);
        return why_expected(d, got, why, wsz);
    case T_INT_LIST:
        return norm_int_list(d, text, out, why, wsz);
    case T_EMAILS:
        return norm_emails(d, text, out, why, wsz);
    case T_TEXT:
    case T_TEXTAREA:
        return norm_text(d, text, saving, out, why, wsz);
    }
    return why_set(why, wsz, "unknown type");
}

/* normalise_as of a stored value (no check of the outside world). */
static int normalise(const struct def *d, const char *text, char *out, char *why, size_t wsz)
{
    return normalise_as(d, text, false, out, why, wsz);
}

/* A JSON value of the API as the normal form of d; as normalise. */
static int from_json(const struct def *d, const json_t *v, char *out, char *why, size_t wsz)
{
    char got[ECHO_MAX + 16];
    switch (d->type) {
    case T_INT:
        if (json_is_integer(v) && json_integer_value(v) >= d->min &&
            json_integer_value(v) <= d->max) {
            snprintf(out, VALUE_MAX, "%" PRId64, (int64_t)json_integer_value(v));
            return 0;
        }
        break;
    case T_BOOL:
        if (json_is_boolean(v)) {
            str_copy(out, json_is_true(v) ? "1" : "0", VALUE_MAX);
            return 0;
        }
        break;
    case T_ENUM:
    case T_INT_LIST:
    case T_EMAILS:
    case T_TEXT:
    case T_TEXTAREA:
        if (json_is_string(v)) {
            if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
                return why_set(why, wsz, "contains a NUL character");
            return normalise_as(d, json_string_value(v), true, out, why, wsz);
        }
        break;
    }
    echo(v, got, sizeof got);
    return why_expected(d, got, why, wsz);
}

/* The API's typed value of a normal form. NULL only when out of memory. */
static json_t *typed(const struct def *d, const char *norm)
{
    int64_t v = 0;
    switch (d->type) {
    case T_INT:
        str_to_i64z(norm, d->min, d->max, &v);
        return json_integer(v);
    case T_BOOL:
        return json_boolean(str_eq(norm, "1"));
    default:
        return json_string(norm);
    }
}

/* ---- reads ---------------------------------------------------------------- */

/*
 * The normal form of setting d into out (VALUE_MAX): its row's, or the
 * default when there is none. LUMI_EINVAL naming the key when the row's
 * text is invalid.
 */
static int read_one(struct db *db, const struct def *d, char *out, struct lumi_err *err)
{
    char raw[VALUE_MAX + 1], why[WHY_MAX];
    int rc = settings_get(db, d->key, raw, sizeof raw, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        str_copy(out, d->dflt, VALUE_MAX);
        return 0;
    }
    if (strlen(raw) >= VALUE_MAX)
        return err_set(err, LUMI_EINVAL, "setting '%s' in the database is too long", d->key);
    if (normalise(d, raw, out, why, sizeof why) != 0)
        return err_set(err, LUMI_EINVAL, "setting '%s' in the database is invalid: %s", d->key,
                       why);
    return 0;
}

/* The row of key, which must be of type t; LUMI_EINVAL when it is not. */
static const struct def *def_of(const char *key, int t, struct lumi_err *err)
{
    int i = find(key);
    if (i < 0 || (t >= 0 && defs[i].type != (enum stype)t)) {
        const char *what = t == T_INT ? "an integer setting" : "a setting";
        if (t == T_BOOL)
            what = "a bool setting";
        err_set(err, LUMI_EINVAL, "'%s' is not %s", key != NULL ? key : "(null)", what);
        return NULL;
    }
    return &defs[i];
}

int settings_reg_int(struct db *db, const char *key, int64_t *out, struct lumi_err *err)
{
    char v[VALUE_MAX];
    const struct def *d = def_of(key, T_INT, err);
    if (d == NULL)
        return LUMI_EINVAL;
    int rc = read_one(db, d, v, err);
    if (rc == 0)
        rc = str_to_i64z(v, d->min, d->max, out);
    return rc;
}

int settings_reg_bool(struct db *db, const char *key, bool *out, struct lumi_err *err)
{
    char v[VALUE_MAX];
    const struct def *d = def_of(key, T_BOOL, err);
    if (d == NULL)
        return LUMI_EINVAL;
    int rc = read_one(db, d, v, err);
    if (rc == 0)
        *out = str_eq(v, "1");
    return rc;
}

int settings_reg_text(struct db *db, const char *key, char *out, size_t outsz, struct lumi_err *err)
{
    char v[VALUE_MAX];
    if (outsz > 0)
        out[0] = '\0';
    const struct def *d = def_of(key, -1, err);
    if (d == NULL)
        return LUMI_EINVAL;
    int rc = read_one(db, d, v, err);
    if (rc == 0 && str_copy(out, v, outsz) >= outsz) {
        if (outsz > 0)
            out[0] = '\0';
        rc = err_set(err, LUMI_ETOOLARGE, "setting '%s' does not fit in %zu bytes", key, outsz);
    }
    return rc;
}

/* The stored text of every setting (cur[i] NULL when it has no row); caller frees each. */
static int read_all(struct db *db, char **cur, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_ALL, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    int rc;
    while ((rc = db_step(st, err)) == DB_ROW) {
        int i = find(db_col_text(st, 0));
        const char *v = db_col_text(st, 1);
        if (i < 0 || cur[i] != NULL)
            continue;
        cur[i] = str_dup(v != NULL ? v : "");
        if (cur[i] == NULL) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            break;
        }
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static void free_all(char **cur)
{
    for (size_t i = 0; i < NDEFS; i++)
        free(cur[i]);
}

/* One row of the list: the setting's description and value (typed, or the invalid raw text). */
static json_t *describe(const struct def *d, const char *raw)
{
    char norm[VALUE_MAX], why[WHY_MAX];
    json_t *value = NULL, *problem = NULL;
    if (raw == NULL) {
        value = typed(d, d->dflt);
    } else if (normalise(d, raw, norm, why, sizeof why) == 0) {
        value = typed(d, norm);
    } else {
        value = json_string(raw);
        if (value == NULL)
            value = json_string("(not valid UTF-8)");
        problem = json_string(why);
    }
    json_t *o = json_pack("{s:s s:o* s:o* s:s s:s s:s s:s}", "key", d->key, "value", value,
                          "default", typed(d, d->dflt), "type", type_name(d->type), "group",
                          d->group, "label", d->label, "help", d->help);
    if (o == NULL) {
        json_decref(problem);
        return NULL;
    }
    if (problem != NULL)
        json_object_set_new(o, "error", problem);
    if (d->type == T_ENUM) {
        json_t *c = json_array();
        for (size_t i = 0; c != NULL && d->choices[i] != NULL; i++)
            json_array_append_new(c, json_string(d->choices[i]));
        json_object_set_new(o, "choices", c);
    }
    if (d->type == T_INT || d->type == T_INT_LIST) {
        json_object_set_new(o, "min", json_integer(d->min));
        json_object_set_new(o, "max", json_integer(d->max));
    }
    if (d->type == T_INT_LIST)
        json_object_set_new(o, "max_items", json_integer(d->max_items));
    if (d->type == T_TEXT || d->type == T_TEXTAREA)
        json_object_set_new(o, "max_length", json_integer(d->max));
    return o;
}

json_t *settings_reg_list(struct db *db, struct lumi_err *err)
{
    struct lumi_err local;
    char *cur[NDEFS] = {0};
    json_t *rows = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    int rc = read_all(db, cur, err);
    if (rc == 0) {
        rows = json_array();
        for (size_t i = 0; rows != NULL && i < NDEFS; i++)
            if (json_array_append_new(rows, describe(&defs[i], cur[i])) != 0) {
                json_decref(rows);
                rows = NULL;
            }
    }
    free_all(cur);
    json_t *out = rows != NULL ? json_pack("{s:o}", "data", rows) : NULL;
    if (out == NULL && rc == 0)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return out;
}

/* ---- update --------------------------------------------------------------- */

/* Appends "<key>: <why>" to the problems in msg, separated by "; ", while it fits whole. */
static void add_problem(char *msg, size_t sz, const char *key, const char *why)
{
    size_t used = strlen(msg);
    int n = snprintf(msg + used, sz - used, "%s%s: %s", used > 0 ? "; " : "", key, why);
    if (n < 0 || (size_t)n >= sz - used)
        msg[used] = '\0';
}

struct change {
    bool set;
    char value[VALUE_MAX]; /* the normal form asked for */
};

/* Validates every member of input into ch; LUMI_EINVAL naming each bad key (nothing else done). */
static int validate(const json_t *input, struct change *ch, struct lumi_err *err)
{
    char msg[LUMI_ERR_MSG_MAX] = "", why[WHY_MAX];
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)input, key, v)
    {
        if (find(key) < 0) {
            /* A key that looks like one is named as it is; anything else quoted and cut. */
            char k[ECHO_MAX + 16];
            if (strlen(key) <= ECHO_MAX && strspn(key, KEY_CHARS) == strlen(key) && *key != '\0')
                str_copy(k, key, sizeof k);
            else
                echo_text(key, k, sizeof k);
            add_problem(msg, sizeof msg, k, "no such setting");
        }
    }
    for (size_t i = 0; i < NDEFS; i++) {
        v = json_object_get(input, defs[i].key);
        if (v == NULL)
            continue;
        if (from_json(&defs[i], v, ch[i].value, why, sizeof why) != 0)
            add_problem(msg, sizeof msg, defs[i].key, why);
        else
            ch[i].set = true;
    }
    return msg[0] != '\0' ? err_set(err, LUMI_EINVAL, "%s", msg) : 0;
}

/*
 * Inside the open transaction: writes each asked-for value that differs from
 * the current one and records {key: {old, new}} into changes.
 */
static int write_changes(struct db *db, const struct change *ch, json_t *changes,
                         struct lumi_err *err)
{
    char *cur[NDEFS] = {0};
    char now[UTC_ISO_LEN], norm[VALUE_MAX], why[WHY_MAX];
    utc_now_iso(now);
    int rc = read_all(db, cur, err);
    for (size_t i = 0; rc == 0 && i < NDEFS; i++) {
        if (!ch[i].set)
            continue;
        const struct def *d = &defs[i];
        json_t *old;
        bool same;
        if (cur[i] == NULL) {
            old = typed(d, d->dflt);
            same = str_eq(d->dflt, ch[i].value);
        } else if (normalise(d, cur[i], norm, why, sizeof why) == 0) {
            old = typed(d, norm);
            same = str_eq(norm, ch[i].value);
        } else {
            /* An invalid stored text (edited by hand): any valid value replaces it. */
            old = json_string(cur[i]);
            if (old == NULL)
                old = json_null();
            same = false;
        }
        if (same) {
            json_decref(old);
            continue;
        }
        const char *params[] = {d->key, ch[i].value, now};
        rc = db_execp(db, SQL_UPSERT, 3, params, NULL, err);
        settings_forget();
        if (rc == 0 && json_object_set_new(
                           changes, d->key,
                           json_pack("{s:o s:o}", "old", old, "new", typed(d, ch[i].value))) != 0)
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
        else if (rc != 0)
            json_decref(old);
    }
    free_all(cur);
    return rc;
}

json_t *settings_reg_update(struct db *db, const struct audit_actor *actor, const json_t *input,
                            struct lumi_err *err)
{
    struct lumi_err local;
    struct change *ch = NULL;
    json_t *changes = NULL, *out = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!json_is_object(input)) {
        err_set(err, LUMI_EINVAL, "settings must be a JSON object of key: value");
        return NULL;
    }
    if (db_in_tx(db)) {
        err_set(err, LUMI_EINTERNAL, "settings_reg_update opens its own transaction");
        return NULL;
    }
    ch = calloc(NDEFS, sizeof *ch);
    changes = json_object();
    int rc = ch != NULL && changes != NULL ? 0 : err_set(err, LUMI_ENOMEM, "out of memory");
    if (rc == 0)
        rc = validate(input, ch, err);
    if (rc != 0)
        goto out;
    rc = db_begin(db, err);
    if (rc != 0)
        goto out;
    rc = db_tx_lock(db, SETTINGS_LOCK_KEY, err);
    if (rc == 0)
        rc = write_changes(db, ch, changes, err);
    if (rc == 0 && json_object_size(changes) > 0) {
        json_t *details = json_pack("{s:O}", "changes", changes);
        rc = details != NULL
                 ? audit_append(db, actor, "SETTINGS_UPDATED", "settings", NULL, details, NULL, err)
                 : err_set(err, LUMI_ENOMEM, "out of memory");
        json_decref(details);
    }
    if (rc == 0) {
        out = settings_reg_list(db, err);
        rc = out != NULL ? 0 : err->code;
    }
    if (rc == 0 && json_object_size(changes) > 0)
        rc = db_commit(db, err);
    db_rollback(db); /* nothing to keep when nothing changed; a no-op after a commit */
    if (rc != 0) {
        json_decref(out);
        out = NULL;
    }
out:
    json_decref(changes);
    free(ch);
    return out;
}

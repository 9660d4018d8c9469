/*
 * money.c — ISO 4217 currencies and exact decimal text <-> minor units (see money.h).
 *
 * Owns the currency table (constant) and the amount parser/formatter. No state,
 * no locale, no floating point: every function is thread-safe. Amounts are
 * accumulated as negative numbers so INT64_MIN is reachable without overflow.
 */
#include "core/money.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct currency {
    char code[4]; /* lower case */
    int exponent;
};

/* Codes Lumi accepts. The exponent is the ISO 4217 minor unit; currencies
 * whose minor unit is not in practical use (HUF, CZK) keep the ISO value 2
 * because Stripe and PayPal both count them in hundredths. */
static const struct currency currencies[] = {
    {"aed", 2}, {"ars", 2}, {"aud", 2}, {"bgn", 2}, {"bhd", 3}, {"brl", 2}, {"cad", 2}, {"chf", 2},
    {"clp", 0}, {"cny", 2}, {"cop", 2}, {"czk", 2}, {"dkk", 2}, {"egp", 2}, {"eur", 2}, {"gbp", 2},
    {"hkd", 2}, {"huf", 2}, {"idr", 2}, {"ils", 2}, {"inr", 2}, {"isk", 0}, {"jod", 3}, {"jpy", 0},
    {"krw", 0}, {"kwd", 3}, {"mxn", 2}, {"myr", 2}, {"ngn", 2}, {"nok", 2}, {"nzd", 2}, {"omr", 3},
    {"php", 2}, {"pkr", 2}, {"pln", 2}, {"ron", 2}, {"sar", 2}, {"sek", 2}, {"sgd", 2}, {"thb", 2},
    {"tnd", 3}, {"try", 2}, {"twd", 2}, {"uah", 2}, {"ugx", 0}, {"usd", 2}, {"vnd", 0}, {"xaf", 0},
    {"xof", 0}, {"zar", 2},
};

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static const struct currency *find_currency(const char *code)
{
    if (code == NULL || strlen(code) != 3)
        return NULL;
    char low[4] = {ascii_lower(code[0]), ascii_lower(code[1]), ascii_lower(code[2]), '\0'};
    for (size_t i = 0; i < sizeof currencies / sizeof currencies[0]; i++)
        if (memcmp(currencies[i].code, low, 4) == 0)
            return &currencies[i];
    return NULL;
}

int money_exponent(const char *currency)
{
    const struct currency *c = find_currency(currency);
    return c ? c->exponent : -1;
}

bool money_currency_valid(const char *currency)
{
    return find_currency(currency) != NULL;
}

int money_currency_normalize(const char *currency, char out[4])
{
    const struct currency *c = find_currency(currency);
    if (c == NULL)
        return LUMI_EINVAL;
    memcpy(out, c->code, 4);
    return 0;
}

/* acc = acc * 10 - digit, in the negative range; false on overflow. */
static bool push_digit(int64_t *acc, int digit)
{
    if (*acc < (INT64_MIN + digit) / 10)
        return false;
    *acc = *acc * 10 - digit;
    return true;
}

/* Only a plausible code is quoted back, so the message stays valid UTF-8. */
static bool printable_code(const char *code)
{
    if (code == NULL || strlen(code) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (code[i] < 0x21 || code[i] >= 0x7f || code[i] == '\'')
            return false;
    return true;
}

int money_parse(const char *text, const char *currency, int64_t *minor, struct lumi_err *err)
{
    const struct currency *c = find_currency(currency);
    if (c == NULL && printable_code(currency))
        return err_set(err, LUMI_EINVAL, "unknown currency '%s'", currency);
    if (c == NULL)
        return err_set(err, LUMI_EINVAL, "unknown currency");
    if (text == NULL)
        return err_set(err, LUMI_EINVAL, "amount is required");

    const char *p = text;
    bool neg = (*p == '-');
    if (neg)
        p++;

    /* Grammar: -?DIGITS(.DIGITS)? — every part checked before any arithmetic
     * so a malformed amount gets the format message, not the range one. */
    size_t int_len = strspn(p, "0123456789");
    const char *frac = p + int_len;
    size_t frac_len = 0;
    bool has_point = (*frac == '.');
    if (has_point) {
        frac++;
        frac_len = strspn(frac, "0123456789");
    }
    if (int_len == 0 || (has_point && frac_len == 0) || frac[frac_len] != '\0')
        return err_set(err, LUMI_EINVAL, "amount must be a decimal number like %s",
                       c->exponent == 0 ? "1500" : "15.00");
    if (frac_len > (size_t)c->exponent)
        return err_set(err, LUMI_EINVAL, "amount has more than %d decimal places for %c%c%c",
                       c->exponent, c->code[0] - 32, c->code[1] - 32, c->code[2] - 32);

    int64_t acc = 0;
    bool ok = true;
    for (size_t i = 0; i < int_len && ok; i++)
        ok = push_digit(&acc, p[i] - '0');
    for (size_t i = 0; i < frac_len && ok; i++)
        ok = push_digit(&acc, frac[i] - '0');
    for (size_t i = frac_len; i < (size_t)c->exponent && ok; i++)
        ok = push_digit(&acc, 0);
    if (ok && !neg) {
        ok = (acc != INT64_MIN);
        acc = ok ? -acc : 0;
    }
    if (!ok)
        return err_set(err, LUMI_EINVAL, "amount is out of range");
    *minor = acc;
    return 0;
}

int money_format(int64_t minor, const char *currency, char *out, size_t outsz)
{
    const struct currency *c = find_currency(currency);
    if (c == NULL || out == NULL || outsz == 0)
        return LUMI_EINVAL;
    /* Magnitude as unsigned: -(INT64_MIN) does not fit in int64_t. */
    uint64_t mag = minor < 0 ? (uint64_t)(-(minor + 1)) + 1u : (uint64_t)minor;
    uint64_t scale = 1;
    for (int i = 0; i < c->exponent; i++)
        scale *= 10;
    const char *sign = minor < 0 ? "-" : "";
    int n;
    if (c->exponent == 0)
        n = snprintf(out, outsz, "%s%" PRIu64, sign, mag);
    else
        n = snprintf(out, outsz, "%s%" PRIu64 ".%0*" PRIu64, sign, mag / scale, c->exponent,
                     mag % scale);
    if (n < 0 || (size_t)n >= outsz) {
        out[0] = '\0';
        return LUMI_EINVAL;
    }
    return 0;
}

void money_format_text(int64_t minor, const char *currency, char *out, size_t outsz)
{
    char num[64], cur[4] = "";
    if (currency == NULL || money_format(minor, currency, num, sizeof num) != 0) {
        snprintf(out, outsz, "%" PRId64, minor);
        return;
    }
    for (size_t i = 0; i < 3 && currency[i] != '\0'; i++) {
        char c = currency[i];
        cur[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
        cur[i + 1] = '\0';
    }
    snprintf(out, outsz, "%s %s", num, cur);
}

/*
 * numfmt.c — parsing and rendering of document number formats (see numfmt.h).
 *
 * One scanner (next_piece) walks a format piece by piece — a literal
 * character or a token — and both the check and the rendering use it, so
 * what is accepted is exactly what can be printed.
 */
#include "core/numfmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define SEQ_PAD_MAX 12

enum piece { P_END, P_CHAR, P_YYYY, P_YY, P_MM, P_SEQ, P_BAD };

/* The piece at *p (its zero padding into *pad for P_SEQ); advances *p past it. */
static enum piece next_piece(const char **p, int *pad)
{
    const char *s = *p;
    *pad = 0;
    if (*s == '\0')
        return P_END;
    if (*s != '{') {
        *p = s + 1;
        return *s == '}' ? P_BAD : P_CHAR;
    }
    static const struct {
        const char *text;
        enum piece kind;
    } fixed[] = {{"{YYYY}", P_YYYY}, {"{YY}", P_YY}, {"{MM}", P_MM}, {"{SEQ}", P_SEQ}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        size_t n = strlen(fixed[i].text);
        if (strncmp(s, fixed[i].text, n) == 0) {
            *p = s + n;
            return fixed[i].kind;
        }
    }
    if (strncmp(s, "{SEQ:", 5) == 0) {
        const char *d = s + 5;
        int n = 0;
        while (*d >= '0' && *d <= '9' && n <= SEQ_PAD_MAX)
            n = n * 10 + (*d++ - '0');
        if (*d == '}' && d > s + 5 && n >= 1 && n <= SEQ_PAD_MAX) {
            *pad = n;
            *p = d + 1;
            return P_SEQ;
        }
    }
    *p = s + 1;
    return P_BAD;
}

int numfmt_check(const char *fmt, char *why, size_t whysz)
{
    if (fmt == NULL || *fmt == '\0') {
        snprintf(why, whysz, "empty (it needs a {SEQ} or {SEQ:n} token)");
        return LUMI_EINVAL;
    }
    if (strlen(fmt) > NUMFMT_MAX_LEN) {
        snprintf(why, whysz, "longer than %d characters", NUMFMT_MAX_LEN);
        return LUMI_EINVAL;
    }
    for (const char *c = fmt; *c != '\0'; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
            snprintf(why, whysz, "only printable ASCII characters without spaces are allowed");
            return LUMI_EINVAL;
        }
    int seqs = 0, pad;
    const char *p = fmt;
    for (enum piece k; (k = next_piece(&p, &pad)) != P_END;) {
        if (k == P_BAD) {
            snprintf(why, whysz,
                     "unknown token or stray brace (known: {YYYY}, {YY}, {MM}, {SEQ}, {SEQ:n} "
                     "with n from 1 to %d)",
                     SEQ_PAD_MAX);
            return LUMI_EINVAL;
        }
        seqs += k == P_SEQ;
    }
    if (seqs != 1) {
        snprintf(why, whysz, "needs exactly one {SEQ} or {SEQ:n} token, found %d", seqs);
        return LUMI_EINVAL;
    }
    return 0;
}

bool numfmt_per_year(const char *fmt)
{
    int pad;
    const char *p = fmt;
    for (enum piece k; (k = next_piece(&p, &pad)) != P_END;)
        if (k == P_YYYY || k == P_YY)
            return true;
    return false;
}

int numfmt_render(const char *fmt, int year, int month, int64_t seq, char *out, size_t outsz)
{
    char why[160];
    if (numfmt_check(fmt, why, sizeof why) != 0)
        return LUMI_EINVAL;
    size_t used = 0;
    int pad;
    const char *p = fmt;
    for (enum piece k; (k = next_piece(&p, &pad)) != P_END;) {
        int n = 0;
        size_t room = outsz - used;
        switch (k) {
        case P_CHAR:
            n = snprintf(out + used, room, "%c", p[-1]);
            break;
        case P_YYYY:
            n = snprintf(out + used, room, "%04d", year);
            break;
        case P_YY:
            n = snprintf(out + used, room, "%02d", year % 100);
            break;
        case P_MM:
            n = snprintf(out + used, room, "%02d", month);
            break;
        case P_SEQ:
            n = snprintf(out + used, room, "%0*" PRId64, pad, seq);
            break;
        default:
            return LUMI_EINVAL;
        }
        if (n < 0 || (size_t)n >= room)
            return LUMI_ETOOLARGE;
        used += (size_t)n;
    }
    return 0;
}

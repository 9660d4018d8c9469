/*
 * numfmt.h — document number formats ("INV-{YYYY}-{SEQ:6}"), pure text work.
 *
 * Tokens: {YYYY} the year (4 digits), {YY} its last two digits, {MM} the
 * month (01–12), {SEQ} the sequence number, {SEQ:n} zero-padded to n digits
 * (n from 1 to 12). Anything else is printed as it is. A valid format is at
 * most NUMFMT_MAX_LEN characters of printable ASCII, has exactly one {SEQ…}
 * and no other braces than those of the known tokens.
 *
 * Used by the settings registry (validation when saved) and by
 * billing/docnum (rendering); no database, no state, thread-safe.
 */
#ifndef LUMI_CORE_NUMFMT_H
#define LUMI_CORE_NUMFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NUMFMT_MAX_LEN 40
#define NUMFMT_OUT_MAX 96 /* a rendered number, NUL included */

/** 0 when fmt is a valid format, else LUMI_EINVAL with what is wrong in why. */
int numfmt_check(const char *fmt, char *why, size_t whysz);

/** fmt (valid) contains {YYYY} or {YY}: its sequence starts again each year. */
bool numfmt_per_year(const char *fmt);

/**
 * fmt rendered for year, month and seq into out; 0, or LUMI_EINVAL when fmt
 * is not valid, LUMI_ETOOLARGE when the result does not fit in outsz.
 */
int numfmt_render(const char *fmt, int year, int month, int64_t seq, char *out, size_t outsz);

#endif

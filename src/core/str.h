/*
 * str.h — small string helpers and the one bounded number parser.
 *
 * atoi/strtol-style parsing of outside input goes through str_to_i64 only:
 * it accepts exactly an optional '-' and decimal digits, and checks bounds.
 */
#ifndef LUMI_CORE_STR_H
#define LUMI_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Parses s[0..len) as a decimal integer in [min, max]. No whitespace, no '+',
 * no leading zeros other than "0" itself are required to be rejected, but an
 * empty string, any non-digit, or overflow are. Returns 0 or LUMI_EINVAL.
 */
int str_to_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

/** Same for a NUL-terminated string (NULL → LUMI_EINVAL). */
int str_to_i64z(const char *s, int64_t min, int64_t max, int64_t *out);

/** strlcpy semantics: copies at most size-1 bytes, always terminates (size > 0),
 *  returns strlen(src) so truncation is `ret >= size`. */
size_t str_copy(char *dst, const char *src, size_t size);

/** strdup / strndup that return NULL only when out of memory (NULL in → NULL out). */
char *str_dup(const char *s);
char *str_ndup(const char *s, size_t n);

/**
 * The stretch of s from its first ASCII digit to its last, into *len, when it
 * is at least three bytes and less than all of s; else NULL. Text searches
 * ask a trigram index for it alone: in most searched text the trigrams of
 * words are in nearly every row, those of an id or an amount are not.
 */
const char *str_digit_span(const char *s, size_t *len);

/** NULL-safe equality; two NULLs are equal. */
bool str_eq(const char *a, const char *b);

/** ASCII case-insensitive equality (NULL-safe). */
bool str_eq_nocase(const char *a, const char *b);

bool str_starts_with(const char *s, const char *prefix);

/** Lower-cases ASCII letters in place; returns s. */
char *str_lower(char *s);

/** True if s is non-NULL and has at least one non-space character. */
bool str_present(const char *s);

/** The value of one hex digit (either case), or -1. */
int hex_digit(char c);

/**
 * Percent-decodes s[0..len) into a new string (caller frees): %XX becomes the
 * byte, and '+' a space when plus_is_space (form and query encoding); a '%'
 * not followed by two hex digits stays as it is. NULL only when out of memory.
 */
char *str_url_decode(const char *s, size_t len, bool plus_is_space);

/** Lower-case hex of n bytes into out (needs 2n+1 bytes). Returns 0 or LUMI_EINVAL if too small. */
int hex_encode(const void *p, size_t n, char *out, size_t outsz);

/** Decodes hex (either case) into out; returns bytes written or LUMI_EINVAL. */
int hex_decode(const char *hex, size_t len, void *out, size_t outsz);

#endif

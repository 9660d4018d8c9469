/*
 * country.h — ISO 3166-1 alpha-2 country codes (the officially assigned ones).
 * Pure and thread-safe.
 */
#ifndef LUMI_CORE_COUNTRY_H
#define LUMI_CORE_COUNTRY_H

#include <stdbool.h>

/** s is exactly an assigned ISO 3166-1 alpha-2 code, upper-case ("DE", "GB"). */
bool country_code_valid(const char *s);

#endif

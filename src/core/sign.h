/*
 * sign.h — short signatures made with LUMI_SECRET_KEY, for values the server
 * hands to a browser and must recognise as its own when they come back (the
 * flash-message cookie, the Stripe return token).
 *
 * Each purpose ("flash", "stripe-return", …) signs with its own key, derived
 * from LUMI_SECRET_KEY as HMAC-SHA256(secret, "lumi-sign:" purpose), so a
 * signature made for one purpose is worthless for another. The signature of
 * text is HMAC-SHA256(purpose key, text) as 64 lower-case hex digits.
 * Thread-safe; no state.
 */
#ifndef LUMI_CORE_SIGN_H
#define LUMI_CORE_SIGN_H

#include <stdbool.h>

#define SIGN_HEX_LEN 65 /* 64 hex digits and the NUL */

/** Signs text for purpose into out; 0, or < 0 when LUMI_SECRET_KEY is not loaded. */
int sign_hex(const char *purpose, const char *text, char out[SIGN_HEX_LEN]);

/** Whether hex is text's signature for purpose (constant time); false without a key. */
bool sign_check(const char *purpose, const char *text, const char *hex);

#endif

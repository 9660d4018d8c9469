/*
 * flash.h — the one-time message a page shows after a redirect ("Server
 * saved", "The payment did not go through"), carried by the server, never
 * by the URL (issue 17, finding 9).
 *
 * A flash is a short-lived cookie, lumi_flash=EXPIRY.KIND.HEX(MESSAGE).SIG,
 * signed with a key derived from LUMI_SECRET_KEY (core/sign.h): a link to
 * /admin/servers?error=<anything> shows nothing, and a browser can show only
 * what this server said to it in the last FLASH_TTL_S seconds. The page that
 * shows it deletes it.
 */
#ifndef LUMI_WEB_FLASH_H
#define LUMI_WEB_FLASH_H

#include <jansson.h>

#include "web/http.h"

#define FLASH_COOKIE "lumi_flash"
#define FLASH_TTL_S 120
#define FLASH_TEXT_MAX 300 /* bytes of message kept (cut on a UTF-8 boundary) */

/**
 * Sets the flash cookie: kind "ok" | "error" | "warn" | "info", msg the
 * server's own text (copied; NULL or "" sets nothing).
 */
void flash_set(struct web_resp *resp, const char *kind, const char *msg);

/**
 * The flash this browser carries, as {"kind", "message"} (new reference), or
 * NULL when there is none or it is forged or expired. A present cookie is
 * deleted either way.
 */
json_t *flash_take(struct web_req *req, struct web_resp *resp);

#endif

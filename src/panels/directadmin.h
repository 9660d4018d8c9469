/*
 * directadmin.h — the DirectAdmin client: `panel_directadmin` (see panel.h)
 * plus the DirectAdmin-only operations and the pure answer parsers.
 *
 * Two API versions, chosen per server by panel_conn.api_version:
 *   v1  the legacy CMD_API_* commands with url-encoded answers
 *       (`error=1` is a failure even at HTTP 200, lists as `list[]=`,
 *       records as `key=value&…`, values possibly HTML-entity encoded);
 *   v2  (default) the same legacy commands with `json=yes`, plus DirectAdmin's
 *       JSON API where it has the operation (/api/session, /api/users/{u}/config,
 *       /api/db-manage/create-db-with-user).
 * Account create, suspend, delete, password and package changes exist only as
 * legacy commands, so both versions use them.
 *
 * The account name is Lumi's key for the account: da_username_for() derives it
 * from the service, the caller stores it before `create`, and `find` adopts an
 * existing account only when its email and domain are the service's.
 *
 * All functions are reentrant (no global state); authentication is HTTP Basic
 * with panel_conn.username/password, and "admin|user" (login-as) for the
 * commands that act inside a user's account. Requests share a budget of
 * 120 per minute per server ("panel:<server_id>").
 */
#ifndef LUMI_PANELS_DIRECTADMIN_H
#define LUMI_PANELS_DIRECTADMIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_client.h"
#include "panels/panel.h"

/** Longest account name Lumi generates (DirectAdmin's usual limit). */
#define DA_USERNAME_MAX 10

/**
 * Writes the account name for a service into out (NUL-terminated): lowercase
 * letters and digits, starting with a letter, at most DA_USERNAME_MAX
 * characters. Letters come from seed (a domain or an e-mail address; NULL or
 * letter-less seeds give "u"), the rest encodes service_id, so two service
 * ids never give the same name whatever the seeds. Deterministic.
 * Returns 0, or -1 when service_id is not in [1, 36^8).
 */
int da_username_for(int64_t service_id, const char *seed, char out[DA_USERNAME_MAX + 1]);

/**
 * Parses a legacy url-encoded answer body[0..len) into a new JSON object
 * (*out, caller decrefs): `k=v` pairs separated by '&'; `name[]=v` pairs
 * collect into an array under "name"; a repeated plain key keeps the last
 * value. HTML entities (&#61; &#x3D; &amp; &lt; &gt; &quot; &apos;) are
 * decoded before percent-decoding ('+' is a space), and an entity never
 * separates pairs, so `a=x&#38;y` is {"a":"x&y"}. Values are always valid
 * UTF-8 (invalid bytes become U+FFFD); empty keys are skipped.
 * Returns 0, LUMI_ETOOLARGE over 8 MiB, or LUMI_ENOMEM.
 */
int da_parse_urlencoded(const char *body, size_t len, json_t **out);

/** The dialect of a server (panel_conn.api_version: "v1", else v2). */
enum da_api { DA_API_V1 = 1, DA_API_V2 = 2 };

/** What a legacy command answers when it succeeds. */
enum da_shape {
    DA_ACTION, /* a result: out = {"text": "...", "details": "..."} */
    DA_LIST,   /* a list of names: out = ["a", "b"] */
    DA_RECORD, /* key/value pairs: out = {"k": "v", ...} (v2 values may be any JSON) */
};

/**
 * Reads the 2xx body[0..len) of the legacy command `cmd` (named in messages)
 * in dialect api: v1 url-encoded via da_parse_urlencoded, v2 the `json=yes`
 * JSON ({"success":…,"result":…} / {"error":…,"result":…}, arrays,
 * objects). A reported failure (v1 `error=1`, v2 a non-empty "error") is
 * HC_INVALID with the panel's text and details; an answer of the wrong shape
 * or not from DirectAdmin is HC_BAD_RESPONSE. Returns 0 with *out (new
 * reference) or -1 with e filled. Pure: no I/O.
 */
int da_read_answer(enum da_api api, const char *cmd, const char *body, size_t len,
                   enum da_shape shape, json_t **out, struct hc_error *e);

/*
 * DirectAdmin-only operations. `c` as for panel_ops; strings borrowed;
 * JSON results are new references (caller decrefs) or NULL with e filled.
 */

/**
 * One account as {"username","email","domain","package","suspended": bool,
 * "config": {the panel's own record}}; HC_NOT_FOUND when there is no such
 * account. v2 reads the JSON API (camelCase config), v1 CMD_API_SHOW_USER_CONFIG.
 */
json_t *da_account_info(const struct panel_conn *c, const char *username, struct hc_error *e);

/** Every account's name (CMD_API_SHOW_ALL_USERS), as a JSON array of strings. */
json_t *da_list_accounts(const struct panel_conn *c, struct hc_error *e);

/** The user package names (CMD_API_PACKAGES_USER), as a JSON array of strings. */
json_t *da_list_packages(const struct panel_conn *c, struct hc_error *e);

/** Puts the account on another package (CMD_API_MODIFY_USER action=package). */
int da_change_package(const struct panel_conn *c, const char *username, const char *package,
                      struct hc_error *e);

/** The account's domains (CMD_API_SHOW_DOMAINS, logged in as the user), as a JSON array. */
json_t *da_list_domains(const struct panel_conn *c, const char *username, struct hc_error *e);

/**
 * Creates database "<username>_<name>" with user "<username>_<dbuser>" and
 * password, logged in as the user (v1 CMD_API_DATABASES, v2
 * /api/db-manage/create-db-with-user). name and dbuser are given without
 * the prefix.
 */
int da_create_database(const struct panel_conn *c, const char *username, const char *name,
                       const char *dbuser, const char *password, struct hc_error *e);

#endif

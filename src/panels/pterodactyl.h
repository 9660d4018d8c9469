/*
 * pterodactyl.h — the Pterodactyl Application API client (panel 1.x).
 *
 * `panel_pterodactyl` (panel.h) is what the ProvisioningService uses; the
 * ptero_* calls below are the rest of the API Lumi needs (admin pages,
 * product set-up) and the pure parsers the fuzz target drives.
 *
 * Every call goes to <url>/api/application with the Application API key as a
 * Bearer token, shares the per-server rate budget "panel:<server_id>" (240
 * requests a minute, Pterodactyl's default), and reports failures as a
 * struct hc_error whose message quotes Pterodactyl's own reasons
 * ("Pterodactyl refused the request: limits.io: The limits.io must be
 * between 10 and 1000."). Server ids are the panel's numeric ids.
 * Thread-safe: no state beyond the arguments.
 */
#ifndef LUMI_PANELS_PTERODACTYL_H
#define LUMI_PANELS_PTERODACTYL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_client.h"
#include "panels/panel.h"

/** Requests per minute Lumi allows itself per Pterodactyl server. */
#define PTERO_RATE_PER_MINUTE 240

/** Page size Lumi asks for when it walks a paginated list. */
#define PTERO_PER_PAGE 100

/* ---- pure parsers (no I/O; safe on any bytes) ---- */

/**
 * Joins the entries of a Pterodactyl error body
 * `{"errors":[{"code","status","detail","meta":{"source_field","rule"}}]}`
 * into out as "field: detail; detail; …" (control characters replaced,
 * cut on a UTF-8 boundary). Returns the number of entries used (≥ 1), or 0
 * when body is not that shape (out is then ""). outsz must be > 0.
 */
int ptero_parse_errors(const char *body, size_t len, char *out, size_t outsz);

/**
 * Reads a server item `{"object":"server","attributes":{…}}` into out:
 * external_id = the panel's server id, panel_user_id = attributes.user,
 * suspended from `suspended`/`status`; username is left empty.
 * 0, or -1 with e (HC_BAD_RESPONSE) when the answer is not a server.
 */
int ptero_parse_server(const char *body, size_t len, struct panel_result *out, struct hc_error *e);

/**
 * Reads one page of a list `{"object":"list","data":[…],"meta":{"pagination":{…}}}`:
 * appends each item's attributes (new references) to `items` (an array) and
 * sets the page numbers (1 of 1 when there is no meta block, as for eggs).
 * 0, or -1 with e (HC_BAD_RESPONSE); on error `items` may hold part of the page.
 */
int ptero_parse_list(const char *body, size_t len, json_t *items, int64_t *current_page,
                     int64_t *total_pages, struct hc_error *e);

/**
 * The `environment` for a server of an egg: every variable of the egg's
 * attributes (fetched with include=variables) at its default_value (null
 * becomes ""), then each member of `overrides` (product config `environment`,
 * may be NULL) on top. New reference, or NULL with e (HC_BAD_RESPONSE when
 * the egg is malformed, HC_INVALID when overrides is not an object).
 */
json_t *ptero_egg_environment(const json_t *egg_attributes, const json_t *overrides,
                              struct hc_error *e);

/**
 * The panel username Lumi gives a client's user: derived deterministically
 * from the e-mail's local part (without a +tag) and the client key
 * ("john.doe_42"), valid under Pterodactyl's p_username rule
 * (^[a-z0-9][\w.-]+[a-z0-9]$, lower case, at most 191 characters, here
 * capped by outsz). Either input may be NULL.
 * Returns 0, or -1 when outsz is under 4.
 */
int ptero_username(const char *email, const char *client_key, char *out, size_t outsz);

/* ---- Application API calls beyond panel_ops ---- */

/** GET /servers/{id}: the server's attributes (new reference), or NULL with e. */
json_t *ptero_get_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e);

/** POST /servers/{id}/suspend, /unsuspend (both idempotent on the panel). 0 or -1 with e. */
int ptero_suspend_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e);
int ptero_unsuspend_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e);

/**
 * DELETE /servers/{id}, or /servers/{id}/force when force (ignores the
 * node's daemon). 0, or -1 with e (HC_NOT_FOUND when it is already gone).
 */
int ptero_delete_server(const struct panel_conn *c, int64_t server_id, bool force,
                        struct hc_error *e);

/** POST /servers/{id}/reinstall (status becomes "installing"). 0 or -1 with e. */
int ptero_reinstall_server(const struct panel_conn *c, int64_t server_id, struct hc_error *e);

/**
 * PATCH /servers/{id}/build with `build` (borrowed; the fields of the
 * contract: memory, swap, disk, io, cpu, threads, feature_limits, …). When
 * `build` has no "allocation", the server's current one is read first.
 * The updated attributes (new reference), or NULL with e.
 */
json_t *ptero_update_build(const struct panel_conn *c, int64_t server_id, const json_t *build,
                           struct hc_error *e);

/** PATCH /servers/{id}/startup with `startup` (borrowed: startup, environment, egg, image,
 *  skip_scripts). The updated attributes (new reference), or NULL with e. */
json_t *ptero_update_startup(const struct panel_conn *c, int64_t server_id, const json_t *startup,
                             struct hc_error *e);

/**
 * Lists as arrays of attribute objects (new reference), every page followed
 * (meta.pagination), or NULL with e. Eggs come with their variables.
 */
json_t *ptero_list_servers(const struct panel_conn *c, struct hc_error *e);
json_t *ptero_list_locations(const struct panel_conn *c, struct hc_error *e);
json_t *ptero_list_nests(const struct panel_conn *c, struct hc_error *e);
json_t *ptero_list_eggs(const struct panel_conn *c, int64_t nest_id, struct hc_error *e);

/** GET /nests/{nest}/eggs/{egg}?include=variables: the egg's attributes (new reference). */
json_t *ptero_get_egg(const struct panel_conn *c, int64_t nest_id, int64_t egg_id,
                      struct hc_error *e);

#endif

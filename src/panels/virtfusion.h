/*
 * virtfusion.h — the VirtFusion (API v1) client: `panel_virtfusion` (see
 * panel.h) plus the VPS operations that the common interface has no slot for
 * (power, reinstall, console, statistics, ISO media, listings).
 *
 * Every call goes to `<conn->url>/api/v1` with the Bearer token, JSON in and
 * out, and the per-panel rate limit "panel:<server_id>" (120 requests per
 * minute, i.e. one every 0.5 s; none when server_id is 0, a panel not saved
 * yet). Failures come back as struct hc_error with VirtFusion's own words
 * where it gave any: 401 → auth "VirtFusion rejected the API token", 403 →
 * auth (token scope), 404 → not_found with the panel's `msg`, 422 → invalid
 * with its messages, 423 → upstream (retryable: "server is locked by a
 * running task"), 429 → rate_limited, 5xx → upstream.
 *
 * panel_virtfusion specifics: the client key must be a positive integer (it
 * becomes the user's extRelationId) and the client needs an e-mail address;
 * the server's `name` is set to remote_key. find() is read-only and sees only
 * named servers; create() resumes a server left unnamed by an interrupted
 * create when exactly one such server exists, and refuses (invalid, with the
 * ids) when several do — see virtfusion.c. change_password() ignores
 * new_password (VirtFusion chooses the password; vf_reset_password() returns
 * it). terminate() without an external_id and with nothing named remote_key
 * succeeds.
 *
 * Server ids (`server_id` below) are VirtFusion's numeric ids as text, as
 * stored in services.external_id; anything but a positive decimal integer is
 * refused before a request is made. All strings are borrowed; returned json_t
 * values are new references the caller decrefs. Thread-safe: no state is kept
 * between calls.
 */
#ifndef LUMI_PANELS_VIRTFUSION_H
#define LUMI_PANELS_VIRTFUSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_client.h"
#include "panels/panel.h"

/** Requests per minute allowed per configured VirtFusion panel. */
#define VF_RATE_PER_MINUTE 120

/*
 * ISO media. VirtFusion's public API v1 reference documents no attach/detach
 * call (only GET /media/iso/{id}); these paths are unconfirmed [check] and
 * live here, in one place, so they can be corrected once confirmed against a
 * real panel. The fake panel serves the same constants. printf formats:
 * server id, then ISO id.
 */
#define VF_ISO_MOUNT_PATH_FMT "/servers/%s/media/iso/%s/mount"
#define VF_ISO_UNMOUNT_PATH_FMT "/servers/%s/media/iso/unmount"

/* ---- pure parsers of VirtFusion answers (also the fuzz target's surface) ---- */

/**
 * Parses a server answer `{"data":{"id":…,"owner":{"id":…}|"ownerId":…,
 * "suspended":…}}` into out (external_id, panel_user_id, suspended;
 * username left empty). 0, or -1 with e = HC_BAD_RESPONSE when the body is
 * not JSON or has no usable positive id. out is zeroed first.
 */
int vf_parse_server(const char *body, size_t len, struct panel_result *out, struct hc_error *e);

/**
 * Extracts the human messages of an error body into out (NUL-terminated,
 * "; "-separated, control characters blanked, cut on a UTF-8 boundary).
 * Understands `{"errors":["…"]}`, `{"msg":"…"}`, `{"message":"…"}` and
 * Laravel's `{"message":…,"errors":{"field":["…"]}}` (the field messages win).
 * Returns the number of messages found (0: none, out = "").
 */
int vf_parse_errors(const char *body, size_t len, char *out, size_t outsz);

/**
 * Sorts out a user's server list body (`{"data":[…]}`, as from GET
 * /servers/user/{user_id}) for one service: 1 with out filled when a server
 * is named remote_key (and owned by user_id), 0 when none is, -1 with e when
 * the body is not a list, the named server belongs to someone else, or two
 * carry the name. *orphans (may be NULL) receives the number of servers that
 * may come from an interrupted create: owned by user_id, not built, on
 * package_id (when the object says), named nothing like a Lumi key.
 */
int vf_match_user_servers(const char *body, size_t len, const char *remote_key, int64_t user_id,
                          int64_t package_id, struct panel_result *out, size_t *orphans,
                          struct hc_error *e);

/* ---- extra operations (server_id: VirtFusion's id as text) ---- */

/** GET /servers/{id}: the server object (`data`), new reference; NULL with e. */
json_t *vf_get_server(const struct panel_conn *c, const char *server_id, struct hc_error *e);

/** DELETE /servers/{id}; a server that is already gone (404) counts as success. */
int vf_terminate(const struct panel_conn *c, const char *server_id, struct hc_error *e);

/** Suspends; a server that is already suspended counts as success. */
int vf_suspend(const struct panel_conn *c, const char *server_id, struct hc_error *e);

/** Unsuspends; a server that is not suspended counts as success. */
int vf_unsuspend(const struct panel_conn *c, const char *server_id, struct hc_error *e);

/*
 * Power actions: POST /servers/{id}/power/{boot|poweroff|shutdown|restart}.
 * *queue_id (may be NULL) receives VirtFusion's queue id, or 0 when the panel
 * answered 204 without one. VirtFusion queues the action: success means
 * "accepted", not "done".
 */
/** boot */
int vf_start(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
             struct hc_error *e);
/** poweroff: cut the power at once */
int vf_stop(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
            struct hc_error *e);
/** shutdown: ask the guest OS (ACPI) to shut down */
int vf_shutdown(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
                struct hc_error *e);
/** restart */
int vf_reboot(const struct panel_conn *c, const char *server_id, int64_t *queue_id,
              struct hc_error *e);

/**
 * Installs (or reinstalls, wiping the disk) OS template os_template_id:
 * POST /servers/{id}/build {operatingSystemId, name?, hostname?}. name and
 * hostname may be NULL (unchanged); keep name = the service's remote key so
 * find() still recognises the server.
 */
int vf_reinstall(const struct panel_conn *c, const char *server_id, int64_t os_template_id,
                 const char *name, const char *hostname, struct hc_error *e);

/** PUT /servers/{id}/package/{package_id}: moves the server to another package. */
int vf_resize(const struct panel_conn *c, const char *server_id, int64_t package_id,
              struct hc_error *e);

/**
 * POST /servers/{id}/resetPassword {user:"root", sendMail:false}. VirtFusion
 * chooses the password; the one it will set (`expectedPassword`) is copied
 * into out (a secret: never log it). -1 with e (HC_BAD_RESPONSE) when the
 * answer has none or it does not fit.
 */
int vf_reset_password(const struct panel_conn *c, const char *server_id, char *out, size_t outsz,
                      struct hc_error *e);

/**
 * Every server on the panel: GET /servers?results=<per_page>&page=P, page after
 * page (Laravel paginator: follows next_page_url / last_page; at most 1000
 * pages). per_page 1..200 (0: 100). A JSON array of server objects, new
 * reference; NULL with e.
 */
json_t *vf_list_servers(const struct panel_conn *c, int per_page, struct hc_error *e);

/** The servers of one VirtFusion user (GET /servers/user/{user_id}), array; NULL with e. */
json_t *vf_list_user_servers(const struct panel_conn *c, int64_t user_id, struct hc_error *e);

/** GET /packages: array of packages. */
json_t *vf_list_packages(const struct panel_conn *c, struct hc_error *e);

/** GET /media/templates/fromServerPackageSpec/{package_id}: array of OS groups,
 *  each with `templates[]` whose `id` is what vf_reinstall and the product's
 *  `os_template_id` take. */
json_t *vf_list_os_templates(const struct panel_conn *c, int64_t package_id, struct hc_error *e);

/** GET /compute/hypervisors/groups (all pages): array of groups, whose `id` is
 *  the product's `hypervisor_group_id`. */
json_t *vf_list_hypervisor_groups(const struct panel_conn *c, struct hc_error *e);

/** GET /servers/{id}/traffic: the statistics object (`data`: monthly[] of rx, tx,
 *  total in bytes and limit in GB). */
json_t *vf_server_traffic(const struct panel_conn *c, const char *server_id, struct hc_error *e);

/**
 * The server's VNC console (`data.vnc`: ip, hostname, port, password, wss
 * {token, url}, enabled) from GET /servers/{id}/vnc, first enabling it with
 * POST {"vnc":true} when it is off. Holds a secret (the VNC password).
 */
json_t *vf_console(const struct panel_conn *c, const char *server_id, struct hc_error *e);

/** vf_console, reduced to the browser console address (`wss.url`) copied into out. */
int vf_console_url(const struct panel_conn *c, const char *server_id, char *out, size_t outsz,
                   struct hc_error *e);

/** Attaches ISO iso_id as the server's CD-ROM (path unconfirmed: VF_ISO_MOUNT_PATH_FMT). */
int vf_iso_mount(const struct panel_conn *c, const char *server_id, int64_t iso_id,
                 struct hc_error *e);

/** Detaches the server's ISO (path unconfirmed: VF_ISO_UNMOUNT_PATH_FMT). */
int vf_iso_unmount(const struct panel_conn *c, const char *server_id, struct hc_error *e);

#endif

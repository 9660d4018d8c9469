/*
 * panel.h — the one interface the ProvisioningService uses to drive a
 * control panel, without knowing which one (a table of operations per panel
 * type, after SQLite's sqlite3_io_methods).
 *
 * Integrations know nothing of the database: the caller resolves a `servers`
 * row (decrypting its secret) into a struct panel_conn, and describes the
 * service in a struct panel_service. Every operation returns 0 on success or
 * -1 with a struct hc_error (see core/http_client.h) whose message an admin
 * can act on and whose `retryable`/`ambiguous` flags drive the retries.
 *
 * Exactly-once: `create` is only called after `find` said the resource does
 * not exist; `find` looks the resource up by Lumi's deterministic key
 * (Pterodactyl external_id, DirectAdmin username, VirtFusion server name under
 * the user with extRelationId) and checks that it belongs to the right panel
 * user before adopting it. suspend/unsuspend are idempotent (already in the
 * target state = success) and terminate treats "already gone" as success.
 */
#ifndef LUMI_PANELS_PANEL_H
#define LUMI_PANELS_PANEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_client.h"

/** How to reach one panel. All strings borrowed. */
struct panel_conn {
    const char *type;         /* "pterodactyl" | "directadmin" | "virtfusion" */
    const char *url;          /* base URL as configured, e.g. https://panel.example.com */
    const char *api_key;      /* Pterodactyl, VirtFusion */
    const char *username;     /* DirectAdmin admin/reseller */
    const char *password;     /* DirectAdmin password or login key */
    const char *api_version;  /* DirectAdmin: "v2" (default) | "v1" */
    const char *ca_file;      /* NULL: system CAs */
    int64_t server_id;        /* Lumi's servers.id: the rate-limit key (0: unsaved, no limit) */
    int rate_per_minute;      /* 0: the panel type's default budget */
    int timeout_ms;           /* 0: default 30 s */
    int connect_timeout_ms;   /* 0: default 5 s */
};

/** One service as the panel should see it. All strings borrowed. */
struct panel_service {
    int64_t service_id;
    const char *remote_key;      /* Lumi's deterministic key for the resource */
    const char *client_key;      /* Lumi's client id as text: the panel user's external id */
    const char *client_email;
    const char *client_first_name;
    const char *client_last_name;
    const char *username;        /* DirectAdmin account name, chosen and stored before create */
    const char *password;        /* initial password for the account/user */
    const char *domain;
    const char *hostname;
    const char *external_id;     /* the panel's id of the resource once known */
    const json_t *config;        /* product config (see DESIGN.md "Product config") */
};

/** What the panel confirmed. */
struct panel_result {
    char external_id[64];   /* panel's id of the resource (server id / username) */
    char panel_user_id[64]; /* panel's id of the owning user, when there is one */
    char username[64];      /* login name on the panel, when there is one */
    bool suspended;
};

struct panel_test {
    bool ok;
    char message[HC_MSG_MAX]; /* "Connected to Pterodactyl: 3 nodes" / the reason it failed */
};

struct panel_ops {
    const char *type;
    /** Checks URL, reachability and credentials; fills out->message either way. */
    int (*test_connection)(const struct panel_conn *c, struct panel_test *out, struct hc_error *e);
    /** 1 found (out filled), 0 not there, -1 error. */
    int (*find)(const struct panel_conn *c, const struct panel_service *s,
                struct panel_result *out, struct hc_error *e);
    int (*create)(const struct panel_conn *c, const struct panel_service *s,
                  struct panel_result *out, struct hc_error *e);
    int (*suspend)(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e);
    int (*unsuspend)(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e);
    int (*terminate)(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e);
    /** Applies s->config (new package / resources) to the existing resource. */
    int (*change_package)(const struct panel_conn *c, const struct panel_service *s,
                          struct hc_error *e);
    int (*change_password)(const struct panel_conn *c, const struct panel_service *s,
                           const char *new_password, struct hc_error *e);
    /** The resource as the panel describes it (new reference), or NULL with e. */
    json_t *(*info)(const struct panel_conn *c, const struct panel_service *s, struct hc_error *e);

    /* Self-service (client actions). NULL where the panel does not offer the operation. */

    /**
     * Single sign-on: a one-time URL that logs the service's panel user in
     * (copied into url, NUL-terminated). The URL carries a login token: a
     * secret, never logged, stored or audited. NULL: the panel has no SSO.
     */
    int (*login_url)(const struct panel_conn *c, const struct panel_service *s, char *url,
                     size_t url_size, struct hc_error *e);
    /**
     * Power action "boot" | "shutdown" | "restart" on the service's resource;
     * answer receives the panel's answer in words ("VirtFusion queued the
     * restart as task 12"). The panel queues it: success means "accepted".
     */
    int (*power)(const struct panel_conn *c, const struct panel_service *s, const char *action,
                 char *answer, size_t answer_size, struct hc_error *e);
    /**
     * For panels that choose the new password themselves: resets it and
     * copies the password the panel set into out (a secret). When this is
     * set, the change_password job calls it instead of change_password.
     */
    int (*reset_password)(const struct panel_conn *c, const struct panel_service *s, char *out,
                          size_t out_size, struct hc_error *e);
};

extern const struct panel_ops panel_pterodactyl;
extern const struct panel_ops panel_directadmin;
extern const struct panel_ops panel_virtfusion;

/** The operations for a panel type, or NULL for an unknown type. */
const struct panel_ops *panel_ops_for(const char *type);

#endif

/*
 * servers.h — the panels Lumi drives: stored in the database (credentials
 * sealed with LUMI_SECRET_KEY) or configured in the environment
 * (PTERODACTYL_URL, … — their secrets stay in the environment and are never
 * stored). Domain code: no HTTP. Every change and every connection test is
 * audited (SERVER_CREATED, SERVER_UPDATED, SERVER_DELETED, SERVER_TESTED);
 * secrets never appear in answers (shown as "********"), audit details or logs.
 */
#ifndef LUMI_PROVISIONING_SERVERS_H
#define LUMI_PROVISIONING_SERVERS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "billing/listing.h"
#include "core/err.h"
#include "db/db.h"
#include "panels/panel.h"

#define SERVERS_SECRET_MASK "********"
#define SERVERS_PAGE_MAX LISTING_PAGE_MAX

/**
 * Makes the `servers` rows marked `environment` match the panel variables of
 * the configuration: creates or updates one row per configured panel type and
 * deactivates rows whose variables were removed. Audited as SERVER_CREATED /
 * SERVER_UPDATED by the system when something changed.
 */
int servers_sync_environment(struct db *db, struct lumi_err *err);

/** Keyset page of servers (see billing/listing.h). */
json_t *servers_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                     struct lumi_err *err);
json_t *servers_get(struct db *db, int64_t id, struct lumi_err *err);

/**
 * Creates a server from {name, type, url, api_key | username+password,
 * api_version?, max_accounts?, active?, group?, fill_order?,
 * rate_limit_per_minute? (0 = the panel type's default: Pterodactyl 240,
 * DirectAdmin and VirtFusion 120)}. Validation
 * errors are LUMI_EINVAL naming the field.
 */
json_t *servers_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                       struct lumi_err *err);

/** Partial update; a secret is replaced only when sent. Environment servers: LUMI_ECONFLICT. */
json_t *servers_update(struct db *db, const struct audit_actor *actor, int64_t id,
                       const json_t *input, struct lumi_err *err);

/** Deletes a server no service uses (else LUMI_ECONFLICT); environment servers cannot be deleted. */
int servers_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                   struct lumi_err *err);

/**
 * Tests the connection of a stored server, stores the outcome as its status
 * and audits SERVER_TESTED. Answers {success, message, latency_ms}. The panel
 * call runs outside any transaction.
 */
json_t *servers_test(struct db *db, const struct audit_actor *actor, int64_t id,
                     struct lumi_err *err);

/** Tests server fields before saving them; stores and audits nothing. */
json_t *servers_test_unsaved(const json_t *input, struct lumi_err *err);

/** A server resolved for the panel clients: conn points into the struct's own storage. */
struct server_conn {
    struct panel_conn conn;
    const struct panel_ops *ops;
    char type[16];
    char url[512];
    char username[256];
    char secret[1024];      /* wiped by servers_conn_clear */
    char api_version[4];
    int64_t rate_limit;
};

/** Resolves server id into *out, decrypting its secret. LUMI_ENOTFOUND, LUMI_EINVAL (no secret). */
int servers_conn(struct db *db, int64_t id, struct server_conn *out, struct lumi_err *err);

/** Wipes the secret. */
void servers_conn_clear(struct server_conn *sc);

/**
 * Takes one account slot on the server atomically (a single guarded UPDATE,
 * so concurrent orders cannot overfill it): 0, or LUMI_ECONFLICT "server N is
 * full (M of M accounts)" / inactive. Must run inside the caller's transaction.
 */
int servers_reserve_slot(struct db *db, int64_t id, struct lumi_err *err);

/** Gives a slot back (termination, failed placement). */
int servers_release_slot(struct db *db, int64_t id, struct lumi_err *err);

#endif

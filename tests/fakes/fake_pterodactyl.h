/*
 * fake_pterodactyl.h — a stateful fake of Pterodactyl's Application API for
 * tests, on fake_http (contracts: pterodactyl.md, panels-detail.md §1 + §4).
 *
 * It answers like panel 1.x: Bearer auth (no token, or one that is not
 * ptla_/ptlc_-shaped: 401 JSON; a wrong ptla_ key: 403; either is a 302 to
 * /auth/login when Accept is not JSON), the item/list envelopes with
 * pagination meta, exact 404 bodies, 422 validation per field and rule
 * (limits, feature_limits, allocation/deploy, unique external_id, e-mail and
 * username, egg variable rules), 400 NoViableNodeException, 204 for
 * suspend/unsuspend (idempotent)/reinstall/delete, force delete, the
 * X-RateLimit headers and a 429 on demand. A "daemon down" switch makes the
 * calls that reach Wings fail with 502 DaemonConnectionException (create then
 * leaves no server behind, as the panel does).
 *
 * Seed: location 1 "us1"; node 1 in it with allocations 1–10 (10.0.0.10,
 * ports 25565–25574); nest 1 "Minecraft" with egg 1 "Paper" (variables
 * SERVER_JARFILE required|string|max:20 default "server.jar", BUILD_NUMBER
 * nullable|string|max:20 default "latest") and egg 2 "Vanilla" (variable
 * MINECRAFT_VERSION required|string|max:20 default "latest"); nest 2 "Rust"
 * with egg 3 and no variables. No users, no servers.
 *
 * Every function here may be called from the test thread while the fake
 * runs; each takes the fake's lock (fake_lock) itself.
 */
#ifndef LUMI_TEST_FAKE_PTERODACTYL_H
#define LUMI_TEST_FAKE_PTERODACTYL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakes/fake_http.h"

struct fake_ptero;

/** Starts the fake accepting `api_key` (copied) as the Application API key; aborts the test on
 * failure. */
struct fake_ptero *fake_ptero_start(const char *api_key);

/** "http://127.0.0.1:PORT" — the panel URL to configure (borrowed). */
const char *fake_ptero_url(struct fake_ptero *fp);

/** The HTTP server under the fake: faults and recorded requests (borrowed). */
struct fake_server *fake_ptero_http(struct fake_ptero *fp);

/** Stops the fake and frees everything (NULL is a no-op). */
void fake_ptero_stop(struct fake_ptero *fp);

/* ---- seeding and behaviour ---- */

/** Adds a user (external_id may be NULL); returns its id. */
int64_t fake_ptero_add_user(struct fake_ptero *fp, const char *email, const char *username,
                            const char *external_id);

/** Adds an installed server of egg 1 on node 1 (with a fresh allocation of its own)
 *  owned by user_id; external_id may be NULL. Returns its id. */
int64_t fake_ptero_add_server(struct fake_ptero *fp, const char *external_id, int64_t user_id);

/** While down, create/delete/suspend/unsuspend/reinstall answer 502 DaemonConnectionException. */
void fake_ptero_set_daemon_down(struct fake_ptero *fp, bool down);

/** The next `count` authenticated requests answer 429 (ThrottleRequestsException) with Retry-After.
 */
void fake_ptero_throttle(struct fake_ptero *fp, int count, int retry_after_s);

/** Marks every "installing" server as installed (status null). */
void fake_ptero_finish_installs(struct fake_ptero *fp);

/* ---- inspection ---- */

size_t fake_ptero_server_count(struct fake_ptero *fp);
size_t fake_ptero_user_count(struct fake_ptero *fp);

/** Allocations of a node no server uses. */
size_t fake_ptero_free_allocations(struct fake_ptero *fp, int64_t node_id);

struct fake_ptero_server {
    int64_t id, user, node, allocation, egg;
    bool suspended;
    char status[32]; /* "" when null */
    int64_t memory, swap, disk, io, cpu;
    int64_t databases, allocations, backups;
};

/** The server whose external_id is exactly external_id: 1 (out filled), 0 none. */
int fake_ptero_find_server(struct fake_ptero *fp, const char *external_id,
                           struct fake_ptero_server *out);

/** A copy of that server's attributes as the API shows them (new reference), or NULL. */
json_t *fake_ptero_server_json(struct fake_ptero *fp, const char *external_id);

/** A copy of the user with that e-mail (exact), plus "password": the last one set
 *  (null when never set). New reference or NULL. */
json_t *fake_ptero_user_json(struct fake_ptero *fp, const char *email);

#endif

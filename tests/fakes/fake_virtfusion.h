/*
 * fake_virtfusion.h — a stateful fake VirtFusion panel (API v1) on fake_http,
 * for unit and black-box tests.
 *
 * It keeps users (with extRelationId), servers, fixed packages (ids 1–3), OS
 * templates per package (101, 102, 111 on every package; 121 only on 3) and
 * hypervisor groups (1, 2), and answers the way panels-detail.md §3 and §4
 * describe: Bearer auth (401, empty body), `{"data":…}` envelopes, 422
 * `{"errors":[…]}`, 404 `{"msg":"server not found"}` and
 * `{"msg":"ext_relation_id not found"}`, 204 for actions, 200
 * `{"data":{"queueId":N}}` for power, 423 `{"msg":…}` while locked, the
 * Laravel paginator on GET /servers and /compute/hypervisors/groups, plain
 * `{"data":[…]}` elsewhere. A new server is called "server-<id>" until it is
 * named (what VirtFusion really calls it is unknown; only "not Lumi's key"
 * matters). Faults come from fake_http (fake_vf_http()).
 *
 * Every function here is called from the test thread; the handler runs on the
 * fake's server thread under fake_lock, and so do these helpers.
 */
#ifndef LUMI_TEST_FAKE_VIRTFUSION_H
#define LUMI_TEST_FAKE_VIRTFUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fakes/fake_http.h"

struct fake_vf;

/** A copy of one server's state. */
struct fake_vf_server {
    int64_t id;
    int64_t owner_id; /* VirtFusion user id */
    int64_t package_id;
    int64_t hypervisor_group_id;
    int64_t os_template_id; /* 0: never built */
    int64_t iso_id;         /* 0: none mounted */
    int ipv4;
    bool suspended;
    bool built;
    bool vnc_enabled;
    char name[192];
    char hostname[256];
    char power[16];         /* "running" | "stopped" */
    char last_password[64]; /* the last expectedPassword handed out, "" if none */
    char last_power[16];    /* the last power action received, "" if none */
};

/** Starts a fake that accepts `Authorization: Bearer <token>`. */
struct fake_vf *fake_vf_start(const char *token);
/** Stops it and frees everything (NULL is a no-op). */
void fake_vf_stop(struct fake_vf *v);
/** "http://127.0.0.1:PORT" (borrowed): the panel URL to configure (without /api/v1). */
const char *fake_vf_url(const struct fake_vf *v);
/** The underlying fake_http server: recorded requests and faults. */
struct fake_server *fake_vf_http(struct fake_vf *v);

/** While locked, every action on a server answers 423 {"msg":…}. */
void fake_vf_set_locked(struct fake_vf *v, bool locked);
/** A narrowly scoped token: hypervisor groups answer 403 while the rest works. */
void fake_vf_set_scope_limited(struct fake_vf *v, bool limited);
/**
 * Loses the answer to the next server creation: the server is created, then
 * the connection is closed without an answer (FAKE_FAULT_DROP_AFTER). The
 * fault is armed when the dry run that precedes the creation arrives.
 */
void fake_vf_lose_next_create(struct fake_vf *v);

/** Servers that exist (deleted ones excluded). */
size_t fake_vf_server_count(struct fake_vf *v);
size_t fake_vf_user_count(struct fake_vf *v);
/** VirtFusion user id of the user with that extRelationId, 0 when none. */
int64_t fake_vf_user_id(struct fake_vf *v, int64_t ext_relation_id);
/** Copies the (first existing) server with that name into out; false when none. */
bool fake_vf_server_by_name(struct fake_vf *v, const char *name, struct fake_vf_server *out);
bool fake_vf_server_by_id(struct fake_vf *v, int64_t id, struct fake_vf_server *out);

/** Login token pairs handed out (POST /users/{ext}/serverAuthenticationTokens/{id}). */
size_t fake_vf_sso_count(struct fake_vf *v);

/** Seeds a user; returns its VirtFusion id. */
int64_t fake_vf_add_user(struct fake_vf *v, int64_t ext_relation_id, const char *email);
/** Seeds a server (name NULL: the placeholder "server-<id>"); returns its id. */
int64_t fake_vf_add_server(struct fake_vf *v, int64_t owner_id, int64_t package_id,
                           const char *name, bool built);

#endif

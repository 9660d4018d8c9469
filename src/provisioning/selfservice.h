/*
 * selfservice.h — what a client may do with its own running service: read it
 * (with the panel's address and login name, never a secret), sign on to the
 * panel, power a VPS, and reset the panel password through a job whose new
 * password it is shown once.
 *
 * Every function takes the client the caller is restricted to: another
 * client's service answers LUMI_ENOTFOUND exactly like a missing one. The
 * actions need status "active" (LUMI_ECONFLICT otherwise) and are audited
 * with the caller as actor; no audit row carries a login token or password.
 * Sign-on and power call the panel synchronously with no transaction open;
 * the password reset only queues the change_password job.
 */
#ifndef LUMI_PROVISIONING_SELFSERVICE_H
#define LUMI_PROVISIONING_SELFSERVICE_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** Longest login URL a panel may answer. */
#define SELFSERVICE_URL_MAX 2048

/**
 * The client's view of one of its services: {id, client_id, product_id,
 * product_name, status, suspend_reason, username, domain, billing_cycle,
 * recurring_amount, currency, next_due_date, created_at, panel: {type, url,
 * username, login: "sso"|"panel", power: bool} | null, password_reset:
 * {job_id, state: "pending"|"ready"|"shown"|"failed", requested_at,
 * revealed_at} | null}. No remote key, external id, server, error or job
 * internals. NULL with LUMI_ENOTFOUND (also for another client's service).
 */
json_t *selfservice_service(struct db *db, int64_t client_id, int64_t id, struct lumi_err *err);

/** Keyset page (ascending ids) of the client's services in the same shape. */
json_t *selfservice_services(struct db *db, int64_t client_id, int64_t after_id, int limit,
                             int64_t *next_cursor, struct lumi_err *err);

/**
 * How the client gets into the panel: {url, kind: "sso"|"panel", username}.
 * With SSO (VirtFusion, DirectAdmin) url is a fresh one-time login URL
 * (audited as SERVICE_SSO_ISSUED without it); otherwise the panel's address.
 * LUMI_EUPSTREAM with the panel's message when it refused.
 */
json_t *selfservice_login(struct db *db, const struct audit_actor *actor, int64_t client_id,
                          int64_t id, struct lumi_err *err);

/**
 * Power action boot|shutdown|restart (LUMI_EINVAL naming "action" else):
 * {service_id, action, message} with the panel's answer. LUMI_ECONFLICT when
 * the panel offers no power actions; audited SERVICE_POWER (or
 * SERVICE_POWER_FAILED with the panel's message, then LUMI_EUPSTREAM).
 */
json_t *selfservice_power(struct db *db, const struct audit_actor *actor, int64_t client_id,
                          int64_t id, const char *action, struct lumi_err *err);

/**
 * Queues a panel password reset (own transaction): the change_password job
 * (no password in its arguments: the worker makes it) and a password_reveals
 * row for the client, audited SERVICE_PASSWORD_RESET_REQUESTED. Answers the
 * job. LUMI_ECONFLICT while a reset is already running.
 */
json_t *selfservice_password_reset(struct db *db, const struct audit_actor *actor,
                                   int64_t client_id, int64_t id, struct lumi_err *err);

/**
 * The client's latest password reset of the service, revealing its password
 * once (own transaction): {job_id, state, password?}. The password is in the
 * answer only the one time state becomes "shown" (then the row keeps no
 * copy); audited SERVICE_PASSWORD_REVEALED. Answers JSON null when the
 * client never asked.
 */
json_t *selfservice_password_reveal(struct db *db, const struct audit_actor *actor,
                                    int64_t client_id, int64_t id, struct lumi_err *err);

/**
 * Called by the change_password job inside its success transaction: seals
 * the new password into the job's password_reveals row, if the reset was a
 * client's. 0 also when there is no such row.
 */
int selfservice_password_changed(struct db *db, int64_t job_id, const char *password,
                                 struct lumi_err *err);

#endif

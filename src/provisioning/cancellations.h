/*
 * cancellations.h — cancellation requests of services (table cancel_requests).
 *
 * A client (or staff) asks to cancel an active or suspended service either
 * "immediate" or "end_of_period" (run_at = the service's next_due_date; a
 * service without one — onetime or free — can only be cancelled
 * immediately). Executing a request, in ONE transaction: the terminate job
 * is queued, the request is done, the service's unpaid invoices that only
 * renew it are cancelled, and an upgrade awaiting payment is withdrawn.
 * Immediate requests execute when made; end-of-period ones in the
 * automation pass once run_at has come (cancellations_execute_due), and
 * while one is pending the pass creates no renewal invoice for the service.
 * A pending request can be withdrawn by its client or rejected by staff.
 * At most one pending request per service (unique index; a second is
 * LUMI_ECONFLICT). Audited: CANCELLATION_REQUESTED, CANCELLATION_EXECUTED,
 * CANCELLATION_WITHDRAWN, CANCELLATION_REJECTED, INVOICE_CANCELLED.
 */
#ifndef LUMI_PROVISIONING_CANCELLATIONS_H
#define LUMI_PROVISIONING_CANCELLATIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** Request statuses, NULL-terminated (for ?status= filters). */
extern const char *const CANCELLATION_STATUSES[];

/**
 * Requests cancellation of service_id (own transaction). owner: the client
 * the caller is restricted to (0 = staff, any service; another client's
 * service is LUMI_ENOTFOUND). timing "immediate" | "end_of_period"; reason
 * up to 500 bytes (may be NULL). Answers the request as JSON.
 */
json_t *cancellations_request(struct db *db, const struct audit_actor *actor, int64_t service_id,
                              int64_t owner, const char *timing, const char *reason,
                              struct lumi_err *err);

/** Withdraws the service's pending request (own transaction); LUMI_ECONFLICT when none. */
json_t *cancellations_withdraw(struct db *db, const struct audit_actor *actor, int64_t service_id,
                               int64_t owner, struct lumi_err *err);

/** Staff reject a pending request by its id (own transaction). */
json_t *cancellations_reject(struct db *db, const struct audit_actor *actor, int64_t request_id,
                             const char *note, struct lumi_err *err);

/** The service's pending request as JSON, or JSON null. */
json_t *cancellations_pending(struct db *db, int64_t service_id, struct lumi_err *err);

/** As cancellations_pending for the service of client owner (0 = any): LUMI_ENOTFOUND otherwise. */
json_t *cancellations_pending_of(struct db *db, int64_t service_id, int64_t owner,
                                 struct lumi_err *err);

/**
 * The queue, newest first, optionally of one status: [{id, service_id,
 * client_id, client_email, product_name, domain, service_status, timing,
 * reason, status, run_at, job_id, actor_type, created_at, closed_at}].
 */
json_t *cancellations_list(struct db *db, const char *status, int64_t before_id, int limit,
                           int64_t *next_cursor, struct lumi_err *err);

/**
 * For the automation pass, inside the caller's (per-service) transaction:
 * executes the service's pending request when its run_at <= now_iso.
 * *executed tells whether it did (with dry_run, whether it would).
 */
int cancellations_execute_due(struct db *db, int64_t service_id, const char *now_iso, bool dry_run,
                              bool *executed, struct lumi_err *err);

/** Whether the automation must not renew the service: a request pending or done. */
int cancellations_block_renewal(struct db *db, int64_t service_id, bool *block,
                                struct lumi_err *err);

/** The SQL of the due requests' service ids for the automation pass ($1 now, $2 after, $3 limit).
 */
extern const char CANCELLATIONS_SQL_DUE[];

#endif

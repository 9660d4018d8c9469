/*
 * reconcile.h — the drift check (`lumi reconcile`): the differences between
 * Lumi's services and what each panel reports, found WITHOUT changing
 * anything (only SELECTs on the database, only GETs on the panels).
 *
 * Per server, the panel's resources are listed (Pterodactyl servers,
 * DirectAdmin accounts, VirtFusion servers) and matched to the server's
 * services by external_id first, then by Lumi's key (Pterodactyl
 * external_id, VirtFusion server name, DirectAdmin account name =
 * services.username). Differences:
 *   missing             an active or suspended service has no resource;
 *   orphaned            a resource belongs to a terminated service, or carries
 *                       this installation's key ("lumi-<installation.id>-")
 *                       and no service of this server claims it;
 *   suspended mismatch  suspended in Lumi but not on the panel, or the reverse.
 * Resources without a Lumi key are other tools' and only counted (unmanaged).
 * DirectAdmin account names carry no installation mark, so there an
 * unclaimed account is an orphan only when a terminated service used it.
 */
#ifndef LUMI_PROVISIONING_RECONCILE_H
#define LUMI_PROVISIONING_RECONCILE_H

#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "db/db.h"

struct reconcile_report {
    int servers;          /* servers looked at (failed ones included) */
    int services_checked; /* live services compared (pending … failed) */
    int missing;
    int orphaned;
    int suspended_mismatch;
    int errors;    /* servers or accounts the pass could not read */
    int unmanaged; /* panel resources without a Lumi key */
};

/**
 * One pass over server_id (0: every active server, in id order). out (may
 * be NULL) gets one line per difference or error, in a stable order:
 * servers by id, then services by id, then orphans by panel id.
 * rep (may be NULL) is zeroed first. A panel that cannot be reached or read
 * is one error line and the pass goes on. Returns 0, or < 0 with err when
 * the pass could not run (database failure, LUMI_ENOTFOUND for an unknown
 * server_id). Must not be called inside a transaction. Writes nothing.
 */
int reconcile_run(struct db *db, int64_t server_id, FILE *out, struct reconcile_report *rep,
                  struct lumi_err *err);

#endif

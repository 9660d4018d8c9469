/*
 * staff.h — staff accounts and their roles (issue 16): the list admins see
 * on /admin/staff, new staff members, a change of role, disabling and
 * enabling. Roles: "admin" (everything), "billing", "support", "readonly";
 * what each may do is the route tables' (web/server.h WEB_ROLE_*), not this
 * module's. Guard: the last active admin can be neither demoted nor disabled.
 * Every change in one transaction with its audit row (STAFF_CREATED or
 * ADMIN_CREATED, STAFF_ROLE_CHANGED {email, from, to}, STAFF_DISABLED,
 * STAFF_ENABLED), the acting admin as actor.
 */
#ifndef LUMI_ACCOUNTS_STAFF_H
#define LUMI_ACCOUNTS_STAFF_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** Staff members, oldest first: [{id, email, role, status, created_at, totp}]; caller decrefs. */
json_t *staff_list(struct db *db, struct lumi_err *err);

/**
 * A new staff member with role (a staff role, not "client") and password
 * (the admin password rules). LUMI_EINVAL naming the field, LUMI_ECONFLICT
 * when the e-mail is taken.
 */
int staff_create(struct db *db, const struct audit_actor *actor, const char *email,
                 const char *role, const char *password, int64_t *id_out, struct lumi_err *err);

/**
 * Gives staff member id the role. LUMI_ENOTFOUND for no such staff member
 * (clients are not staff), LUMI_EINVAL for an unknown role, LUMI_ECONFLICT
 * when it would leave no active admin. The same role again changes nothing
 * and writes no audit row. Takes effect on the member's next request
 * (sessions and tokens read the role each time).
 */
int staff_set_role(struct db *db, const struct audit_actor *actor, int64_t id, const char *role,
                   struct lumi_err *err);

/**
 * Disables (active = false: every session ends, tokens stop working) or
 * enables staff member id. LUMI_ECONFLICT when disabling the last active
 * admin; no change and no audit row when it is already so.
 */
int staff_set_active(struct db *db, const struct audit_actor *actor, int64_t id, bool active,
                     struct lumi_err *err);

#endif

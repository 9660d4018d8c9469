/*
 * staff.c — staff accounts and roles (see staff.h). The last-admin guard
 * counts the other active admins inside the transaction that changes the
 * row, under a transaction lock (PostgreSQL advisory lock; SQLite's write
 * lock), so two admins demoting each other at once cannot both succeed.
 */
#include "accounts/staff.h"

#include <stdio.h>
#include <string.h>

#include "accounts/accounts.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/rowjson.h"

#define STAFF_LOCK_KEY 0x5354414646LL /* "STAFF": serialises role and status changes */

static const char SQL_LIST[] = "SELECT id, email, role, status, created_at, "
                               "CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END AS totp "
                               "FROM users WHERE role <> 'client' ORDER BY id";
static const char SQL_ONE[] = "SELECT email, role, status FROM users WHERE id = $1 "
                              "AND role <> 'client'";
static const char SQL_OTHER_ADMINS[] = "SELECT COUNT(*) FROM users WHERE role = 'admin' "
                                       "AND status = 'active' AND id <> $1";
static const char SQL_SET_ROLE[] = "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3";
static const char SQL_SET_STATUS[] = "UPDATE users SET status = $1, updated_at = $2 WHERE id = $3";
static const char SQL_END_SESSIONS[] = "DELETE FROM sessions WHERE user_id = $1";

static const char *const INT_COLUMNS[] = {"id", "totp", NULL};

struct member {
    char email[256];
    char role[16];
    bool active;
};

static int finish_tx(struct db *db, int rc, struct lumi_err *err)
{
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0)
        db_rollback(db);
    return rc;
}

json_t *staff_list(struct db *db, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_LIST, err);
    if (st == NULL)
        return NULL;
    json_t *rows = json_array();
    int rc = 0;
    while (rows != NULL && (rc = db_step(st, err)) == DB_ROW) {
        json_t *row = db_row_json(st, INT_COLUMNS, err);
        if (row == NULL || json_array_append_new(rows, row) != 0) {
            rc = LUMI_ENOMEM;
            break;
        }
    }
    db_finalize(st);
    if (rows == NULL || rc < 0) {
        json_decref(rows);
        if (rows == NULL || rc == LUMI_ENOMEM)
            err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    return rows;
}

int staff_create(struct db *db, const struct audit_actor *actor, const char *email,
                 const char *role, const char *password, int64_t *id_out, struct lumi_err *err)
{
    if (!accounts_is_staff_role(role))
        return err_set(err, LUMI_EINVAL,
                       "field 'role' must be admin, billing, support or readonly");
    return accounts_create_user(db, actor, email, role, password, id_out, err);
}

/* Locks staff changes and reads member id: 0, LUMI_ENOTFOUND or a database error. */
static int load_member(struct db *db, int64_t id, struct member *m, struct lumi_err *err)
{
    int rc = db_tx_lock(db, STAFF_LOCK_KEY, err);
    if (rc != 0)
        return rc;
    struct db_stmt *st = db_prepare(db, SQL_ONE, err);
    if (st == NULL)
        return err ? err->code : LUMI_EDB;
    db_bind_int64(st, 1, id);
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        str_copy(m->email, db_col_text(st, 0), sizeof m->email);
        str_copy(m->role, db_col_text(st, 1), sizeof m->role);
        m->active = str_eq(db_col_text(st, 2), "active");
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "no staff member with id %lld", (long long)id);
    }
    db_finalize(st);
    return rc;
}

/* LUMI_ECONFLICT when member id is an active admin and no other active admin exists. */
static int keep_an_admin(struct db *db, int64_t id, const struct member *m, const char *what,
                         struct lumi_err *err)
{
    char idtext[24];
    int64_t others = 0;
    if (!str_eq(m->role, "admin") || !m->active)
        return 0;
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *p[] = {idtext};
    int rc = db_query_int64(db, SQL_OTHER_ADMINS, 1, p, &others, err);
    if (rc == 0 && others == 0)
        rc = err_set(err, LUMI_ECONFLICT,
                     "%s is the last active admin and cannot be %s; make another admin first",
                     m->email, what);
    return rc;
}

static int update_row(struct db *db, const char *sql, const char *value, int64_t id,
                      struct lumi_err *err)
{
    char now[UTC_ISO_LEN], idtext[24];
    utc_now_iso(now);
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *p[] = {value, now, idtext};
    return db_execp(db, sql, 3, p, NULL, err);
}

int staff_set_role(struct db *db, const struct audit_actor *actor, int64_t id, const char *role,
                   struct lumi_err *err)
{
    struct member m;
    if (!accounts_is_staff_role(role))
        return err_set(err, LUMI_EINVAL,
                       "field 'role' must be admin, billing, support or readonly");
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = load_member(db, id, &m, err);
    if (rc != 0 || str_eq(m.role, role))
        goto out;
    if (!str_eq(role, "admin"))
        rc = keep_an_admin(db, id, &m, "demoted", err);
    if (rc == 0)
        rc = update_row(db, SQL_SET_ROLE, role, id, err);
    if (rc == 0)
        rc = audit_append_id_take(
            db, actor, "STAFF_ROLE_CHANGED", "user", id,
            json_pack("{s:s s:s s:s}", "email", m.email, "from", m.role, "to", role), err);
out:
    return finish_tx(db, rc, err);
}

int staff_set_active(struct db *db, const struct audit_actor *actor, int64_t id, bool active,
                     struct lumi_err *err)
{
    struct member m;
    char idtext[24];
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = load_member(db, id, &m, err);
    if (rc != 0 || m.active == active)
        goto out;
    if (!active)
        rc = keep_an_admin(db, id, &m, "disabled", err);
    if (rc == 0)
        rc = update_row(db, SQL_SET_STATUS, active ? "active" : "disabled", id, err);
    if (rc == 0 && !active) {
        snprintf(idtext, sizeof idtext, "%lld", (long long)id);
        const char *p[] = {idtext};
        rc = db_execp(db, SQL_END_SESSIONS, 1, p, NULL, err);
    }
    if (rc == 0)
        rc =
            audit_append_id_take(db, actor, active ? "STAFF_ENABLED" : "STAFF_DISABLED", "user", id,
                                 json_pack("{s:s s:s}", "email", m.email, "role", m.role), err);
out:
    return finish_tx(db, rc, err);
}

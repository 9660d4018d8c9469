/*
 * settings.c — see settings.h. Uses only the connection it is given.
 */
#include "db/settings.h"

#include "core/str.h"

int settings_get(struct db *db, const char *key, char *out, size_t outsz, struct lumi_err *err)
{
    if (outsz > 0)
        out[0] = '\0';
    struct db_stmt *st = db_prepare(db, "SELECT value FROM settings WHERE key = $1", err);
    if (st == NULL)
        return err != NULL && err->code != 0 ? err->code : LUMI_EDB;
    int rc = db_bind_text(st, 1, key);
    if (rc < 0) {
        db_finalize(st);
        return err_set(err, LUMI_EDB, "cannot bind a parameter");
    }
    rc = db_step(st, err);
    bool set = rc == DB_ROW;
    if (set && outsz > 0)
        str_copy(out, db_col_text(st, 0) != NULL ? db_col_text(st, 0) : "", outsz);
    db_finalize(st);
    return rc < 0 ? rc : set ? 1 : 0;
}

/*
 * rowjson.c — result rows as JSON objects (see rowjson.h). Stateless; uses
 * only the caller's statement or connection.
 */
#include "db/rowjson.h"

#include <string.h>

static int is_int_column(const char *name, const char *const *int_columns)
{
    for (size_t i = 0; name != NULL && int_columns != NULL && int_columns[i] != NULL; i++)
        if (strcmp(name, int_columns[i]) == 0)
            return 1;
    return 0;
}

json_t *db_row_json(struct db_stmt *st, const char *const *int_columns, struct lumi_err *err)
{
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < db_col_count(st); i++) {
        const char *name = db_col_name(st, i);
        json_t *v;
        if (db_col_is_null(st, i))
            v = json_null();
        else if (is_int_column(name, int_columns))
            v = json_integer(db_col_int64(st, i));
        else
            v = json_string(db_col_text(st, i));
        if (json_object_set_new(o, name, v) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    if (o == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return o;
}

json_t *db_one_row_json(struct db *db, const char *sql, int64_t id,
                        const char *const *int_columns, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return NULL;
    json_t *out = NULL;
    int rc = db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind a parameter")
                                          : db_step(st, err);
    if (rc == DB_ROW)
        out = db_row_json(st, int_columns, err);
    else if (rc == DB_DONE)
        out = json_null();
    db_finalize(st);
    return out;
}

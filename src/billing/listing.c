/*
 * listing.c — keyset paging shared by the domain's list functions (see listing.h).
 * Uses only the connection it is given.
 */
#include "billing/listing.h"

json_t *listing_page(struct db *db, const char *sql, int64_t after_id, int limit,
                     listing_row_fn row_fn, int64_t *next_cursor, struct lumi_err *err)
{
    return listing_page_filtered(db, sql, NULL, after_id, limit, row_fn, next_cursor, err);
}

/* $3: filter as text when not NULL, else owner as an integer when > 0, else nothing;
 * $4: filter2 as text when not NULL. */
static json_t *page_run(struct db *db, const char *sql, const char *filter, const char *filter2,
                        int64_t owner, int64_t after_id, int limit, listing_row_fn row_fn,
                        int64_t *next_cursor, struct lumi_err *err);

json_t *listing_page_filtered(struct db *db, const char *sql, const char *filter, int64_t after_id,
                              int limit, listing_row_fn row_fn, int64_t *next_cursor,
                              struct lumi_err *err)
{
    return page_run(db, sql, filter, NULL, 0, after_id, limit, row_fn, next_cursor, err);
}

json_t *listing_page_filtered2(struct db *db, const char *sql, const char *filter,
                               const char *filter2, int64_t after_id, int limit,
                               listing_row_fn row_fn, int64_t *next_cursor, struct lumi_err *err)
{
    return page_run(db, sql, filter, filter2, 0, after_id, limit, row_fn, next_cursor, err);
}

json_t *listing_page_owned(struct db *db, const char *sql, int64_t owner_id, int64_t after_id,
                           int limit, listing_row_fn row_fn, int64_t *next_cursor,
                           struct lumi_err *err)
{
    return page_run(db, sql, NULL, NULL, owner_id, after_id, limit, row_fn, next_cursor, err);
}

static json_t *page_run(struct db *db, const char *sql, const char *filter, const char *filter2,
                        int64_t owner, int64_t after_id, int limit, listing_row_fn row_fn,
                        int64_t *next_cursor, struct lumi_err *err)
{
    json_t *rows = NULL, *result = NULL;
    struct db_stmt *st = NULL;
    int rc;
    *next_cursor = 0;
    if (limit < 1 || limit > LISTING_PAGE_MAX) {
        err_set(err, LUMI_EINVAL, "limit must be from 1 to %d", LISTING_PAGE_MAX);
        goto out;
    }
    st = db_prepare(db, sql, err);
    rows = json_array();
    if (st == NULL || rows == NULL)
        goto out;
    /* One row more than asked tells whether another page follows. */
    db_bind_int64(st, 1, after_id);
    db_bind_int64(st, 2, (int64_t)limit + 1);
    if (filter != NULL)
        db_bind_text(st, 3, filter);
    else if (owner > 0)
        db_bind_int64(st, 3, owner);
    if (filter2 != NULL)
        db_bind_text(st, 4, filter2);
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (json_array_size(rows) == (size_t)limit) {
            json_t *last = json_array_get(rows, (size_t)limit - 1);
            *next_cursor = json_integer_value(json_object_get(last, "id"));
            break;
        }
        json_t *row = row_fn(st, err);
        if (row == NULL || json_array_append_new(rows, row) != 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    result = rows;
    rows = NULL;
out:
    if (result == NULL && err != NULL && err->code == LUMI_OK)
        err_set(err, LUMI_ENOMEM, "out of memory listing rows");
    db_finalize(st);
    json_decref(rows);
    return result;
}

json_t *listing_get(struct db *db, const char *sql, int64_t id, listing_row_fn row_fn,
                    const char *what, struct lumi_err *err)
{
    json_t *o = NULL;
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        o = row_fn(st, err);
    else if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "%s %lld not found", what, (long long)id);
    db_finalize(st);
    return o;
}

/*
 * listing.h — keyset pages of domain rows (clients, products, and later
 * services and invoices), ascending by id.
 */
#ifndef LUMI_BILLING_LISTING_H
#define LUMI_BILLING_LISTING_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

#define LISTING_PAGE_MAX 200

/** Turns the statement's current row into a new JSON object, or NULL with err. */
typedef json_t *(*listing_row_fn)(struct db_stmt *st, struct lumi_err *err);

/**
 * Runs sql, which must take $1 = the id after which to start and $2 = the
 * number of rows to fetch, ordered by id ascending, and returns at most
 * limit (1..LISTING_PAGE_MAX) rows made by row_fn as a new JSON array.
 * *next_cursor gets the last id when another page follows, else 0.
 * NULL with err (LUMI_EINVAL for a bad limit) on failure.
 */
json_t *listing_page(struct db *db, const char *sql, int64_t after_id, int limit,
                     listing_row_fn row_fn, int64_t *next_cursor, struct lumi_err *err);

/** As listing_page, for SQL that also filters on a value: filter (when not NULL) is bound as $3. */
json_t *listing_page_filtered(struct db *db, const char *sql, const char *filter, int64_t after_id,
                              int limit, listing_row_fn row_fn, int64_t *next_cursor,
                              struct lumi_err *err);

/** As listing_page_filtered, with a second text bound as $4. */
json_t *listing_page_filtered2(struct db *db, const char *sql, const char *filter,
                               const char *filter2, int64_t after_id, int limit,
                               listing_row_fn row_fn, int64_t *next_cursor, struct lumi_err *err);

/** As listing_page, for SQL that also selects by an owner's id (a client, a service): bound as $3. */
json_t *listing_page_owned(struct db *db, const char *sql, int64_t owner_id, int64_t after_id,
                           int limit, listing_row_fn row_fn, int64_t *next_cursor,
                           struct lumi_err *err);

/**
 * Runs sql with $1 = id and makes its row into JSON with row_fn; NULL with
 * LUMI_ENOTFOUND "<what> <id> not found" when there is no such row.
 */
json_t *listing_get(struct db *db, const char *sql, int64_t id, listing_row_fn row_fn,
                    const char *what, struct lumi_err *err);

#endif

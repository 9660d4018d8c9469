/*
 * rowjson.h — a result row as a JSON object keyed by column name: the shape
 * in which the domain modules answer their rows (services, cancellation
 * requests, plan changes). NULL columns are JSON null, the columns the caller
 * names are integers, every other column is text.
 */
#ifndef LUMI_DB_ROWJSON_H
#define LUMI_DB_ROWJSON_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

/**
 * The current row of st as a new JSON object (caller decrefs); int_columns
 * (NULL-terminated, borrowed) names the columns answered as integers. NULL
 * with LUMI_ENOMEM in err when out of memory.
 */
json_t *db_row_json(struct db_stmt *st, const char *const *int_columns, struct lumi_err *err);

/**
 * The first row of sql, run with $1 = id, as db_row_json answers it; JSON
 * null (a new reference) when there is no row; NULL with err on failure.
 */
json_t *db_one_row_json(struct db *db, const char *sql, int64_t id,
                        const char *const *int_columns, struct lumi_err *err);

#endif

/*
 * docnum.h — numbers of invoices and credit notes, gap-free and unique.
 *
 * A document kind ("invoice", "credit_note") has a format in the settings
 * (<kind>.number_format, see core/numfmt.h for its tokens). Its numbers come
 * from `doc_sequences`: one row per scope — "<kind>" when the format has no
 * year in it, "<kind>:<YYYY>" when it has (so the sequence starts at 1 again
 * each year). The number is taken inside the document's own transaction
 * (an upsert of the row, then UPDATE … RETURNING), so the row lock (the
 * write lock on SQLite) holds other writers until commit and a rollback
 * gives the number back: no gap, no number given twice, on both engines.
 */
#ifndef LUMI_BILLING_DOCNUM_H
#define LUMI_BILLING_DOCNUM_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

/**
 * Inside the caller's open transaction: the next number of kind
 * ("invoice" | "credit_note") for the time now (Unix seconds, UTC: the year
 * and month of the tokens and the yearly scope) into out. LUMI_EINTERNAL
 * without a transaction or for an unknown kind, LUMI_EINVAL when the stored
 * format is invalid, LUMI_ETOOLARGE when out is too small, < 0 on a
 * database error.
 */
int docnum_take(struct db *db, const char *kind, int64_t now, char *out, size_t size,
                struct lumi_err *err);

#endif

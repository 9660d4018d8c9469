/*
 * docnum.c — document numbering over `doc_sequences` (see docnum.h).
 *
 * Owns the SQL over doc_sequences. The row of a scope is created at 0 the
 * first time (INSERT … ON CONFLICT DO NOTHING: a concurrent creator waits
 * for the first one's transaction and then does nothing), then incremented
 * with UPDATE … RETURNING, which locks the row until the caller commits or
 * rolls back. The format is read through the settings registry on the
 * caller's connection, so it is the one in force in that transaction.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/docnum.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "core/numfmt.h"
#include "core/str.h"
#include "settings/registry.h"

#define SCOPE_MAX 48

static const char SQL_SCOPE_CREATE[] =
    "INSERT INTO doc_sequences (scope, last_value) VALUES ($1, 0) ON CONFLICT (scope) DO NOTHING";
static const char SQL_SCOPE_TAKE[] =
    "UPDATE doc_sequences SET last_value = last_value + 1 WHERE scope = $1 RETURNING last_value";

/* The next value of scope's sequence (>= 1) into *seq. */
static int take_seq(struct db *db, const char *scope, int64_t *seq, struct lumi_err *err)
{
    const char *params[] = {scope};
    int rc = db_execp(db, SQL_SCOPE_CREATE, 1, params, NULL, err);
    if (rc < 0)
        return rc;
    rc = db_query_int64(db, SQL_SCOPE_TAKE, 1, params, seq, err);
    if (rc == LUMI_ENOTFOUND)
        return err_set(err, LUMI_EINTERNAL, "the number sequence '%s' is missing", scope);
    if (rc < 0)
        return rc;
    if (*seq < 1)
        return err_set(err, LUMI_EINTERNAL, "the number sequence '%s' holds %" PRId64, scope, *seq);
    return 0;
}

int docnum_take(struct db *db, const char *kind, int64_t now, char *out, size_t size,
                struct lumi_err *err)
{
    char key[SCOPE_MAX], fmt[NUMFMT_MAX_LEN + 8], scope[SCOPE_MAX], why[160];
    struct tm tm;
    time_t t = (time_t)now;
    int64_t seq = 0;
    if (size > 0)
        out[0] = '\0';
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "docnum_take needs an open transaction");
    if (!str_eq(kind, "invoice") && !str_eq(kind, "credit_note"))
        return err_set(err, LUMI_EINTERNAL, "no numbering for documents of kind '%s'",
                       kind != NULL ? kind : "(null)");
    if (gmtime_r(&t, &tm) == NULL)
        return err_set(err, LUMI_EINTERNAL, "no calendar date for time %" PRId64, now);
    snprintf(key, sizeof key, "%s.number_format", kind);
    int rc = settings_reg_text(db, key, fmt, sizeof fmt, err);
    if (rc < 0)
        return rc;
    if (numfmt_check(fmt, why, sizeof why) != 0)
        return err_set(err, LUMI_EINVAL, "setting '%s' is invalid: %s", key, why);
    int year = tm.tm_year + 1900, month = tm.tm_mon + 1;
    if (numfmt_per_year(fmt))
        snprintf(scope, sizeof scope, "%s:%04d", kind, year);
    else
        snprintf(scope, sizeof scope, "%s", kind);
    rc = take_seq(db, scope, &seq, err);
    if (rc < 0)
        return rc;
    rc = numfmt_render(fmt, year, month, seq, out, size);
    if (rc != 0)
        return err_set(err, rc, "the %s number does not fit in %zu bytes", kind, size);
    return 0;
}

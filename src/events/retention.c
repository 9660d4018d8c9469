/*
 * retention.c — removing old outgoing events and their deliveries (see
 * retention.h).
 *
 * Owns the DELETEs of `outgoing_events` and `webhook_deliveries`. Walks the
 * events by id (their primary key, which grows with created_at) a chunk at
 * a time and stops at the first one not old enough, so a round reads only
 * the old head of the table and what follows it by one chunk, with no index
 * on created_at. Stateless: the caller's connection, no transaction open.
 */
#include "events/retention.h"

#include <stdbool.h>
#include <stdio.h>

#include "core/utc.h"

#define CHUNK 250 /* events looked at, and at most removed, per transaction */

static const char SQL_HEAD[] =
    "SELECT e.id, e.created_at,"
    " CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries d"
    "   WHERE d.event_id = e.id AND d.state = 'pending') THEN 1 ELSE 0 END"
    " FROM outgoing_events e WHERE e.id > $1 ORDER BY e.id LIMIT $2";
static const char SQL_DELETE_DELIVERIES[] = "DELETE FROM webhook_deliveries WHERE event_id = $1";
static const char SQL_DELETE_EVENT[] = "DELETE FROM outgoing_events WHERE id = $1";

struct chunk {
    int64_t ids[CHUNK]; /* the old, finished events of this chunk */
    int n;
    int64_t last; /* the last id looked at: the next chunk starts after it */
    bool done;    /* a young event (or the table's end) was reached */
};

/* Reads the next chunk of events after `after`: which may go. */
static int read_chunk(struct db *db, int64_t after, int64_t cutoff, struct chunk *c,
                      struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_HEAD, err);
    int rc, seen = 0;
    c->n = 0;
    c->last = after;
    c->done = false;
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, after);
    db_bind_int64(st, 2, CHUNK);
    while ((rc = db_step(st, err)) == DB_ROW) {
        seen++;
        c->last = db_col_int64(st, 0);
        const char *text = db_col_text(st, 1);
        int64_t created = 0;
        if (text == NULL || utc_parse(text, &created, NULL) != 0 || created >= cutoff) {
            c->done = true; /* everything after it is younger */
            break;
        }
        if (db_col_int64(st, 2) == 0)
            c->ids[c->n++] = c->last;
    }
    db_finalize(st);
    if (rc < 0)
        return err->code;
    if (seen < CHUNK)
        c->done = true;
    return 0;
}

/* Removes the chunk's events and their deliveries in one transaction. */
static int remove_chunk(struct db *db, const struct chunk *c, struct lumi_err *err)
{
    char id[24];
    const char *p[] = {id};
    if (c->n == 0)
        return 0;
    if (db_begin(db, err) != 0)
        return err->code;
    for (int i = 0; i < c->n; i++) {
        snprintf(id, sizeof id, "%lld", (long long)c->ids[i]);
        if (db_execp(db, SQL_DELETE_DELIVERIES, 1, p, NULL, err) != 0 ||
            db_execp(db, SQL_DELETE_EVENT, 1, p, NULL, err) != 0) {
            db_rollback(db);
            return err->code;
        }
    }
    return db_commit(db, err);
}

int events_prune(struct db *db, int64_t now, int keep_days, int64_t *pruned, struct lumi_err *err)
{
    struct chunk c;
    int64_t after = 0, cutoff = now - (int64_t)(keep_days > 0 ? keep_days : 1) * 86400;
    *pruned = 0;
    for (;;) {
        if (read_chunk(db, after, cutoff, &c, err) != 0 || remove_chunk(db, &c, err) != 0)
            return err->code;
        *pruned += c.n;
        after = c.last;
        if (c.done)
            return 0;
    }
}

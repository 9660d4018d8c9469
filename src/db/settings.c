/*
 * settings.c — see settings.h. Uses only the connection it is given.
 */
#include "db/settings.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/str.h"

/*
 * Inside a transaction each key is read once (issue 15). A delivery or a
 * renewal asks for the same few keys (number formats, mail switches, the
 * company's details, tax settings) and a group commit or an automation group
 * runs dozens of them in one transaction; on PostgreSQL every read was a
 * round trip, about four per delivery. Per thread (a connection is one
 * thread's at a time) and keyed by the transaction (db_tx_serial, unique in
 * the process), so the next transaction reads afresh; a thread that writes a
 * setting calls settings_forget. Longer keys or values are read every time.
 */
#define KEPT_KEYS 24
#define KEPT_KEY 64
#define KEPT_VALUE 256
static _Thread_local struct {
    uint64_t tx; /* 0: nothing kept */
    int n;
    struct {
        char key[KEPT_KEY];
        char value[KEPT_VALUE];
        bool set;
    } e[KEPT_KEYS];
} kept;

void settings_forget(void)
{
    kept.tx = 0;
}

/* The kept entry of key in transaction tx, or -1. */
static int kept_find(uint64_t tx, const char *key)
{
    if (tx == 0 || kept.tx != tx)
        return -1;
    for (int i = 0; i < kept.n; i++)
        if (strcmp(kept.e[i].key, key) == 0)
            return i;
    return -1;
}

static void kept_add(uint64_t tx, const char *key, const char *value, bool set)
{
    if (tx == 0 || strlen(key) >= KEPT_KEY || strlen(value) >= KEPT_VALUE)
        return;
    if (kept.tx != tx) {
        kept.tx = tx;
        kept.n = 0;
    }
    if (kept.n == KEPT_KEYS)
        return;
    str_copy(kept.e[kept.n].key, key, KEPT_KEY);
    str_copy(kept.e[kept.n].value, value, KEPT_VALUE);
    kept.e[kept.n].set = set;
    kept.n++;
}

int settings_get(struct db *db, const char *key, char *out, size_t outsz, struct lumi_err *err)
{
    if (outsz > 0)
        out[0] = '\0';
    uint64_t tx = db_tx_serial(db);
    int k = kept_find(tx, key);
    if (k >= 0) {
        if (outsz > 0)
            str_copy(out, kept.e[k].value, outsz);
        return kept.e[k].set ? 1 : 0;
    }
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
    const char *v = set && db_col_text(st, 0) != NULL ? db_col_text(st, 0) : "";
    if (set && outsz > 0)
        str_copy(out, v, outsz);
    if (rc >= 0)
        kept_add(tx, key, v, set);
    db_finalize(st);
    return rc < 0 ? rc : set ? 1 : 0;
}

/*
 * migrations.h — the compiled-in schema scripts (private to src/db/).
 *
 * Scripts are written once for both engines. The one dialect difference is
 * spelled `{{PK}}` and rewritten by migrate.c before execution:
 *   SQLite:     INTEGER PRIMARY KEY AUTOINCREMENT
 *   PostgreSQL: BIGSERIAL PRIMARY KEY
 * A migration may also give SQLite its own script (sqlite_sql).
 */
#ifndef LUMI_DB_MIGRATIONS_H
#define LUMI_DB_MIGRATIONS_H

#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
    /* When set, SQLite runs this instead of sql: the engines differ in how a
     * table's constraints can be changed in place. */
    const char *sqlite_sql;
};

extern const struct migration lumi_migrations[];
extern const size_t lumi_migrations_count;

#endif

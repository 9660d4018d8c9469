/*
 * migrate.h — versioned schema migrations.
 *
 * Migrations are numbered SQL scripts compiled into the binary (migrations.c),
 * written once for both engines. Each is applied in its own transaction and
 * recorded in `schema_migrations(version, name, applied_at)`; applying twice
 * changes nothing. Concurrent migrators are serialised (PostgreSQL advisory
 * lock; SQLite write lock).
 */
#ifndef LUMI_DB_MIGRATE_H
#define LUMI_DB_MIGRATE_H

#include "db/db.h"

/** Applies every pending migration. *applied (may be NULL) gets how many ran. */
int db_migrate(struct db *db, int *applied, struct lumi_err *err);

/** As db_migrate, stopping after `version`: for tests of a migration over an older schema. */
int db_migrate_upto(struct db *db, int version, int *applied, struct lumi_err *err);

/** Highest version compiled into this binary. */
int db_schema_version_latest(void);

#endif

/*
 * backup.h — consistent copies of the database while Lumi runs, restores
 * that cannot pull the file from under a running server, and the scheduled
 * copies of LUMI_BACKUP_DIR.
 *
 * SQLite: the online backup API copies one read snapshot (WAL: writers go
 * on meanwhile) into PATH.tmp, which is synced and renamed to PATH. Running
 * `lumi serve` and `lumi worker` hold a shared lock on "<database>-lumi.lock"
 * (db_lock_shared) for their whole life; a restore takes it exclusively, so
 * it refuses to run while either is up, and neither starts during a restore.
 * PostgreSQL: `pg_dump --format=custom` (connection settings passed in its
 * environment, so the password is never on a command line); restores are
 * pg_restore's job, which db_restore explains.
 */
#ifndef LUMI_DB_BACKUP_H
#define LUMI_DB_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/**
 * Takes the shared "in use" lock of DATABASE_URL url for the life of the
 * process: *fd is the lock's descriptor (-1 when the engine needs none:
 * PostgreSQL, in-memory SQLite). LUMI_EBUSY while a restore runs.
 */
int db_lock_shared(const char *url, int *fd, struct lumi_err *err);

/** Gives the lock back (fd -1 is a no-op). */
void db_lock_release(int fd);

/**
 * Writes a consistent copy of the database to path (replaced atomically;
 * never the database itself). On PostgreSQL runs pg_dump; when it is not
 * installed, LUMI_EIO with a message saying how to back up.
 */
int db_backup(const char *url, const char *path, struct lumi_err *err);

/**
 * SQLite: replaces the database with the backup at path, after checking the
 * backup's integrity and that no Lumi process has the database open
 * (LUMI_EBUSY naming the lock otherwise). The database as it was is kept
 * beside it as "<database>.before-restore" when it existed. PostgreSQL:
 * LUMI_EINVAL with the pg_restore command to use.
 */
int db_restore(const char *url, const char *path, struct lumi_err *err);

/**
 * The scheduler's backup: when the newest "lumi-*" copy in dir is a day old
 * or there is none, writes "lumi-YYYYMMDDTHHMMSSZ.db" (".dump" on
 * PostgreSQL) for now, then deletes the oldest copies beyond keep. made
 * gets the new file's path ("" when none was due).
 */
int db_backup_scheduled(const char *url, const char *dir, int keep, int64_t now, char *made,
                        size_t madesz, struct lumi_err *err);

#endif

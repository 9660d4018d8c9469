/*
 * faultvfs.h — a test SQLite VFS over the default unix one that simulates
 * power loss and injects disk-full and I/O errors (test code only: linked
 * into the fault tests and the crash runner, never into `lumi`).
 *
 * Power loss: for each database, write-ahead-log and journal file it keeps
 * what the file held at its last sync (an undo log of the bytes each write
 * or truncate replaced, and the size at that sync). Every write, truncate
 * and sync is one operation; at operation number crash_at the power goes:
 * each file is put back to its last synced content (with tear, a random
 * prefix of the newest unsynced write survives, as a half-written page
 * would), and the process ends at once with _exit(crash_status) — no
 * destructor, no flush, no answer sent after that point.
 *
 * Lumi's group commit syncs the write-ahead log through a descriptor of its
 * own (batch.c: open + fdatasync), not through SQLite. So this file also
 * defines fdatasync(): linked into a program, it replaces the C library's,
 * counts as a sync of the file the descriptor names, and passes every other
 * call through.
 *
 * Not modelled: directory entries. A file created since the last sync comes
 * back empty rather than missing, and a deletion is durable at once (SQLite
 * syncs the database before it deletes a log or journal that held changes).
 * The -shm index is not tracked: SQLite rebuilds it after a crash.
 *
 * Faults: with a fault set, writes fail with SQLITE_FULL (FULL) or
 * SQLITE_IOERR_WRITE (IOERR, syncs and truncates fail too); reads work.
 * faultvfs_set_fault switches it in-process; ctl_path names a file read at
 * most every 50 ms holding "none", "full" or "ioerr", for a server process.
 *
 * Threading: every write, truncate and sync runs under one mutex (a test
 * VFS: order matters more than speed), so the crash sees no write half done.
 */
#ifndef LUMI_TEST_FAULTVFS_H
#define LUMI_TEST_FAULTVFS_H

#include <stdbool.h>

enum faultvfs_fault { FAULTVFS_NONE = 0, FAULTVFS_FULL, FAULTVFS_IOERR };

#define FAULTVFS_CRASH_STATUS 86

struct faultvfs_opts {
    long long crash_at;   /* lose power at this operation (1-based); 0 = never */
    bool tear;            /* keep a random prefix of the newest unsynced write */
    unsigned seed;        /* for the tear */
    bool real_sync;       /* also sync the real files (off in crash runs: faster) */
    const char *ctl_path; /* fault control file, or NULL */
    const char *ops_path; /* at exit(), the operation count is written here, or NULL */
};

/**
 * Registers the shim as SQLite's default VFS (before any database is
 * opened). 0, or -1 when SQLite refuses it or it is already registered.
 */
int faultvfs_register(const struct faultvfs_opts *o);

/**
 * faultvfs_register from the environment, for a server started by a test:
 * FAULTVFS_CRASH_AT, FAULTVFS_TEAR (1), FAULTVFS_SEED, FAULTVFS_CTL,
 * FAULTVFS_OPS. Does nothing (0) when none is set.
 */
int faultvfs_register_env(void);

/** Sets the injected fault for every file from now on. */
void faultvfs_set_fault(enum faultvfs_fault f);

/** Operations (writes, truncates, syncs) counted so far. */
long long faultvfs_ops(void);

#endif

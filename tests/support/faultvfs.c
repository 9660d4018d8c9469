/*
 * faultvfs.c — simulated power loss and injected write faults under SQLite
 * (see faultvfs.h for what is and is not modelled).
 *
 * Owns: the VFS "faultvfs" (a wrapper of the default VFS whose files carry
 * the real file behind them), the registry of tracked files (one entry per
 * path, shared by every connection that opens it, with a private descriptor
 * used to read old bytes and to put them back), and the replacement of
 * fdatasync().
 *
 * Threading: one mutex around every write, truncate, sync and the registry;
 * a thread-local flag lets the real unix VFS's own fdatasync calls (made
 * while the shim syncs a file for real) pass through uncounted.
 */
#include "support/faultvfs.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 64
#define CTL_POLL_NS 50000000LL

struct undo {
    sqlite3_int64 off;
    int len;
    unsigned char *old; /* the bytes the write replaced (only those below the old size) */
};

struct tfile {
    char path[PATH_MAX];
    int fd; /* private: reads the old bytes, writes them back */
    dev_t dev;
    ino_t ino;
    bool gone; /* deleted since (deletion taken as durable) */
    sqlite3_int64 synced_size;
    struct undo *log;
    size_t n, cap;
};

struct ffile {
    sqlite3_file base;
    struct tfile *t; /* NULL: not tracked (temp files) */
    sqlite3_file *real;
};

static struct {
    pthread_mutex_t lock;
    sqlite3_vfs vfs;
    sqlite3_vfs *under;
    struct faultvfs_opts o;
    char ctl_path[PATH_MAX];
    char ops_path[PATH_MAX];
    bool on;
    long long ops;
    _Atomic int fault;
    long long ctl_next_ns;
    struct tfile files[MAX_FILES];
    int nfiles;
    /* the newest write, for the tear: which file, where, what */
    struct tfile *last_t;
    sqlite3_int64 last_off;
    unsigned char *last_data;
    int last_len;
    unsigned rng;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local bool in_shim;

static struct ffile *ff(sqlite3_file *f)
{
    return (struct ffile *)f;
}

static unsigned next_rand(void)
{
    S.rng = S.rng * 1103515245u + 12345u;
    return S.rng >> 8;
}

/* ---- power loss ---- */

static void put_back(struct tfile *t)
{
    if (t->gone || t->fd < 0)
        return;
    for (size_t i = t->n; i-- > 0;) {
        struct undo *u = &t->log[i];
        if (u->len > 0 && pwrite(t->fd, u->old, (size_t)u->len, u->off) != u->len)
            _exit(99);
    }
    if (ftruncate(t->fd, t->synced_size) != 0)
        _exit(99);
    if (S.o.tear && t == S.last_t && S.last_len > 0) {
        int keep = (int)(next_rand() % (unsigned)S.last_len);
        if (keep > 0 && pwrite(t->fd, S.last_data, (size_t)keep, S.last_off) != keep)
            _exit(99);
    }
}

/* The power goes: every file back to what its last sync made durable. */
static void lose_power(void)
{
    for (int i = 0; i < S.nfiles; i++)
        put_back(&S.files[i]);
    _exit(FAULTVFS_CRASH_STATUS);
}

/* One more operation (lock held): at crash_at, the power goes before it takes effect. */
static void tick(void)
{
    S.ops++;
    if (S.o.crash_at > 0 && S.ops >= S.o.crash_at)
        lose_power();
}

static void forget_log(struct tfile *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->log[i].old);
    t->n = 0;
    if (S.last_t == t)
        S.last_t = NULL; /* its newest write is durable now: nothing to tear */
}

static sqlite3_int64 size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (sqlite3_int64)st.st_size : 0;
}

static void mark_synced(struct tfile *t)
{
    forget_log(t);
    t->synced_size = size_of(t->fd);
}

/* Saves what [off, off+len) holds now before it is overwritten (lock held). */
static int remember(struct tfile *t, sqlite3_int64 off, sqlite3_int64 len)
{
    sqlite3_int64 size = size_of(t->fd);
    sqlite3_int64 end = off + len;
    if (end > size)
        end = size;
    if (end > t->synced_size)
        end = t->synced_size; /* beyond it the truncate at power loss takes care */
    if (end <= off)
        return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct undo *log = realloc(t->log, cap * sizeof *log);
        if (log == NULL)
            return -1;
        t->log = log;
        t->cap = cap;
    }
    struct undo *u = &t->log[t->n];
    u->off = off;
    u->len = (int)(end - off);
    u->old = malloc((size_t)u->len);
    if (u->old == NULL || pread(t->fd, u->old, (size_t)u->len, off) != u->len) {
        free(u->old);
        return -1;
    }
    t->n++;
    return 0;
}

static void note_last_write(struct tfile *t, const void *data, int len, sqlite3_int64 off)
{
    if (!S.o.tear)
        return;
    unsigned char *copy = realloc(S.last_data, (size_t)len);
    if (copy == NULL)
        return;
    memcpy(copy, data, (size_t)len);
    S.last_data = copy;
    S.last_len = len;
    S.last_off = off;
    S.last_t = t;
}

/* ---- faults ---- */

static void poll_ctl(void)
{
    if (S.ctl_path[0] == '\0')
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (now < S.ctl_next_ns)
        return;
    S.ctl_next_ns = now + CTL_POLL_NS;
    char buf[16] = {0};
    int fd = open(S.ctl_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    if (strncmp(buf, "full", 4) == 0)
        atomic_store(&S.fault, FAULTVFS_FULL);
    else if (strncmp(buf, "ioerr", 5) == 0)
        atomic_store(&S.fault, FAULTVFS_IOERR);
    else
        atomic_store(&S.fault, FAULTVFS_NONE);
}

/* ---- the tracked-file registry (lock held) ---- */

static struct tfile *track(const char *path)
{
    struct tfile *t = NULL;
    for (int i = 0; i < S.nfiles; i++)
        if (strcmp(S.files[i].path, path) == 0)
            t = &S.files[i];
    if (t != NULL && !t->gone)
        return t;
    if (t == NULL) {
        if (S.nfiles == MAX_FILES)
            return NULL;
        t = &S.files[S.nfiles++];
        memset(t, 0, sizeof *t);
        snprintf(t->path, sizeof t->path, "%s", path);
        t->fd = -1;
    }
    bool again = t->gone; /* deleted and created anew: nothing of it is synced yet */
    if (t->fd >= 0)
        close(t->fd);
    t->fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (t->fd < 0 || fstat(t->fd, &st) != 0)
        return NULL;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->gone = false;
    forget_log(t);
    /* a file already there when first seen counts as synced (the test wrote it) */
    t->synced_size = again ? 0 : (sqlite3_int64)st.st_size;
    return t;
}

/* ---- sqlite3_io_methods ---- */

static int f_close(sqlite3_file *f)
{
    int rc = ff(f)->real->pMethods ? ff(f)->real->pMethods->xClose(ff(f)->real) : SQLITE_OK;
    return rc;
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    return ff(f)->real->pMethods->xRead(ff(f)->real, buf, amt, off);
}

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct ffile *x = ff(f);
    pthread_mutex_lock(&S.lock);
    poll_ctl();
    int fault = atomic_load(&S.fault);
    int rc;
    if (fault != FAULTVFS_NONE) {
        rc = fault == FAULTVFS_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
        goto out;
    }
    if (x->t != NULL) {
        if (S.o.crash_at > 0 && S.ops + 1 >= S.o.crash_at)
            note_last_write(x->t, buf, amt, off); /* the interrupted write may be torn */
        tick();
        if (remember(x->t, off, amt) != 0) {
            rc = SQLITE_IOERR_NOMEM;
            goto out;
        }
        note_last_write(x->t, buf, amt, off);
    }
    in_shim = true;
    rc = x->real->pMethods->xWrite(x->real, buf, amt, off);
    in_shim = false;
out:
    pthread_mutex_unlock(&S.lock);
    return rc;
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct ffile *x = ff(f);
    pthread_mutex_lock(&S.lock);
    poll_ctl();
    int rc;
    if (atomic_load(&S.fault) == FAULTVFS_IOERR) {
        rc = SQLITE_IOERR_TRUNCATE;
        goto out;
    }
    if (x->t != NULL) {
        tick();
        sqlite3_int64 cur = size_of(x->t->fd);
        if (size < cur && remember(x->t, size, cur - size) != 0) {
            rc = SQLITE_IOERR_NOMEM;
            goto out;
        }
    }
    in_shim = true;
    rc = x->real->pMethods->xTruncate(x->real, size);
    in_shim = false;
out:
    pthread_mutex_unlock(&S.lock);
    return rc;
}

static int f_sync(sqlite3_file *f, int flags)
{
    struct ffile *x = ff(f);
    pthread_mutex_lock(&S.lock);
    poll_ctl();
    int rc = SQLITE_OK;
    if (atomic_load(&S.fault) == FAULTVFS_IOERR) {
        rc = SQLITE_IOERR_FSYNC;
        goto out;
    }
    if (x->t != NULL)
        tick();
    if (S.o.real_sync || x->t == NULL) {
        in_shim = true;
        rc = x->real->pMethods->xSync(x->real, flags);
        in_shim = false;
    }
    if (rc == SQLITE_OK && x->t != NULL)
        mark_synced(x->t);
out:
    pthread_mutex_unlock(&S.lock);
    return rc;
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return ff(f)->real->pMethods->xFileSize(ff(f)->real, size);
}

static int f_lock(sqlite3_file *f, int l)
{
    return ff(f)->real->pMethods->xLock(ff(f)->real, l);
}

static int f_unlock(sqlite3_file *f, int l)
{
    return ff(f)->real->pMethods->xUnlock(ff(f)->real, l);
}

static int f_reserved(sqlite3_file *f, int *out)
{
    return ff(f)->real->pMethods->xCheckReservedLock(ff(f)->real, out);
}

static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    /* a size hint may grow the file outside xWrite/xTruncate: it is only a hint */
    if (op == SQLITE_FCNTL_SIZE_HINT && ff(f)->t != NULL)
        return SQLITE_NOTFOUND;
    return ff(f)->real->pMethods->xFileControl(ff(f)->real, op, arg);
}

static int f_sector(sqlite3_file *f)
{
    return ff(f)->real->pMethods->xSectorSize(ff(f)->real);
}

static int f_devchar(sqlite3_file *f)
{
    return ff(f)->real->pMethods->xDeviceCharacteristics(ff(f)->real);
}

static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return ff(f)->real->pMethods->xShmMap(ff(f)->real, pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return ff(f)->real->pMethods->xShmLock(ff(f)->real, off, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    ff(f)->real->pMethods->xShmBarrier(ff(f)->real);
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
    return ff(f)->real->pMethods->xShmUnmap(ff(f)->real, del);
}

/* Version 2: shared memory for WAL, no memory-mapped I/O (xFetch would write behind our back). */
static const sqlite3_io_methods METHODS = {
    .iVersion = 2,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_reserved,
    .xFileControl = f_fcntl,
    .xSectorSize = f_sector,
    .xDeviceCharacteristics = f_devchar,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
};

/* ---- sqlite3_vfs ---- */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct ffile *x = ff(f);
    memset(x, 0, sizeof *x);
    x->real = (sqlite3_file *)(x + 1);
    int rc = S.under->xOpen(S.under, name, x->real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc; /* pMethods stays NULL: SQLite will not call xClose */
    f->pMethods = &METHODS;
    bool durable =
        (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
    if (name != NULL && durable && !(flags & SQLITE_OPEN_DELETEONCLOSE)) {
        pthread_mutex_lock(&S.lock);
        x->t = track(name);
        pthread_mutex_unlock(&S.lock);
    }
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    pthread_mutex_lock(&S.lock);
    poll_ctl();
    if (atomic_load(&S.fault) == FAULTVFS_IOERR) {
        pthread_mutex_unlock(&S.lock);
        return SQLITE_IOERR_DELETE;
    }
    for (int i = 0; i < S.nfiles; i++) {
        struct tfile *t = &S.files[i];
        if (!t->gone && strcmp(t->path, name) == 0) {
            forget_log(t);
            t->gone = true;
            if (t->fd >= 0)
                close(t->fd);
            t->fd = -1;
        }
    }
    in_shim = true;
    int rc = S.under->xDelete(S.under, name, S.o.real_sync ? sync_dir : 0);
    in_shim = false;
    pthread_mutex_unlock(&S.lock);
    return rc;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return S.under->xAccess(S.under, name, flags, out);
}

static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return S.under->xFullPathname(S.under, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    return S.under->xDlOpen(S.under, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    S.under->xDlError(S.under, n, out);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return S.under->xDlSym(S.under, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    S.under->xDlClose(S.under, h);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
    return S.under->xRandomness(S.under, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    return S.under->xSleep(S.under, us);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
    return S.under->xCurrentTime(S.under, out);
}

static int v_lasterr(sqlite3_vfs *vfs, int n, char *out)
{
    return S.under->xGetLastError(S.under, n, out);
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return S.under->xCurrentTimeInt64(S.under, out);
}

static void write_ops_at_exit(void)
{
    if (S.ops_path[0] == '\0')
        return;
    FILE *fp = fopen(S.ops_path, "w");
    if (fp == NULL)
        return;
    fprintf(fp, "%lld\n", S.ops);
    fclose(fp);
}

int faultvfs_register(const struct faultvfs_opts *o)
{
    if (S.on)
        return -1;
    S.under = sqlite3_vfs_find(NULL);
    if (S.under == NULL)
        return -1;
    S.o = *o;
    snprintf(S.ctl_path, sizeof S.ctl_path, "%s", o->ctl_path ? o->ctl_path : "");
    snprintf(S.ops_path, sizeof S.ops_path, "%s", o->ops_path ? o->ops_path : "");
    S.o.ctl_path = S.ctl_path;
    S.o.ops_path = S.ops_path;
    S.rng = o->seed ? o->seed : 1;
    S.vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct ffile) + S.under->szOsFile,
        .mxPathname = S.under->mxPathname,
        .zName = "faultvfs",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_fullpath,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    if (sqlite3_vfs_register(&S.vfs, 1) != SQLITE_OK)
        return -1;
    S.on = true;
    if (S.ops_path[0] != '\0')
        atexit(write_ops_at_exit);
    return 0;
}

static long long env_ll(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return errno == 0 && end != v && *end == '\0' ? n : 0;
}

int faultvfs_register_env(void)
{
    struct faultvfs_opts o = {
        .crash_at = env_ll("FAULTVFS_CRASH_AT"),
        .tear = env_ll("FAULTVFS_TEAR") == 1,
        .seed = (unsigned)env_ll("FAULTVFS_SEED"),
        .real_sync = env_ll("FAULTVFS_REAL_SYNC") == 1,
        .ctl_path = getenv("FAULTVFS_CTL"),
        .ops_path = getenv("FAULTVFS_OPS"),
    };
    if (o.crash_at == 0 && o.ctl_path == NULL && o.ops_path == NULL)
        return 0;
    return faultvfs_register(&o);
}

void faultvfs_set_fault(enum faultvfs_fault f)
{
    atomic_store(&S.fault, (int)f);
}

long long faultvfs_ops(void)
{
    pthread_mutex_lock(&S.lock);
    long long n = S.ops;
    pthread_mutex_unlock(&S.lock);
    return n;
}

/* ---- fdatasync ---- */

/*
 * Replaces the C library's fdatasync in a program that links this file: a
 * sync Lumi makes on its own descriptor (the group commit's log sync) is a
 * sync of the tracked file with the same inode, counted as an operation.
 */
int fdatasync(int fd)
{
    static int (*real_fdatasync)(int);
    if (real_fdatasync == NULL)
        real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (!S.on || in_shim)
        return real_fdatasync(fd);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    pthread_mutex_lock(&S.lock);
    poll_ctl();
    int rc = 0;
    if (atomic_load(&S.fault) == FAULTVFS_IOERR) {
        errno = EIO;
        rc = -1;
        goto out;
    }
    struct tfile *t = NULL;
    for (int i = 0; i < S.nfiles; i++)
        if (!S.files[i].gone && S.files[i].dev == st.st_dev && S.files[i].ino == st.st_ino)
            t = &S.files[i];
    if (t != NULL)
        tick();
    if (S.o.real_sync || t == NULL)
        rc = real_fdatasync(fd);
    if (rc == 0 && t != NULL)
        mark_synced(t);
out:
    pthread_mutex_unlock(&S.lock);
    return rc;
}

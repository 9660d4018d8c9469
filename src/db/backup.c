/*
 * backup.c — backups, restores and the "in use" lock (see backup.h).
 *
 * Talks to SQLite directly (the online backup API has no place in db.h's
 * engine-neutral interface) and to pg_dump as a child process. Called from
 * the command line and from the scheduler thread; keeps no state.
 *
 * Consistency: the SQLite copy is made from one read transaction held on
 * the source connection for the whole copy, so the steps all see the same
 * snapshot (the backup API does not restart while its source connection
 * keeps its transaction) and, in WAL mode, writers are not held up: only
 * the checkpoint cannot go past the snapshot until the copy ends. The copy
 * is made in steps of STEP_PAGES pages, so a writer in the same process is
 * never waiting behind one long call.
 */
#include "db/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"

#define STEP_PAGES 512
#define BUSY_MS 10000
#define PATH_MAX_LEN 4096
#define DAY_S 86400
#define KEEP_SCAN_MAX 1000 /* copies looked at in LUMI_BACKUP_DIR */

static bool is_sqlite(const char *url)
{
    return str_starts_with(url, "sqlite:");
}

/* The file of a sqlite: URL into out; LUMI_EINVAL for in-memory or a path too long. */
static int sqlite_path(const char *url, char *out, size_t outsz, struct lumi_err *err)
{
    const char *p = url + 7;
    if (str_starts_with(p, "file:") || strcmp(p, ":memory:") == 0 || *p == '\0')
        return err_set(err, LUMI_EINVAL, "an in-memory or URI database cannot be backed up");
    if (str_copy(out, p, outsz) >= outsz)
        return err_set(err, LUMI_EINVAL, "the database path is too long");
    return 0;
}

static int lock_path(const char *url, char *out, size_t outsz, struct lumi_err *err)
{
    char db[PATH_MAX_LEN];
    if (sqlite_path(url, db, sizeof db, err) != 0)
        return err->code;
    int n = snprintf(out, outsz, "%s-lumi.lock", db);
    if (n < 0 || (size_t)n >= outsz)
        return err_set(err, LUMI_EINVAL, "the database path is too long");
    return 0;
}

/* Opens (creating) the lock file and flocks it with how (LOCK_SH / LOCK_EX), never waiting. */
static int lock_take(const char *url, int how, int *fd, struct lumi_err *err)
{
    char path[PATH_MAX_LEN];
    *fd = -1;
    if (lock_path(url, path, sizeof path, err) != 0)
        return err->code;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0)
        return err_set(err, LUMI_EIO, "cannot open the lock file %s: %s", path, strerror(errno));
    if (flock(f, how | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            return err_set(err, LUMI_EBUSY,
                           how == LOCK_EX
                               ? "the database is in use: a `lumi serve` or `lumi worker` holds "
                                 "%s; stop it first"
                               : "the database is being restored (%s is held); try again when "
                                 "`lumi restore` has finished",
                           path);
        return err_set(err, LUMI_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    *fd = f;
    return 0;
}

int db_lock_shared(const char *url, int *fd, struct lumi_err *err)
{
    *fd = -1;
    if (!is_sqlite(url) || strcmp(url + 7, ":memory:") == 0 || str_starts_with(url + 7, "file:"))
        return 0;
    return lock_take(url, LOCK_SH, fd, err);
}

void db_lock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* closing drops the flock */
}

/* ---- files ---- */

/* fsyncs path (a file, or a directory so a rename in it is durable). */
static int sync_path(const char *path, bool dir, struct lumi_err *err)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, LUMI_EIO, "cannot open %s to sync it: %s", path, strerror(errno));
    int rc =
        fsync(fd) == 0 ? 0 : err_set(err, LUMI_EIO, "cannot sync %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *out, size_t outsz)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        str_copy(out, ".", outsz);
    else if (slash == path)
        str_copy(out, "/", outsz);
    else
        snprintf(out, outsz, "%.*s", (int)(slash - path), path);
}

/* Syncs tmp, renames it to path and syncs the directory. */
static int publish(const char *tmp, const char *path, struct lumi_err *err)
{
    char dir[PATH_MAX_LEN];
    if (sync_path(tmp, false, err) != 0)
        return err->code;
    if (rename(tmp, path) != 0)
        return err_set(err, LUMI_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    dir_of(path, dir, sizeof dir);
    return sync_path(dir, true, err);
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* ---- SQLite ---- */

static int lite_fail(struct lumi_err *err, sqlite3 *h, const char *what, int rc)
{
    return err_set(err, LUMI_EDB, "%s: %s", what,
                   h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
}

/* Copies src (with its read transaction open) into dst in steps. */
static int lite_copy(sqlite3 *src, sqlite3 *dst, struct lumi_err *err)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL)
        return lite_fail(err, dst, "cannot start the backup", 0);
    int rc;
    do {
        rc = sqlite3_backup_step(b, STEP_PAGES);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(5);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
        return lite_fail(err, dst, "the backup failed", rc);
    return 0;
}

/* "ok", or LUMI_EINVAL with SQLite's first complaint, for the file at path. */
static int lite_check(const char *path, struct lumi_err *err)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        rc = err_set(err, LUMI_EINVAL, "%s cannot be opened as a database: %s", path,
                     h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        goto out;
    }
    rc = sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = err_set(err, LUMI_EINVAL, "%s is not a usable database: %s", path, sqlite3_errmsg(h));
        goto out;
    }
    const char *res = (const char *)sqlite3_column_text(st, 0);
    if (res == NULL || strcmp(res, "ok") != 0) {
        rc = err_set(err, LUMI_EINVAL, "%s fails its integrity check: %.200s", path,
                     res ? res : "(no answer)");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM audit_log", -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        rc = err_set(err, LUMI_EINVAL, "%s is not a Lumi database (no audit trail)", path);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rc;
}

/* Copies the database file db into path (through path.tmp). */
static int lite_backup_file(const char *db, const char *path, struct lumi_err *err)
{
    char tmp[PATH_MAX_LEN + 8];
    sqlite3 *src = NULL, *dst = NULL;
    int rc;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_set(err, LUMI_EINVAL, "the backup path is too long");
    if (access(db, F_OK) != 0)
        return err_set(err, LUMI_ENOTFOUND, "there is no database at %s", db);
    if (same_file(db, path))
        return err_set(err, LUMI_EINVAL, "the backup cannot overwrite the database itself");
    unlink(tmp);
    rc = sqlite3_open_v2(db, &src, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        rc = lite_fail(err, src, "cannot open the database", rc);
        goto out;
    }
    sqlite3_busy_timeout(src, BUSY_MS);
    /* The snapshot every step copies from (see the file comment). */
    if (sqlite3_exec(src, "BEGIN; SELECT COUNT(*) FROM sqlite_schema", NULL, NULL, NULL) !=
        SQLITE_OK) {
        rc = lite_fail(err, src, "cannot read the database", 0);
        goto out;
    }
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = lite_fail(err, dst, "cannot create the backup file", rc);
        goto out;
    }
    rc = lite_copy(src, dst, err);
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    /* A backup is a single file: no WAL beside it. */
    if (rc == 0 && sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = lite_fail(err, dst, "cannot finish the backup file", 0);
    sqlite3_close(dst);
    dst = NULL;
    if (rc == 0)
        rc = publish(tmp, path, err);
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* ---- PostgreSQL ---- */

/* In the child: the URL's settings as PG* variables (never argv), then pg_dump. */
static void pg_dump_exec(const char *url, const char *tmp)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (opts == NULL)
        _exit(126);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && o->envvar != NULL)
            setenv(o->envvar, o->val, 1);
    char file[PATH_MAX_LEN + 16];
    snprintf(file, sizeof file, "--file=%s", tmp);
    execlp("pg_dump", "pg_dump", "--format=custom", "--no-password", file, (char *)NULL);
    _exit(errno == ENOENT ? 127 : 126);
}

static int pg_backup(const char *url, const char *path, struct lumi_err *err)
{
    char tmp[PATH_MAX_LEN + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_set(err, LUMI_EINVAL, "the backup path is too long");
    unlink(tmp);
    pid_t pid = fork();
    if (pid < 0)
        return err_set(err, LUMI_EIO, "cannot start pg_dump: %s", strerror(errno));
    if (pid == 0)
        pg_dump_exec(url, tmp);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    int rc = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        rc = err_set(err, LUMI_EIO,
                     "pg_dump was not found: install the PostgreSQL client tools (Debian: "
                     "postgresql-client, the server's major version) and run `lumi backup` "
                     "again, or run `pg_dump --format=custom --file=%s` with DATABASE_URL's "
                     "settings yourself",
                     path);
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        rc = err_set(err, LUMI_EIO, "pg_dump failed (exit %d); its message is above",
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    if (rc == 0)
        rc = publish(tmp, path, err);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* ---- the entry points ---- */

int db_backup(const char *url, const char *path, struct lumi_err *err)
{
    char db[PATH_MAX_LEN];
    if (url == NULL || path == NULL || *path == '\0')
        return err_set(err, LUMI_EINVAL, "a database URL and a backup path are required");
    if (!is_sqlite(url))
        return pg_backup(url, path, err);
    if (sqlite_path(url, db, sizeof db, err) != 0)
        return err->code;
    return lite_backup_file(db, path, err);
}

/* Copies the checked backup into the database (created when missing) with SQLite's own writes. */
static int lite_restore_into(const char *db, const char *path, struct lumi_err *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    int rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        rc = lite_fail(err, src, "cannot open the backup", rc);
        goto out;
    }
    rc = sqlite3_open_v2(db, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = lite_fail(err, dst, "cannot open the database", rc);
        goto out;
    }
    sqlite3_busy_timeout(dst, BUSY_MS);
    rc = lite_copy(src, dst, err);
    if (rc == 0 && sqlite3_exec(dst, "PRAGMA journal_mode=WAL; PRAGMA wal_checkpoint(TRUNCATE)",
                                NULL, NULL, NULL) != SQLITE_OK)
        rc = lite_fail(err, dst, "cannot finish the restore", 0);
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    return rc;
}

int db_restore(const char *url, const char *path, struct lumi_err *err)
{
    char db[PATH_MAX_LEN], keep[PATH_MAX_LEN + 32];
    int lock = -1, rc;
    if (url == NULL || path == NULL || *path == '\0')
        return err_set(err, LUMI_EINVAL, "a database URL and a backup path are required");
    if (!is_sqlite(url))
        return err_set(err, LUMI_EINVAL,
                       "on PostgreSQL restore with pg_restore: stop `lumi serve` and `lumi "
                       "worker`, then run `pg_restore --clean --if-exists --no-owner "
                       "--dbname=DATABASE %s` (into an empty database, or with --clean as here)",
                       path);
    if (sqlite_path(url, db, sizeof db, err) != 0)
        return err->code;
    if (access(path, R_OK) != 0)
        return err_set(err, LUMI_ENOTFOUND, "cannot read the backup %s: %s", path, strerror(errno));
    if (same_file(db, path))
        return err_set(err, LUMI_EINVAL, "the backup is the database itself");
    if (lite_check(path, err) != 0)
        return err->code;
    rc = lock_take(url, LOCK_EX, &lock, err);
    if (rc != 0)
        return rc;
    if (access(db, F_OK) == 0) {
        snprintf(keep, sizeof keep, "%s.before-restore", db);
        rc = lite_backup_file(db, keep, err);
        if (rc != 0) {
            char msg[sizeof err->msg];
            str_copy(msg, err->msg, sizeof msg);
            rc = err_set(err, rc,
                         "the current database could not be kept aside first "
                         "(nothing was changed): %s",
                         msg);
            goto out;
        }
    }
    rc = lite_restore_into(db, path, err);
out:
    db_lock_release(lock);
    return rc;
}

/* ---- scheduled copies ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names "lumi-<stamp><ext>" in dir, sorted oldest first (the stamp sorts as text). */
static int list_copies(const char *dir, const char *ext, char **names, size_t *n,
                       struct lumi_err *err)
{
    DIR *d = opendir(dir);
    *n = 0;
    if (d == NULL)
        return err_set(err, LUMI_EIO, "LUMI_BACKUP_DIR %s: %s", dir, strerror(errno));
    struct dirent *e;
    size_t el = strlen(ext);
    while ((e = readdir(d)) != NULL && *n < KEEP_SCAN_MAX) {
        size_t len = strlen(e->d_name);
        if (len == 5 + 16 + el && str_starts_with(e->d_name, "lumi-") &&
            strcmp(e->d_name + len - el, ext) == 0) {
            names[*n] = str_dup(e->d_name);
            if (names[*n] != NULL)
                (*n)++;
        }
    }
    closedir(d);
    qsort(names, *n, sizeof *names, cmp_names);
    return 0;
}

/* "YYYYMMDDTHHMMSSZ" of the copy's name as a time; 0 when it does not parse. */
static int64_t stamp_time(const char *name)
{
    char iso[UTC_ISO_LEN];
    const char *s = name + 5;
    int64_t t = 0;
    struct lumi_err e;
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 9, s + 11,
             s + 13);
    return utc_parse(iso, &t, &e) == 0 ? t : 0;
}

int db_backup_scheduled(const char *url, const char *dir, int keep, int64_t now, char *made,
                        size_t madesz, struct lumi_err *err)
{
    const char *ext = is_sqlite(url) ? ".db" : ".dump";
    char **names = calloc(KEEP_SCAN_MAX + 1, sizeof *names); /* + the new copy */
    char iso[UTC_ISO_LEN], stamp[20], path[PATH_MAX_LEN];
    size_t n = 0;
    int rc = 0;
    made[0] = '\0';
    if (names == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    rc = list_copies(dir, ext, names, &n, err);
    if (rc != 0 || (n > 0 && now - stamp_time(names[n - 1]) < DAY_S))
        goto out;
    utc_format(now, iso);
    /* 2026-12-07T07:31:47Z → 20261207T073147Z */
    snprintf(stamp, sizeof stamp, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", iso, iso + 5, iso + 8, iso + 11,
             iso + 14, iso + 17);
    if (snprintf(path, sizeof path, "%s/lumi-%s%s", dir, stamp, ext) >= (int)sizeof path) {
        rc = err_set(err, LUMI_EINVAL, "LUMI_BACKUP_DIR is too long");
        goto out;
    }
    rc = db_backup(url, path, err);
    if (rc != 0)
        goto out;
    str_copy(made, path, madesz);
    names[n] = str_dup(path + strlen(dir) + 1);
    if (names[n] != NULL)
        n++;
    for (size_t i = 0; n > (size_t)keep && i < n - (size_t)keep; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (unlink(path) != 0)
            log_warn("backup.prune_failed", "file=%s error=\"%s\"", names[i], strerror(errno));
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/*
 * mailer.c — the mail thread (see mailer.h); as background work it also
 * brings SQLite's audit search index up to date (audit_index_pending) and
 * folds PostgreSQL's dashboard deltas into their tables (stats_compact).
 *
 * Threading: the stop request (core/stop.h) is the only shared state; the
 * connection, the sender and the clocks belong to the thread.
 */
#include "notify/mailer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "audit/audit.h"
#include "billing/stats.h"
#include "core/foreground.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/db.h"
#include "mail/sender.h"
#include "notify/notify.h"
#include "notify/pace.h"

#define PUMP_ROWS 100
#define DRAIN_MAX 200
/* Audit rows added to SQLite's search index per transaction (about 60 us
 * each: short enough not to hold the group commit back) and per round. A
 * round that only indexed is followed by the poll pause, so indexing takes at
 * most a few percent of a core while webhooks arrive (a search reads the
 * rows not indexed yet directly, so it stays exact, only slower). */
#define INDEX_ROWS 200
#define INDEX_ROUND_MAX 2000
#define REMINDERS_EVERY_MS (10 * 60 * 1000)
#define ERROR_PAUSE_MS 2000
#define MAILER_NICE 10

struct mailer {
    struct db *db;
    struct mail_sender *sender;
    struct stop_flag stop;
    pthread_t tid;
    bool started;
    int poll_ms;
    char worker_id[96];
};

/* Whether this round stops pumping and indexing now (pace.h). */
static bool round_stops(enum mail_round kind)
{
    return kind == MAIL_ROUND_YIELD ||
           (kind == MAIL_ROUND_FREE && mail_pace_busy(utc_monotonic_ms(), foreground_last_ms()));
}

/* One round: the dashboard deltas folded, pump, dated notices when due, drain, audit
 * rows indexed; a round that yields to webhooks and requests (pace.h) does one pump,
 * one drain of PUMP_ROWS and one indexing transaction. Returns work done, or < 0;
 * *touched says whether it did anything at all (folding and indexing included). */
static int round_once(struct mailer *m, int64_t *next_reminders_ms, enum mail_round kind,
                      bool *touched, struct lumi_err *err)
{
    bool yield = kind == MAIL_ROUND_YIELD;
    int queued = 0, work = 0, rows;
    /* First: after an import or a burst, the dashboard reads every delta
     * row not folded yet (PostgreSQL), so the fold does not wait for mail. */
    if ((rows = stats_compact(m->db, err)) < 0)
        return rows;
    *touched = rows > 0;
    while ((rows = notify_pump(m->db, PUMP_ROWS, &queued, err)) > 0) {
        work += queued;
        if (rows < PUMP_ROWS || round_stops(kind) || stop_raised(&m->stop))
            break;
    }
    if (rows < 0)
        return rows;
    if (utc_monotonic_ms() >= *next_reminders_ms) {
        int n = 0;
        int rc = notify_reminders(m->db, utc_now(), false, NULL, &n, err);
        if (rc < 0)
            return rc;
        if (n > 0)
            log_info("mail.reminders", "queued=%d", n);
        work += n;
        *next_reminders_ms = utc_monotonic_ms() + REMINDERS_EVERY_MS;
    }
    int sent = mail_sender_drain(m->sender, m->db, m->worker_id, yield ? PUMP_ROWS : DRAIN_MAX,
                                 notify_compose, err);
    if (sent < 0)
        return sent;
    int indexed = 0, n = 0;
    while (indexed < INDEX_ROUND_MAX && !stop_raised(&m->stop) &&
           (n = audit_index_pending(m->db, INDEX_ROWS, err)) > 0) {
        indexed += n;
        if (round_stops(kind))
            break;
    }
    if (n < 0 && indexed == 0)
        return n;
    *touched = *touched || indexed > 0 || work + sent > 0;
    return work + sent; /* indexing and compacting alone do not skip the pause */
}

/* Once a backlog is done (a burst of mail, the audit rows of an import
 * indexed), what it left cached is returned: the connection's page cache
 * (SQLite) and the freed pages of every malloc arena. After composing 40,000
 * mails this thread held about 0.5 MB that an idle server never reads again
 * (issue 15: idle RSS). */
static void give_back_memory(struct mailer *m)
{
    struct lumi_err err;
    err_clear(&err);
    if (db_kind(m->db) == DB_SQLITE && db_exec(m->db, "PRAGMA shrink_memory", &err) != 0) {
        char q[300];
        log_debug("mailer.shrink_failed", "error=%s", log_quote(err.msg, q, sizeof q));
    }
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    log_debug("mailer.idle", "memory=given_back");
}

static void *mailer_main(void *arg)
{
    struct mailer *m = arg;
    int64_t next_reminders_ms = 0;
    char q[300];
    log_set_context("mailer");
    /* Mail is background work: when the cores are busy, requests (a webhook
     * waiting for its answer) go first. Linux takes a nice value per thread. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), MAILER_NICE) != 0)
        log_debug("mailer.nice_failed", "errno=%d", errno);
    bool worked = false; /* since the thread last gave memory back */
    struct mail_pace pace = {0};
    while (!stop_raised(&m->stop)) {
        struct lumi_err err;
        bool touched = true;
        enum mail_round kind = mail_pace_round(&pace, utc_monotonic_ms(), foreground_last_ms());
        err_clear(&err);
        int rc = round_once(m, &next_reminders_ms, kind, &touched, &err);
        if (rc == 0 && !touched) {
            if (worked)
                give_back_memory(m);
            worked = false;
        } else {
            worked = true;
        }
        if (rc < 0) {
            log_error("mail.round_failed", "error=%s", log_quote(err.msg, q, sizeof q));
            stop_wait_ms(&m->stop, ERROR_PAUSE_MS);
        } else if (rc == 0) {
            stop_wait_ms(&m->stop, m->poll_ms);
        } else if (kind == MAIL_ROUND_YIELD) {
            stop_wait_ms(&m->stop, PACE_PAUSE_MS);
        }
    }
    log_set_context(NULL);
    return NULL;
}

struct mailer *mailer_start(const char *database_url, int poll_ms, struct lumi_err *err)
{
    struct mailer *m = calloc(1, sizeof *m);
    char host[48];
    if (m == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory starting the mailer");
        return NULL;
    }
    stop_init(&m->stop);
    m->poll_ms = poll_ms > 0 ? poll_ms : 500;
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        str_copy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    snprintf(m->worker_id, sizeof m->worker_id, "%s:%ld:mail", host, (long)getpid());
    m->db = db_open(database_url, err);
    if (m->db == NULL)
        goto fail;
    /* On SQLite this connection's commits need not wait for the disk: all it
     * writes can be made again (the outbox is derived from the audit trail,
     * and a lost "sent" mark only resends under the same Message-ID), and an
     * fsync held under SQLite's one write lock would stall the webhooks. */
    if (db_kind(m->db) == DB_SQLITE && db_exec(m->db, "PRAGMA synchronous=NORMAL", err) != 0)
        goto fail;
    m->sender = mail_sender_new(err);
    if (m->sender == NULL)
        goto fail;
    mail_sender_set_attacher(m->sender, notify_attach); /* the invoices' PDFs */
    if (pthread_create(&m->tid, NULL, mailer_main, m) != 0) {
        err_set(err, LUMI_EINTERNAL, "cannot start the mail thread");
        goto fail;
    }
    m->started = true;
    log_info("mailer.started", "smtp=%s from_set=%d",
             mail_sender_configured(m->sender) ? "configured" : "none (recorded, not sent)",
             str_present(mail_sender_from(m->sender)) ? 1 : 0);
    return m;
fail:
    mailer_stop(m);
    return NULL;
}

void mailer_stop(struct mailer *m)
{
    if (m == NULL)
        return;
    stop_raise(&m->stop);
    if (m->started)
        pthread_join(m->tid, NULL);
    mail_sender_free(m->sender);
    db_close(m->db);
    stop_destroy(&m->stop);
    free(m);
}

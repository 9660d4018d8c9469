/*
 * reconcile.c — the drift check between Lumi's services and the panels
 * (see reconcile.h).
 *
 * Owns the read-only SQL of the pass and the matching rules. Per server:
 * resolve the connection (servers_conn), list the panel's resources into a
 * bounded array, read the server's services, then (1) match every live
 * service (pending, provisioning, active, suspended, failed) and compare
 * states, (2) let terminated services claim what is left (leftovers), and
 * (3) classify whatever is still unclaimed by its key. Only active and
 * suspended services must have a resource; pending, provisioning and failed
 * ones merely claim one when it is there (a create may be under way or its
 * answer lost), so it is not reported as an orphan.
 *
 * Nothing is written: no transaction, only SELECTs, and only the panels'
 * read calls (list, account config). DirectAdmin's per-account config is
 * read only for accounts matched to an active or suspended service.
 *
 * Threading: stateless; uses only the connection it is given (one thread).
 */
#include "provisioning/reconcile.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/str.h"
#include "db/settings.h"
#include "panels/directadmin.h"
#include "panels/pterodactyl.h"
#include "panels/virtfusion.h"
#include "provisioning/servers.h"

/* Caps: a panel or server bigger than this is refused rather than half-checked. */
#define MAX_RESOURCES 100000
#define MAX_SERVICES 100000

static const char SQL_ALL_SERVERS[] = "SELECT id, type FROM servers WHERE active = 1 ORDER BY id";

static const char SQL_ONE_SERVER[] = "SELECT id, type FROM servers WHERE id = $1";

static const char SQL_SERVICES[] =
    "SELECT id, status, suspend_reason, remote_key, external_id, username FROM services"
    " WHERE server_id = $1 AND status IN"
    " ('pending','provisioning','active','suspended','failed','terminated') ORDER BY id";

static const char SQL_BY_KEY[] = "SELECT id, status, server_id FROM services WHERE remote_key = $1";

/* One resource as the panel lists it. */
struct res {
    int64_t num;    /* numeric panel id (0 for DirectAdmin) */
    char id[64];    /* the panel's id as text (DirectAdmin: the account name) */
    char key[192];  /* Lumi's key on the panel: external_id / name / account name ("" none) */
    bool suspended; /* DirectAdmin: only known after read_da_state */
    bool claimed;
};

struct svc {
    int64_t id;
    char status[16];
    char reason[32];
    char key[128];
    char ext[64];
    char user[64];
};

struct pass {
    struct db *db;
    FILE *out;
    struct reconcile_report *rep;
    char prefix[48]; /* "lumi-<installation id>-", "" when there is none yet */
    int64_t server_id;
    char type[16];
    const char *noun; /* "server" | "account" */
    struct res *res;
    size_t nres, res_cap;
    struct svc *svc;
    size_t nsvc;
};

/* Outside text for a line: printable ASCII only, cut to outsz. */
static const char *clean(const char *s, char *out, size_t outsz)
{
    size_t i = 0;
    for (; s != NULL && s[i] != '\0' && i + 1 < outsz; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
    return out;
}

static void line(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(struct pass *p, const char *fmt, ...)
{
    if (p->out == NULL)
        return;
    va_list ap;
    fprintf(p->out, "server %" PRId64 " (%s): ", p->server_id, p->type);
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
}

static const char *col(struct db_stmt *st, int i)
{
    const char *s = db_col_text(st, i);
    return s != NULL ? s : "";
}

/* --- panel listings ---------------------------------------------------------- */

static int res_add(struct pass *p, int64_t num, const char *id, const char *key, bool suspended)
{
    if (p->nres >= MAX_RESOURCES)
        return -1;
    if (p->nres == p->res_cap) {
        size_t cap = p->res_cap == 0 ? 16 : p->res_cap * 2;
        struct res *n = realloc(p->res, cap * sizeof *n);
        if (n == NULL)
            return -1;
        p->res = n;
        p->res_cap = cap;
    }
    struct res *r = &p->res[p->nres++];
    memset(r, 0, sizeof *r);
    r->num = num;
    str_copy(r->id, id, sizeof r->id);
    str_copy(r->key, key != NULL ? key : "", sizeof r->key);
    r->suspended = suspended;
    return 0;
}

/* A positive id given as a JSON integer or a decimal string. */
static int64_t json_id(const json_t *v)
{
    int64_t x = 0;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_string(v) && str_to_i64z(json_string_value(v), 1, INT64_MAX, &x) != 0)
        x = 0;
    return x > 0 ? x : 0;
}

/* true/false, or 0/1 as some panels write it. */
static bool json_flag(const json_t *v)
{
    return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
}

static int read_items(struct pass *p, const json_t *items, struct hc_error *e)
{
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        char idt[24];
        int64_t num = 0;
        const char *key = NULL;
        bool suspended = false;
        if (str_eq(p->type, "directadmin")) {
            const char *name = json_string_value(it);
            if (!str_present(name))
                continue;
            if (res_add(p, 0, name, name, false) != 0)
                return hc_fail(e, HC_BAD_RESPONSE, "too many accounts (over %d)", MAX_RESOURCES);
            continue;
        }
        num = json_id(json_object_get(it, "id"));
        if (num == 0)
            continue; /* not a server we could ever match */
        if (str_eq(p->type, "pterodactyl")) {
            const char *status = json_string_value(json_object_get(it, "status"));
            key = json_string_value(json_object_get(it, "external_id"));
            suspended = json_flag(json_object_get(it, "suspended")) || str_eq(status, "suspended");
        } else {
            key = json_string_value(json_object_get(it, "name"));
            suspended = json_flag(json_object_get(it, "suspended"));
        }
        snprintf(idt, sizeof idt, "%" PRId64, num);
        if (res_add(p, num, idt, key, suspended) != 0)
            return hc_fail(e, HC_BAD_RESPONSE, "too many servers (over %d)", MAX_RESOURCES);
    }
    return 0;
}

static int res_cmp(const void *a, const void *b)
{
    const struct res *x = a, *y = b;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Lists the panel's resources into p->res, sorted; -1 with e. */
static int list_panel(struct pass *p, const struct server_conn *sc, struct hc_error *e)
{
    json_t *items = NULL;
    if (str_eq(p->type, "pterodactyl"))
        items = ptero_list_servers(&sc->conn, e);
    else if (str_eq(p->type, "directadmin"))
        items = da_list_accounts(&sc->conn, e);
    else if (str_eq(p->type, "virtfusion"))
        items = vf_list_servers(&sc->conn, 0, e);
    else
        return hc_fail(e, HC_INVALID, "unknown panel type");
    if (items == NULL)
        return -1;
    int rc = json_is_array(items) ? read_items(p, items, e)
                                  : hc_fail(e, HC_BAD_RESPONSE, "the list is not an array");
    json_decref(items);
    if (rc == 0 && p->nres > 1)
        qsort(p->res, p->nres, sizeof *p->res, res_cmp);
    return rc;
}

/* --- Lumi's side ------------------------------------------------------------- */

static int load_prefix(struct pass *p, struct lumi_err *err)
{
    char id[40];
    int rc = settings_get(p->db, "installation.id", id, sizeof id, err);
    p->prefix[0] = '\0';
    if (rc == 1 && str_present(id))
        snprintf(p->prefix, sizeof p->prefix, "lumi-%.32s-", id);
    return rc < 0 ? rc : 0;
}

static int load_services(struct pass *p, struct lumi_err *err)
{
    size_t cap = 0;
    int rc;
    struct db_stmt *st = db_prepare(p->db, SQL_SERVICES, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, p->server_id);
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (p->nsvc == cap) {
            if (cap >= MAX_SERVICES) {
                rc = err_set(err, LUMI_ETOOLARGE, "server %" PRId64 " has over %d services",
                             p->server_id, MAX_SERVICES);
                goto out;
            }
            cap = cap == 0 ? 64 : cap * 2;
            struct svc *n = realloc(p->svc, cap * sizeof *n);
            if (n == NULL) {
                rc = err_set(err, LUMI_ENOMEM, "out of memory");
                goto out;
            }
            p->svc = n;
        }
        struct svc *s = &p->svc[p->nsvc++];
        memset(s, 0, sizeof *s);
        s->id = db_col_int64(st, 0);
        str_copy(s->status, col(st, 1), sizeof s->status);
        str_copy(s->reason, col(st, 2), sizeof s->reason);
        str_copy(s->key, col(st, 3), sizeof s->key);
        str_copy(s->ext, col(st, 4), sizeof s->ext);
        str_copy(s->user, col(st, 5), sizeof s->user);
    }
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* --- matching ---------------------------------------------------------------- */

static struct res *find_res(struct pass *p, const char *id, const char *key, bool unclaimed_only)
{
    for (int by = 0; by < 2; by++) {
        const char *want = by == 0 ? id : key;
        if (!str_present(want))
            continue;
        for (size_t i = 0; i < p->nres; i++) {
            struct res *r = &p->res[i];
            if (unclaimed_only && r->claimed)
                continue;
            if (str_eq(by == 0 ? r->id : r->key, want))
                return r;
        }
    }
    return NULL;
}

/* The key a service is known by on this panel type. */
static const char *service_key(const struct pass *p, const struct svc *s)
{
    return str_eq(p->type, "directadmin") ? s->user : s->key;
}

static struct res *match(struct pass *p, const struct svc *s, bool unclaimed_only)
{
    return find_res(p, s->ext, service_key(p, s), unclaimed_only);
}

/* DirectAdmin lists names only: the suspended flag comes from the account's config. */
static int read_da_state(struct pass *p, const struct server_conn *sc, struct res *r)
{
    struct hc_error e;
    memset(&e, 0, sizeof e);
    json_t *info = da_account_info(&sc->conn, r->id, &e);
    if (info == NULL) {
        char m[HC_MSG_MAX];
        p->rep->errors++;
        line(p, "could not read account %s: %s", r->id, clean(e.message, m, sizeof m));
        return -1;
    }
    r->suspended = json_flag(json_object_get(info, "suspended"));
    json_decref(info);
    return 0;
}

static void check_live(struct pass *p, const struct server_conn *sc, const struct svc *s)
{
    char k[128], ext[80], rsn[48];
    bool active = str_eq(s->status, "active"), suspended = str_eq(s->status, "suspended");
    struct res *r = match(p, s, true);
    p->rep->services_checked++;
    if (r != NULL)
        r->claimed = true;
    if (!active && !suspended)
        return; /* pending, provisioning, failed: a resource may or may not be there yet */
    if (r == NULL) {
        p->rep->missing++;
        ext[0] = '\0';
        if (s->ext[0] != '\0')
            snprintf(ext, sizeof ext, ", panel id %s", s->ext);
        line(p,
             "missing: service %" PRId64
             " is %s in Lumi (remote key %s%s) but the panel has no such %s",
             s->id, s->status, clean(service_key(p, s), k, sizeof k), ext, p->noun);
        return;
    }
    if (str_eq(p->type, "directadmin") && read_da_state(p, sc, r) != 0)
        return;
    if (suspended == r->suspended)
        return;
    p->rep->suspended_mismatch++;
    rsn[0] = '\0';
    if (suspended && s->reason[0] != '\0')
        snprintf(rsn, sizeof rsn, " (reason %s)", s->reason);
    line(p, "suspended mismatch: service %" PRId64 " is %s in Lumi%s but %s on the panel (%s %s)",
         s->id, s->status, rsn, r->suspended ? "suspended" : "active", p->noun, r->id);
}

/* How the panel shows a resource in an orphan line. */
static void describe(const struct pass *p, const struct res *r, char *out, size_t outsz)
{
    char k[128];
    if (str_eq(p->type, "directadmin"))
        snprintf(out, outsz, "panel account %s", clean(r->id, k, sizeof k));
    else
        snprintf(out, outsz, "panel server %s (%s %s)", r->id,
                 str_eq(p->type, "virtfusion") ? "name" : "external id",
                 clean(r->key, k, sizeof k));
}

/* Why an unclaimed resource with this installation's key belongs to nobody here. */
static int orphan_reason(struct pass *p, const struct res *r, char *out, size_t outsz,
                         struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(p->db, SQL_BY_KEY, err);
    if (st == NULL)
        return err->code;
    db_bind_text(st, 1, r->key);
    int rc = db_step(st, err);
    if (rc == DB_DONE) {
        snprintf(out, outsz, "no service has this key");
    } else if (rc == DB_ROW) {
        int64_t id = db_col_int64(st, 0), server = db_col_int64(st, 2);
        if (db_col_is_null(st, 2))
            snprintf(out, outsz, "service %" PRId64 " has no server", id);
        else if (server != p->server_id)
            snprintf(out, outsz, "service %" PRId64 " is on server %" PRId64, id, server);
        else
            snprintf(out, outsz, "service %" PRId64 " is %.15s", id, col(st, 1));
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int check_server(struct pass *p, struct lumi_err *err)
{
    struct server_conn sc;
    struct hc_error e;
    struct lumi_err cerr;
    char m[LUMI_ERR_MSG_MAX], what[400], why[96];
    int rc = 0;
    memset(&e, 0, sizeof e);
    p->noun = str_eq(p->type, "directadmin") ? "account" : "server";
    p->rep->servers++;
    if (servers_conn(p->db, p->server_id, &sc, &cerr) != 0) {
        p->rep->errors++;
        line(p, "could not connect: %s", clean(cerr.msg, m, sizeof m));
        return 0;
    }
    if (list_panel(p, &sc, &e) != 0) {
        p->rep->errors++;
        line(p, "could not list %ss: %s", p->noun, clean(e.message, m, sizeof m));
        goto out;
    }
    rc = load_services(p, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < p->nsvc; i++)
        if (!str_eq(p->svc[i].status, "terminated"))
            check_live(p, &sc, &p->svc[i]);
    for (size_t i = 0; i < p->nsvc; i++) {
        struct res *r = str_eq(p->svc[i].status, "terminated") ? match(p, &p->svc[i], true) : NULL;
        if (r == NULL)
            continue;
        r->claimed = true;
        p->rep->orphaned++;
        describe(p, r, what, sizeof what);
        line(p, "orphaned: %s belongs to no live service (service %" PRId64 " is terminated)", what,
             p->svc[i].id);
    }
    for (size_t i = 0; i < p->nres; i++) {
        struct res *r = &p->res[i];
        if (r->claimed)
            continue;
        /* DirectAdmin names carry no installation mark: unclaimed accounts are not ours to judge.
         */
        if (p->prefix[0] == '\0' || str_eq(p->type, "directadmin") ||
            !str_starts_with(r->key, p->prefix)) {
            p->rep->unmanaged++;
            continue;
        }
        rc = orphan_reason(p, r, why, sizeof why, err);
        if (rc != 0)
            goto out;
        p->rep->orphaned++;
        describe(p, r, what, sizeof what);
        line(p, "orphaned: %s belongs to no live service (%s)", what, why);
    }
out:
    servers_conn_clear(&sc);
    return rc;
}

/* The servers of the pass, read before any panel is called. */
static int load_servers(struct db *db, int64_t server_id, int64_t **ids, char (**types)[16],
                        size_t *n, struct lumi_err *err)
{
    size_t cap = 0;
    int rc;
    struct db_stmt *st = db_prepare(db, server_id > 0 ? SQL_ONE_SERVER : SQL_ALL_SERVERS, err);
    if (st == NULL)
        return err->code;
    if (server_id > 0)
        db_bind_int64(st, 1, server_id);
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (*n == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            int64_t *ni = realloc(*ids, cap * sizeof *ni);
            if (ni != NULL)
                *ids = ni;
            char(*nt)[16] = realloc(*types, cap * sizeof *nt);
            if (nt != NULL)
                *types = nt;
            if (ni == NULL || nt == NULL) {
                rc = err_set(err, LUMI_ENOMEM, "out of memory");
                goto out;
            }
        }
        (*ids)[*n] = db_col_int64(st, 0);
        str_copy((*types)[*n], col(st, 1), sizeof(*types)[*n]);
        (*n)++;
    }
    if (rc == DB_DONE && server_id > 0 && *n == 0)
        rc = err_set(err, LUMI_ENOTFOUND, "server %" PRId64 " not found", server_id);
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

int reconcile_run(struct db *db, int64_t server_id, FILE *out, struct reconcile_report *rep,
                  struct lumi_err *err)
{
    struct lumi_err local;
    struct reconcile_report dummy;
    struct pass p;
    int64_t *ids = NULL;
    char(*types)[16] = NULL;
    size_t n = 0;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (rep == NULL)
        rep = &dummy;
    memset(rep, 0, sizeof *rep);
    memset(&p, 0, sizeof p);
    p.db = db;
    p.out = out;
    p.rep = rep;
    if (db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "reconcile_run must not run inside a transaction");
    rc = load_prefix(&p, err);
    if (rc == 0)
        rc = load_servers(db, server_id, &ids, &types, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        p.server_id = ids[i];
        str_copy(p.type, types[i], sizeof p.type);
        p.nres = 0;
        p.nsvc = 0;
        rc = check_server(&p, err);
        if (out != NULL)
            fflush(out);
    }
    free(p.res);
    free(p.svc);
    free(ids);
    free(types);
    return rc;
}

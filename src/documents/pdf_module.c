/*
 * pdf_module.c — pdf_invoice and pdf_credit_note (documents/pdf.h) in `lumi`:
 * they load the renderer, lumi-pdf.so, at the first document and forward to it.
 *
 * Why a module: glibc maps every DT_NEEDED library at start, and the PDF
 * stack (cairo, Pango, GLib, GObject, fontconfig, FreeType, HarfBuzz, pixman,
 * libpng, X11/xcb...) is about 4 MB of an idle server's resident memory and
 * constructors of its own. Linked into a module that nothing but this file
 * opens, it costs nothing until an invoice is drawn.
 *
 * Where the module is looked for (the first that loads wins):
 *   1. LUMI_PDF_MODULE, a path to the file: when it is set, only there;
 *   2. lumi-pdf.so in the directory of the running executable (a build tree);
 *   3. the install directory compiled in (LUMI_PDF_MODULE_DIR, CMake's
 *      ${CMAKE_INSTALL_FULL_LIBDIR}/lumi).
 * It is opened RTLD_NOW | RTLD_LOCAL (its symbols stay out of the process's
 * namespace), and a module whose ABI mark (pdf_module.h) is not this build's
 * is refused. Never closed.
 *
 * Threading: loaded once, under pthread_once; what it found (the entry
 * points, or why there are none) is read-only afterwards. A module that
 * could not be loaded is not looked for again until the process restarts:
 * every document then fails with LUMI_EBUSY (503) and the same message,
 * naming each path tried and why it failed, logged once as
 * pdf.module_unavailable.
 */
#include "documents/pdf.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "documents/pdf_module.h"

#ifndef LUMI_PDF_MODULE_DIR
#define LUMI_PDF_MODULE_DIR "/usr/local/lib/lumi"
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct {
    pdf_module_render_fn invoice;     /* NULL when the module is unavailable */
    pdf_module_render_fn credit_note; /* likewise */
    char why[LUMI_ERR_MSG_MAX];       /* the reason, for every caller */
} mod;

/* LUMI_PDF_MODULE from the configuration, or, in a process that loaded none
 * (a unit test, a bench), from the environment; NULL when unset. */
static const char *configured_path(void)
{
    const char *v =
        config_has("LUMI_PDF_MODULE") ? config_str("LUMI_PDF_MODULE") : getenv("LUMI_PDF_MODULE");
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* dir/lumi-pdf.so of the running executable into out; -1 when unknown. */
static int exe_dir_path(char *out, size_t outsz)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    size_t dlen = strlen(exe);
    if (dlen + 1 + sizeof PDF_MODULE_FILE > outsz)
        return -1;
    memcpy(out, exe, dlen);
    out[dlen] = '/';
    memcpy(out + dlen + 1, PDF_MODULE_FILE, sizeof PDF_MODULE_FILE);
    return 0;
}

/* Appends "; " (after a first reason) and the formatted text to mod.why; a
 * reason past its size is cut, never overflowed. */
__attribute__((format(printf, 1, 2))) static void add_reason(const char *fmt, ...)
{
    size_t len = strlen(mod.why);
    if (len > 0 && len + 2 < sizeof mod.why) {
        memcpy(mod.why + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(mod.why + len, sizeof mod.why - len, fmt, ap) < 0)
        mod.why[len] = '\0';
    va_end(ap);
}

/* Opens path and takes its entry points; 0, or -1 with the reason added to mod.why. */
static int try_open(const char *path)
{
    static const struct pdf_module_abi want = PDF_MODULE_ABI_INIT;
    char rel[PATH_MAX];
    /* dlopen searches the library path for a name without a slash: not this. */
    if (strchr(path, '/') == NULL) {
        if (strlen(path) + 3 > sizeof rel) {
            add_reason("%s: path too long", path);
            return -1;
        }
        memcpy(rel, "./", 2);
        memcpy(rel + 2, path, strlen(path) + 1);
        path = rel;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror(); /* names the file */
        add_reason("%s", e != NULL ? e : path);
        return -1;
    }
    const struct pdf_module_abi *have = dlsym(h, PDF_MODULE_SYM_ABI);
    pdf_module_render_fn inv = (pdf_module_render_fn)dlsym(h, PDF_MODULE_SYM_INVOICE);
    pdf_module_render_fn cn = (pdf_module_render_fn)dlsym(h, PDF_MODULE_SYM_CREDIT_NOTE);
    if (have == NULL || inv == NULL || cn == NULL) {
        add_reason("%s: not a Lumi PDF module (no %s)", path,
                   have == NULL  ? PDF_MODULE_SYM_ABI
                   : inv == NULL ? PDF_MODULE_SYM_INVOICE
                                 : PDF_MODULE_SYM_CREDIT_NOTE);
        dlclose(h);
        return -1;
    }
    if (have->abi != want.abi || have->buf_size != want.buf_size ||
        have->err_size != want.err_size ||
        strncmp(have->version, want.version, sizeof want.version) != 0) {
        add_reason("%s: built for another Lumi (module %.31s, ABI %u; this lumi %s, ABI %u): "
                   "install the lumi-pdf.so built with this lumi",
                   path, have->version, have->abi, want.version, want.abi);
        dlclose(h);
        return -1;
    }
    char quoted[256];
    mod.invoice = inv;
    mod.credit_note = cn;
    log_info("pdf.module_loaded", "path=%s", log_quote(path, quoted, sizeof quoted));
    return 0;
}

static void load(void)
{
    char exe_path[PATH_MAX];
    char quoted[LUMI_ERR_MSG_MAX + 8];
    const char *env = configured_path();
    int rc;
    if (env != NULL)
        rc = try_open(env);
    else {
        rc = exe_dir_path(exe_path, sizeof exe_path) == 0 ? try_open(exe_path) : -1;
        if (rc != 0)
            rc = try_open(LUMI_PDF_MODULE_DIR "/" PDF_MODULE_FILE);
    }
    if (rc == 0)
        return;
    log_error("pdf.module_unavailable", "tried=%s", log_quote(mod.why, quoted, sizeof quoted));
}

/* The entry point, or LUMI_EBUSY with the reason in err. */
static int entry(bool invoice, pdf_module_render_fn *fn, struct lumi_err *err)
{
    pthread_once(&load_once, load);
    *fn = invoice ? mod.invoice : mod.credit_note;
    if (*fn != NULL)
        return 0;
    return err_set(err, LUMI_EBUSY,
                   "PDF documents are unavailable: the PDF module could not be loaded (%s); "
                   "install lumi-pdf.so or set LUMI_PDF_MODULE, then restart lumi",
                   mod.why);
}

int pdf_invoice(const json_t *invoice, const json_t *opts, struct buf *out, struct lumi_err *err)
{
    pdf_module_render_fn fn;
    int rc = entry(true, &fn, err);
    return rc != 0 ? rc : fn(invoice, opts, out, err);
}

int pdf_credit_note(const json_t *note, const json_t *opts, struct buf *out, struct lumi_err *err)
{
    pdf_module_render_fn fn;
    int rc = entry(false, &fn, err);
    return rc != 0 ? rc : fn(note, opts, out, err);
}

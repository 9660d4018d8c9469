/*
 * pdf_module.h — the contract between `lumi` and its PDF module, lumi-pdf.so.
 *
 * The renderer (pdf.c, with cairo, Pango, GLib, fontconfig, HarfBuzz behind
 * it) is built as a module of its own and loaded at the first document
 * (pdf_module.c), so a server that never renders a PDF never maps those
 * libraries: about 4 MB of its idle resident memory. This header is all the
 * two sides share: the file's name, the symbols the module exports and the
 * ABI mark the loader checks before it calls anything.
 *
 * The module carries its own copies of the few core functions pdf.c calls
 * (buf, err, money, str), hidden; it exports only the symbols below.
 */
#ifndef LUMI_DOCUMENTS_PDF_MODULE_H
#define LUMI_DOCUMENTS_PDF_MODULE_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/** The module's file name (in the executable's directory or the install directory). */
#define PDF_MODULE_FILE "lumi-pdf.so"

/**
 * Raised whenever the entry points' signatures or the meaning of their
 * arguments change; the structs they share are checked by size as well.
 */
#define PDF_MODULE_ABI 1

/** What the module was built as; the loader refuses a module whose mark differs. */
struct pdf_module_abi {
    unsigned abi;      /* PDF_MODULE_ABI */
    unsigned buf_size; /* sizeof(struct buf) */
    unsigned err_size; /* sizeof(struct lumi_err) */
    char version[32];  /* LUMI_VERSION */
};

/** Entry point: as pdf_invoice / pdf_credit_note (documents/pdf.h). */
typedef int (*pdf_module_render_fn)(const json_t *doc, const json_t *opts, struct buf *out,
                                    struct lumi_err *err);

/* The exported symbols' names. */
#define PDF_MODULE_SYM_ABI "lumi_pdf_abi"
#define PDF_MODULE_SYM_INVOICE "lumi_pdf_invoice"
#define PDF_MODULE_SYM_CREDIT_NOTE "lumi_pdf_credit_note"

/** The mark of this build (what the module exports and the loader expects). */
#define PDF_MODULE_ABI_INIT                                                                        \
    {                                                                                              \
        .abi = PDF_MODULE_ABI, .buf_size = sizeof(struct buf),                                     \
        .err_size = sizeof(struct lumi_err), .version = LUMI_VERSION                               \
    }

#endif

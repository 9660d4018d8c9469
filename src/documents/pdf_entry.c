/*
 * pdf_entry.c — the exported face of lumi-pdf.so (see pdf_module.h).
 *
 * Built into the module only, never into lumi_lib: the module is compiled
 * with hidden visibility, and these are its only exported symbols. They
 * forward to pdf.c's pdf_invoice / pdf_credit_note, which in the module are
 * hidden and bound to the module's own copies, never to the executable's
 * (whose pdf_invoice is the loader in pdf_module.c). Threading as pdf.h.
 */
#include "documents/pdf.h"
#include "documents/pdf_module.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT extern const struct pdf_module_abi lumi_pdf_abi;
EXPORT int lumi_pdf_invoice(const json_t *doc, const json_t *opts, struct buf *out,
                            struct lumi_err *err);
EXPORT int lumi_pdf_credit_note(const json_t *doc, const json_t *opts, struct buf *out,
                                struct lumi_err *err);

const struct pdf_module_abi lumi_pdf_abi = PDF_MODULE_ABI_INIT;

int lumi_pdf_invoice(const json_t *doc, const json_t *opts, struct buf *out, struct lumi_err *err)
{
    return pdf_invoice(doc, opts, out, err);
}

int lumi_pdf_credit_note(const json_t *doc, const json_t *opts, struct buf *out,
                         struct lumi_err *err)
{
    return pdf_credit_note(doc, opts, out, err);
}

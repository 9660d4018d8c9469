/*
 * stale_pdf_module.c — a PDF module as an older Lumi built it (another ABI
 * mark), for test_pdf_module: the loader must refuse it without calling it.
 */
#include "documents/pdf_module.h"

#include <stdlib.h>

__attribute__((visibility("default"))) extern const struct pdf_module_abi lumi_pdf_abi;
__attribute__((visibility("default"))) int lumi_pdf_invoice(const json_t *doc, const json_t *opts,
                                                            struct buf *out, struct lumi_err *err);
__attribute__((visibility("default"))) int
lumi_pdf_credit_note(const json_t *doc, const json_t *opts, struct buf *out, struct lumi_err *err);

const struct pdf_module_abi lumi_pdf_abi = {.abi = PDF_MODULE_ABI + 1000,
                                            .buf_size = sizeof(struct buf),
                                            .err_size = sizeof(struct lumi_err),
                                            .version = "0.0.1"};

int lumi_pdf_invoice(const json_t *doc, const json_t *opts, struct buf *out, struct lumi_err *err)
{
    abort(); /* never called: the loader refuses the module */
}

int lumi_pdf_credit_note(const json_t *doc, const json_t *opts, struct buf *out,
                         struct lumi_err *err)
{
    abort();
}

/*
 * p_documents.c — GET /client/invoices/{id}/pdf: the PDF of one of the
 * client's own invoices (issue 14). Another client's invoice answers the
 * same 404 page as one that does not exist. When the PDF cannot be made
 * (503: the PDF module is not installed), the client reads that it is
 * unavailable for now; the reason, with the server's paths, goes to the log.
 */
#include "billing/invoice_docs.h"
#include "core/log.h"
#include "web/api/api.h"
#include "web/auth.h"
#include "web/client/pages_client.h"
#include "web/page.h"

void p_client_invoice_pdf(struct web_req *req, struct web_resp *resp)
{
    struct page_ctx ctx;
    struct lumi_err err = {0};
    struct buf pdf;
    char name[INVOICE_DOCS_NAME_MAX];
    if (page_require_client(req, resp, &ctx) != 0)
        return;
    ctx.nav = "invoices";
    int64_t me = auth_client_scope(req);
    int64_t id = web_param_id(req, "id");
    buf_init(&pdf, INVOICE_DOCS_PDF_MAX);
    int rc = id > 0 && me > 0 ? invoice_docs_invoice_pdf(req->db, id, me, &pdf, name, &err)
                              : err_set(&err, LUMI_ENOTFOUND, "no such invoice");
    int status = rc == LUMI_ENOTFOUND ? 404 : err_http_status(rc);
    char quoted[256];
    if (rc == 0)
        h_documents_reply_pdf(resp, &pdf, name);
    else if (status > 500) {
        log_warn("client.pdf_unavailable", "invoice=%lld code=%d message=%s", (long long)id, rc,
                 log_quote(err.msg, quoted, sizeof quoted));
        page_error(req, resp, status, &ctx,
                   "The PDF of this invoice cannot be made at the moment. Please try again "
                   "later.");
    } else
        page_error(req, resp, status, &ctx,
                   rc == LUMI_ENOTFOUND ? "There is no such invoice." : err.msg);
    buf_free(&pdf);
}

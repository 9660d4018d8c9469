/*
 * h_documents.c — the PDF documents (issue 14): GET /api/admin/invoices/{id}/pdf
 * and GET /api/admin/credit-notes/{id}/pdf (WEB_AUTH_ADMIN), and the one
 * answer every PDF route gives (also the client area's /client/invoices/{id}/pdf).
 *
 * The documents are rendered per request from the database
 * (billing/invoice_docs.h); nothing is stored.
 */
#include <stdio.h>

#include "billing/invoice_docs.h"
#include "web/api/api.h"
#include "web/http.h"
#include "web/page.h"

void h_documents_reply_pdf(struct web_resp *resp, const struct buf *pdf, const char *name)
{
    char disposition[INVOICE_DOCS_NAME_MAX + 40];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", name);
    web_reply_text(resp, 200, "application/pdf", pdf->data != NULL ? pdf->data : "", pdf->len);
    web_add_header(resp, "Content-Disposition", disposition);
    page_security_headers(resp);
}

void h_invoices_pdf(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct buf pdf;
    char name[INVOICE_DOCS_NAME_MAX];
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "invoice not found");
        return;
    }
    buf_init(&pdf, INVOICE_DOCS_PDF_MAX);
    if (invoice_docs_invoice_pdf(req->db, id, 0, &pdf, name, &err) == 0)
        h_documents_reply_pdf(resp, &pdf, name);
    else
        web_reply_err(resp, &err);
    buf_free(&pdf);
}

void h_credit_notes_pdf(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err = {0};
    struct buf pdf;
    char name[INVOICE_DOCS_NAME_MAX];
    int64_t id = web_param_id(req, "id");
    if (id <= 0) {
        web_reply_error(resp, 404, "not_found", "credit note not found");
        return;
    }
    buf_init(&pdf, INVOICE_DOCS_PDF_MAX);
    if (invoice_docs_credit_note_pdf(req->db, id, &pdf, name, &err) == 0)
        h_documents_reply_pdf(resp, &pdf, name);
    else
        web_reply_err(resp, &err);
    buf_free(&pdf);
}

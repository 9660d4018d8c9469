/*
 * pages_invoices.h — handlers of the dashboard and the invoices pages (p_dashboard.c,
 * p_invoices.c), listed in admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_INVOICES_H
#define LUMI_WEB_PAGES_INVOICES_H

#include "web/http.h"

/* p_dashboard.c */
/** GET /admin: the dashboard (stats_dashboard's figures, with the payments chart). */
void p_dashboard(struct web_req *req, struct web_resp *resp);

/* p_invoices.c */
/** GET /admin/invoices: keyset pages of invoices, ?status= filter, ?cursor= paging. */
void p_invoices_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/invoices/new: the form for a new invoice (?client_id= preselects). */
void p_invoices_new(struct web_req *req, struct web_resp *resp);
/** POST /admin/invoices: creates an invoice from the form (invoices_create_json). */
void p_invoices_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/invoices/{id}: items, totals, transactions, manual payment and cancel forms. */
void p_invoices_detail(struct web_req *req, struct web_resp *resp);
/** POST /admin/invoices/{id}/payments: a manual payment (payments_manual), amount as a decimal. */
void p_invoices_pay(struct web_req *req, struct web_resp *resp);
/** POST /admin/invoices/{id}/cancel: cancels an unpaid invoice (invoices_cancel). */
void p_invoices_cancel(struct web_req *req, struct web_resp *resp);
/**
 * The invoice page of id with status, error as its flash (may be NULL) and
 * extra's members (may be NULL) added to its data (a form's values shown
 * again). For the pages that post from it (p_credit_notes.c).
 */
struct page_ctx;
void p_invoices_render(struct web_req *req, struct web_resp *resp, const struct page_ctx *ctx,
                       int64_t id, int status, const char *error, const json_t *extra);

/* p_credit_notes.c (issue 14, company) */
/** POST /admin/invoices/{id}/credit-notes: issues a credit note (credit_notes_create_json). */
void p_invoices_credit_note(struct web_req *req, struct web_resp *resp);

#endif

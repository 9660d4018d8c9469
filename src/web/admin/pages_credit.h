/*
 * pages_credit.h — the admin pages of the credit balance and coupons (issue
 * 14, p_credit.c), listed in admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_CREDIT_H
#define LUMI_WEB_PAGES_CREDIT_H

#include "web/http.h"

/** POST /admin/clients/{id}/credit: add or remove credit (credit_admin_adjust) from the form. */
void p_clients_credit(struct web_req *req, struct web_resp *resp);
/** POST /admin/invoices/{id}/apply-credit: pays the invoice from credit (credit_apply_invoice). */
void p_invoices_apply_credit(struct web_req *req, struct web_resp *resp);
/** GET /admin/coupons: the coupons and the form for a new one. */
void p_coupons_list(struct web_req *req, struct web_resp *resp);
/** POST /admin/coupons: creates a coupon from the form (coupons_create). */
void p_coupons_create(struct web_req *req, struct web_resp *resp);
/** POST /admin/coupons/{id}/deactivate: PATCH {active: false} (coupons_update). */
void p_coupons_deactivate(struct web_req *req, struct web_resp *resp);
/** POST /admin/coupons/{id}/delete: deletes an unused coupon (coupons_delete). */
void p_coupons_delete(struct web_req *req, struct web_resp *resp);

#endif

/*
 * pages_tax.h — the admin's tax rules page (p_tax_rules.c), listed in
 * admin/routes.c.
 */
#ifndef LUMI_WEB_ADMIN_PAGES_TAX_H
#define LUMI_WEB_ADMIN_PAGES_TAX_H

#include "web/http.h"

/** GET /admin/tax-rules: every rule, with the add form. */
void p_tax_rules_list(struct web_req *req, struct web_resp *resp);
/** POST /admin/tax-rules (name, country, region, rate as a percentage, inclusive): adds one. */
void p_tax_rules_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/tax-rules/{id}/edit: the edit form. */
void p_tax_rules_edit(struct web_req *req, struct web_resp *resp);
/** POST /admin/tax-rules/{id}: saves the edit form (active too). */
void p_tax_rules_update(struct web_req *req, struct web_resp *resp);
/** POST /admin/tax-rules/{id}/delete: deletes a rule no invoice used. */
void p_tax_rules_delete(struct web_req *req, struct web_resp *resp);

#endif

/*
 * pages_settings.h — handlers of the settings page (p_settings.c), named by
 * admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_SETTINGS_H
#define LUMI_WEB_PAGES_SETTINGS_H

#include "web/http.h"

/* p_settings.c */
/** GET /admin/settings: every setting by group with its help and default; the mail delivery box. */
void p_settings_show(struct web_req *req, struct web_resp *resp);
/** POST /admin/settings: saves the form (settings_reg_update), 303 back with a flash, or 400. */
void p_settings_save(struct web_req *req, struct web_resp *resp);

#endif

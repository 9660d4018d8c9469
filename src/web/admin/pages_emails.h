/*
 * pages_emails.h — handlers of the /admin/emails pages (p_emails.c), listed
 * in admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_EMAILS_H
#define LUMI_WEB_PAGES_EMAILS_H

#include "web/http.h"

/** GET /admin/emails: the outbox, newest first (?status=, ?to=, ?cursor=). */
void p_emails_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/emails/{id}: one message, its headers, its text part, its outcome. */
void p_email_detail(struct web_req *req, struct web_resp *resp);
/** GET /admin/emails/{id}/html: the HTML part alone, as the client sees it (sandboxed). */
void p_email_html(struct web_req *req, struct web_resp *resp);
/** POST /admin/emails/{id}/resend: queue it again. */
void p_email_resend(struct web_req *req, struct web_resp *resp);

#endif

/*
 * pages_services.h — handlers of services, jobs and webhook events pages (p_services.c, p_jobs.c),
 * listed in admin/routes.c.
 */
#ifndef LUMI_WEB_PAGES_SERVICES_H
#define LUMI_WEB_PAGES_SERVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "web/http.h"

/* p_services.c */
/** GET /admin/services: services with ?status= and keyset paging (?cursor=). */
void p_services_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/services/new: the order form (client, product, domain). */
void p_services_new(struct web_req *req, struct web_resp *resp);
/** POST /admin/services: places the order (orders_place), 303 to the new service. */
void p_services_create(struct web_req *req, struct web_resp *resp);
/** GET /admin/services/{id}: every field, jobs, provision attempts and the actions its status
 * allows. */
void p_services_detail(struct web_req *req, struct web_resp *resp);
/** POST /admin/services/{id}/provision: queues provisioning, 303 back with a flash. */
void p_services_provision(struct web_req *req, struct web_resp *resp);
/** POST /admin/services/{id}/suspend: queues a suspension (form field reason), 303 back. */
void p_services_suspend(struct web_req *req, struct web_resp *resp);
/** POST /admin/services/{id}/unsuspend: queues unsuspension, 303 back. */
void p_services_unsuspend(struct web_req *req, struct web_resp *resp);
/** POST /admin/services/{id}/terminate: queues termination (optional reason), 303 back. */
void p_services_terminate(struct web_req *req, struct web_resp *resp);
/** POST /admin/services/{id}/retry: requeues the service's failed job, 303 back. */
void p_services_retry(struct web_req *req, struct web_resp *resp);

/* p_jobs.c */
/** GET /admin/jobs: the job queue, newest first, ?status= tabs, keyset paging. */
void p_jobs_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/webhook-events: what the gateways delivered (?gateway=, ?status=), newest first. */
void p_webhook_events_list(struct web_req *req, struct web_resp *resp);
/** GET /admin/webhook-events/{id}: one event with the body as received. */
void p_webhook_event(struct web_req *req, struct web_resp *resp);

#endif

/*
 * pages_services.h — handlers of services, jobs and webhook events pages (p_services.c, p_jobs.c),
 * named by routes_pages_services.inc.
 */
#ifndef LUMI_WEB_PAGES_SERVICES_H
#define LUMI_WEB_PAGES_SERVICES_H

#include "web/http.h"

#endif

/*
 * auth.h — who is calling: API tokens, session cookies, CSRF, login throttling.
 *
 * Admin routes accept `Authorization: Bearer <token>` (looked up by its
 * SHA-256; the token itself is never stored) or the `lumi_session` cookie;
 * a cookie-authenticated request that changes something (any method but
 * GET/HEAD) must also carry the session's CSRF token in X-CSRF-Token.
 */
#ifndef LUMI_WEB_AUTH_H
#define LUMI_WEB_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "web/http.h"
#include "web/server.h"

#define AUTH_SESSION_COOKIE "lumi_session"
#define AUTH_SESSION_TTL_S (12 * 3600)
/** A client's session in the client area (apart from an admin's, so one browser may hold both). */
#define AUTH_CLIENT_COOKIE "lumi_client_session"

/** Which pages a session cookie is for. */
enum auth_area { AUTH_AREA_ADMIN, AUTH_AREA_CLIENT };

/**
 * Authenticates req for an admin route and fills req->who. Returns 0 when the
 * caller is an admin or staff member; otherwise answers 401 (no or bad
 * credentials), 403 (a client account, or a missing/wrong CSRF token) into
 * resp and returns < 0.
 */
int auth_require_admin(struct web_req *req, struct web_resp *resp);

/**
 * Like auth_require_admin, but any active account may call (admins, staff
 * and clients, the latter also through the lumi_client_session cookie; a
 * client's session needs the CSRF token just the same, in the header or, for
 * a form post, the csrf_token field).
 * Handlers then restrict clients to their own data (auth_client_scope).
 */
int auth_require_user(struct web_req *req, struct web_resp *resp);

/** The WEB_ROLE_* bit of a staff role name; 0 for a client or anything else. */
unsigned auth_role_bit(const char *role);

/** Whether a staff member of role may use a route that allows roles (admins may use all). */
bool auth_role_may(const char *role, unsigned roles);

/**
 * After auth_require_admin/_user: 0 when the caller's role may use a route
 * allowing roles (WEB_ROLE_* bits; clients pass, their handlers scope them),
 * else answers 403 forbidden naming the role and returns < 0.
 */
int auth_require_role(struct web_req *req, struct web_resp *resp, unsigned roles);

/** The client id a caller is restricted to: its own id for a client, 0 (no restriction) for staff.
 */
int64_t auth_client_scope(const struct web_req *req);

/** The audit actor for the authenticated caller of req (strings borrowed from req). */
struct audit_actor auth_actor(const struct web_req *req);

/** Length of a session's CSRF token buffer (64 hex characters and a NUL). */
#define AUTH_CSRF_LEN 65

/**
 * For server-rendered pages: looks up the session cookie of the area
 * (lumi_session for admin pages, lumi_client_session for the client area)
 * without answering anything. On 0 req->who is the admin or staff member (or
 * the client) and csrf (AUTH_CSRF_LEN bytes) holds the session's CSRF token.
 * LUMI_EAUTH when there is no cookie or the session is unknown or expired,
 * LUMI_EFORBIDDEN for an account of the other area or a disabled one,
 * another negative code on a database error. The CSRF check itself is the
 * caller's (a form field, not a header).
 */
int auth_session_principal(struct web_req *req, enum auth_area area, char csrf[AUTH_CSRF_LEN],
                           struct lumi_err *err);

#endif

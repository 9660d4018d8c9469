/*
 * throttle.h — the login throttle, counted in rate_events (migration 11),
 * never in the audit trail: a failure is noted in its own transaction before
 * its LOGIN_FAILED row is written, so a failing audit write cannot switch the
 * throttle off.
 *
 * Three limits, checked before the password:
 *   per (account, IP)  policy->max_failures in policy->window_s;
 *   per IP             4 x max_failures in window_s (any accounts);
 *   per account        policy->account_max_per_hour in one hour, from anywhere:
 *                      slow enough that an attacker on one address cannot
 *                      lock the owner, signing in from another, out.
 * Keys: the IP as text; the account and (account, IP) as SHA-256 so
 * rate_events holds no addresses.
 *
 * Throttled attempts are counted, not logged one by one: the first one per
 * (limit, key) in a window appends one LOGIN_THROTTLED row whose details say
 * how many throttled attempts came since that key's previous row; the rest
 * only add a rate_events row.
 */
#ifndef LUMI_ACCOUNTS_THROTTLE_H
#define LUMI_ACCOUNTS_THROTTLE_H

#include "accounts/accounts.h"

/** Which limit an attempt hit (for LOGIN_THROTTLED's details and the message). */
struct throttle_hit {
    const char *scope; /* "account_ip", "ip", "account" */
    char key[128];
    int64_t window_s;
};

/**
 * LUMI_ETHROTTLED (hit filled) when mail (may be "" for unknown) from ip
 * (may be NULL) is over a limit; 0 when the attempt may go on.
 */
int throttle_login_check(struct db *db, const char *mail, const char *ip,
                         const struct accounts_login_policy *p, struct throttle_hit *hit,
                         struct lumi_err *err);

/** Notes one failed attempt under every key, in its own transaction. */
int throttle_login_failed(struct db *db, const char *mail, const char *ip, struct lumi_err *err);

/**
 * Counts a throttled attempt: the first per hit key in its window appends
 * LOGIN_THROTTLED (entity user, entity_id may be NULL) with the count of
 * throttled attempts since the previous such row; later ones are only
 * counted. Own transaction.
 */
int throttle_login_throttled(struct db *db, const struct audit_actor *actor, const char *entity_id,
                             const struct throttle_hit *hit, struct lumi_err *err);

#endif

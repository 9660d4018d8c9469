/*
 * orders.c — an order and the credit that pays it, in one transaction (see
 * orders.h). Stateless; uses the caller's connection, which must not be in
 * a transaction.
 */
#include "provisioning/orders.h"

#include "billing/credit_apply.h"
#include "provisioning/services.h"

static json_t *place(struct db *db, const struct audit_actor *actor, const json_t *input,
                     int64_t client_id, struct lumi_err *err)
{
    struct lumi_err local;
    struct services_placed placed;
    json_t *answer = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (db_begin(db, err) < 0)
        return NULL;
    if (services_order_in_tx(db, actor, input, client_id, &placed, err) < 0 ||
        credit_auto_apply(db, actor, placed.invoice_id, err) < 0)
        goto out;
    answer = services_order_answer(db, &placed, err);
    if (answer != NULL && db_commit(db, err) < 0) {
        json_decref(answer);
        answer = NULL;
    }
out:
    if (answer == NULL)
        db_rollback(db);
    return answer;
}

json_t *orders_place(struct db *db, const struct audit_actor *actor, const json_t *input,
                     struct lumi_err *err)
{
    return place(db, actor, input, 0, err);
}

json_t *orders_place_client(struct db *db, const struct audit_actor *actor, int64_t client_id,
                            const json_t *input, struct lumi_err *err)
{
    if (client_id <= 0) {
        err_set(err, LUMI_EFORBIDDEN, "only a client can order for themself");
        return NULL;
    }
    return place(db, actor, input, client_id, err);
}

/*
 * da_wire.h — private to the DirectAdmin client: the one place that knows
 * the difference between API v1 and v2 (how a request is sent, how its
 * answer is read). directadmin.c calls these and never looks at the version.
 */
#ifndef LUMI_PANELS_DA_WIRE_H
#define LUMI_PANELS_DA_WIRE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/http_client.h"
#include "panels/directadmin.h"
#include "panels/panel.h"

/** One request parameter; arrays of them end with {NULL, NULL}. Borrowed. */
struct da_param {
    const char *name;
    const char *value;
};

/**
 * Sends the legacy command cmd ("CMD_API_ACCOUNT_USER") with method "GET"
 * (params in the query) or "POST" (params form-encoded), as the configured
 * login or, when as_user is set, as "<login>|<as_user>". Reads the answer
 * per shape (see da_read_answer). 0 with *out (new reference) or -1 with e.
 */
int da_wire_command(const struct panel_conn *c, const char *method, const char *cmd,
                    const char *as_user, const struct da_param *params, enum da_shape shape,
                    json_t **out, struct hc_error *e);

/**
 * The account's legacy record (CMD_API_SHOW_USER_CONFIG, both versions):
 * 1 with *out, 0 when the panel says there is no such account, -1 with e.
 */
int da_wire_user_record(const struct panel_conn *c, const char *username, json_t **out,
                        struct hc_error *e);

/**
 * The account as the panel describes it at its richest: v2 the JSON API's
 * camelCase config, v1 the legacy record. 1 with *out, 0 absent, -1 with e.
 */
int da_wire_user_config(const struct panel_conn *c, const char *username, json_t **out,
                        struct hc_error *e);

/** Checks the login: fills msg ("Connected to DirectAdmin as admin (admin)"). 0 or -1 with e. */
int da_wire_login_test(const struct panel_conn *c, char *msg, size_t msgsz, struct hc_error *e);

/** See da_create_database. */
int da_wire_create_database(const struct panel_conn *c, const char *username, const char *name,
                            const char *dbuser, const char *password, struct hc_error *e);

#endif

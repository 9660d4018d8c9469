/*
 * registry.h — every setting an admin may change, in one validated table.
 *
 * A setting is a row of the `settings` table (key → text) that Lumi reads
 * while it runs: the automation's day counts, what a chargeback does, which
 * mail is sent and when. The registry owns the list of those keys with their
 * type, bounds, default, group, label and help text, and is the one place
 * that reads them with their default applied and the one place that writes
 * them (validated, in one transaction, with one SETTINGS_UPDATED audit row).
 * Keys Lumi keeps for itself in the same table (audit.*, installation.id)
 * are not settings and stay with their modules.
 *
 * Types and their stored text (the API's JSON value in brackets):
 *   integer       decimal, within [min, max]                       (JSON integer)
 *   bool          "1" or "0"                                       (true / false)
 *   enum          one of the choices                               (string)
 *   integer_list  distinct integers within [min, max], ascending,
 *                 comma-separated without spaces ("1,5")           (string)
 *   email_list    addresses separated by ", " ("a@x.com, b@y.org")  (string)
 *   text          one line, spaces at both ends trimmed, no control
 *                 characters, at most max_length characters; some keys
 *                 check more (a country code, an address, a PNG file —
 *                 checked when saved only —, a number format)     (string)
 *   multiline_text  as text, with line ends kept as "\n"           (string)
 *
 * A row whose stored text is not valid for its key (edited by hand) makes
 * the getters fail with LUMI_EINVAL naming the key, so a typo stops the work
 * that depends on it instead of silently doing something else.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#ifndef LUMI_SETTINGS_REGISTRY_H
#define LUMI_SETTINGS_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/**
 * The integer setting key into *out, its default when it has no row.
 * LUMI_EINVAL when key is not an integer setting of the registry (a
 * programming error) or its stored text is invalid; < 0 on a database error.
 * Works inside or outside a transaction, on the caller's connection.
 */
int settings_reg_int(struct db *db, const char *key, int64_t *out, struct lumi_err *err);

/** As settings_reg_int for a bool setting. */
int settings_reg_bool(struct db *db, const char *key, bool *out, struct lumi_err *err);

/**
 * The stored text of any setting key (its default when it has no row), in
 * the normal form shown above, into out (NUL-terminated). As
 * settings_reg_int, and LUMI_ETOOLARGE when it does not fit in outsz.
 */
int settings_reg_text(struct db *db, const char *key, char *out, size_t outsz,
                      struct lumi_err *err);

/**
 * Every setting, in table order: {"data": [{key, value, default, type,
 * group, label, help, choices? (enum), min?, max? (integer, integer_list),
 * max_items? (integer_list), max_length? (text, multiline_text)}]} with value and default typed as in the API
 * (a stored text that is invalid is answered as that string, with "error"
 * saying what is wrong). New reference, or NULL with err.
 */
json_t *settings_reg_list(struct db *db, struct lumi_err *err);

/**
 * Applies changes ({key: value, ...}, borrowed): every key must be a setting
 * and every value valid for it, else LUMI_EINVAL with a message naming each
 * bad key and what is wrong ("mail.reminder_days_before: expected an
 * integer from 0 to 60, got 99") and nothing is written. Then, in one
 * transaction (the caller must not have one open), writes the values that
 * differ from the current ones and appends one SETTINGS_UPDATED audit row
 * by actor (entity "settings", details {"changes": {key: {"old", "new"}}},
 * typed values); when nothing differs, nothing is written. Answers the new
 * settings_reg_list, or NULL with err.
 */
json_t *settings_reg_update(struct db *db, const struct audit_actor *actor, const json_t *changes,
                            struct lumi_err *err);

#endif

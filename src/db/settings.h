/*
 * settings.h — reading the `settings` table (key → text value).
 *
 * The settings an admin may change (automation.*, billing.*, mail.*) are
 * read and written through the registry (settings/registry.h), which adds
 * their types, bounds and defaults; Lumi's own keys (audit.*,
 * installation.id, …) stay with their modules. This is only the one lookup
 * they all need. Writes stay with their owners, which know whether a key is
 * created once, moved forward or replaced.
 */
#ifndef LUMI_DB_SETTINGS_H
#define LUMI_DB_SETTINGS_H

#include <stddef.h>

#include "core/err.h"
#include "db/db.h"

/**
 * Reads the value of key into out (NUL-terminated; cut to outsz like
 * str_copy). Returns 1 when the key is set, 0 when it has no row (out is
 * then ""), or a negative LUMI_E* code on a database error. Works inside or
 * outside a transaction, on the caller's connection (see settings_forget).
 */
int settings_get(struct db *db, const char *key, char *out, size_t outsz, struct lumi_err *err);

/**
 * Inside a transaction settings_get reads each key once and answers later
 * calls of that transaction from what it read (per thread). Code that writes
 * the settings table calls this after the write, so the rest of its
 * transaction reads the new value.
 */
void settings_forget(void);

#endif

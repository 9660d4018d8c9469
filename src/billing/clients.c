/*
 * clients.c — clients (users with role 'client'): validation, storage, audit.
 *
 * Owns the SQL over `users` restricted to role 'client'; admins and staff are
 * never read or written here. A client is handled as a JSON object of its
 * public columns: rows are read into one, input is validated into one of
 * normalised values, an update merges the second into the first, and the
 * merged object is what gets written and audited. The password hash never
 * enters those objects.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 * Password hashing (argon2id, ~64 MiB, bounded in crypto.c) runs before the
 * write transaction opens so the SQLite write lock is held only for the writes.
 */
#include "billing/clients.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/money.h"
#include "core/password.h"
#include "core/str.h"
#include "core/utc.h"
#include "events/events.h"

#define EMAIL_MAX 254
#define TEXT_MAX 200
#define REDACTED "********"

#define CLIENT_COLUMNS                                                                             \
    "id, email, first_name, last_name, company, phone, address1, address2, city, state, "          \
    "postcode, country, currency, status, created_at, updated_at, signed_up_at, signup_ip, "       \
    "email_verified_at, region, tax_id, tax_exempt"

static const char SQL_GET[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE id = $1 AND role = 'client'";

/* PostgreSQL: the row stays locked until commit, so concurrent read-modify-write
 * changes cannot overwrite each other. SQLite writers are already serialised
 * by BEGIN IMMEDIATE (and it has no FOR UPDATE). */
static const char SQL_GET_LOCKED[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE id = $1 AND role = 'client' FOR UPDATE";

static const char SQL_LIST[] = "SELECT " CLIENT_COLUMNS " FROM users"
                               " WHERE role = 'client' AND id > $1 ORDER BY id LIMIT $2";

/*
 * Client search (issue 15): a substring (so also a prefix) of the e-mail,
 * first or last name or company, case-insensitive. The text searched is the
 * expression migration 14 indexed: on PostgreSQL a pg_trgm GIN index over
 * it serves the LIKE (without pg_trgm the same LIKE reads the table); on
 * SQLite the FTS5 trigram table clients_fts holds it, rowid = users.id.
 * Trigrams need three characters: a shorter query is the LIKE on both
 * engines, which stops at the page's last row in id order.
 */
#define CLIENT_TEXT(sep)                                                                           \
    "lower(email || " sep " || first_name || " sep " || last_name || " sep " || company)"
#define SEARCH_MAX 200

static const char SQL_SEARCH_LIKE_PG[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE role = 'client' AND id > $1"
    " AND " CLIENT_TEXT("chr(31)") " LIKE lower($3) ESCAPE '\\' ORDER BY id LIMIT $2";
/* With digits in q: the index is asked for them alone ($4, see str_digit_span:
 * "company 123 ltd" over 200,000 clients read every row's list for "com",
 * "ltd"…), and the LIKE of all of q is written so that it cannot match the
 * index's expression. */
static const char SQL_SEARCH_DIGITS_PG[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE role = 'client' AND id > $1"
    " AND " CLIENT_TEXT("chr(31)") " LIKE lower($4) ESCAPE '\\'"
    " AND (" CLIENT_TEXT("chr(31)") " || '') LIKE lower($3) ESCAPE '\\' ORDER BY id LIMIT $2";
static const char SQL_SEARCH_LIKE_SQLITE[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE role = 'client' AND id > $1"
    " AND " CLIENT_TEXT("char(31)") " LIKE lower($3) ESCAPE '\\' ORDER BY id LIMIT $2";
/* Several clients in one round trip (a list page's rows): $1 is the ids as a
 * JSON array on SQLite, an array literal "{1,2}" on PostgreSQL (= ANY of an
 * array is an index scan there; a join with a set-returning function is not). */
static const char SQL_MANY_SQLITE[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE role = 'client'"
    " AND id IN (SELECT value FROM json_each($1))";
static const char SQL_MANY_PG[] =
    "SELECT " CLIENT_COLUMNS " FROM users WHERE role = 'client'"
    " AND id = ANY(CAST($1 AS BIGINT[]))";

static const char SQL_SEARCH_FTS[] =
    "SELECT " CLIENT_COLUMNS " FROM clients_fts JOIN users ON users.id = clients_fts.rowid"
    " WHERE clients_fts MATCH $3 AND clients_fts.rowid > $1 AND users.role = 'client'"
    " ORDER BY clients_fts.rowid LIMIT $2";

/* $1..$17 are WRITE_FIELDS in order, $18 tax_exempt, $19 the password hash (NULL keeps
 * it). A client an admin creates counts as verified (the admin vouches for the address, as
 * migration 11 did for the existing ones); a sign-up clears it again (SQL_SIGNED_UP). */
static const char SQL_INSERT[] =
    "INSERT INTO users (email, first_name, last_name, company, phone, address1, address2, city,"
    " state, postcode, country, currency, status, created_at, updated_at, region, tax_id,"
    " tax_exempt, password_hash, role, email_verified_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
    " $19, 'client', $14)"
    " RETURNING id";

static const char SQL_UPDATE[] =
    "UPDATE users SET email = $1, first_name = $2, last_name = $3, company = $4, phone = $5,"
    " address1 = $6, address2 = $7, city = $8, state = $9, postcode = $10, country = $11,"
    " currency = $12, status = $13, created_at = $14, updated_at = $15, region = $16,"
    " tax_id = $17, tax_exempt = $18, password_hash = COALESCE($19, password_hash)"
    " WHERE id = $20 AND role = 'client'";

static const char *const WRITE_FIELDS[] = {
    "email",    "first_name", "last_name",  "company",  "phone",   "address1",
    "address2", "city",       "state",      "postcode", "country", "currency",
    "status",   "created_at", "updated_at", "region",   "tax_id",  NULL,
};

static const char *const TEXT_FIELDS[] = {
    "first_name", "last_name", "company", "phone",  "address1", "address2", "city",
    "state",      "postcode",  "country", "region", "tax_id",   NULL,
};

static const char *const CREATE_KEYS[] = {
    "email",    "first_name", "last_name", "company",    "phone",   "address1",
    "address2", "city",       "state",     "postcode",   "country", "currency",
    "password", "region",     "tax_id",    "tax_exempt", NULL,
};

static const char *const UPDATE_KEYS[] = {
    "email",    "first_name", "last_name", "company",  "phone",      "address1",
    "address2", "city",       "state",     "postcode", "country",    "currency",
    "password", "status",     "region",    "tax_id",   "tax_exempt", NULL,
};

/* Fields whose null in a PATCH is refused (null clears only the free-text fields). */
static const char *const NOT_NULL_KEYS[] = {"email",  "currency",   "password",
                                            "status", "tax_exempt", NULL};

static const char *const STATUSES[] = {"active", "disabled", NULL};

/* ---- validation --------------------------------------------------------- */

static int set_str(json_t *obj, const char *key, const char *s, struct lumi_err *err)
{
    json_t *v = json_string(s);
    if (v == NULL || json_object_set_new(obj, key, v) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 1;
}

/* One '@' with text on both sides, no spaces, control characters or the
 * separators accounts_check_email also refuses, so both paths agree. */
static bool email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
        strpbrk(s, "<>,;\"") != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return strlen(s) <= EMAIL_MAX;
}

static int take_email(const json_t *in, bool required, json_t *out, struct lumi_err *err)
{
    const char *s = NULL;
    int rc = jsonx_take_str(in, "email", required, EMAIL_MAX, &s, err);
    if (rc <= 0)
        return rc;
    if (!email_valid(s))
        return err_set(err, LUMI_EINVAL,
                       "field 'email' must be an e-mail address: one '@', no spaces, "
                       "at most %d characters",
                       EMAIL_MAX);
    char lower[EMAIL_MAX + 1];
    str_copy(lower, s, sizeof lower);
    return set_str(out, "email", str_lower(lower), err);
}

/* A free-text field: absent is skipped, null clears it to "". */
static int take_text(const json_t *in, const char *key, json_t *out, struct lumi_err *err)
{
    const json_t *v = json_object_get(in, key);
    if (v == NULL)
        return 0;
    if (json_is_null(v))
        return set_str(out, key, "", err);
    const char *s = NULL;
    int rc = jsonx_take_str(in, key, false, TEXT_MAX, &s, err);
    if (rc <= 0)
        return rc;
    return set_str(out, key, s, err);
}

static int take_currency(const json_t *in, json_t *out, struct lumi_err *err)
{
    const char *s = NULL;
    int rc = jsonx_take_str(in, "currency", false, 16, &s, err);
    if (rc <= 0)
        return rc;
    char code[4];
    if (money_currency_normalize(s, code) < 0)
        return err_set(err, LUMI_EINVAL,
                       "field 'currency' must be a known ISO 4217 currency code such as \"usd\"");
    return set_str(out, "currency", code, err);
}

static int take_status(const json_t *in, json_t *out, struct lumi_err *err)
{
    const char *s = NULL;
    int rc = jsonx_take_enum(in, "status", false, STATUSES, &s, err);
    if (rc <= 0)
        return rc;
    return set_str(out, "status", s, err);
}

/*
 * Tax (issue 14): tax_exempt is a JSON bool; tax_id is printable without
 * spaces inside ("DE123456789"), at most TAX_ID_MAX; a two-letter country
 * is stored upper-case, the form tax rules match (ISO 3166-1 alpha-2).
 */
#define TAX_ID_MAX 32
static int take_tax(const json_t *in, json_t *out, struct lumi_err *err)
{
    const json_t *ex = json_object_get(in, "tax_exempt");
    if (ex != NULL && !json_is_boolean(ex))
        return err_set(err, LUMI_EINVAL, "field 'tax_exempt' must be true or false");
    if (ex != NULL && json_object_set_new(out, "tax_exempt", json_boolean(json_is_true(ex))) < 0)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    const char *id = json_string_value(json_object_get(out, "tax_id"));
    if (id != NULL) {
        size_t n = strlen(id);
        bool ok = n <= TAX_ID_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)id[i] > ' ' && id[i] != 0x7f;
        if (!ok)
            return err_set(err, LUMI_EINVAL,
                           "field 'tax_id' must be at most %d characters without spaces, "
                           "e.g. \"DE123456789\"",
                           TAX_ID_MAX);
    }
    const char *c = json_string_value(json_object_get(out, "country"));
    if (c != NULL && strlen(c) == 2) {
        char up[3];
        str_copy(up, c, sizeof up);
        for (char *p = up; *p != '\0'; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        return set_str(out, "country", up, err) < 0 ? LUMI_ENOMEM : 0;
    }
    return 0;
}

/* Hashes the password when one is given; hash stays "" otherwise. */
static int take_password(const json_t *in, char hash[CRYPTO_PWHASH_MAX], struct lumi_err *err)
{
    const char *s = NULL;
    int rc = jsonx_take_str(in, "password", false, PASSWORD_MAX, &s, err);
    if (rc <= 0)
        return rc;
    rc = password_check(s, false, "password", err);
    if (rc != 0)
        return rc;
    rc = crypto_password_hash(s, hash, err);
    return rc < 0 ? rc : 1;
}

static int reject_nulls(const json_t *in, struct lumi_err *err)
{
    for (size_t i = 0; NOT_NULL_KEYS[i] != NULL; i++)
        if (json_is_null(json_object_get(in, NOT_NULL_KEYS[i])))
            return err_set(err, LUMI_EINVAL, "field '%s' cannot be null", NOT_NULL_KEYS[i]);
    return 0;
}

/*
 * Validates in into out (normalised values of the fields present) and hashes
 * a given password into pwhash. The password comes last: it is the costly one.
 */
static int validate(const json_t *in, bool create, json_t *out, char pwhash[CRYPTO_PWHASH_MAX],
                    struct lumi_err *err)
{
    int rc = jsonx_check_keys(in, create ? CREATE_KEYS : UPDATE_KEYS, err);
    if (rc < 0)
        return rc;
    if (!create) {
        rc = reject_nulls(in, err);
        if (rc < 0)
            return rc;
    }
    rc = take_email(in, create, out, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; TEXT_FIELDS[i] != NULL; i++) {
        rc = take_text(in, TEXT_FIELDS[i], out, err);
        if (rc < 0)
            return rc;
    }
    rc = take_tax(in, out, err);
    if (rc < 0)
        return rc;
    rc = take_currency(in, out, err);
    if (rc < 0)
        return rc;
    if (!create) {
        rc = take_status(in, out, err);
        if (rc < 0)
            return rc;
    }
    rc = take_password(in, pwhash, err);
    return rc < 0 ? rc : 0;
}

static int apply_defaults(json_t *c, const char *now, struct lumi_err *err)
{
    int rc = 0;
    for (size_t i = 0; TEXT_FIELDS[i] != NULL && rc >= 0; i++)
        if (json_object_get(c, TEXT_FIELDS[i]) == NULL)
            rc = set_str(c, TEXT_FIELDS[i], "", err);
    if (rc >= 0 && json_object_get(c, "currency") == NULL)
        rc = set_str(c, "currency", "usd", err);
    if (rc >= 0 && json_object_get(c, "tax_exempt") == NULL &&
        json_object_set_new(c, "tax_exempt", json_false()) < 0)
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
    if (rc >= 0)
        rc = set_str(c, "status", "active", err);
    if (rc >= 0)
        rc = set_str(c, "created_at", now, err);
    if (rc >= 0)
        rc = set_str(c, "updated_at", now, err);
    return rc < 0 ? rc : 0;
}

/* ---- storage ------------------------------------------------------------ */

static json_t *row_to_json(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = json_object();
    for (int i = 0; o != NULL && i < db_col_count(st); i++) {
        const char *name = db_col_name(st, i);
        const char *text = db_col_text(st, i);
        bool nullable = strcmp(name, "signed_up_at") == 0 || strcmp(name, "signup_ip") == 0 ||
                        strcmp(name, "email_verified_at") == 0;
        json_t *v = strcmp(name, "id") == 0           ? json_integer(db_col_int64(st, i))
                    : strcmp(name, "tax_exempt") == 0 ? json_boolean(db_col_int64(st, i) != 0)
                    : text == NULL && nullable        ? json_null()
                                                      : json_string(text != NULL ? text : "");
        if (json_object_set_new(o, name, v) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    if (o == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory reading a client");
    return o;
}

/* The row as JSON; lock: for a change inside the open transaction. */
static json_t *fetch_client(struct db *db, int64_t id, bool lock, struct lumi_err *err)
{
    const char *sql = lock && db_kind(db) == DB_POSTGRES ? SQL_GET_LOCKED : SQL_GET;
    return listing_get(db, sql, id, row_to_json, "client", err);
}

/* Binds the WRITE_FIELDS of c as $1.., then the hash (NULL = keep) after them. */
static int bind_client(struct db_stmt *st, const json_t *c, const char *pwhash,
                       struct lumi_err *err)
{
    int idx = 1;
    int rc = 0;
    for (size_t i = 0; WRITE_FIELDS[i] != NULL && rc >= 0; i++, idx++)
        rc = db_bind_text(st, idx, json_string_value(json_object_get(c, WRITE_FIELDS[i])));
    if (rc >= 0)
        rc = db_bind_int64(st, idx++, json_is_true(json_object_get(c, "tax_exempt")));
    if (rc >= 0)
        rc = db_bind_text(st, idx, pwhash);
    if (rc < 0)
        return err_set(err, LUMI_EDB, "cannot bind a parameter");
    return idx + 1;
}

static int conflict(struct lumi_err *err, const json_t *c)
{
    return err_set(err, LUMI_ECONFLICT, "a user with e-mail %s already exists",
                   json_string_value(json_object_get(c, "email")));
}

static int insert_client(struct db *db, const json_t *c, const char *pwhash, int64_t *id,
                         struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    rc = bind_client(st, c, pwhash, err);
    if (rc < 0)
        goto out;
    rc = db_step_id(st, "a client", id, err);
    if (rc == LUMI_ECONFLICT)
        rc = conflict(err, c);
out:
    db_finalize(st);
    return rc;
}

static int update_client(struct db *db, int64_t id, const json_t *c, const char *pwhash,
                         struct lumi_err *err)
{
    int rc;
    struct db_stmt *st = db_prepare(db, SQL_UPDATE, err);
    if (st == NULL) {
        rc = err->code;
        goto out;
    }
    rc = bind_client(st, c, pwhash, err);
    if (rc < 0)
        goto out;
    if (db_bind_int64(st, rc, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == LUMI_ECONFLICT)
        rc = conflict(err, c);
    else if (rc == DB_DONE && db_changes(st) != 1)
        rc = err_set(err, LUMI_ENOTFOUND, "client %" PRId64 " not found", id);
    else if (rc > 0)
        rc = err_set(err, LUMI_EDB, "an UPDATE returned rows");
out:
    db_finalize(st);
    return rc;
}

/* A password set by an admin ends every session and login challenge of the
 * client (whoever knew the old one is out), in the caller's transaction. */
static int end_sessions(struct db *db, int64_t id, struct lumi_err *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%lld", (long long)id);
    const char *p[] = {idt};
    int rc = db_execp(db, "DELETE FROM sessions WHERE user_id = CAST($1 AS BIGINT)", 1, p, NULL,
                      err);
    if (rc == 0)
        rc = db_execp(db, "DELETE FROM login_challenges WHERE user_id = CAST($1 AS BIGINT)", 1, p,
                      NULL, err);
    return rc;
}

/* A new password is recorded as changed, never with a value (not even the hash). */
static int note_password(json_t *changed)
{
    return json_object_set_new(changed, "password",
                               json_pack("{s:s,s:s}", "from", REDACTED, "to", REDACTED));
}

/* ---- public ------------------------------------------------------------- */

json_t *clients_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                     struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return listing_page(db, SQL_LIST, after_id, limit, row_to_json, next_cursor, err);
}

/* Characters (not bytes) of UTF-8 text. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* q as a LIKE pattern "%q%" (\ escapes % _ \), or as an FTS5 phrase "\"q\"". */
static int search_term(const char *q, bool fts, char *out, size_t outsz)
{
    size_t o = 0;
    const char *open = fts ? "\"" : "%";
    out[o++] = open[0];
    for (const char *p = q; *p != '\0'; p++) {
        bool esc = fts ? *p == '"' : (*p == '%' || *p == '_' || *p == '\\');
        if (o + 4 >= outsz)
            return -1;
        if (esc)
            out[o++] = fts ? '"' : '\\';
        out[o++] = *p;
    }
    out[o++] = open[0];
    out[o] = '\0';
    return 0;
}

json_t *clients_search(struct db *db, const char *q, int64_t after_id, int limit,
                       int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    char term[2 * SEARCH_MAX + 4];
    if (err == NULL)
        err = &local;
    err_clear(err);
    *next_cursor = 0;
    if (q == NULL || q[0] == '\0' || strlen(q) > SEARCH_MAX) {
        err_set(err, LUMI_EINVAL, "q must be 1 to %d bytes of text to search for", SEARCH_MAX);
        return NULL;
    }
    bool fts = db_kind(db) == DB_SQLITE && utf8_chars(q) >= 3;
    const char *sql = fts                        ? SQL_SEARCH_FTS
                      : db_kind(db) == DB_SQLITE ? SQL_SEARCH_LIKE_SQLITE
                                                 : SQL_SEARCH_LIKE_PG;
    if (search_term(q, fts, term, sizeof term) < 0) {
        err_set(err, LUMI_EINVAL, "q must be 1 to %d bytes of text to search for", SEARCH_MAX);
        return NULL;
    }
    size_t dlen = 0;
    const char *d = db_kind(db) == DB_POSTGRES ? str_digit_span(q, &dlen) : NULL;
    if (d != NULL) {
        char digits[SEARCH_MAX + 1], dterm[2 * SEARCH_MAX + 4];
        memcpy(digits, d, dlen); /* dlen < strlen(q) <= SEARCH_MAX */
        digits[dlen] = '\0';
        if (search_term(digits, false, dterm, sizeof dterm) == 0)
            return listing_page_filtered2(db, SQL_SEARCH_DIGITS_PG, term, dterm, after_id, limit,
                                          row_to_json, next_cursor, err);
    }
    return listing_page_filtered(db, sql, term, after_id, limit, row_to_json, next_cursor, err);
}

json_t *clients_get_many(struct db *db, const int64_t *ids, size_t n, struct lumi_err *err)
{
    struct lumi_err local;
    json_t *out = json_object(), *arr = json_array();
    char *text = NULL;
    struct db_stmt *st = NULL;
    int rc = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (n > CLIENTS_MANY_MAX) {
        rc = err_set(err, LUMI_EINVAL, "at most %d clients at once", CLIENTS_MANY_MAX);
        goto out;
    }
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, json_integer(ids[i])) < 0)
            rc = LUMI_ENOMEM;
    text = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
    if (text != NULL && db_kind(db) == DB_POSTGRES) { /* "[1,2]" → "{1,2}" */
        text[0] = '{';
        text[strlen(text) - 1] = '}';
    }
    if (out == NULL || text == NULL || rc != 0) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    st = db_prepare(db, db_kind(db) == DB_SQLITE ? SQL_MANY_SQLITE : SQL_MANY_PG, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    db_bind_text(st, 1, text);
    while ((rc = db_step(st, err)) == DB_ROW) {
        char key[24];
        json_t *c = row_to_json(st, err);
        if (c == NULL) {
            rc = err->code != 0 ? err->code : LUMI_ENOMEM;
            goto out;
        }
        snprintf(key, sizeof key, "%" PRId64, (int64_t)json_integer_value(json_object_get(c, "id")));
        if (json_object_set_new(out, key, c) < 0) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    db_finalize(st);
    free(text);
    json_decref(arr);
    if (rc < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *clients_get(struct db *db, int64_t id, struct lumi_err *err)
{
    err_clear(err);
    return fetch_client(db, id, false, err);
}

json_t *clients_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                       struct lumi_err *err)
{
    struct lumi_err local;
    char pwhash[CRYPTO_PWHASH_MAX] = "";
    char now[UTC_ISO_LEN];
    json_t *c = NULL;
    json_t *result = NULL;
    int64_t id = 0;
    if (err == NULL)
        err = &local;
    err_clear(err);
    c = json_object();
    if (c == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    utc_now_iso(now);
    if (validate(input, true, c, pwhash, err) < 0 || apply_defaults(c, now, err) < 0)
        goto out;
    if (db_begin(db, err) < 0)
        goto out;
    if (insert_client(db, c, pwhash[0] != '\0' ? pwhash : NULL, &id, err) < 0)
        goto out;
    result = fetch_client(db, id, false, err);
    if (result == NULL)
        goto out;
    if (audit_append_id(db, actor, "CLIENT_CREATED", "client", id, result, err) < 0 ||
        events_emit(db, "client.created", "client", id, json_deep_copy(result), err) < 0 ||
        db_commit(db, err) < 0) {
        json_decref(result);
        result = NULL;
    }
out:
    if (result == NULL)
        db_rollback(db);
    json_decref(c);
    return result;
}

json_t *clients_update(struct db *db, const struct audit_actor *actor, int64_t id,
                       const json_t *patch, struct lumi_err *err)
{
    struct lumi_err local;
    char pwhash[CRYPTO_PWHASH_MAX] = "";
    char now[UTC_ISO_LEN];
    json_t *want = NULL;
    json_t *cur = NULL;
    json_t *changed = NULL;
    json_t *details = NULL;
    json_t *result = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (json_object_size(patch) == 0) {
        err_set(err, LUMI_EINVAL, "request body must name at least one field to change");
        goto out;
    }
    want = json_object();
    if (want == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (validate(patch, false, want, pwhash, err) < 0)
        goto out;
    if (db_begin(db, err) < 0)
        goto out;
    cur = fetch_client(db, id, true, err);
    if (cur == NULL)
        goto out;
    changed = jsonx_apply_changes(cur, want);
    if (changed == NULL || (pwhash[0] != '\0' && note_password(changed) < 0)) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (json_object_size(changed) == 0) {
        /* Nothing differs from what is stored: no write, no audit row. */
        db_rollback(db);
        result = cur;
        cur = NULL;
        goto out;
    }
    utc_now_iso(now);
    details = json_pack("{s:O}", "changed", changed);
    if (details == NULL || set_str(cur, "updated_at", now, err) < 0) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        goto out;
    }
    if (update_client(db, id, cur, pwhash[0] != '\0' ? pwhash : NULL, err) < 0)
        goto out;
    if (pwhash[0] != '\0' && end_sessions(db, id, err) < 0)
        goto out;
    if (audit_append_id(db, actor, "CLIENT_UPDATED", "client", id, details, err) < 0 ||
        db_commit(db, err) < 0)
        goto out;
    result = cur;
    cur = NULL;
out:
    if (result == NULL)
        db_rollback(db);
    json_decref(want);
    json_decref(cur);
    json_decref(changed);
    json_decref(details);
    return result;
}

/* ---- sign-up ------------------------------------------------------------ */

static const char SQL_SIGNED_UP[] =
    "UPDATE users SET signed_up_at = $1, signup_ip = $2, email_verified_at = NULL"
    " WHERE id = $3 AND role = 'client'";
static const char SQL_VERIFY[] =
    "UPDATE users SET email_verified_at = $1, updated_at = $1"
    " WHERE id = $2 AND role = 'client' AND email_verified_at IS NULL";
static const char SQL_IS_CLIENT[] = "SELECT COUNT(*) FROM users WHERE id = $1 AND role = 'client'";

static const char *const SIGNUP_REQUIRED[] = {"email", "password", "first_name", "last_name",
                                              "country", NULL};

int clients_signup_check(const json_t *input, struct clients_signup *s, struct lumi_err *err)
{
    memset(s, 0, sizeof *s);
    if (!json_is_object(input))
        return err_set(err, LUMI_EINVAL, "the body must be a JSON object");
    /* Tax status is the provider's to check and set, never the customer's own claim. */
    if (json_object_get(input, "tax_id") != NULL || json_object_get(input, "tax_exempt") != NULL)
        return err_set(err, LUMI_EINVAL,
                       "fields 'tax_id' and 'tax_exempt' are set by our staff; please contact "
                       "us after signing up");
    for (size_t i = 0; SIGNUP_REQUIRED[i] != NULL; i++) {
        const char *v = json_string_value(json_object_get(input, SIGNUP_REQUIRED[i]));
        if (v == NULL || !str_present(v))
            return err_set(err, LUMI_EINVAL, "field '%s' is required", SIGNUP_REQUIRED[i]);
    }
    s->fields = json_object();
    if (s->fields == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    int rc = validate(input, true, s->fields, s->pwhash, err);
    if (rc < 0)
        clients_signup_clear(s);
    return rc < 0 ? rc : 0;
}

int clients_signup_insert_tx(struct db *db, const struct clients_signup *s, const char *ip,
                             int64_t *id_out, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], idtext[24];
    int64_t id = 0;
    utc_now_iso(now);
    json_t *c = json_deep_copy(s->fields);
    if (c == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    int rc = apply_defaults(c, now, err);
    if (rc == 0)
        rc = insert_client(db, c, s->pwhash, &id, err);
    json_decref(c);
    if (rc != 0)
        return rc;
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *p[] = {now, ip, idtext};
    rc = db_execp(db, SQL_SIGNED_UP, 3, p, NULL, err);
    if (rc == 0) /* outgoing event (issue 16) */
        rc = events_emit(db, "client.created", "client", id, fetch_client(db, id, false, err), err);
    if (rc == 0)
        *id_out = id;
    return rc;
}

void clients_signup_clear(struct clients_signup *s)
{
    json_decref(s->fields);
    memset(s, 0, sizeof *s);
}

int clients_verify_email_tx(struct db *db, int64_t id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN], idtext[24];
    int64_t changes = 0, n = 0;
    utc_now_iso(now);
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *p[] = {now, idtext};
    int rc = db_execp(db, SQL_VERIFY, 2, p, &changes, err);
    if (rc != 0)
        return rc;
    if (changes > 0)
        return 1;
    const char *q[] = {idtext};
    rc = db_query_int64(db, SQL_IS_CLIENT, 1, q, &n, err);
    if (rc != 0)
        return rc;
    return n > 0 ? 0 : err_set(err, LUMI_ENOTFOUND, "client %lld not found", (long long)id);
}

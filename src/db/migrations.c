/*
 * migrations.c — Lumi's schema, as numbered scripts (see migrations.h).
 *
 * Conventions: times are TEXT "YYYY-MM-DDTHH:MM:SSZ" (UTC, sorts lexically);
 * booleans are INTEGER 0/1; money is BIGINT minor units with a lower-case
 * currency code beside it; JSON documents are TEXT; secrets are TEXT sealed
 * by crypto_seal(). Never edit a script that has shipped: add a new one.
 */
#include "db/migrations.h"

static const char m0001_accounts[] =
    "CREATE TABLE users ("
    "  id {{PK}},"
    "  email TEXT NOT NULL UNIQUE,"               /* stored lower-case */
    "  role TEXT NOT NULL CHECK (role IN ('admin','staff','client')),"
    "  password_hash TEXT,"                       /* argon2id; NULL = cannot log in */
    "  first_name TEXT NOT NULL DEFAULT '',"
    "  last_name TEXT NOT NULL DEFAULT '',"
    "  company TEXT NOT NULL DEFAULT '',"
    "  phone TEXT NOT NULL DEFAULT '',"
    "  address1 TEXT NOT NULL DEFAULT '',"
    "  address2 TEXT NOT NULL DEFAULT '',"
    "  city TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL DEFAULT '',"
    "  postcode TEXT NOT NULL DEFAULT '',"
    "  country TEXT NOT NULL DEFAULT '',"
    "  currency TEXT NOT NULL DEFAULT 'usd',"
    "  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled')),"
    "  totp_secret TEXT,"                         /* sealed; NULL = no second factor */
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE INDEX users_role ON users (role, id);"
    "CREATE TABLE sessions ("
    "  id {{PK}},"
    "  token_hash TEXT NOT NULL UNIQUE,"          /* SHA-256 of the cookie value */
    "  user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  csrf_token TEXT NOT NULL,"
    "  ip TEXT,"
    "  user_agent TEXT,"
    "  created_at TEXT NOT NULL,"
    "  expires_at TEXT NOT NULL,"
    "  last_seen_at TEXT NOT NULL"
    ");"
    "CREATE INDEX sessions_user ON sessions (user_id);"
    "CREATE TABLE api_tokens ("
    "  id {{PK}},"
    "  name TEXT NOT NULL,"
    "  token_hash TEXT NOT NULL UNIQUE,"          /* SHA-256 of the token; the token is never stored */
    "  prefix TEXT NOT NULL,"                     /* first characters, to recognise it in lists */
    "  user_id BIGINT REFERENCES users (id) ON DELETE CASCADE," /* NULL = installation-wide admin token */
    "  created_at TEXT NOT NULL,"
    "  last_used_at TEXT,"
    "  revoked_at TEXT"
    ");"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");";

static const char m0002_catalogue[] =
    "CREATE TABLE servers ("
    "  id {{PK}},"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL CHECK (type IN ('pterodactyl','directadmin','virtfusion')),"
    "  url TEXT NOT NULL,"
    "  username TEXT,"                            /* DirectAdmin login */
    "  secret_enc TEXT,"                          /* sealed API key or password */
    "  api_version TEXT CHECK (api_version IS NULL OR api_version IN ('v1','v2')),"
    "  max_accounts INTEGER NOT NULL DEFAULT 0 CHECK (max_accounts >= 0),"
    "  account_count INTEGER NOT NULL DEFAULT 0 CHECK (account_count >= 0),"
    "  active INTEGER NOT NULL DEFAULT 1,"
    "  source TEXT NOT NULL DEFAULT 'database' CHECK (source IN ('database','environment')),"
    "  env_key TEXT UNIQUE,"                      /* panel type for environment servers */
    "  group_name TEXT,"
    "  fill_order INTEGER NOT NULL DEFAULT 0,"
    "  settings TEXT NOT NULL DEFAULT '{}',"
    "  status_ok INTEGER,"
    "  status_message TEXT,"
    "  status_latency_ms INTEGER,"
    "  status_checked_at TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE INDEX servers_group ON servers (group_name, fill_order);"
    "CREATE TABLE products ("
    "  id {{PK}},"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  type TEXT NOT NULL CHECK (type IN ('hosting','vps','game_server','other')),"
    "  server_id BIGINT REFERENCES servers (id),"
    "  server_group TEXT,"
    "  fill_strategy TEXT NOT NULL DEFAULT 'least_full'"
    "    CHECK (fill_strategy IN ('least_full','in_order')),"
    "  price BIGINT NOT NULL CHECK (price >= 0),"
    "  currency TEXT NOT NULL,"
    "  billing_cycle TEXT NOT NULL CHECK (billing_cycle IN"
    "    ('monthly','quarterly','semiannually','annually','onetime')),"
    "  setup_fee BIGINT NOT NULL DEFAULT 0 CHECK (setup_fee >= 0),"
    "  autosetup TEXT NOT NULL CHECK (autosetup IN ('order','payment','manual','never')),"
    "  config TEXT NOT NULL DEFAULT '{}',"
    "  active INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");";

static const char m0003_billing[] =
    "CREATE TABLE services ("
    "  id {{PK}},"
    "  client_id BIGINT NOT NULL REFERENCES users (id),"
    "  product_id BIGINT NOT NULL REFERENCES products (id),"
    "  server_id BIGINT REFERENCES servers (id),"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('pending','provisioning','active','suspended','terminated','failed','cancelled')),"
    "  suspend_reason TEXT,"
    "  remote_key TEXT NOT NULL UNIQUE,"          /* deterministic key, stored before any panel call */
    "  panel_user_key TEXT,"
    "  external_id TEXT,"                         /* the panel's id once confirmed */
    "  username TEXT,"
    "  password_enc TEXT,"                        /* sealed */
    "  domain TEXT,"
    "  billing_cycle TEXT NOT NULL,"
    "  recurring_amount BIGINT NOT NULL CHECK (recurring_amount >= 0),"
    "  currency TEXT NOT NULL,"
    "  next_due_date TEXT,"
    "  last_error TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  terminated_at TEXT"
    ");"
    "CREATE INDEX services_client ON services (client_id, id);"
    "CREATE INDEX services_status ON services (status, next_due_date);"
    "CREATE INDEX services_server ON services (server_id);"
    "CREATE TABLE invoices ("
    "  id {{PK}},"
    "  number TEXT NOT NULL UNIQUE,"
    "  client_id BIGINT NOT NULL REFERENCES users (id),"
    "  status TEXT NOT NULL CHECK (status IN ('unpaid','paid','partially_paid','refunded',"
    "    'partially_refunded','cancelled')),"
    "  currency TEXT NOT NULL,"
    "  subtotal BIGINT NOT NULL CHECK (subtotal >= 0),"
    "  tax BIGINT NOT NULL DEFAULT 0 CHECK (tax >= 0),"
    "  total BIGINT NOT NULL CHECK (total >= 0),"
    "  amount_paid BIGINT NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),"
    "  amount_refunded BIGINT NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),"
    "  due_date TEXT NOT NULL,"
    "  paid_at TEXT,"
    "  notes TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE INDEX invoices_client ON invoices (client_id, id);"
    "CREATE INDEX invoices_status ON invoices (status, due_date);"
    "CREATE TABLE invoice_items ("
    "  id {{PK}},"
    "  invoice_id BIGINT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,"
    "  service_id BIGINT REFERENCES services (id),"
    "  kind TEXT NOT NULL DEFAULT 'other' CHECK (kind IN ('setup','recurring','other')),"
    "  description TEXT NOT NULL,"
    "  quantity INTEGER NOT NULL CHECK (quantity > 0),"
    "  unit_amount BIGINT NOT NULL,"
    "  amount BIGINT NOT NULL,"
    "  period_start TEXT,"
    "  period_end TEXT"
    ");"
    "CREATE INDEX invoice_items_invoice ON invoice_items (invoice_id);"
    "CREATE INDEX invoice_items_service ON invoice_items (service_id);"
    "CREATE TABLE transactions ("
    "  id {{PK}},"
    "  invoice_id BIGINT REFERENCES invoices (id),"
    "  gateway TEXT NOT NULL,"                    /* stripe | paypal | manual */
    "  kind TEXT NOT NULL CHECK (kind IN ('payment','refund','chargeback','chargeback_reversal')),"
    "  gateway_ref TEXT NOT NULL,"
    "  amount BIGINT NOT NULL CHECK (amount >= 0),"
    "  currency TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  fee BIGINT,"
    "  details TEXT NOT NULL DEFAULT '{}',"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (gateway, kind, gateway_ref)"
    ");"
    "CREATE INDEX transactions_invoice ON transactions (invoice_id);"
    "CREATE TABLE checkouts ("
    "  id {{PK}},"
    "  invoice_id BIGINT NOT NULL REFERENCES invoices (id),"
    "  gateway TEXT NOT NULL,"
    "  gateway_ref TEXT NOT NULL,"                /* Stripe session id / PayPal order id */
    "  url TEXT,"
    "  status TEXT NOT NULL,"
    "  amount BIGINT NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (gateway, gateway_ref)"
    ");"
    "CREATE INDEX checkouts_invoice ON checkouts (invoice_id);"
    "CREATE TABLE webhook_events ("
    "  id {{PK}},"
    "  gateway TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('processed','ignored','failed')),"
    "  error TEXT,"
    "  payload TEXT NOT NULL,"
    "  received_at TEXT NOT NULL,"
    "  processed_at TEXT,"
    "  UNIQUE (gateway, event_id)"
    ");";

static const char m0004_jobs[] =
    "CREATE TABLE jobs ("
    "  id {{PK}},"
    "  service_id BIGINT REFERENCES services (id),"
    "  action TEXT NOT NULL CHECK (action IN ('provision','suspend','unsuspend','terminate',"
    "    'change_package','change_password')),"
    "  status TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled')),"
    "  args TEXT NOT NULL DEFAULT '{}',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL,"
    "  run_at TEXT NOT NULL,"
    "  locked_by TEXT,"
    "  locked_until TEXT,"
    "  last_error TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  finished_at TEXT"
    ");"
    "CREATE INDEX jobs_due ON jobs (status, run_at);"
    "CREATE INDEX jobs_service ON jobs (service_id, id);"
    "CREATE TABLE provision_attempts ("
    "  id {{PK}},"
    "  job_id BIGINT NOT NULL REFERENCES jobs (id),"
    "  service_id BIGINT REFERENCES services (id),"
    "  server_id BIGINT REFERENCES servers (id),"
    "  action TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  started_at TEXT NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"                    /* success | error class */
    "  http_status INTEGER,"
    "  error TEXT"
    ");"
    "CREATE INDEX provision_attempts_job ON provision_attempts (job_id);"
    "CREATE INDEX provision_attempts_service ON provision_attempts (service_id, id);";

/* The audit chain: ids are assigned by audit_append under the chain lock (not
 * a sequence), so the id is part of the hashed row and a gap is detectable. */
static const char m0005_audit[] =
    "CREATE TABLE audit_log ("
    "  id BIGINT PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  actor_type TEXT NOT NULL CHECK (actor_type IN ('user','api_token','system','gateway')),"
    "  actor_id TEXT,"
    "  actor_email TEXT,"
    "  action TEXT NOT NULL,"
    "  entity TEXT,"
    "  entity_id TEXT,"
    "  ip TEXT,"
    "  user_agent TEXT,"
    "  details TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE"
    ");"
    "CREATE INDEX audit_log_action ON audit_log (action, id);"
    "CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);"
    "CREATE INDEX audit_log_actor ON audit_log (actor_email, id);"
    "CREATE INDEX audit_log_ip ON audit_log (ip, id);"
    "CREATE INDEX audit_log_at ON audit_log (at, id);";

/* At most one open job per service and action (jobs_enqueue relies on it with
 * ON CONFLICT … DO NOTHING); the admin job list by status, newest first. */
static const char m0006_jobs_open_once[] =
    "CREATE UNIQUE INDEX jobs_open_once ON jobs (service_id, action)"
    "  WHERE status IN ('queued', 'running');"
    "CREATE INDEX jobs_status_id ON jobs (status, id);";

/* The admin login's second factor (accounts.h): the secret being set up
 * (sealed, until a current code confirms it), the last accepted TOTP step
 * (a code is good once), one-time recovery codes and the short-lived
 * challenge between the password and the code (only hashes stored). */
static const char m0007_totp[] =
    "ALTER TABLE users ADD COLUMN totp_pending TEXT;"     /* sealed; awaiting confirmation */
    "ALTER TABLE users ADD COLUMN totp_last_step BIGINT;" /* NULL = no code accepted yet */
    "CREATE TABLE totp_recovery_codes ("
    "  id {{PK}},"
    "  user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  code_hash TEXT NOT NULL,"                  /* SHA-256 of the normalised code */
    "  created_at TEXT NOT NULL,"
    "  used_at TEXT,"
    "  UNIQUE (user_id, code_hash)"
    ");"
    "CREATE TABLE login_challenges ("
    "  id {{PK}},"
    "  token_hash TEXT NOT NULL UNIQUE,"          /* SHA-256; the token is never stored */
    "  user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  ip TEXT,"
    "  created_at TEXT NOT NULL,"
    "  expires_at TEXT NOT NULL"
    ");"
    "CREATE INDEX login_challenges_user ON login_challenges (user_id);";

/* The audit page filters by entity alone; (entity, entity_id, id) cannot give
 * those rows in id order, so SQLite sorted a fifth of a large log per page. */
static const char m0008_audit_entity_order[] =
    "CREATE INDEX audit_log_entity_only ON audit_log (entity, id);";

/*
 * The write path of a webhook delivery, made cheaper (bench/bench_webhooks).
 *
 * audit_log: the UNIQUE on hash put every new row in a random place of a
 * large index (one more page written per row and commit) and guarded
 * nothing: the chain check walks rows by id and compares each hash with the
 * next prev_hash. audit_log_actor was never used: the actor filter matches
 * actor_email OR actor_id, which no single-column index serves.
 *
 * SQLite only: audit_log is rebuilt with id as INTEGER PRIMARY KEY (the
 * rowid, instead of a separate unique index beside it), and every CHECK of
 * the form "x IN (...)" is rewritten as "(x = ... OR x = ...)". SQLite
 * evaluates a CHECK's IN list of three or more values by building a
 * temporary index at every INSERT or UPDATE of the row; the comparisons
 * accept exactly the same values. A CHECK does not change how rows are
 * stored, so its text is changed in place with writable_schema (the
 * procedure of sqlite.org/lang_altertable.html, section 7); the ALTER TABLE
 * at the end re-reads and checks the whole schema and bumps the schema
 * version, so every connection loads the new text.
 */
static const char m0009_write_path[] = "ALTER TABLE audit_log DROP CONSTRAINT audit_log_hash_key;"
                                       "DROP INDEX audit_log_actor;";

static const char m0009_write_path_sqlite[] =
    "PRAGMA writable_schema=ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'role IN (''admin'',''staff'',''client'')',"
    " '(role = ''admin'' OR role = ''staff'' OR role = ''client'')')"
    " WHERE type = 'table' AND name = 'users';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'status IN (''active'',''disabled'')',"
    " '(status = ''active'' OR status = ''disabled'')')"
    " WHERE type = 'table' AND name = 'users';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'type IN (''pterodactyl'',''directadmin'',''virtfusion'')',"
    " '(type = ''pterodactyl'' OR type = ''directadmin'' OR type = ''virtfusion'')')"
    " WHERE type = 'table' AND name = 'servers';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'api_version IN (''v1'',''v2'')',"
    " '(api_version = ''v1'' OR api_version = ''v2'')')"
    " WHERE type = 'table' AND name = 'servers';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'source IN (''database'',''environment'')',"
    " '(source = ''database'' OR source = ''environment'')')"
    " WHERE type = 'table' AND name = 'servers';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'type IN (''hosting'',''vps'',''game_server'',''other'')',"
    " '(type = ''hosting'' OR type = ''vps'' OR type = ''game_server'' OR type = ''other'')')"
    " WHERE type = 'table' AND name = 'products';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'fill_strategy IN (''least_full'',''in_order'')',"
    " '(fill_strategy = ''least_full'' OR fill_strategy = ''in_order'')')"
    " WHERE type = 'table' AND name = 'products';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'billing_cycle IN    (''monthly'',''quarterly'',''semiannually'',''annually'',"
    "''onetime'')',"
    " '(billing_cycle = ''monthly'' OR billing_cycle = ''quarterly'' OR "
    "billing_cycle = ''semiannually'' OR billing_cycle = ''annually'' OR "
    "billing_cycle = ''onetime'')')"
    " WHERE type = 'table' AND name = 'products';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'autosetup IN (''order'',''payment'',''manual'',''never'')',"
    " '(autosetup = ''order'' OR autosetup = ''payment'' OR autosetup = ''manual'' OR "
    "autosetup = ''never'')')"
    " WHERE type = 'table' AND name = 'products';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'status IN    (''pending'',''provisioning'',''active'',''suspended'',''terminated'',"
    "''failed'',''cancelled'')',"
    " '(status = ''pending'' OR status = ''provisioning'' OR status = ''active'' OR "
    "status = ''suspended'' OR status = ''terminated'' OR status = ''failed'' OR "
    "status = ''cancelled'')')"
    " WHERE type = 'table' AND name = 'services';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'status IN (''unpaid'',''paid'',''partially_paid'',''refunded'',"
    "    ''partially_refunded'',''cancelled'')',"
    " '(status = ''unpaid'' OR status = ''paid'' OR status = ''partially_paid'' OR "
    "status = ''refunded'' OR status = ''partially_refunded'' OR status = ''cancelled'')')"
    " WHERE type = 'table' AND name = 'invoices';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'kind IN (''setup'',''recurring'',''other'')',"
    " '(kind = ''setup'' OR kind = ''recurring'' OR kind = ''other'')')"
    " WHERE type = 'table' AND name = 'invoice_items';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'kind IN (''payment'',''refund'',''chargeback'',''chargeback_reversal'')',"
    " '(kind = ''payment'' OR kind = ''refund'' OR kind = ''chargeback'' OR "
    "kind = ''chargeback_reversal'')')"
    " WHERE type = 'table' AND name = 'transactions';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'status IN (''processed'',''ignored'',''failed'')',"
    " '(status = ''processed'' OR status = ''ignored'' OR status = ''failed'')')"
    " WHERE type = 'table' AND name = 'webhook_events';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'action IN (''provision'',''suspend'',''unsuspend'',''terminate'',"
    "    ''change_package'',''change_password'')',"
    " '(action = ''provision'' OR action = ''suspend'' OR action = ''unsuspend'' OR "
    "action = ''terminate'' OR action = ''change_package'' OR action = ''change_password'')')"
    " WHERE type = 'table' AND name = 'jobs';"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'status IN (''queued'',''running'',''done'',''failed'',''cancelled'')',"
    " '(status = ''queued'' OR status = ''running'' OR status = ''done'' OR "
    "status = ''failed'' OR status = ''cancelled'')')"
    " WHERE type = 'table' AND name = 'jobs';"
    "PRAGMA writable_schema=OFF;"
    "CREATE TABLE audit_log_new ("
    "  id INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  actor_type TEXT NOT NULL CHECK (actor_type = 'user' OR actor_type = 'api_token'"
    "    OR actor_type = 'system' OR actor_type = 'gateway'),"
    "  actor_id TEXT,"
    "  actor_email TEXT,"
    "  action TEXT NOT NULL,"
    "  entity TEXT,"
    "  entity_id TEXT,"
    "  ip TEXT,"
    "  user_agent TEXT,"
    "  details TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");"
    "INSERT INTO audit_log_new (id, at, actor_type, actor_id, actor_email, action, entity,"
    "  entity_id, ip, user_agent, details, prev_hash, hash)"
    " SELECT id, at, actor_type, actor_id, actor_email, action, entity, entity_id, ip,"
    "  user_agent, details, prev_hash, hash FROM audit_log ORDER BY id;"
    "DROP TABLE audit_log;"
    "ALTER TABLE audit_log_new RENAME TO audit_log;"
    "CREATE INDEX audit_log_action ON audit_log (action, id);"
    "CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);"
    "CREATE INDEX audit_log_ip ON audit_log (ip, id);"
    "CREATE INDEX audit_log_at ON audit_log (at, id);"
    "CREATE INDEX audit_log_entity_only ON audit_log (entity, id);";

/*
 * Mail (src/mail/outbox.h, src/notify/notify.h). `emails` is the outbox: one
 * row per message, written by the consumer of the audit trail in the same
 * transaction that moves its cursor, claimed by senders like jobs (a lease),
 * and unique per (event, recipient, template) so that no event mails anyone
 * twice. A row is small until its first send renders it (the consumer
 * keeps up with the webhooks by writing no bodies); the rendered message is
 * then kept, and sent under the same Message-ID every time (a resend after a crash between "sent" and "marked" is
 * recognisable as the same message). `event_cursors` holds how far each
 * consumer of the audit trail has read; the mail consumer starts at the
 * current end, so an existing installation does not mail its history.
 * CHECKs without IN lists (see migration 9).
 */
static const char m0010_mail[] =
    "CREATE TABLE emails ("
    "  id {{PK}},"
    "  event_key TEXT NOT NULL,"                  /* "audit:123", "reminder:45", "test:…" */
    "  template TEXT NOT NULL,"                   /* invoice_created, payment_receipt, … */
    "  to_addr TEXT NOT NULL,"                    /* as written in To: ("Name <a@b>") */
    "  rcpt TEXT NOT NULL,"                       /* the bare address, lower-case */
    "  client_id BIGINT REFERENCES users (id),"   /* NULL for the admins' mails */
    "  entity TEXT,"
    "  entity_id TEXT,"
    "  subject TEXT,"                             /* NULL until rendered (at the first send) */
    "  body_text TEXT,"
    "  body_html TEXT,"
    "  attachments TEXT NOT NULL DEFAULT '[]',"   /* what to attach at send time */
    "  message_id TEXT NOT NULL,"                 /* 128 random bits: unique without an index */
    "  status TEXT NOT NULL CHECK (status = 'queued' OR status = 'sending' OR status = 'sent'"
    "    OR status = 'failed' OR status = 'skipped'),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL,"
    "  next_attempt_at TEXT NOT NULL,"
    "  locked_by TEXT,"
    "  locked_until TEXT,"
    "  last_error TEXT,"
    "  smtp_reply TEXT,"                          /* the server's last answer */
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  sent_at TEXT,"
    "  UNIQUE (event_key, rcpt, template)"
    ");"
    "CREATE INDEX emails_due ON emails (status, next_attempt_at);"
    "CREATE INDEX emails_status_id ON emails (status, id);"
    "CREATE INDEX emails_rcpt ON emails (rcpt, id);"
    "CREATE TABLE event_cursors ("
    "  name TEXT PRIMARY KEY,"
    "  last_id BIGINT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "INSERT INTO event_cursors (name, last_id, updated_at)"
    "  SELECT 'mail', COALESCE(MAX(id), 0), '1970-01-01T00:00:00Z' FROM audit_log;";


/*
 * The customer's side (issue 13): the store, accounts, self-service.
 *
 * products: `store_group` (the store category, answered as "group"),
 * `visible` (hidden products are ordered by admins only), `requires_domain`,
 * `sort_order`; `product_prices` holds every {billing_cycle, currency, amount,
 * setup_fee} a product is sold at. The old price columns stay, mirroring the
 * product's first price, so that existing readers keep working; every
 * product gets its one price here. The cycles gain biennially and free.
 *
 * users: `signed_up_at` (NULL: created by an admin), `signup_ip`,
 * `email_verified_at` (clients that exist already were made by admins, who
 * vouch for them: marked verified). `account_tokens`: e-mail verification
 * and password reset tokens, only their SHA-256 stored, single use,
 * expiring. `rate_events`: hits counted per (kind, key) in a window, for
 * throttles that must not depend on the audit trail (sign-up per IP, reset
 * requests per IP and per address).
 *
 * services: `renewal_credit`, minor units owed back to the client by a
 * downgrade, taken off the next renewal invoice. `cancel_requests`: a
 * client's (or admin's) request to end a service now or at the end of the
 * paid period, at most one pending per service. `service_changes`: upgrades
 * and downgrades, applied on the panel only once their invoice is paid, at
 * most one open per service. `password_reveals`: a panel password made by a
 * reset, sealed, shown once to the client who asked for it.
 *
 * CHECKs without IN lists (see migration 9).
 */
#define M0011_COMMON \
    "ALTER TABLE products ADD COLUMN store_group TEXT NOT NULL DEFAULT '';" \
    "ALTER TABLE products ADD COLUMN visible INTEGER NOT NULL DEFAULT 1;" \
    "ALTER TABLE products ADD COLUMN requires_domain INTEGER NOT NULL DEFAULT 0;" \
    "ALTER TABLE products ADD COLUMN sort_order INTEGER NOT NULL DEFAULT 0;" \
    "CREATE TABLE product_prices (" \
    "  id {{PK}}," \
    "  product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE," \
    "  billing_cycle TEXT NOT NULL CHECK (billing_cycle = 'monthly' OR billing_cycle = 'quarterly'" \
    "    OR billing_cycle = 'semiannually' OR billing_cycle = 'annually'" \
    "    OR billing_cycle = 'biennially' OR billing_cycle = 'onetime' OR billing_cycle = 'free')," \
    "  currency TEXT NOT NULL," \
    "  amount BIGINT NOT NULL CHECK (amount >= 0)," \
    "  setup_fee BIGINT NOT NULL DEFAULT 0 CHECK (setup_fee >= 0)," \
    "  UNIQUE (product_id, currency, billing_cycle)" \
    ");" \
    "INSERT INTO product_prices (product_id, billing_cycle, currency, amount, setup_fee)" \
    "  SELECT id, billing_cycle, currency, price, setup_fee FROM products ORDER BY id;" \
    "CREATE INDEX products_store ON products (visible, store_group, sort_order, id);" \
    "ALTER TABLE users ADD COLUMN signed_up_at TEXT;" \
    "ALTER TABLE users ADD COLUMN signup_ip TEXT;" \
    "ALTER TABLE users ADD COLUMN email_verified_at TEXT;" \
    "UPDATE users SET email_verified_at = created_at WHERE role = 'client';" \
    "CREATE TABLE account_tokens (" \
    "  id {{PK}}," \
    "  user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE," \
    "  purpose TEXT NOT NULL CHECK (purpose = 'verify' OR purpose = 'reset')," \
    "  token_hash TEXT NOT NULL UNIQUE,"          /* SHA-256; the token is never stored */ \
    "  ip TEXT," \
    "  created_at TEXT NOT NULL," \
    "  expires_at TEXT NOT NULL," \
    "  used_at TEXT" \
    ");" \
    "CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);" \
    "CREATE TABLE rate_events (" \
    "  id {{PK}}," \
    "  kind TEXT NOT NULL,"                       /* "signup", "reset", … */ \
    "  key TEXT NOT NULL,"                        /* an IP, an address */ \
    "  at TEXT NOT NULL" \
    ");" \
    "CREATE INDEX rate_events_key ON rate_events (kind, key, at);" \
    "CREATE INDEX rate_events_at ON rate_events (at);" \
    "ALTER TABLE services ADD COLUMN renewal_credit BIGINT NOT NULL DEFAULT 0;" \
    "CREATE TABLE cancel_requests (" \
    "  id {{PK}}," \
    "  service_id BIGINT NOT NULL REFERENCES services (id)," \
    "  requested_by BIGINT REFERENCES users (id)," \
    "  actor_type TEXT NOT NULL,"                 /* client | admin */ \
    "  timing TEXT NOT NULL CHECK (timing = 'immediate' OR timing = 'end_of_period')," \
    "  reason TEXT NOT NULL DEFAULT ''," \
    "  status TEXT NOT NULL CHECK (status = 'pending' OR status = 'done' OR status = 'withdrawn'" \
    "    OR status = 'rejected')," \
    "  run_at TEXT NOT NULL,"                     /* when termination is queued */ \
    "  job_id BIGINT REFERENCES jobs (id)," \
    "  created_at TEXT NOT NULL," \
    "  updated_at TEXT NOT NULL," \
    "  closed_at TEXT" \
    ");" \
    "CREATE UNIQUE INDEX cancel_requests_open ON cancel_requests (service_id)" \
    "  WHERE status = 'pending';" \
    "CREATE INDEX cancel_requests_due ON cancel_requests (status, run_at);" \
    "CREATE TABLE service_changes (" \
    "  id {{PK}}," \
    "  service_id BIGINT NOT NULL REFERENCES services (id)," \
    "  from_product_id BIGINT NOT NULL REFERENCES products (id)," \
    "  to_product_id BIGINT NOT NULL REFERENCES products (id)," \
    "  direction TEXT NOT NULL CHECK (direction = 'upgrade' OR direction = 'downgrade')," \
    "  billing_cycle TEXT NOT NULL," \
    "  currency TEXT NOT NULL," \
    "  new_recurring_amount BIGINT NOT NULL CHECK (new_recurring_amount >= 0)," \
    "  prorated_amount BIGINT NOT NULL,"          /* > 0 charged, < 0 credited */ \
    "  invoice_id BIGINT REFERENCES invoices (id)," \
    "  job_id BIGINT REFERENCES jobs (id)," \
    "  status TEXT NOT NULL CHECK (status = 'awaiting_payment' OR status = 'queued'" \
    "    OR status = 'applied' OR status = 'cancelled' OR status = 'failed')," \
    "  requested_by BIGINT REFERENCES users (id)," \
    "  created_at TEXT NOT NULL," \
    "  updated_at TEXT NOT NULL," \
    "  applied_at TEXT" \
    ");" \
    "CREATE UNIQUE INDEX service_changes_open ON service_changes (service_id)" \
    "  WHERE status = 'awaiting_payment' OR status = 'queued';" \
    "CREATE INDEX service_changes_invoice ON service_changes (invoice_id);" \
    "CREATE TABLE password_reveals (" \
    "  id {{PK}}," \
    "  service_id BIGINT NOT NULL REFERENCES services (id)," \
    "  job_id BIGINT NOT NULL UNIQUE REFERENCES jobs (id)," \
    "  user_id BIGINT REFERENCES users (id),"    /* who may see it */ \
    "  password_enc TEXT,"                        /* sealed; NULL once shown */ \
    "  created_at TEXT NOT NULL," \
    "  revealed_at TEXT" \
    ");" \
    "CREATE INDEX password_reveals_service ON password_reveals (service_id, id);" \
    "CREATE INDEX cancel_requests_service ON cancel_requests (service_id, id);"

/* PostgreSQL: the products' cycle CHECK is a named constraint. */
static const char m0011_storefront_pg[] =
    "ALTER TABLE products DROP CONSTRAINT products_billing_cycle_check;"
    "ALTER TABLE products ADD CONSTRAINT products_billing_cycle_check CHECK ("
    "  billing_cycle = 'monthly' OR billing_cycle = 'quarterly'"
    "  OR billing_cycle = 'semiannually' OR billing_cycle = 'annually'"
    "  OR billing_cycle = 'biennially' OR billing_cycle = 'onetime' OR billing_cycle = 'free');"
    M0011_COMMON;

/* SQLite: the CHECK's text (as migration 9 left it) is widened in place,
 * after the ADD COLUMNs (which compute their offsets from the loaded schema
 * text); the RENAMEs at the end make SQLite re-read and check the whole
 * schema and bump its version, so every connection loads the new text. */
static const char m0011_storefront_sqlite[] =
    M0011_COMMON
    "PRAGMA writable_schema=ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'billing_cycle = ''annually'' OR billing_cycle = ''onetime'')',"
    " 'billing_cycle = ''annually'' OR billing_cycle = ''biennially'' OR "
    "billing_cycle = ''onetime'' OR billing_cycle = ''free'')')"
    " WHERE type = 'table' AND name = 'products';"
    "PRAGMA writable_schema=OFF;"
    "ALTER TABLE product_prices RENAME TO product_prices_m11;"
    "ALTER TABLE product_prices_m11 RENAME TO product_prices;";

/*
 * Account mails (issue 13, accounts): `emails.secret` holds what a message
 * must carry but nobody may read back — a verification or password-reset
 * token — sealed with LUMI_SECRET_KEY (bound to the row's event, template and
 * recipient). The stored body has OUTBOX_SECRET_MARK where the token goes;
 * the sender puts the opened token in only into the bytes it transmits.
 */
static const char m0012_email_secrets[] = "ALTER TABLE emails ADD COLUMN secret TEXT;";

/*
 * Invoices a business can file (issue 14).
 *
 * Numbering: `doc_sequences` holds the last number given per scope
 * ("invoice", "invoice:2027", "credit_note:2027"…), taken with an UPDATE …
 * RETURNING inside the document's own transaction, so a rollback gives the
 * number back (gap-free) and two writers never share one.
 *
 * Tax: `tax_rules` (rate in basis points: 1900 = 19.00 %), clients gain
 * `region`, `tax_id`, `tax_exempt`, products `taxable`; an invoice keeps what
 * was applied in `invoice_taxes` (one row per rate) and, frozen at issue, the
 * seller's and buyer's details (`seller`, `buyer`: JSON) and the tax note
 * (reverse charge). `kind` tells a plain invoice from an "add funds" one.
 *
 * invoice_items.kind gains discount (a coupon's negative line), credit (a
 * negative line such as a downgrade credit) and funds (an add-funds line).
 *
 * Credit: `credit_balances` is the balance per client and currency (CHECK
 * >= 0, so no concurrent spend can overdraw it) and `credit_ledger` every
 * change with the balance after it. `credit_notes` are the numbered
 * documents of money given back (refunds, corrections).
 *
 * Coupons: `coupons` and one `coupon_uses` row per use (uses counted by a
 * guarded UPDATE on coupons.uses); a service remembers its coupon and how
 * many more invoices it discounts.
 *
 * CHECKs without IN lists (see migration 9).
 */
#define M0013_COMMON \
    "CREATE TABLE doc_sequences (" \
    "  scope TEXT PRIMARY KEY," \
    "  last_value BIGINT NOT NULL" \
    ");" \
    "CREATE TABLE tax_rules (" \
    "  id {{PK}}," \
    "  name TEXT NOT NULL," \
    "  country TEXT NOT NULL,"                    /* ISO 3166-1 alpha-2, upper-case */ \
    "  region TEXT NOT NULL DEFAULT '',"          /* '' = the whole country */ \
    "  rate_bp INTEGER NOT NULL CHECK (rate_bp >= 0 AND rate_bp <= 100000)," \
    "  inclusive INTEGER NOT NULL DEFAULT 0," \
    "  active INTEGER NOT NULL DEFAULT 1," \
    "  created_at TEXT NOT NULL," \
    "  updated_at TEXT NOT NULL" \
    ");" \
    "CREATE INDEX tax_rules_place ON tax_rules (country, region);" \
    "ALTER TABLE users ADD COLUMN region TEXT NOT NULL DEFAULT '';" \
    "ALTER TABLE users ADD COLUMN tax_id TEXT NOT NULL DEFAULT '';" \
    "ALTER TABLE users ADD COLUMN tax_exempt INTEGER NOT NULL DEFAULT 0;" \
    "ALTER TABLE products ADD COLUMN taxable INTEGER NOT NULL DEFAULT 1;" \
    "ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'standard';" \
    "ALTER TABLE invoices ADD COLUMN seller TEXT;"       /* JSON, frozen at issue */ \
    "ALTER TABLE invoices ADD COLUMN buyer TEXT;"        /* JSON, frozen at issue */ \
    "ALTER TABLE invoices ADD COLUMN tax_note TEXT NOT NULL DEFAULT '';" \
    "ALTER TABLE invoices ADD COLUMN discount BIGINT NOT NULL DEFAULT 0;" \
    "ALTER TABLE invoices ADD COLUMN credit_applied BIGINT NOT NULL DEFAULT 0;" \
    "CREATE TABLE invoice_taxes (" \
    "  id {{PK}}," \
    "  invoice_id BIGINT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE," \
    "  rule_id BIGINT REFERENCES tax_rules (id)," \
    "  name TEXT NOT NULL," \
    "  country TEXT NOT NULL," \
    "  region TEXT NOT NULL DEFAULT ''," \
    "  rate_bp INTEGER NOT NULL," \
    "  inclusive INTEGER NOT NULL DEFAULT 0," \
    "  base BIGINT NOT NULL,"                     /* the taxable amount (net) */ \
    "  amount BIGINT NOT NULL" \
    ");" \
    "CREATE INDEX invoice_taxes_invoice ON invoice_taxes (invoice_id);" \
    "CREATE TABLE credit_notes (" \
    "  id {{PK}}," \
    "  number TEXT NOT NULL UNIQUE," \
    "  invoice_id BIGINT NOT NULL REFERENCES invoices (id)," \
    "  client_id BIGINT NOT NULL REFERENCES users (id)," \
    "  currency TEXT NOT NULL," \
    "  amount BIGINT NOT NULL CHECK (amount > 0),"  /* gross, tax included */ \
    "  tax BIGINT NOT NULL DEFAULT 0 CHECK (tax >= 0)," \
    "  reason TEXT NOT NULL," \
    "  transaction_id BIGINT REFERENCES transactions (id)," /* the refund it documents */ \
    "  seller TEXT," \
    "  buyer TEXT," \
    "  created_at TEXT NOT NULL," \
    "  UNIQUE (transaction_id)" \
    ");" \
    "CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);" \
    "CREATE INDEX credit_notes_client ON credit_notes (client_id, id);" \
    "CREATE TABLE credit_balances (" \
    "  client_id BIGINT NOT NULL REFERENCES users (id)," \
    "  currency TEXT NOT NULL," \
    "  balance BIGINT NOT NULL CHECK (balance >= 0)," \
    "  updated_at TEXT NOT NULL," \
    "  PRIMARY KEY (client_id, currency)" \
    ");" \
    "CREATE TABLE credit_ledger (" \
    "  id {{PK}}," \
    "  client_id BIGINT NOT NULL REFERENCES users (id)," \
    "  currency TEXT NOT NULL," \
    "  amount BIGINT NOT NULL CHECK (amount <> 0)," /* + added, - spent */ \
    "  balance_after BIGINT NOT NULL CHECK (balance_after >= 0)," \
    "  kind TEXT NOT NULL,"                       /* overpayment, admin, add_funds, applied, … */ \
    "  invoice_id BIGINT REFERENCES invoices (id)," \
    "  transaction_id BIGINT REFERENCES transactions (id)," \
    "  note TEXT NOT NULL DEFAULT ''," \
    "  created_at TEXT NOT NULL" \
    ");" \
    "CREATE INDEX credit_ledger_client ON credit_ledger (client_id, currency, id);" \
    "CREATE UNIQUE INDEX credit_ledger_transaction ON credit_ledger (transaction_id, kind)" \
    "  WHERE transaction_id IS NOT NULL;" \
    "CREATE TABLE coupons (" \
    "  id {{PK}}," \
    "  code TEXT NOT NULL UNIQUE,"                /* stored upper-case */ \
    "  kind TEXT NOT NULL CHECK (kind = 'percent' OR kind = 'fixed')," \
    "  value BIGINT NOT NULL CHECK (value > 0),"  /* basis points (percent) or minor units */ \
    "  currency TEXT,"                            /* fixed: required; percent: NULL */ \
    "  cycles INTEGER NOT NULL DEFAULT 1 CHECK (cycles >= 0)," /* 0 = every renewal */ \
    "  product_ids TEXT NOT NULL DEFAULT '[]',"   /* JSON list; [] = every product */ \
    "  max_uses INTEGER NOT NULL DEFAULT 0 CHECK (max_uses >= 0)," /* 0 = no limit */ \
    "  uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0)," \
    "  expires_at TEXT," \
    "  active INTEGER NOT NULL DEFAULT 1," \
    "  created_at TEXT NOT NULL," \
    "  updated_at TEXT NOT NULL" \
    ");" \
    "CREATE TABLE coupon_uses (" \
    "  id {{PK}}," \
    "  coupon_id BIGINT NOT NULL REFERENCES coupons (id)," \
    "  client_id BIGINT NOT NULL REFERENCES users (id)," \
    "  invoice_id BIGINT REFERENCES invoices (id)," \
    "  service_id BIGINT REFERENCES services (id)," \
    "  created_at TEXT NOT NULL" \
    ");" \
    "CREATE INDEX coupon_uses_coupon ON coupon_uses (coupon_id, id);" \
    "ALTER TABLE services ADD COLUMN coupon_id BIGINT REFERENCES coupons (id);" \
    "ALTER TABLE services ADD COLUMN coupon_cycles_left INTEGER NOT NULL DEFAULT 0;" \
    "INSERT INTO doc_sequences (scope, last_value)" \
    "  SELECT 'invoice', CAST(value AS BIGINT) - 1 FROM settings WHERE key = 'invoice.next_number';"

/* PostgreSQL: invoice_items' kind CHECK is a named constraint. */
static const char m0013_documents_pg[] =
    "ALTER TABLE invoice_items DROP CONSTRAINT invoice_items_kind_check;"
    "ALTER TABLE invoice_items ADD CONSTRAINT invoice_items_kind_check CHECK ("
    "  kind = 'setup' OR kind = 'recurring' OR kind = 'other' OR kind = 'discount'"
    "  OR kind = 'credit' OR kind = 'funds');"
    M0013_COMMON;

/* SQLite: the CHECK's text widened in place after the ADD COLUMNs (see
 * migration 11), then a RENAME makes SQLite re-read the schema. */
static const char m0013_documents_sqlite[] =
    M0013_COMMON
    "PRAGMA writable_schema=ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " '(kind = ''setup'' OR kind = ''recurring'' OR kind = ''other'')',"
    " '(kind = ''setup'' OR kind = ''recurring'' OR kind = ''other'' OR kind = ''discount'' "
    "OR kind = ''credit'' OR kind = ''funds'')')"
    " WHERE type = 'table' AND name = 'invoice_items';"
    "PRAGMA writable_schema=OFF;"
    "ALTER TABLE doc_sequences RENAME TO doc_sequences_m13;"
    "ALTER TABLE doc_sequences_m13 RENAME TO doc_sequences;";

/*
 * Scale (issue 15). Every list filter served by an index in keyset order
 * (status + id for invoices and services; client + id and the due dates
 * already have theirs); the dashboard's figures kept in aggregate tables by
 * triggers, so every write path — whichever module or process makes it —
 * keeps them exact in its own transaction; client search and audit text
 * search through trigram indexes (SQLite FTS5 'trigram', PostgreSQL
 * pg_trgm). On PostgreSQL aggregates are split into 16 rows per bucket by
 * id % 16 so that concurrent writers rarely wait for the same row (SQLite
 * has one writer: one shard); readers add the shards up (billing/stats.c).
 *
 *   agg_invoices_open       invoices unpaid or partially paid, by currency
 *                           and day of due_date: Σ (total − amount_paid), count
 *   agg_transactions_daily  transactions by currency and day of created_at:
 *                           net (payments and chargeback reversals minus
 *                           refunds and chargebacks), payments only, count
 *   agg_services            services by status: count
 */
#define M0014_COMMON                                                                               \
    "CREATE INDEX invoices_status_id ON invoices (status, id);"                                    \
    "CREATE INDEX services_status_id ON services (status, id);"                                    \
    "CREATE INDEX invoices_due ON invoices (due_date, id);"                                        \
    "CREATE TABLE agg_invoices_open ("                                                             \
    "  currency TEXT NOT NULL, due_day TEXT NOT NULL, shard INTEGER NOT NULL,"                     \
    "  amount BIGINT NOT NULL " M0014_INT("amount") ", n BIGINT NOT NULL,"                         \
    "  PRIMARY KEY (currency, due_day, shard));"                                                   \
    "CREATE TABLE agg_transactions_daily ("                                                        \
    "  currency TEXT NOT NULL, day TEXT NOT NULL, shard INTEGER NOT NULL,"                         \
    "  net BIGINT NOT NULL " M0014_INT("net") ","                                                  \
    "  payments BIGINT NOT NULL " M0014_INT("payments") ", n BIGINT NOT NULL,"                     \
    "  PRIMARY KEY (day, currency, shard));"                                                       \
    "CREATE TABLE agg_services ("                                                                  \
    "  status TEXT NOT NULL, shard INTEGER NOT NULL, n BIGINT NOT NULL,"                           \
    "  PRIMARY KEY (status, shard));"                                                              \
    "INSERT INTO agg_invoices_open (currency, due_day, shard, amount, n)"                          \
    "  SELECT currency, SUBSTR(due_date, 1, 10), " M0014_SHARD("id") ", SUM(total - amount_paid),"   \
    "  COUNT(*) FROM invoices WHERE status IN ('unpaid', 'partially_paid')"                        \
    "  GROUP BY currency, SUBSTR(due_date, 1, 10), " M0014_SHARD("id") ";"                                       \
    "INSERT INTO agg_transactions_daily (currency, day, shard, net, payments, n)"                  \
    "  SELECT currency, SUBSTR(created_at, 1, 10), " M0014_SHARD("id") ","                         \
    "  SUM(CASE WHEN kind IN ('payment', 'chargeback_reversal') THEN amount ELSE -amount END),"    \
    "  SUM(CASE WHEN kind = 'payment' THEN amount ELSE 0 END), COUNT(*)"                           \
    "  FROM transactions GROUP BY currency, SUBSTR(created_at, 1, 10), " M0014_SHARD("id") ";"      \
    "INSERT INTO agg_services (status, shard, n)"                                                  \
    "  SELECT status, " M0014_SHARD("id") ", COUNT(*) FROM services GROUP BY status, "             \
    M0014_SHARD("id") ";"

/* SQLite trigger statements: one bucket moved by a row (sign "" adds, "-" takes away). */
#define M0014_INV_UPSERT(row, sign)                                                                \
    "INSERT INTO agg_invoices_open (currency, due_day, shard, amount, n)"                          \
    " SELECT " row ".currency, SUBSTR(" row ".due_date, 1, 10), " M0014_SHARD(row ".id") ","       \
    " " sign "(" row ".total - " row ".amount_paid), " sign "1"                                    \
    " WHERE " row ".status IN ('unpaid', 'partially_paid')"                                        \
    " ON CONFLICT (currency, due_day, shard) DO UPDATE SET amount = amount + excluded.amount,"     \
    " n = n + excluded.n;"
#define M0014_TX_UPSERT(row, sign)                                                                 \
    "INSERT INTO agg_transactions_daily (currency, day, shard, net, payments, n)"                  \
    " SELECT " row ".currency, SUBSTR(" row ".created_at, 1, 10), " M0014_SHARD(row ".id") ","     \
    " " sign "(CASE WHEN " row ".kind IN ('payment', 'chargeback_reversal') THEN " row ".amount"   \
    " ELSE -" row ".amount END), " sign "(CASE WHEN " row ".kind = 'payment' THEN " row ".amount"  \
    " ELSE 0 END), " sign "1 WHERE 1 = 1"                                                          \
    " ON CONFLICT (currency, day, shard) DO UPDATE SET net = net + excluded.net,"                  \
    " payments = payments + excluded.payments, n = n + excluded.n;"
#define M0014_SVC_UPSERT(row, sign)                                                                \
    "INSERT INTO agg_services (status, shard, n) SELECT " row ".status, " M0014_SHARD(row ".id")  \
    ", " sign                                                                                      \
    "1 WHERE 1 = 1 ON CONFLICT (status, shard) DO UPDATE SET n = n + excluded.n;"

/* The text a client is found by: e-mail, names, company (char 31 between, so
 * no match spans two fields). The same expression is in billing/clients.c. */
#define M0014_CLIENT_TEXT(row, sep)                                                                \
    "lower(" row "email || " sep " || " row "first_name || " sep " || " row "last_name || " sep    \
    " || " row "company)"
/* The text of an audit row searched by ?q= (the same expression is in audit/audit.c). */
#define M0014_AUDIT_TEXT(row, sep, empty)                                                          \
    "lower(COALESCE(" row "action, " empty ") || " sep " || COALESCE(" row "entity, " empty ") || " \
    sep " || COALESCE(" row "actor_email, " empty ") || " sep " || " row "details)"

/* SQLite: a sum that overflows turns into a REAL; the CHECK refuses it instead.
 * Its writers are serialised anyway, so one shard (0) keeps the tables small. */
#define M0014_INT(col) "CHECK (typeof(" col ") = 'integer')"
#define M0014_SHARD(id) "(" id " * 0)"
static const char m0014_scale_sqlite[] =
    M0014_COMMON
    "CREATE TRIGGER agg_invoices_ins AFTER INSERT ON invoices BEGIN "
    M0014_INV_UPSERT("new", "") " END;"
    "CREATE TRIGGER agg_invoices_upd AFTER UPDATE OF status, currency, total, amount_paid,"
    " due_date ON invoices BEGIN "
    M0014_INV_UPSERT("old", "-") M0014_INV_UPSERT("new", "") " END;"
    "CREATE TRIGGER agg_invoices_del AFTER DELETE ON invoices BEGIN "
    M0014_INV_UPSERT("old", "-") " END;"
    "CREATE TRIGGER agg_transactions_ins AFTER INSERT ON transactions BEGIN "
    M0014_TX_UPSERT("new", "") " END;"
    "CREATE TRIGGER agg_transactions_upd AFTER UPDATE OF kind, amount, currency, created_at"
    " ON transactions BEGIN "
    M0014_TX_UPSERT("old", "-") M0014_TX_UPSERT("new", "") " END;"
    "CREATE TRIGGER agg_transactions_del AFTER DELETE ON transactions BEGIN "
    M0014_TX_UPSERT("old", "-") " END;"
    "CREATE TRIGGER agg_services_ins AFTER INSERT ON services BEGIN "
    M0014_SVC_UPSERT("new", "") " END;"
    "CREATE TRIGGER agg_services_upd AFTER UPDATE OF status ON services"
    " WHEN old.status <> new.status BEGIN "
    M0014_SVC_UPSERT("old", "-") M0014_SVC_UPSERT("new", "") " END;"
    "CREATE TRIGGER agg_services_del AFTER DELETE ON services BEGIN "
    M0014_SVC_UPSERT("old", "-") " END;"
    /* Client search: a trigram index of the clients' text, rowid = users.id. */
    "CREATE VIRTUAL TABLE clients_fts USING fts5(body, tokenize = 'trigram');"
    "INSERT INTO clients_fts (rowid, body) SELECT id, " M0014_CLIENT_TEXT("", "char(31)")
    " FROM users WHERE role = 'client';"
    "CREATE TRIGGER clients_fts_ins AFTER INSERT ON users WHEN new.role = 'client' BEGIN"
    " INSERT INTO clients_fts (rowid, body) VALUES (new.id, "
    M0014_CLIENT_TEXT("new.", "char(31)") "); END;"
    "CREATE TRIGGER clients_fts_upd AFTER UPDATE OF email, first_name, last_name, company, role"
    " ON users BEGIN DELETE FROM clients_fts WHERE rowid = old.id;"
    " INSERT INTO clients_fts (rowid, body) SELECT new.id, "
    M0014_CLIENT_TEXT("new.", "char(31)") " WHERE new.role = 'client'; END;"
    "CREATE TRIGGER clients_fts_del AFTER DELETE ON users BEGIN"
    " DELETE FROM clients_fts WHERE rowid = old.id; END;"
    /* Audit search: rows never change, so the index keeps no copy of the text,
     * and no positions (detail none: a third of the cost per row; the query
     * ANDs the trigrams and rechecks with LIKE, see audit/audit.c). */
    "CREATE VIRTUAL TABLE audit_fts USING fts5(body, content = '', tokenize = 'trigram',"
    " detail = 'none');"
    "INSERT INTO audit_fts (rowid, body) SELECT id, " M0014_AUDIT_TEXT("", "char(31)", "''")
    " FROM audit_log;"
    "CREATE TRIGGER audit_fts_ins AFTER INSERT ON audit_log BEGIN"
    " INSERT INTO audit_fts (rowid, body) VALUES (new.id, "
    M0014_AUDIT_TEXT("new.", "char(31)", "''") "); END;";
#undef M0014_INT
#undef M0014_SHARD

/* PostgreSQL: a bigint that overflows is an error by itself; 16 shards. */
#define M0014_INT(col) ""
#define M0014_SHARD(id) "(" id " % 16)"
#define M0014_PG_BUCKET(table, cols, vals, key, sets)                                              \
    "INSERT INTO " table " AS a (" cols ") VALUES (" vals ") ON CONFLICT (" key ")"                \
    " DO UPDATE SET " sets ";"
#define M0014_PG_INV(row, sign)                                                                    \
    "IF " row ".status IN ('unpaid', 'partially_paid') THEN "                                      \
    M0014_PG_BUCKET("agg_invoices_open", "currency, due_day, shard, amount, n",                    \
                    row ".currency, SUBSTR(" row ".due_date, 1, 10), " M0014_SHARD(row ".id") ", " \
                    sign "(" row ".total - " row ".amount_paid), " sign "1",                       \
                    "currency, due_day, shard",                                                    \
                    "amount = a.amount + excluded.amount, n = a.n + excluded.n")                   \
    " END IF;"
#define M0014_PG_TX(row, sign)                                                                     \
    M0014_PG_BUCKET("agg_transactions_daily", "currency, day, shard, net, payments, n",            \
                    row ".currency, SUBSTR(" row ".created_at, 1, 10), " M0014_SHARD(row ".id")   \
                    ", "                                                                          \
                    sign "(CASE WHEN " row ".kind IN ('payment', 'chargeback_reversal') THEN "     \
                    row ".amount ELSE -" row ".amount END), " sign "(CASE WHEN " row               \
                    ".kind = 'payment' THEN " row ".amount ELSE 0 END), " sign "1",                \
                    "currency, day, shard",                                                        \
                    "net = a.net + excluded.net, payments = a.payments + excluded.payments,"       \
                    " n = a.n + excluded.n")
#define M0014_PG_SVC(row, sign)                                                                    \
    M0014_PG_BUCKET("agg_services", "status, shard, n",                                            \
                    row ".status, " M0014_SHARD(row ".id") ", " sign "1",                          \
                    "status, shard", "n = a.n + excluded.n")
static const char m0014_scale_pg[] =
    M0014_COMMON
    "CREATE FUNCTION lumi_agg_invoices() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP <> 'INSERT' THEN " M0014_PG_INV("OLD", "-") " END IF;"
    " IF TG_OP <> 'DELETE' THEN " M0014_PG_INV("NEW", "") " END IF;"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER agg_invoices AFTER INSERT OR DELETE OR UPDATE OF status, currency, total,"
    " amount_paid, due_date ON invoices FOR EACH ROW EXECUTE FUNCTION lumi_agg_invoices();"
    "CREATE FUNCTION lumi_agg_transactions() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP <> 'INSERT' THEN " M0014_PG_TX("OLD", "-") " END IF;"
    " IF TG_OP <> 'DELETE' THEN " M0014_PG_TX("NEW", "") " END IF;"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER agg_transactions AFTER INSERT OR DELETE OR UPDATE OF kind, amount, currency,"
    " created_at ON transactions FOR EACH ROW EXECUTE FUNCTION lumi_agg_transactions();"
    "CREATE FUNCTION lumi_agg_services() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN RETURN NULL; END IF;"
    " IF TG_OP <> 'INSERT' THEN " M0014_PG_SVC("OLD", "-") " END IF;"
    " IF TG_OP <> 'DELETE' THEN " M0014_PG_SVC("NEW", "") " END IF;"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER agg_services AFTER INSERT OR DELETE OR UPDATE OF status ON services"
    " FOR EACH ROW EXECUTE FUNCTION lumi_agg_services();"
    /* pg_trgm needs the right to create it: without it the searches still
     * answer (LIKE over the same expressions), by reading the tables. */
    "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm;"
    " EXCEPTION WHEN OTHERS THEN RAISE WARNING 'lumi: pg_trgm is not available (%): client and"
    " audit searches will read whole tables', SQLERRM; END $$;"
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN"
    " EXECUTE 'CREATE INDEX users_client_search ON users USING gin (("
    M0014_CLIENT_TEXT("", "chr(31)") ") gin_trgm_ops) WHERE role = ''client''';"
    " EXECUTE 'CREATE INDEX audit_log_search ON audit_log USING gin (("
    M0014_AUDIT_TEXT("", "chr(31)", "''''") ") gin_trgm_ops)';"
    " END IF; END $$;";
#undef M0014_INT
#undef M0014_SHARD

/*
 * Issue 15 (pgwrite): the audit chain's append for the PostgreSQL group
 * commit's deferred rows (audit.c), so that the chain lock is held for one
 * statement and the COMMIT only: takes the lock (the key is the caller's,
 * AUDIT_LOCK_KEY), reads the tip, and inserts the rows of batch (a JSON
 * array, in order) with consecutive ids, each hash being
 * sha256(prev_hash || '[' || id || tail) in hex, where tail is the rest of
 * the hashed text as audit.c's row_tail writes it — the same bytes audit.c
 * hashes, so `lumi audit verify` checks these rows as any other. VOLATILE:
 * its SELECT takes a snapshot after the lock is granted and sees the row
 * the previous holder committed. Answers the last id. SQLite has nothing to
 * add (its write lock serialises the chain).
 */
static const char m0015_audit_append_pg[] =
    "CREATE FUNCTION lumi_audit_append(lock_key BIGINT, batch JSON) RETURNS BIGINT"
    " LANGUAGE plpgsql VOLATILE AS $fn$"
    " DECLARE tip_id BIGINT; tip_hash TEXT; r RECORD; h TEXT;"
    " BEGIN"
    "   PERFORM pg_advisory_xact_lock(lock_key);"
    "   SELECT a.id, a.hash INTO tip_id, tip_hash FROM audit_log a ORDER BY a.id DESC LIMIT 1;"
    "   IF tip_id IS NULL THEN tip_id := 0; tip_hash := repeat('0', 64); END IF;"
    "   FOR r IN SELECT e->>'at' AS at, e->>'actor_type' AS actor_type,"
    "       e->>'actor_id' AS actor_id, e->>'actor_email' AS actor_email,"
    "       e->>'action' AS action, e->>'entity' AS entity, e->>'entity_id' AS entity_id,"
    "       e->>'ip' AS ip, e->>'user_agent' AS user_agent, e->>'details' AS details,"
    "       e->>'tail' AS tail"
    "     FROM json_array_elements(batch) WITH ORDINALITY AS t(e, n) ORDER BY n LOOP"
    "     tip_id := tip_id + 1;"
    "     h := encode(sha256(convert_to(tip_hash || '[' || tip_id::text || r.tail, 'UTF8')),"
    "                 'hex');"
    "     INSERT INTO audit_log (id, at, actor_type, actor_id, actor_email, action, entity,"
    "       entity_id, ip, user_agent, details, prev_hash, hash)"
    "     VALUES (tip_id, r.at, r.actor_type, r.actor_id, r.actor_email, r.action, r.entity,"
    "       r.entity_id, r.ip, r.user_agent, r.details, tip_hash, h);"
    "     tip_hash := h;"
    "   END LOOP;"
    "   RETURN tip_id;"
    " END $fn$;";
static const char m0015_audit_append_sqlite[] = "SELECT 1;";

/*
 * Staff roles and API token expiry (issues 16 and 17). users.role becomes
 * admin | billing | support | readonly for staff (the old catch-all "staff"
 * had an admin's power, so such accounts become admins) or client;
 * api_tokens gain an optional expiry (last_used_at and revoked_at exist).
 */
#define M0016_COMMON \
    "UPDATE users SET role = 'admin' WHERE role = 'staff';" \
    "ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;"

static const char m0016_roles_pg[] =
    "ALTER TABLE users DROP CONSTRAINT users_role_check;"
    M0016_COMMON
    "ALTER TABLE users ADD CONSTRAINT users_role_check CHECK ("
    "  role = 'admin' OR role = 'billing' OR role = 'support' OR role = 'readonly'"
    "  OR role = 'client');";

/* SQLite: the CHECK's text changed in place (see migrations 9 and 13). */
static const char m0016_roles_sqlite[] =
    M0016_COMMON
    "PRAGMA writable_schema=ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " '(role = ''admin'' OR role = ''staff'' OR role = ''client'')',"
    " '(role = ''admin'' OR role = ''billing'' OR role = ''support'' OR role = ''readonly'' "
    "OR role = ''client'')')"
    " WHERE type = 'table' AND name = 'users';"
    "PRAGMA writable_schema=OFF;"
    "ALTER TABLE api_tokens RENAME TO api_tokens_m16;"
    "ALTER TABLE api_tokens_m16 RENAME TO api_tokens;";

/*
 * Outgoing events (issue 16, events; src/events/events.h). `outgoing_events`
 * is the outbox: one row per event (its public id "evt_…", type, the entity it
 * is about and the JSON body every endpoint receives), written in the
 * transaction of the change that caused it, only when an active endpoint
 * wants the type. `webhook_deliveries` is one row per (event, endpoint), made
 * in the same transaction and claimed by dispatchers with a lease like jobs
 * and mails; entity and entity_id are copied from the event so the claim can
 * hold back a delivery while an earlier one for the same entity and endpoint
 * is still pending. `webhook_endpoints.secret_enc` is the signing secret,
 * sealed with LUMI_SECRET_KEY under "webhook_endpoints.secret:<id>".
 * CHECKs without IN lists (see migration 9).
 */
static const char m0017_events[] =
    "CREATE TABLE webhook_endpoints ("
    "  id {{PK}},"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL DEFAULT '[\"*\"]',"     /* JSON array of types; "*" = every type */
    "  secret_enc TEXT NOT NULL DEFAULT '',"         /* sealed signing secret */
    "  description TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL"
    ");"
    "CREATE TABLE outgoing_events ("
    "  id {{PK}},"
    "  public_id TEXT NOT NULL UNIQUE,"              /* "evt_" + 24 hex digits */
    "  type TEXT NOT NULL,"
    "  entity TEXT NOT NULL,"
    "  entity_id BIGINT NOT NULL,"
    "  payload TEXT NOT NULL,"                       /* the exact body sent */
    "  created_at TEXT NOT NULL"
    ");"
    "CREATE TABLE webhook_deliveries ("
    "  id {{PK}},"
    "  event_id BIGINT NOT NULL REFERENCES outgoing_events (id),"
    "  endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,"
    "  entity TEXT NOT NULL,"
    "  entity_id BIGINT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed'),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at TEXT NOT NULL,"
    "  locked_by TEXT,"
    "  locked_until TEXT,"
    "  last_status INTEGER,"                         /* HTTP status of the last answer */
    "  last_answer TEXT,"                            /* its first bytes */
    "  last_error TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  delivered_at TEXT"
    ");"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);"
    "CREATE INDEX webhook_deliveries_entity ON webhook_deliveries"
    "  (endpoint_id, entity, entity_id, state, id);"
    "CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);";

/*
 * SQLite's audit search index (migration 14) is filled after the fact instead
 * of by a trigger: indexing a row in its own transaction cost about 60 us, on
 * every audit row of every webhook (first deliveries fell from ~9,500/s to
 * ~2,300/s). audit_index_pending (audit.c), called by the mail thread at a low
 * priority, indexes the rows after audit_fts_state.indexed_upto in small
 * transactions; a search reads the index up to the mark and the few rows after
 * it directly. Audit ids commit in order on SQLite (one writer), so the mark
 * never skips a row. PostgreSQL keeps its GIN index (nothing to do here).
 */
static const char m0018_audit_index_sqlite[] =
    "DROP TRIGGER audit_fts_ins;"
    "CREATE TABLE audit_fts_state ("
    "  one INTEGER PRIMARY KEY CHECK (one = 1),"
    "  indexed_upto INTEGER NOT NULL"
    ");"
    "INSERT INTO audit_fts_state (one, indexed_upto)"
    " SELECT 1, COALESCE(MAX(id), 0) FROM audit_log;";
static const char m0018_audit_index_pg[] = "SELECT 1;";

/*
 * PostgreSQL's dashboard aggregates (migration 14) without row contention.
 * The triggers upserted shared bucket rows, so two group-commit writers
 * (migration 15's several writers) paying invoices at once locked the same
 * rows in different orders: "deadlock detected", a one-second stall and a 503
 * each time (5 deliveries/s). Now a trigger only INSERTs a delta row (inserts
 * never wait on each other); stats_compact (billing/stats.c), run by the mail
 * thread, folds the deltas into the base tables one compactor at a time; the
 * views under the old names add base and deltas, so a reading is exact at any
 * moment. SQLite keeps its direct upserts (one writer: nothing to contend).
 */
static const char m0019_agg_deltas_pg[] =
    "ALTER TABLE agg_invoices_open RENAME TO agg_invoices_open_base;"
    "ALTER TABLE agg_transactions_daily RENAME TO agg_transactions_daily_base;"
    "ALTER TABLE agg_services RENAME TO agg_services_base;"
    "CREATE TABLE agg_invoices_open_delta (id BIGSERIAL PRIMARY KEY,"
    "  currency TEXT NOT NULL, due_day TEXT NOT NULL, amount BIGINT NOT NULL, n BIGINT NOT NULL);"
    "CREATE TABLE agg_transactions_daily_delta (id BIGSERIAL PRIMARY KEY,"
    "  currency TEXT NOT NULL, day TEXT NOT NULL, net BIGINT NOT NULL, payments BIGINT NOT NULL,"
    "  n BIGINT NOT NULL);"
    "CREATE TABLE agg_services_delta (id BIGSERIAL PRIMARY KEY,"
    "  status TEXT NOT NULL, n BIGINT NOT NULL);"
    "CREATE VIEW agg_invoices_open AS"
    "  SELECT currency, due_day, amount, n FROM agg_invoices_open_base"
    "  UNION ALL SELECT currency, due_day, amount, n FROM agg_invoices_open_delta;"
    "CREATE VIEW agg_transactions_daily AS"
    "  SELECT currency, day, net, payments, n FROM agg_transactions_daily_base"
    "  UNION ALL SELECT currency, day, net, payments, n FROM agg_transactions_daily_delta;"
    "CREATE VIEW agg_services AS"
    "  SELECT status, n FROM agg_services_base UNION ALL SELECT status, n FROM agg_services_delta;"
    "CREATE OR REPLACE FUNCTION lumi_agg_invoices() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP <> 'INSERT' AND OLD.status IN ('unpaid', 'partially_paid') THEN"
    "  INSERT INTO agg_invoices_open_delta (currency, due_day, amount, n) VALUES"
    "  (OLD.currency, SUBSTR(OLD.due_date, 1, 10), -(OLD.total - OLD.amount_paid), -1); END IF;"
    " IF TG_OP <> 'DELETE' AND NEW.status IN ('unpaid', 'partially_paid') THEN"
    "  INSERT INTO agg_invoices_open_delta (currency, due_day, amount, n) VALUES"
    "  (NEW.currency, SUBSTR(NEW.due_date, 1, 10), NEW.total - NEW.amount_paid, 1); END IF;"
    " RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION lumi_agg_transactions() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    " IF TG_OP <> 'INSERT' THEN"
    "  INSERT INTO agg_transactions_daily_delta (currency, day, net, payments, n) VALUES"
    "  (OLD.currency, SUBSTR(OLD.created_at, 1, 10),"
    "   -(CASE WHEN OLD.kind IN ('payment', 'chargeback_reversal') THEN OLD.amount"
    "     ELSE -OLD.amount END),"
    "   -(CASE WHEN OLD.kind = 'payment' THEN OLD.amount ELSE 0 END), -1); END IF;"
    " IF TG_OP <> 'DELETE' THEN"
    "  INSERT INTO agg_transactions_daily_delta (currency, day, net, payments, n) VALUES"
    "  (NEW.currency, SUBSTR(NEW.created_at, 1, 10),"
    "   CASE WHEN NEW.kind IN ('payment', 'chargeback_reversal') THEN NEW.amount"
    "     ELSE -NEW.amount END,"
    "   CASE WHEN NEW.kind = 'payment' THEN NEW.amount ELSE 0 END, 1); END IF;"
    " RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION lumi_agg_services() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN RETURN NULL; END IF;"
    " IF TG_OP <> 'INSERT' THEN"
    "  INSERT INTO agg_services_delta (status, n) VALUES (OLD.status, -1); END IF;"
    " IF TG_OP <> 'DELETE' THEN"
    "  INSERT INTO agg_services_delta (status, n) VALUES (NEW.status, 1); END IF;"
    " RETURN NULL; END $$;";
static const char m0019_agg_deltas_sqlite[] = "SELECT 1;";

/*
 * Issue 15: the same append as migration 15 (same lock, same ids, same
 * hashes), cheaper under the lock: the batch is parsed once (jsonb; json's
 * ->> re-parsed the element for each of its eleven fields), the hashes are
 * chained in a loop that only hashes, and the rows go in with one INSERT …
 * SELECT instead of one INSERT per row. 96 rows: 10-14 ms -> 4-6 ms on the
 * development machine, and that time is the chain lock's hold on every
 * writer.
 */
static const char m0020_audit_append_set_pg[] =
    "CREATE OR REPLACE FUNCTION lumi_audit_append(lock_key BIGINT, batch JSON) RETURNS BIGINT"
    " LANGUAGE plpgsql VOLATILE AS $fn$"
    " DECLARE tip_id BIGINT; base BIGINT; tip_hash TEXT; b JSONB; t TEXT; h TEXT;"
    "   prevs TEXT[] := '{}'; hashes TEXT[] := '{}';"
    " BEGIN"
    "   b := batch::jsonb;"
    "   PERFORM pg_advisory_xact_lock(lock_key);"
    "   SELECT a.id, a.hash INTO tip_id, tip_hash FROM audit_log a ORDER BY a.id DESC LIMIT 1;"
    "   IF tip_id IS NULL THEN tip_id := 0; tip_hash := repeat('0', 64); END IF;"
    "   base := tip_id;"
    "   FOR t IN SELECT q.e->>'tail' FROM jsonb_array_elements(b) WITH ORDINALITY AS q(e, n)"
    "       ORDER BY q.n LOOP"
    "     tip_id := tip_id + 1;"
    "     h := encode(sha256(convert_to(tip_hash || '[' || tip_id::text || t, 'UTF8')), 'hex');"
    "     prevs := prevs || tip_hash;"
    "     hashes := hashes || h;"
    "     tip_hash := h;"
    "   END LOOP;"
    "   INSERT INTO audit_log (id, at, actor_type, actor_id, actor_email, action, entity,"
    "     entity_id, ip, user_agent, details, prev_hash, hash)"
    "   SELECT base + q.n, q.e->>'at', q.e->>'actor_type', q.e->>'actor_id',"
    "     q.e->>'actor_email', q.e->>'action', q.e->>'entity', q.e->>'entity_id', q.e->>'ip',"
    "     q.e->>'user_agent', q.e->>'details', prevs[q.n], hashes[q.n]"
    "   FROM jsonb_array_elements(b) WITH ORDINALITY AS q(e, n) ORDER BY q.n;"
    "   RETURN tip_id;"
    " END $fn$;";
static const char m0020_audit_append_set_sqlite[] = "SELECT 1;";

const struct migration lumi_migrations[] = {
    {1, "accounts", m0001_accounts, NULL},
    {2, "catalogue", m0002_catalogue, NULL},
    {3, "billing", m0003_billing, NULL},
    {4, "jobs", m0004_jobs, NULL},
    {5, "audit", m0005_audit, NULL},
    {6, "jobs_open_once", m0006_jobs_open_once, NULL},
    {7, "totp", m0007_totp, NULL},
    {8, "audit_entity_order", m0008_audit_entity_order, NULL},
    {9, "write_path", m0009_write_path, m0009_write_path_sqlite},
    {10, "mail", m0010_mail, NULL},
    {11, "storefront", m0011_storefront_pg, m0011_storefront_sqlite},
    {12, "email_secrets", m0012_email_secrets, NULL},
    {13, "documents", m0013_documents_pg, m0013_documents_sqlite},
    {14, "scale", m0014_scale_pg, m0014_scale_sqlite},
    {15, "audit_append", m0015_audit_append_pg, m0015_audit_append_sqlite},
    {16, "staff_roles", m0016_roles_pg, m0016_roles_sqlite},
    {17, "events", m0017_events, NULL}, /* issue 16, events */
    {18, "audit_index_deferred", m0018_audit_index_pg, m0018_audit_index_sqlite},
    {19, "aggregate_deltas", m0019_agg_deltas_pg, m0019_agg_deltas_sqlite},
    {20, "audit_append_set", m0020_audit_append_set_pg, m0020_audit_append_set_sqlite},
};
const size_t lumi_migrations_count = sizeof lumi_migrations / sizeof lumi_migrations[0];

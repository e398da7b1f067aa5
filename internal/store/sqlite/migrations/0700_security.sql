-- Security, privacy and operations: custom roles, second factor, shared
-- login throttling, the append-only audit log, data subject requests and
-- identifier suppression, and encrypted secrets.

-- Custom roles: a name and the permissions it grants (space separated).
-- The built-in roles (admin, marketer, analyst, support) live in code.
CREATE TABLE roles (
    name        TEXT    PRIMARY KEY,
    permissions TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- TOTP second factor: the secret is encrypted like every other secret;
-- totp_enabled_at is set once a code has confirmed it.
ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN totp_enabled_at INTEGER;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- Failed sign-ins, per key ("u:EMAIL" or "ip:ADDRESS"), shared by every
-- process serving the same database.
CREATE TABLE login_failures (
    id  INTEGER PRIMARY KEY,
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- Audit log of staff actions. Append-only: the code has no UPDATE or
-- DELETE for it and the triggers refuse both.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Data subject requests (APPI 開示・消去) join the platform requests the
-- ingest capability records (0100): which person, why, and who acted.
ALTER TABLE privacy_requests ADD COLUMN customer_id INTEGER;
ALTER TABLE privacy_requests ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE privacy_requests ADD COLUMN actor TEXT NOT NULL DEFAULT '';
CREATE INDEX privacy_requests_customer ON privacy_requests (customer_id);

-- Identifiers of erased people, as keyed hashes, with the anonymised
-- customer their records are filed under from now on.
CREATE TABLE suppressed_identifiers (
    hash        TEXT    PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    request_id  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Secrets (SMTP password, LINE channel secret, Shopify token …), AES-GCM
-- encrypted with the key from ENISHI_SECRET_KEY or its key file.
CREATE TABLE secrets (
    name       TEXT    PRIMARY KEY,
    ciphertext TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

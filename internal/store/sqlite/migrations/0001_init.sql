-- enishi schema, SQLite dialect. Times are INTEGER milliseconds since the Unix
-- epoch (UTC); money is INTEGER yen. Rows that belong to a customer carry
-- both customer_id (the person now, after merges) and origin_customer_id (the
-- profile they arrived with), so that a merge can be undone exactly.
-- Hot tables have no FOREIGN KEY clauses: the store is their only writer and
-- the shared store suite checks referential integrity after every test.

CREATE TABLE customers (
    id              INTEGER PRIMARY KEY,
    status          TEXT    NOT NULL DEFAULT 'active',
    merged_into     INTEGER,
    last_name       TEXT    NOT NULL DEFAULT '',
    first_name      TEXT    NOT NULL DEFAULT '',
    last_name_kana  TEXT    NOT NULL DEFAULT '',
    first_name_kana TEXT    NOT NULL DEFAULT '',
    email           TEXT    NOT NULL DEFAULT '',
    phone           TEXT    NOT NULL DEFAULT '',
    birthday        TEXT    NOT NULL DEFAULT '',
    gender          TEXT    NOT NULL DEFAULT '',
    postal_code     TEXT    NOT NULL DEFAULT '',
    prefecture      TEXT    NOT NULL DEFAULT '',
    city            TEXT    NOT NULL DEFAULT '',
    address1        TEXT    NOT NULL DEFAULT '',
    address2        TEXT    NOT NULL DEFAULT '',
    acq_channel     TEXT    NOT NULL DEFAULT '',
    acq_source      TEXT    NOT NULL DEFAULT '',
    acq_medium      TEXT    NOT NULL DEFAULT '',
    acq_campaign    TEXT    NOT NULL DEFAULT '',
    acq_referrer    TEXT    NOT NULL DEFAULT '',
    attributes      TEXT    NOT NULL DEFAULT '{}',
    search_text     TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    order_count     INTEGER NOT NULL DEFAULT 0,
    total_spent     INTEGER NOT NULL DEFAULT 0,
    first_order_at  INTEGER,
    last_order_at   INTEGER
);
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

-- Identifiers are looked up by (kind, source, value) only: that is the key.
CREATE TABLE identities (
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    source             TEXT    NOT NULL DEFAULT '',
    value              TEXT    NOT NULL,
    weak               INTEGER NOT NULL DEFAULT 0, -- boolean
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (kind, source, value)
) WITHOUT ROWID;
CREATE INDEX identities_customer ON identities (customer_id);

CREATE TABLE merges (
    id            INTEGER PRIMARY KEY,
    winner_id     INTEGER NOT NULL,
    loser_id      INTEGER NOT NULL,
    via_kind      TEXT    NOT NULL,
    via_source    TEXT    NOT NULL DEFAULT '',
    via_value     TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    winner_before TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    undone_at     INTEGER,
    undone_by     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX merges_winner ON merges (winner_id);
CREATE INDEX merges_loser ON merges (loser_id);

CREATE TABLE merge_candidates (
    id          INTEGER PRIMARY KEY,
    customer_a  INTEGER NOT NULL,
    customer_b  INTEGER NOT NULL,
    via_kind    TEXT    NOT NULL,
    via_source  TEXT    NOT NULL DEFAULT '',
    via_value   TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending',
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    decided_by  TEXT    NOT NULL DEFAULT '',
    UNIQUE (customer_a, customer_b)
);
CREATE INDEX merge_candidates_b ON merge_candidates (customer_b);

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY,
    source             TEXT    NOT NULL,
    external_id        TEXT    NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    ordered_at         INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    channel            TEXT    NOT NULL DEFAULT '',
    shop_id            TEXT    NOT NULL DEFAULT '',
    currency           TEXT    NOT NULL DEFAULT 'JPY',
    total              INTEGER NOT NULL,
    discount           INTEGER NOT NULL DEFAULT 0,
    shipping           INTEGER NOT NULL DEFAULT 0,
    tax                INTEGER NOT NULL DEFAULT 0,
    points_used        INTEGER NOT NULL DEFAULT 0,
    coupon_code        TEXT    NOT NULL DEFAULT '',
    item_count         INTEGER NOT NULL DEFAULT 0,
    content_hash       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX orders_customer ON orders (customer_id, ordered_at);

CREATE TABLE order_lines (
    order_id     INTEGER NOT NULL,
    line_no      INTEGER NOT NULL,
    sku          TEXT    NOT NULL DEFAULT '',
    product_name TEXT    NOT NULL DEFAULT '',
    category     TEXT    NOT NULL DEFAULT '',
    quantity     INTEGER NOT NULL,
    unit_price   INTEGER NOT NULL,
    amount       INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;

CREATE TABLE products (
    id                 INTEGER PRIMARY KEY,
    sku                TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL DEFAULT '',
    category           TEXT    NOT NULL DEFAULT '',
    price              INTEGER NOT NULL DEFAULT 0,
    replenishment_days INTEGER NOT NULL DEFAULT 0,
    url                TEXT    NOT NULL DEFAULT '',
    image_url          TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE events (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER,
    origin_customer_id INTEGER,
    anonymous_id       TEXT    NOT NULL DEFAULT '',
    type               TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    occurred_at        INTEGER NOT NULL,
    received_at        INTEGER NOT NULL,
    source             TEXT    NOT NULL DEFAULT '',
    message_id         TEXT    NOT NULL,
    sku                TEXT    NOT NULL DEFAULT '',
    properties         TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (source, message_id)
);
CREATE INDEX events_customer ON events (customer_id, occurred_at) WHERE customer_id IS NOT NULL;
CREATE INDEX events_anonymous ON events (anonymous_id) WHERE anonymous_id <> '';

CREATE TABLE consent_records (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    channel            TEXT    NOT NULL,
    granted            INTEGER NOT NULL,
    method             TEXT    NOT NULL DEFAULT '',
    source             TEXT    NOT NULL DEFAULT '',
    wording_version    TEXT    NOT NULL DEFAULT '',
    actor              TEXT    NOT NULL DEFAULT '',
    recorded_at        INTEGER NOT NULL
);
CREATE INDEX consent_records_customer ON consent_records (customer_id, channel, recorded_at);

CREATE TABLE customer_tags (
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    tag                TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (origin_customer_id, tag)
);
CREATE INDEX customer_tags_customer ON customer_tags (customer_id);
CREATE INDEX customer_tags_tag ON customer_tags (tag);

CREATE TABLE notes (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    author             TEXT    NOT NULL,
    body               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX notes_customer ON notes (customer_id, created_at);

CREATE TABLE inquiries (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    channel            TEXT    NOT NULL DEFAULT '',
    subject            TEXT    NOT NULL DEFAULT '',
    body               TEXT    NOT NULL DEFAULT '',
    status             TEXT    NOT NULL DEFAULT 'open',
    assignee           TEXT    NOT NULL DEFAULT '',
    external_id        TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX inquiries_customer ON inquiries (customer_id, created_at);

-- messages sent to customers; the channels issue extends this table.
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    channel            TEXT    NOT NULL,
    purpose            TEXT    NOT NULL DEFAULT 'marketing',
    subject            TEXT    NOT NULL DEFAULT '',
    status             TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    sent_at            INTEGER
);
CREATE INDEX messages_customer ON messages (customer_id, created_at);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip           TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE import_runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    file_name   TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    rows_read   INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    actor       TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);

-- Bumped by every merge, unmerge or erasure, so that a process's cache of
-- identifier → customer lookups knows when it may be stale.
CREATE TABLE identity_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO identity_generation (id, value) VALUES (1, 0);

-- Loyalty: points ledger, ranks, coupons (docs/loyalty.md). Rows owned by a
-- customer carry customer_id and origin_customer_id like the core tables.

-- The points ledger is append-only: rows are never updated or deleted. Every
-- row belongs to a lot: a credit (earn, import, positive adjust) opens one
-- with lot_id = its own id; every debit or give-back names the lot it takes
-- from or returns to, carries the lot's origin and expiry, so that a lot's
-- points left are sum(points) over its rows, a customer's usable balance is
-- sum(points) over rows not yet expired, and merges and unmerges move whole
-- lots with their debits.
CREATE TABLE point_entries (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    lot_id             INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    points             INTEGER NOT NULL,
    expires_at         INTEGER,
    occurred_at        INTEGER NOT NULL,
    order_id           INTEGER,
    redemption_id      INTEGER,
    basis              INTEGER,
    ref                TEXT    NOT NULL DEFAULT '',
    reason             TEXT    NOT NULL DEFAULT '',
    actor              TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL
);
CREATE INDEX point_entries_customer ON point_entries (customer_id, expires_at);
-- The credit an order earned (basis: the yen it was earned on).
CREATE INDEX point_entries_order ON point_entries (order_id) WHERE order_id IS NOT NULL AND id = lot_id;
-- Idempotency of imports and keyed adjustments.
CREATE UNIQUE INDEX point_entries_ref ON point_entries (ref) WHERE ref <> '';

-- One row per customer whose points were ever debited: PostgreSQL
-- transactions that take points lock it (upsert), so two redemptions for the
-- same customer run one after the other. SQLite write transactions are
-- exclusive already.
CREATE TABLE point_accounts (
    customer_id INTEGER PRIMARY KEY,
    locked_at   INTEGER NOT NULL
);

-- Points of an order whose status or total changed after it earned: due
-- is what its first basis earned, held what the ledger gives it now net of
-- reversals; unrecovered is reversed points the customer had spent
-- already; excused is reversed points that had expired unused. Orders that
-- never changed have no row: their earn credit says it all.
CREATE TABLE order_points (
    order_id    INTEGER PRIMARY KEY,
    lot_id      INTEGER NOT NULL,
    due         INTEGER NOT NULL,
    held        INTEGER NOT NULL,
    basis       INTEGER NOT NULL,
    unrecovered INTEGER NOT NULL DEFAULT 0,
    excused     INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE point_redemptions (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    idempotency_key    TEXT    NOT NULL UNIQUE,
    points             INTEGER NOT NULL,
    order_ref          TEXT    NOT NULL DEFAULT '',
    status             TEXT    NOT NULL,
    actor              TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    cancelled_at       INTEGER
);
CREATE INDEX point_redemptions_customer ON point_redemptions (customer_id, created_at);

-- A customer's current rank; customers without a row hold the lowest tier.
-- Keyed by customer id and not moved by merges: a merged customer's rank is
-- evaluated again on its next order or the daily run.
CREATE TABLE loyalty_members (
    customer_id  INTEGER PRIMARY KEY,
    rank         TEXT    NOT NULL,
    rank_since   INTEGER NOT NULL,
    metric_value INTEGER NOT NULL,
    evaluated_at INTEGER NOT NULL
);
CREATE INDEX loyalty_members_rank ON loyalty_members (rank);

-- Customers whose rank must be evaluated again: order imports queue their
-- buyers, and the queue is worked through when the import ends (CLI) or
-- within seconds (serve), so a customer whose orders span many batches of
-- one import is evaluated once.
CREATE TABLE rank_queue (
    customer_id INTEGER PRIMARY KEY,
    queued_at   INTEGER NOT NULL
);

CREATE TABLE rank_changes (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    from_rank          TEXT    NOT NULL,
    to_rank            TEXT    NOT NULL,
    direction          TEXT    NOT NULL,
    metric_value       INTEGER NOT NULL,
    reason             TEXT    NOT NULL,
    changed_at         INTEGER NOT NULL
);
CREATE INDEX rank_changes_customer ON rank_changes (customer_id, changed_at);
CREATE INDEX rank_changes_at ON rank_changes (changed_at);

CREATE TABLE coupon_campaigns (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL,
    mode                  TEXT    NOT NULL,
    discount_type         TEXT    NOT NULL,
    value                 INTEGER NOT NULL,
    min_order             INTEGER NOT NULL DEFAULT 0,
    starts_at             INTEGER,
    ends_at               INTEGER,
    per_customer_limit    INTEGER NOT NULL DEFAULT 0,
    total_limit           INTEGER NOT NULL DEFAULT 0,
    skus                  TEXT    NOT NULL DEFAULT '[]',
    categories            TEXT    NOT NULL DEFAULT '[]',
    ranks                 TEXT    NOT NULL DEFAULT '[]',
    shopify_price_rule_id TEXT    NOT NULL DEFAULT '',
    created_by            TEXT    NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

-- A campaign's codes: one row per generated code, one row holding a shared
-- code, and one row per customer a shared code was issued to (issue_of =
-- the shared code's row). Codes are unique among the rows that are codes.
CREATE TABLE coupons (
    id                 INTEGER PRIMARY KEY,
    campaign_id        INTEGER NOT NULL,
    code               TEXT    NOT NULL,
    issue_of           INTEGER,
    customer_id        INTEGER,
    origin_customer_id INTEGER,
    issued_at          INTEGER,
    issued_by          TEXT    NOT NULL DEFAULT '',
    issue_key          TEXT    NOT NULL DEFAULT '',
    shopify_id         TEXT    NOT NULL DEFAULT '',
    synced_at          INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX coupons_code ON coupons (code) WHERE issue_of IS NULL;
CREATE UNIQUE INDEX coupons_issue_key ON coupons (issue_key) WHERE issue_key <> '';
CREATE INDEX coupons_campaign ON coupons (campaign_id, customer_id);
CREATE INDEX coupons_customer ON coupons (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX coupons_issue_of ON coupons (issue_of, customer_id) WHERE issue_of IS NOT NULL;

-- One row per order that carried a known code; its status follows the order.
CREATE TABLE coupon_redemptions (
    id                 INTEGER PRIMARY KEY,
    order_id           INTEGER NOT NULL UNIQUE,
    campaign_id        INTEGER NOT NULL,
    coupon_id          INTEGER NOT NULL,
    code               TEXT    NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    discount           INTEGER NOT NULL,
    revenue            INTEGER NOT NULL,
    redeemed_at        INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX coupon_redemptions_campaign ON coupon_redemptions (campaign_id, customer_id);
CREATE INDEX coupon_redemptions_coupon ON coupon_redemptions (coupon_id);
CREATE INDEX coupon_redemptions_customer ON coupon_redemptions (customer_id);

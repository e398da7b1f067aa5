-- Subscriptions (定期購入, issue 12). A contract belongs to a customer
-- (customer_id, origin_customer_id: merges move it). deliveries is the
-- larger of what the cart states (stated_deliveries) and the highest
-- delivery linked to an order; delivered_count and delivered_amount sum the
-- linked deliveries, kept forward so that reports read one row per
-- contract. start_month is the Tokyo month it started (YYYYMM);
-- next_delivery_day the Tokyo day number of the next delivery.
CREATE TABLE subscriptions (
    id                 INTEGER PRIMARY KEY,
    source             TEXT    NOT NULL,
    external_id        TEXT    NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    sku                TEXT    NOT NULL DEFAULT '',
    product_name       TEXT    NOT NULL DEFAULT '',
    plan               TEXT    NOT NULL DEFAULT '',
    cycle_unit         TEXT    NOT NULL,
    cycle_count        INTEGER NOT NULL,
    quantity           INTEGER NOT NULL DEFAULT 1,
    price              INTEGER NOT NULL DEFAULT 0,
    status             TEXT    NOT NULL,
    started_at         INTEGER NOT NULL,
    start_month        INTEGER NOT NULL,
    next_delivery_at   INTEGER,
    next_delivery_day  INTEGER,
    stated_deliveries  INTEGER NOT NULL DEFAULT 0,
    deliveries         INTEGER NOT NULL DEFAULT 0,
    delivered_count    INTEGER NOT NULL DEFAULT 0,
    delivered_amount   INTEGER NOT NULL DEFAULT 0,
    skips              INTEGER NOT NULL DEFAULT 0,
    pauses             INTEGER NOT NULL DEFAULT 0,
    cancelled_at       INTEGER,
    cancel_reason      TEXT    NOT NULL DEFAULT '',
    inferred           INTEGER NOT NULL DEFAULT 0,
    cancel_risk        REAL,
    risk_tier          TEXT    NOT NULL DEFAULT '',
    risk_reasons       TEXT    NOT NULL DEFAULT '[]',
    risk_at            INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
CREATE INDEX subscriptions_start ON subscriptions (start_month);
CREATE INDEX subscriptions_next ON subscriptions (next_delivery_day) WHERE next_delivery_day IS NOT NULL;
CREATE INDEX subscriptions_cancelled ON subscriptions (cancelled_at) WHERE cancelled_at IS NOT NULL;

-- One row per delivery, with the order it created when known.
CREATE TABLE subscription_deliveries (
    subscription_id INTEGER NOT NULL,
    number          INTEGER NOT NULL,
    order_id        INTEGER,
    delivered_at    INTEGER NOT NULL,
    amount          INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, number)
) WITHOUT ROWID;
CREATE INDEX subscription_deliveries_order ON subscription_deliveries (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX subscription_deliveries_at ON subscription_deliveries (delivered_at, amount);

-- The history of each contract; dedupe_key makes every change idempotent
-- ("created", "delivery:3", "skip:2", "pause:<ms>" …).
CREATE TABLE subscription_changes (
    id                 INTEGER PRIMARY KEY,
    subscription_id    INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    at                 INTEGER NOT NULL,
    delivery_number    INTEGER NOT NULL DEFAULT 0,
    reason             TEXT    NOT NULL DEFAULT '',
    dedupe_key         TEXT    NOT NULL,
    UNIQUE (subscription_id, dedupe_key)
);
CREATE INDEX subscription_changes_customer ON subscription_changes (customer_id, at);
CREATE INDEX subscription_changes_kind ON subscription_changes (kind, at);

-- Webhook deliveries already applied (a redelivery changes nothing); kept
-- for the retention task subscription_webhook_events (90 days by default).
CREATE TABLE subscription_webhook_events (
    id         INTEGER PRIMARY KEY,
    source     TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    applied_at INTEGER NOT NULL,
    UNIQUE (source, event_id)
);
CREATE INDEX subscription_webhook_events_applied ON subscription_webhook_events (applied_at);

-- Channels: sends recorded exactly once per key, tracking events, the
-- suppression list, templates, rate-limit buckets, web push subscriptions
-- and revenue attribution. Times are INTEGER milliseconds (UTC).

-- messages (0001) gains what a send needs to be exactly-once, retried,
-- tracked and attributed. send_key is unique: a second send with the same
-- key is refused.
ALTER TABLE messages ADD COLUMN send_key        TEXT;
ALTER TABLE messages ADD COLUMN template_id     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN source          TEXT    NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN address         TEXT    NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN provider        TEXT    NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN provider_id     TEXT    NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN attempts        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE messages ADD COLUMN error           TEXT    NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN vars            TEXT    NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN updated_at      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivered_at    INTEGER;
ALTER TABLE messages ADD COLUMN bounced_at      INTEGER;
ALTER TABLE messages ADD COLUMN bounce_kind     TEXT    NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN opened_at       INTEGER;
ALTER TABLE messages ADD COLUMN clicked_at      INTEGER;
ALTER TABLE messages ADD COLUMN unsubscribed_at INTEGER;
ALTER TABLE messages ADD COLUMN complained_at   INTEGER;
CREATE UNIQUE INDEX messages_send_key ON messages (send_key);
CREATE INDEX messages_source ON messages (source, channel);
CREATE INDEX messages_retry ON messages (next_attempt_at) WHERE status = 'retry';
CREATE INDEX messages_provider_id ON messages (provider, provider_id) WHERE provider_id <> '';
CREATE INDEX messages_onsite_pending ON messages (customer_id) WHERE channel = 'onsite' AND status = 'sent';

-- Opens, clicks, unsubscribes, bounces, complaints and deliveries of a
-- message, as they happened. machine marks opens made by a mail client's
-- privacy proxy (Apple Mail Privacy Protection), not a person.
CREATE TABLE message_events (
    id                 INTEGER PRIMARY KEY,
    message_id         INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    machine            INTEGER NOT NULL DEFAULT 0,
    url                TEXT    NOT NULL DEFAULT '',
    detail             TEXT    NOT NULL DEFAULT '',
    occurred_at        INTEGER NOT NULL
);
CREATE INDEX message_events_customer ON message_events (customer_id, occurred_at);
CREATE INDEX message_events_message ON message_events (message_id);

-- Addresses no message may go to (reason: unsubscribed | bounced |
-- complained | manual), whoever holds them now.
CREATE TABLE suppressions (
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Soft bounces counted per address; at the configured count the address
-- is suppressed.
CREATE TABLE soft_bounces (
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Message templates: per-channel variants (JSON), validated when saved.
CREATE TABLE templates (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    purpose    TEXT    NOT NULL DEFAULT 'marketing',
    body       TEXT    NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    updated_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One token bucket per channel/provider, shared by every process:
-- tokens are thousandths of a message, refilled by elapsed time.
CREATE TABLE rate_buckets (
    name       TEXT    PRIMARY KEY,
    tokens     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Browsers that accepted web push (VAPID), per customer or anonymous.
CREATE TABLE push_subscriptions (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER,
    origin_customer_id INTEGER,
    anonymous_id       TEXT    NOT NULL DEFAULT '',
    endpoint           TEXT    NOT NULL UNIQUE,
    p256dh             TEXT    NOT NULL,
    auth               TEXT    NOT NULL,
    user_agent         TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_customer ON push_subscriptions (customer_id) WHERE customer_id IS NOT NULL;

-- On-site messages (popups) the JS tag shows to visitors in a segment.
CREATE TABLE onsite_campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    template_id INTEGER NOT NULL,
    audience    TEXT    NOT NULL DEFAULT 'all',
    segment_id  INTEGER NOT NULL DEFAULT 0,
    active      INTEGER NOT NULL DEFAULT 1,
    starts_at   INTEGER,
    ends_at     INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Revenue attribution: the message an order is credited to.
CREATE TABLE order_attributions (
    order_id    INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL,
    touch       TEXT    NOT NULL,
    touched_at  INTEGER NOT NULL,
    attributed_at INTEGER NOT NULL
);
CREATE INDEX order_attributions_message ON order_attributions (message_id);

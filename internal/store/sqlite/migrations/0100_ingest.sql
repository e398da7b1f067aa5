-- Real-time ingestion (issue 5): the durable inbox every event API call and
-- webhook is written to before it is answered, and the small tables the
-- integrations keep. Times are milliseconds since the epoch (UTC).

-- One row per accepted request. Workers claim rows by moving available_at
-- forward (a lease): a worker that dies leaves its rows to be claimed again
-- when the lease runs out. Processing is idempotent (events by message id,
-- orders by id), so a row processed twice stores nothing twice.
CREATE TABLE ingest_inbox (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,              -- segment | shopify | line | generic
    source       TEXT    NOT NULL DEFAULT '',   -- write key's source, shop domain, LINE channel, generic source
    topic        TEXT    NOT NULL DEFAULT '',   -- Segment call, Shopify topic, generic type
    dedupe_key   TEXT,                          -- X-Shopify-Webhook-Id, generic delivery id; NULL when none
    body         TEXT    NOT NULL,              -- the request body as received (decompressed)
    items        INTEGER NOT NULL DEFAULT 1,       -- messages in the body
    priority     INTEGER NOT NULL DEFAULT 0,       -- claimed in priority order: 0 webhooks (time-critical), 1 bulk event batches
    status       TEXT    NOT NULL DEFAULT 'pending', -- pending | done | dead | discarded
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,                 -- not claimable before (lease end or retry time)
    locked_by    TEXT    NOT NULL DEFAULT '',
    last_error   TEXT    NOT NULL DEFAULT '',
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    UNIQUE (kind, source, dedupe_key)
);
CREATE INDEX ingest_inbox_pending ON ingest_inbox (priority, id) WHERE status = 'pending';
CREATE INDEX ingest_inbox_status ON ingest_inbox (status, received_at);

-- Events stored with only an anonymous id, waiting to be stitched to the
-- customer who later identifies with it (StitchAnonymous). Small, so that
-- stitching stays cheap however large events grows.
CREATE INDEX events_unstitched ON events (anonymous_id) WHERE customer_id IS NULL AND anonymous_id <> '';

-- Inquiries that arrive from a channel (a LINE message) carry the channel's
-- message id, so that processing one twice adds one inquiry.
CREATE INDEX inquiries_external ON inquiries (channel, external_id) WHERE external_id <> '';

-- Shopify order ids (int64, kept as text) to order names: orders are stored
-- under their name (#1001), as the admin CSV export names them, and refunds
-- name the order by id.
CREATE TABLE shopify_orders (
    shop        TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    customer_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (shop, order_id)
);

-- Privacy requests from platforms (Shopify customers/data_request,
-- customers/redact, shop/redact), recorded for the erasure and export
-- handlers to act on.
CREATE TABLE privacy_requests (
    id          INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,
    ref         TEXT    NOT NULL,              -- the platform's id of the request (webhook id), unique per source
    kind        TEXT    NOT NULL,              -- export | erase | shop_erase
    shop        TEXT    NOT NULL DEFAULT '',
    identifiers TEXT    NOT NULL DEFAULT '[]', -- JSON: the identifiers the platform named
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending', -- pending | done | failed
    message     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    handled_at  INTEGER,
    UNIQUE (source, ref)
);

-- LINE account link nonces: issued for a known customer, used once by the
-- accountLink webhook event.
CREATE TABLE line_link_nonces (
    nonce        TEXT    PRIMARY KEY,
    customer_id  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    line_user_id TEXT    NOT NULL DEFAULT ''
);

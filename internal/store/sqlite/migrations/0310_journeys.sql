-- Journeys (docs/journeys.md). The definition is JSON; the columns beside
-- it are what queries select journeys by.
CREATE TABLE journeys (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    template      TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'draft',
    definition    TEXT    NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    trigger_type  TEXT    NOT NULL,
    segment_id    INTEGER,
    enabled_at    INTEGER,
    scan_day      INTEGER NOT NULL DEFAULT 0, -- Tokyo day number last scanned by a scheduled trigger
    created_by    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX journeys_status ON journeys (status);

-- One customer's run through a journey. This table is also the job queue
-- of the engine: an enrollment is due when state is ready (or waiting with
-- a timeout) and due_at has come; a claim leases it (wall-clock
-- lease_until, random lease_token) and an outcome is written only under
-- its token. entry_key makes each trigger enroll once.
CREATE TABLE journey_enrollments (
    id                 INTEGER PRIMARY KEY,
    journey_id         INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    entry_key          TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    step               TEXT    NOT NULL DEFAULT '',
    sub                TEXT    NOT NULL DEFAULT '',
    due_at             INTEGER,
    step_at            INTEGER NOT NULL,
    entered_at         INTEGER NOT NULL,
    context            TEXT    NOT NULL DEFAULT '{}',
    lease_until        INTEGER NOT NULL DEFAULT 0,
    lease_token        INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT    NOT NULL DEFAULT '',
    ended_at           INTEGER,
    end_reason         TEXT    NOT NULL DEFAULT '',
    converted          INTEGER NOT NULL DEFAULT 0,
    revenue            INTEGER NOT NULL DEFAULT 0,
    UNIQUE (journey_id, entry_key)
);
CREATE INDEX journey_enrollments_due ON journey_enrollments (due_at) WHERE state IN ('ready', 'waiting');
CREATE INDEX journey_enrollments_customer ON journey_enrollments (customer_id, journey_id);
CREATE INDEX journey_enrollments_step ON journey_enrollments (journey_id, step) WHERE state <> 'ended';

-- Counters per journey and step (step '' is the journey itself).
CREATE TABLE journey_stats (
    journey_id INTEGER NOT NULL,
    step       TEXT    NOT NULL,
    metric     TEXT    NOT NULL,
    value      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (journey_id, step, metric)
) WITHOUT ROWID;

-- Back in stock and price drops, turned into enrollments of journeys that
-- listen to them.
CREATE TABLE product_signals (
    id           INTEGER PRIMARY KEY,
    sku          TEXT    NOT NULL,
    kind         TEXT    NOT NULL, -- back_in_stock | price_drop
    old_price    INTEGER NOT NULL DEFAULT 0,
    new_price    INTEGER NOT NULL DEFAULT 0,
    at           INTEGER NOT NULL,
    processed_at INTEGER
);
CREATE INDEX product_signals_pending ON product_signals (id) WHERE processed_at IS NULL;

-- The outbox: every message journeys and campaigns send, one row per
-- (sender, customer) under a unique key, written before the channel is
-- called. Campaign rows leave vars empty: the variant's content is read
-- from the campaign when the row is sent.
CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY,
    key                TEXT    NOT NULL UNIQUE,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    channel            TEXT    NOT NULL,
    purpose            TEXT    NOT NULL,
    template_id        INTEGER NOT NULL DEFAULT 0,
    source             TEXT    NOT NULL,
    journey_id         INTEGER,
    step               TEXT    NOT NULL DEFAULT '',
    enrollment_id      INTEGER,
    campaign_id        INTEGER,
    variant            TEXT    NOT NULL DEFAULT '',
    vars               TEXT    NOT NULL DEFAULT '{}',
    status             TEXT    NOT NULL,
    not_before         INTEGER NOT NULL,
    time_zone          TEXT    NOT NULL DEFAULT '',
    exempt             INTEGER NOT NULL DEFAULT 0,
    lease_until        INTEGER NOT NULL DEFAULT 0,
    lease_token        INTEGER NOT NULL DEFAULT 0,
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT    NOT NULL DEFAULT '',
    provider_id        TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    attempted_at       INTEGER,
    sent_at            INTEGER,
    opened_at          INTEGER,
    clicked_at         INTEGER,
    converted_at       INTEGER,
    revenue            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (not_before) WHERE status IN ('queued', 'sending');
CREATE INDEX outbox_customer ON outbox (customer_id, attempted_at);
CREATE INDEX outbox_campaign ON outbox (campaign_id, status) WHERE campaign_id IS NOT NULL;
CREATE INDEX outbox_enrollment ON outbox (enrollment_id) WHERE enrollment_id IS NOT NULL;

-- Campaigns (docs/campaigns.md): the definition is JSON.
CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    segment_id  INTEGER NOT NULL,
    definition  TEXT    NOT NULL,
    send_at     INTEGER,
    start_at    INTEGER, -- when recipients go in the outbox
    winner      TEXT    NOT NULL DEFAULT '',
    winner_why  TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    started_at  INTEGER,
    done_at     INTEGER
);
CREATE INDEX campaigns_status ON campaigns (status, start_at);

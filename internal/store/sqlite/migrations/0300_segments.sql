-- Segments (docs/segments.md): stored conditions, their members kept up to
-- date, and the history of entries and exits. Members are keyed by the
-- customer id they were evaluated for and are not moved by merges: a merge
-- marks both customers changed, and re-evaluation moves the membership.
CREATE TABLE segments (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    condition     TEXT    NOT NULL,
    time_relative INTEGER NOT NULL DEFAULT 0,
    member_count  INTEGER NOT NULL DEFAULT 0,
    evaluated_day INTEGER NOT NULL DEFAULT 0, -- Tokyo day number of the last date flip
    evaluated_at  INTEGER,
    created_by    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE UNIQUE INDEX segments_name ON segments (name) WHERE deleted_at IS NULL;

CREATE TABLE segment_members (
    segment_id  INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    entered_at  INTEGER NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
) WITHOUT ROWID;
CREATE INDEX segment_members_customer ON segment_members (customer_id);

CREATE TABLE segment_changes (
    id          INTEGER PRIMARY KEY,
    segment_id  INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    entered     INTEGER NOT NULL, -- boolean: 1 entered, 0 exited
    at          INTEGER NOT NULL
);
CREATE INDEX segment_changes_segment ON segment_changes (segment_id, id);
CREATE INDEX segment_changes_customer ON segment_changes (customer_id, at);

-- What the last push of a segment to Shopify or LINE sent.
CREATE TABLE segment_pushes (
    segment_id INTEGER NOT NULL,
    target     TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    ids        TEXT    NOT NULL DEFAULT '[]',
    pushed_at  INTEGER NOT NULL,
    PRIMARY KEY (segment_id, target)
);

-- Customers whose data changed since segments and journeys last looked at
-- them: written in the transaction that changed them (imports, merges,
-- tags, consents), consumed by the engine. since is the earliest change
-- (store clock, ms); seq counts marks, so a consumer only deletes the row
-- it saw; lease_until (wall clock, ms) keeps two workers apart.
CREATE TABLE engine_dirty (
    customer_id INTEGER PRIMARY KEY,
    since       INTEGER NOT NULL,
    seq         INTEGER NOT NULL DEFAULT 1,
    lease_until INTEGER NOT NULL DEFAULT 0
);

-- Event conditions and triggers look events up by name and time.
CREATE INDEX events_name_time ON events (name, occurred_at);

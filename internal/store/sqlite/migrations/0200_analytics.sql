-- Customer analytics (issue 6). customer_scores keeps, per customer with a
-- paid order, the aggregates RFM, CPM and the models are computed from
-- (as of analytics_state.as_of_day, a Tokyo day number) and the scores
-- computed from them. Days are Tokyo day numbers (days since 1970-01-01 JST).
CREATE TABLE customer_scores (
    customer_id        INTEGER PRIMARY KEY,
    orders             INTEGER NOT NULL,
    spent              INTEGER NOT NULL,
    first_day          INTEGER NOT NULL,
    last_day           INTEGER NOT NULL,
    purchase_days      INTEGER NOT NULL,
    first_day_spent    INTEGER NOT NULL,
    win_orders         INTEGER NOT NULL,
    win_spent          INTEGER NOT NULL,
    r                  INTEGER NOT NULL DEFAULT 0,
    f                  INTEGER NOT NULL DEFAULT 0,
    m                  INTEGER NOT NULL DEFAULT 0,
    segment            TEXT    NOT NULL DEFAULT '',
    cpm                TEXT    NOT NULL DEFAULT '',
    p_alive            REAL,
    expected_purchases REAL,
    expected_aov       REAL,
    clv                REAL,
    churn_tier         TEXT    NOT NULL DEFAULT '',
    next_order_day     INTEGER
);
CREATE INDEX customer_scores_segment ON customer_scores (segment);

-- Customers whose orders changed since their scores were computed.
CREATE TABLE analytics_dirty (
    customer_id INTEGER PRIMARY KEY
);

CREATE TABLE analytics_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    as_of_day   INTEGER NOT NULL,
    config_hash TEXT    NOT NULL,
    thresholds  TEXT    NOT NULL,
    model       TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL
);

-- Learned per-product figures: repeat-purchase interval (replenishment
-- cycle) and how many orders contain the product.
CREATE TABLE product_stats (
    sku          TEXT    PRIMARY KEY,
    orders       INTEGER NOT NULL,
    intervals    INTEGER NOT NULL,
    median_days  INTEGER NOT NULL,
    computed_at  INTEGER NOT NULL
);

-- Orders containing both products (sku_a < sku_b), for recommendations.
CREATE TABLE product_pairs (
    sku_a  TEXT    NOT NULL,
    sku_b  TEXT    NOT NULL,
    orders INTEGER NOT NULL,
    PRIMARY KEY (sku_a, sku_b)
) WITHOUT ROWID;
CREATE INDEX product_pairs_b ON product_pairs (sku_b);

-- Windows of time: orders leaving the RFM window, KPIs and cohorts by date.
CREATE INDEX orders_ordered_at ON orders (ordered_at);

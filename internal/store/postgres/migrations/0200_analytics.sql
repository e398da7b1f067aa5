-- Customer analytics (issue 6). customer_scores keeps, per customer with a
-- paid order, the aggregates RFM, CPM and the models are computed from
-- (as of analytics_state.as_of_day, a Tokyo day number) and the scores
-- computed from them. Days are Tokyo day numbers (days since 1970-01-01 JST).
CREATE TABLE customer_scores (
    customer_id        BIGINT  PRIMARY KEY,
    orders             BIGINT  NOT NULL,
    spent              BIGINT  NOT NULL,
    first_day          BIGINT  NOT NULL,
    last_day           BIGINT  NOT NULL,
    purchase_days      BIGINT  NOT NULL,
    first_day_spent    BIGINT  NOT NULL,
    win_orders         BIGINT  NOT NULL,
    win_spent          BIGINT  NOT NULL,
    r                  BIGINT  NOT NULL DEFAULT 0,
    f                  BIGINT  NOT NULL DEFAULT 0,
    m                  BIGINT  NOT NULL DEFAULT 0,
    segment            TEXT    NOT NULL DEFAULT '',
    cpm                TEXT    NOT NULL DEFAULT '',
    p_alive            DOUBLE PRECISION,
    expected_purchases DOUBLE PRECISION,
    expected_aov       DOUBLE PRECISION,
    clv                DOUBLE PRECISION,
    churn_tier         TEXT    NOT NULL DEFAULT '',
    next_order_day     BIGINT 
);
CREATE INDEX customer_scores_segment ON customer_scores (segment);

-- Customers whose orders changed since their scores were computed.
CREATE TABLE analytics_dirty (
    customer_id BIGINT  PRIMARY KEY
);

CREATE TABLE analytics_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    as_of_day   BIGINT  NOT NULL,
    config_hash TEXT    NOT NULL,
    thresholds  TEXT    NOT NULL,
    model       TEXT    NOT NULL DEFAULT '',
    updated_at  BIGINT  NOT NULL
);

-- Learned per-product figures: repeat-purchase interval (replenishment
-- cycle) and how many orders contain the product.
CREATE TABLE product_stats (
    sku          TEXT    PRIMARY KEY,
    orders       BIGINT  NOT NULL,
    intervals    BIGINT  NOT NULL,
    median_days  BIGINT  NOT NULL,
    computed_at  BIGINT  NOT NULL
);

-- Orders containing both products (sku_a < sku_b), for recommendations.
CREATE TABLE product_pairs (
    sku_a  TEXT    NOT NULL,
    sku_b  TEXT    NOT NULL,
    orders BIGINT  NOT NULL,
    PRIMARY KEY (sku_a, sku_b)
);
CREATE INDEX product_pairs_b ON product_pairs (sku_b);

-- Windows of time: orders leaving the RFM window, KPIs and cohorts by date.
CREATE INDEX orders_ordered_at ON orders (ordered_at);

-- Analytics at a million customers (issue 6, performance).
-- The daily rescore visits only customers whose recency crosses a cut
-- point or the CPM dormancy boundary, found by their last purchase day.
CREATE INDEX customer_scores_last_day ON customer_scores (last_day);
-- The RFM report's segment counts and R×F grid come from this index alone.
DROP INDEX customer_scores_segment;
CREATE INDEX customer_scores_segment ON customer_scores (segment, r, f);
-- The window the kept aggregates were computed with: a new window rebuilds
-- them from orders, other new settings only rescore. 0 = not (fully) built.
ALTER TABLE analytics_state ADD COLUMN window_days BIGINT NOT NULL DEFAULT 0;
-- The daily roll updates the window aggregates of the customers whose
-- orders leave the window; room left on each page lets PostgreSQL keep
-- the new row version on the same page without touching the indexes
-- (a HOT update) when no indexed column changes.
ALTER TABLE customer_scores SET (fillfactor = 80);

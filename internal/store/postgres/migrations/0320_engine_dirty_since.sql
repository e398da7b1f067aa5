-- The engine claims the change feed oldest first (ORDER BY since LIMIT n).
-- Without an index every claim sorted the whole feed: after a large import
-- marks every customer, working through it took time quadratic in its size.
CREATE INDEX engine_dirty_since ON engine_dirty (since);

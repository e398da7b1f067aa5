package store

import (
	"context"
	"sync"
)

// growth counts rows written by bulk imports in this process and asks the
// dialect to refresh planner statistics each time the count doubles
// (10k, 20k, 40k … rows), so a table that grows from empty during one long
// import is planned for its real size, at a cost logarithmic in its size.
type growth struct {
	mu   sync.Mutex
	rows int64
	next int64
}

// analyzedTables are the tables imports grow.
var analyzedTables = []string{"customers", "identities", "orders", "order_lines", "events", "products"}

// noteWrites records n written rows and refreshes statistics when due. It
// runs after the writing transaction committed, outside it.
func (db *DB) noteWrites(ctx context.Context, n int) {
	g := &db.growth
	g.mu.Lock()
	if g.next == 0 {
		g.next = 10_000
	}
	g.rows += int64(n)
	due := g.rows >= g.next
	if due {
		g.next = 2 * g.rows
	}
	g.mu.Unlock()
	if due {
		// Statistics are an optimisation: a failure here must not fail the
		// import that already committed.
		_ = db.Dialect.Analyze(ctx, db, analyzedTables)
	}
}

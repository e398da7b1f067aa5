package store

import (
	"context"
	"sync"
)

// growth counts rows written by bulk imports in this process and asks the
// dialect to refresh planner statistics each time the count has grown
// fourfold (10k, 40k, 160k … rows), so a table that grows from empty during
// one long import is planned for its real size, at a cost logarithmic in
// its size.
type growth struct {
	mu   sync.Mutex
	rows int64
	next int64
}

// lookupTables are the tables imports grow and also look rows up in by
// lists of keys (identifiers, order ids, customer ids): the lookups whose
// plans go wrong without statistics. Tables imports only append to
// (order_lines, events, products) are left to autovacuum: refreshing them
// during the import bought nothing and cost as much as the rest together.
var lookupTables = []string{"customers", "identities", "orders"}

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
		g.next = 4 * g.rows
	}
	g.mu.Unlock()
	if due {
		// Statistics are an optimisation: a failure here must not fail the
		// import that already committed.
		_ = db.Dialect.Analyze(ctx, db, lookupTables)
	}
}

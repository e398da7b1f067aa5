package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// The change feed: every transaction that changes what segments and
// journeys look at (imports of orders, customers and events, merges and
// unmerges, tags, consents, journey steps that tag or set attributes)
// marks the customers it touched in engine_dirty, inside the same
// transaction, by calling markChanged. After the commit it calls
// notifyChanged, which wakes the engine in this process at once; other
// processes find the rows by polling. So a change is never lost (the mark
// commits with the change) and is seen within milliseconds.

// wakers are the channels notifyChanged signals.
type wakers struct {
	mu   sync.Mutex
	subs []chan struct{}
}

// ChangeNotifications returns a channel that receives a value (coalesced)
// after each commit that marked customers changed. The engine selects on it.
func (db *DB) ChangeNotifications() <-chan struct{} {
	ch := make(chan struct{}, 1)
	db.wake.mu.Lock()
	db.wake.subs = append(db.wake.subs, ch)
	db.wake.mu.Unlock()
	return ch
}

// notifyChanged wakes every subscriber; call it after a commit that marked
// customers changed.
func (db *DB) notifyChanged() {
	db.wake.mu.Lock()
	defer db.wake.mu.Unlock()
	for _, ch := range db.wake.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// markChanged records, inside tx, that the given customers changed at
// (store clock). A customer already marked keeps the earliest time.
func (db *DB) markChanged(ctx context.Context, tx *Tx, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	uniq := append([]int64(nil), ids...)
	sort.Slice(uniq, func(i, j int) bool { return uniq[i] < uniq[j] })
	out := uniq[:0]
	for i, id := range uniq {
		if id != 0 && (i == 0 || id != uniq[i-1]) {
			out = append(out, id)
		}
	}
	t := ms(at)
	_, err := db.insertMany(ctx, tx, `INSERT INTO engine_dirty (customer_id, since)`, 2,
		`ON CONFLICT (customer_id) DO UPDATE SET since = CASE WHEN excluded.since < engine_dirty.since THEN excluded.since ELSE engine_dirty.since END,
		seq = engine_dirty.seq + 1`,
		len(out), func(i int, args []any) []any { return append(args, out[i], t) })
	if err != nil {
		return fmt.Errorf("mark customers changed: %w", err)
	}
	return nil
}

// Changed is a customer waiting in the change feed.
type Changed struct {
	CustomerID int64
	// Since is the earliest change not yet processed: events received and
	// orders written from then on are new to the engine.
	Since time.Time
	seq   int64
}

// ClaimChanged leases up to n changed customers for lease (wall clock),
// oldest first. Rows another worker holds are skipped.
func (db *DB) ClaimChanged(ctx context.Context, n int, lease time.Duration) ([]Changed, error) {
	wall := time.Now().UnixMilli()
	var out []Changed
	if !db.anyRow(ctx, `SELECT 1 FROM engine_dirty WHERE lease_until < $1 LIMIT 1`, wall) {
		return nil, nil
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT customer_id, since, seq FROM engine_dirty WHERE lease_until < $1
			ORDER BY since LIMIT $2`+db.Dialect.SkipLocked(), wall, n)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var c Changed
			var since int64
			if err := rows.Scan(&c.CustomerID, &since, &c.seq); err != nil {
				rows.Close()
				return err
			}
			c.Since = fromMS(since)
			out = append(out, c)
			ids = append(ids, c.CustomerID)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		cond, args := db.Dialect.InList("customer_id", 2, ids)
		_, err = tx.ExecContext(ctx, `UPDATE engine_dirty SET lease_until = $1 WHERE `+cond, append([]any{wall + lease.Milliseconds()}, args...)...)
		return err
	})
	return out, err
}

// DoneChanged removes processed customers from the feed. A customer marked
// again while it was processed stays, released for the next claim.
func (db *DB) DoneChanged(ctx context.Context, done []Changed) error {
	if len(done) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *Tx) error {
		for _, c := range done {
			res, err := tx.execCached(ctx, db, `DELETE FROM engine_dirty WHERE customer_id = $1 AND seq = $2`, []any{c.CustomerID, c.seq})
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				if _, err := tx.execCached(ctx, db, `UPDATE engine_dirty SET lease_until = 0 WHERE customer_id = $1`, []any{c.CustomerID}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// PendingChanges counts customers waiting in the change feed.
func (db *DB) PendingChanges(ctx context.Context) (int64, error) {
	var n int64
	err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM engine_dirty`).Scan(&n)
	return n, err
}

// anyRow reports whether a query finds a row, reading outside any write
// transaction: the claims of the engine look first, so that an idle
// engine costs one cheap read per kind of work. An error counts as a row,
// so that the claim itself reports it.
func (db *DB) anyRow(ctx context.Context, q string, args ...any) bool {
	var one int
	err := db.Read.QueryRowContext(ctx, q, args...).Scan(&one)
	return !isNoRows(err)
}

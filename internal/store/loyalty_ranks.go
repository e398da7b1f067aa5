package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// periodMetrics returns each customer's paid spend and order count in
// [from, to).
func (db *DB) periodMetrics(ctx context.Context, q querier, customers []any, from, to time.Time) (map[int64][2]int64, error) {
	out := make(map[int64][2]int64, len(customers))
	err := db.chunk(len(customers), 1, func(lo, hi int) error {
		args := append([]any{ms(from), ms(to)}, customers[lo:hi]...)
		rows, err := q.QueryContext(ctx, `SELECT customer_id, coalesce(sum(total), 0), count(*) FROM orders
			WHERE customer_id IN (`+list(hi-lo, 3)+`) AND status = 'paid' AND ordered_at >= $1 AND ordered_at < $2
			GROUP BY customer_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, spend, n int64
			if err := rows.Scan(&id, &spend, &n); err != nil {
				return err
			}
			out[id] = [2]int64{spend, n}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("measure ranks: %w", err)
	}
	return out, nil
}

// currentRanks returns the rank codes stored for customers (absent: lowest).
func (db *DB) currentRanks(ctx context.Context, q querier, customers []any) (map[int64]string, error) {
	out := make(map[int64]string, len(customers))
	err := db.chunk(len(customers), 1, func(lo, hi int) error {
		rows, err := q.QueryContext(ctx, `SELECT customer_id, rank FROM loyalty_members WHERE customer_id IN (`+list(hi-lo, 1)+`)`, customers[lo:hi]...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var rank string
			if err := rows.Scan(&id, &rank); err != nil {
				return err
			}
			out[id] = rank
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read ranks: %w", err)
	}
	return out, nil
}

// evaluateRanks measures customers over the programme's window at now and
// records every change of rank: the member row, a rank_changes row and a
// Rank Changed event (the journey trigger).
func (db *DB) evaluateRanks(ctx context.Context, tx *Tx, prog *loyalty.Program, customers []int64, reason string, now time.Time) ([]loyalty.RankChange, error) {
	ids := int64s(customers)
	if len(ids) == 0 {
		return nil, nil
	}
	from, to := prog.Ranks.Window(now)
	metrics, err := db.periodMetrics(ctx, tx, ids, from, to)
	if err != nil {
		return nil, err
	}
	current, err := db.currentRanks(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	var changes []loyalty.RankChange
	for _, a := range ids {
		id := a.(int64)
		m := metrics[id]
		value := prog.Ranks.Value(m[0], m[1])
		stored, has := current[id]
		from := prog.Ranks.Lowest().Code
		if has {
			from = stored
		}
		next := prog.Ranks.TierFor(value)
		if next.Code == from {
			continue
		}
		changes = append(changes, loyalty.RankChange{CustomerID: id, From: from, To: next.Code,
			Direction: prog.Ranks.Direction(from, next.Code), Value: value, Reason: reason, ChangedAt: now.Truncate(time.Millisecond)})
	}
	if len(changes) == 0 {
		return nil, nil
	}
	rcIDs, err := db.Dialect.NextIDs(ctx, tx, "rank_changes", len(changes))
	if err != nil {
		return nil, err
	}
	evs := make([]loyaltyEvent, len(changes))
	for i := range changes {
		c := &changes[i]
		c.ID = rcIDs[i]
		evs[i] = loyaltyEvent{customer: c.CustomerID, name: loyalty.EventRankChanged, at: now, messageID: fmt.Sprintf("rank-change:%d", c.ID),
			props: map[string]any{"from": c.From, "to": c.To, "from_name": prog.Ranks.Current(c.From).Name, "to_name": prog.Ranks.Current(c.To).Name, "direction": c.Direction, "value": c.Value, "metric": string(prog.Ranks.Metric), "reason": c.Reason}}
	}
	_, err = db.insertMany(ctx, tx, `INSERT INTO rank_changes (id, customer_id, origin_customer_id, from_rank, to_rank, direction, metric_value, reason, changed_at)`,
		9, "", len(changes), func(i int, args []any) []any {
			c := &changes[i]
			return append(args, c.ID, c.CustomerID, c.CustomerID, c.From, c.To, c.Direction, c.Value, c.Reason, ms(now))
		})
	if err != nil {
		return nil, fmt.Errorf("record rank changes: %w", err)
	}
	_, err = db.insertMany(ctx, tx, `INSERT INTO loyalty_members (customer_id, rank, rank_since, metric_value, evaluated_at)`, 5,
		`ON CONFLICT (customer_id) DO UPDATE SET rank = excluded.rank, rank_since = excluded.rank_since, metric_value = excluded.metric_value, evaluated_at = excluded.evaluated_at`,
		len(changes), func(i int, args []any) []any {
			c := &changes[i]
			return append(args, c.CustomerID, c.To, ms(now), c.Value, ms(now))
		})
	if err != nil {
		return nil, fmt.Errorf("record ranks: %w", err)
	}
	if _, err := db.insertLoyaltyEvents(ctx, tx, evs); err != nil {
		return nil, err
	}
	return changes, nil
}

// queueRanks queues customers for rank evaluation.
func (db *DB) queueRanks(ctx context.Context, tx *Tx, customers []int64, now time.Time) error {
	ids := int64s(customers)
	_, err := db.insertMany(ctx, tx, `INSERT INTO rank_queue (customer_id, queued_at)`, 2, `ON CONFLICT (customer_id) DO NOTHING`, len(ids),
		func(i int, args []any) []any { return append(args, ids[i], ms(now)) })
	if err != nil {
		return fmt.Errorf("queue rank evaluation: %w", err)
	}
	return nil
}

// EvaluatePendingRanks evaluates the customers order imports queued, a
// thousand per transaction (serialised with imports), until the queue is
// empty. A queued customer merged since is evaluated as the customer that
// absorbed them.
func (db *DB) EvaluatePendingRanks(ctx context.Context) (loyalty.RankRun, error) {
	run := loyalty.RankRun{Changes: []loyalty.RankChange{}}
	prog, err := loadProgram(ctx, db.Read)
	if err != nil {
		return run, err
	}
	for {
		var n int
		err := db.inTx(ctx, func(tx *Tx) error {
			if err := db.Dialect.LockResolution(ctx, tx); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, `SELECT q.customer_id, coalesce(c.status, ''), c.merged_into FROM rank_queue q
				LEFT JOIN customers c ON c.id = q.customer_id ORDER BY q.customer_id LIMIT 1000`)
			if err != nil {
				return err
			}
			var queued []any
			var ids, merged []int64
			for rows.Next() {
				var id int64
				var status string
				var into sql.NullInt64
				if err := rows.Scan(&id, &status, &into); err != nil {
					rows.Close()
					return err
				}
				queued = append(queued, id)
				switch {
				case status == "active":
					ids = append(ids, id)
				case into.Valid:
					merged = append(merged, id)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n = len(queued); n == 0 {
				return nil
			}
			for _, id := range merged {
				if cid, err := activeCustomerID(ctx, tx, id); err == nil {
					ids = append(ids, cid)
				} else if errs.Code(err) == errs.Internal {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM rank_queue WHERE customer_id IN (`+list(n, 1)+`)`, queued...); err != nil {
				return err
			}
			if !prog.Enabled {
				return nil
			}
			changes, err := db.evaluateRanks(ctx, tx, &prog, ids, loyalty.ReasonOrder, db.Clock.Now())
			if err != nil {
				return err
			}
			run.Evaluated += len(int64s(ids))
			for _, c := range changes {
				run.Count(c)
			}
			run.Changes = append(run.Changes, changes...)
			return nil
		})
		if err != nil || n == 0 {
			return run, err
		}
	}
}

// EvaluateRanks evaluates the given customers, or with none every customer
// who may hold a rank above the lowest (the daily run: periods move on, so
// ranks fall as old orders leave the window). It works in transactions of
// a thousand customers, each serialised with order imports.
func (db *DB) EvaluateRanks(ctx context.Context, customerIDs []int64) (loyalty.RankRun, error) {
	var run loyalty.RankRun
	prog, err := loadProgram(ctx, db.Read)
	if err != nil {
		return run, err
	}
	now := db.Clock.Now()
	reason := "manual"
	ids := customerIDs
	if ids == nil {
		reason = loyalty.ReasonDaily
		if ids, err = db.rankCandidates(ctx, &prog, now); err != nil {
			return run, err
		}
	} else {
		for i, id := range ids {
			if ids[i], err = activeCustomerID(ctx, db.Read, id); err != nil {
				return run, err
			}
		}
	}
	run.Changes = []loyalty.RankChange{}
	for lo := 0; lo < len(ids); lo += 1000 {
		chunk := ids[lo:min(lo+1000, len(ids))]
		err := db.inTx(ctx, func(tx *Tx) error {
			if err := db.Dialect.LockResolution(ctx, tx); err != nil {
				return err
			}
			changes, err := db.evaluateRanks(ctx, tx, &prog, chunk, reason, now)
			if err != nil {
				return err
			}
			for _, c := range changes {
				run.Count(c)
			}
			run.Changes = append(run.Changes, changes...)
			return nil
		})
		if err != nil {
			return run, err
		}
		run.Evaluated += len(chunk)
	}
	return run, nil
}

// rankCandidates lists the active customers whose rank may differ from the
// lowest: those with a stored rank and those whose orders in the window
// reach the second-lowest tier.
func (db *DB) rankCandidates(ctx context.Context, prog *loyalty.Program, now time.Time) ([]int64, error) {
	seen := map[int64]bool{}
	var out []int64
	add := func(q string, args ...any) error {
		rows, err := db.Read.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return rows.Err()
	}
	if err := add(`SELECT m.customer_id FROM loyalty_members m JOIN customers c ON c.id = m.customer_id AND c.status = 'active' ORDER BY m.customer_id`); err != nil {
		return nil, err
	}
	tiers := prog.Ranks.Tiers
	if len(tiers) > 1 {
		threshold := tiers[len(tiers)-2].Min
		measure := "sum(total)"
		if prog.Ranks.Metric == loyalty.MetricOrders {
			measure = "count(*)"
		}
		from, to := prog.Ranks.Window(now)
		if err := add(`SELECT customer_id FROM orders WHERE status = 'paid' AND ordered_at >= $1 AND ordered_at < $2
			GROUP BY customer_id HAVING `+measure+` >= $3 ORDER BY customer_id`, ms(from), ms(to), threshold); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RankHistory lists a customer's rank changes, newest first.
func (db *DB) RankHistory(ctx context.Context, customerID int64) ([]loyalty.RankChange, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	return db.rankChanges(ctx, cid, 1000)
}

func (db *DB) rankChanges(ctx context.Context, cid int64, limit int) ([]loyalty.RankChange, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_id, from_rank, to_rank, direction, metric_value, reason, changed_at
		FROM rank_changes WHERE customer_id = $1 ORDER BY changed_at DESC, id DESC LIMIT $2`, cid, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []loyalty.RankChange{}
	for rows.Next() {
		var c loyalty.RankChange
		var at int64
		if err := rows.Scan(&c.ID, &c.CustomerID, &c.From, &c.To, &c.Direction, &c.Value, &c.Reason, &at); err != nil {
			return nil, err
		}
		c.ChangedAt = fromMS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RankReport is the rank distribution at to and how customers moved between
// the ranks they held at from and at to, from the rank history. A customer
// without history holds the lowest tier; one created after from is "new".
func (db *DB) RankReport(ctx context.Context, from, to time.Time) (*loyalty.RankReport, error) {
	prog, err := loadProgram(ctx, db.Read)
	if err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("rank report: from must be before to")
	}
	lowest := prog.Ranks.Lowest().Code
	known := func(code string) string { return prog.Ranks.Current(code).Code }
	moves := map[[2]string]int64{}
	rows, err := db.Read.QueryContext(ctx, `SELECT rc.customer_id, c.created_at, rc.to_rank, rc.changed_at FROM rank_changes rc
		JOIN customers c ON c.id = rc.customer_id AND c.status = 'active'
		WHERE rc.changed_at <= $1 ORDER BY rc.customer_id, rc.changed_at, rc.id`, ms(to))
	if err != nil {
		return nil, err
	}
	var cur int64 = -1
	var atFrom, atTo string
	flush := func() {
		if cur >= 0 {
			moves[[2]string{atFrom, atTo}]++
		}
	}
	for rows.Next() {
		var id, created, changed int64
		var rank string
		if err := rows.Scan(&id, &created, &rank, &changed); err != nil {
			rows.Close()
			return nil, err
		}
		if id != cur {
			flush()
			cur, atTo = id, lowest
			atFrom = lowest
			if fromMS(created).After(from) {
				atFrom = loyalty.NewRank
			}
		}
		if !fromMS(changed).After(from) {
			atFrom = known(rank)
		}
		atTo = known(rank)
	}
	flush()
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var before, after sql.NullInt64
	err = db.Read.QueryRowContext(ctx, `SELECT sum(CASE WHEN created_at <= $1 THEN 1 ELSE 0 END), sum(CASE WHEN created_at > $1 THEN 1 ELSE 0 END)
		FROM customers c WHERE c.status = 'active' AND c.created_at <= $2
		AND NOT EXISTS (SELECT 1 FROM rank_changes rc WHERE rc.customer_id = c.id AND rc.changed_at <= $2)`, ms(from), ms(to)).Scan(&before, &after)
	if err != nil {
		return nil, err
	}
	moves[[2]string{lowest, lowest}] += before.Int64
	moves[[2]string{loyalty.NewRank, lowest}] += after.Int64
	rep := &loyalty.RankReport{From: from, To: to}
	prog.Ranks.Tally(rep, moves)
	return rep, nil
}

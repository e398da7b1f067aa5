package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
)

// mergeInTx folds loser into winner: every row of the loser moves to the
// winner (keeping its origin), the winner's empty profile fields are filled
// from the loser, and the merge is recorded with the winner's profile as it
// was, so that Unmerge can restore both.
func (db *DB) mergeInTx(ctx context.Context, tx *Tx, winner, loser int64, via identity.Identifier, reason, actor string, now time.Time) (int64, error) {
	if winner == loser {
		return 0, errs.Errorf(errs.Invalid, "cannot merge customer %d with itself", winner)
	}
	w, err := scanCustomer(tx.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, winner))
	if err != nil {
		return 0, notFound(err, "customer", winner)
	}
	l, err := scanCustomer(tx.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, loser))
	if err != nil {
		return 0, notFound(err, "customer", loser)
	}
	if w.Status != customer.Active || l.Status != customer.Active {
		return 0, errs.Errorf(errs.Conflict, "customers %d and %d must both be active to merge", winner, loser)
	}
	before, _ := json.Marshal(w.Profile)
	// Points debits of either customer wait, so none lands on the loser
	// after its ledger moved (lockAccounts).
	if err := db.lockAccounts(ctx, tx, []int64{winner, loser}); err != nil {
		return 0, err
	}
	for _, t := range customerTables {
		if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET customer_id = $1 WHERE customer_id = $2`, winner, loser); err != nil {
			return 0, fmt.Errorf("merge: move %s: %w", t, err)
		}
	}
	if w.Profile.Fill(l.Profile) || l.CreatedAt.Before(w.CreatedAt) {
		if l.CreatedAt.Before(w.CreatedAt) {
			w.CreatedAt = l.CreatedAt
		}
		if err := db.saveProfile(ctx, tx, w, now); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE customers SET status = 'merged', merged_into = $1, updated_at = $2 WHERE id = $3`,
		winner, ms(now), loser); err != nil {
		return 0, fmt.Errorf("merge: mark loser: %w", err)
	}
	if err := bumpIdentityGeneration(ctx, tx); err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO merges (winner_id, loser_id, via_kind, via_source, via_value, reason, actor, winner_before, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		winner, loser, string(via.Kind), via.Source, via.Value, reason, actor, string(before), ms(now)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("merge: record: %w", err)
	}
	if reason != "auto" { // staff merges are audited; automatic ones are in merges
		if err := db.auditTx(ctx, tx, actor, "customer.merge", "customer:"+itoa64(winner), fmt.Sprintf("merged customer %d into %d (%s, merge %d)", loser, winner, reason, id)); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE merge_candidates SET status = 'approved', decided_at = $1, decided_by = $2
		WHERE status = 'pending' AND ((customer_a = $3 AND customer_b = $4) OR (customer_a = $4 AND customer_b = $3))`,
		ms(now), actor, winner, loser); err != nil {
		return 0, err
	}
	if err := db.markScoresDirty(ctx, tx, []int64{winner, loser}); err != nil {
		return 0, err
	}
	if err := db.markChanged(ctx, tx, []int64{winner, loser}, now); err != nil {
		return 0, err
	}
	return id, db.refreshAggregates(ctx, tx, []any{winner})
}

// saveProfile writes a customer's profile, attributes and created_at.
func (db *DB) saveProfile(ctx context.Context, tx *Tx, c *customer.Customer, now time.Time) error {
	args := []any{c.ID}
	for _, v := range c.Profile.Values() {
		args = append(args, v)
	}
	k := len(args) + 1
	args = append(args, attrsJSON(c.Attributes), customer.SearchText(c.Profile), ms(c.CreatedAt), ms(now))
	_, err := tx.ExecContext(ctx, `UPDATE customers SET `+profileSet(2)+
		`, attributes = $`+itoa(k)+`, search_text = $`+itoa(k+1)+`, created_at = $`+itoa(k+2)+`, updated_at = $`+itoa(k+3)+
		` WHERE id = $1`, args...)
	if err != nil {
		return fmt.Errorf("save customer %d: %w", c.ID, err)
	}
	return nil
}

// MergeCustomers merges loser into winner by hand.
func (db *DB) MergeCustomers(ctx context.Context, winner, loser int64, actor string) (int64, error) {
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		if err := db.Dialect.LockResolution(ctx, tx); err != nil {
			return err
		}
		var err error
		id, err = db.mergeInTx(ctx, tx, winner, loser, identity.Identifier{Kind: "manual", Value: ""}, "manual", actor, db.Clock.Now())
		return err
	})
	if err == nil {
		db.notifyChanged()
	}
	return id, err
}

// Unmerge undoes a merge: the loser becomes active again and takes back every
// row that arrived with it (or with profiles merged into it before), its
// identifiers included; profile fields the winner got from it are cleared.
func (db *DB) Unmerge(ctx context.Context, mergeID int64, actor string) error {
	err := db.inTx(ctx, func(tx *Tx) error {
		if err := db.Dialect.LockResolution(ctx, tx); err != nil {
			return err
		}
		var (
			winner, loser int64
			before        string
			undone        sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT winner_id, loser_id, winner_before, undone_at FROM merges WHERE id = $1`, mergeID).
			Scan(&winner, &loser, &before, &undone)
		if err != nil {
			return notFound(err, "merge", mergeID)
		}
		if undone.Valid {
			return errs.Errorf(errs.Conflict, "merge %d was already undone", mergeID)
		}
		l, err := scanCustomer(tx.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, loser))
		if err != nil {
			return notFound(err, "customer", loser)
		}
		if l.Status != customer.Merged || l.MergedInto != winner {
			return errs.Errorf(errs.Conflict, "customer %d is no longer merged into %d", loser, winner)
		}
		// The loser's rows now sit wherever the winner went since.
		holder, err := canonical(ctx, tx, winner)
		if err != nil {
			return err
		}
		if err := db.lockAccounts(ctx, tx, []int64{loser, holder}); err != nil {
			return err
		}
		sub := `WITH RECURSIVE sub(id) AS (SELECT CAST($1 AS BIGINT) UNION ALL SELECT c.id FROM customers c JOIN sub ON c.merged_into = sub.id WHERE c.status = 'merged')`
		for _, t := range customerTables {
			if _, err := tx.ExecContext(ctx, sub+` UPDATE `+t+` SET customer_id = $1 WHERE customer_id = $2 AND origin_customer_id IN (SELECT id FROM sub)`,
				loser, holder); err != nil {
				return fmt.Errorf("unmerge: move %s back: %w", t, err)
			}
		}
		now := db.Clock.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET status = 'active', merged_into = NULL, updated_at = $1 WHERE id = $2`, ms(now), loser); err != nil {
			return err
		}
		if err := bumpIdentityGeneration(ctx, tx); err != nil {
			return err
		}
		if err := db.auditTx(ctx, tx, actor, "customer.unmerge", "customer:"+itoa64(loser), fmt.Sprintf("split customer %d from %d (merge %d)", loser, winner, mergeID)); err != nil {
			return err
		}
		// Clear the fields the winner only had because of the loser.
		w, err := scanCustomer(tx.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, winner))
		if err != nil {
			return err
		}
		var was customer.Profile
		if err := json.Unmarshal([]byte(before), &was); err != nil {
			return fmt.Errorf("unmerge: read saved profile: %w", err)
		}
		cur, old, lv := w.Profile.Pointers(), was.Pointers(), l.Profile.Pointers()
		for i := range cur {
			c, o, lo := cur[i].(*string), old[i].(*string), lv[i].(*string)
			if *o == "" && *c != "" && *c == *lo {
				*c = ""
			}
		}
		if err := db.saveProfile(ctx, tx, w, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE merges SET undone_at = $1, undone_by = $2 WHERE id = $3`, ms(now), actor, mergeID); err != nil {
			return err
		}
		if err := db.markScoresDirty(ctx, tx, []int64{loser, holder, winner}); err != nil {
			return err
		}
		if err := db.markChanged(ctx, tx, []int64{loser, holder, winner}, now); err != nil {
			return err
		}
		return db.refreshAggregates(ctx, tx, []any{loser, holder, winner})
	})
	if err == nil {
		db.notifyChanged()
	}
	return err
}

// canonical follows merged_into links to the customer that holds id's data.
func canonical(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id int64) (int64, error) {
	for range 64 {
		var into sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT merged_into FROM customers WHERE id = $1`, id).Scan(&into); err != nil {
			return 0, notFound(err, "customer", id)
		}
		if !into.Valid {
			return id, nil
		}
		id = into.Int64
	}
	return 0, fmt.Errorf("customer %d: merge chain too long", id)
}

// Merges lists the merges a customer took part in, newest first.
func (db *DB) Merges(ctx context.Context, customerID int64) ([]customer.MergeRecord, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT id, winner_id, loser_id, via_kind, via_source, via_value, reason, actor, created_at, undone_at, undone_by
		FROM merges WHERE winner_id = $1 OR loser_id = $1 ORDER BY id DESC`, customerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []customer.MergeRecord{}
	for rows.Next() {
		var m customer.MergeRecord
		var kind string
		var created int64
		var undone sql.NullInt64
		if err := rows.Scan(&m.ID, &m.WinnerID, &m.LoserID, &kind, &m.Via.Source, &m.Via.Value, &m.Reason, &m.Actor, &created, &undone, &m.UndoneBy); err != nil {
			return nil, err
		}
		m.Via.Kind = identity.Kind(kind)
		m.CreatedAt = fromMS(created)
		m.UndoneAt = fromNullMS(undone)
		out = append(out, m)
	}
	return out, rows.Err()
}

// MergeCandidates lists links waiting for (or decided by) a person.
func (db *DB) MergeCandidates(ctx context.Context, status string, limit int) ([]customer.MergeCandidate, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_a, customer_b, via_kind, via_source, via_value, status, created_at
		FROM merge_candidates WHERE ($1 = '' OR status = $1) ORDER BY id LIMIT $2`, status, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanCandidates(rows)
}

func scanCandidates(rows *sql.Rows) ([]customer.MergeCandidate, error) {
	out := []customer.MergeCandidate{}
	for rows.Next() {
		var c customer.MergeCandidate
		var kind string
		var created int64
		if err := rows.Scan(&c.ID, &c.A, &c.B, &kind, &c.Via.Source, &c.Via.Value, &c.Status, &created); err != nil {
			return nil, err
		}
		c.Via.Kind = identity.Kind(kind)
		c.CreatedAt = fromMS(created)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DecideMergeCandidate approves (merging the two customers) or rejects a
// waiting link.
func (db *DB) DecideMergeCandidate(ctx context.Context, id int64, approve bool, actor string) error {
	defer db.notifyChanged()
	return db.inTx(ctx, func(tx *Tx) error {
		if err := db.Dialect.LockResolution(ctx, tx); err != nil {
			return err
		}
		var a, b int64
		var kind, source, value, status string
		err := tx.QueryRowContext(ctx, `SELECT customer_a, customer_b, via_kind, via_source, via_value, status FROM merge_candidates WHERE id = $1`, id).
			Scan(&a, &b, &kind, &source, &value, &status)
		if err != nil {
			return notFound(err, "merge candidate", id)
		}
		if status != "pending" {
			return errs.Errorf(errs.Conflict, "merge candidate %d is already %s", id, status)
		}
		now := db.Clock.Now()
		if !approve {
			if _, err := tx.ExecContext(ctx, `UPDATE merge_candidates SET status = 'rejected', decided_at = $1, decided_by = $2 WHERE id = $3`, ms(now), actor, id); err != nil {
				return err
			}
			return db.auditTx(ctx, tx, actor, "customer.merge_reject", "merge_candidate:"+itoa64(id), fmt.Sprintf("kept customers %d and %d apart", a, b))
		}
		if a, err = canonical(ctx, tx, a); err != nil {
			return err
		}
		if b, err = canonical(ctx, tx, b); err != nil {
			return err
		}
		if a != b {
			if _, err := db.mergeInTx(ctx, tx, min(a, b), max(a, b), identity.Identifier{Kind: identity.Kind(kind), Source: source, Value: value}, "approved", actor, now); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE merge_candidates SET status = 'approved', decided_at = $1, decided_by = $2 WHERE id = $3`, ms(now), actor, id)
		return err
	})
}

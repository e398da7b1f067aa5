package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// entryRow is a points ledger row to write. A credit (lot 0) opens a lot
// whose id is its own.
type entryRow struct {
	id, customer, origin, lot int64
	kind                      loyalty.EntryKind
	points                    int64
	expires                   *time.Time
	at                        time.Time
	orderID, redemptionID     int64
	basis                     int64 // earn credits: the yen earned on
	ref, reason, actor        string
}

const entryInsertHead = `INSERT INTO point_entries (id, customer_id, origin_customer_id, lot_id, kind, points, expires_at, occurred_at,
	order_id, redemption_id, basis, ref, reason, actor, created_at)`

// insertEntries appends rows to the ledger, giving each an id (and each
// credit its lot id). It returns the ids in order.
func (db *DB) insertEntries(ctx context.Context, tx *Tx, rows []entryRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids, err := db.Dialect.NextIDs(ctx, tx, "point_entries", len(rows))
	if err != nil {
		return fmt.Errorf("reserve ledger ids: %w", err)
	}
	for i := range rows {
		rows[i].id = ids[i]
		if rows[i].lot == 0 {
			rows[i].lot = ids[i]
		}
	}
	now := ms(db.Clock.Now())
	_, err = db.insertMany(ctx, tx, entryInsertHead, 15, "", len(rows), func(i int, args []any) []any {
		e := &rows[i]
		return append(args, e.id, e.customer, e.origin, e.lot, string(e.kind), e.points, timePtrMS(e.expires), ms(e.at),
			nullID(e.orderID), nullID(e.redemptionID), nullID(e.basis), e.ref, e.reason, e.actor, now)
	})
	if err != nil {
		return fmt.Errorf("write points ledger: %w", err)
	}
	return nil
}

// lockAccounts serialises point debits per customer: on PostgreSQL the
// upsert holds each account row until the transaction ends (taken in id
// order, so two transactions never wait on each other in a circle); on
// SQLite the write transaction is exclusive already and this is a cheap
// write.
func (db *DB) lockAccounts(ctx context.Context, tx *Tx, customers []int64) error {
	ids := int64s(customers)
	now := ms(db.Clock.Now())
	return db.chunk(len(ids), 2, func(lo, hi int) error {
		args := make([]any, 0, 2*(hi-lo))
		for _, id := range ids[lo:hi] {
			args = append(args, id, now)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO point_accounts (customer_id, locked_at) VALUES `+placeholders(hi-lo, 2, 1)+
			` ON CONFLICT (customer_id) DO UPDATE SET locked_at = excluded.locked_at`, args...)
		if err != nil {
			return fmt.Errorf("lock point accounts: %w", err)
		}
		return nil
	})
}

// Lot selections for openLots.
const (
	lotsUsable = iota // not expired: what the customer can spend
	lotsDue           // past their expiry with points left: to expire
	lotsAny           // every lot with points left
)

// openLots returns the lots with points left of the given customers, in
// FIFO order per customer.
func (db *DB) openLots(ctx context.Context, q querier, customers []int64, now time.Time, which int) (map[int64][]loyalty.OpenLot, error) {
	ids := int64s(customers)
	out := map[int64][]loyalty.OpenLot{}
	cond := ""
	switch which {
	case lotsUsable:
		cond = ` AND (e.expires_at IS NULL OR e.expires_at > $1)`
	case lotsDue:
		cond = ` AND e.expires_at IS NOT NULL AND e.expires_at <= $1`
	case lotsAny:
		cond = ` AND CAST($1 AS BIGINT) > 0`
	}
	err := db.chunk(len(ids), 1, func(lo, hi int) error {
		args := append([]any{ms(now)}, ids[lo:hi]...)
		rows, err := q.QueryContext(ctx, `SELECT e.lot_id, e.customer_id, e.origin_customer_id, e.expires_at, sum(e.points), c.kind, c.occurred_at
			FROM point_entries e JOIN point_entries c ON c.id = e.lot_id
			WHERE e.customer_id IN (`+list(hi-lo, 2)+`)`+cond+`
			GROUP BY e.lot_id, e.customer_id, e.origin_customer_id, e.expires_at, c.kind, c.occurred_at
			HAVING sum(e.points) > 0`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l loyalty.OpenLot
			var exp sql.NullInt64
			var kind string
			var earned int64
			if err := rows.Scan(&l.LotID, &l.CustomerID, &l.OriginID, &exp, &l.Remaining, &kind, &earned); err != nil {
				return err
			}
			l.ExpiresAt, l.Kind, l.EarnedAt = fromNullMS(exp), loyalty.EntryKind(kind), fromMS(earned)
			out[l.CustomerID] = append(out[l.CustomerID], l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read point lots: %w", err)
	}
	for _, lots := range out {
		loyalty.SortFIFO(lots)
	}
	return out, nil
}

// usableBalance is a customer's points not yet expired.
func usableBalance(ctx context.Context, q querier, customer int64, now time.Time) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(sum(points), 0) FROM point_entries
		WHERE customer_id = $1 AND (expires_at IS NULL OR expires_at > $2)`, customer, ms(now)).Scan(&n)
	return n, err
}

// debitRows turns takes into ledger rows of kind taking points.
func debitRows(takes []loyalty.Take, kind loyalty.EntryKind, at time.Time, base entryRow) []entryRow {
	out := make([]entryRow, 0, len(takes))
	for _, t := range takes {
		r := base
		r.customer, r.origin, r.lot, r.kind, r.points, r.expires, r.at = t.Lot.CustomerID, t.Lot.OriginID, t.Lot.LotID, kind, -t.Points, t.Lot.ExpiresAt, at
		out = append(out, r)
	}
	return out
}

// checkNotNegative guards the ledger's rule: a balance never goes below 0.
func checkNotNegative(ctx context.Context, tx *Tx, customer int64, now time.Time) (int64, error) {
	b, err := usableBalance(ctx, tx, customer, now)
	if err != nil {
		return 0, err
	}
	if b < 0 {
		return 0, fmt.Errorf("points balance of customer %d would be %d: refused", customer, b)
	}
	return b, nil
}

// PointsBalance returns a customer's usable points and the lots holding them.
func (db *DB) PointsBalance(ctx context.Context, customerID int64) (*loyalty.Balance, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	now := db.Clock.Now()
	lots, err := db.openLots(ctx, db.Read, []int64{cid}, now, lotsUsable)
	if err != nil {
		return nil, err
	}
	b := &loyalty.Balance{CustomerID: cid, Lots: lots[cid]}
	if b.Lots == nil {
		b.Lots = []loyalty.OpenLot{}
	}
	for _, l := range b.Lots {
		b.Points += l.Remaining
	}
	b.Expiring = loyalty.Expiring(b.Lots)
	if b.Expiring == nil {
		b.Expiring = []loyalty.ExpiringAmount{}
	}
	return b, nil
}

// PointsHistory lists a customer's ledger, newest first; beforeID pages.
func (db *DB) PointsHistory(ctx context.Context, customerID int64, limit int, beforeID int64) ([]loyalty.Entry, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if beforeID <= 0 {
		beforeID = 1<<62 - 1
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_id, lot_id, kind, points, expires_at, occurred_at, order_id, redemption_id, reason, actor
		FROM point_entries WHERE customer_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, cid, beforeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []loyalty.Entry{}
	for rows.Next() {
		var e loyalty.Entry
		var kind string
		var exp, orderID, redID sql.NullInt64
		var at int64
		if err := rows.Scan(&e.ID, &e.CustomerID, &e.LotID, &kind, &e.Points, &exp, &at, &orderID, &redID, &e.Reason, &e.Actor); err != nil {
			return nil, err
		}
		e.Kind, e.ExpiresAt, e.At, e.OrderID, e.RedemptionID = loyalty.EntryKind(kind), fromNullMS(exp), fromMS(at), orderID.Int64, redID.Int64
		out = append(out, e)
	}
	return out, rows.Err()
}

// AdjustPoints gives points (a new lot) or takes them (oldest lots first)
// by hand. Taking more than the customer holds is refused.
func (db *DB) AdjustPoints(ctx context.Context, a loyalty.Adjustment) (loyalty.AdjustResult, error) {
	if err := a.Validate(); err != nil {
		return loyalty.AdjustResult{}, err
	}
	var res loyalty.AdjustResult
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := activeCustomerID(ctx, tx, a.CustomerID)
		if err != nil {
			return err
		}
		now := db.Clock.Now()
		res = loyalty.AdjustResult{CustomerID: cid, Points: a.Points}
		ref := ""
		if a.Key != "" {
			ref = "adjust:" + a.Key
			var owner, pts int64
			err := tx.QueryRowContext(ctx, `SELECT customer_id, points FROM point_entries WHERE ref = $1`, ref).Scan(&owner, &pts)
			switch {
			case err == nil:
				if owner != cid || (pts > 0) != (a.Points > 0) {
					return errs.Errorf(errs.Conflict, "adjustment key %q was used for another adjustment", a.Key)
				}
				res.Replayed = true
				res.Balance, err = usableBalance(ctx, tx, cid, now)
				return err
			case !isNoRows(err):
				return err
			}
		}
		if err := db.lockAccounts(ctx, tx, []int64{cid}); err != nil {
			return err
		}
		var rows []entryRow
		if a.Points > 0 {
			prog, err := loadProgram(ctx, tx)
			if err != nil {
				return err
			}
			exp := a.ExpiresAt
			if exp == nil {
				exp = prog.Points.ExpiresAt(now)
			}
			rows = []entryRow{{customer: cid, origin: cid, kind: loyalty.Adjust, points: a.Points, expires: exp, at: now, ref: ref, reason: a.Reason, actor: a.Actor}}
		} else {
			lots, err := db.openLots(ctx, tx, []int64{cid}, now, lotsUsable)
			if err != nil {
				return err
			}
			takes, short := loyalty.PlanDebit(lots[cid], -a.Points)
			if short > 0 {
				return errs.Errorf(errs.Conflict, "customer %d holds %d points; cannot take %d", cid, -a.Points-short, -a.Points)
			}
			rows = debitRows(takes, loyalty.Adjust, now, entryRow{reason: a.Reason, actor: a.Actor})
			rows[0].ref = ref
		}
		if err := db.insertEntries(ctx, tx, rows); err != nil {
			return err
		}
		res.Balance, err = checkNotNegative(ctx, tx, cid, now)
		return err
	})
	return res, err
}

// RedeemPoints spends points at checkout, oldest-expiring lots first. The
// idempotency key makes it safe to retry: a key already used returns the
// stored redemption (Replayed) and spends nothing. Redemptions of one
// customer run one at a time (lockAccounts), so concurrent requests can
// never spend more than the balance.
func (db *DB) RedeemPoints(ctx context.Context, r loyalty.RedeemRequest) (*loyalty.Redemption, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var out *loyalty.Redemption
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := activeCustomerID(ctx, tx, r.CustomerID)
		if err != nil {
			return err
		}
		if err := db.lockAccounts(ctx, tx, []int64{cid}); err != nil {
			return err
		}
		now := db.Clock.Now()
		prev, err := redemptionByKey(ctx, tx, r.IdempotencyKey)
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.CustomerID != cid || prev.Points != r.Points {
				return errs.Errorf(errs.Conflict, "idempotency key %q was used for a different redemption (customer %d, %d points)", r.IdempotencyKey, prev.CustomerID, prev.Points)
			}
			prev.Replayed = true
			prev.Balance, err = usableBalance(ctx, tx, cid, now)
			out = prev
			return err
		}
		lots, err := db.openLots(ctx, tx, []int64{cid}, now, lotsUsable)
		if err != nil {
			return err
		}
		takes, short := loyalty.PlanDebit(lots[cid], r.Points)
		if short > 0 {
			return &errs.Error{Code: errs.Conflict, Field: "points", Message: fmt.Sprintf("insufficient points: %d available, %d asked", r.Points-short, r.Points)}
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO point_redemptions (customer_id, origin_customer_id, idempotency_key, points, order_ref, status, actor, created_at)
			VALUES ($1, $1, $2, $3, $4, $5, $6, $7) RETURNING id`, cid, r.IdempotencyKey, r.Points, r.OrderRef, loyalty.RedemptionApplied, r.Actor, ms(now)).Scan(&id); err != nil {
			return fmt.Errorf("record redemption: %w", err)
		}
		if err := db.insertEntries(ctx, tx, debitRows(takes, loyalty.Redeem, now, entryRow{redemptionID: id, actor: r.Actor, reason: r.OrderRef})); err != nil {
			return err
		}
		bal, err := checkNotNegative(ctx, tx, cid, now)
		if err != nil {
			return err
		}
		out = &loyalty.Redemption{ID: id, CustomerID: cid, Points: r.Points, IdempotencyKey: r.IdempotencyKey, OrderRef: r.OrderRef,
			Status: loyalty.RedemptionApplied, CreatedAt: now.Truncate(time.Millisecond), Balance: bal}
		return nil
	})
	return out, err
}

func redemptionByKey(ctx context.Context, q querier, key string) (*loyalty.Redemption, error) {
	var r loyalty.Redemption
	var created int64
	var cancelled sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT id, customer_id, idempotency_key, points, order_ref, status, created_at, cancelled_at
		FROM point_redemptions WHERE idempotency_key = $1`, key).Scan(&r.ID, &r.CustomerID, &r.IdempotencyKey, &r.Points, &r.OrderRef, &r.Status, &created, &cancelled)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.CancelledAt = fromMS(created), fromNullMS(cancelled)
	return &r, nil
}

// CancelRedemption undoes a redemption (the order was cancelled): its
// points return to the lots they came from, keeping their expiry. Calling
// it again changes nothing.
func (db *DB) CancelRedemption(ctx context.Context, customerID int64, key, actor string) (*loyalty.Redemption, error) {
	var out *loyalty.Redemption
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := canonical(ctx, tx, customerID)
		if err != nil {
			return err
		}
		red, err := redemptionByKey(ctx, tx, strings.TrimSpace(key))
		if err != nil {
			return err
		}
		if red == nil || red.CustomerID != cid {
			return errs.Errorf(errs.NotFound, "customer %d has no redemption with key %q", customerID, key)
		}
		if err := db.lockAccounts(ctx, tx, []int64{cid}); err != nil {
			return err
		}
		now := db.Clock.Now()
		out = red
		if red.Status == loyalty.RedemptionCancelled {
			red.Replayed = true
			red.Balance, err = usableBalance(ctx, tx, cid, now)
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT customer_id, origin_customer_id, lot_id, points, expires_at FROM point_entries
			WHERE redemption_id = $1 AND kind = $2 ORDER BY id`, red.ID, string(loyalty.Redeem))
		if err != nil {
			return err
		}
		var back []entryRow
		for rows.Next() {
			e := entryRow{kind: loyalty.RedeemCancel, at: now, redemptionID: red.ID, actor: actor}
			var exp sql.NullInt64
			if err := rows.Scan(&e.customer, &e.origin, &e.lot, &e.points, &exp); err != nil {
				rows.Close()
				return err
			}
			e.points, e.expires = -e.points, fromNullMS(exp)
			back = append(back, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := db.insertEntries(ctx, tx, back); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE point_redemptions SET status = $1, cancelled_at = $2 WHERE id = $3`,
			loyalty.RedemptionCancelled, ms(now), red.ID); err != nil {
			return err
		}
		red.Status = loyalty.RedemptionCancelled
		t := now.Truncate(time.Millisecond)
		red.CancelledAt = &t
		red.Balance, err = usableBalance(ctx, tx, cid, now)
		return err
	})
	return out, err
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// ImportPointBalances carries balances over from another system: each row
// opens a lot of kind import for the customer it names. Rows are keyed by
// batch, customer and expiry, so importing the same file under the same
// batch name again adds nothing. Rows naming no known customer are
// rejected; the rest are written in one transaction.
func (db *DB) ImportPointBalances(ctx context.Context, batch string, rows []loyalty.BalanceRow, dryRun bool) (loyalty.BalanceImportResult, error) {
	batch = strings.TrimSpace(batch)
	if batch == "" {
		return loyalty.BalanceImportResult{}, errs.FieldErrorf("batch", "name the import (e.g. the file name), so that running it twice adds nothing")
	}
	var res loyalty.BalanceImportResult
	err := db.inTx(ctx, func(tx *Tx) error {
		res = loyalty.BalanceImportResult{Rejected: []loyalty.RowError{}}
		now := db.Clock.Now()
		seen := map[string]int{}
		var entries []entryRow
		for i := range rows {
			row := &rows[i]
			reject := func(format string, args ...any) {
				res.Rejected = append(res.Rejected, loyalty.RowError{Line: row.Line, Reason: fmt.Sprintf(format, args...)})
			}
			if row.Points <= 0 {
				reject("points must be above 0")
				continue
			}
			cid, err := db.balanceRowCustomer(ctx, tx, row)
			if err != nil {
				if errs.Code(err) == errs.Internal {
					return err
				}
				reject("%s", errs.Message(err))
				continue
			}
			ref := "import:" + batch + ":" + row.Key()
			if prev, dup := seen[ref]; dup {
				reject("same customer and expiry as line %d; add the points up in one row", prev)
				continue
			}
			seen[ref] = row.Line
			var exists int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM point_entries WHERE ref = $1`, ref).Scan(&exists); err != nil {
				return err
			}
			if exists > 0 {
				res.Skipped++
				continue
			}
			entries = append(entries, entryRow{customer: cid, origin: cid, kind: loyalty.Import, points: row.Points, expires: row.ExpiresAt,
				at: now, ref: ref, reason: row.Note, actor: "import:" + batch})
			res.Imported++
			res.Points += row.Points
		}
		if err := db.insertEntries(ctx, tx, entries); err != nil {
			return err
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return res, err
}

// balanceRowCustomer finds the customer a balance row names.
func (db *DB) balanceRowCustomer(ctx context.Context, tx *Tx, row *loyalty.BalanceRow) (int64, error) {
	named := 0
	for _, set := range []bool{row.CustomerID != 0, row.Email != "", row.Phone != "", row.ExternalID != ""} {
		if set {
			named++
		}
	}
	if named != 1 {
		return 0, errs.Errorf(errs.Invalid, "name the customer by exactly one of customer_id, email, phone or external_id")
	}
	if row.CustomerID != 0 {
		return activeCustomerID(ctx, tx, row.CustomerID)
	}
	var id identity.Identifier
	var err error
	switch {
	case row.Email != "":
		id, err = identity.EmailID(row.Email)
	case row.Phone != "":
		id, err = identity.PhoneID(row.Phone)
	default:
		if row.Source == "" {
			return 0, errs.Errorf(errs.Invalid, "external_id needs a source (the system the id comes from)")
		}
		id = identity.ExternalID(row.Source, row.ExternalID)
	}
	if err != nil {
		return 0, err
	}
	var cid int64
	err = tx.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE kind = $1 AND source = $2 AND value = $3`,
		string(id.Kind), id.Source, id.Value).Scan(&cid)
	if isNoRows(err) {
		return 0, errs.Errorf(errs.NotFound, "no customer with %s %s (import customers first)", id.Kind, id.Value)
	}
	if err != nil {
		return 0, err
	}
	return activeCustomerID(ctx, tx, cid)
}

// ExpirePoints lapses every lot past its expiry (an expire entry for what
// is left of it, dated at the expiry) and fires the expiring-soon trigger
// (a Points Expiring event per customer and day) for points lapsing within
// the programme's expiring_soon_days.
func (db *DB) ExpirePoints(ctx context.Context) (loyalty.ExpiryResult, error) {
	var res loyalty.ExpiryResult
	now := db.Clock.Now()
	prog, err := loadProgram(ctx, db.Read)
	if err != nil {
		return res, err
	}
	due, err := db.customersWithLots(ctx, `e.expires_at IS NOT NULL AND e.expires_at <= $1`, ms(now))
	if err != nil {
		return res, err
	}
	for lo := 0; lo < len(due); lo += 500 {
		chunk := due[lo:min(lo+500, len(due))]
		err := db.inTx(ctx, func(tx *Tx) error {
			if err := db.lockAccounts(ctx, tx, chunk); err != nil {
				return err
			}
			lots, err := db.openLots(ctx, tx, chunk, now, lotsDue)
			if err != nil {
				return err
			}
			var rows []entryRow
			for _, ls := range lots {
				for _, l := range ls {
					rows = append(rows, entryRow{customer: l.CustomerID, origin: l.OriginID, lot: l.LotID, kind: loyalty.Expire,
						points: -l.Remaining, expires: l.ExpiresAt, at: *l.ExpiresAt, actor: "system"})
					res.Lots++
					res.Points += l.Remaining
				}
			}
			res.Customers += len(lots)
			return db.insertEntries(ctx, tx, rows)
		})
		if err != nil {
			return res, err
		}
	}
	if prog.Points.ExpiringSoonDays > 0 {
		soon, err := db.ExpiringPoints(ctx, prog.Points.ExpiringSoonDays)
		if err != nil {
			return res, err
		}
		evs := make([]loyaltyEvent, 0, len(soon))
		for _, s := range soon {
			evs = append(evs, loyaltyEvent{customer: s.CustomerID, name: loyalty.EventPointsExpiring, at: now,
				messageID: fmt.Sprintf("points-expiring:%d:%s", s.CustomerID, s.ValidThrough),
				props:     map[string]any{"points": s.Points, "valid_through": s.ValidThrough.String()}})
		}
		for lo := 0; lo < len(evs); lo += 1000 {
			err := db.inTx(ctx, func(tx *Tx) error {
				n, err := db.insertLoyaltyEvents(ctx, tx, evs[lo:min(lo+1000, len(evs))])
				res.ExpiringSoonEvents += n
				return err
			})
			if err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// customersWithLots lists the customers having a lot with points left among
// the entries matching cond (which may use $1 = arg).
func (db *DB) customersWithLots(ctx context.Context, cond string, arg any) ([]int64, error) {
	return queryIDs(ctx, db.Read, `SELECT DISTINCT customer_id FROM (SELECT e.customer_id FROM point_entries e WHERE `+cond+`
		GROUP BY e.customer_id, e.lot_id HAVING sum(e.points) > 0) AS x ORDER BY customer_id`, arg)
}

// ExpiringPoints lists, per customer and day, points that lapse within the
// coming days (valid through that day). This is the expiring-soon query
// journeys can also call directly.
func (db *DB) ExpiringPoints(ctx context.Context, withinDays int) ([]loyalty.CustomerExpiring, error) {
	if withinDays <= 0 {
		withinDays = 30
	}
	now := db.Clock.Now()
	rows, err := db.Read.QueryContext(ctx, `SELECT e.customer_id, e.expires_at, sum(e.points) FROM point_entries e
		JOIN customers c ON c.id = e.customer_id AND c.status = 'active'
		WHERE e.expires_at > $1 AND e.expires_at <= $2
		GROUP BY e.customer_id, e.lot_id, e.expires_at HAVING sum(e.points) > 0
		ORDER BY e.customer_id, e.expires_at`, ms(now), ms(now.AddDate(0, 0, withinDays)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []loyalty.CustomerExpiring{}
	for rows.Next() {
		var cid, exp, pts int64
		if err := rows.Scan(&cid, &exp, &pts); err != nil {
			return nil, err
		}
		day := loyalty.ValidThrough(fromMS(exp))
		if n := len(out); n > 0 && out[n-1].CustomerID == cid && out[n-1].ValidThrough.Equal(day.Time) {
			out[n-1].Points += pts
			continue
		}
		out = append(out, loyalty.CustomerExpiring{CustomerID: cid, ValidThrough: day, Points: pts})
	}
	return out, rows.Err()
}

// PointsLiability reports the points owed to customers and when they lapse.
func (db *DB) PointsLiability(ctx context.Context) (*loyalty.Liability, error) {
	now := db.Clock.Now()
	l := &loyalty.Liability{AsOf: now, ByMonth: []loyalty.MonthPoints{}, Flows: []loyalty.KindPoints{}}
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, expires_at, sum(points) FROM point_entries
		WHERE expires_at IS NULL OR expires_at > $1
		GROUP BY customer_id, lot_id, expires_at HAVING sum(points) > 0`, ms(now))
	if err != nil {
		return nil, err
	}
	holders := map[int64]bool{}
	months := map[string]int64{}
	for rows.Next() {
		var cid, pts int64
		var exp sql.NullInt64
		if err := rows.Scan(&cid, &exp, &pts); err != nil {
			rows.Close()
			return nil, err
		}
		holders[cid] = true
		l.Outstanding += pts
		if exp.Valid {
			months[loyalty.MonthOf(fromMS(exp.Int64))] += pts
		} else {
			l.NeverExpire += pts
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	l.Customers = int64(len(holders))
	for _, m := range sortedKeysOf(months) {
		l.ByMonth = append(l.ByMonth, loyalty.MonthPoints{Month: m, Points: months[m]})
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT kind, sum(points) FROM point_entries WHERE occurred_at > $1 AND occurred_at <= $2
		GROUP BY kind ORDER BY kind`, ms(now.AddDate(0, 0, -30)), ms(now))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k loyalty.KindPoints
		var kind string
		if err := rows.Scan(&kind, &k.Points); err != nil {
			rows.Close()
			return nil, err
		}
		k.Kind = loyalty.EntryKind(kind)
		l.Flows = append(l.Flows, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := db.Read.QueryRowContext(ctx, `SELECT coalesce(sum(unrecovered), 0) FROM order_points`).Scan(&l.Unrecovered); err != nil {
		return nil, err
	}
	return l, nil
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/order"
)

// ordersLoyalty is ImportOrders' loyalty hook, run inside its transaction
// once the batch's orders are written. For the orders inserted or changed
// (upserts; newIdx are the inserted ones) it records coupon redemptions
// from their codes and, when the programme is enabled, earns points for
// paid orders, takes them back from cancelled or refunded ones (or part of
// them when a refund lowers the total), and evaluates the buyers' ranks.
// Unchanged orders never reach it, so re-importing a file does nothing.
// New paid orders — the bulk of an import — cost one multi-row insert into
// the ledger; the rest is a few queries per batch.
// Buyers whose orders in the batch can move their rank (a paid order inside
// the rank window, or a changed order) are queued for rank evaluation
// (EvaluatePendingRanks), so that a customer with orders in many batches of
// one import is evaluated, and triggers, once.
func (db *DB) ordersLoyalty(ctx context.Context, tx *Tx, orders []order.Order, origins []int64, upserts, newIdx []int, batch orderBatch) error {
	if len(upserts) == 0 {
		return nil
	}
	isNew := make([]bool, len(orders))
	for _, i := range newIdx {
		isNew[i] = true
	}
	if err := db.recordCouponRedemptions(ctx, tx, orders, origins, upserts, isNew); err != nil {
		return err
	}
	prog, err := loadProgram(ctx, tx)
	if err != nil || !prog.Enabled {
		return err
	}
	now := db.Clock.Now()
	from, to := prog.Ranks.Window(now)
	custs := make([]int64, 0, len(upserts))
	var updated []any
	measure := map[int64]bool{} // buyers whose rank may move
	for _, i := range upserts {
		o := &orders[i]
		custs = append(custs, o.CustomerID)
		switch {
		case !isNew[i]:
			updated = append(updated, o.ID)
			measure[o.CustomerID] = true
		case o.Status == order.Paid && !o.OrderedAt.Before(from) && o.OrderedAt.Before(to):
			measure[o.CustomerID] = true
		}
	}
	ranks, err := db.currentRanks(ctx, tx, int64s(custs))
	if err != nil {
		return err
	}
	held, err := db.orderPointsOf(ctx, tx, updated)
	if err != nil {
		return err
	}
	var credits []entryRow
	var changes []orderPointsChange
	for _, i := range upserts {
		o := &orders[i]
		op, had := held[o.ID]
		if !had {
			if o.Status != order.Paid || !prog.EarnsOn(o.OrderedAt) {
				continue
			}
			e := prog.Earn(o, prog.Ranks.Current(ranks[o.CustomerID]), batch.birthday(o.CustomerID))
			if e.Points <= 0 {
				continue
			}
			at := o.OrderedAt
			if at.After(now) {
				at = now
			}
			credits = append(credits, entryRow{customer: o.CustomerID, origin: origins[i], kind: loyalty.Earn, points: e.Points,
				expires: prog.Points.ExpiresAt(at), at: at, orderID: o.ID, basis: e.Basis})
			continue
		}
		var due int64
		if o.Status == order.Paid {
			due = loyalty.Rescale(op.due, op.basis, loyalty.Basis(o))
		}
		if due != op.held {
			changes = append(changes, orderPointsChange{orderID: o.ID, row: op, delta: due - op.held})
		}
	}
	if err := db.insertEntries(ctx, tx, credits); err != nil {
		return err
	}
	if err := db.changeOrderPoints(ctx, tx, changes, now); err != nil {
		return err
	}
	ids := make([]int64, 0, len(measure))
	for id := range measure {
		ids = append(ids, id)
	}
	return db.queueRanks(ctx, tx, ids, now)
}

// orderBatch is what ordersLoyalty asks of the import batch it runs in (the
// resolver, which holds the batch's customers in memory).
type orderBatch interface {
	// birthday returns the customer's birthday (YYYY-MM-DD) or "".
	birthday(id int64) string
}

// orderPointsRow is the points an order holds, with its lot.
type orderPointsRow struct {
	lot, due, held, basis, unrecovered, excused int64
	lotCustomer, lotOrigin                      int64
	lotExpires                                  *time.Time
}

type orderPointsChange struct {
	orderID int64
	row     orderPointsRow
	delta   int64 // points to give (+) or take back (−)
}

// orderPointsOf returns the points state of orders that earned: their
// order_points row once they changed, else their earn credit as it was.
func (db *DB) orderPointsOf(ctx context.Context, tx *Tx, orderIDs []any) (map[int64]orderPointsRow, error) {
	out := map[int64]orderPointsRow{}
	read := func(q string) error {
		return db.chunk(len(orderIDs), 1, func(lo, hi int) error {
			rows, err := tx.QueryContext(ctx, strings.Replace(q, "$LIST", list(hi-lo, 1), 1), orderIDs[lo:hi]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var r orderPointsRow
				var exp sql.NullInt64
				if err := rows.Scan(&id, &r.lot, &r.due, &r.held, &r.basis, &r.unrecovered, &r.excused, &r.lotCustomer, &r.lotOrigin, &exp); err != nil {
					return err
				}
				r.lotExpires = fromNullMS(exp)
				if _, seen := out[id]; !seen {
					out[id] = r
				}
			}
			return rows.Err()
		})
	}
	err := read(`SELECT p.order_id, p.lot_id, p.due, p.held, p.basis, p.unrecovered, p.excused, e.customer_id, e.origin_customer_id, e.expires_at
		FROM order_points p JOIN point_entries e ON e.id = p.lot_id WHERE p.order_id IN ($LIST)`)
	if err == nil {
		err = read(`SELECT e.order_id, e.id, e.points, e.points, e.basis, 0, 0, e.customer_id, e.origin_customer_id, e.expires_at
			FROM point_entries e WHERE e.order_id IN ($LIST) AND e.order_id IS NOT NULL AND e.id = e.lot_id`)
	}
	if err != nil {
		return nil, fmt.Errorf("read order points: %w", err)
	}
	return out, nil
}

// changeOrderPoints gives or takes back points of orders whose status or
// total changed. Points come back first from what is left of the order's
// own lot; the part of it that expired unused is excused; the part the
// customer spent comes from their other points, oldest first; what even
// that cannot cover is recorded as unrecovered (balances never go below 0).
func (db *DB) changeOrderPoints(ctx context.Context, tx *Tx, changes []orderPointsChange, now time.Time) error {
	if len(changes) == 0 {
		return nil
	}
	var owners []int64
	for _, c := range changes {
		owners = append(owners, c.row.lotCustomer)
	}
	if err := db.lockAccounts(ctx, tx, owners); err != nil {
		return err
	}
	for _, c := range changes {
		op := c.row
		base := entryRow{orderID: c.orderID, at: now, actor: "system"}
		var rows []entryRow
		if c.delta > 0 {
			r := base
			r.customer, r.origin, r.lot, r.kind, r.points, r.expires = op.lotCustomer, op.lotOrigin, op.lot, loyalty.Earn, c.delta, op.lotExpires
			rows = append(rows, r)
		} else {
			want := -c.delta
			var left, expired int64
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(points), 0), coalesce(sum(CASE WHEN kind = 'expire' THEN -points ELSE 0 END), 0)
				FROM point_entries WHERE customer_id = $1 AND lot_id = $2`, op.lotCustomer, op.lot).Scan(&left, &expired); err != nil {
				return fmt.Errorf("read lot %d: %w", op.lot, err)
			}
			own := loyalty.OpenLot{LotID: op.lot, CustomerID: op.lotCustomer, OriginID: op.lotOrigin, Remaining: max(0, left), ExpiresAt: op.lotExpires}
			takes, rest := loyalty.PlanDebit([]loyalty.OpenLot{own}, want)
			ex := min(rest, max(0, expired-op.excused))
			op.excused += ex
			rest -= ex
			if rest > 0 {
				lots, err := db.openLots(ctx, tx, []int64{op.lotCustomer}, now, lotsUsable)
				if err != nil {
					return err
				}
				others := lots[op.lotCustomer][:0:0]
				for _, l := range lots[op.lotCustomer] {
					if l.LotID != op.lot {
						others = append(others, l)
					}
				}
				more, short := loyalty.PlanDebit(others, rest)
				takes = append(takes, more...)
				op.unrecovered += short
			}
			rows = debitRows(takes, loyalty.Reverse, now, base)
		}
		if err := db.insertEntries(ctx, tx, rows); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_points (order_id, lot_id, due, held, basis, unrecovered, excused, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO UPDATE SET held = excluded.held, unrecovered = excluded.unrecovered,
			excused = excluded.excused, updated_at = excluded.updated_at`,
			c.orderID, op.lot, op.due, op.held+c.delta, op.basis, op.unrecovered, op.excused, ms(now)); err != nil {
			return fmt.Errorf("update order points: %w", err)
		}
	}
	for _, id := range int64s(owners) {
		if _, err := checkNotNegative(ctx, tx, id.(int64), now); err != nil {
			return err
		}
	}
	return nil
}

// orderCodes splits an order's coupon_code field (Shopify may list several,
// comma-separated) into normalised codes.
func orderCodes(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if c := loyalty.NormalizeCode(part); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// recordCouponRedemptions files a redemption for each upserted order whose
// code names a known coupon, keyed by order (re-imports update it: its
// status follows the order's, void when cancelled or refunded); an updated
// order that no longer carries a known code has its redemption voided.
func (db *DB) recordCouponRedemptions(ctx context.Context, tx *Tx, orders []order.Order, origins []int64, upserts []int, isNew []bool) error {
	var codes []any
	seen := map[string]bool{}
	var withCode, clear []int
	for _, i := range upserts {
		cs := orderCodes(orders[i].CouponCode)
		if len(cs) == 0 {
			if !isNew[i] {
				clear = append(clear, i)
			}
			continue
		}
		withCode = append(withCode, i)
		for _, c := range cs {
			if !seen[c] {
				seen[c] = true
				codes = append(codes, c)
			}
		}
	}
	if len(withCode) == 0 && len(clear) == 0 {
		return nil
	}
	found, err := db.lookupCodes(ctx, tx, codes)
	if err != nil {
		return fmt.Errorf("look up coupon codes: %w", err)
	}
	type redemption struct {
		i   int
		row codeRow
	}
	var reds []redemption
	var masters, buyers []any
	for _, i := range withCode {
		var hit *codeRow
		for _, c := range orderCodes(orders[i].CouponCode) {
			if r, ok := found[c]; ok {
				hit = &r
				break
			}
		}
		if hit == nil {
			if !isNew[i] {
				clear = append(clear, i)
			}
			continue
		}
		reds = append(reds, redemption{i, *hit})
		if hit.shared {
			masters = append(masters, hit.id)
			buyers = append(buyers, orders[i].CustomerID)
		}
	}
	now := ms(db.Clock.Now())
	if len(clear) > 0 {
		ids := make([]any, len(clear))
		for j, i := range clear {
			ids[j] = orders[i].ID
		}
		err := db.chunk(len(ids), 1, func(lo, hi int) error {
			_, err := tx.ExecContext(ctx, `UPDATE coupon_redemptions SET status = 'void', updated_at = $1 WHERE status <> 'void' AND order_id IN (`+list(hi-lo, 2)+`)`,
				append([]any{now}, ids[lo:hi]...)...)
			return err
		})
		if err != nil {
			return fmt.Errorf("void coupon redemptions: %w", err)
		}
	}
	// A shared code counts against the buyer's own issue of it, if any.
	issues := map[[2]int64]int64{}
	if len(masters) > 0 {
		ms := int64sAny(masters)
		rows, err := tx.QueryContext(ctx, `SELECT id, issue_of, customer_id FROM coupons WHERE issue_of IN (`+list(len(ms), 1)+`)
			ORDER BY id DESC`, ms...)
		if err != nil {
			return err
		}
		want := map[int64]bool{}
		for _, b := range buyers {
			want[b.(int64)] = true
		}
		for rows.Next() {
			var id, master int64
			var cust sql.NullInt64
			if err := rows.Scan(&id, &master, &cust); err != nil {
				rows.Close()
				return err
			}
			if want[cust.Int64] {
				issues[[2]int64{master, cust.Int64}] = id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	_, err = db.insertMany(ctx, tx, `INSERT INTO coupon_redemptions (order_id, campaign_id, coupon_id, code, customer_id, origin_customer_id, status, discount, revenue, redeemed_at, updated_at)`,
		11, `ON CONFLICT (order_id) DO UPDATE SET campaign_id = excluded.campaign_id, coupon_id = excluded.coupon_id, code = excluded.code,
		customer_id = excluded.customer_id, origin_customer_id = excluded.origin_customer_id, status = excluded.status, discount = excluded.discount,
		revenue = excluded.revenue, redeemed_at = excluded.redeemed_at, updated_at = excluded.updated_at`,
		len(reds), func(j int, args []any) []any {
			r := reds[j]
			o := &orders[r.i]
			coupon := r.row.id
			if id, ok := issues[[2]int64{r.row.id, o.CustomerID}]; ok {
				coupon = id
			}
			return append(args, o.ID, r.row.campaign, coupon, r.row.code, o.CustomerID, origins[r.i], loyalty.RedemptionStatus(o.Status),
				o.Discount, o.Total, ms(o.OrderedAt), now)
		})
	if err != nil {
		return fmt.Errorf("record coupon redemptions: %w", err)
	}
	return nil
}

// int64sAny sorts and de-duplicates int64 arguments.
func int64sAny(a []any) []any {
	ids := make([]int64, len(a))
	for i, v := range a {
		ids[i] = v.(int64)
	}
	return int64s(ids)
}

package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
)

type existingOrder struct {
	id, customer int64
	hash         int64
}

// ImportOrders upserts orders by (source, external id) and files each under
// its buyer. An order whose content and buyer are unchanged is left alone;
// a changed one has its lines replaced. Products named by lines are created
// when missing. New paid orders are counted into their customers'
// aggregates directly; changed ones make the store recount from orders.
func (db *DB) ImportOrders(ctx context.Context, orders []order.Order) (BatchResult, error) {
	var res BatchResult
	var r *resolver
	var added []product.Product
	err := db.inTx(ctx, func(tx *Tx) error {
		res = BatchResult{}
		var err error
		if r, err = db.newResolver(ctx, tx); err != nil {
			return err
		}
		buyers := make([]*customer.Record, len(orders))
		for i := range orders {
			if orders[i].Buyer.SeenAt.IsZero() {
				orders[i].Buyer.SeenAt = orders[i].OrderedAt
			}
			buyers[i] = &orders[i].Buyer
		}
		if err := r.prefetch(ctx, buyers); err != nil {
			return err
		}
		existing, err := db.existingOrders(ctx, tx, orders)
		if err != nil {
			return err
		}
		origins := make([]int64, len(orders))
		for i := range orders {
			o := &orders[i]
			if o.Buyer.Empty() {
				return errs.Errorf(errs.Invalid, "order %s has no customer identifier (customer id, e-mail or phone)", o.ExternalID)
			}
			cust, origin, err := r.resolve(ctx, &o.Buyer, len(orders)-i)
			if err != nil {
				return fmt.Errorf("order %s: %w", o.ExternalID, err)
			}
			o.CustomerID, origins[i] = cust, origin
		}
		var upserts, newIdx, changedIdx []int
		var replaceLines []any
		for i := range orders {
			o := &orders[i]
			o.CustomerID = r.current(o.CustomerID) // merges later in the batch may have moved it
			key := o.Source + "\x00" + o.ExternalID
			if ex, ok := existing[key]; ok {
				o.ID = ex.id
				if ex.hash == o.Hash() && r.current(ex.customer) == o.CustomerID {
					res.Unchanged++
					continue
				}
				res.Updated++
				r.refresh[ex.customer] = true
				r.refresh[o.CustomerID] = true
				replaceLines = append(replaceLines, o.ID)
				changedIdx = append(changedIdx, i)
			} else {
				newIdx = append(newIdx, i)
				res.Inserted++
				r.custs[o.CustomerID].addOrder(o)
			}
			upserts = append(upserts, i)
		}
		if len(newIdx) > 0 {
			newIDs, err := db.Dialect.NextIDs(ctx, tx, "orders", len(newIdx))
			if err != nil {
				return fmt.Errorf("reserve order ids: %w", err)
			}
			for j, i := range newIdx {
				orders[i].ID = newIDs[j]
			}
		}
		if err := r.flush(ctx); err != nil {
			return err
		}
		if added, err = db.writeOrders(ctx, tx, orders, origins, newIdx, changedIdx, replaceLines); err != nil {
			return err
		}
		if err := db.linkOrderDeliveries(ctx, tx, r, orders, upserts, origins); err != nil {
			return err
		}
		if err := db.ordersLoyalty(ctx, tx, orders, origins, upserts, newIdx, r); err != nil {
			return err
		}
		created, changed := r.splitCreated(orderCustomers(orders, upserts, r))
		if err := db.markCreated(ctx, tx, created, r.now); err != nil {
			return err
		}
		if err := db.markScoresDirty(ctx, tx, changed); err != nil {
			return err
		}
		if err := db.markChanged(ctx, tx, changed, r.now); err != nil {
			return err
		}
		if err := r.refreshAggregates(ctx); err != nil {
			return err
		}
		res.NewCustomers, res.Merges, res.Candidates, res.Suppressed = r.result.NewCustomers, r.result.Merges, r.result.Candidates, r.result.Suppressed
		res.CustomerIDs = make([]int64, len(orders))
		for i := range orders {
			res.CustomerIDs[i] = orders[i].CustomerID
		}
		return nil
	})
	if err != nil {
		return BatchResult{}, err
	}
	r.committed()
	db.skus.add(added)
	db.notifyChanged()
	db.noteWrites(ctx, res.Inserted+res.Updated+res.NewCustomers)
	return res, db.attributeOrders(ctx, orders)
}

// orderCustomers lists the customers whose orders were written, and the
// previous owners of orders that moved, for rescoring.
func orderCustomers(orders []order.Order, upserts []int, r *resolver) []int64 {
	ids := make([]int64, 0, len(upserts)+len(r.refresh))
	for _, i := range upserts {
		ids = append(ids, orders[i].CustomerID)
	}
	for id := range r.refresh {
		ids = append(ids, r.current(id))
	}
	return ids
}

// splitCreated separates, without repeats, the customers this transaction
// created (resolver.created) from the others.
func (r *resolver) splitCreated(ids []int64) (created, others []int64) {
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		if id == 0 || seen[id] {
			continue
		}
		seen[id] = true
		if r.created[id] {
			created = append(created, id)
		} else {
			others = append(others, id)
		}
	}
	return created, others
}

// markCreated queues customers created in tx for rescoring and puts them
// in the change feed, as markScoresDirty and markChanged do. Neither queue
// can hold a row for them yet, so these are plain inserts (PostgreSQL:
// COPY straight into the tables rather than an upsert through a staging
// table, which cost as much as writing the orders).
func (db *DB) markCreated(ctx context.Context, tx *Tx, ids []int64, at time.Time) error {
	if _, err := db.insertMany(ctx, tx, `INSERT INTO analytics_dirty (customer_id)`, 1, "", len(ids),
		func(i int, args []any) []any { return append(args, ids[i]) }); err != nil {
		return fmt.Errorf("queue new customers for rescoring: %w", err)
	}
	t := ms(at)
	if _, err := db.insertMany(ctx, tx, `INSERT INTO engine_dirty (customer_id, since)`, 2, "", len(ids),
		func(i int, args []any) []any { return append(args, ids[i], t) }); err != nil {
		return fmt.Errorf("mark new customers changed: %w", err)
	}
	return nil
}

func (db *DB) existingOrders(ctx context.Context, tx *Tx, orders []order.Order) (map[string]existingOrder, error) {
	bySource := map[string][]any{}
	for _, o := range orders {
		bySource[o.Source] = append(bySource[o.Source], o.ExternalID)
	}
	out := map[string]existingOrder{}
	for src, ext := range bySource {
		err := db.chunk(len(ext), 1, func(lo, hi int) error {
			cond, args := db.Dialect.InList("external_id", 2, ext[lo:hi])
			rows, err := tx.QueryContext(ctx, `SELECT external_id, id, customer_id, content_hash FROM orders
				WHERE source = $1 AND `+cond, append([]any{src}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var ext string
				var e existingOrder
				if err := rows.Scan(&ext, &e.id, &e.customer, &e.hash); err != nil {
					return err
				}
				out[src+"\x00"+ext] = e
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("look up orders: %w", err)
		}
	}
	return out, nil
}

const orderUpsertHead = `INSERT INTO orders (id, source, external_id, customer_id, origin_customer_id, ordered_at, status, channel, shop_id,
	currency, total, discount, shipping, tax, points_used, coupon_code, item_count, content_hash, created_at, updated_at)`

const orderUpsertTail = `ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, origin_customer_id = excluded.origin_customer_id,
	ordered_at = excluded.ordered_at, status = excluded.status, channel = excluded.channel, shop_id = excluded.shop_id,
	currency = excluded.currency, total = excluded.total, discount = excluded.discount, shipping = excluded.shipping,
	tax = excluded.tax, points_used = excluded.points_used, coupon_code = excluded.coupon_code, item_count = excluded.item_count,
	content_hash = excluded.content_hash, updated_at = excluded.updated_at`

// writeOrders writes the batch's new orders (newIdx) and changed ones
// (changed, whose old lines replaceLines lists), their lines, and the
// products the lines name that were not stored yet, which it returns.
func (db *DB) writeOrders(ctx context.Context, tx *Tx, orders []order.Order, origins []int64, newIdx, changed []int, replaceLines []any) ([]product.Product, error) {
	now := ms(db.Clock.Now())
	err := db.chunk(len(replaceLines), 1, func(lo, hi int) error {
		cond, args := db.Dialect.InList("order_id", 1, replaceLines[lo:hi])
		_, err := tx.ExecContext(ctx, `DELETE FROM order_lines WHERE `+cond, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("replace order lines: %w", err)
	}
	// New orders carry ids reserved for this batch, so they are plain
	// inserts (PostgreSQL: COPY straight into orders); changed ones update
	// their row in place.
	for _, part := range []struct {
		idx  []int
		tail string
	}{{newIdx, ""}, {changed, orderUpsertTail}} {
		_, err = db.insertMany(ctx, tx, orderUpsertHead, 20, part.tail, len(part.idx), func(j int, args []any) []any {
			i := part.idx[j]
			o := &orders[i]
			return append(args, o.ID, o.Source, o.ExternalID, o.CustomerID, origins[i], ms(o.OrderedAt), string(o.Status), o.Channel, o.ShopID,
				o.Currency, o.Total, o.Discount, o.Shipping, o.Tax, o.PointsUsed, o.CouponCode, len(o.Lines), o.Hash(), now, now)
		})
		if err != nil {
			return nil, fmt.Errorf("write orders: %w", err)
		}
	}
	upserts := append(append(make([]int, 0, len(newIdx)+len(changed)), newIdx...), changed...)
	// Lines, and the products they name.
	type lineRef struct{ order, line int }
	var lines []lineRef
	skus := map[string]order.Line{}
	for _, i := range upserts {
		for j, l := range orders[i].Lines {
			lines = append(lines, lineRef{i, j})
			if l.SKU != "" {
				if _, ok := skus[l.SKU]; !ok {
					skus[l.SKU] = l
				}
			}
		}
	}
	_, err = db.insertMany(ctx, tx, `INSERT INTO order_lines (order_id, line_no, sku, product_name, category, quantity, unit_price, amount)`, 8, "",
		len(lines), func(j int, args []any) []any {
			ref := lines[j]
			o := &orders[ref.order]
			l := &o.Lines[ref.line]
			return append(args, o.ID, l.LineNo, l.SKU, l.ProductName, l.Category, l.Quantity, l.UnitPrice, l.Amount)
		})
	if err != nil {
		return nil, fmt.Errorf("write order lines: %w", err)
	}
	ps := make([]product.Product, 0, len(skus))
	for sku, l := range skus {
		if !db.skus.has(sku) {
			ps = append(ps, product.Product{SKU: sku, Name: l.ProductName, Category: l.Category, Price: l.UnitPrice})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].SKU < ps[j].SKU })
	return ps, db.insertMissingProducts(ctx, tx, ps)
}

// knownSKUs remembers, per process, SKUs seen committed in products, so
// that each batch of an import does not offer the catalogue's every SKU
// again. Products are never deleted, so an entry cannot go stale.
type knownSKUs struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// knownSKUsMax bounds the set; past it the set starts over.
const knownSKUsMax = 200_000

func (k *knownSKUs) has(sku string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.m[sku]
	return ok
}

// add records SKUs of a committed transaction.
func (k *knownSKUs) add(ps []product.Product) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m)+len(ps) > knownSKUsMax {
		k.m = make(map[string]struct{}, len(ps))
	}
	for _, p := range ps {
		k.m[p.SKU] = struct{}{}
	}
}

func (db *DB) insertMissingProducts(ctx context.Context, tx *Tx, ps []product.Product) error {
	now := ms(db.Clock.Now())
	_, err := db.insertMany(ctx, tx, `INSERT INTO products (sku, name, category, price, created_at, updated_at)`, 6, `ON CONFLICT (sku) DO NOTHING`,
		len(ps), func(i int, args []any) []any {
			p := &ps[i]
			return append(args, p.SKU, p.Name, p.Category, p.Price, now, now)
		})
	if err != nil {
		return fmt.Errorf("add products: %w", err)
	}
	return nil
}

// ImportCustomers files customer records (a customer master: non-empty
// fields win when Overwrite is set) with their consents and tags.
func (db *DB) ImportCustomers(ctx context.Context, recs []customer.Record) (BatchResult, error) {
	var res BatchResult
	var r *resolver
	err := db.inTx(ctx, func(tx *Tx) error {
		res = BatchResult{}
		var err error
		if r, err = db.newResolver(ctx, tx); err != nil {
			return err
		}
		ptrs := make([]*customer.Record, len(recs))
		for i := range recs {
			ptrs[i] = &recs[i]
		}
		if err := r.prefetch(ctx, ptrs); err != nil {
			return err
		}
		res.CustomerIDs = make([]int64, len(recs))
		for i := range recs {
			if recs[i].Empty() {
				return errs.Errorf(errs.Invalid, "customer record %d has no identifier (customer id, e-mail or phone)", i+1)
			}
			if res.CustomerIDs[i], _, err = r.resolve(ctx, &recs[i], len(recs)-i); err != nil {
				return err
			}
		}
		changed := map[int64]bool{}
		var created []int64
		for _, st := range r.custs {
			if st.changed {
				changed[st.c.ID] = true
			}
			if st.isNew {
				created = append(created, st.c.ID)
			}
		}
		if err := r.finish(ctx); err != nil {
			return err
		}
		for _, st := range r.custs { // tags found to be new while flushing
			if st.changed {
				changed[st.c.ID] = true
			}
		}
		for id := range changed {
			created = append(created, id)
		}
		if err := db.markChanged(ctx, tx, created, r.now); err != nil {
			return err
		}
		res.NewCustomers, res.Merges, res.Candidates, res.Suppressed = r.result.NewCustomers, r.result.Merges, r.result.Candidates, r.result.Suppressed
		res.Inserted = res.NewCustomers
		res.Updated = len(changed)
		res.Unchanged = max(0, len(recs)-res.Inserted-res.Updated)
		return nil
	})
	if err != nil {
		return BatchResult{}, err
	}
	r.committed()
	db.notifyChanged()
	db.noteWrites(ctx, res.Inserted+res.Updated)
	return res, nil
}

// ImportProducts upserts products by SKU; non-empty fields of the import win.
func (db *DB) ImportProducts(ctx context.Context, ps []product.Product) (BatchResult, error) {
	var res BatchResult
	err := db.inTx(ctx, func(tx *Tx) error {
		existing := map[string]product.Product{}
		skus := make([]any, len(ps))
		for i, p := range ps {
			skus[i] = p.SKU
		}
		err := db.chunk(len(skus), 1, func(lo, hi int) error {
			rows, err := tx.QueryContext(ctx, `SELECT `+productCols+` FROM products WHERE sku IN (`+list(hi-lo, 1)+`)`, skus[lo:hi]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				p, err := scanProduct(rows)
				if err != nil {
					return err
				}
				existing[p.SKU] = *p
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		now := ms(db.Clock.Now())
		for _, p := range ps {
			old, ok := existing[p.SKU]
			if ok {
				merged := old
				if p.Name != "" {
					merged.Name = p.Name
				}
				if p.Category != "" {
					merged.Category = p.Category
				}
				if p.Price != 0 {
					merged.Price = p.Price
				}
				if p.ReplenishmentDays != 0 {
					merged.ReplenishmentDays = p.ReplenishmentDays
				}
				if p.URL != "" {
					merged.URL = p.URL
				}
				if p.ImageURL != "" {
					merged.ImageURL = p.ImageURL
				}
				if merged == old {
					res.Unchanged++
					continue
				}
				if merged.Price < old.Price && merged.Price > 0 {
					// A price drop: journeys tell the customers who favorited it.
					if _, err := tx.ExecContext(ctx, `INSERT INTO product_signals (sku, kind, old_price, new_price, at) VALUES ($1, $2, $3, $4, $5)`,
						p.SKU, SignalPriceDrop, old.Price, merged.Price, now); err != nil {
						return fmt.Errorf("product %s: price drop: %w", p.SKU, err)
					}
				}
				p = merged
				res.Updated++
			} else {
				res.Inserted++
			}
			existing[p.SKU] = p
			if _, err := tx.ExecContext(ctx, `INSERT INTO products (sku, name, category, price, replenishment_days, url, image_url, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
				ON CONFLICT (sku) DO UPDATE SET name = excluded.name, category = excluded.category, price = excluded.price,
				replenishment_days = excluded.replenishment_days, url = excluded.url, image_url = excluded.image_url, updated_at = excluded.updated_at`,
				p.SKU, p.Name, p.Category, p.Price, p.ReplenishmentDays, p.URL, p.ImageURL, now); err != nil {
				return fmt.Errorf("product %s: %w", p.SKU, err)
			}
		}
		return nil
	})
	if err != nil {
		return BatchResult{}, err
	}
	return res, nil
}

// ImportEvents stores behaviour events, ignoring any whose (source,
// message id) is already stored. Events that identify a person are filed
// under them; events with only an anonymous id wait for it to be linked.
func (db *DB) ImportEvents(ctx context.Context, evs []event.Event) (BatchResult, error) {
	var res BatchResult
	var r *resolver
	err := db.inTx(ctx, func(tx *Tx) error {
		res = BatchResult{}
		var err error
		if r, err = db.newResolver(ctx, tx); err != nil {
			return err
		}
		ptrs := make([]*customer.Record, len(evs))
		for i := range evs {
			ptrs[i] = &evs[i].Actor
		}
		if err := r.prefetch(ctx, ptrs); err != nil {
			return err
		}
		origins := make([]any, len(evs))
		custs := make([]any, len(evs))
		var keep []int // events to store: not those of erased people
		for i := range evs {
			a := &evs[i].Actor
			if r.suppressedHolder(a) != 0 {
				r.result.Suppressed++
				continue
			}
			keep = append(keep, i)
			cust, origin, err := r.fileActor(ctx, a, len(evs)-i)
			if err != nil {
				return err
			}
			if cust != 0 {
				custs[i], origins[i] = cust, origin
			}
		}
		if err := r.finish(ctx); err != nil {
			return err
		}
		res.NewCustomers, res.Merges, res.Candidates, res.Suppressed = r.result.NewCustomers, r.result.Merges, r.result.Candidates, r.result.Suppressed
		// Merges may have moved customers filed earlier in the batch.
		for i := range evs {
			if c, ok := custs[i].(int64); ok {
				custs[i] = r.current(c)
			}
		}
		now := ms(db.Clock.Now())
		res.CustomerIDs = make([]int64, len(evs))
		for i := range evs {
			if c, ok := custs[i].(int64); ok {
				res.CustomerIDs[i] = c
			}
		}
		n, err := db.insertMany(ctx, tx, `INSERT INTO events (customer_id, origin_customer_id, anonymous_id, type, name, occurred_at, received_at, source, message_id, sku, properties)`,
			11, `ON CONFLICT (source, message_id) DO NOTHING`, len(keep), func(j int, args []any) []any {
				i := keep[j]
				e := &evs[i]
				props := string(e.Properties)
				if props == "" {
					props = "{}"
				}
				return append(args, custs[i], origins[i], e.AnonymousID, e.Type, e.Name, ms(e.OccurredAt), now, e.Source, e.MessageID, e.SKU, props)
			})
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		res.Inserted = int(n)
		res.Unchanged = len(keep) - int(n)
		if n > 0 {
			return db.markChanged(ctx, tx, res.CustomerIDs, r.now)
		}
		return nil
	})
	if err != nil {
		return BatchResult{}, err
	}
	r.committed()
	db.notifyChanged()
	db.noteWrites(ctx, res.Inserted+res.NewCustomers)
	return res, nil
}

// StartImportRun records the start of an import and returns its id.
func (db *DB) StartImportRun(ctx context.Context, run ImportRun) (int64, error) {
	var id int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO import_runs (kind, format, source, file_name, status, actor, started_at)
		VALUES ($1, $2, $3, $4, 'running', $5, $6) RETURNING id`,
		run.Kind, run.Format, run.Source, run.FileName, run.Actor, ms(db.Clock.Now())).Scan(&id)
	return id, err
}

// FinishImportRun records an import's outcome.
func (db *DB) FinishImportRun(ctx context.Context, run ImportRun) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE import_runs SET status = $1, rows_read = $2, imported = $3, unchanged = $4, rejected = $5,
		message = $6, finished_at = $7 WHERE id = $8`,
		run.Status, run.RowsRead, run.Imported, run.Unchanged, run.Rejected, run.Message, ms(db.Clock.Now()), run.ID)
	return err
}

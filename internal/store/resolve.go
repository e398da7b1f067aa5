package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
)

// customerTables lists every table whose rows belong to a customer through
// customer_id and origin_customer_id. Merges move their rows; unmerges move
// them back by origin. A feature that adds such a table adds it here.
var customerTables = []string{"identities", "orders", "events", "consent_records", "customer_tags", "notes", "inquiries", "messages", "message_events", "push_subscriptions",
	"journey_enrollments", "outbox",
	"subscriptions", "subscription_changes", "survey_invitations", "survey_responses", "survey_answers", "reviews", "inquiry_tags", "inquiry_replies",
	"point_entries", "point_redemptions", "rank_changes", "coupons", "coupon_redemptions"}

// RegisterCustomerTable adds a table to those moved by merges. Call it at
// start-up (before any store is used), from the package that owns the table.
func RegisterCustomerTable(name string) {
	for _, t := range customerTables {
		if t == name {
			return
		}
	}
	customerTables = append(customerTables, name)
}

// CustomerTables lists the tables whose rows belong to a customer.
func CustomerTables() []string { return append([]string(nil), customerTables...) }

// identityPolicySetting is the settings key holding the kinds that wait for
// approval before merging, as a JSON array (e.g. ["phone"]).
const identityPolicySetting = "identity.manual_merge_kinds"

// resolver files a batch of customer records under customers inside one
// write transaction: it looks identifiers up in bulk (through the process's
// identCache), plans each record with identity.Decide, keeps the batch's
// customers in memory, and writes them, their identifiers, consents and tags
// in multi-row statements at the end.
type resolver struct {
	db     *DB
	tx     *Tx
	now    time.Time
	policy identity.Policy
	actor  string
	gen    int64 // identity generation within this transaction

	known map[string]*identity.Match // identifier key → holder; nil = not held
	custs map[int64]*custState
	ids   []int64 // reserved ids for new customers

	newIdents []identRow
	consents  []consentRow
	tags      []tagRow
	refresh   map[int64]bool  // customers whose aggregates are recomputed from orders at the end
	latest    map[string]bool // customer/channel → latest consent state, loaded lazily
	moved     map[int64]int64 // loser → winner of merges done in this batch
	// created holds the customers this transaction created and no merge
	// touched: nothing else can have queued them anywhere yet.
	created map[int64]bool
	result  BatchResult

	// Suppression of erased people's identifiers (privacy.go): suppKey is
	// nil while nobody was erased; suppressed maps an identifier key to the
	// erased customer it belonged to, or 0 once looked up and not found.
	suppKey    []byte
	suppressed map[string]int64
}

type custState struct {
	c       customer.Customer
	isNew   bool
	dirty   bool // the row must be written
	changed bool // an existing customer's data changed (an update, for reports)
}

type identRow struct {
	customer, origin int64
	id               identity.Identifier
}

type consentRow struct {
	customer, origin int64
	c                customer.Consent
}

type tagRow struct {
	customer, origin int64
	tag              string
}

func (db *DB) newResolver(ctx context.Context, tx *Tx) (*resolver, error) {
	if err := db.Dialect.LockResolution(ctx, tx); err != nil {
		return nil, fmt.Errorf("lock identity resolution: %w", err)
	}
	r := &resolver{
		db: db, tx: tx, now: db.Clock.Now(), actor: "system",
		known: map[string]*identity.Match{}, custs: map[int64]*custState{},
		refresh: map[int64]bool{}, latest: map[string]bool{}, moved: map[int64]int64{}, created: map[int64]bool{},
	}
	var err error
	if r.gen, err = identityGeneration(ctx, tx); err != nil {
		return nil, err
	}
	db.idents.sync(r.gen)
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM suppressed_identifiers LIMIT 1`).Scan(&one); {
	case err == nil:
		if r.suppKey, err = suppressionKey(ctx, tx, false); err != nil {
			return nil, err
		}
		r.suppressed = map[string]int64{}
	case !isNoRows(err):
		return nil, fmt.Errorf("read suppression list: %w", err)
	}
	var raw string
	err = tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, identityPolicySetting).Scan(&raw)
	if err == nil {
		var kinds []identity.Kind
		if jerr := json.Unmarshal([]byte(raw), &kinds); jerr == nil {
			r.policy.ManualKinds = map[identity.Kind]bool{}
			for _, k := range kinds {
				r.policy.ManualKinds[k] = true
			}
		}
	} else if !isNoRows(err) {
		return nil, err
	}
	return r, nil
}

// committed hands what the batch learned to the process's cache; call it
// only after the transaction committed.
func (r *resolver) committed() { r.db.idents.put(r.gen, r.known) }

// birthday returns a customer's birthday (YYYY-MM-DD or "") as the batch
// knows it.
func (r *resolver) birthday(id int64) string {
	if st := r.custs[id]; st != nil {
		return st.c.Birthday
	}
	return ""
}

// current follows the batch's merges from a customer to the one holding it now.
func (r *resolver) current(id int64) int64 {
	for {
		next, ok := r.moved[id]
		if !ok {
			return id
		}
		id = next
	}
}

// prefetchSuppressed looks up, when anyone was ever erased, which of recs'
// identifiers are suppressed, and loads the erased customers they lead to.
func (r *resolver) prefetchSuppressed(ctx context.Context, recs []*customer.Record) error {
	if r.suppKey == nil {
		return nil
	}
	byHash := map[string]string{}
	var hashes []any
	for _, rec := range recs {
		for _, id := range rec.Identifiers {
			k := id.Key()
			if _, ok := r.suppressed[k]; ok {
				continue
			}
			r.suppressed[k] = 0
			h := suppressionHash(r.suppKey, id)
			byHash[h] = k
			hashes = append(hashes, h)
		}
	}
	var holders []int64
	err := r.db.chunk(len(hashes), 1, func(lo, hi int) error {
		rows, err := r.tx.QueryContext(ctx, `SELECT hash, customer_id FROM suppressed_identifiers WHERE hash IN (`+list(hi-lo, 1)+`)`, hashes[lo:hi]...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			var c int64
			if err := rows.Scan(&h, &c); err != nil {
				return err
			}
			r.suppressed[byHash[h]] = c
			holders = append(holders, c)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("look up suppressed identifiers: %w", err)
	}
	return r.loadCustomers(ctx, holders)
}

// suppressedHolder returns the erased customer a record's suppressed
// identifier belongs to, or 0 when none of its identifiers is suppressed.
func (r *resolver) suppressedHolder(rec *customer.Record) int64 {
	if r.suppKey == nil {
		return 0
	}
	for _, id := range rec.Identifiers {
		if c := r.suppressed[id.Key()]; c != 0 {
			return c
		}
	}
	return 0
}

// prefetch looks up every identifier of recs at once: from the cache, then
// from the database for the rest.
func (r *resolver) prefetch(ctx context.Context, recs []*customer.Record) error {
	if err := r.prefetchSuppressed(ctx, recs); err != nil {
		return err
	}
	groups := map[[2]string][]string{}
	var holders []int64
	for _, rec := range recs {
		for _, id := range rec.Identifiers {
			k := id.Key()
			if _, ok := r.known[k]; ok {
				continue
			}
			if m, ok := r.db.idents.get(r.gen, k); ok {
				r.known[k] = &m
				holders = append(holders, m.CustomerID)
				continue
			}
			r.known[k] = nil
			g := [2]string{string(id.Kind), id.Source}
			groups[g] = append(groups[g], id.Value)
		}
	}
	keys := make([][2]string, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, g := range keys {
		values := groups[g]
		err := r.db.chunk(len(values), 1, func(lo, hi int) error {
			vals := make([]any, 0, hi-lo)
			for _, v := range values[lo:hi] {
				vals = append(vals, v)
			}
			cond, inArgs := r.db.Dialect.InList("value", 3, vals)
			rows, err := r.tx.QueryContext(ctx, `SELECT value, customer_id, origin_customer_id FROM identities
				WHERE kind = $1 AND source = $2 AND `+cond, append([]any{g[0], g[1]}, inArgs...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v string
				var m identity.Match
				if err := rows.Scan(&v, &m.CustomerID, &m.OriginCustomerID); err != nil {
					return err
				}
				key := identity.Identifier{Kind: identity.Kind(g[0]), Source: g[1], Value: v}.Key()
				r.known[key] = &m
				holders = append(holders, m.CustomerID)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("look up identifiers: %w", err)
		}
	}
	return r.loadCustomers(ctx, holders)
}

// loadCustomers reads the given customers into the batch's state.
func (r *resolver) loadCustomers(ctx context.Context, ids []int64) error {
	var need []any
	seen := map[int64]bool{}
	for _, id := range ids {
		if _, ok := r.custs[id]; !ok && !seen[id] {
			seen[id] = true
			need = append(need, id)
		}
	}
	return r.db.chunk(len(need), 1, func(lo, hi int) error {
		cond, args := r.db.Dialect.InList("id", 1, need[lo:hi])
		rows, err := r.tx.QueryContext(ctx, `SELECT `+customerCols+` FROM customers WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCustomer(rows)
			if err != nil {
				return err
			}
			r.custs[c.ID] = &custState{c: *c}
		}
		return rows.Err()
	})
}

// resolve files one record and returns the customer and the origin profile
// its rows belong to. A record without identifiers returns 0, 0.
func (r *resolver) resolve(ctx context.Context, rec *customer.Record, remaining int) (target, origin int64, err error) {
	if rec.Empty() {
		return 0, 0, nil
	}
	// An erased person's identifier: file the record under the erased
	// (empty) customer, keeping none of its personal data, identifiers,
	// consents or tags, so that an old export imported again neither
	// recreates the person nor loses the order facts reports count.
	if c := r.suppressedHolder(rec); c != 0 {
		r.result.Suppressed++
		return c, c, nil
	}
	matches := make([]*identity.Match, len(rec.Identifiers))
	for i, id := range rec.Identifiers {
		matches[i] = r.known[id.Key()]
	}
	plan := identity.Decide(rec.Identifiers, matches, r.policy)

	if len(plan.Merges) > 0 {
		// Merges rewrite rows in place: write what is pending first.
		if err := r.flush(ctx); err != nil {
			return 0, 0, err
		}
		for _, m := range plan.Merges {
			if _, err := r.db.mergeInTx(ctx, r.tx, m.Winner, m.Loser, m.Via, "auto", r.actor, r.now); err != nil {
				return 0, 0, err
			}
			r.gen++ // mergeInTx bumped the generation
			r.result.Merges++
			r.afterMerge(m.Winner, m.Loser)
		}
		if err := r.loadCustomers(ctx, []int64{plan.Target}); err != nil {
			return 0, 0, err
		}
	}
	for _, c := range plan.Candidates {
		if err := r.addCandidate(ctx, c); err != nil {
			return 0, 0, err
		}
	}

	target, origin = plan.Target, plan.Origin
	if target == 0 {
		if target, err = r.newCustomerID(ctx, remaining); err != nil {
			return 0, 0, err
		}
		origin = target
		seen := rec.SeenAt
		if seen.IsZero() || seen.After(r.now) {
			seen = r.now
		}
		r.custs[target] = &custState{isNew: true, dirty: true, c: customer.Customer{
			ID: target, Status: customer.Active, CreatedAt: seen, UpdatedAt: r.now, Attributes: map[string]string{},
		}}
		r.result.NewCustomers++
		r.created[target] = true
	}
	st := r.custs[target]
	if st == nil {
		return 0, 0, fmt.Errorf("resolve: customer %d is not loaded", target)
	}
	if origin == 0 {
		origin = target
	}

	for _, id := range plan.Attach {
		r.newIdents = append(r.newIdents, identRow{customer: target, origin: origin, id: id})
		r.known[id.Key()] = &identity.Match{CustomerID: target, OriginCustomerID: origin}
	}
	if len(plan.Attach) > 0 && !st.isNew {
		st.changed = true
	}
	r.applyProfile(st, rec)
	for _, c := range rec.Consents {
		if err := r.addConsent(ctx, target, origin, c); err != nil {
			return 0, 0, err
		}
	}
	for _, t := range rec.Tags {
		if t = strings.TrimSpace(t); t != "" {
			r.tags = append(r.tags, tagRow{customer: target, origin: origin, tag: t})
		}
	}
	return target, origin, nil
}

func (r *resolver) applyProfile(st *custState, rec *customer.Record) {
	var changed bool
	if rec.Overwrite {
		changed = st.c.Profile.Overwrite(rec.Profile)
	} else {
		changed = st.c.Profile.Fill(rec.Profile)
	}
	for k, v := range rec.Attributes {
		if st.c.Attributes[k] != v && (rec.Overwrite || st.c.Attributes[k] == "") {
			st.c.Attributes[k] = v
			changed = true
		}
	}
	if !rec.SeenAt.IsZero() && rec.SeenAt.Before(st.c.CreatedAt) {
		st.c.CreatedAt = rec.SeenAt
		changed = true
	}
	if changed {
		st.dirty = true
		if !st.isNew {
			st.changed = true
		}
		st.c.UpdatedAt = r.now
	}
}

// addOrder counts a new paid order into its customer's aggregates.
func (st *custState) addOrder(o *order.Order) {
	if o.Status != order.Paid {
		return
	}
	c := &st.c
	c.OrderCount++
	c.TotalSpent += o.Total
	at := o.OrderedAt
	if c.FirstOrderAt == nil || at.Before(*c.FirstOrderAt) {
		c.FirstOrderAt = &at
	}
	if c.LastOrderAt == nil || at.After(*c.LastOrderAt) {
		c.LastOrderAt = &at
	}
	st.dirty = true
}

// afterMerge repoints the batch's memory from loser to winner.
func (r *resolver) afterMerge(winner, loser int64) {
	delete(r.created, winner) // the merge queued both
	delete(r.created, loser)
	for _, m := range r.known {
		if m != nil && m.CustomerID == loser {
			m.CustomerID = winner
		}
	}
	r.moved[loser] = winner
	delete(r.custs, loser)
	delete(r.custs, winner) // reloaded with the loser's profile folded in
	for k := range r.latest {
		if strings.HasPrefix(k, fmt.Sprint(loser)+"/") || strings.HasPrefix(k, fmt.Sprint(winner)+"/") {
			delete(r.latest, k)
		}
	}
}

func (r *resolver) newCustomerID(ctx context.Context, remaining int) (int64, error) {
	if len(r.ids) == 0 {
		ids, err := r.db.Dialect.NextIDs(ctx, r.tx, "customers", max(remaining, 1))
		if err != nil {
			return 0, fmt.Errorf("reserve customer ids: %w", err)
		}
		r.ids = ids
	}
	id := r.ids[0]
	r.ids = r.ids[1:]
	return id, nil
}

func (r *resolver) addCandidate(ctx context.Context, c identity.Candidate) error {
	a, b := min(c.A, c.B), max(c.A, c.B)
	res, err := r.tx.ExecContext(ctx, `INSERT INTO merge_candidates (customer_a, customer_b, via_kind, via_source, via_value, status, created_at)
		VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT (customer_a, customer_b) DO NOTHING`,
		a, b, string(c.Via.Kind), c.Via.Source, c.Via.Value, ms(r.now))
	if err != nil {
		return fmt.Errorf("record merge candidate: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		r.result.Candidates++
	}
	return nil
}

// addConsent queues a consent record when it changes the customer's
// current state for the channel, so re-importing the same file adds nothing.
func (r *resolver) addConsent(ctx context.Context, cust, origin int64, c customer.Consent) error {
	key := fmt.Sprintf("%d/%s", cust, c.Channel)
	cur, ok := r.latest[key]
	if !ok && !r.custs[cust].isNew {
		var granted bool
		err := r.tx.QueryRowContext(ctx, `SELECT granted FROM consent_records WHERE customer_id = $1 AND channel = $2
			ORDER BY recorded_at DESC, id DESC LIMIT 1`, cust, c.Channel).Scan(&granted)
		switch {
		case err == nil:
			cur, ok = granted, true
		case !isNoRows(err):
			return err
		}
	}
	if ok && cur == c.Granted {
		return nil
	}
	if c.RecordedAt.IsZero() {
		c.RecordedAt = r.now
	}
	r.latest[key] = c.Granted
	r.consents = append(r.consents, consentRow{customer: cust, origin: origin, c: c})
	if st := r.custs[cust]; !st.isNew {
		st.changed = true
	}
	return nil
}

// customerUpsert writes whole customer rows: new ones are inserted, known
// ones updated in place by the same multi-row statement.
var customerUpsert = func() (head, tail string, k int) {
	fields := customer.FieldNames()
	cols := "id, status, " + strings.Join(fields, ", ") + ", attributes, search_text, created_at, updated_at, order_count, total_spent, first_order_at, last_order_at"
	var set []string
	for _, f := range append(fields, "attributes", "search_text", "created_at", "updated_at", "order_count", "total_spent", "first_order_at", "last_order_at") {
		set = append(set, f+" = excluded."+f)
	}
	return "INSERT INTO customers (" + cols + ")", "ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", "), 2 + len(fields) + 8
}

var custHead, custTail, custCols = customerUpsert()

// flush writes everything queued so far.
func (r *resolver) flush(ctx context.Context) error {
	var dirty []*custState
	for _, st := range r.custs {
		if st.dirty {
			dirty = append(dirty, st)
		}
	}
	sort.Slice(dirty, func(i, j int) bool { return dirty[i].c.ID < dirty[j].c.ID })
	// New customers carry ids reserved for this batch: plain inserts
	// (PostgreSQL: COPY straight into customers). Known ones are updated
	// in place by the same statement with its ON CONFLICT clause.
	var fresh, known []*custState
	for _, st := range dirty {
		if st.isNew {
			fresh = append(fresh, st)
		} else {
			known = append(known, st)
		}
	}
	for _, part := range []struct {
		sts  []*custState
		tail string
	}{{fresh, ""}, {known, custTail}} {
		_, err := r.db.insertMany(ctx, r.tx, custHead, custCols, part.tail, len(part.sts), func(i int, args []any) []any {
			c := &part.sts[i].c
			args = append(args, c.ID, string(customer.Active))
			for _, v := range c.Profile.Values() {
				args = append(args, v)
			}
			return append(args, attrsJSON(c.Attributes), customer.SearchText(c.Profile), ms(c.CreatedAt), ms(c.UpdatedAt),
				c.OrderCount, c.TotalSpent, msPtrP(c.FirstOrderAt), msPtrP(c.LastOrderAt))
		})
		if err != nil {
			return fmt.Errorf("write customers: %w", err)
		}
	}
	for _, st := range dirty {
		st.isNew, st.dirty = false, false
	}

	idents := r.newIdents
	r.newIdents = nil
	_, err := r.db.insertMany(ctx, r.tx, `INSERT INTO identities (customer_id, origin_customer_id, kind, source, value, weak, created_at)`, 7, "",
		len(idents), func(i int, args []any) []any {
			ir := idents[i]
			return append(args, ir.customer, ir.origin, string(ir.id.Kind), ir.id.Source, ir.id.Value, ir.id.Weak, ms(r.now))
		})
	if err != nil {
		return fmt.Errorf("write identifiers: %w", err)
	}

	consents := r.consents
	r.consents = nil
	_, err = r.db.insertMany(ctx, r.tx, `INSERT INTO consent_records (customer_id, origin_customer_id, channel, granted, method, source, wording_version, actor, recorded_at)`, 9, "",
		len(consents), func(i int, args []any) []any {
			cr := consents[i]
			c := cr.c
			return append(args, cr.customer, cr.origin, c.Channel, c.Granted, c.Method, c.Source, c.WordingVersion, c.Actor, ms(c.RecordedAt))
		})
	if err != nil {
		return fmt.Errorf("write consents: %w", err)
	}

	tags := r.tags
	r.tags = nil
	for _, t := range tags { // one at a time: only these know whether each was new
		res, err := r.tx.execCached(ctx, r.db, `INSERT INTO customer_tags (customer_id, origin_customer_id, tag, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (origin_customer_id, tag) DO NOTHING`, []any{t.customer, t.origin, t.tag, ms(r.now)})
		if err != nil {
			return fmt.Errorf("write tags: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if st := r.custs[t.customer]; st != nil {
				st.changed = true
			}
		}
	}
	return nil
}

// refreshAggregates recomputes, from their orders, the aggregates of the
// customers whose orders changed in ways that cannot be counted forward.
func (r *resolver) refreshAggregates(ctx context.Context) error {
	ids := make([]any, 0, len(r.refresh))
	for id := range r.refresh {
		ids = append(ids, r.current(id))
	}
	r.refresh = map[int64]bool{}
	return r.db.refreshAggregates(ctx, r.tx, ids)
}

// refreshAggregates recomputes order aggregates for customers ids.
func (db *DB) refreshAggregates(ctx context.Context, tx *Tx, ids []any) error {
	return db.chunk(len(ids), 1, func(lo, hi int) error {
		byID, args := db.Dialect.InList("id", 1, ids[lo:hi])
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET order_count = 0, total_spent = 0, first_order_at = NULL, last_order_at = NULL
			WHERE `+byID, args...); err != nil {
			return fmt.Errorf("reset aggregates: %w", err)
		}
		byCustomer, args := db.Dialect.InList("customer_id", 1, ids[lo:hi])
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET order_count = a.n, total_spent = a.spent, first_order_at = a.first_at, last_order_at = a.last_at
			FROM (SELECT customer_id, count(*) AS n, sum(total) AS spent, min(ordered_at) AS first_at, max(ordered_at) AS last_at
			      FROM orders WHERE `+byCustomer+` AND status = 'paid' GROUP BY customer_id) AS a
			WHERE customers.id = a.customer_id`, args...); err != nil {
			return fmt.Errorf("refresh aggregates: %w", err)
		}
		return nil
	})
}

// finish writes what is queued and refreshes aggregates.
func (r *resolver) finish(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	return r.refreshAggregates(ctx)
}

func msPtrP(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

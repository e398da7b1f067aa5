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
)

// customerTables lists every table whose rows belong to a customer through
// customer_id and origin_customer_id. Merges move their rows; unmerges move
// them back by origin. A feature that adds such a table adds it here.
var customerTables = []string{"identities", "orders", "events", "consent_records", "customer_tags", "notes", "inquiries", "messages"}

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

// identityPolicySetting is the settings key holding the kinds that wait for
// approval before merging, as a JSON array (e.g. ["phone"]).
const identityPolicySetting = "identity.manual_merge_kinds"

// resolver files a batch of customer records under customers inside one
// write transaction: it looks identifiers up in bulk, plans each record with
// identity.Decide and writes new customers, identifiers, consents and tags
// in multi-row statements at the end.
type resolver struct {
	db     *DB
	tx     *Tx
	now    time.Time
	policy identity.Policy
	actor  string

	known map[string]*identity.Match // identifier key → holder; nil = not held
	custs map[int64]*custState
	ids   []int64 // reserved ids for new customers

	newIdents []identRow
	consents  []consentRow
	tags      []tagRow
	touched   map[int64]bool // customers whose aggregates need refreshing
	result    BatchResult
	latest    map[string]bool // customer/channel → latest granted state, loaded lazily
	moved     map[int64]int64 // loser → winner of merges done in this batch
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

type custState struct {
	c       customer.Customer
	isNew   bool
	dirty   bool
	changed bool // a field of an existing customer changed in this batch
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
		touched: map[int64]bool{}, latest: map[string]bool{}, moved: map[int64]int64{},
	}
	var raw string
	err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, identityPolicySetting).Scan(&raw)
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

// prefetch looks up every identifier of recs at once.
func (r *resolver) prefetch(ctx context.Context, recs []*customer.Record) error {
	groups := map[[2]string][]string{}
	for _, rec := range recs {
		for _, id := range rec.Identifiers {
			k := id.Key()
			if _, ok := r.known[k]; ok {
				continue
			}
			r.known[k] = nil
			g := [2]string{string(id.Kind), id.Source}
			groups[g] = append(groups[g], id.Value)
		}
	}
	var holders []int64
	for g, values := range groups {
		err := r.db.chunk(len(values), 1, func(lo, hi int) error {
			args := []any{g[0], g[1]}
			for _, v := range values[lo:hi] {
				args = append(args, v)
			}
			rows, err := r.tx.QueryContext(ctx, `SELECT value, customer_id, origin_customer_id FROM identities
				WHERE kind = $1 AND source = $2 AND value IN (`+list(hi-lo, 3)+`)`, args...)
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
		rows, err := r.tx.QueryContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id IN (`+list(hi-lo, 1)+`)`, need[lo:hi]...)
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

// afterMerge repoints the batch's memory from loser to winner.
func (r *resolver) afterMerge(winner, loser int64) {
	for _, m := range r.known {
		if m != nil && m.CustomerID == loser {
			m.CustomerID = winner
		}
	}
	r.moved[loser] = winner
	delete(r.custs, loser)
	delete(r.custs, winner) // reloaded with the loser's profile folded in
	r.touched[winner] = true
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

// flush writes everything queued so far.
func (r *resolver) flush(ctx context.Context) error {
	var news, dirty []*custState
	for _, st := range r.custs {
		switch {
		case st.isNew && st.dirty:
			news = append(news, st)
		case st.dirty:
			dirty = append(dirty, st)
		}
	}
	sort.Slice(news, func(i, j int) bool { return news[i].c.ID < news[j].c.ID })
	if err := r.insertCustomers(ctx, news); err != nil {
		return fmt.Errorf("insert customers: %w", err)
	}
	for _, st := range news {
		st.isNew, st.dirty = false, false
	}
	for _, st := range dirty {
		if err := r.updateCustomer(ctx, st); err != nil {
			return fmt.Errorf("update customer %d: %w", st.c.ID, err)
		}
		st.dirty = false
	}
	if err := r.insertIdentities(ctx); err != nil {
		return fmt.Errorf("insert identifiers: %w", err)
	}
	if err := r.insertConsents(ctx); err != nil {
		return fmt.Errorf("insert consents: %w", err)
	}
	if err := r.insertTags(ctx); err != nil {
		return fmt.Errorf("insert tags: %w", err)
	}
	return nil
}

func (r *resolver) insertCustomers(ctx context.Context, news []*custState) error {
	cols := "id, status, " + strings.Join(customer.FieldNames(), ", ") + ", attributes, search_text, created_at, updated_at"
	n := 2 + len(customer.FieldNames()) + 4
	return r.db.chunk(len(news), n, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*n)
		for _, st := range news[lo:hi] {
			c := &st.c
			args = append(args, c.ID, string(customer.Active))
			for _, v := range c.Profile.Values() {
				args = append(args, v)
			}
			args = append(args, attrsJSON(c.Attributes), customer.SearchText(c.Profile), ms(c.CreatedAt), ms(c.UpdatedAt))
		}
		_, err := r.tx.ExecContext(ctx, `INSERT INTO customers (`+cols+`) VALUES `+placeholders(hi-lo, n, 1), args...)
		return err
	})
}

func (r *resolver) updateCustomer(ctx context.Context, st *custState) error {
	c := &st.c
	args := []any{c.ID}
	for _, v := range c.Profile.Values() {
		args = append(args, v)
	}
	k := len(args) + 1
	args = append(args, attrsJSON(c.Attributes), customer.SearchText(c.Profile), ms(c.CreatedAt), ms(c.UpdatedAt))
	_, err := r.tx.ExecContext(ctx, `UPDATE customers SET `+profileSet(2)+
		`, attributes = $`+itoa(k)+`, search_text = $`+itoa(k+1)+`, created_at = $`+itoa(k+2)+`, updated_at = $`+itoa(k+3)+
		` WHERE id = $1`, args...)
	return err
}

func (r *resolver) insertIdentities(ctx context.Context) error {
	rows := r.newIdents
	r.newIdents = nil
	return r.db.chunk(len(rows), 7, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*7)
		for _, ir := range rows[lo:hi] {
			args = append(args, ir.customer, ir.origin, string(ir.id.Kind), ir.id.Source, ir.id.Value, ir.id.Weak, ms(r.now))
		}
		_, err := r.tx.ExecContext(ctx, `INSERT INTO identities (customer_id, origin_customer_id, kind, source, value, weak, created_at) VALUES `+
			placeholders(hi-lo, 7, 1), args...)
		return err
	})
}

func (r *resolver) insertConsents(ctx context.Context) error {
	rows := r.consents
	r.consents = nil
	return r.db.chunk(len(rows), 9, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*9)
		for _, cr := range rows[lo:hi] {
			c := cr.c
			args = append(args, cr.customer, cr.origin, c.Channel, c.Granted, c.Method, c.Source, c.WordingVersion, c.Actor, ms(c.RecordedAt))
		}
		_, err := r.tx.ExecContext(ctx, `INSERT INTO consent_records (customer_id, origin_customer_id, channel, granted, method, source, wording_version, actor, recorded_at) VALUES `+
			placeholders(hi-lo, 9, 1), args...)
		return err
	})
}

func (r *resolver) insertTags(ctx context.Context) error {
	rows := r.tags
	r.tags = nil
	return r.db.chunk(len(rows), 4, func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*4)
		for _, t := range rows[lo:hi] {
			args = append(args, t.customer, t.origin, t.tag, ms(r.now))
		}
		res, err := r.tx.ExecContext(ctx, `INSERT INTO customer_tags (customer_id, origin_customer_id, tag, created_at) VALUES `+
			placeholders(hi-lo, 4, 1)+` ON CONFLICT (origin_customer_id, tag) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			for _, t := range rows[lo:hi] {
				if st := r.custs[t.customer]; st != nil && !st.isNew {
					st.changed = true
				}
			}
		}
		return nil
	})
}

// refreshAggregates recomputes order aggregates of the touched customers
// from their paid orders.
func (r *resolver) refreshAggregates(ctx context.Context) error {
	ids := make([]any, 0, len(r.touched))
	for id := range r.touched {
		ids = append(ids, id)
	}
	r.touched = map[int64]bool{}
	return r.db.refreshAggregates(ctx, r.tx, ids)
}

// refreshAggregates recomputes order aggregates for customers ids.
func (db *DB) refreshAggregates(ctx context.Context, tx *Tx, ids []any) error {
	return db.chunk(len(ids), 1, func(lo, hi int) error {
		in := list(hi-lo, 1)
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET order_count = 0, total_spent = 0, first_order_at = NULL, last_order_at = NULL
			WHERE id IN (`+in+`)`, ids[lo:hi]...); err != nil {
			return fmt.Errorf("reset aggregates: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET order_count = a.n, total_spent = a.spent, first_order_at = a.first_at, last_order_at = a.last_at
			FROM (SELECT customer_id, count(*) AS n, sum(total) AS spent, min(ordered_at) AS first_at, max(ordered_at) AS last_at
			      FROM orders WHERE customer_id IN (`+in+`) AND status = 'paid' GROUP BY customer_id) AS a
			WHERE customers.id = a.customer_id`, ids[lo:hi]...); err != nil {
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

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

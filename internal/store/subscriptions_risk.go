package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/subscription"
)

// SettingRiskModel is the settings key of the fitted cancellation-risk model.
const SettingRiskModel = "subscriptions.risk_model"

// RiskRefresh says what RefreshSubscriptionRisk did.
type RiskRefresh struct {
	Model  *subscription.Model `json:"model"`
	Scored int                 `json:"scored"`
	High   int                 `json:"high"`
	Medium int                 `json:"medium"`
	Low    int                 `json:"low"`
}

// riskContract is what the risk model reads of a contract.
type riskContract struct {
	id, customer  int64
	started       time.Time
	cycle         subscription.Cycle
	status        subscription.Status
	deliveries    int
	skipsStated   int
	cancelled     int64
	price         int64
	deliveredAt   map[int]int64 // delivery number → ms
	skips, pauses []int64       // ms of recorded skips and pauses
}

type riskInquiry struct {
	created, closed int64 // closed 0 while open or pending
	complaint       bool
}

// RefreshSubscriptionRisk fits the model on every contract's history and
// scores the live ones (see subscription.Model).
func (db *DB) RefreshSubscriptionRisk(ctx context.Context) (*RiskRefresh, error) {
	now := db.Clock.Now()
	cs, err := db.riskContracts(ctx)
	if err != nil {
		return nil, err
	}
	inqs, err := db.riskInquiries(ctx)
	if err != nil {
		return nil, err
	}
	events, err := db.riskEvents(ctx)
	if err != nil {
		return nil, err
	}
	observe := func(c *riskContract, k int, end int64, current bool) subscription.Observation {
		o := subscription.Observation{Deliveries: k, Price: c.price}
		o.Skips = countBefore(c.skips, end)
		if current && c.skipsStated > o.Skips {
			o.Skips = c.skipsStated
		}
		o.Paused = countBefore(c.pauses, end) > 0
		for _, q := range inqs[c.customer] {
			if q.created >= end {
				continue
			}
			if q.created >= end-subscription.InquiryWindowDays*86_400_000 {
				o.Inquiries++
				if q.complaint {
					o.Complaints++
				}
			}
			if q.closed == 0 || q.closed > end {
				o.OpenInquiry = true
			}
		}
		ev := events[c.customer]
		o.Events = countBefore(ev, end) - countBefore(ev, end-subscription.EventWindowDays*86_400_000)
		return o
	}
	var samples []subscription.Sample
	type live struct {
		c   *riskContract
		obs subscription.Observation
	}
	var lives []live
	for i := range cs {
		c := &cs[i]
		at := func(k int) int64 { // when delivery k came (or was due)
			if t, ok := c.deliveredAt[k]; ok {
				return t
			}
			return ms(c.cycle.Add(c.started, k-1))
		}
		for k := 0; k <= c.deliveries; k++ {
			switch {
			case k < c.deliveries:
				end := at(k + 1)
				samples = append(samples, subscription.Sample{Obs: observe(c, k, end, false)})
			case c.status == subscription.Cancelled:
				samples = append(samples, subscription.Sample{Obs: observe(c, k, c.cancelled, false), Cancelled: true})
			default:
				lives = append(lives, live{c, observe(c, k, ms(now), true)})
			}
		}
	}
	m, err := subscription.Fit(samples, subscription.DefaultLambda, now)
	if err != nil {
		return nil, err
	}
	out := &RiskRefresh{Model: m}
	err = db.inTx(ctx, func(tx *Tx) error {
		out.Scored, out.High, out.Medium, out.Low = 0, 0, 0, 0
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET cancel_risk = NULL, risk_tier = '', risk_reasons = '[]', risk_at = NULL
			WHERE status = 'cancelled' AND cancel_risk IS NOT NULL`); err != nil {
			return err
		}
		for _, l := range lives {
			r := m.Score(l.obs, now)
			reasons, _ := json.Marshal(r.Reasons)
			if _, err := tx.execCached(ctx, db, `UPDATE subscriptions SET cancel_risk = $1, risk_tier = $2, risk_reasons = $3, risk_at = $4 WHERE id = $5`,
				[]any{r.Probability, r.Tier, string(reasons), ms(now), l.c.id}); err != nil {
				return fmt.Errorf("store risk of subscription %d: %w", l.c.id, err)
			}
			out.Scored++
			switch r.Tier {
			case subscription.TierHigh:
				out.High++
			case subscription.TierMedium:
				out.Medium++
			default:
				out.Low++
			}
		}
		b, _ := json.Marshal(m)
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, SettingRiskModel, string(b), ms(now)); err != nil {
			return err
		}
		// Segments on the risk see the new scores.
		scored := make([]int64, len(lives))
		for i, l := range lives {
			scored[i] = l.c.customer
		}
		return db.markChanged(ctx, tx, scored, now)
	})
	if err != nil {
		return nil, err
	}
	db.notifyChanged()
	return out, nil
}

// countBefore counts the sorted times before t.
func countBefore(ts []int64, t int64) int {
	return sort.Search(len(ts), func(i int) bool { return ts[i] >= t })
}

// SubscriptionRiskModel returns the last fitted model (nil when none).
func (db *DB) SubscriptionRiskModel(ctx context.Context) (*subscription.Model, error) {
	raw, ok, err := db.Setting(ctx, SettingRiskModel)
	if err != nil || !ok {
		return nil, err
	}
	var m subscription.Model
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("stored risk model: %w", err)
	}
	return &m, nil
}

func (db *DB) riskContracts(ctx context.Context) ([]riskContract, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_id, started_at, cycle_unit, cycle_count, status, deliveries, skips,
		coalesce(cancelled_at, 0), price FROM subscriptions ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var cs []riskContract
	idx := map[int64]int{}
	for rows.Next() {
		var c riskContract
		var started int64
		var unit, status string
		if err := rows.Scan(&c.id, &c.customer, &started, &unit, &c.cycle.Count, &status, &c.deliveries, &c.skipsStated, &c.cancelled, &c.price); err != nil {
			rows.Close()
			return nil, err
		}
		c.started, c.cycle.Unit, c.status = fromMS(started), subscription.Unit(unit), subscription.Status(status)
		c.deliveredAt = map[int]int64{}
		idx[c.id] = len(cs)
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT subscription_id, number, delivered_at FROM subscription_deliveries`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, at int64
		var n int
		if err := rows.Scan(&id, &n, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := idx[id]; ok {
			cs[i].deliveredAt[n] = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT subscription_id, kind, at FROM subscription_changes WHERE kind IN ('skipped', 'paused') ORDER BY at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, at int64
		var kind string
		if err := rows.Scan(&id, &kind, &at); err != nil {
			return nil, err
		}
		if i, ok := idx[id]; ok {
			if kind == "skipped" {
				cs[i].skips = append(cs[i].skips, at)
			} else {
				cs[i].pauses = append(cs[i].pauses, at)
			}
		}
	}
	return cs, rows.Err()
}

// riskInquiries reads the inquiries of subscribers, with whether each is
// about cancelling or dissatisfaction (its text or its tags).
func (db *DB) riskInquiries(ctx context.Context) (map[int64][]riskInquiry, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT i.id, i.customer_id, i.created_at, coalesce(i.closed_at, 0), i.status, i.subject, i.body, coalesce(t.tag, '')
		FROM inquiries i LEFT JOIN inquiry_tags t ON t.inquiry_id = i.id
		WHERE i.customer_id IN (SELECT customer_id FROM subscriptions) ORDER BY i.customer_id, i.created_at, i.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]riskInquiry{}
	var lastID int64
	for rows.Next() {
		var id, cid, created, closed int64
		var status, subject, body, tag string
		if err := rows.Scan(&id, &cid, &created, &closed, &status, &subject, &body, &tag); err != nil {
			return nil, err
		}
		if id == lastID { // another tag of the same inquiry
			q := &out[cid][len(out[cid])-1]
			q.complaint = q.complaint || subscription.IsComplaint(tag)
			continue
		}
		lastID = id
		if status == "closed" && closed == 0 {
			closed = created // closed before enishi kept closing times
		}
		out[cid] = append(out[cid], riskInquiry{created: created, closed: closed, complaint: subscription.IsComplaint(subject, body, tag)})
	}
	return out, rows.Err()
}

// riskEvents reads the times of subscribers' behaviour events (not the
// subscription events enishi writes itself), sorted per customer.
func (db *DB) riskEvents(ctx context.Context) (map[int64][]int64, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, occurred_at FROM events
		WHERE customer_id IN (SELECT customer_id FROM subscriptions) AND source <> $1 ORDER BY customer_id, occurred_at`, subscription.EventSource)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64][]int64{}
	for rows.Next() {
		var cid, at int64
		if err := rows.Scan(&cid, &at); err != nil {
			return nil, err
		}
		out[cid] = append(out[cid], at)
	}
	return out, rows.Err()
}

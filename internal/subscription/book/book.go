// Package book generates a subscription book (定期台帳): subscribers of a
// D2C shop's 定期便 offers with realistic retention decay — many stop after
// the first or second delivery, the rest fade slowly — skips, pauses and
// cancellation reasons, the delivery orders, and the same history as the
// webhook events a cart would send. The generator knows the truth (every
// contract's deliveries, state and history), so tests can check that the
// reports reproduce it exactly; the demo and the benchmark use it too.
package book

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// Offer is a subscription offer (定期コース) of the shop.
type Offer struct {
	SKU, Name, Category, Plan string
	Price                     int64 // per delivery
	Cycle                     subscription.Cycle
	Weight                    float64 // how often new subscribers choose it
	// Churn scales the cancellation hazard: a discounted first-delivery
	// offer (初回限定) loses more subscribers early.
	Churn float64
}

// DefaultOffers are the demo shop's 定期便.
var DefaultOffers = []Offer{
	{SKU: "SP-001", Name: "乳酸菌サプリ 30日分", Category: "サプリメント", Plan: "定期便 通常", Price: 2916, Cycle: subscription.Cycle{Unit: subscription.Months, Count: 1}, Weight: 4, Churn: 1},
	{SKU: "SP-001", Name: "乳酸菌サプリ 30日分", Category: "サプリメント", Plan: "初回限定 980円", Price: 2916, Cycle: subscription.Cycle{Unit: subscription.Months, Count: 1}, Weight: 5, Churn: 1.5},
	{SKU: "SK-005", Name: "オールインワンジェル 80g", Category: "スキンケア", Plan: "定期便 通常", Price: 3762, Cycle: subscription.Cycle{Unit: subscription.Days, Count: 45}, Weight: 3, Churn: 0.9},
	{SKU: "SP-007", Name: "国産大麦若葉の青汁 30包", Category: "サプリメント", Plan: "定期便 通常", Price: 3110, Cycle: subscription.Cycle{Unit: subscription.Months, Count: 1}, Weight: 2, Churn: 0.8},
	{SKU: "FD-004", Name: "無添加だしパック 30包", Category: "食品", Plan: "隔月便", Price: 1944, Cycle: subscription.Cycle{Unit: subscription.Months, Count: 2}, Weight: 1.5, Churn: 0.7},
}

// Reasons are cancellation reasons (解約理由) as customers give them, with
// how often; "" is a cancellation without a reason.
var Reasons = []struct {
	Text   string
	Weight float64
}{
	{"商品が余っている", 26}, {"効果を実感できない", 18}, {"価格が高い", 15}, {"肌に合わない", 8},
	{"他の商品を試したい", 7}, {"引っ越し・長期不在", 4}, {"", 22},
}

// Options shape a book.
type Options struct {
	Seed        int64
	Subscribers int
	// Contracts start in [Start, End); the history ends at End.
	Start, End time.Time
	Source     string  // the cart (default "shopify")
	Offers     []Offer // default DefaultOffers
	// Buyer names subscriber i; default an e-mail address per subscriber.
	Buyer func(i int) customer.Record
	// FirstOrderFree makes the first delivery cost ¥980 for offers whose
	// plan starts with 初回 (初回限定).
	FirstOrderFree bool
	// IDPrefix starts the contracts' numbers (default "T").
	IDPrefix string
}

// Contract is one generated contract and everything that happened to it.
type Contract struct {
	ExternalID string
	Buyer      customer.Record
	Offer      *Offer
	Started    time.Time
	Deliveries []time.Time // when each delivery came
	Skips      []time.Time
	// Pauses are [from, to) with to zero while still paused.
	Pauses    [][2]time.Time
	Resumes   []time.Time // with the next delivery scheduled after each
	ResumeTo  []time.Time
	SkipTo    []time.Time // next delivery after each skip
	Cancelled time.Time   // zero while live
	Reason    string
	Next      time.Time // next scheduled delivery of a live, unpaused contract
}

// Status is the contract's status at the end of the history.
func (c *Contract) Status() subscription.Status {
	switch {
	case !c.Cancelled.IsZero():
		return subscription.Cancelled
	case len(c.Pauses) > 0 && c.Pauses[len(c.Pauses)-1][1].IsZero():
		return subscription.Paused
	}
	return subscription.Active
}

// Book is a generated subscription book.
type Book struct {
	Source    string
	End       time.Time
	Contracts []Contract
	firstFree bool
	offers    []Offer
	weights   []float64
	prefix    string
}

// hazard is the chance that a subscriber who received delivery k cancels
// before delivery k+1: high after the first, then decaying (the classic
// D2C curve: about 60% reach the 2nd, 45% the 3rd, 25% the 12th).
func hazard(k int) float64 {
	switch k {
	case 1:
		return 0.34
	case 2:
		return 0.2
	case 3:
		return 0.12
	case 4, 5:
		return 0.08
	}
	return 0.055
}

const (
	pSkip  = 0.08 // a scheduled delivery is skipped
	pPause = 0.03 // the subscriber pauses instead
	// skipperChurn scales the hazard of a subscriber who has skipped: the
	// signal the risk model should find.
	skipperChurn = 1.7
)

// Generate simulates the book.
func Generate(opt Options) *Book {
	b := New(opt)
	span := opt.End.Sub(opt.Start)
	for i := 0; i < opt.Subscribers; i++ {
		r := rand.New(rand.NewPCG(uint64(opt.Seed), uint64(i)+1))
		var buyer customer.Record
		if opt.Buyer != nil {
			buyer = opt.Buyer(i)
		} else {
			email := fmt.Sprintf("teiki%d@example.jp", i+1)
			buyer = customer.Record{Identifiers: []identity.Identifier{{Kind: identity.Email, Value: email}}, Profile: customer.Profile{Email: email}}
		}
		b.Add(r, i, buyer, opt.Start.Add(time.Duration(r.Float64()*float64(span))))
	}
	return b
}

// New returns an empty book for opt's offers, source and end.
func New(opt Options) *Book {
	if opt.Source == "" {
		opt.Source = "shopify"
	}
	if len(opt.Offers) == 0 {
		opt.Offers = DefaultOffers
	}
	if opt.IDPrefix == "" {
		opt.IDPrefix = "T"
	}
	b := &Book{Source: opt.Source, End: opt.End.UTC(), Contracts: make([]Contract, 0, opt.Subscribers), firstFree: opt.FirstOrderFree,
		offers: opt.Offers, prefix: opt.IDPrefix}
	for _, o := range opt.Offers {
		b.weights = append(b.weights, o.Weight)
	}
	return b
}

// Add simulates contract i of a subscriber who started around started
// (moved to that day's delivery hour), drawing from r.
func (b *Book) Add(r *rand.Rand, i int, buyer customer.Record, started time.Time) *Contract {
	c := Contract{ExternalID: fmt.Sprintf("%s%07d", b.prefix, i+1), Buyer: buyer}
	c.Offer = &b.offers[pick(r, b.weights)]
	c.Started = atTen(r, started)
	if !c.Started.Before(b.End) {
		c.Started = b.End.Add(-time.Hour)
	}
	b.simulate(r, &c)
	b.Contracts = append(b.Contracts, c)
	return &b.Contracts[len(b.Contracts)-1]
}

func pick(r *rand.Rand, w []float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	x := r.Float64() * sum
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}

// atTen moves t to its Tokyo date between 9:00 and 11:00, when the cart
// creates the day's delivery orders.
func atTen(r *rand.Rand, t time.Time) time.Time {
	d := clock.StartOfDay(t)
	return d.Add(9*time.Hour + time.Duration(r.IntN(7200))*time.Second).UTC()
}

func (b *Book) simulate(r *rand.Rand, c *Contract) {
	cy := c.Offer.Cycle
	end := b.End
	c.Deliveries = append(c.Deliveries, c.Started)
	last := c.Started
	sched := cy.Next(last)
	for {
		k := len(c.Deliveries)
		h := hazard(k) * c.Offer.Churn
		if len(c.Skips) > 0 {
			h *= skipperChurn
		}
		if r.Float64() < min(h, 0.95) {
			at := last.Add(time.Duration((0.2 + 0.75*r.Float64()) * float64(sched.Sub(last))))
			if !at.Before(end) {
				c.Next = sched
				return
			}
			c.Cancelled = at.Truncate(time.Second)
			c.Reason = reason(r)
			return
		}
		switch x := r.Float64(); {
		case x < pSkip:
			at := sched.Add(-5 * 24 * time.Hour)
			if !at.After(last) {
				at = last.Add(time.Hour)
			}
			if !at.Before(end) {
				c.Next = sched
				return
			}
			sched = cy.Next(sched)
			c.Skips = append(c.Skips, at)
			c.SkipTo = append(c.SkipTo, sched)
			last = at // the next cancellation draw is over the new interval
			continue
		case x < pSkip+pPause:
			at := sched.Add(-3 * 24 * time.Hour)
			if !at.After(last) {
				at = last.Add(time.Hour)
			}
			if !at.Before(end) {
				c.Next = sched
				return
			}
			to := cy.Add(at, 1+r.IntN(3))
			if !to.Before(end) {
				c.Pauses = append(c.Pauses, [2]time.Time{at, {}})
				return
			}
			c.Pauses = append(c.Pauses, [2]time.Time{at, to})
			if r.Float64() < 0.3 {
				c.Cancelled = to
				c.Reason = reason(r)
				return
			}
			sched = atTen(r, to.Add(7*24*time.Hour))
			c.Resumes = append(c.Resumes, to)
			c.ResumeTo = append(c.ResumeTo, sched)
			last = to
			continue
		}
		if !sched.Before(end) {
			c.Next = sched
			return
		}
		c.Deliveries = append(c.Deliveries, sched)
		last = sched
		sched = cy.Next(sched)
	}
}

func reason(r *rand.Rand) string {
	w := make([]float64, len(Reasons))
	for i, x := range Reasons {
		w[i] = x.Weight
	}
	return Reasons[pick(r, w)].Text
}

// Snapshot is the book as a cart's contract export at End: one full
// update per contract, stating deliveries and skips so far.
func (b *Book) Snapshot() []subscription.Update {
	out := make([]subscription.Update, len(b.Contracts))
	for i := range b.Contracts {
		c := &b.Contracts[i]
		u := b.base(c)
		st := c.Status()
		n, skips := len(c.Deliveries), len(c.Skips)
		u.Status, u.Deliveries, u.Skips, u.At = &st, &n, &skips, b.End
		if !c.Cancelled.IsZero() {
			at, reason := c.Cancelled, c.Reason
			u.CancelledAt, u.CancelReason = &at, &reason
		}
		if !c.Next.IsZero() {
			next := c.Next
			u.NextDeliveryAt = &next
		}
		out[i] = u
	}
	return out
}

func (b *Book) base(c *Contract) subscription.Update {
	o := c.Offer
	sku, name, plan, price, cy, started := o.SKU, o.Name, o.Plan, o.Price, o.Cycle, c.Started
	q := int64(1)
	return subscription.Update{Source: b.Source, ExternalID: c.ExternalID, Buyer: c.Buyer, SKU: &sku, ProductName: &name, Plan: &plan,
		Price: &price, Cycle: &cy, Quantity: &q, StartedAt: &started}
}

// OrderID is the order number of a contract's n-th delivery.
func OrderID(c *Contract, n int) string { return fmt.Sprintf("%s-%d", c.ExternalID, n) }

// Orders are the delivery orders, each linked to its contract.
func (b *Book) Orders() []order.Order {
	var out []order.Order
	for i := range b.Contracts {
		c := &b.Contracts[i]
		for n := range c.Deliveries {
			out = append(out, b.order(c, n+1))
		}
	}
	return out
}

// Amount is what delivery n of an offer costs the subscriber.
func (b *Book) Amount(c *Contract, n int) int64 {
	if n == 1 && b.firstFree && len(c.Offer.Plan) >= len("初回") && c.Offer.Plan[:len("初回")] == "初回" {
		return 980
	}
	return c.Offer.Price
}

func (b *Book) order(c *Contract, n int) order.Order {
	amount := b.Amount(c, n)
	buyer := c.Buyer
	buyer.SeenAt = c.Deliveries[n-1]
	return order.Order{Source: b.Source, ExternalID: OrderID(c, n), OrderedAt: c.Deliveries[n-1], Status: order.Paid, Channel: order.ChannelOwnEC,
		Currency: "JPY", Total: amount, Buyer: buyer, SubscriptionID: c.ExternalID, DeliveryNumber: n,
		Lines: []order.Line{{LineNo: 1, SKU: c.Offer.SKU, ProductName: c.Offer.Name, Category: c.Offer.Category, Quantity: 1, UnitPrice: amount, Amount: amount}}}
}

// Action is one step of the live feed: a contract update (as a webhook
// event) or a delivery order.
type Action struct {
	At     time.Time
	Update *subscription.Update
	Order  *order.Order
}

// Actions is the book's history as the cart would have sent it, in time
// order: contract created, each delivery order, skips, pauses, resumes and
// cancellations.
func (b *Book) Actions() []Action {
	var out []Action
	var c *Contract
	ev := 0
	add := func(at time.Time, u *subscription.Update, o *order.Order) {
		if u != nil {
			ev++
			u.EventID = fmt.Sprintf("%s-evt-%d", c.ExternalID, ev) // unique per source, like a cart's event ids
			u.At = at
		}
		out = append(out, Action{At: at, Update: u, Order: o})
	}
	for i := range b.Contracts {
		c, ev = &b.Contracts[i], 0
		u := b.base(c)
		u.Kind = subscription.Created
		add(c.Started, &u, nil)
		for n := range c.Deliveries {
			o := b.order(c, n+1)
			add(c.Deliveries[n], nil, &o)
		}
		for j, at := range c.Skips {
			next := c.SkipTo[j]
			add(at, &subscription.Update{Source: b.Source, ExternalID: c.ExternalID, Kind: subscription.SkippedOne, NextDeliveryAt: &next}, nil)
		}
		for j, p := range c.Pauses {
			add(p[0], &subscription.Update{Source: b.Source, ExternalID: c.ExternalID, Kind: subscription.PausedKind}, nil)
			if j < len(c.Resumes) {
				next := c.ResumeTo[j]
				add(c.Resumes[j], &subscription.Update{Source: b.Source, ExternalID: c.ExternalID, Kind: subscription.Resumed, NextDeliveryAt: &next}, nil)
			}
		}
		if !c.Cancelled.IsZero() {
			at, reason := c.Cancelled, c.Reason
			add(at, &subscription.Update{Source: b.Source, ExternalID: c.ExternalID, Kind: subscription.CancelledK, CancelledAt: &at, CancelReason: &reason}, nil)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Truth is what the book says a retention group holds.
type Truth struct {
	Subscriptions int64
	Cancelled     int64
	Reached       []int64 // contracts with at least k deliveries
	Open          []int64 // live contracts with fewer than k deliveries
	Deliveries    int64
	Revenue       int64
}

// Retention counts, per group key (group(c)), what the retention report
// must show, up to delivery maxK.
func (b *Book) Retention(group func(c *Contract) string, maxK int) map[string]*Truth {
	out := map[string]*Truth{}
	for i := range b.Contracts {
		c := &b.Contracts[i]
		for _, key := range []string{"", group(c)} {
			t := out[key]
			if t == nil {
				t = &Truth{Reached: make([]int64, maxK), Open: make([]int64, maxK)}
				out[key] = t
			}
			n := len(c.Deliveries)
			t.Subscriptions++
			t.Deliveries += int64(n)
			for d := 1; d <= n; d++ {
				t.Revenue += b.Amount(c, d)
			}
			if !c.Cancelled.IsZero() {
				t.Cancelled++
			}
			for k := 1; k <= maxK; k++ {
				if n >= k {
					t.Reached[k-1]++
				} else if c.Cancelled.IsZero() {
					t.Open[k-1]++
				}
			}
		}
	}
	return out
}

// CohortKey groups contracts by start month ("2025-04").
func CohortKey(c *Contract) string {
	return subscription.MonthLabel(subscription.CohortMonth(c.Started))
}

// LiveAt counts contracts live (paused included) and paused at t.
func (b *Book) LiveAt(t time.Time) (live, paused int64) {
	for i := range b.Contracts {
		c := &b.Contracts[i]
		if c.Started.After(t) || (!c.Cancelled.IsZero() && !c.Cancelled.After(t)) {
			continue
		}
		live++
		for _, p := range c.Pauses {
			if !p[0].After(t) && (p[1].IsZero() || p[1].After(t)) {
				paused++
				break
			}
		}
	}
	return live, paused
}

// Writer receives the live feed; store.Store is one.
type Writer interface {
	ImportSubscriptions(ctx context.Context, ups []subscription.Update) (store.BatchResult, error)
	ImportOrders(ctx context.Context, orders []order.Order) (store.BatchResult, error)
}

// Feed writes the actions before until, each contract's updates and
// delivery orders in its own time order. To keep transactions few it
// writes them in layers: layer n holds each contract's n-th run of
// consecutive updates (or orders), so no contract's history is reordered
// while different contracts share transactions. It returns the sum of the
// writes' results.
func Feed(ctx context.Context, w Writer, acts []Action, until time.Time) (store.BatchResult, error) {
	type run struct {
		ups  []subscription.Update
		ords []order.Order
	}
	runs := map[string][]*run{}
	var keys []string
	for _, a := range acts {
		if !a.At.Before(until) {
			break
		}
		key := ""
		if a.Order != nil {
			key = a.Order.SubscriptionID
		} else {
			key = a.Update.ExternalID
		}
		rs, ok := runs[key]
		if !ok {
			keys = append(keys, key)
		}
		isOrder := a.Order != nil
		if len(rs) == 0 || (len(rs[len(rs)-1].ords) > 0) != isOrder {
			rs = append(rs, &run{})
			runs[key] = rs
		}
		r := rs[len(rs)-1]
		if isOrder {
			r.ords = append(r.ords, *a.Order)
		} else {
			r.ups = append(r.ups, *a.Update)
		}
	}
	var sum store.BatchResult
	for layer := 0; ; layer++ {
		var ups []subscription.Update
		var ords []order.Order
		for _, key := range keys {
			if rs := runs[key]; layer < len(rs) {
				ups = append(ups, rs[layer].ups...)
				ords = append(ords, rs[layer].ords...)
			}
		}
		if len(ups) == 0 && len(ords) == 0 {
			return sum, nil
		}
		for lo := 0; lo < len(ups); lo += 1000 {
			res, err := w.ImportSubscriptions(ctx, ups[lo:min(lo+1000, len(ups))])
			if err != nil {
				return sum, fmt.Errorf("write subscriptions: %w", err)
			}
			sum.Add(res)
		}
		for lo := 0; lo < len(ords); lo += 1000 {
			res, err := w.ImportOrders(ctx, ords[lo:min(lo+1000, len(ords))])
			if err != nil {
				return sum, fmt.Errorf("write delivery orders: %w", err)
			}
			sum.Add(res)
		}
	}
}

// Events counts the timeline events the store records for the book's
// history: the start, each delivery, skip, pause and resume, and the
// cancellation.
func (b *Book) Events() int {
	n := 0
	for i := range b.Contracts {
		c := &b.Contracts[i]
		n += 1 + len(c.Deliveries) + len(c.Skips) + len(c.Pauses) + len(c.Resumes)
		if !c.Cancelled.IsZero() {
			n++
		}
	}
	return n
}

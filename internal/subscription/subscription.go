// Package subscription holds subscription contracts (定期購入): what a
// subscriber receives, how often and for how much, where the contract
// stands (active, paused, skipped, cancelled), the deliveries it created and
// the history of its changes; the rules for reading them from cart exports
// and webhooks; the retention, cancellation and MRR reports computed from
// them; and the cancellation-risk model.
package subscription

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
)

// Status is where a contract stands.
type Status string

// Statuses. Skipped means the coming delivery is skipped (the contract goes
// on); paused stops deliveries until resumed; cancelled ends the contract.
const (
	Active    Status = "active"
	Paused    Status = "paused"
	Skipped   Status = "skipped"
	Cancelled Status = "cancelled"
)

// Statuses lists the statuses in display order.
var Statuses = []Status{Active, Skipped, Paused, Cancelled}

// Live reports whether a contract in this status is still a subscriber
// (everything but cancelled).
func (s Status) Live() bool { return s == Active || s == Paused || s == Skipped }

// statusWords maps how carts name statuses to ours.
var statusWords = map[string]Status{
	"active": Active, "有効": Active, "継続": Active, "継続中": Active, "契約中": Active, "稼働中": Active, "定期中": Active, "1": Active,
	"paused": Paused, "休止": Paused, "休止中": Paused, "一時停止": Paused, "停止": Paused, "停止中": Paused, "お休み": Paused, "suspended": Paused,
	"skipped": Skipped, "skip": Skipped, "スキップ": Skipped, "スキップ中": Skipped,
	"cancelled": Cancelled, "canceled": Cancelled, "解約": Cancelled, "解約済": Cancelled, "解約済み": Cancelled, "キャンセル": Cancelled,
	"退会": Cancelled, "終了": Cancelled, "expired": Cancelled, "0": Cancelled,
}

// ParseStatus reads a status as carts export it.
func ParseStatus(s string) (Status, error) {
	k := strings.ToLower(strings.TrimSpace(jtext.NFKC(s)))
	if st, ok := statusWords[k]; ok {
		return st, nil
	}
	return "", errs.Errorf(errs.Invalid, "%q is not a subscription status (active, paused, skipped or cancelled; 有効, 休止, スキップ, 解約)", s)
}

// Unit is the unit of a delivery cycle.
type Unit string

// Cycle units.
const (
	Days   Unit = "day"
	Months Unit = "month"
)

// Cycle is how often deliveries come: every Count days or months.
type Cycle struct {
	Unit  Unit `json:"unit"`
	Count int  `json:"count"`
}

// daysPerMonth is the mean month length, used to turn day cycles into a
// monthly value.
const daysPerMonth = 365.25 / 12

// Valid reports whether the cycle is usable.
func (c Cycle) Valid() bool {
	switch c.Unit {
	case Days:
		return c.Count >= 1 && c.Count <= 730
	case Months:
		return c.Count >= 1 && c.Count <= 24
	}
	return false
}

// String is "30 days" or "1 month".
func (c Cycle) String() string {
	u := string(c.Unit)
	if c.Count != 1 {
		u += "s"
	}
	return strconv.Itoa(c.Count) + " " + u
}

// Days returns the cycle's mean length in days.
func (c Cycle) Days() float64 {
	if c.Unit == Months {
		return float64(c.Count) * daysPerMonth
	}
	return float64(c.Count)
}

// PerMonth is how many deliveries the cycle makes in a mean month.
func (c Cycle) PerMonth() float64 {
	if !c.Valid() {
		return 0
	}
	return daysPerMonth / c.Days()
}

// Next returns the delivery date one cycle after t, on the Tokyo calendar
// (a month cycle from 1/31 lands on the last day of February).
func (c Cycle) Next(t time.Time) time.Time { return c.Add(t, 1) }

// Add returns t moved n cycles on the Tokyo calendar.
func (c Cycle) Add(t time.Time, n int) time.Time {
	local := t.In(clock.Tokyo)
	if c.Unit == Days {
		return local.AddDate(0, 0, c.Count*n).UTC()
	}
	y, m, d := local.Date()
	first := time.Date(y, m+time.Month(c.Count*n), 1, local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), clock.Tokyo)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1).UTC()
}

var cycleRE = regexp.MustCompile(`^(?:every\s*)?(\d+)\s*(d|day|days|日|日ごと|日毎|日周期|w|week|weeks|週|週間|週ごと|週間ごと|m|mo|month|months|ヶ月|ヵ月|か月|カ月|ケ月|箇月|月|ヶ月ごと|か月ごと|ヶ月毎|か月毎|カ月ごと)$`)

// ParseCycle reads a cycle as carts write it: "30日", "1ヶ月", "2か月ごと",
// "毎月", "隔月", "2週間", "30 days", "1 month", "monthly", or a bare number
// of days.
func ParseCycle(s string) (Cycle, error) {
	t := strings.ToLower(strings.TrimSpace(jtext.NFKC(s)))
	t = strings.TrimPrefix(t, "毎")
	t = strings.TrimSuffix(strings.TrimSuffix(t, "に1回"), "に一回")
	t = strings.TrimSuffix(t, "おき")
	switch t {
	case "月", "monthly", "month", "毎月":
		return Cycle{Months, 1}, nil
	case "隔月", "bimonthly":
		return Cycle{Months, 2}, nil
	case "週", "weekly", "week":
		return Cycle{Days, 7}, nil
	case "隔週", "biweekly":
		return Cycle{Days, 14}, nil
	}
	var c Cycle
	if n, err := strconv.Atoi(t); err == nil {
		c = Cycle{Days, n}
	} else if m := cycleRE.FindStringSubmatch(strings.ReplaceAll(t, " ", "")); m != nil {
		n, _ := strconv.Atoi(m[1])
		switch u := m[2]; {
		case strings.HasPrefix(u, "d") || strings.HasPrefix(u, "日"):
			c = Cycle{Days, n}
		case strings.HasPrefix(u, "w") || strings.HasPrefix(u, "週"):
			c = Cycle{Days, 7 * n}
		default:
			c = Cycle{Months, n}
		}
	} else {
		return Cycle{}, errs.Errorf(errs.Invalid, "%q is not a delivery cycle (e.g. 30日, 1ヶ月, 隔月, 2週間, \"30 days\", \"1 month\")", s)
	}
	if !c.Valid() {
		return Cycle{}, errs.Errorf(errs.Invalid, "%q is out of range (1–730 days or 1–24 months)", s)
	}
	return c, nil
}

// Contract is one subscription (定期契約) as stored.
type Contract struct {
	ID         int64  `json:"id"`
	Source     string `json:"source"`      // the cart the contract lives in
	ExternalID string `json:"external_id"` // its number there (定期受注番号)
	CustomerID int64  `json:"customer_id"`
	// What is delivered: a product, and the plan or offer (コース, オファー)
	// it was sold under, which retention is compared by.
	SKU         string    `json:"sku"`
	ProductName string    `json:"product_name"`
	Plan        string    `json:"plan"`
	Cycle       Cycle     `json:"cycle"`
	Quantity    int64     `json:"quantity"`
	Price       int64     `json:"price"` // yen per delivery
	Status      Status    `json:"status"`
	StartedAt   time.Time `json:"started_at"`
	// NextDeliveryAt is the scheduled next delivery (nil once cancelled or
	// when the cart does not say).
	NextDeliveryAt *time.Time `json:"next_delivery_at"`
	// Deliveries counts deliveries so far (お届け回数): the larger of what
	// the cart states and the deliveries enishi has linked to orders.
	Deliveries   int        `json:"deliveries"`
	Skips        int        `json:"skips"`
	Pauses       int        `json:"pauses"`
	CancelledAt  *time.Time `json:"cancelled_at"`
	CancelReason string     `json:"cancel_reason"`
	// Inferred marks a contract enishi created from a delivery order before
	// the cart reported the contract itself (cycle and price are guesses).
	Inferred  bool      `json:"inferred,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Risk is the latest cancellation-risk score of a live contract.
	Risk *Risk `json:"risk,omitempty"`
}

// MonthlyValue is the contract's monthly recurring revenue in yen: its
// price times its deliveries per mean month.
func (c *Contract) MonthlyValue() float64 { return MonthlyValue(c.Price, c.Cycle) }

// MonthlyValue is price × deliveries per mean month.
func MonthlyValue(price int64, c Cycle) float64 { return float64(price) * c.PerMonth() }

// Delivery is one delivery of a contract and the order it created.
type Delivery struct {
	Number      int       `json:"number"` // 1 for the first delivery
	DeliveredAt time.Time `json:"delivered_at"`
	Amount      int64     `json:"amount"`
	OrderID     int64     `json:"order_id,omitempty"` // enishi's order id
	OrderRef    string    `json:"order_external_id,omitempty"`
}

// ChangeKind names an entry of a contract's history.
type ChangeKind string

// Kinds of change.
const (
	Created     ChangeKind = "created"
	Updated     ChangeKind = "updated"
	Delivered   ChangeKind = "delivered"
	SkippedOne  ChangeKind = "skipped"
	PausedKind  ChangeKind = "paused"
	Resumed     ChangeKind = "resumed"
	CancelledK  ChangeKind = "cancelled"
	Reactivated ChangeKind = "reactivated"
)

// ChangeKinds lists the kinds of change.
var ChangeKinds = []ChangeKind{Created, Updated, Delivered, SkippedOne, PausedKind, Resumed, CancelledK, Reactivated}

// EventName is the behaviour event enishi records on the customer's
// timeline for a change, which journeys trigger on (docs/subscriptions.md).
func (k ChangeKind) EventName() string {
	switch k {
	case Created:
		return EventStarted
	case Delivered:
		return EventDelivered
	case SkippedOne:
		return EventSkipped
	case PausedKind:
		return EventPaused
	case Resumed, Reactivated:
		return EventResumed
	case CancelledK:
		return EventCancelled
	}
	return ""
}

// Event names of subscription changes (source EventSource).
const (
	EventStarted   = "Subscription Started"
	EventDelivered = "Subscription Delivered"
	EventSkipped   = "Subscription Skipped"
	EventPaused    = "Subscription Paused"
	EventResumed   = "Subscription Resumed"
	EventCancelled = "Subscription Cancelled"
	// EventSource is the source of those events.
	EventSource = "enishi.subscriptions"
)

// Change is one entry of a contract's history.
type Change struct {
	ID             int64      `json:"id"`
	SubscriptionID int64      `json:"subscription_id"`
	Kind           ChangeKind `json:"kind"`
	At             time.Time  `json:"at"`
	// DeliveryNumber is the deliveries received when the change happened
	// (for delivered: the delivery's number).
	DeliveryNumber int    `json:"delivery_number"`
	Reason         string `json:"reason,omitempty"`
}

// Update is a new fact about a contract, from an import row or a webhook:
// nil fields are unknown and leave the stored value alone. Kind says what
// happened when the source says so (a webhook's event type); without it
// the store derives the changes by comparing with what it has.
type Update struct {
	Source     string
	ExternalID string
	// Buyer identifies the subscriber (identity resolution); required
	// when the contract is new.
	Buyer          customer.Record
	Kind           ChangeKind
	At             time.Time // when it happened; default now
	EventID        string    // a webhook's delivery id, for idempotence
	SKU            *string
	ProductName    *string
	Plan           *string
	Cycle          *Cycle
	Quantity       *int64
	Price          *int64
	Status         *Status
	StartedAt      *time.Time
	NextDeliveryAt *time.Time
	Deliveries     *int
	Skips          *int
	CancelledAt    *time.Time
	CancelReason   *string
	// Delivery is a delivery the update reports (delivered events).
	Delivery *Delivery
	// Inferred marks an update enishi made up from a delivery order for a
	// contract the cart has not reported: its cycle and price are guesses.
	Inferred bool
	// OriginOrder is the number (in Source) of the order that started the
	// contract, its first delivery (Shopify contracts name it).
	OriginOrder string
}

// Apply merges u into c (a stored contract, or a zero one for a new
// contract) and checks the result.
func (u *Update) Apply(c *Contract) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&c.SKU, u.SKU)
	set(&c.ProductName, u.ProductName)
	set(&c.Plan, u.Plan)
	if u.Cycle != nil {
		c.Cycle = *u.Cycle
		c.Inferred = u.Inferred
	}
	if u.Quantity != nil {
		c.Quantity = *u.Quantity
	}
	if u.Price != nil {
		c.Price = *u.Price
	}
	if u.StartedAt != nil {
		c.StartedAt = u.StartedAt.UTC()
	}
	if u.NextDeliveryAt != nil {
		t := u.NextDeliveryAt.UTC()
		c.NextDeliveryAt = &t
	}
	if u.Deliveries != nil && *u.Deliveries > c.Deliveries {
		c.Deliveries = *u.Deliveries
	}
	if u.Skips != nil && *u.Skips > c.Skips {
		c.Skips = *u.Skips
	}
	set(&c.CancelReason, u.CancelReason)
	if u.CancelledAt != nil {
		t := u.CancelledAt.UTC()
		c.CancelledAt = &t
	}
	switch {
	case u.Status != nil:
		c.Status = *u.Status
	case u.Kind == SkippedOne:
		c.Status = Skipped
	case u.Kind == PausedKind:
		c.Status = Paused
	case u.Kind == Resumed || u.Kind == Reactivated:
		c.Status = Active
	case u.Kind == CancelledK:
		c.Status = Cancelled
	case u.Kind == Delivered && c.Status == Skipped:
		c.Status = Active // the skipped delivery is behind it
	case c.Status == "":
		c.Status = Active
	}
	if u.Kind == CancelledK && c.CancelledAt == nil {
		at := u.At
		c.CancelledAt = &at
	}
	if c.Status != Cancelled {
		c.CancelledAt, c.CancelReason = nil, ""
	}
	if c.Quantity == 0 {
		c.Quantity = 1
	}
	return c.Validate()
}

// Validate checks a contract's fields.
func (c *Contract) Validate() error {
	switch {
	case strings.TrimSpace(c.ExternalID) == "":
		return errs.FieldErrorf("subscription_id", "required")
	case c.SKU == "" && c.ProductName == "":
		return errs.FieldErrorf("sku", "a subscription needs a sku or a product_name")
	case !c.Cycle.Valid():
		return errs.FieldErrorf("cycle", "required: every 1–730 days or 1–24 months")
	case c.Price < 0:
		return errs.FieldErrorf("price", "must not be negative")
	case c.Quantity < 1:
		return errs.FieldErrorf("quantity", "must be at least 1")
	case c.StartedAt.IsZero():
		return errs.FieldErrorf("started_at", "required")
	case c.Deliveries < 0 || c.Skips < 0:
		return errs.FieldErrorf("deliveries", "must not be negative")
	case c.Status == Cancelled && c.CancelledAt != nil && c.CancelledAt.Before(c.StartedAt.Add(-24*time.Hour)):
		return errs.FieldErrorf("cancelled_at", "is before started_at")
	}
	switch c.Status {
	case Active, Paused, Skipped, Cancelled:
	default:
		return errs.FieldErrorf("status", "%q is not active, paused, skipped or cancelled", c.Status)
	}
	return nil
}

// CohortMonth is the Tokyo month a contract started in, as YYYYMM.
func CohortMonth(t time.Time) int {
	y, m, _ := t.In(clock.Tokyo).Date()
	return y*100 + int(m)
}

// MonthLabel formats YYYYMM as "2026-04".
func MonthLabel(ym int) string {
	return strconv.Itoa(ym/100) + "-" + twoDigits(ym%100)
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// round rounds to 4 decimals (shares) for stable JSON.
func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

package loyalty

import (
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
)

// EntryKind is what a ledger entry records.
type EntryKind string

// Ledger entry kinds. Credits (earn, import and positive adjust entries
// that open a lot) add points; the others take points from a lot, or give
// back to it (redeem_cancel, and earn entries that top a lot up when an
// order's total grows).
const (
	Earn         EntryKind = "earn"          // points for a paid order
	Redeem       EntryKind = "redeem"        // spent at checkout
	RedeemCancel EntryKind = "redeem_cancel" // a redemption undone; points return to their lots
	Expire       EntryKind = "expire"        // a lot lapsed
	Adjust       EntryKind = "adjust"        // by staff, with a reason
	Reverse      EntryKind = "reverse"       // an order's points taken back (cancel, refund)
	Import       EntryKind = "import"        // a balance carried over from another system
)

// Entry is one row of the append-only points ledger. Every entry belongs to
// a lot: a credit opens one (its own id), and every later entry that takes
// points from or returns points to it names it, so that the points of each
// lot — and what consumed them — are exact. Points is signed.
type Entry struct {
	ID           int64      `json:"id"`
	CustomerID   int64      `json:"customer_id"`
	LotID        int64      `json:"lot_id"`
	Kind         EntryKind  `json:"kind"`
	Points       int64      `json:"points"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"` // the lot's expiry
	OrderID      int64      `json:"order_id,omitempty"`
	RedemptionID int64      `json:"redemption_id,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Actor        string     `json:"actor,omitempty"`
	At           time.Time  `json:"at"`
}

// OpenLot is a lot with points left.
type OpenLot struct {
	LotID      int64      `json:"lot_id"`
	CustomerID int64      `json:"-"`
	OriginID   int64      `json:"-"`
	Kind       EntryKind  `json:"kind"`
	Remaining  int64      `json:"remaining"`
	EarnedAt   time.Time  `json:"earned_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

// SortFIFO orders lots the way points are consumed: the soonest to expire
// first, lots that never expire last, then the oldest.
func SortFIFO(lots []OpenLot) {
	sort.SliceStable(lots, func(i, j int) bool {
		a, b := lots[i].ExpiresAt, lots[j].ExpiresAt
		switch {
		case a != nil && b != nil && !a.Equal(*b):
			return a.Before(*b)
		case a != nil && b == nil:
			return true
		case a == nil && b != nil:
			return false
		}
		return lots[i].LotID < lots[j].LotID
	})
}

// Take is points taken from one lot.
type Take struct {
	Lot    OpenLot
	Points int64
}

// PlanDebit takes amount points from lots in their order (sort them with
// SortFIFO first) and returns the takes and what could not be covered.
func PlanDebit(lots []OpenLot, amount int64) (takes []Take, short int64) {
	for _, l := range lots {
		if amount <= 0 {
			break
		}
		if l.Remaining <= 0 {
			continue
		}
		n := min(l.Remaining, amount)
		takes = append(takes, Take{Lot: l, Points: n})
		amount -= n
	}
	return takes, amount
}

// Earning is what an order earns.
type Earning struct {
	Points int64 // points credited
	Basis  int64 // yen the points were earned on
}

// Basis is the yen an order earns points on: what the customer paid for
// goods — the total less shipping and less points used (ポイント利用分には
// ポイントが付かない). Never negative.
func Basis(o *order.Order) int64 { return max(0, o.Total-o.Shipping-o.PointsUsed) }

// Earn computes an order's points: its basis, spread over its lines in
// proportion to their amounts, times the base rate, the tier's multiplier,
// the highest point campaign on each line, and the birthday bonus when the
// order falls in the customer's birthday month (birthday is YYYY-MM-DD or
// empty). Fractions are dropped once, at the end.
func (p *Program) Earn(o *order.Order, tier Tier, birthday string) Earning {
	basis := Basis(o)
	rate := pct(p.Points.BaseRatePercent) // hundredths of a percent
	if basis == 0 || rate == 0 {
		return Earning{Basis: basis}
	}
	common := pct(tier.PointMultiplier)
	if p.birthdayMonth(o.OrderedAt, birthday) {
		common = common * pct(p.Points.BirthdayMultiplier) / 100
	}
	var lineSum int64
	for _, l := range o.Lines {
		lineSum += max(0, l.Amount)
	}
	// weighted = Σ amount × multiplier in hundredths; points =
	// weighted/lineSum × basis × rate / (100 × 100 × 100).
	weighted := new(big.Int)
	term := new(big.Int)
	if lineSum == 0 {
		lineSum = 1
		weighted.SetInt64(common * p.campaignPct(o.OrderedAt, nil))
	} else {
		for i := range o.Lines {
			l := &o.Lines[i]
			if l.Amount <= 0 {
				continue
			}
			term.SetInt64(l.Amount)
			weighted.Add(weighted, term.Mul(term, big.NewInt(common*p.campaignPct(o.OrderedAt, l))))
		}
	}
	weighted.Mul(weighted, big.NewInt(basis))
	weighted.Mul(weighted, big.NewInt(rate))
	den := big.NewInt(lineSum)
	den.Mul(den, big.NewInt(100*100*100*100)) // multiplier hundredths, campaign hundredths, rate as 1/10000
	weighted.Quo(weighted, den)
	return Earning{Points: weighted.Int64(), Basis: basis}
}

// campaignPct is the highest campaign multiplier (hundredths) on a line at
// t; 100 when none applies. A nil line is an order without lines: only
// campaigns without a product scope apply.
func (p *Program) campaignPct(t time.Time, l *order.Line) int64 {
	best := int64(100)
	for _, c := range p.Points.Campaigns {
		if t.Before(c.From.Time) || !t.Before(c.To.End()) {
			continue
		}
		if len(c.SKUs) > 0 || len(c.Categories) > 0 {
			if l == nil || !(hasFold(c.SKUs, l.SKU) || (l.Category != "" && hasFold(c.Categories, l.Category))) {
				continue
			}
		}
		if m := pct(c.Multiplier); m > best {
			best = m
		}
	}
	return best
}

func (p *Program) birthdayMonth(t time.Time, birthday string) bool {
	if len(birthday) < 7 || p.Points.BirthdayMultiplier <= 0 || pct(p.Points.BirthdayMultiplier) == 100 {
		return false
	}
	m, err := strconv.Atoi(birthday[5:7])
	return err == nil && time.Month(m) == t.In(clock.Tokyo).Month()
}

// EarnsOn reports whether an order placed at t may earn points (EarnSince).
func (p *Program) EarnsOn(t time.Time) bool {
	return p.Points.EarnSince == nil || p.Points.EarnSince.IsZero() || !t.Before(p.Points.EarnSince.Time)
}

// Rescale returns the points due when an order's basis changes from
// oldBasis to newBasis (a partial refund), keeping the rate it earned at.
func Rescale(points, oldBasis, newBasis int64) int64 {
	if oldBasis <= 0 || newBasis <= 0 {
		return 0
	}
	v := new(big.Int).Mul(big.NewInt(points), big.NewInt(newBasis))
	return v.Quo(v, big.NewInt(oldBasis)).Int64()
}

// ExpiresAt returns when points earned at t lapse: they stay valid through
// the same Tokyo date ExpiryMonths later (the month's last day when it is
// shorter), so they expire at the following midnight. Nil: never.
func (r PointRules) ExpiresAt(t time.Time) *time.Time {
	if r.ExpiryMonths <= 0 {
		return nil
	}
	e := AddMonths(clock.StartOfDay(t), r.ExpiryMonths).AddDate(0, 0, 1).UTC()
	return &e
}

// AddMonths adds months to a Tokyo date, clamping the day to the target
// month's length (1/31 + 1 month = 2/28 or 2/29).
func AddMonths(t time.Time, months int) time.Time {
	t = t.In(clock.Tokyo)
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), clock.Tokyo)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// ValidThrough is the last Tokyo day on which points expiring at e can be used.
func ValidThrough(e time.Time) Day { return DayOf(e.Add(-time.Millisecond)) }

// Balance is a customer's usable points and the lots holding them.
type Balance struct {
	CustomerID int64     `json:"customer_id"`
	Points     int64     `json:"points"`
	Lots       []OpenLot `json:"lots"` // in the order they will be consumed
	// Expiring lists the points lapsing on each coming day (valid through).
	Expiring []ExpiringAmount `json:"expiring"`
}

// ExpiringAmount is points that are valid through a day and lapse after it.
type ExpiringAmount struct {
	ValidThrough Day   `json:"valid_through"`
	Points       int64 `json:"points"`
}

// Expiring groups open lots by the last day they are valid, soonest first.
func Expiring(lots []OpenLot) []ExpiringAmount {
	sums := map[string]int64{}
	var out []ExpiringAmount
	for _, l := range lots {
		if l.ExpiresAt == nil || l.Remaining <= 0 {
			continue
		}
		d := ValidThrough(*l.ExpiresAt)
		if _, ok := sums[d.String()]; !ok {
			out = append(out, ExpiringAmount{ValidThrough: d})
		}
		sums[d.String()] += l.Remaining
	}
	for i := range out {
		out[i].Points = sums[out[i].ValidThrough.String()]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ValidThrough.Before(out[j].ValidThrough.Time) })
	return out
}

// RedeemRequest spends points at checkout. IdempotencyKey makes retries
// safe: the same key returns the first result instead of spending again.
type RedeemRequest struct {
	CustomerID     int64  `json:"customer_id"`
	Points         int64  `json:"points"`
	IdempotencyKey string `json:"idempotency_key"`
	OrderRef       string `json:"order_ref,omitempty"` // the shop's order or cart number, for reference
	Actor          string `json:"-"`
}

// Validate checks a redemption request.
func (r *RedeemRequest) Validate() error {
	r.IdempotencyKey = strings.TrimSpace(r.IdempotencyKey)
	switch {
	case r.Points <= 0:
		return errs.FieldErrorf("points", "must be a whole number above 0")
	case r.IdempotencyKey == "":
		return errs.FieldErrorf("idempotency_key", "required (send the Idempotency-Key header), so that a retry never spends twice")
	case len(r.IdempotencyKey) > 200:
		return errs.FieldErrorf("idempotency_key", "at most 200 characters")
	case len(r.OrderRef) > 200:
		return errs.FieldErrorf("order_ref", "at most 200 characters")
	}
	return nil
}

// Redemption statuses.
const (
	RedemptionApplied   = "applied"
	RedemptionCancelled = "cancelled"
)

// Redemption is points spent at checkout.
type Redemption struct {
	ID             int64      `json:"id"`
	CustomerID     int64      `json:"customer_id"`
	Points         int64      `json:"points"`
	IdempotencyKey string     `json:"idempotency_key"`
	OrderRef       string     `json:"order_ref"`
	Status         string     `json:"status"`
	CreatedAt      time.Time  `json:"created_at"`
	CancelledAt    *time.Time `json:"cancelled_at,omitempty"`
	// Balance is the customer's usable points after the call.
	Balance int64 `json:"balance"`
	// Replayed is true when the key had been used already and this is the
	// stored result.
	Replayed bool `json:"replayed"`
}

// Adjustment gives or takes points by hand. Reason is required.
type Adjustment struct {
	CustomerID int64  `json:"customer_id"`
	Points     int64  `json:"points"` // positive gives, negative takes (FIFO)
	Reason     string `json:"reason"`
	// ExpiresAt of given points; nil uses the programme's expiry from today.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Key, if set, makes the adjustment idempotent.
	Key   string `json:"key,omitempty"`
	Actor string `json:"-"`
}

// Validate checks an adjustment.
func (a *Adjustment) Validate() error {
	a.Reason = strings.TrimSpace(a.Reason)
	switch {
	case a.Points == 0:
		return errs.FieldErrorf("points", "must not be 0")
	case a.Reason == "":
		return errs.FieldErrorf("reason", "required: say why (お詫び, 修正 …)")
	case len(a.Key) > 200:
		return errs.FieldErrorf("key", "at most 200 characters")
	case a.Points < 0 && a.ExpiresAt != nil:
		return errs.FieldErrorf("expires_at", "only for points given")
	}
	return nil
}

// AdjustResult is what an adjustment did.
type AdjustResult struct {
	CustomerID int64 `json:"customer_id"`
	Points     int64 `json:"points"`
	Balance    int64 `json:"balance"`
	Replayed   bool  `json:"replayed"`
}

// BalanceRow is one existing balance to import (移行ポイント). Customer is
// named by exactly one of CustomerID, Email, Phone or Source+ExternalID.
type BalanceRow struct {
	Line       int        `json:"line"`
	CustomerID int64      `json:"customer_id,omitempty"`
	Email      string     `json:"email,omitempty"`
	Phone      string     `json:"phone,omitempty"`
	Source     string     `json:"source,omitempty"`
	ExternalID string     `json:"external_id,omitempty"`
	Points     int64      `json:"points"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"` // nil: never
	Note       string     `json:"note,omitempty"`
}

// Key names the row's customer and expiry, for the import's idempotency.
func (r *BalanceRow) Key() string {
	var who string
	switch {
	case r.CustomerID != 0:
		who = "id:" + strconv.FormatInt(r.CustomerID, 10)
	case r.Email != "":
		who = "email:" + strings.ToLower(r.Email)
	case r.Phone != "":
		who = "phone:" + r.Phone
	default:
		who = "ext:" + r.Source + ":" + r.ExternalID
	}
	exp := "never"
	if r.ExpiresAt != nil {
		exp = strconv.FormatInt(r.ExpiresAt.UnixMilli(), 10)
	}
	return who + "@" + exp
}

// RowError is a rejected import row.
type RowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// BalanceImportResult is what a balance import did.
type BalanceImportResult struct {
	Imported int        `json:"imported"`
	Points   int64      `json:"points"`
	Skipped  int        `json:"skipped"` // already imported under the same batch name
	Rejected []RowError `json:"rejected"`
}

// ExpiryResult is what an expiry run did.
type ExpiryResult struct {
	Lots      int   `json:"lots"`
	Points    int64 `json:"points"`
	Customers int   `json:"customers"`
	// ExpiringSoonEvents is how many Points Expiring events were added.
	ExpiringSoonEvents int `json:"expiring_soon_events"`
}

// CustomerExpiring is a customer's points lapsing soon.
type CustomerExpiring struct {
	CustomerID   int64 `json:"customer_id"`
	ValidThrough Day   `json:"valid_through"`
	Points       int64 `json:"points"`
}

// Liability is the points owed to customers (ポイント引当).
type Liability struct {
	AsOf        time.Time `json:"as_of"`
	Outstanding int64     `json:"outstanding"` // usable points held by customers
	Customers   int64     `json:"customers"`   // customers holding any
	// ByMonth is the outstanding points by the month they lapse (Tokyo),
	// soonest first; NeverExpire holds the rest.
	ByMonth     []MonthPoints `json:"by_month"`
	NeverExpire int64         `json:"never_expire"`
	// Flows are the ledger's totals per kind over the last 30 days.
	Flows []KindPoints `json:"flows_30d"`
	// Unrecovered is points of cancelled or refunded orders that had been
	// spent before the reversal and could not be taken back.
	Unrecovered int64 `json:"unrecovered"`
}

// MonthPoints is points lapsing in a month (YYYY-MM).
type MonthPoints struct {
	Month  string `json:"month"`
	Points int64  `json:"points"`
}

// KindPoints is a ledger total for one kind.
type KindPoints struct {
	Kind   EntryKind `json:"kind"`
	Points int64     `json:"points"`
}

// MonthOf is the Tokyo month (YYYY-MM) in which points expiring at e can
// last be used.
func MonthOf(e time.Time) string { return ValidThrough(e).Format("2006-01") }

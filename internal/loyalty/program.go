// Package loyalty holds a shop's loyalty programme (会員プログラム): member
// ranks (会員ランク) earned by spend or order count, a points ledger
// (ポイント) with earn rules, expiry and redemption, and coupon campaigns
// (クーポン). It is plain Go: the rules, the arithmetic and the plans the
// store carries out. It imports no database driver and no net/http.
package loyalty

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
)

// ProgramSetting is the settings key holding the programme as JSON.
const ProgramSetting = "loyalty.program"

// Program is the shop's loyalty programme. The zero value is not valid; start
// from DefaultProgram.
type Program struct {
	// Enabled turns earning, reversing and rank evaluation on order import on
	// or off. Coupon redemptions are recorded either way.
	Enabled bool        `json:"enabled"`
	Ranks   RankRules   `json:"ranks"`
	Points  PointRules  `json:"points"`
	Coupons CouponRules `json:"coupons"`
}

// Metric is what ranks are measured by.
type Metric string

// Rank metrics.
const (
	MetricSpend  Metric = "spend"  // paid order totals in yen (購入金額)
	MetricOrders Metric = "orders" // number of paid orders (購入回数)
)

// Period is the span of orders a rank is measured over.
type Period string

// Rank periods.
const (
	// PeriodRolling is the last Months months up to now (直近12か月).
	PeriodRolling Period = "rolling"
	// PeriodCurrentYear is 1 January (Tokyo) of this year up to now (年間, 今年).
	PeriodCurrentYear Period = "current_year"
	// PeriodPreviousYear is last calendar year: this year's rank is decided
	// by last year's purchases (前年実績).
	PeriodPreviousYear Period = "previous_year"
)

// RankRules decide a customer's rank.
type RankRules struct {
	Metric Metric `json:"metric"`
	Period Period `json:"period"`
	// Months is the length of a rolling period (default 12).
	Months int `json:"months,omitempty"`
	// Tiers from the highest to the lowest threshold (Validate sorts them);
	// the lowest must have Min 0.
	Tiers []Tier `json:"tiers"`
}

// Tier is one rank and its benefits (特典). Exclusive coupons are the coupon
// campaigns that name the tier in their Ranks.
type Tier struct {
	Code string `json:"code"` // stable identifier: platinum, gold …
	Name string `json:"name"` // shown to staff and customers: プラチナ …
	// Min is the threshold in the metric's unit (yen or orders).
	Min int64 `json:"min"`
	// PointMultiplier multiplies the base earn rate (1 = 等倍, 2 = 2倍).
	PointMultiplier float64 `json:"point_multiplier"`
	FreeShipping    bool    `json:"free_shipping"`
}

// PointRules decide how points are earned and when they expire.
type PointRules struct {
	// BaseRatePercent is points per 100 yen of the earn basis (1 = 1%).
	BaseRatePercent float64 `json:"base_rate_percent"`
	// ExpiryMonths after the day points are earned they lapse, valid through
	// the same date that many months later; 0 means they never expire.
	ExpiryMonths int `json:"expiry_months"`
	// BirthdayMultiplier applies to orders placed in the customer's birthday
	// month (誕生月ポイント); 1 or 0 means no bonus.
	BirthdayMultiplier float64 `json:"birthday_multiplier"`
	// EarnSince, when set, is the first day whose orders earn points; older
	// orders (a history import) earn nothing.
	EarnSince *Day `json:"earn_since,omitempty"`
	// ExpiringSoonDays is how far ahead the expiring-soon trigger looks.
	ExpiringSoonDays int `json:"expiring_soon_days"`
	// Campaigns multiply points for a period, optionally only on some
	// products or categories (ポイントアップキャンペーン).
	Campaigns []PointCampaign `json:"campaigns"`
}

// PointCampaign multiplies the points of order lines placed From–To (Tokyo
// days, inclusive) that match SKUs or Categories (all lines when both are
// empty). Overlapping campaigns do not stack: a line gets the highest.
type PointCampaign struct {
	Name       string   `json:"name"`
	From       Day      `json:"from"`
	To         Day      `json:"to"`
	Multiplier float64  `json:"multiplier"`
	SKUs       []string `json:"skus,omitempty"`
	Categories []string `json:"categories,omitempty"`
}

// CouponRules hold programme-wide coupon settings.
type CouponRules struct {
	// ReminderDays before a campaign ends, unused issued coupons fire the
	// unused-coupon trigger.
	ReminderDays int `json:"reminder_days"`
}

// DefaultProgram is the programme a shop starts with: four ranks by spend
// over the last 12 months (Platinum ≥ ¥300,000, Gold ≥ ¥100,000, Silver ≥
// ¥30,000, Bronze below), 1% points valid 12 months, double points in the
// birthday month.
func DefaultProgram() Program {
	return Program{
		Enabled: true,
		Ranks: RankRules{Metric: MetricSpend, Period: PeriodRolling, Months: 12, Tiers: []Tier{
			{Code: "platinum", Name: "プラチナ", Min: 300_000, PointMultiplier: 3, FreeShipping: true},
			{Code: "gold", Name: "ゴールド", Min: 100_000, PointMultiplier: 3, FreeShipping: true},
			{Code: "silver", Name: "シルバー", Min: 30_000, PointMultiplier: 2},
			{Code: "bronze", Name: "ブロンズ", Min: 0, PointMultiplier: 1},
		}},
		Points:  PointRules{BaseRatePercent: 1, ExpiryMonths: 12, BirthdayMultiplier: 2, ExpiringSoonDays: 30, Campaigns: []PointCampaign{}},
		Coupons: CouponRules{ReminderDays: 7},
	}
}

// ParseProgram reads a programme from JSON and validates it. Fields left out
// keep their defaults.
func ParseProgram(raw []byte) (Program, error) {
	p := DefaultProgram()
	p.Ranks.Tiers = nil
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Program{}, errs.Errorf(errs.Invalid, "loyalty programme: %v", err)
	}
	if p.Ranks.Tiers == nil {
		p.Ranks.Tiers = DefaultProgram().Ranks.Tiers
	}
	if err := p.Validate(); err != nil {
		return Program{}, err
	}
	return p, nil
}

var codePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// maxMultiplier bounds every multiplier, which keeps the earn arithmetic
// within 128 bits and catches typos (30 for 3.0).
const maxMultiplier = 10

// Validate checks the programme and sorts its tiers from the highest.
func (p *Program) Validate() error {
	r := &p.Ranks
	switch r.Metric {
	case MetricSpend, MetricOrders:
	default:
		return errs.FieldErrorf("ranks.metric", "%q is not spend or orders", r.Metric)
	}
	switch r.Period {
	case PeriodRolling:
		if r.Months == 0 {
			r.Months = 12
		}
		if r.Months < 1 || r.Months > 120 {
			return errs.FieldErrorf("ranks.months", "must be 1–120")
		}
	case PeriodCurrentYear, PeriodPreviousYear:
	default:
		return errs.FieldErrorf("ranks.period", "%q is not rolling, current_year or previous_year", r.Period)
	}
	if len(r.Tiers) == 0 {
		return errs.FieldErrorf("ranks.tiers", "give at least one tier")
	}
	sort.SliceStable(r.Tiers, func(i, j int) bool { return r.Tiers[i].Min > r.Tiers[j].Min })
	seen := map[string]bool{}
	for i, t := range r.Tiers {
		f := fmt.Sprintf("ranks.tiers[%d]", i)
		if !codePattern.MatchString(t.Code) {
			return errs.FieldErrorf(f+".code", "%q must be lower-case letters, digits, - or _ (up to 32)", t.Code)
		}
		if seen[t.Code] {
			return errs.FieldErrorf(f+".code", "%q is used twice", t.Code)
		}
		seen[t.Code] = true
		if strings.TrimSpace(t.Name) == "" {
			r.Tiers[i].Name = t.Code
		}
		if t.Min < 0 {
			return errs.FieldErrorf(f+".min", "must not be negative")
		}
		if i > 0 && t.Min == r.Tiers[i-1].Min {
			return errs.FieldErrorf(f+".min", "two tiers have the threshold %d", t.Min)
		}
		if t.PointMultiplier < 0 || t.PointMultiplier > maxMultiplier {
			return errs.FieldErrorf(f+".point_multiplier", "must be 0–%d", maxMultiplier)
		}
	}
	if r.Tiers[len(r.Tiers)-1].Min != 0 {
		return errs.FieldErrorf("ranks.tiers", "the lowest tier must have min 0, so that every customer has a rank")
	}
	pt := &p.Points
	if pt.BaseRatePercent < 0 || pt.BaseRatePercent > 100 {
		return errs.FieldErrorf("points.base_rate_percent", "must be 0–100")
	}
	if pt.ExpiryMonths < 0 || pt.ExpiryMonths > 120 {
		return errs.FieldErrorf("points.expiry_months", "must be 0 (never) to 120")
	}
	if pt.BirthdayMultiplier < 0 || pt.BirthdayMultiplier > maxMultiplier {
		return errs.FieldErrorf("points.birthday_multiplier", "must be 0–%d", maxMultiplier)
	}
	if pt.ExpiringSoonDays < 0 || pt.ExpiringSoonDays > 365 {
		return errs.FieldErrorf("points.expiring_soon_days", "must be 0–365")
	}
	if pt.Campaigns == nil {
		pt.Campaigns = []PointCampaign{}
	}
	for i, c := range pt.Campaigns {
		f := fmt.Sprintf("points.campaigns[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			return errs.FieldErrorf(f+".name", "required")
		}
		if c.From.IsZero() || c.To.IsZero() {
			return errs.FieldErrorf(f, "from and to are required (YYYY-MM-DD)")
		}
		if c.To.Before(c.From.Time) {
			return errs.FieldErrorf(f+".to", "is before from")
		}
		if c.Multiplier <= 0 || c.Multiplier > maxMultiplier {
			return errs.FieldErrorf(f+".multiplier", "must be above 0 and at most %d", maxMultiplier)
		}
	}
	if p.Coupons.ReminderDays < 0 || p.Coupons.ReminderDays > 365 {
		return errs.FieldErrorf("coupons.reminder_days", "must be 0–365")
	}
	return nil
}

// Day is a calendar day in Asia/Tokyo, written YYYY-MM-DD in JSON. It holds
// midnight Tokyo of that day.
type Day struct{ time.Time }

// ParseDay reads YYYY-MM-DD (or YYYY/MM/DD) as a Tokyo day.
func ParseDay(s string) (Day, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "2006/01/02", "2006/1/2"} {
		if t, err := time.ParseInLocation(layout, s, clock.Tokyo); err == nil {
			return Day{t}, nil
		}
	}
	return Day{}, errs.Errorf(errs.Invalid, "%q is not a date (YYYY-MM-DD)", s)
}

// DayOf returns the Tokyo day containing t.
func DayOf(t time.Time) Day { return Day{clock.StartOfDay(t)} }

// String formats the day as YYYY-MM-DD.
func (d Day) String() string {
	if d.IsZero() {
		return ""
	}
	return d.In(clock.Tokyo).Format("2006-01-02")
}

// End is the first instant after the day.
func (d Day) End() time.Time { return d.AddDate(0, 0, 1) }

// Contains reports whether t falls on the day or between from and d.
func (d Day) Contains(t time.Time) bool { return !t.Before(d.Time) && t.Before(d.End()) }

// MarshalJSON writes "YYYY-MM-DD".
func (d Day) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Day) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		*d = Day{}
		return nil
	}
	v, err := ParseDay(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// pct turns a multiplier (1.5) into hundredths (150).
func pct(f float64) int64 { return int64(math.Round(f * 100)) }

// hasFold reports whether list holds s, ignoring case.
func hasFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

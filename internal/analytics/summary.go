package analytics

import (
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

// dayMS is one day in milliseconds; tokyoOffsetMS is Japan's fixed UTC
// offset (no daylight saving since 1951), so day numbers are Tokyo dates.
const (
	dayMS         = 86_400_000
	tokyoOffsetMS = 9 * 3_600_000
)

// Day is a Tokyo calendar date as a day number (days since 1970-01-01 JST).
type Day int64

// DayOf returns the Tokyo date of t.
func DayOf(t time.Time) Day { return DayOfMS(t.UnixMilli()) }

// DayOfMS returns the Tokyo date of a stored millisecond time.
func DayOfMS(ms int64) Day { return Day(floorDiv(ms+tokyoOffsetMS, dayMS)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Start returns the first instant (UTC) of the day.
func (d Day) Start() time.Time { return time.UnixMilli(d.StartMS()).UTC() }

// StartMS returns the first instant of the day in milliseconds.
func (d Day) StartMS() int64 { return int64(d)*dayMS - tokyoOffsetMS }

// String formats the day as YYYY-MM-DD.
func (d Day) String() string { return d.Start().In(tokyo).Format("2006-01-02") }

var tokyo = time.FixedZone("JST", 9*3600)

// ParseDay reads YYYY-MM-DD as a Tokyo date.
func ParseDay(field, s string) (Day, error) {
	t, err := time.ParseInLocation("2006-01-02", s, tokyo)
	if err != nil {
		return 0, errs.FieldErrorf(field, "%q is not a date (YYYY-MM-DD)", s)
	}
	return DayOf(t), nil
}

// MonthOf returns the Tokyo month of a day as months since 1970-01.
func MonthOf(d Day) int {
	t := d.Start().In(tokyo)
	return (t.Year()-1970)*12 + int(t.Month()) - 1
}

// MonthString formats a month number as YYYY-MM.
func MonthString(m int) string {
	return time.Date(1970+m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, tokyo).Format("2006-01")
}

// Purchase is one paid order as analytics reads it.
type Purchase struct {
	OrderID int64
	AtMS    int64
	Total   int64
	Channel string
}

// Day returns the purchase's Tokyo date.
func (p Purchase) Day() Day { return DayOfMS(p.AtMS) }

// Summary is what the store keeps per customer so that RFM, CPM and the
// models can be recomputed without reading orders again: counts over all
// paid orders up to the as-of day, and over the RFM window.
type Summary struct {
	CustomerID    int64
	Orders        int64 // paid orders up to the as-of day
	Spent         int64
	FirstDay      Day
	LastDay       Day
	PurchaseDays  int64 // distinct days with a paid order (same-day orders merged)
	FirstDaySpent int64 // spend on the first purchase day
	WinOrders     int64 // paid orders in the window
	WinSpent      int64
}

// Summarise summarises a customer's purchases (sorted by time) as of the
// end of asOf, with a window of the last window days (asOf included). It
// returns false when the customer had no purchase by then.
func Summarise(cid int64, ps []Purchase, asOf Day, window int) (Summary, bool) {
	s := Summary{CustomerID: cid}
	winStart := asOf - Day(window) + 1
	var prev Day = math.MinInt64
	for _, p := range ps {
		d := p.Day()
		if d > asOf {
			break
		}
		if s.Orders == 0 {
			s.FirstDay = d
		}
		s.Orders++
		s.Spent += p.Total
		if d == s.FirstDay {
			s.FirstDaySpent += p.Total
		}
		if d != prev {
			s.PurchaseDays++
			prev = d
		}
		s.LastDay = d
		if d >= winStart {
			s.WinOrders++
			s.WinSpent += p.Total
		}
	}
	return s, s.Orders > 0
}

// Facts returns the RFM inputs of a summary as of asOf.
func (s Summary) Facts(asOf Day) RFMFacts {
	return RFMFacts{CustomerID: s.CustomerID, RecencyDays: int64(asOf - s.LastDay), Frequency: s.WinOrders, Monetary: s.WinSpent}
}

// Unit is a model time unit.
type Unit string

// Units.
const (
	Week Unit = "week"
	DayU Unit = "day"
)

// Days is the number of days in one unit.
func (u Unit) Days() float64 {
	if u == DayU {
		return 1
	}
	return 7
}

// ParseUnit reads week or day.
func ParseUnit(s string) (Unit, error) {
	switch Unit(s) {
	case "", Week:
		return Week, nil
	case DayU:
		return DayU, nil
	}
	return "", errs.FieldErrorf("unit", "%q is not week or day", s)
}

// RFT converts a summary to model inputs as of the end of calibration.
func (s Summary) RFT(calEnd Day, u Unit) RFT {
	r := RFT{X: float64(s.PurchaseDays - 1), Tx: float64(s.LastDay-s.FirstDay) / u.Days(), T: float64(calEnd-s.FirstDay) / u.Days()}
	if r.X > 0 {
		r.Monetary = float64(s.Spent-s.FirstDaySpent) / r.X
	}
	return r
}

// Model is a fitted pair of models with what scoring needs.
type Model struct {
	Unit           Unit       `json:"unit"`
	CalibrationEnd string     `json:"calibration_end"`
	BGNBD          BGNBD      `json:"bgnbd"`
	BGNBDFit       Fit        `json:"bgnbd_fit"`
	GammaGamma     GammaGamma `json:"gamma_gamma"`
	GammaGammaFit  Fit        `json:"gamma_gamma_fit"`
	// TypicalIntervalDays is the median days between purchases of repeat
	// customers: the expected interval of customers with one purchase.
	TypicalIntervalDays float64 `json:"typical_interval_days"`
}

// FitModel fits both models on customers' summaries as of calEnd.
func FitModel(rows []RFT, calEnd Day, u Unit) (Model, error) {
	m := Model{Unit: u, CalibrationEnd: calEnd.String()}
	var err error
	if m.BGNBD, m.BGNBDFit, err = FitBGNBD(rows); err != nil {
		return m, errs.Errorf(errs.Invalid, "%v", err)
	}
	if m.GammaGamma, m.GammaGammaFit, err = FitGammaGamma(rows); err != nil {
		return m, errs.Errorf(errs.Invalid, "%v", err)
	}
	var ivs []float64
	for _, r := range rows {
		if r.X > 0 {
			ivs = append(ivs, r.Tx/r.X*u.Days())
		}
	}
	sort.Float64s(ivs)
	if len(ivs) > 0 {
		m.TypicalIntervalDays = ivs[len(ivs)/2]
	}
	return m, nil
}

// PredictAll predicts every customer of ss as Predict does, computing a
// block of customers on every core at a time, and calls fn with each
// prediction in the order of ss.
func (m Model) PredictAll(ss []Summary, asOf Day, months int, discount float64, fn func(i int, p Prediction) error) error {
	const block = 8192
	workers := runtime.GOMAXPROCS(0)
	ps := make([]Prediction, min(block, len(ss)))
	for lo := 0; lo < len(ss); lo += block {
		part := ss[lo:min(lo+block, len(ss))]
		per := (len(part) + workers - 1) / workers
		var wg sync.WaitGroup
		for w := 0; w*per < len(part); w++ {
			wg.Add(1)
			go func(from, to int) {
				defer wg.Done()
				for i := from; i < to; i++ {
					ps[i] = m.Predict(part[i], asOf, months, discount)
				}
			}(w*per, min((w+1)*per, len(part)))
		}
		wg.Wait()
		for i := range part {
			if err := fn(lo+i, ps[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Churn risk tiers.
const (
	ChurnLow    = "low"
	ChurnMedium = "medium"
	ChurnHigh   = "high"
	ChurnLost   = "lost"
)

// Prediction is one customer's model outputs.
type Prediction struct {
	PAlive            float64 `json:"p_alive"`
	ExpectedPurchases float64 `json:"expected_purchases"` // in the horizon
	ExpectedAOV       float64 `json:"expected_aov"`
	CLV               float64 `json:"clv"`
	ChurnTier         string  `json:"churn_tier"`
	NextOrderDay      Day     `json:"-"`
	NextOrderDate     string  `json:"next_order_date"`
}

// Predict scores one customer as of day asOf: expected purchases and CLV
// over months months, discounted monthly. The churn tier compares days
// since the last purchase with the customer's purchase interval (their
// own mean interval, or the shop's typical one after a single purchase)
// and P(alive): low ≤ 1 interval and P(alive) ≥ 0.5; medium ≤ 2 and ≥ 0.3;
// high ≤ 4 and ≥ 0.1; lost otherwise.
func (m Model) Predict(s Summary, asOf Day, months int, discount float64) Prediction {
	d := s.RFT(asOf, m.Unit)
	perMonth := 30.4375 / m.Unit.Days()
	p := Prediction{
		PAlive:      m.BGNBD.PAlive(d),
		ExpectedAOV: m.GammaGamma.ExpectedAverage(d.X, d.Monetary),
	}
	p.CLV, p.ExpectedPurchases = clv(m.BGNBD, m.GammaGamma, d, months, discount, perMonth)
	interval := m.TypicalIntervalDays
	if d.X > 0 {
		interval = d.Tx / d.X * m.Unit.Days()
	}
	interval = math.Max(interval, 1)
	p.NextOrderDay = s.LastDay + Day(math.Round(interval))
	p.NextOrderDate = p.NextOrderDay.String()
	overdue := float64(asOf-s.LastDay) / interval
	switch {
	case overdue <= 1 && p.PAlive >= 0.5:
		p.ChurnTier = ChurnLow
	case overdue <= 2 && p.PAlive >= 0.3:
		p.ChurnTier = ChurnMedium
	case overdue <= 4 && p.PAlive >= 0.1:
		p.ChurnTier = ChurnHigh
	default:
		p.ChurnTier = ChurnLost
	}
	return p
}

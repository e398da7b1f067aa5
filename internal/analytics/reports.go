package analytics

import (
	"sort"
	"time"
)

// Scores are one customer's stored analytics, shown in the customer 360
// and used by segments and journeys.
type Scores struct {
	AsOf                 string   `json:"as_of"`
	AsOfDay              Day      `json:"-"`
	RecencyDays          int64    `json:"recency_days"`
	Frequency            int64    `json:"frequency"` // paid orders in the RFM window
	Monetary             int64    `json:"monetary"`
	R                    int      `json:"r"`
	F                    int      `json:"f"`
	M                    int      `json:"m"`
	Segment              string   `json:"segment"`
	CPM                  string   `json:"cpm"`
	CPMLabel             string   `json:"cpm_label"`
	PAlive               *float64 `json:"p_alive"`
	ExpectedPurchases12m *float64 `json:"expected_purchases_12m"`
	ExpectedAOV          *float64 `json:"expected_aov"`
	CLV12m               *float64 `json:"clv_12m"`
	ChurnTier            string   `json:"churn_tier"`
	NextOrderDate        *string  `json:"next_order_date"`
}

// Decile is one tenth of the customers who bought in the window, ranked by spend.
type Decile struct {
	Decile          int     `json:"decile"`
	Customers       int64   `json:"customers"`
	Revenue         int64   `json:"revenue"`
	Share           float64 `json:"revenue_share"`
	CumulativeShare float64 `json:"cumulative_share"`
	MinSpend        int64   `json:"min_spend"`
	MaxSpend        int64   `json:"max_spend"`
	AvgSpend        float64 `json:"avg_spend"`
}

// DecileReport is the report `decile`.
type DecileReport struct {
	AsOf       string   `json:"as_of"`
	WindowDays int      `json:"window_days"`
	Customers  int64    `json:"customers"`
	Revenue    int64    `json:"revenue"`
	Deciles    []Decile `json:"deciles"`
}

// Deciles ranks spends (customers with a purchase in the window) into ten
// groups of equal size (the first groups one larger when n is not a
// multiple of ten). spends must be sorted from highest to lowest.
func Deciles(asOf string, window int, spends []int64) *DecileReport {
	r := &DecileReport{AsOf: asOf, WindowDays: window, Customers: int64(len(spends)), Deciles: make([]Decile, 10)}
	for _, s := range spends {
		r.Revenue += s
	}
	n := len(spends)
	for i := range r.Deciles {
		r.Deciles[i].Decile = i + 1
	}
	for i, s := range spends {
		d := &r.Deciles[i*10/n]
		if d.Customers == 0 {
			d.MaxSpend = s
		}
		d.Customers++
		d.Revenue += s
		d.MinSpend = s
	}
	var cum int64
	for i := range r.Deciles {
		d := &r.Deciles[i]
		cum += d.Revenue
		d.Share = ratio(d.Revenue, r.Revenue)
		d.CumulativeShare = ratio(cum, r.Revenue)
		if d.Customers > 0 {
			d.AvgSpend = float64(d.Revenue) / float64(d.Customers)
		}
	}
	return r
}

// Cohort metrics.
const (
	MetricRepeatRate = "repeat_rate"
	MetricRevenue    = "revenue"
	MetricLTV        = "ltv"
)

// CohortOptions select a cohort report.
type CohortOptions struct {
	Metric string
	Months int // columns: months since the first order, 0 … Months
	AsOf   Day
	From   int // first cohort month (MonthOf), 0 for all
	To     int // last cohort month, 0 for all
}

// Cohort is one first-order month.
type Cohort struct {
	Cohort       string     `json:"cohort"`
	Customers    int64      `json:"customers"`
	Repurchase2m *float64   `json:"repurchase_2m"` // share with a second order within 2 months of the first
	Repurchase6m *float64   `json:"repurchase_6m"`
	LTV12m       *float64   `json:"ltv_12m"` // revenue per customer in the 12 months from the first order
	Values       []*float64 `json:"values"`  // by months since the first order; null where not yet reached

	month         int
	active        []int64
	revenue       []int64
	mature2, rep2 int64
	mature6, rep6 int64
	mature12      int64
	rev12         int64
}

// CohortReport is the report `cohort`.
type CohortReport struct {
	By      string    `json:"by"`
	Metric  string    `json:"metric"`
	Months  int       `json:"months"`
	AsOf    string    `json:"as_of"`
	Cohorts []*Cohort `json:"cohorts"`

	opt CohortOptions
	byM map[int]*Cohort
}

// NewCohortReport starts a cohort report.
func NewCohortReport(opt CohortOptions) *CohortReport {
	return &CohortReport{By: "month", Metric: opt.Metric, Months: opt.Months, AsOf: opt.AsOf.String(), opt: opt, byM: map[int]*Cohort{}}
}

// addMonths returns the day d plus n calendar months (Tokyo).
func addMonths(d Day, n int) Day { return DayOf(d.Start().In(tokyo).AddDate(0, n, 0)) }

// Add counts one customer's purchases (sorted by time, up to as-of).
func (r *CohortReport) Add(ps []Purchase) {
	if len(ps) == 0 {
		return
	}
	first := ps[0].Day()
	cm := MonthOf(first)
	if (r.opt.From != 0 && cm < r.opt.From) || (r.opt.To != 0 && cm > r.opt.To) || first > r.opt.AsOf {
		return
	}
	c := r.byM[cm]
	if c == nil {
		c = &Cohort{Cohort: MonthString(cm), month: cm, active: make([]int64, r.opt.Months+1), revenue: make([]int64, r.opt.Months+1)}
		r.byM[cm] = c
		r.Cohorts = append(r.Cohorts, c)
	}
	c.Customers++
	lastK := -1
	for i, p := range ps {
		d := p.Day()
		if d > r.opt.AsOf {
			break
		}
		k := MonthOf(d) - cm
		if k <= r.opt.Months {
			c.revenue[k] += p.Total
			if i > 0 && k != lastK {
				c.active[k]++
				lastK = k
			}
		}
	}
	second := Day(-1 << 40)
	if len(ps) > 1 && ps[1].Day() <= r.opt.AsOf {
		second = ps[1].Day()
	}
	for _, w := range []struct {
		months        int
		mature, count *int64
	}{{2, &c.mature2, &c.rep2}, {6, &c.mature6, &c.rep6}} {
		end := addMonths(first, w.months)
		if end <= r.opt.AsOf {
			*w.mature++
			if len(ps) > 1 && second >= first && second < end {
				*w.count++
			}
		}
	}
	if end := addMonths(first, 12); end <= r.opt.AsOf {
		c.mature12++
		for _, p := range ps {
			if p.Day() < end {
				c.rev12 += p.Total
			}
		}
	}
}

// Finish computes the cells, oldest cohort first.
func (r *CohortReport) Finish() {
	sort.Slice(r.Cohorts, func(i, j int) bool { return r.Cohorts[i].month < r.Cohorts[j].month })
	asOfMonth := MonthOf(r.opt.AsOf)
	share := func(a, b int64) *float64 {
		if b == 0 {
			return nil
		}
		v := float64(a) / float64(b)
		return &v
	}
	for _, c := range r.Cohorts {
		c.Repurchase2m = share(c.rep2, c.mature2)
		c.Repurchase6m = share(c.rep6, c.mature6)
		c.LTV12m = share(c.rev12, c.mature12)
		c.Values = make([]*float64, r.Months+1)
		var cum int64
		for k := 0; k <= r.Months; k++ {
			cum += c.revenue[k]
			if c.month+k > asOfMonth {
				continue
			}
			var v float64
			switch r.Metric {
			case MetricRepeatRate:
				v = float64(c.active[k]) / float64(c.Customers)
			case MetricRevenue:
				v = float64(c.revenue[k])
			default:
				v = float64(cum) / float64(c.Customers)
			}
			c.Values[k] = &v
		}
	}
	if r.Cohorts == nil {
		r.Cohorts = []*Cohort{}
	}
}

// KPIOptions select a KPI report over [From, To] (Tokyo days, inclusive).
type KPIOptions struct {
	From, To Day
	F2Days   int // second purchase within this many days of the first; default 90
	Today    Day // for F2: first-time buyers whose N days have passed by today are "mature"
}

// KPI are the headline figures of a period (overall or one sales channel).
type KPI struct {
	Revenue           int64   `json:"revenue"`
	Orders            int64   `json:"orders"`
	Customers         int64   `json:"customers"`
	NewCustomers      int64   `json:"new_customers"`
	RepeatCustomers   int64   `json:"repeat_customers"`
	NewRevenue        int64   `json:"new_revenue"`
	RepeatRevenue     int64   `json:"repeat_revenue"`
	AOV               float64 `json:"aov"`
	PurchaseFrequency float64 `json:"purchase_frequency"` // orders per customer in the period
	RepeatRate        float64 `json:"repeat_rate"`        // repeat customers / customers
	F2                F2      `json:"f2"`
}

// F2 is the conversion of first-time buyers to a second purchase.
type F2 struct {
	Days            int      `json:"days"`
	FirstTimeBuyers int64    `json:"first_time_buyers"`
	Converted       int64    `json:"converted"`
	Rate            float64  `json:"rate"`
	MatureBuyers    int64    `json:"mature_buyers"` // whose N days have passed
	MatureConverted int64    `json:"mature_converted"`
	MatureRate      *float64 `json:"mature_rate"`
	Band            string   `json:"band"`
	BandLabel       string   `json:"band_label"`
}

// F2Band labels an F2 conversion rate: ≥40% excellent (優秀), 25–40% good
// (良好), 15–25% average (平均的), <15% poor (要改善).
func F2Band(rate float64) (band, label string) {
	switch {
	case rate >= 0.40:
		return "excellent", "優秀 (≥40%)"
	case rate >= 0.25:
		return "good", "良好 (25–40%)"
	case rate >= 0.15:
		return "average", "平均的 (15–25%)"
	}
	return "poor", "要改善 (<15%)"
}

// KPIReport is the report `kpi`.
type KPIReport struct {
	From string `json:"from"`
	To   string `json:"to"`
	KPI
	ChurnRate       float64         `json:"churn_rate"` // of the previous period's buyers, share who did not buy in this one
	PreviousBuyers  int64           `json:"previous_buyers"`
	AnnualChurnRate float64         `json:"annual_churn_rate"`
	LifespanYears   float64         `json:"lifespan_years"` // 1 / annual churn rate, at most 10
	HistoricalLTV   float64         `json:"historical_ltv"` // AOV × annual purchase frequency × lifespan
	LTVByCohort     []CohortLTV     `json:"ltv_by_cohort"`
	Channels        map[string]*KPI `json:"channels"`

	opt                KPIOptions
	cohorts            map[int]*CohortLTV
	yearPrev, yearLost int64
}

// CohortLTV is the actual cumulative revenue per customer of a first-order month, up to To.
type CohortLTV struct {
	Cohort      string  `json:"cohort"`
	Customers   int64   `json:"customers"`
	Revenue     int64   `json:"revenue"`
	PerCustomer float64 `json:"revenue_per_customer"`
	month       int
}

// NewKPIReport starts a KPI report.
func NewKPIReport(opt KPIOptions) *KPIReport {
	if opt.F2Days <= 0 {
		opt.F2Days = 90
	}
	return &KPIReport{From: opt.From.String(), To: opt.To.String(), opt: opt, Channels: map[string]*KPI{}, cohorts: map[int]*CohortLTV{},
		KPI: KPI{F2: F2{Days: opt.F2Days}}}
}

// Add counts one customer's purchases (all of them, sorted by time).
func (r *KPIReport) Add(cid int64, ps []Purchase) {
	if len(ps) == 0 {
		return
	}
	o := r.opt
	first := ps[0]
	firstDay := first.Day()
	if firstDay > o.To {
		return
	}
	length := o.To - o.From + 1
	var inPeriod, inPrev, inYear, inPrevYear bool
	for i, p := range ps {
		d := p.Day()
		switch {
		case d >= o.From && d <= o.To:
			inPeriod = true
			ch := r.channel(p.Channel)
			for _, k := range []*KPI{&r.KPI, ch} {
				k.Revenue += p.Total
				k.Orders++
				if i == 0 {
					k.NewRevenue += p.Total
				} else {
					k.RepeatRevenue += p.Total
				}
			}
		case d >= o.From-length && d < o.From:
			inPrev = true
		}
		if d > o.To-365 && d <= o.To {
			inYear = true
		}
		if d > o.To-730 && d <= o.To-365 {
			inPrevYear = true
		}
	}
	if inPeriod {
		r.countCustomer(&r.KPI, ps)
		// A customer counts once in each channel they bought through.
		done := map[string]bool{}
		for _, p := range ps {
			if d := p.Day(); d >= o.From && d <= o.To && !done[p.Channel] {
				done[p.Channel] = true
				r.countCustomer(r.channel(p.Channel), ps)
			}
		}
	}
	if inPrev {
		r.PreviousBuyers++
		if !inPeriod {
			r.ChurnRate++ // counted; divided in Finish
		}
	}
	if inPrevYear {
		r.yearPrev++
		if !inYear {
			r.yearLost++
		}
	}
	if firstDay >= o.From && firstDay <= o.To {
		for _, k := range []*KPI{&r.KPI, r.channel(first.Channel)} {
			f := &k.F2
			f.Days = o.F2Days
			f.FirstTimeBuyers++
			converted := len(ps) > 1 && ps[1].AtMS-first.AtMS <= int64(o.F2Days)*dayMS
			if converted {
				f.Converted++
			}
			if firstDay+Day(o.F2Days) <= o.Today {
				f.MatureBuyers++
				if converted {
					f.MatureConverted++
				}
			}
		}
	}
	cm := MonthOf(firstDay)
	c := r.cohorts[cm]
	if c == nil {
		c = &CohortLTV{Cohort: MonthString(cm), month: cm}
		r.cohorts[cm] = c
	}
	c.Customers++
	for _, p := range ps {
		if p.Day() <= o.To {
			c.Revenue += p.Total
		}
	}
}

// countCustomer counts a period buyer into k: new when their first order
// falls in the period, repeat when they have an order in the period that
// is not their first.
func (r *KPIReport) countCustomer(k *KPI, ps []Purchase) {
	k.Customers++
	o := r.opt
	if d := ps[0].Day(); d >= o.From && d <= o.To {
		k.NewCustomers++
	}
	for _, p := range ps[1:] {
		if d := p.Day(); d >= o.From && d <= o.To {
			k.RepeatCustomers++
			return
		}
	}
}

func (r *KPIReport) channel(name string) *KPI {
	if name == "" {
		name = "unknown"
	}
	k := r.Channels[name]
	if k == nil {
		k = &KPI{F2: F2{Days: r.opt.F2Days}}
		r.Channels[name] = k
	}
	return k
}

func (k *KPI) finish() {
	if k.Orders > 0 {
		k.AOV = float64(k.Revenue) / float64(k.Orders)
	}
	if k.Customers > 0 {
		k.PurchaseFrequency = float64(k.Orders) / float64(k.Customers)
		k.RepeatRate = float64(k.RepeatCustomers) / float64(k.Customers)
	}
	f := &k.F2
	f.Rate = ratio(f.Converted, f.FirstTimeBuyers)
	rate := f.Rate
	if f.MatureBuyers > 0 {
		v := ratio(f.MatureConverted, f.MatureBuyers)
		f.MatureRate = &v
		rate = v
	}
	f.Band, f.BandLabel = F2Band(rate)
}

// Finish computes rates and LTV.
func (r *KPIReport) Finish() {
	r.KPI.finish()
	for _, k := range r.Channels {
		k.finish()
	}
	r.ChurnRate = ratio(int64(r.ChurnRate), r.PreviousBuyers)
	r.AnnualChurnRate = ratio(r.yearLost, r.yearPrev)
	r.LifespanYears = 10
	if r.AnnualChurnRate > 0.1 {
		r.LifespanYears = 1 / r.AnnualChurnRate
	}
	days := float64(r.opt.To - r.opt.From + 1)
	r.HistoricalLTV = r.AOV * r.PurchaseFrequency * 365 / days * r.LifespanYears
	months := make([]int, 0, len(r.cohorts))
	for m := range r.cohorts {
		months = append(months, m)
	}
	sort.Ints(months)
	r.LTVByCohort = []CohortLTV{}
	for _, m := range months {
		c := r.cohorts[m]
		c.PerCustomer = float64(c.Revenue) / float64(c.Customers)
		r.LTVByCohort = append(r.LTVByCohort, *c)
	}
}

// BasketOptions select a basket report.
type BasketOptions struct {
	From, To  Day
	MinOrders int // pairs bought together in at least this many orders; default 2
	Limit     int // pairs and paths listed; default 50
}

// Pair is two products bought in the same order.
type Pair struct {
	A            string  `json:"a"`
	B            string  `json:"b"`
	Orders       int64   `json:"orders"`
	Support      float64 `json:"support"`       // orders with both / all orders
	Confidence   float64 `json:"confidence"`    // orders with both / orders with A
	ConfidenceBA float64 `json:"confidence_ba"` // orders with both / orders with B
	Lift         float64 `json:"lift"`          // confidence / share of orders with B
}

// PathNext is a product first-time buyers of a product bought next.
type PathNext struct {
	SKU       string  `json:"sku"`
	Customers int64   `json:"customers"`
	Share     float64 `json:"share"` // of the first product's first-time buyers
}

// Path is what first-time buyers of a product bought in their second order.
type Path struct {
	First        string     `json:"first"`
	Buyers       int64      `json:"buyers"`        // customers whose first order contained it
	SecondBuyers int64      `json:"second_buyers"` // … who placed a second order
	Next         []PathNext `json:"next"`
}

// BasketReport is the report `basket`.
type BasketReport struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Orders int64  `json:"orders"`
	Pairs  []Pair `json:"pairs"`
	Paths  []Path `json:"paths"`
}

// PredictOptions select a prediction.
type PredictOptions struct {
	CalibrationEnd Day
	Unit           Unit
	HorizonMonths  int
	Discount       float64 // monthly
	// Save stores the fitted model and every customer's prediction (only
	// when calibration ends today, so that stored scores are current).
	Save bool
}

// PredictionRow is one customer's prediction (the per-customer CSV).
type PredictionRow struct {
	CustomerID int64 `json:"customer_id"`
	RFT
	Prediction
}

// PredictReport is the report `predict`.
type PredictReport struct {
	CalibrationEnd      string           `json:"calibration_end"`
	Unit                Unit             `json:"unit"`
	HorizonMonths       int              `json:"horizon_months"`
	Discount            float64          `json:"discount_monthly"`
	Customers           int64            `json:"customers"`
	BGNBD               BGNBD            `json:"bgnbd"`
	BGNBDLogLik         float64          `json:"bgnbd_log_likelihood"`
	GammaGamma          GammaGamma       `json:"gamma_gamma"`
	GammaGammaLogLik    float64          `json:"gamma_gamma_log_likelihood"`
	GammaGammaCustomers int              `json:"gamma_gamma_customers"`
	TypicalIntervalDays float64          `json:"typical_interval_days"`
	ExpectedPurchases   float64          `json:"expected_purchases"`
	CLV                 float64          `json:"clv"`
	MeanPAlive          float64          `json:"mean_p_alive"`
	ChurnTiers          map[string]int64 `json:"churn_tiers"`
	Saved               bool             `json:"saved"`
	FitSeconds          float64          `json:"fit_seconds"`
}

// NewPredictReport starts a report for a fitted model.
func NewPredictReport(m Model, opt PredictOptions, fit time.Duration) *PredictReport {
	return &PredictReport{CalibrationEnd: opt.CalibrationEnd.String(), Unit: m.Unit, HorizonMonths: opt.HorizonMonths, Discount: opt.Discount,
		BGNBD: m.BGNBD, BGNBDLogLik: m.BGNBDFit.LogLikelihood, GammaGamma: m.GammaGamma, GammaGammaLogLik: m.GammaGammaFit.LogLikelihood,
		GammaGammaCustomers: m.GammaGammaFit.Customers, TypicalIntervalDays: m.TypicalIntervalDays,
		ChurnTiers: map[string]int64{ChurnLow: 0, ChurnMedium: 0, ChurnHigh: 0, ChurnLost: 0}, FitSeconds: fit.Seconds()}
}

// Add counts a customer's prediction.
func (r *PredictReport) Add(p Prediction) {
	r.Customers++
	r.ExpectedPurchases += p.ExpectedPurchases
	r.CLV += p.CLV
	r.MeanPAlive += p.PAlive
	r.ChurnTiers[p.ChurnTier]++
}

// Finish turns sums into means.
func (r *PredictReport) Finish() {
	if r.Customers > 0 {
		r.MeanPAlive /= float64(r.Customers)
	}
}

// Cycle is a product's replenishment cycle.
type Cycle struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Intervals  int64  `json:"intervals"`   // repeat purchases of the SKU by the same customer
	MedianDays int64  `json:"median_days"` // learned: median days between them
	SetDays    int64  `json:"set_days"`    // the merchant's replenishment_days (0 unset)
	CycleDays  int64  `json:"cycle_days"`  // used: set days, else the learned median
}

// ReplenishmentReport is the report `replenishment`.
type ReplenishmentReport struct {
	MinIntervals int     `json:"min_intervals"`
	Products     []Cycle `json:"products"`
}

// DueOptions select the customers due to reorder.
type DueOptions struct {
	AsOf         Day
	LeadDays     int // due within this many days from as-of
	OverdueDays  int // or overdue by at most this many days
	MinIntervals int // learned cycles need this many repeat purchases
	Limit        int
}

// Due is a customer whose supply of a product should be running out.
type Due struct {
	CustomerID   int64  `json:"customer_id"`
	SKU          string `json:"sku"`
	Name         string `json:"name"`
	LastPurchase string `json:"last_purchase"`
	CycleDays    int64  `json:"cycle_days"`
	DueDate      string `json:"due_date"`
	DaysUntilDue int64  `json:"days_until_due"` // negative when overdue
}

// DueReport is the report `replenishment-due`.
type DueReport struct {
	AsOf        string `json:"as_of"`
	LeadDays    int    `json:"lead_days"`
	OverdueDays int    `json:"overdue_days"`
	Due         []Due  `json:"due"`
}

// Recommendation is a product suggested to a customer.
type Recommendation struct {
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Price    int64   `json:"price"`
	URL      string  `json:"url"`
	ImageURL string  `json:"image_url"`
	Score    float64 `json:"score"`
	Reason   string  `json:"reason"` // co_purchase | viewed
}

// Median returns the median of sorted values (the lower middle for even n).
func Median(sorted []int64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

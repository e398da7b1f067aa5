package subscription

import (
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
)

// Report groupings of the retention report.
const (
	ByCohort  = "cohort"  // start month (開始月コホート)
	ByProduct = "product" // sku
	ByPlan    = "plan"    // plan or offer (コース・オファー)
	ByNone    = "none"
)

// RetentionOptions select a retention report.
type RetentionOptions struct {
	From, To time.Time // contracts started in [From, To); zero: unbounded
	By       string    // cohort | product | plan | none
	SKU      string    // only this product
	Plan     string    // only this plan
	// MaxDelivery is the last delivery number shown (default 12).
	MaxDelivery int
}

// RetentionCell is one cell of the histogram the store counts: contracts
// of a group with the same deliveries so far and the same ended-ness.
type RetentionCell struct {
	Key        string
	Label      string
	Deliveries int
	Cancelled  bool
	Count      int64
	Revenue    int64 // delivered revenue (see RetentionRow.Revenue)
	Price      int64 // sum of the contracts' prices per delivery
}

// RetentionRow is the retention curve of one group (or of all contracts).
// Arrays are indexed by delivery number - 1 (index 0 is the 1st delivery).
type RetentionRow struct {
	Key           string `json:"key"`
	Label         string `json:"label,omitempty"`
	Subscriptions int64  `json:"subscriptions"`
	Live          int64  `json:"live"`
	Cancelled     int64  `json:"cancelled"`
	// Reached counts contracts whose deliveries so far are at least k.
	Reached []int64 `json:"reached"`
	// Open counts live contracts with fewer than k deliveries: their k-th
	// delivery is still to come, so they are left out of Retention.
	Open []int64 `json:"open"`
	// Retention (継続率) is Reached / (Subscriptions − Open): the share of
	// starters whose k-th delivery is decided that received it. Null when
	// none is decided yet.
	Retention []*float64 `json:"retention"`
	// Step is the share of those who received delivery k−1 (and whose k-th
	// is decided) that received delivery k; Survival is their running
	// product (Kaplan–Meier), the curve with young contracts counted as
	// far as they have come.
	Step     []*float64 `json:"step"`
	Survival []*float64 `json:"survival"`
	// AvgDeliveries is the mean deliveries so far; ExpectedDeliveries the
	// deliveries a starter can expect up to MaxDelivery (the area under
	// Survival).
	AvgDeliveries      float64 `json:"avg_deliveries"`
	ExpectedDeliveries float64 `json:"expected_deliveries"`
	// Revenue is delivered revenue: the amounts of deliveries linked to
	// orders, plus price × deliveries the cart counted without an order.
	// LTV is Revenue per contract (historical 定期LTV); ExpectedLTV is
	// ExpectedDeliveries × the mean price per delivery.
	Revenue     int64   `json:"revenue"`
	LTV         float64 `json:"ltv"`
	ExpectedLTV float64 `json:"expected_ltv"`
}

// RetentionReport is the 継続率 report.
type RetentionReport struct {
	From        string         `json:"from,omitempty"`
	To          string         `json:"to,omitempty"`
	By          string         `json:"by"`
	MaxDelivery int            `json:"max_delivery"`
	Total       RetentionRow   `json:"total"`
	Groups      []RetentionRow `json:"groups"`
}

// BuildRetention computes the report from the store's histogram.
func BuildRetention(opt RetentionOptions, cells []RetentionCell) *RetentionReport {
	if opt.MaxDelivery <= 0 {
		opt.MaxDelivery = 12
	}
	rep := &RetentionReport{By: opt.By, MaxDelivery: opt.MaxDelivery, Groups: []RetentionRow{}}
	if !opt.From.IsZero() {
		rep.From = opt.From.In(clock.Tokyo).Format("2006-01-02")
	}
	if !opt.To.IsZero() {
		rep.To = opt.To.In(clock.Tokyo).Format("2006-01-02")
	}
	byKey := map[string][]RetentionCell{}
	labels := map[string]string{}
	var keys []string
	for _, c := range cells {
		if _, ok := byKey[c.Key]; !ok {
			keys = append(keys, c.Key)
		}
		byKey[c.Key] = append(byKey[c.Key], c)
		if c.Label != "" {
			labels[c.Key] = c.Label
		}
	}
	sort.Strings(keys)
	rep.Total = retentionRow("", "", cells, opt.MaxDelivery)
	if opt.By != ByNone && opt.By != "" {
		for _, k := range keys {
			rep.Groups = append(rep.Groups, retentionRow(k, labels[k], byKey[k], opt.MaxDelivery))
		}
	}
	return rep
}

func retentionRow(key, label string, cells []RetentionCell, maxK int) RetentionRow {
	r := RetentionRow{Key: key, Label: label, Reached: make([]int64, maxK), Open: make([]int64, maxK),
		Retention: make([]*float64, maxK), Step: make([]*float64, maxK), Survival: make([]*float64, maxK)}
	lost := make([]int64, maxK+1) // lost[k]: cancelled with exactly k-1 deliveries
	var deliveries, price int64
	for _, c := range cells {
		r.Subscriptions += c.Count
		r.Revenue += c.Revenue
		deliveries += int64(c.Deliveries) * c.Count
		price += c.Price
		if c.Cancelled {
			r.Cancelled += c.Count
		} else {
			r.Live += c.Count
		}
		for k := 1; k <= maxK; k++ {
			switch {
			case c.Deliveries >= k:
				r.Reached[k-1] += c.Count
			case !c.Cancelled:
				r.Open[k-1] += c.Count
			}
		}
		if c.Cancelled && c.Deliveries+1 <= maxK {
			lost[c.Deliveries+1] += c.Count
		}
	}
	if r.Subscriptions == 0 {
		return r
	}
	surv := 1.0
	for k := 1; k <= maxK; k++ {
		if d := r.Subscriptions - r.Open[k-1]; d > 0 {
			r.Retention[k-1] = ptr(round(float64(r.Reached[k-1])/float64(d), 4))
		}
		if d := r.Reached[k-1] + lost[k]; d > 0 {
			step := float64(r.Reached[k-1]) / float64(d)
			r.Step[k-1] = ptr(round(step, 4))
			surv *= step
			r.Survival[k-1] = ptr(round(surv, 4))
			r.ExpectedDeliveries += surv
		} else {
			break // nobody's k-th delivery is decided yet: the curve stops here
		}
	}
	n := float64(r.Subscriptions)
	r.AvgDeliveries = round(float64(deliveries)/n, 3)
	r.ExpectedDeliveries = round(r.ExpectedDeliveries, 3)
	r.LTV = round(float64(r.Revenue)/n, 1)
	r.ExpectedLTV = round(r.ExpectedDeliveries*float64(price)/n, 1)
	return r
}

func ptr(f float64) *float64 { return &f }

// CancellationOptions select a cancellation report.
type CancellationOptions struct {
	From, To time.Time // cancellations (and skips, pauses) in [From, To)
	SKU      string
	Plan     string
	Limit    int // reasons listed (default 20)
}

// ReasonCount is one cancellation reason.
type ReasonCount struct {
	Reason string  `json:"reason"`
	Count  int64   `json:"count"`
	Share  float64 `json:"share"`
}

// DeliveryCount counts cancellations by the deliveries received before.
type DeliveryCount struct {
	Deliveries int     `json:"deliveries"`
	Count      int64   `json:"count"`
	Share      float64 `json:"share"`
}

// CancellationReport ranks why and when subscribers cancel, and how often
// they skip and pause.
type CancellationReport struct {
	From          string          `json:"from"`
	To            string          `json:"to"`
	Cancellations int64           `json:"cancellations"`
	Reasons       []ReasonCount   `json:"reasons"`
	ByDelivery    []DeliveryCount `json:"by_delivery"`
	// AvgDeliveries is the mean deliveries received by those who cancelled.
	AvgDeliveries float64 `json:"avg_deliveries_at_cancel"`
	// Skips and Deliveries in the period; SkipRate = Skips / (Deliveries +
	// Skips), the share of scheduled deliveries that were skipped.
	Skips      int64   `json:"skips"`
	Deliveries int64   `json:"deliveries"`
	SkipRate   float64 `json:"skip_rate"`
	// Subscribers live at some time in the period; Skippers and Pausers
	// those of them who skipped or paused in it (with their shares).
	Subscribers int64   `json:"subscribers"`
	Skippers    int64   `json:"skippers"`
	SkipperRate float64 `json:"skipper_rate"`
	Pausers     int64   `json:"pausers"`
	PauseRate   float64 `json:"pause_rate"`
	PausedNow   int64   `json:"paused_now"`
}

// NoReason is how cancellations without a stated reason are listed.
const NoReason = "(理由なし)"

// FinishCancellations fills shares and sorts the lists.
func FinishCancellations(r *CancellationReport, limit int) {
	if limit <= 0 {
		limit = 20
	}
	sort.SliceStable(r.Reasons, func(i, j int) bool {
		if r.Reasons[i].Count != r.Reasons[j].Count {
			return r.Reasons[i].Count > r.Reasons[j].Count
		}
		return r.Reasons[i].Reason < r.Reasons[j].Reason
	})
	if len(r.Reasons) > limit {
		r.Reasons = r.Reasons[:limit]
	}
	var n, sum int64
	for _, d := range r.ByDelivery {
		n += d.Count
		sum += int64(d.Deliveries) * d.Count
	}
	sort.Slice(r.ByDelivery, func(i, j int) bool { return r.ByDelivery[i].Deliveries < r.ByDelivery[j].Deliveries })
	share := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return round(float64(a)/float64(b), 4)
	}
	for i := range r.Reasons {
		r.Reasons[i].Share = share(r.Reasons[i].Count, r.Cancellations)
	}
	for i := range r.ByDelivery {
		r.ByDelivery[i].Share = share(r.ByDelivery[i].Count, n)
	}
	if n > 0 {
		r.AvgDeliveries = round(float64(sum)/float64(n), 3)
	}
	r.SkipRate = share(r.Skips, r.Deliveries+r.Skips)
	r.SkipperRate = share(r.Skippers, r.Subscribers)
	r.PauseRate = share(r.Pausers, r.Subscribers)
	if r.Reasons == nil {
		r.Reasons = []ReasonCount{}
	}
	if r.ByDelivery == nil {
		r.ByDelivery = []DeliveryCount{}
	}
}

// MRRContract is what the MRR report needs of a contract.
type MRRContract struct {
	ID        int64
	Price     int64
	Cycle     Cycle
	Started   int64 // ms
	Cancelled int64 // ms, 0 while live
	// Pauses are [from, to) intervals (ms; to 0 while still paused).
	Pauses [][2]int64
}

// MRRMonth is one month of the MRR report. Subscribers are live contracts
// (paused ones included); MRR counts the monthly value of those not paused.
type MRRMonth struct {
	Month            string  `json:"month"`
	SubscribersStart int64   `json:"subscribers_start"`
	New              int64   `json:"new"`
	Cancelled        int64   `json:"cancelled"`
	SubscribersEnd   int64   `json:"subscribers_end"`
	PausedEnd        int64   `json:"paused_end"`
	MRR              int64   `json:"mrr"`
	NewMRR           int64   `json:"new_mrr"`
	ChurnedMRR       int64   `json:"churned_mrr"`
	ChurnRate        float64 `json:"churn_rate"` // Cancelled / SubscribersStart
	Revenue          int64   `json:"revenue"`    // delivered in the month
}

// MRRReport is monthly recurring revenue and churn by month.
type MRRReport struct {
	From   string     `json:"from"`
	To     string     `json:"to"`
	Months []MRRMonth `json:"months"`
	// Now is the state at the report's clock.
	Subscribers int64   `json:"subscribers"`
	Paused      int64   `json:"paused"`
	MRR         int64   `json:"mrr"`
	ARPU        float64 `json:"arpu"` // MRR per subscriber not paused
}

// MonthStart is the first instant of Tokyo month ym (YYYYMM).
func MonthStart(ym int) time.Time {
	return time.Date(ym/100, time.Month(ym%100), 1, 0, 0, 0, 0, clock.Tokyo).UTC()
}

// NextMonth returns the month after ym.
func NextMonth(ym int) int {
	if ym%100 == 12 {
		return (ym/100+1)*100 + 1
	}
	return ym + 1
}

func (c *MRRContract) liveAt(t int64) bool {
	return c.Started <= t && (c.Cancelled == 0 || c.Cancelled > t)
}

func (c *MRRContract) pausedAt(t int64) bool {
	for _, p := range c.Pauses {
		if p[0] <= t && (p[1] == 0 || p[1] > t) {
			return true
		}
	}
	return false
}

// BuildMRR computes months [from, to] (YYYYMM) and the state at now from the
// contracts and the delivered revenue per month.
func BuildMRR(from, to int, now time.Time, cs []MRRContract, revenue map[int]int64) *MRRReport {
	rep := &MRRReport{From: MonthLabel(from), To: MonthLabel(to), Months: []MRRMonth{}}
	for ym := from; ym <= to; ym = NextMonth(ym) {
		s, e := MonthStart(ym).UnixMilli(), MonthStart(NextMonth(ym)).UnixMilli()
		// "End" is the month's last instant, or now for the current month.
		end := e - 1
		if n := now.UnixMilli(); n < e && n >= s {
			end = n
		}
		m := MRRMonth{Month: MonthLabel(ym), Revenue: revenue[ym]}
		var mrr, newMRR, churned float64
		for i := range cs {
			c := &cs[i]
			v := MonthlyValue(c.Price, c.Cycle)
			if c.liveAt(s - 1) {
				m.SubscribersStart++
			}
			if c.Started >= s && c.Started < e {
				m.New++
				newMRR += v
			}
			if c.Cancelled != 0 && c.Cancelled >= s && c.Cancelled < e {
				m.Cancelled++
				churned += v
			}
			if c.liveAt(end) {
				m.SubscribersEnd++
				if c.pausedAt(end) {
					m.PausedEnd++
				} else {
					mrr += v
				}
			}
		}
		m.MRR, m.NewMRR, m.ChurnedMRR = int64(mrr+0.5), int64(newMRR+0.5), int64(churned+0.5)
		if m.SubscribersStart > 0 {
			m.ChurnRate = round(float64(m.Cancelled)/float64(m.SubscribersStart), 4)
		}
		rep.Months = append(rep.Months, m)
	}
	t := now.UnixMilli()
	var mrr float64
	for i := range cs {
		c := &cs[i]
		if !c.liveAt(t) {
			continue
		}
		rep.Subscribers++
		if c.pausedAt(t) {
			rep.Paused++
			continue
		}
		mrr += MonthlyValue(c.Price, c.Cycle)
	}
	rep.MRR = int64(mrr + 0.5)
	if n := rep.Subscribers - rep.Paused; n > 0 {
		rep.ARPU = round(mrr/float64(n), 1)
	}
	return rep
}

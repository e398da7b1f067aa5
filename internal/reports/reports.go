// Package reports runs the analytics reports by name with string
// parameters, so that the CLI (`enishi report NAME --flag value`) and the
// API (`GET /api/v1/reports/NAME?flag=value`) take the same parameters and
// return the same JSON. Per-customer reports also write CSV.
package reports

import (
	"context"
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

// Params are a report's parameters by name (flag names without dashes).
type Params map[string]string

// Report describes one report.
type Report struct {
	Name    string
	Summary string
	Params  []string // accepted parameter names
	// PerCustomer reports can be written as CSV, one row per customer.
	PerCustomer bool
}

// All lists the reports.
var All = []Report{
	{"rfm", "RFM scores and segments", []string{"as-of", "window", "thresholds"}, true},
	{"rfm-movement", "customers moving between RFM segments", []string{"from", "to"}, false},
	{"cpm", "CPM: 10 groups by spend, tenure and activity", []string{"as-of"}, false},
	{"decile", "customers ranked by spend into 10 groups", []string{"as-of", "window"}, false},
	{"cohort", "first-order-month cohorts", []string{"metric", "months", "as-of", "from", "to"}, false},
	{"kpi", "revenue, AOV, repeat rate, F2 conversion, churn, LTV, by channel", []string{"from", "to", "f2-days"}, false},
	{"basket", "products bought together and first→second purchase paths", []string{"from", "to", "min-orders", "limit"}, false},
	{"predict", "BG/NBD + Gamma-Gamma: P(alive), expected purchases, CLV", []string{"calibration-end", "unit", "horizon", "discount", "save"}, true},
	{"replenishment", "learned replenishment cycles per product", []string{"min-intervals"}, false},
	{"replenishment-due", "customers due to reorder a product", []string{"as-of", "lead", "overdue", "min-intervals", "limit"}, false},
	{"subscription-retention", "定期: share of subscribers reaching delivery 2, 3 … 12 by start month, product or plan; LTV", []string{"from", "to", "by", "sku", "plan", "deliveries"}, false},
	{"subscription-cancellations", "定期: cancellation reasons ranked, cancellations by delivery, skip and pause rates", []string{"from", "to", "sku", "plan", "limit"}, false},
	{"subscription-mrr", "定期: monthly recurring revenue, subscribers and churn by month", []string{"from", "to"}, false},
	{"review-ratings", "average review rating per product", []string{"from", "to"}, false},
	{"review-repeat", "repeat rate of reviewers against non-reviewers", []string{"from", "to"}, false},
	{"survey-results", "a survey's results per question, NPS and response rate (CSV: every response)", []string{"survey", "texts"}, true},
}

// Find returns the report called name.
func Find(name string) (Report, error) {
	for _, r := range All {
		if r.Name == name {
			return r, nil
		}
	}
	names := make([]string, len(All))
	for i, r := range All {
		names[i] = r.Name
	}
	return Report{}, errs.Errorf(errs.NotFound, "no report %q (reports: %s)", name, strings.Join(names, ", "))
}

// Runner runs reports against a store with a clock for "today".
type Runner struct {
	Store store.Store
	Clock clock.Clock
}

type reader struct {
	p     Params
	today analytics.Day
	err   error
}

func (r *reader) day(name string, def analytics.Day) analytics.Day {
	v := r.p[name]
	if v == "" || r.err != nil {
		return def
	}
	if v == "today" {
		return r.today
	}
	d, err := analytics.ParseDay(name, v)
	if err != nil {
		r.err = err
	}
	return d
}

func (r *reader) int(name string, def, lo, hi int) int {
	v := r.p[name]
	if v == "" || r.err != nil {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.err = errs.FieldErrorf(name, "%q is not a whole number from %d to %d", v, lo, hi)
	}
	return n
}

func (r *reader) float(name string, def float64) float64 {
	v := r.p[name]
	if v == "" || r.err != nil {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.err = errs.FieldErrorf(name, "%q is not a number", v)
	}
	return f
}

// check refuses parameters the report does not take.
func check(rep Report, p Params) error {
	for k := range p {
		if k == "format" {
			continue
		}
		ok := false
		for _, a := range rep.Params {
			ok = ok || a == k
		}
		if !ok {
			return errs.FieldErrorf(k, "report %s does not take %s (it takes: %s)", rep.Name, k, strings.Join(rep.Params, ", "))
		}
	}
	return nil
}

// Run computes a report and returns its JSON value. When csvOut is set and
// the report is per customer, each customer's row is written there as CSV.
func (rn Runner) Run(ctx context.Context, name string, p Params, csvOut io.Writer) (any, error) {
	rep, err := Find(name)
	if err != nil {
		return nil, err
	}
	if err := check(rep, p); err != nil {
		return nil, err
	}
	if csvOut != nil && !rep.PerCustomer {
		return nil, errs.FieldErrorf("format", "report %s has no per-customer CSV (rfm, predict and survey-results do)", name)
	}
	today := analytics.DayOf(rn.Clock.Now())
	r := &reader{p: p, today: today}
	var w *csv.Writer
	if csvOut != nil {
		w = csv.NewWriter(csvOut)
		defer w.Flush()
	}
	var out any
	switch name {
	case "rfm":
		opt := store.RFMOptions{AsOf: r.day("as-of", today), WindowDays: r.int("window", 0, 1, 3660)}
		if t := p["thresholds"]; t != "" {
			th := analytics.Thresholds{Method: analytics.MethodQuintile}
			if t != analytics.MethodQuintile {
				if th, err = analytics.ParseThresholds([]byte(t)); err != nil {
					return nil, err
				}
			}
			opt.Thresholds = &th
		}
		if r.err != nil {
			return nil, r.err
		}
		var each func(analytics.RFMRow) error
		if w != nil {
			_ = w.Write([]string{"customer_id", "recency_days", "frequency", "monetary", "r", "f", "m", "segment"})
			each = func(x analytics.RFMRow) error {
				return w.Write([]string{i64(x.CustomerID), i64(x.RecencyDays), i64(x.Frequency), i64(x.Monetary),
					strconv.Itoa(x.R), strconv.Itoa(x.F), strconv.Itoa(x.M), x.Segment})
			}
		}
		out, err = rn.Store.RFM(ctx, opt, each)
	case "rfm-movement":
		from, to := r.day("from", today-30), r.day("to", today)
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.RFMMovement(ctx, from, to)
	case "cpm":
		asOf := r.day("as-of", today)
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.CPM(ctx, asOf)
	case "decile":
		asOf, window := r.day("as-of", today), r.int("window", 365, 1, 3660)
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.Deciles(ctx, asOf, window)
	case "cohort":
		opt := analytics.CohortOptions{Metric: p["metric"], Months: r.int("months", 12, 1, 120), AsOf: r.day("as-of", today)}
		if opt.Metric == "" {
			opt.Metric = analytics.MetricRepeatRate
		}
		if v := r.day("from", 0); v != 0 {
			opt.From = analytics.MonthOf(v)
		}
		if v := r.day("to", 0); v != 0 {
			opt.To = analytics.MonthOf(v)
		}
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.Cohorts(ctx, opt)
	case "kpi":
		opt := analytics.KPIOptions{From: r.day("from", today-29), To: r.day("to", today), F2Days: r.int("f2-days", 90, 1, 3650), Today: today}
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.KPI(ctx, opt)
	case "basket":
		opt := analytics.BasketOptions{From: r.day("from", today-364), To: r.day("to", today), MinOrders: r.int("min-orders", 2, 1, 1<<30), Limit: r.int("limit", 50, 1, 10000)}
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.Basket(ctx, opt)
	case "predict":
		unit, uerr := analytics.ParseUnit(p["unit"])
		if uerr != nil {
			return nil, uerr
		}
		opt := analytics.PredictOptions{CalibrationEnd: r.day("calibration-end", today), Unit: unit, HorizonMonths: r.int("horizon", 12, 1, 120),
			Discount: r.float("discount", 0), Save: p["save"] == "true" || p["save"] == "1"}
		if r.err != nil {
			return nil, r.err
		}
		var each func(analytics.PredictionRow) error
		if w != nil {
			_ = w.Write([]string{"customer_id", "x", "t_x", "T", "monetary", "p_alive", "expected_purchases", "expected_aov", "clv", "churn_tier", "next_order_date"})
			each = func(x analytics.PredictionRow) error {
				return w.Write([]string{i64(x.CustomerID), f(x.X), f(x.Tx), f(x.T), f(x.Monetary), f(x.PAlive), f(x.ExpectedPurchases),
					f(x.ExpectedAOV), f(x.CLV), x.ChurnTier, x.NextOrderDate})
			}
		}
		out, err = rn.Store.Predict(ctx, opt, each)
	case "replenishment":
		n := r.int("min-intervals", 5, 1, 1<<30)
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.Replenishment(ctx, n)
	case "replenishment-due":
		opt := analytics.DueOptions{AsOf: r.day("as-of", today), LeadDays: r.int("lead", 7, 0, 3650), OverdueDays: r.int("overdue", 30, 0, 3650),
			MinIntervals: r.int("min-intervals", 5, 1, 1<<30), Limit: r.int("limit", 1000, 1, 100000)}
		if r.err != nil {
			return nil, r.err
		}
		out, err = rn.Store.ReplenishmentDue(ctx, opt)
	default:
		out, err = rn.runVoice(ctx, name, r, csvOut)
	}
	if err != nil {
		return nil, err
	}
	if w != nil {
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }
func f(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// Names lists the report names in order.
func Names() []string {
	out := make([]string, len(All))
	for i, r := range All {
		out[i] = r.Name
	}
	sort.Strings(out[:0])
	return out
}

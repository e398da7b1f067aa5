package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/auth"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/reports"
	"github.com/enishi-crm/enishi/internal/store"
)

type dashboardPage struct {
	*base
	Stats store.Stats
	// PendingMerges counts merges waiting for approval (capped: see More).
	PendingMerges     int
	PendingMergesMore bool
	Imports           []store.ImportRun
	Days              int
	Periods           []int
	KPI, Previous     *analytics.KPIReport
	Cards             []card
	KPICharts         []chartView
	Active, Dormant   int64
}

// maxPendingShown caps the pending-merge count the dashboard asks for.
const maxPendingShown = 500

// dashboardPeriods are the periods the dashboard offers, in days.
var dashboardPeriods = []int{7, 30, 90, 365}

// dashboard shows the store's counts, pending merges and recent imports at
// once, and loads the period's KPIs against the previous period (revenue,
// orders, customers, repeat and F2 rates, AOV, LTV), by channel, with active
// and dormant customers, right after (dashboardKPI).
func (u *UI) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	b := u.newBase(r, "dashboard", "dashboard.title")
	b.Charts = true
	pg := &dashboardPage{base: b, Days: 30, Periods: dashboardPeriods}
	if d, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil && d >= 1 && d <= 3660 {
		pg.Days = d
	}
	cands, err := u.cfg.Store.MergeCandidates(ctx, "pending", maxPendingShown+1)
	if err != nil {
		return err
	}
	pg.PendingMerges, pg.PendingMergesMore = min(len(cands), maxPendingShown), len(cands) > maxPendingShown
	if enishihttp.PrincipalFrom(ctx).Can(auth.ImportsWrite) {
		if pg.Imports, err = u.cfg.Store.ImportRuns(ctx, 5); err != nil {
			return err
		}
	}
	return u.render(w, r, http.StatusOK, "dashboard", pg)
}

// dashboardKPI is the dashboard's figures, which the page loads after it
// shows (htmx): the KPI report reads every order and the counts scan whole
// tables, which on a large store takes seconds; the page need not wait.
func (u *UI) dashboardKPI(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	b := u.newBase(r, "dashboard", "dashboard.title")
	pg := &dashboardPage{base: b, Days: 30}
	if d, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil && d >= 1 && d <= 3660 {
		pg.Days = d
	}
	var err error
	if pg.Stats, err = u.cfg.Store.Stats(ctx); err != nil {
		return err
	}
	today := analytics.DayOf(u.cfg.Clock.Now())
	p := reports.Params{"from": (today - analytics.Day(pg.Days) + 1).String(), "to": today.String()}
	out, err := u.report(ctx, "kpi", p)
	if err != nil {
		return err
	}
	pg.KPI = out.(*analytics.KPIReport)
	if pg.Previous, err = u.kpiWithPrevious(ctx, pg.KPI, p); err != nil {
		return err
	}
	pg.Cards = kpiCards(b, pg.KPI, pg.Previous)
	cpm, err := u.report(ctx, "cpm", reports.Params{})
	if err != nil {
		return err
	}
	for _, g := range cpm.(*analytics.CPMReport).Groups {
		if strings.HasSuffix(g.Group, "_"+analytics.CPMLapsed) {
			pg.Dormant += g.Customers
		} else {
			pg.Active += g.Customers
		}
	}
	pg.KPICharts = []chartView{channelChart(b, pg.KPI, pg.Previous), newRepeatChart(b, pg.KPI)}
	return u.fragment(w, "dashboard", "kpi", pg)
}

// newRepeatChart splits the period's revenue into first and repeat orders.
func newRepeatChart(b *base, k *analytics.KPIReport) chartView {
	return chartView{Title: b.T("kpi.new_vs_repeat"), Option: map[string]any{
		"aria":    map[string]any{"enabled": true},
		"tooltip": map[string]any{"trigger": "item"},
		"legend":  map[string]any{"top": 0},
		"series": []map[string]any{{"type": "pie", "radius": []string{"45%", "70%"}, "top": 30,
			"label": map[string]any{"formatter": "{b}\n{d}%"},
			"data": []map[string]any{
				{"name": b.T("kpi.new_revenue"), "value": k.NewRevenue, "itemStyle": map[string]any{"color": "#d97706"}},
				{"name": b.T("kpi.repeat_revenue"), "value": k.RepeatRevenue, "itemStyle": map[string]any{"color": "#1f5f8b"}},
			}}},
	}}
}

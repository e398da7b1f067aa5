package ui

import (
	"context"
	"sort"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/reports"
)

// trendMonths is how many months the KPI trend chart shows.
const trendMonths = 12

// previousPeriod is the period of the same length just before [from, to].
func previousPeriod(k *analytics.KPIReport) (from, to string, err error) {
	f, err := analytics.ParseDay("from", k.From)
	if err != nil {
		return "", "", err
	}
	t, err := analytics.ParseDay("to", k.To)
	if err != nil {
		return "", "", err
	}
	n := t - f + 1
	return (f - n).String(), (f - 1).String(), nil
}

// kpiWithPrevious runs the KPI report for the page's period and for the
// period before it, for the deltas.
func (u *UI) kpiWithPrevious(ctx context.Context, cur *analytics.KPIReport, p reports.Params) (*analytics.KPIReport, error) {
	from, to, err := previousPeriod(cur)
	if err != nil {
		return nil, err
	}
	q := reports.Params{"from": from, "to": to}
	if v := p["f2-days"]; v != "" {
		q["f2-days"] = v
	}
	out, err := u.report(ctx, "kpi", q)
	if err != nil {
		return nil, err
	}
	return out.(*analytics.KPIReport), nil
}

// kpiCards are the headline figures of a period against the previous one.
func kpiCards(b *base, cur, prev *analytics.KPIReport) []card {
	delta := func(c, p float64) (string, bool) {
		if p == 0 {
			return "", false
		}
		d := (c - p) / p
		s := fmtPct(d)
		if d >= 0 {
			s = "+" + s
		}
		return s, d >= 0
	}
	mk := func(key, value string, c, p float64) card {
		d, up := delta(c, p)
		if key == "kpi.churn_rate" {
			up = !up // less churn is the good direction
		}
		return card{Label: b.T(key), Value: value, Delta: d, Up: up}
	}
	return []card{
		mk("kpi.revenue", "¥"+formatNum(cur.Revenue), float64(cur.Revenue), float64(prev.Revenue)),
		mk("kpi.orders", formatNum(cur.Orders), float64(cur.Orders), float64(prev.Orders)),
		mk("kpi.customers", formatNum(cur.Customers), float64(cur.Customers), float64(prev.Customers)),
		mk("kpi.new_customers", formatNum(cur.NewCustomers), float64(cur.NewCustomers), float64(prev.NewCustomers)),
		mk("kpi.aov", "¥"+formatNum(int64(cur.AOV+0.5)), cur.AOV, prev.AOV),
		mk("kpi.repeat_rate", fmtPct(cur.RepeatRate), cur.RepeatRate, prev.RepeatRate),
		mk("kpi.f2_rate", fmtPct(cur.F2.Rate), cur.F2.Rate, prev.F2.Rate),
		mk("kpi.ltv", "¥"+formatNum(int64(cur.HistoricalLTV+0.5)), cur.HistoricalLTV, prev.HistoricalLTV),
		mk("kpi.churn_rate", fmtPct(cur.ChurnRate), cur.ChurnRate, prev.ChurnRate),
	}
}

// channelNames lists a report's channels, largest revenue first.
func channelNames(k *analytics.KPIReport) []string {
	var names []string
	for n := range k.Channels {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := k.Channels[names[i]], k.Channels[names[j]]
		if a.Revenue != b.Revenue {
			return a.Revenue > b.Revenue
		}
		return names[i] < names[j]
	})
	return names
}

// channelChart compares revenue per channel with the previous period.
func channelChart(b *base, cur, prev *analytics.KPIReport) chartView {
	names := channelNames(cur)
	labels := make([]string, len(names))
	now, before := make([]int64, len(names)), make([]int64, len(names))
	for i, n := range names {
		labels[i] = b.Label("channel.", n)
		now[i] = cur.Channels[n].Revenue
		if pk := prev.Channels[n]; pk != nil {
			before[i] = pk.Revenue
		}
	}
	return chartView{Title: b.T("kpi.by_channel"), Option: map[string]any{
		"aria":    map[string]any{"enabled": true},
		"tooltip": map[string]any{"trigger": "axis"},
		"legend":  map[string]any{"top": 0, "data": []string{b.T("kpi.this_period"), b.T("kpi.previous_period")}},
		"grid":    map[string]any{"left": 80, "right": 20, "top": 40, "bottom": 30},
		"xAxis":   map[string]any{"type": "category", "data": labels},
		"yAxis":   map[string]any{"type": "value", "name": "¥"},
		"series": []map[string]any{
			{"name": b.T("kpi.this_period"), "type": "bar", "data": now, "itemStyle": map[string]any{"color": "#1f5f8b"}},
			{"name": b.T("kpi.previous_period"), "type": "bar", "data": before, "itemStyle": map[string]any{"color": "#9fb7c9"}},
		},
	}}
}

// channelTable lists the KPIs of each sales channel.
func channelTable(b *base, cur *analytics.KPIReport) tableView {
	t := tableView{Title: b.T("kpi.by_channel"), Header: []string{b.T("kpi.channel"), b.T("kpi.revenue"), b.T("kpi.orders"), b.T("kpi.customers"),
		b.T("kpi.new_customers"), b.T("kpi.aov"), b.T("kpi.repeat_rate"), b.T("kpi.f2_rate")},
		Num: []bool{false, true, true, true, true, true, true, true}}
	row := func(name string, k *analytics.KPI) []cell {
		return []cell{textCell(name), yenCell(k.Revenue), numCell(k.Orders), numCell(k.Customers), numCell(k.NewCustomers),
			yenCell(int64(k.AOV + 0.5)), pctCell(k.RepeatRate), pctCell(k.F2.Rate)}
	}
	for _, n := range channelNames(cur) {
		t.Rows = append(t.Rows, row(b.Label("channel.", n), cur.Channels[n]))
	}
	t.Rows = append(t.Rows, row(b.T("kpi.total"), &cur.KPI))
	return t
}

// buildKPI is the KPI page: the period against the previous one, by
// channel, the monthly trend of the last year and LTV by cohort.
func buildKPI(ctx context.Context, u *UI, b *base, out any, p reports.Params) (*reportView, error) {
	cur := out.(*analytics.KPIReport)
	prev, err := u.kpiWithPrevious(ctx, cur, p)
	if err != nil {
		return nil, err
	}
	v := &reportView{Cards: kpiCards(b, cur, prev)}
	v.Notes = append(v.Notes, b.T("kpi.period", cur.From, cur.To, prev.From, prev.To))
	v.Charts = append(v.Charts, channelChart(b, cur, prev))
	trend, err := u.kpiTrend(ctx, b)
	if err != nil {
		return nil, err
	}
	v.Charts = append(v.Charts, trend)
	v.Tables = append(v.Tables, channelTable(b, cur))
	lt := tableView{Title: b.T("kpi.ltv_by_cohort"), Header: []string{b.T("cohort.cohort"), b.T("kpi.customers"), b.T("kpi.revenue"), b.T("kpi.per_customer")},
		Num: []bool{false, true, true, true}}
	for _, c := range cur.LTVByCohort {
		lt.Rows = append(lt.Rows, []cell{textCell(c.Cohort), numCell(c.Customers), yenCell(c.Revenue), yenCell(int64(c.PerCustomer + 0.5))})
	}
	v.Tables = append(v.Tables, lt)
	return v, nil
}

// kpiTrend charts revenue, orders and customers per month over the last
// trendMonths calendar months (the current one to date).
func (u *UI) kpiTrend(ctx context.Context, b *base) (chartView, error) {
	today := analytics.DayOf(u.cfg.Clock.Now())
	t := today.Start().In(clock.Tokyo)
	first := t.AddDate(0, -(trendMonths - 1), -t.Day()+1)
	var months []string
	var rev, orders, custs []int64
	for m := first; !m.After(t); m = m.AddDate(0, 1, 0) {
		end := m.AddDate(0, 1, -1)
		if end.After(t) {
			end = t
		}
		out, err := u.report(ctx, "kpi", reports.Params{"from": m.Format("2006-01-02"), "to": end.Format("2006-01-02")})
		if err != nil {
			return chartView{}, err
		}
		k := out.(*analytics.KPIReport)
		months = append(months, m.Format("2006-01"))
		rev, orders, custs = append(rev, k.Revenue), append(orders, k.Orders), append(custs, k.Customers)
	}
	return chartView{Title: b.T("kpi.trend"), Option: map[string]any{
		"aria":    map[string]any{"enabled": true},
		"tooltip": map[string]any{"trigger": "axis"},
		"legend":  map[string]any{"top": 0, "data": []string{b.T("kpi.revenue"), b.T("kpi.orders"), b.T("kpi.customers")}},
		"grid":    map[string]any{"left": 80, "right": 60, "top": 40, "bottom": 30},
		"xAxis":   map[string]any{"type": "category", "data": months},
		"yAxis": []map[string]any{{"type": "value", "name": "¥"},
			{"type": "value", "name": b.T("kpi.count"), "splitLine": map[string]any{"show": false}}},
		"series": []map[string]any{
			{"name": b.T("kpi.revenue"), "type": "bar", "data": rev, "itemStyle": map[string]any{"color": "#1f5f8b"}},
			{"name": b.T("kpi.orders"), "type": "line", "yAxisIndex": 1, "data": orders, "itemStyle": map[string]any{"color": "#d97706"}},
			{"name": b.T("kpi.customers"), "type": "line", "yAxisIndex": 1, "data": custs, "itemStyle": map[string]any{"color": "#15803d"}},
		},
	}}, nil
}

// buildF2 is the F2 conversion page: of the period's first-time buyers, how
// many bought a second time within N days, overall and by channel.
func buildF2(ctx context.Context, u *UI, b *base, out any, p reports.Params) (*reportView, error) {
	cur := out.(*analytics.KPIReport)
	f := cur.F2
	v := &reportView{}
	band := b.Label("f2band.", f.Band)
	v.Cards = []card{
		{Label: b.T("f2.first_time"), Value: formatNum(f.FirstTimeBuyers)},
		{Label: b.T("f2.converted", f.Days), Value: formatNum(f.Converted)},
		{Label: b.T("kpi.f2_rate"), Value: fmtPct(f.Rate), Hint: band},
	}
	if f.MatureRate != nil {
		v.Cards = append(v.Cards, card{Label: b.T("f2.mature_rate", f.Days), Value: fmtPct(*f.MatureRate), Hint: b.T("f2.mature_hint", formatNum(f.MatureBuyers))})
	}
	v.Notes = append(v.Notes, b.T("f2.lead", f.Days), b.T("f2.bands"))
	v.Charts = append(v.Charts, chartView{Title: b.T("report.f2"), Option: map[string]any{
		"aria":    map[string]any{"enabled": true},
		"tooltip": map[string]any{"trigger": "item"},
		"series": []map[string]any{{"type": "funnel", "left": "10%", "width": "80%", "sort": "descending",
			"label": map[string]any{"position": "inside"},
			"data": []map[string]any{
				{"name": b.T("f2.first_time"), "value": f.FirstTimeBuyers},
				{"name": b.T("f2.mature"), "value": f.MatureBuyers},
				{"name": b.T("f2.converted", f.Days), "value": f.Converted},
			}}},
	}})
	t := tableView{Title: b.T("kpi.by_channel"), Header: []string{b.T("kpi.channel"), b.T("f2.first_time"), b.T("f2.converted", f.Days), b.T("kpi.f2_rate"), b.T("f2.band")},
		Num: []bool{false, true, true, true, false}}
	for _, n := range channelNames(cur) {
		k := cur.Channels[n].F2
		t.Rows = append(t.Rows, []cell{textCell(b.Label("channel.", n)), numCell(k.FirstTimeBuyers), numCell(k.Converted), pctCell(k.Rate), textCell(b.Label("f2band.", k.Band))})
	}
	t.Rows = append(t.Rows, []cell{textCell(b.T("kpi.total")), numCell(f.FirstTimeBuyers), numCell(f.Converted), pctCell(f.Rate), textCell(band)})
	v.Tables = append(v.Tables, t)
	return v, nil
}

package ui

import (
	"context"
	"strconv"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/reports"
)

// buildMovement is the RFM movement page: how many customers moved from
// each segment (rows, at "from") to each segment (columns, at "to").
func buildMovement(_ context.Context, _ *UI, b *base, out any, _ reports.Params) (*reportView, error) {
	m := out.(*analytics.MovementReport)
	v := &reportView{Cards: []card{{Label: b.T("movement.customers"), Value: formatNum(m.Customers)},
		{Label: b.T("movement.stayed"), Value: formatNum(m.Stayed), Hint: fmtPct(ratio(m.Stayed, m.Customers))}}}
	v.Notes = append(v.Notes, b.T("movement.lead", m.From, m.To))
	t := tableView{Title: b.T("report.rfm-movement"), Header: []string{b.T("movement.from_to")}, Num: []bool{false}}
	var max int64
	for _, a := range m.Segments {
		for _, c := range m.Segments {
			if a != c {
				max = maxInt(max, m.Matrix[a][c])
			}
		}
	}
	for _, s := range m.Segments {
		t.Header = append(t.Header, b.Label("segment.", s))
		t.Num = append(t.Num, true)
	}
	for _, a := range m.Segments {
		row := []cell{textCell(b.Label("segment.", a))}
		for _, c := range m.Segments {
			n := m.Matrix[a][c]
			x := numCell(n)
			if a != c && max > 0 {
				x.Heat = float64(n) / float64(max)
			}
			row = append(row, x)
		}
		t.Rows = append(t.Rows, row)
	}
	v.Tables = append(v.Tables, t)
	return v, nil
}

// buildCPM is the CPM page: the ten groups (初回 … 優良 × 現役/離脱).
func buildCPM(_ context.Context, _ *UI, b *base, out any, _ reports.Params) (*reportView, error) {
	c := out.(*analytics.CPMReport)
	v := &reportView{Cards: []card{{Label: b.T("cpm.customers"), Value: formatNum(c.Customers)}, {Label: b.T("cpm.revenue"), Value: "¥" + formatNum(c.Revenue)}}}
	v.Notes = append(v.Notes, b.T("cpm.lead"))
	var labels []string
	var active, lapsed []int64
	t := tableView{Title: b.T("report.cpm"), Header: []string{b.T("cpm.group"), b.T("cpm.customers"), b.T("cpm.customer_share"), b.T("cpm.revenue"), b.T("cpm.revenue_share")},
		Num: []bool{false, true, true, true, true}}
	for i, g := range c.Groups {
		name := g.Label
		if b.loc.Has("cpm." + g.Group) {
			name = b.T("cpm." + g.Group)
		}
		t.Rows = append(t.Rows, []cell{textCell(name), numCell(g.Customers), pctCell(g.Share), yenCell(g.Revenue), pctCell(g.RevenueShare)})
		if i%2 == 0 {
			labels = append(labels, b.Label("cpmstage.", analytics.CPMStages[i/2].Key))
			active = append(active, g.Customers)
		} else {
			lapsed = append(lapsed, g.Customers)
		}
	}
	v.Charts = append(v.Charts, chartView{Title: b.T("report.cpm"), Option: map[string]any{
		"aria": map[string]any{"enabled": true}, "tooltip": map[string]any{"trigger": "axis"},
		"legend": map[string]any{"top": 0, "data": []string{b.T("cpm.active"), b.T("cpm.lapsed")}},
		"grid":   map[string]any{"left": 60, "right": 20, "top": 40, "bottom": 30},
		"xAxis":  map[string]any{"type": "category", "data": labels}, "yAxis": map[string]any{"type": "value"},
		"series": []map[string]any{
			{"name": b.T("cpm.active"), "type": "bar", "stack": "all", "data": active, "itemStyle": map[string]any{"color": "#1f5f8b"}},
			{"name": b.T("cpm.lapsed"), "type": "bar", "stack": "all", "data": lapsed, "itemStyle": map[string]any{"color": "#c2410c"}},
		}}})
	v.Tables = append(v.Tables, t)
	return v, nil
}

// buildDecile is the decile page: customers ranked by spend into ten groups
// with their share of revenue (the Pareto view).
func buildDecile(_ context.Context, _ *UI, b *base, out any, _ reports.Params) (*reportView, error) {
	d := out.(*analytics.DecileReport)
	v := &reportView{Cards: []card{{Label: b.T("decile.customers"), Value: formatNum(d.Customers)}, {Label: b.T("decile.revenue"), Value: "¥" + formatNum(d.Revenue)},
		{Label: b.T("rfm.window"), Value: b.T("rfm.days", d.WindowDays)}}}
	t := tableView{Title: b.T("report.decile"), Header: []string{b.T("decile.decile"), b.T("decile.customers"), b.T("decile.revenue"), b.T("decile.share"),
		b.T("decile.cumulative"), b.T("decile.avg"), b.T("decile.min"), b.T("decile.max")}, Num: []bool{false, true, true, true, true, true, true, true}}
	var labels []string
	var share, cum []float64
	for _, x := range d.Deciles {
		label := "D" + strconv.Itoa(x.Decile)
		labels = append(labels, label)
		share, cum = append(share, round4(x.Share*100)), append(cum, round4(x.CumulativeShare*100))
		t.Rows = append(t.Rows, []cell{textCell(label), numCell(x.Customers), yenCell(x.Revenue), pctCell(x.Share), pctCell(x.CumulativeShare),
			yenCell(int64(x.AvgSpend + 0.5)), yenCell(x.MinSpend), yenCell(x.MaxSpend)})
	}
	v.Charts = append(v.Charts, chartView{Title: b.T("report.decile"), Option: map[string]any{
		"aria": map[string]any{"enabled": true}, "tooltip": map[string]any{"trigger": "axis"},
		"legend": map[string]any{"top": 0, "data": []string{b.T("decile.share"), b.T("decile.cumulative")}},
		"grid":   map[string]any{"left": 60, "right": 60, "top": 40, "bottom": 30},
		"xAxis":  map[string]any{"type": "category", "data": labels},
		"yAxis":  []map[string]any{{"type": "value", "name": "%", "max": 100}},
		"series": []map[string]any{
			{"name": b.T("decile.share"), "type": "bar", "data": share, "itemStyle": map[string]any{"color": "#1f5f8b"}},
			{"name": b.T("decile.cumulative"), "type": "line", "data": cum, "itemStyle": map[string]any{"color": "#d97706"}},
		}}})
	v.Tables = append(v.Tables, t)
	return v, nil
}

// buildCohort is the cohort page: first-order-month cohorts × months since,
// as a heat map of repeat rate, revenue or LTV.
func buildCohort(_ context.Context, _ *UI, b *base, out any, _ reports.Params) (*reportView, error) {
	c := out.(*analytics.CohortReport)
	v := &reportView{}
	v.Notes = append(v.Notes, b.T("cohort.lead."+c.Metric))
	t := tableView{Title: b.T("report.cohort") + " — " + b.Label("metric.", c.Metric),
		Header: []string{b.T("cohort.cohort"), b.T("cohort.customers"), b.T("cohort.rep2"), b.T("cohort.rep6"), b.T("cohort.ltv12")},
		Num:    []bool{false, true, true, true, true}}
	for m := 0; m <= c.Months; m++ {
		t.Header = append(t.Header, b.T("cohort.month", m))
		t.Num = append(t.Num, true)
	}
	var max float64
	for _, co := range c.Cohorts {
		for _, x := range co.Values {
			if x != nil && *x > max {
				max = *x
			}
		}
	}
	opt := func(p *float64, f func(float64) cell) cell {
		if p == nil {
			return textCell("")
		}
		return f(*p)
	}
	format := func(x float64) cell {
		if c.Metric == analytics.MetricRepeatRate {
			return pctCell(x)
		}
		return yenCell(int64(x + 0.5))
	}
	var xs, ys []string
	var data [][]float64
	for m := 0; m <= c.Months; m++ {
		xs = append(xs, strconv.Itoa(m))
	}
	for i, co := range c.Cohorts {
		row := []cell{textCell(co.Cohort), numCell(co.Customers), opt(co.Repurchase2m, pctCell), opt(co.Repurchase6m, pctCell),
			opt(co.LTV12m, func(x float64) cell { return yenCell(int64(x + 0.5)) })}
		ys = append(ys, co.Cohort)
		for m, x := range co.Values {
			if x == nil {
				row = append(row, textCell(""))
				continue
			}
			cl := format(*x)
			if max > 0 {
				cl.Heat = *x / max
			}
			row = append(row, cl)
			data = append(data, []float64{float64(m), float64(i), round4(*x)})
		}
		t.Rows = append(t.Rows, row)
	}
	v.Charts = append(v.Charts, chartView{Title: t.Title, Height: 120 + 22*len(c.Cohorts), Option: map[string]any{
		"aria": map[string]any{"enabled": true}, "tooltip": map[string]any{"position": "top"},
		"grid":      map[string]any{"left": 80, "right": 20, "top": 10, "bottom": 70},
		"xAxis":     map[string]any{"type": "category", "data": xs, "name": b.T("cohort.months_since"), "nameLocation": "middle", "nameGap": 25},
		"yAxis":     map[string]any{"type": "category", "data": ys, "inverse": true},
		"visualMap": map[string]any{"min": 0, "max": round4(max), "calculable": true, "orient": "horizontal", "left": "center", "bottom": 0, "inRange": map[string]any{"color": []string{"#eef4f8", "#1f5f8b"}}},
		"series":    []map[string]any{{"type": "heatmap", "data": data}},
	}})
	v.Tables = append(v.Tables, t)
	return v, nil
}

// buildBasket is the basket page: products bought together (support,
// confidence, lift) and what first-time buyers of a product buy next.
func buildBasket(_ context.Context, _ *UI, b *base, out any, _ reports.Params) (*reportView, error) {
	r := out.(*analytics.BasketReport)
	v := &reportView{Cards: []card{{Label: b.T("basket.orders"), Value: formatNum(r.Orders)}}}
	v.Notes = append(v.Notes, b.T("basket.lead"))
	pairs := tableView{Title: b.T("basket.pairs"), Header: []string{b.T("basket.a"), b.T("basket.b"), b.T("basket.together"), b.T("basket.support"),
		b.T("basket.confidence"), b.T("basket.confidence_ba"), b.T("basket.lift")}, Num: []bool{false, false, true, true, true, true, true}}
	for _, p := range r.Pairs {
		pairs.Rows = append(pairs.Rows, []cell{textCell(p.A), textCell(p.B), numCell(p.Orders), pctCell(p.Support), pctCell(p.Confidence), pctCell(p.ConfidenceBA), floatCell(p.Lift, 2)})
	}
	paths := tableView{Title: b.T("basket.paths"), Header: []string{b.T("basket.first"), b.T("basket.buyers"), b.T("basket.second_buyers"), b.T("basket.next")},
		Num: []bool{false, true, true, false}}
	for _, p := range r.Paths {
		next := ""
		for i, n := range p.Next {
			if i == 3 {
				break
			}
			if i > 0 {
				next += ", "
			}
			next += n.SKU + " (" + fmtPct(n.Share) + ")"
		}
		paths.Rows = append(paths.Rows, []cell{textCell(p.First), numCell(p.Buyers), numCell(p.SecondBuyers), textCell(next)})
	}
	v.Tables = append(v.Tables, pairs, paths)
	return v, nil
}

package ui

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/reports"
	"github.com/enishi-crm/enishi/internal/store"
)

// rfmResult is the RFM report with the revenue (monetary in the window) of
// each R×F cell, summed from the per-customer rows.
type rfmResult struct {
	*analytics.RFMReport
	Revenue [5][5]int64
}

// rfmOptions reads the RFM page's parameters (as the report runner does).
func rfmOptions(u *UI, p reports.Params) (store.RFMOptions, error) {
	opt := store.RFMOptions{AsOf: analytics.DayOf(u.cfg.Clock.Now())}
	if v := p["as-of"]; v != "" {
		d, err := analytics.ParseDay("as-of", v)
		if err != nil {
			return opt, err
		}
		opt.AsOf = d
	}
	if v := p["window"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3660 {
			return opt, errs.FieldErrorf("window", "%q is not a whole number from 1 to 3660", v)
		}
		opt.WindowDays = n
	}
	return opt, nil
}

func runRFM(ctx context.Context, u *UI, p reports.Params) (any, error) {
	opt, err := rfmOptions(u, p)
	if err != nil {
		return nil, err
	}
	return u.reports.get(cacheKey("ui:rfm-grid", p), func() (any, error) {
		res := &rfmResult{}
		var err error
		res.RFMReport, err = u.cfg.Store.RFM(ctx, opt, func(row analytics.RFMRow) error {
			res.Revenue[row.R-1][row.F-1] += row.Monetary
			return nil
		})
		return res, err
	})
}

// buildRFM is the RFM page: the 5×5 recency × frequency heat map (customers
// and revenue; a cell opens its customers) and the named segments.
func buildRFM(_ context.Context, u *UI, b *base, out any, p reports.Params) (*reportView, error) {
	res := out.(*rfmResult)
	rep := res.RFMReport
	v := &reportView{}
	v.Cards = []card{{Label: b.T("rfm.customers"), Value: formatNum(rep.Customers)}, {Label: b.T("rfm.prospects"), Value: formatNum(rep.Prospects)},
		{Label: b.T("rfm.window"), Value: b.T("rfm.days", rep.WindowDays)}, {Label: b.T("rfm.as_of"), Value: rep.AsOf}}
	var max int64
	var data [][]int64
	for r := 0; r < 5; r++ {
		for f := 0; f < 5; f++ {
			n := rep.GridRF[r][f]
			max = maxInt(max, n)
			data = append(data, []int64{int64(f), int64(r), n})
		}
	}
	fLabels, rLabels := make([]string, 5), make([]string, 5)
	for i := range 5 {
		fLabels[i], rLabels[i] = "F"+strconv.Itoa(i+1), "R"+strconv.Itoa(i+1)
	}
	link := "/analytics/rfm/customers?" + paramsQuery(p)
	if len(p) > 0 {
		link += "&"
	}
	v.Charts = append(v.Charts, chartView{Title: b.T("rfm.grid"), Link: link + "r={y}&f={x}", Height: 380, Option: map[string]any{
		"aria":      map[string]any{"enabled": true},
		"tooltip":   map[string]any{"position": "top"},
		"grid":      map[string]any{"left": 60, "right": 20, "top": 20, "bottom": 80},
		"xAxis":     map[string]any{"type": "category", "data": fLabels, "name": b.T("rfm.frequency"), "nameLocation": "middle", "nameGap": 28, "splitArea": map[string]any{"show": true}},
		"yAxis":     map[string]any{"type": "category", "data": rLabels, "name": b.T("rfm.recency"), "splitArea": map[string]any{"show": true}},
		"visualMap": map[string]any{"min": 0, "max": max, "calculable": true, "orient": "horizontal", "left": "center", "bottom": 0, "inRange": map[string]any{"color": []string{"#eef4f8", "#1f5f8b"}}},
		"series": []map[string]any{{"name": b.T("rfm.customers"), "type": "heatmap", "data": data, "label": map[string]any{"show": true},
			"emphasis": map[string]any{"itemStyle": map[string]any{"shadowBlur": 6}}}},
	}})
	// The same grid as a table: accessible, clickable without JavaScript,
	// and with revenue.
	grid := tableView{Title: b.T("rfm.grid_table"), Header: []string{b.T("rfm.r_f")}, Num: []bool{false}}
	for f := 1; f <= 5; f++ {
		grid.Header = append(grid.Header, "F"+strconv.Itoa(f))
		grid.Num = append(grid.Num, true)
	}
	for r := 5; r >= 1; r-- {
		row := []cell{textCell("R" + strconv.Itoa(r))}
		for f := 1; f <= 5; f++ {
			n, rev := rep.GridRF[r-1][f-1], res.Revenue[r-1][f-1]
			c := cell{Text: b.T("rfm.cell", formatNum(n), formatNum(rev)), Raw: n, Link: fmt.Sprintf("%sr=%d&f=%d", link, r, f)}
			if max > 0 {
				c.Heat = float64(n) / float64(max)
			}
			row = append(row, c)
		}
		grid.Rows = append(grid.Rows, row)
	}
	v.Tables = append(v.Tables, grid)
	seg := tableView{Title: b.T("rfm.segments"), Header: []string{b.T("rfm.segment"), b.T("rfm.customers"), b.T("rfm.share")}, Num: []bool{false, true, true}}
	for _, name := range rep.SegmentOrder {
		n := rep.Segments[name]
		seg.Rows = append(seg.Rows, []cell{textCell(b.Label("segment.", name)), numCell(n), pctCell(ratio(n, rep.Customers))})
	}
	v.Tables = append(v.Tables, seg)
	v.Notes = append(v.Notes, b.T("rfm.lead"))
	return v, nil
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// rfmCellLimit bounds the customers listed for one RFM cell.
const rfmCellLimit = 200

type rfmCellPage struct {
	*base
	R, F      int
	Total     int64
	Revenue   int64
	Customers []customer.Summary
	Rows      map[int64]analytics.RFMRow
	Masked    bool
	Back      string
}

// rfmCustomers lists the customers of one RFM cell (the heat map's click):
// the first rfmCellLimit by spend in the window.
func (u *UI) rfmCustomers(w http.ResponseWriter, r *http.Request) error {
	rv, _ := strconv.Atoi(r.URL.Query().Get("r"))
	fv, _ := strconv.Atoi(r.URL.Query().Get("f"))
	if rv < 1 || rv > 5 || fv < 1 || fv > 5 {
		return errs.Errorf(errs.Invalid, "r and f must be scores from 1 to 5")
	}
	p := reports.Params{}
	for _, k := range []string{"as-of", "window"} {
		if v := r.URL.Query().Get(k); v != "" {
			p[k] = v
		}
	}
	opt, err := rfmOptions(u, p)
	if err != nil {
		return err
	}
	pg := &rfmCellPage{base: u.newBase(r, "analytics", "rfm.cell_title", rv, fv), R: rv, F: fv, Rows: map[int64]analytics.RFMRow{}}
	pg.Back = "/analytics/rfm?" + paramsQuery(p)
	var top []analytics.RFMRow
	if _, err := u.cfg.Store.RFM(r.Context(), opt, func(row analytics.RFMRow) error {
		if row.R != rv || row.F != fv {
			return nil
		}
		pg.Total++
		pg.Revenue += row.Monetary
		top = insertTop(top, row, rfmCellLimit)
		return nil
	}); err != nil {
		return err
	}
	ctx := r.Context()
	pg.Masked = !enishihttp.PrincipalFrom(ctx).Can(auth.PIIRead)
	for _, row := range top {
		c, err := u.cfg.Store.Customer(ctx, row.CustomerID)
		if err != nil {
			return err
		}
		s := customer.Summary{ID: c.ID, DisplayName: c.DisplayName(), Email: c.Email, Phone: c.Phone, Prefecture: c.Prefecture,
			OrderCount: c.OrderCount, TotalSpent: c.TotalSpent, LastOrderAt: c.LastOrderAt, CreatedAt: c.CreatedAt}
		if pg.Masked {
			s.Mask()
		}
		pg.Customers = append(pg.Customers, s)
		pg.Rows[row.CustomerID] = row
	}
	return u.render(w, r, http.StatusOK, "rfm_cell", pg)
}

// insertTop keeps the n rows with the highest monetary value, highest first.
func insertTop(top []analytics.RFMRow, row analytics.RFMRow, n int) []analytics.RFMRow {
	if len(top) == n && row.Monetary <= top[n-1].Monetary {
		return top
	}
	i := len(top)
	for i > 0 && top[i-1].Monetary < row.Monetary {
		i--
	}
	if len(top) < n {
		top = append(top, analytics.RFMRow{})
	}
	copy(top[i+1:], top[i:len(top)-1])
	top[i] = row
	return top
}

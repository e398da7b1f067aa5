package ui

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/reports"
)

// An analytics page shows one report of the analytics package: a form for
// its parameters (the same names as `enishi report NAME --param` and the
// API's ?param=), headline cards, charts and tables. Every table can be
// downloaded as CSV (UTF-8 or Shift_JIS) or Excel.

// reportPage describes one analytics page.
type reportPage struct {
	Key    string   // URL and catalogue key: /analytics/KEY, "report.KEY"
	Report string   // the report it runs (reports.All)
	Params []string // the form's fields, a subset of the report's parameters
	build  func(ctx context.Context, u *UI, b *base, out any, p reports.Params) (*reportView, error)
	// run, when set, computes the report instead of the shared runner (the
	// RFM page also sums revenue per grid cell from the per-customer rows).
	run func(ctx context.Context, u *UI, p reports.Params) (any, error)
}

// reportView is what the generic analytics template draws.
type reportView struct {
	Cards  []card
	Charts []chartView
	Tables []tableView
	Notes  []string
}

type card struct {
	Label, Value, Hint string
	Delta              string // "+12.5%" against the previous period
	Up                 bool
}

type chartView struct {
	Title  string
	Option map[string]any
	// Link, when set, makes a click on a heat-map cell open it, with {x}
	// and {y} replaced by the cell's indexes (see app.js).
	Link   string
	Height int
}

type tableView struct {
	Title  string
	Header []string
	Num    []bool // right-aligned (numeric) columns
	Rows   [][]cell
}

// cell is one table cell: its text, an optional link, an optional raw
// value for exports and a heat (0–1) that tints the background.
type cell struct {
	Text string
	Link string
	Raw  any
	Heat float64
}

// Value is what an export writes: the raw number when there is one.
func (c cell) Value() any {
	if c.Raw != nil {
		return c.Raw
	}
	return c.Text
}

// HeatStyle is the background of a heat-map cell (allowed by the CSP's
// style-src 'unsafe-inline').
func (c cell) HeatStyle() template.CSS {
	if c.Heat <= 0 {
		return ""
	}
	return template.CSS(fmt.Sprintf("background-color: rgba(31, 95, 139, %.2f);%s", 0.08+0.8*c.Heat, map[bool]string{true: " color: #fff;"}[c.Heat > 0.55]))
}

func textCell(s string) cell { return cell{Text: s} }
func numCell(n int64) cell   { return cell{Text: formatNum(n), Raw: n} }
func yenCell(n int64) cell   { return cell{Text: "¥" + formatNum(n), Raw: n} }
func pctCell(v float64) cell { return cell{Text: fmtPct(v), Raw: round4(v)} }
func floatCell(v float64, d int) cell {
	return cell{Text: strconv.FormatFloat(v, 'f', d, 64), Raw: round4(v)}
}

func fmtPct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }
func round4(v float64) float64 {
	return float64(int64(v*10000+0.5*sign(v))) / 10000
}
func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

// analyticsPages lists the analytics menu, in order.
var analyticsPages = []*reportPage{
	{Key: "kpi", Report: "kpi", Params: []string{"from", "to", "f2-days"}, build: buildKPI},
	{Key: "rfm", Report: "rfm", Params: []string{"as-of", "window"}, build: buildRFM, run: runRFM},
	{Key: "rfm-movement", Report: "rfm-movement", Params: []string{"from", "to"}, build: buildMovement},
	{Key: "cpm", Report: "cpm", Params: []string{"as-of"}, build: buildCPM},
	{Key: "decile", Report: "decile", Params: []string{"as-of", "window"}, build: buildDecile},
	{Key: "cohort", Report: "cohort", Params: []string{"metric", "months", "as-of"}, build: buildCohort},
	{Key: "f2", Report: "kpi", Params: []string{"from", "to", "f2-days"}, build: buildF2},
	{Key: "basket", Report: "basket", Params: []string{"from", "to", "min-orders"}, build: buildBasket},
	{Key: "messages", build: buildMessages, run: runMessages},
}

func findReportPage(key string) (*reportPage, error) {
	for _, p := range analyticsPages {
		if p.Key == key {
			return p, nil
		}
	}
	return nil, errs.Errorf(errs.NotFound, "no analytics page %q", key)
}

type analyticsPage struct {
	*base
	Page   *reportPage
	Pages  []*reportPage
	Values map[string]string
	View   *reportView
	Query  string // the parameters, for the export links
}

// reportParams reads the page's parameters from the URL (empty ones are
// left to the report's defaults).
func reportParams(r *http.Request, rp *reportPage) reports.Params {
	p := reports.Params{}
	for _, name := range rp.Params {
		if v := r.URL.Query().Get(name); v != "" {
			p[name] = v
		}
	}
	return p
}

// runReport runs a page's report with the shared runner (CLI and API run
// the same code with the same parameters).
func (u *UI) runReport(ctx context.Context, rp *reportPage, p reports.Params) (any, error) {
	if rp.run != nil {
		return rp.run(ctx, u, p)
	}
	return u.report(ctx, rp.Report, p)
}

// analytics shows one analytics page. A parameter the report refuses is
// shown above the form, with the page computed on the defaults.
func (u *UI) analytics(w http.ResponseWriter, r *http.Request) error {
	rp, err := findReportPage(r.PathValue("report"))
	if err != nil {
		return err
	}
	b := u.newBase(r, "analytics", "report."+rp.Key)
	b.Charts = true
	p := reportParams(r, rp)
	out, err := u.runReport(r.Context(), rp, p)
	status := http.StatusOK
	if err != nil && isValidation(err) {
		b.Error = b.loc.errorText(err)
		status = http.StatusUnprocessableEntity
		p = reports.Params{}
		out, err = u.runReport(r.Context(), rp, p)
	}
	if err != nil {
		return err
	}
	view, err := rp.build(r.Context(), u, b, out, p)
	if err != nil {
		return err
	}
	values := map[string]string{}
	for _, name := range rp.Params {
		values[name] = r.URL.Query().Get(name)
	}
	pg := &analyticsPage{base: b, Page: rp, Pages: analyticsPages, Values: values, View: view, Query: paramsQuery(p)}
	return u.render(w, r, status, "analytics", pg)
}

func paramsQuery(p reports.Params) string {
	v := make(map[string][]string, len(p))
	for k, s := range p {
		v[k] = []string{s}
	}
	return encodeValues(v)
}

// exportReport downloads one table of an analytics page (?table=N, default
// the first) as CSV, Shift_JIS CSV or Excel.
func (u *UI) exportReport(w http.ResponseWriter, r *http.Request) error {
	rp, err := findReportPage(r.PathValue("report"))
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if !validExportFormat(format) {
		return errs.FieldErrorf("format", "%q is not csv, csv-sjis or xlsx", format)
	}
	b := u.newBase(r, "analytics", "report."+rp.Key)
	p := reportParams(r, rp)
	out, err := u.runReport(r.Context(), rp, p)
	if err != nil {
		return err
	}
	view, err := rp.build(r.Context(), u, b, out, p)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("table"))
	if n < 0 || n >= len(view.Tables) {
		return errs.FieldErrorf("table", "this page has %d tables", len(view.Tables))
	}
	t := view.Tables[n]
	name := rp.Key + "-" + u.cfg.Clock.Now().Format("20060102")
	if n > 0 {
		name += "-" + strconv.Itoa(n+1)
	}
	if err := u.api.Audit(r, "report.export", "report:"+rp.Key, "format "+format+", table "+strconv.Itoa(n)); err != nil {
		return err
	}
	return writeTable(w, format, name, t.Header, func(fn func([]any) error) error {
		for _, row := range t.Rows {
			vals := make([]any, len(row))
			for i, c := range row {
				vals[i] = c.Value()
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
		return nil
	})
}

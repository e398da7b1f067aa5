package ui

import (
	"net/http"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// routesLoyalty registers the loyalty pages: the report, coupon campaigns,
// the programme, and the loyalty parts of the customer 360. Permissions
// follow the API's (docs/loyalty.md#permissions).
func (u *UI) routesLoyalty() {
	u.page("GET /loyalty", "", u.loyaltyHome)
	u.page("GET /loyalty/report", auth.ReportsRead, u.loyaltyReport)
	u.page("GET /loyalty/program", auth.CustomersRead, u.loyaltyProgram)
	u.page("POST /loyalty/program", auth.LoyaltyWrite, u.saveLoyaltyProgram)
	u.page("GET /loyalty/coupons", auth.CustomersRead, u.couponCampaigns)
	u.page("POST /loyalty/coupons", auth.LoyaltyWrite, u.createCouponCampaign)
	u.page("GET /loyalty/coupons/{id}", auth.CustomersRead, u.couponCampaign)
	u.page("POST /loyalty/coupons/{id}/codes", auth.LoyaltyWrite, u.generateCoupons)
	u.page("GET /loyalty/coupons/{id}/codes.csv", auth.LoyaltyWrite, u.downloadCoupons)

	u.page("GET /customers/{id}/points", auth.CustomersRead, u.customerPoints)
	u.page("POST /customers/{id}/points", auth.LoyaltyWrite, u.adjustPoints)
	u.page("POST /customers/{id}/coupons", auth.LoyaltyWrite, u.issueCoupon)
}

// loyaltyTabs are the loyalty section's pages, each behind its permission.
var loyaltyTabs = []tabLink{
	{"/loyalty/report", auth.ReportsRead},
	{"/loyalty/coupons", auth.CustomersRead},
	{"/loyalty/program", auth.CustomersRead},
}

// loyaltyHome opens the first loyalty page the user may see.
func (u *UI) loyaltyHome(w http.ResponseWriter, r *http.Request) error {
	return openFirst(w, r, loyaltyTabs, "the loyalty programme")
}

type loyaltyReportPage struct {
	*base
	From, To     string // the movement's dates as typed (YYYY-MM-DD, Tokyo)
	Program      loyalty.Program
	Ranks        *loyalty.RankReport
	Matrix       rankMatrix
	Liability    *loyalty.Liability
	Campaigns    []loyalty.CampaignStats
	RankChart    map[string]any
	ExpiryChart  map[string]any
	MetricIsYen  bool
	FlowTotal    int64
	CouponTotals loyalty.CampaignStats
}

// rankMatrix is the movement between two dates as a from × to table.
type rankMatrix struct {
	Cols []loyalty.Tier
	Rows []rankMatrixRow
}

type rankMatrixRow struct {
	From  string // a rank code or loyalty.NewRank
	Name  string
	Cells []int64
	Total int64
}

// loyaltyReport shows the rank distribution and movement, the points
// liability and the coupon campaigns' results.
func (u *UI) loyaltyReport(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	b := u.newBase(r, "loyalty", "loyalty.report")
	b.Charts = true
	pg := &loyaltyReportPage{base: b}
	now := u.cfg.Clock.Now().In(clock.Tokyo)
	to, err := dayParam(r, "to", now)
	if err != nil {
		return err
	}
	from, err := dayParam(r, "from", to.AddDate(0, -1, 0))
	if err != nil {
		return err
	}
	if from.After(to) {
		return errs.FieldErrorf("from", "is after to")
	}
	pg.From, pg.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	if pg.Program, err = u.cfg.Store.LoyaltyProgram(ctx); err != nil {
		return err
	}
	pg.MetricIsYen = pg.Program.Ranks.Metric == loyalty.MetricSpend
	// The end of the "to" day, as the API reads it.
	if pg.Ranks, err = u.cfg.Store.RankReport(ctx, from.UTC(), to.AddDate(0, 0, 1).Add(-time.Millisecond).UTC()); err != nil {
		return err
	}
	pg.Matrix = buildRankMatrix(pg.Program, pg.Ranks)
	if pg.Liability, err = u.cfg.Store.PointsLiability(ctx); err != nil {
		return err
	}
	for _, f := range pg.Liability.Flows {
		pg.FlowTotal += f.Points
	}
	if pg.Campaigns, err = u.cfg.Store.CouponCampaigns(ctx); err != nil {
		return err
	}
	for _, c := range pg.Campaigns {
		t := &pg.CouponTotals
		t.Codes += c.Codes
		t.Issued += c.Issued
		t.Redeemed += c.Redeemed
		t.Redemptions += c.Redemptions
		t.Revenue += c.Revenue
		t.Discount += c.Discount
	}
	pg.CouponTotals.SetRate()
	pg.RankChart = rankChart(b, pg.Ranks)
	pg.ExpiryChart = expiryChart(b, pg.Liability)
	return u.render(w, r, http.StatusOK, "loyalty_report", pg)
}

// dayParam reads an optional YYYY-MM-DD query parameter as the start of
// that Tokyo day.
func dayParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		y, m, d := def.In(clock.Tokyo).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, clock.Tokyo), nil
	}
	d, err := loyalty.ParseDay(v)
	if err != nil {
		return time.Time{}, errs.FieldErrorf(name, "%q is not a date (YYYY-MM-DD)", v)
	}
	return d.In(clock.Tokyo), nil
}

func buildRankMatrix(p loyalty.Program, rep *loyalty.RankReport) rankMatrix {
	m := rankMatrix{Cols: p.Ranks.Tiers}
	counts := map[[2]string]int64{}
	codes := map[string]bool{}
	for _, mv := range rep.Movement {
		counts[[2]string{mv.From, mv.To}] += mv.Customers
		codes[mv.From] = true
	}
	froms := []rankMatrixRow{}
	for _, t := range p.Ranks.Tiers {
		froms = append(froms, rankMatrixRow{From: t.Code, Name: t.Name})
	}
	froms = append(froms, rankMatrixRow{From: loyalty.NewRank})
	for _, row := range froms {
		for _, t := range p.Ranks.Tiers {
			n := counts[[2]string{row.From, t.Code}]
			row.Cells = append(row.Cells, n)
			row.Total += n
		}
		if row.From != loyalty.NewRank || row.Total > 0 {
			m.Rows = append(m.Rows, row)
		}
	}
	return m
}

func rankChart(b *base, rep *loyalty.RankReport) map[string]any {
	var names []string
	var counts []int64
	for _, c := range rep.Distribution {
		names = append(names, c.Name)
		counts = append(counts, c.Customers)
	}
	opt := barChart(names, counts, b.T("loyalty.customers"), "#1f5f8b", 60)
	opt["series"].([]map[string]any)[0]["label"] = map[string]any{"show": true, "position": "top"}
	return opt
}

func expiryChart(b *base, l *loyalty.Liability) map[string]any {
	if len(l.ByMonth) == 0 {
		return nil
	}
	var months []string
	var pts []int64
	for _, m := range l.ByMonth {
		months = append(months, m.Month)
		pts = append(pts, m.Points)
	}
	return barChart(months, pts, b.T("loyalty.expiring_points"), "#d97706", 70)
}

// barChart is an ECharts bar chart of values over labels: one series,
// named name, in color, with left pixels for the value axis.
func barChart(labels []string, values []int64, name, color string, left int) map[string]any {
	return map[string]any{
		"aria":    map[string]any{"enabled": true},
		"tooltip": map[string]any{"trigger": "axis"},
		"grid":    map[string]any{"left": left, "right": 20, "top": 20, "bottom": 30},
		"xAxis":   map[string]any{"type": "category", "data": labels},
		"yAxis":   map[string]any{"type": "value", "minInterval": 1},
		"series":  []map[string]any{{"name": name, "type": "bar", "data": values, "itemStyle": map[string]any{"color": color}}},
	}
}

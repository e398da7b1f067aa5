package ui

import (
	"github.com/enishi-crm/enishi/internal/analytics"
	"net/http"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

// timelinePerPage is how many timeline entries one page shows.
const timelinePerPage = 30

type customerPage struct {
	*base
	V          *customer.View
	CustomerID int64
	Timeline   []customer.TimelineItem
	Next       string // cursor of the next (older) timeline page
	Masked     bool
	Consents   []consentRow
	OrderChart map[string]any
	Form       formState
	Channels   []string
	Inquiry    []string // inquiry statuses
	Scores     *analytics.Scores
	Recs       []analytics.Recommendation
	customerExtras
}

// recommendationsShown is how many recommended products the 360 lists.
const recommendationsShown = 5

// consentRow is a channel's current consent for the consent form.
type consentRow struct {
	Channel string
	Current *customer.Consent
}

// formState is a form that failed, shown again with its message and values.
type formState struct {
	Name   string
	Error  string
	Values map[string]string
}

// Val returns a value the person typed into the failed form.
func (f formState) Val(form, field string) string {
	if f.Name != form {
		return ""
	}
	return f.Values[field]
}

// Err returns the failed form's message when it is form.
func (f formState) Err(form string) string {
	if f.Name != form {
		return ""
	}
	return f.Error
}

func pathInt(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Errorf(errs.NotFound, "%s %q is not an id", name, v)
	}
	return id, nil
}

// customer is the customer 360: profile, identities, aggregates, an order
// chart, consents, tags, merge history and candidates, and the timeline.
func (u *UI) customer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	return u.show360(w, r, id, http.StatusOK, formState{})
}

func (u *UI) show360(w http.ResponseWriter, r *http.Request, id int64, status int, form formState) error {
	ctx := r.Context()
	v, err := u.cfg.Store.CustomerView(ctx, id, store.ViewOptions{TimelineLimit: timelinePerPage, TimelineBefore: r.URL.Query().Get("before")})
	if err != nil {
		return err
	}
	if v.ID != id && r.Method == http.MethodGet {
		// A merged customer: show the person who absorbed them.
		http.Redirect(w, r, "/customers/"+strconv.FormatInt(v.ID, 10), http.StatusSeeOther)
		return nil
	}
	p := enishihttp.PrincipalFrom(ctx)
	masked := !p.Can(auth.PIIRead)
	if masked {
		v.Mask()
	}
	orders, err := u.cfg.Store.CustomerOrders(ctx, v.ID, 500)
	if err != nil {
		return err
	}
	b := u.newBase(r, "customers", "customer.title", v.ID)
	b.Charts = true
	pg := &customerPage{base: b, V: v, CustomerID: v.ID, Timeline: v.Timeline, Next: v.TimelineNext, Masked: masked, Form: form,
		Channels: customer.ConsentChannels, Inquiry: []string{customer.InquiryOpen, customer.InquiryPending, customer.InquiryClosed}}
	for _, ch := range customer.ConsentChannels {
		row := consentRow{Channel: ch}
		for i := range v.Consents {
			if v.Consents[i].Channel == ch {
				row.Current = &v.Consents[i]
			}
		}
		pg.Consents = append(pg.Consents, row)
	}
	pg.OrderChart = orderChart(b, orders, u.cfg.Clock.Now())
	if p.Can(auth.ReportsRead) || p.Can(auth.CustomersRead) {
		if pg.Scores, err = u.cfg.Store.CustomerScores(ctx, v.ID); err != nil {
			return err
		}
		if pg.Recs, err = u.cfg.Store.Recommendations(ctx, v.ID, recommendationsShown); err != nil {
			return err
		}
	}
	if err := u.loadCustomerExtras(ctx, pg); err != nil {
		return err
	}
	return u.render(w, r, status, "customer", pg)
}

// customerTimeline is one older page of the timeline (htmx appends it).
func (u *UI) customerTimeline(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	v, err := u.cfg.Store.CustomerView(r.Context(), id, store.ViewOptions{TimelineLimit: timelinePerPage, TimelineBefore: r.URL.Query().Get("before")})
	if err != nil {
		return err
	}
	masked := !enishihttp.PrincipalFrom(r.Context()).Can(auth.PIIRead)
	if masked {
		v.Mask()
	}
	pg := &customerPage{base: u.newBase(r, "customers", ""), V: v, CustomerID: v.ID, Timeline: v.Timeline, Next: v.TimelineNext, Masked: masked}
	return u.fragment(w, "customer", "timeline_items", pg)
}

// maxChartMonths bounds the order chart to the latest three years.
const maxChartMonths = 36

// orderChart is an ECharts bar chart of the customer's paid spend per month
// (Asia/Tokyo), from the first order's month to now; nil without orders.
func orderChart(b *base, orders []order.Order, now time.Time) map[string]any {
	byMonth := map[string]int64{}
	counts := map[string]int64{}
	var first time.Time
	for _, o := range orders {
		if o.Status != order.Paid {
			continue
		}
		t := o.OrderedAt.In(clock.Tokyo)
		m := t.Format("2006-01")
		byMonth[m] += o.Total
		counts[m]++
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return nil
	}
	end := now.In(clock.Tokyo)
	start := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, clock.Tokyo)
	if lim := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, clock.Tokyo).AddDate(0, -(maxChartMonths - 1), 0); start.Before(lim) {
		start = lim
	}
	var months []string
	var spend, n []int64
	for m := start; !m.After(end); m = m.AddDate(0, 1, 0) {
		k := m.Format("2006-01")
		months = append(months, k)
		spend = append(spend, byMonth[k])
		n = append(n, counts[k])
	}
	return map[string]any{
		"aria":    map[string]any{"enabled": true},
		"tooltip": map[string]any{"trigger": "axis"},
		"legend":  map[string]any{"top": 0, "data": []string{b.T("customer.chart_spend"), b.T("customer.chart_orders")}},
		"grid":    map[string]any{"left": 60, "right": 40, "top": 40, "bottom": 30},
		"xAxis":   map[string]any{"type": "category", "data": months},
		"yAxis": []map[string]any{
			{"type": "value", "name": "¥"},
			{"type": "value", "name": b.T("customer.chart_orders"), "minInterval": 1, "splitLine": map[string]any{"show": false}},
		},
		"series": []map[string]any{
			{"name": b.T("customer.chart_spend"), "type": "bar", "data": spend, "itemStyle": map[string]any{"color": "#1f5f8b"}},
			{"name": b.T("customer.chart_orders"), "type": "line", "yAxisIndex": 1, "data": n, "itemStyle": map[string]any{"color": "#d97706"}},
		},
	}
}

package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// routesVoice registers the 顧客の声 section: the inquiry desk,
// subscriptions (定期便), reviews and surveys. Permissions follow the
// API's (docs/voice-of-customer.md, docs/subscriptions.md).
func (u *UI) routesVoice() {
	u.page("GET /voice", "", u.voiceHome)
	u.page("GET /inquiries", auth.CustomersRead, u.inquiries)
	u.page("GET /inquiries/{id}", auth.CustomersRead, u.inquiry)
	u.page("POST /inquiries/{id}", auth.CustomersWrite, u.updateInquiry)
	u.page("POST /inquiries/{id}/replies", auth.CustomersWrite, u.replyInquiry)
	u.page("POST /inquiries/{id}/tags", auth.CustomersWrite, u.tagInquiry)

	u.page("GET /subscriptions", auth.CustomersRead, u.subscriptions)
	u.page("GET /subscriptions/{id}", auth.CustomersRead, u.subscriptionDetail)
	u.page("POST /subscriptions/risk", auth.CustomersWrite, u.refreshRisk)

	u.page("GET /reviews", auth.CustomersRead, u.reviews)

	u.page("GET /surveys", auth.ReportsRead, u.surveys)
	u.page("POST /surveys", auth.CampaignsSend, u.createSurvey)
	u.page("GET /surveys/{id}", auth.ReportsRead, u.surveyResults)
	u.page("POST /surveys/{id}/status", auth.CampaignsSend, u.setSurveyStatus)
	u.page("GET /surveys/{id}/export", auth.CustomersExport, u.exportSurvey)
}

// voiceTabs are the section's pages, each behind its permission.
var voiceTabs = []tabLink{
	{"/inquiries", auth.CustomersRead},
	{"/subscriptions", auth.CustomersRead},
	{"/reviews", auth.CustomersRead},
	{"/surveys", auth.ReportsRead},
}

func (u *UI) voiceHome(w http.ResponseWriter, r *http.Request) error {
	return openFirst(w, r, voiceTabs, "customers' voices")
}

// listPage reads the 1-based page number of a list.
func listPage(r *http.Request) int {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return max(page, 1)
}

// pageLinks links the pages of a list at path filtered by vals: n rows
// shown from offset (page-1)*perPage of total.
func pageLinks(path string, vals url.Values, page, perPage, n, total int) pager {
	offset := (page - 1) * perPage
	p := pager{From: min(offset+1, total), To: offset + n, Total: total}
	v := url.Values{}
	for k, s := range vals {
		if len(s) > 0 && s[0] != "" && k != "page" {
			v.Set(k, s[0])
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page-1))
		p.Prev = path + "?" + v.Encode()
	}
	if offset+n < total {
		v.Set("page", strconv.Itoa(page+1))
		p.Next = path + "?" + v.Encode()
	}
	return p
}

// subscriptionsPerPage is how many contracts a page lists.
const subscriptionsPerPage = 50

type subscriptionsPage struct {
	*base
	List     []subscription.Contract
	Pager    pager
	Status   string
	Risk     string
	Statuses []subscription.Status
	Model    *subscription.Model // nil until the risk model is first fitted
}

// subscriptions lists contracts filtered by status and cancellation risk.
func (u *UI) subscriptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page := listPage(r)
	pg := &subscriptionsPage{base: u.newBase(r, "voice", "voice.subscriptions"), Status: q.Get("status"), Risk: q.Get("risk"), Statuses: subscription.Statuses}
	switch pg.Risk {
	case "", subscription.TierHigh, subscription.TierMedium, subscription.TierLow:
	default:
		return errs.FieldErrorf("risk", "%q is not high, medium or low", pg.Risk)
	}
	list, total, err := u.cfg.Store.ListSubscriptions(r.Context(), store.SubscriptionQuery{Status: pg.Status, RiskTier: pg.Risk,
		Limit: subscriptionsPerPage, Offset: (page - 1) * subscriptionsPerPage})
	if err != nil {
		return err
	}
	pg.List = list
	pg.Pager = pageLinks("/subscriptions", q, page, subscriptionsPerPage, len(list), total)
	if pg.Can(string(auth.ReportsRead)) {
		if pg.Model, err = u.cfg.Store.SubscriptionRiskModel(r.Context()); err != nil {
			return err
		}
	}
	return u.render(w, r, http.StatusOK, "subscriptions", pg)
}

type subscriptionPage struct {
	*base
	S *store.SubscriptionDetail
}

// subscriptionDetail shows a contract with its deliveries, history and
// risk with its reasons.
func (u *UI) subscriptionDetail(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	d, err := u.cfg.Store.Subscription(r.Context(), id)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "subscription", &subscriptionPage{base: u.newBase(r, "voice", "voice.subscription", d.ExternalID), S: d})
}

// refreshRisk fits the cancellation-risk model again and scores every
// live contract, in the background.
func (u *UI) refreshRisk(w http.ResponseWriter, r *http.Request) error {
	return u.startTask(w, r, "risk", "/subscriptions", func(ctx context.Context, t *task) (string, error) {
		res, err := u.cfg.Store.RefreshSubscriptionRisk(ctx)
		if err != nil {
			return "", err
		}
		t.progress(int64(res.Scored), int64(res.Scored))
		if err := u.cfg.Store.AppendAudit(ctx, store.AuditEntry{Actor: t.Actor, Action: "subscription.risk_refresh", Detail: strconv.Itoa(res.Scored) + " contracts scored"}); err != nil {
			return "", err
		}
		return u.localeFor(r).T("task.risk_done", formatNum(int64(res.Scored)), formatNum(int64(res.High)), formatNum(int64(res.Medium)), formatNum(int64(res.Low))), nil
	})
}

// reviewsPerPage is how many reviews a page lists.
const reviewsPerPage = 50

type reviewsPage struct {
	*base
	List      []review.Review
	Pager     pager
	SKU       string
	MaxRating int
}

// reviews lists product reviews, newest first, optionally the unhappy ones.
func (u *UI) reviews(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page := listPage(r)
	pg := &reviewsPage{base: u.newBase(r, "voice", "voice.reviews"), SKU: q.Get("sku")}
	if v := q.Get("max_rating"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			return errs.FieldErrorf("max_rating", "%q is not 1–5", v)
		}
		pg.MaxRating = n
	}
	list, total, err := u.cfg.Store.ListReviews(r.Context(), store.ReviewQuery{SKU: pg.SKU, MaxRating: pg.MaxRating, Limit: reviewsPerPage, Offset: (page - 1) * reviewsPerPage})
	if err != nil {
		return err
	}
	pg.List = list
	pg.Pager = pageLinks("/reviews", q, page, reviewsPerPage, len(list), total)
	return u.render(w, r, http.StatusOK, "reviews", pg)
}

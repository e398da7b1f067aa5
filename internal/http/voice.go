package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/reports"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/survey"
	"github.com/enishi-crm/enishi/internal/voiceingest"
)

// routesVoice registers subscriptions, surveys, reviews and the inquiry
// desk (docs/subscriptions.md, docs/voice-of-customer.md). Survey
// definitions and links need campaigns:send (surveys are sent like
// campaigns); results need reports:read, their CSV customers:export.
func (s *Server) routesVoice() {
	s.Handle("GET /api/v1/subscriptions", auth.CustomersRead, s.listSubscriptions)
	s.Handle("GET /api/v1/subscriptions/{id}", auth.CustomersRead, s.getSubscription)
	s.Handle("GET /api/v1/customers/{id}/subscriptions", auth.CustomersRead, s.customerSubscriptions)
	s.Handle("POST /api/v1/subscriptions/events", auth.ImportsWrite, s.voiceEvent)
	s.Handle("GET /api/v1/subscriptions/due", auth.CustomersRead, s.subscriptionHits("days", 0, 365, s.cfg.Store.SubscriptionsDue))
	s.Handle("GET /api/v1/subscriptions/cancelled", auth.CustomersRead, s.subscriptionHits("days_ago", 0, 3650, s.cfg.Store.SubscriptionsCancelledDaysAgo))
	s.Handle("GET /api/v1/subscriptions/at-delivery", auth.CustomersRead, s.subscriptionHits("deliveries", 0, 10000, s.cfg.Store.SubscriptionsAtDelivery))
	s.Handle("GET /api/v1/subscriptions/risk", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		m, err := s.cfg.Store.SubscriptionRiskModel(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"model": m})
	})
	s.Handle("POST /api/v1/subscriptions/risk", auth.CustomersWrite, func(w http.ResponseWriter, r *http.Request) error {
		res, err := s.cfg.Store.RefreshSubscriptionRisk(r.Context())
		if err != nil {
			return err
		}
		if err := s.Audit(r, "subscription.risk_refresh", "", fmt.Sprintf("%d contracts scored", res.Scored)); err != nil {
			return err
		}
		return JSON(w, res)
	})

	s.Handle("GET /api/v1/reviews", auth.CustomersRead, s.listReviews)
	s.Handle("POST /api/v1/reviews/events", auth.ImportsWrite, s.voiceEvent)
	s.Handle("GET /api/v1/customers/{id}/reviews", auth.CustomersRead, func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		list, total, err := s.cfg.Store.ListReviews(r.Context(), store.ReviewQuery{CustomerID: id, Limit: 500})
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"reviews": list, "total": total})
	})

	s.Handle("GET /api/v1/inquiries", auth.CustomersRead, s.listInquiries)
	s.Handle("GET /api/v1/inquiries/counts", auth.CustomersRead, func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.cfg.Store.InquiryCounts(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, c)
	})
	s.Handle("GET /api/v1/inquiries/settings", auth.CustomersRead, func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.cfg.Store.InquirySettings(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, st)
	})
	s.Handle("PUT /api/v1/inquiries/settings", auth.SettingsWrite, func(w http.ResponseWriter, r *http.Request) error {
		var in store.InquirySettings
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		if err := s.cfg.Store.SetInquirySettings(r.Context(), in); err != nil {
			return err
		}
		if err := s.Audit(r, "inquiry.settings", "", fmt.Sprintf("exclude_from_campaigns=%t", in.ExcludeFromCampaigns)); err != nil {
			return err
		}
		return JSON(w, in)
	})
	s.Handle("GET /api/v1/inquiries/{id}", auth.CustomersRead, s.getInquiry)
	s.Handle("PATCH /api/v1/inquiries/{id}", auth.CustomersWrite, s.patchInquiry)
	s.Handle("POST /api/v1/inquiries/{id}/replies", auth.CustomersWrite, s.replyInquiry)
	s.Handle("PUT /api/v1/inquiries/{id}/tags", auth.CustomersWrite, s.tagInquiry)

	s.Handle("GET /api/v1/surveys", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.cfg.Store.ListSurveys(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"surveys": list})
	})
	s.Handle("POST /api/v1/surveys", auth.CampaignsSend, s.createSurvey)
	s.Handle("GET /api/v1/surveys/{id}", auth.ReportsRead, s.getSurvey)
	s.Handle("PUT /api/v1/surveys/{id}", auth.CampaignsSend, s.updateSurvey)
	s.Handle("GET /api/v1/surveys/{id}/results", auth.ReportsRead, s.surveyResults)
	s.Handle("GET /api/v1/surveys/{id}/export", auth.CustomersExport, s.exportSurvey)
	s.Handle("POST /api/v1/surveys/{id}/links", auth.CampaignsSend, s.surveyLinks)
	s.Handle("GET /api/v1/customers/{id}/surveys", auth.CustomersRead, s.customerSurveys)
	s.Handle("POST /api/v1/segments/voice-preview", auth.CustomersRead, s.voicePreview)

	s.routesSurveyPublic()
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, offset, cid, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := s.cfg.Store.ListSubscriptions(r.Context(), store.SubscriptionQuery{Status: q.Get("status"), CustomerID: cid,
		SKU: q.Get("sku"), Plan: q.Get("plan"), RiskTier: q.Get("risk"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"subscriptions": list, "total": total, "limit": limit, "offset": offset})
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := s.cfg.Store.Subscription(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, d)
}

func (s *Server) customerSubscriptions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.CustomerSubscriptions(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"subscriptions": list})
}

// subscriptionHits serves a trigger query with one whole-number parameter.
func (s *Server) subscriptionHits(param string, lo, hi int, q func(ctx context.Context, n int) ([]store.SubscriptionHit, error)) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Query().Get(param) == "" {
			return errs.FieldErrorf(param, "required")
		}
		n, err := queryInt(r, param, 0)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return errs.FieldErrorf(param, "must be from %d to %d", lo, hi)
		}
		hits, err := q(r.Context(), n)
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"subscriptions": hits, "count": len(hits), "today": s.cfg.Clock.Now().In(clock.Tokyo).Format("2006-01-02")})
	}
}

// voiceEvent applies a subscription.* or review.* event in the generic
// webhook's envelope, with the source named in it:
// {"source": "cart", "id": "evt-1", "type": "subscription.skipped", "created_at": "…", "data": {…}}.
func (s *Server) voiceEvent(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Source    string          `json:"source"`
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Source) == "" {
		return errs.FieldErrorf("source", "required: the system the event comes from")
	}
	family := "subscription"
	if strings.HasSuffix(r.URL.Path, "/reviews/events") {
		family = "review"
	}
	if !strings.HasPrefix(in.Type, family+".") {
		return errs.FieldErrorf("type", "this endpoint takes %s.* events", family)
	}
	if in.CreatedAt.IsZero() {
		in.CreatedAt = s.cfg.Clock.Now()
	}
	res, err := voiceingest.Process(r.Context(), s.cfg.Store, in.Source, in.ID, in.Type, in.CreatedAt, in.Data)
	if err != nil {
		return err
	}
	if err := s.Audit(r, family+".event", "source:"+in.Source, in.Type+" "+in.ID); err != nil {
		return err
	}
	return JSON(w, map[string]any{"inserted": res.Inserted, "updated": res.Updated, "unchanged": res.Unchanged, "new_customers": res.NewCustomers})
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) error {
	limit, offset, cid, err := listQuery(r)
	if err != nil {
		return err
	}
	maxRating, err := queryInt(r, "max_rating", 0)
	if err != nil {
		return err
	}
	list, total, err := s.cfg.Store.ListReviews(r.Context(), store.ReviewQuery{SKU: r.URL.Query().Get("sku"), CustomerID: cid, MaxRating: maxRating, Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"reviews": list, "total": total})
}

func (s *Server) listInquiries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, offset, cid, err := listQuery(r)
	if err != nil {
		return err
	}
	list, total, err := s.cfg.Store.ListInquiries(r.Context(), store.InquiryQuery{Status: q.Get("status"), Assignee: q.Get("assignee"), Tag: q.Get("tag"),
		CustomerID: cid, Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range list {
			list[i].Mask()
		}
	}
	return JSON(w, map[string]any{"inquiries": list, "total": total})
}

func (s *Server) inquiryOut(w http.ResponseWriter, r *http.Request, d *customer.InquiryDetail) error {
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		d.Mask()
		for i := range d.Replies {
			d.Replies[i].Body = "***"
		}
	}
	return JSON(w, d)
}

func (s *Server) getInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, err := s.cfg.Store.Inquiry(r.Context(), id)
	if err != nil {
		return err
	}
	return s.inquiryOut(w, r, d)
}

func (s *Server) patchInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Status   *string `json:"status"`
		Assignee *string `json:"assignee"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	d, err := s.cfg.Store.UpdateInquiry(r.Context(), id, in.Status, in.Assignee)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "inquiry.update", "inquiry:"+itoa64(id), "status "+d.Status); err != nil {
		return err
	}
	return s.inquiryOut(w, r, d)
}

func (s *Server) replyInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Body       string `json:"body"`
		Channel    string `json:"channel"`
		KeepStatus bool   `json:"keep_status"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rid, err := s.cfg.Store.AddInquiryReply(r.Context(), customer.InquiryReply{InquiryID: id, Author: PrincipalFrom(r.Context()).Actor(),
		Body: in.Body, Channel: in.Channel}, in.KeepStatus)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "inquiry.reply", "inquiry:"+itoa64(id), "reply "+itoa64(rid)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"id": rid})
	return nil
}

func (s *Server) tagInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Tags []string `json:"tags"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.cfg.Store.SetInquiryTags(r.Context(), id, in.Tags); err != nil {
		return err
	}
	if err := s.Audit(r, "inquiry.tags", "inquiry:"+itoa64(id), fmt.Sprintf("%d tags", len(in.Tags))); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) createSurvey(w http.ResponseWriter, r *http.Request) error {
	var in survey.Survey
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	in.ID, in.PublicKey, in.CreatedBy = 0, "", PrincipalFrom(r.Context()).Actor()
	out, err := s.cfg.Store.CreateSurvey(r.Context(), in)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "survey.create", "survey:"+itoa64(out.ID), out.Status); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) getSurvey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sv, err := s.cfg.Store.Survey(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, sv)
}

func (s *Server) updateSurvey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in survey.Survey
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	in.ID = id
	out, err := s.cfg.Store.UpdateSurvey(r.Context(), in)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "survey.update", "survey:"+itoa64(id), out.Status); err != nil {
		return err
	}
	return JSON(w, out)
}

func (s *Server) surveyResults(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	texts, err := queryInt(r, "texts", 20)
	if err != nil {
		return err
	}
	res, err := s.cfg.Store.SurveyResults(r.Context(), id, min(texts, 1000))
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		maskTexts(res)
	}
	return JSON(w, res)
}

// maskTexts hides free-text answers (they may hold names and addresses)
// from callers without pii:read.
func maskTexts(res *survey.Results) {
	for i := range res.Questions {
		for j := range res.Questions[i].Texts {
			res.Questions[i].Texts[j].Text = "***"
		}
	}
}

func (s *Server) exportSurvey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.Survey(r.Context(), id); err != nil {
		return err
	}
	if err := s.Audit(r, "survey.export", "survey:"+itoa64(id), "responses CSV"); err != nil {
		return err
	}
	csvexport.Attachment(w.Header(), "survey-"+strconv.FormatInt(id, 10)+".csv")
	return reports.WriteSurveyCSV(r.Context(), s.cfg.Store, id, w)
}

// surveyLinks makes customers' answer-page links and records the
// invitations: {"customer_ids": [1, 2], "channel": "email"}.
func (s *Server) surveyLinks(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		CustomerIDs []int64 `json:"customer_ids"`
		Channel     string  `json:"channel"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.CustomerIDs) == 0 || len(in.CustomerIDs) > 1000 {
		return errs.FieldErrorf("customer_ids", "give 1 to 1000 customer ids")
	}
	if _, err := s.cfg.Store.Survey(r.Context(), id); err != nil {
		return err
	}
	sg, err := s.surveySigner(r.Context())
	if err != nil {
		return err
	}
	type link struct {
		CustomerID int64  `json:"customer_id"`
		URL        string `json:"url"`
	}
	out := make([]link, 0, len(in.CustomerIDs))
	for _, cid := range in.CustomerIDs {
		u, err := survey.Link(r.Context(), s.cfg.Store, sg, s.publicURL(r), id, cid, in.Channel)
		if err != nil {
			return err
		}
		out = append(out, link{cid, u})
	}
	if err := s.Audit(r, "survey.links", "survey:"+itoa64(id), fmt.Sprintf("%d customers", len(out))); err != nil {
		return err
	}
	return JSON(w, map[string]any{"links": out})
}

func (s *Server) customerSurveys(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rs, err := s.cfg.Store.CustomerSurveyResponses(r.Context(), id)
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range rs {
			for j := range rs[i].Answers {
				if rs[i].Answers[j].Text != "" {
					rs[i].Answers[j].Text = "***"
				}
			}
		}
	}
	return JSON(w, map[string]any{"responses": rs})
}

// voicePreview counts the customers meeting subscription and voice-of-the-
// customer conditions (all must hold), with up to 100 of their ids: the
// store side of those segment conditions.
func (s *Server) voicePreview(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Conditions []struct {
			Field    string          `json:"field"`
			Op       string          `json:"op"`
			Value    json.RawMessage `json:"value"`
			SurveyID int64           `json:"survey_id"`
			Question string          `json:"question"`
		} `json:"conditions"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Conditions) == 0 || len(in.Conditions) > 20 {
		return errs.FieldErrorf("conditions", "give 1 to 20 conditions")
	}
	conds := make([]store.VOCCondition, len(in.Conditions))
	for i, c := range in.Conditions {
		conds[i] = store.VOCCondition{Field: c.Field, Op: c.Op, SurveyID: c.SurveyID, Question: c.Question}
		if len(c.Value) == 0 {
			continue
		}
		var str string
		var num float64
		var list []string
		switch {
		case json.Unmarshal(c.Value, &str) == nil:
			conds[i].Value = str
		case json.Unmarshal(c.Value, &num) == nil:
			if num == float64(int64(num)) {
				conds[i].Value = int64(num)
			} else {
				conds[i].Value = num
			}
		case json.Unmarshal(c.Value, &list) == nil:
			conds[i].Value = list
		default:
			return errs.FieldErrorf("conditions["+strconv.Itoa(i)+"].value", "a text, a number or a list of texts")
		}
	}
	n, ids, err := s.cfg.Store.CountVOCSegment(r.Context(), conds)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"count": n, "customer_ids": ids})
}

// listQuery reads a list's limit, offset and customer_id parameters.
func listQuery(r *http.Request) (limit, offset int, customerID int64, err error) {
	if limit, err = queryInt(r, "limit", 50); err != nil {
		return
	}
	if offset, err = queryInt(r, "offset", 0); err != nil {
		return
	}
	cid, err := queryInt(r, "customer_id", 0)
	return limit, offset, int64(cid), err
}

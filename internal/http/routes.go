package http

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// routesCore registers the foundation's routes. Each later capability adds
// its routes in a function of its own file, called from here.
func (s *Server) routesCore() {
	s.Public("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return JSON(w, map[string]string{"status": "ok"})
	})
	s.Public("GET /readyz", s.ready)
	s.Public("POST /api/v1/auth/login", s.apiLogin)
	s.Handle("POST /api/v1/auth/logout", "", s.apiLogout)
	s.Handle("GET /api/v1/me", "", func(w http.ResponseWriter, r *http.Request) error {
		return JSON(w, PrincipalFrom(r.Context()))
	})
	s.Handle("GET /api/v1/stats", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.cfg.Store.Stats(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, st)
	})
	s.routesCustomers()
	s.routesAnalytics()
	s.routesVoice()
	s.routesAdmin()
	s.routesSegments()
	s.routesJourneys()
	s.routesCampaigns()
	s.routesSecurity()
	s.routesPrivacy()
	s.routesChannels()
	s.routesIngest()
	s.routesLoyalty()
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.cfg.Store.Stats(r.Context()); err != nil {
		return errs.Errorf(errs.Unavailable, "database not ready")
	}
	return JSON(w, map[string]string{"status": "ready"})
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, token, err := s.SignIn(w, r, in.Email, in.Password, in.TOTP)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"user": u, "csrf_token": CSRFToken(token)})
}

// SignIn checks credentials through Login, audits the attempt and sets the
// session cookie: the one sign-in path of the API and the web UI. It
// returns the user and the new session's token.
func (s *Server) SignIn(w http.ResponseWriter, r *http.Request, email, password, totp string) (*store.User, string, error) {
	token, u, err := s.Login(r.Context(), email, password, totp, clientIP(r), r.UserAgent())
	if err != nil {
		if err != ErrTOTPRequired {
			s.auditAs(r, strings.ToLower(strings.TrimSpace(email)), "auth.login_failed", "", errs.Message(err))
		}
		return nil, "", err
	}
	if err := s.auditAs(r, u.Email, "auth.login", "user:"+itoa64(u.ID), ""); err != nil {
		return nil, "", err
	}
	s.SetSessionCookie(w, token)
	return u, token, nil
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.Logout(w, r); err != nil {
		return err
	}
	if err := s.Audit(r, "auth.logout", "", ""); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) routesCustomers() {
	s.Handle("GET /api/v1/customers", auth.CustomersRead, s.listCustomers)
	s.Handle("GET /api/v1/customers/{id}", auth.CustomersRead, s.getCustomer)
	s.Handle("GET /api/v1/customers/{id}/orders", auth.CustomersRead, s.customerOrders)
	s.Handle("GET /api/v1/customers/{id}/merges", auth.CustomersRead, s.customerMerges)
	s.Handle("POST /api/v1/customers/{id}/notes", auth.CustomersWrite, s.addNote)
	s.Handle("POST /api/v1/customers/{id}/inquiries", auth.CustomersWrite, s.addInquiry)
	s.Handle("POST /api/v1/customers/{id}/consents", auth.CustomersWrite, s.recordConsent)
	s.Handle("POST /api/v1/customers/{id}/tags", auth.CustomersWrite, s.addTags)
	s.Handle("POST /api/v1/customers/{id}/merge", auth.CustomersWrite, s.mergeInto)
	s.Handle("POST /api/v1/merges/{id}/unmerge", auth.CustomersWrite, s.unmerge)
	s.Handle("GET /api/v1/merge-candidates", auth.CustomersRead, s.listCandidates)
	s.Handle("POST /api/v1/merge-candidates/{id}/approve", auth.CustomersWrite, s.decideCandidate(true))
	s.Handle("POST /api/v1/merge-candidates/{id}/reject", auth.CustomersWrite, s.decideCandidate(false))
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 500 {
		return errs.FieldErrorf("limit", "must be between 1 and 500")
	}
	list, total, err := s.cfg.Store.SearchCustomers(r.Context(), customer.Query{Q: r.URL.Query().Get("q"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range list {
			list[i].Mask()
		}
	}
	return JSON(w, map[string]any{"customers": list, "total": total, "limit": limit, "offset": offset})
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "timeline_limit", 50)
	if err != nil {
		return err
	}
	v, err := s.cfg.Store.CustomerView(r.Context(), id, store.ViewOptions{TimelineLimit: limit, TimelineBefore: r.URL.Query().Get("timeline_before")})
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		v.Mask()
	}
	return JSON(w, v)
}

func (s *Server) customerOrders(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.Customer(r.Context(), id); err != nil {
		return err
	}
	orders, err := s.cfg.Store.CustomerOrders(r.Context(), id, limit)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"orders": orders})
}

func (s *Server) customerMerges(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ms, err := s.cfg.Store.Merges(r.Context(), id)
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range ms {
			ms[i].Via.Value = customer.MaskIdentifier(ms[i].Via)
		}
	}
	return JSON(w, map[string]any{"merges": ms})
}

func (s *Server) addNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Body string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	nid, err := s.cfg.Store.AddNote(r.Context(), id, PrincipalFrom(r.Context()).Actor(), in.Body)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "customer.note", "customer:"+itoa64(id), "note "+itoa64(nid)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"id": nid})
	return nil
}

func (s *Server) addInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Channel  string `json:"channel"`
		Subject  string `json:"subject"`
		Body     string `json:"body"`
		Status   string `json:"status"`
		Assignee string `json:"assignee"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	iid, err := s.cfg.Store.AddInquiry(r.Context(), customer.Inquiry{CustomerID: id, Channel: in.Channel, Subject: in.Subject,
		Body: in.Body, Status: in.Status, Assignee: in.Assignee})
	if err != nil {
		return err
	}
	if err := s.Audit(r, "customer.inquiry", "customer:"+itoa64(id), "inquiry "+itoa64(iid)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"id": iid})
	return nil
}

func (s *Server) recordConsent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Channel        string `json:"channel"`
		Granted        *bool  `json:"granted"`
		Method         string `json:"method"`
		Source         string `json:"source"`
		WordingVersion string `json:"wording_version"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Granted == nil {
		return errs.FieldErrorf("granted", "required (true or false)")
	}
	if in.Method == "" {
		in.Method = "staff"
	}
	err = s.cfg.Store.RecordConsent(r.Context(), id, customer.Consent{Channel: in.Channel, Granted: *in.Granted, Method: in.Method,
		Source: in.Source, WordingVersion: in.WordingVersion, Actor: PrincipalFrom(r.Context()).Actor()})
	if err != nil {
		return err
	}
	if err := s.Audit(r, "customer.consent", "customer:"+itoa64(id), fmt.Sprintf("%s granted=%t", in.Channel, *in.Granted)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]bool{"ok": true})
	return nil
}

func (s *Server) addTags(w http.ResponseWriter, r *http.Request) error {
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
	if len(in.Tags) == 0 {
		return errs.FieldErrorf("tags", "give at least one tag")
	}
	if err := s.cfg.Store.AddTags(r.Context(), id, in.Tags); err != nil {
		return err
	}
	if err := s.Audit(r, "customer.tags", "customer:"+itoa64(id), fmt.Sprintf("%d tag(s) added", len(in.Tags))); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) mergeInto(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Other int64 `json:"other"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Other <= 0 {
		return errs.FieldErrorf("other", "the id of the customer to merge into this one")
	}
	mid, err := s.cfg.Store.MergeCustomers(r.Context(), id, in.Other, PrincipalFrom(r.Context()).Actor())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"merge_id": mid})
	return nil
}

func (s *Server) unmerge(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.Unmerge(r.Context(), id, PrincipalFrom(r.Context()).Actor()); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) listCandidates(w http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = "pending"
	}
	cs, err := s.cfg.Store.MergeCandidates(r.Context(), status, 500)
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range cs {
			cs[i].Via.Value = customer.MaskIdentifier(cs[i].Via)
		}
	}
	return JSON(w, map[string]any{"candidates": cs})
}

func (s *Server) decideCandidate(approve bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if err := s.cfg.Store.DecideMergeCandidate(r.Context(), id, approve, PrincipalFrom(r.Context()).Actor()); err != nil {
			return err
		}
		return JSON(w, map[string]bool{"ok": true})
	}
}

func (s *Server) routesAdmin() {
	s.Handle("POST /api/v1/dev/clock", auth.SettingsWrite, s.devClock)
	s.Handle("GET /api/v1/dev/clock", auth.SettingsWrite, s.devClock)
}

// DevClockOffsetSetting keeps how far the dev clock was moved ahead of real
// time (a Go duration), for `serve --dev-clock` to resume.
const DevClockOffsetSetting = "dev.clock_offset"

func (s *Server) devClock(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.DevClock == nil {
		return errs.Errorf(errs.Forbidden, "the dev clock is off; start the server with --dev-clock")
	}
	if r.Method == http.MethodPost {
		var in struct {
			Advance string    `json:"advance"`
			Set     time.Time `json:"set"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		switch {
		case in.Advance != "":
			d, err := time.ParseDuration(in.Advance)
			if err != nil || d < 0 {
				return errs.FieldErrorf("advance", "%q is not a forward duration such as 72h", in.Advance)
			}
			s.cfg.DevClock.Advance(d)
		case !in.Set.IsZero():
			if in.Set.Before(s.cfg.DevClock.Now()) {
				return errs.FieldErrorf("set", "the clock only moves forward")
			}
			s.cfg.DevClock.Set(in.Set)
		default:
			return errs.Errorf(errs.Invalid, "give advance (e.g. \"72h\") or set (RFC 3339)")
		}
		// Kept, so that a restarted `serve --dev-clock` resumes the moved
		// time instead of going back to the real one.
		offset := time.Until(s.cfg.DevClock.Now()).Round(time.Millisecond)
		if err := s.cfg.Store.SetSetting(r.Context(), DevClockOffsetSetting, offset.String()); err != nil {
			return err
		}
	}
	return JSON(w, map[string]time.Time{"now": s.cfg.DevClock.Now()})
}

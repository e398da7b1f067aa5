package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/store"
)

// routesJourneys registers the journey API (docs/api.md, docs/journeys.md),
// the messaging rules and product signals.
func (s *Server) routesJourneys() {
	s.Handle("GET /api/v1/journeys", auth.ReportsRead, s.listJourneys)
	s.Handle("POST /api/v1/journeys", auth.JourneysWrite, s.createJourney)
	s.Handle("GET /api/v1/journey-templates", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		return JSON(w, map[string]any{"templates": journey.Templates()})
	})
	s.Handle("GET /api/v1/journeys/{id}", auth.ReportsRead, s.getJourney)
	s.Handle("PUT /api/v1/journeys/{id}", auth.JourneysWrite, s.updateJourney)
	s.Handle("POST /api/v1/journeys/{id}/enable", auth.JourneysWrite, s.journeyStatus(journey.Enabled))
	s.Handle("POST /api/v1/journeys/{id}/disable", auth.JourneysWrite, s.journeyStatus(journey.Disabled))
	s.Handle("POST /api/v1/journeys/{id}/archive", auth.JourneysWrite, s.journeyStatus(journey.Archived))
	s.Handle("GET /api/v1/journeys/{id}/stats", auth.ReportsRead, s.journeyStats)
	s.Handle("GET /api/v1/journeys/{id}/enrollments", auth.CustomersRead, s.journeyEnrollments)
	s.Handle("GET /api/v1/customers/{id}/journeys", auth.CustomersRead, s.customerJourneys)
	s.Handle("GET /api/v1/customers/{id}/messages", auth.CustomersRead, s.customerMessages)
	s.Handle("GET /api/v1/messaging/rules", auth.SettingsWrite, func(w http.ResponseWriter, r *http.Request) error {
		rules, err := s.cfg.Store.MessagingRules(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, rules)
	})
	s.Handle("PUT /api/v1/messaging/rules", auth.SettingsWrite, s.setRules)
	s.Handle("POST /api/v1/products/{sku}/signals", auth.ImportsWrite, s.productSignal)
}

func (s *Server) listJourneys(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.Store.Journeys(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"journeys": list})
}

// decodeJourney reads a journey definition, or {"template": key,
// "params": {...}} to start from the library.
func decodeJourney(w http.ResponseWriter, r *http.Request) (journey.Journey, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		return journey.Journey{}, errs.Errorf(errs.Invalid, "malformed JSON: %v", err)
	}
	var probe struct {
		Template string                 `json:"template"`
		Params   journey.TemplateParams `json:"params"`
		Steps    json.RawMessage        `json:"steps"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return journey.Journey{}, errs.Errorf(errs.Invalid, "malformed journey: %v", err)
	}
	if probe.Template != "" && len(probe.Steps) == 0 {
		return journey.FromTemplate(probe.Template, probe.Params)
	}
	var j journey.Journey
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return journey.Journey{}, errs.Errorf(errs.Invalid, "malformed journey: %v", err)
	}
	return j, nil
}

func (s *Server) createJourney(w http.ResponseWriter, r *http.Request) error {
	j, err := decodeJourney(w, r)
	if err != nil {
		return err
	}
	j.CreatedBy = PrincipalFrom(r.Context()).Actor()
	created, err := s.cfg.Store.CreateJourney(r.Context(), j)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "journey.create", "journey:"+itoa64(created.ID), created.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (s *Server) getJourney(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	j, err := s.cfg.Store.Journey(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, j)
}

func (s *Server) updateJourney(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	j, err := decodeJourney(w, r)
	if err != nil {
		return err
	}
	j.ID = id
	updated, err := s.cfg.Store.UpdateJourney(r.Context(), j)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "journey.update", "journey:"+itoa64(id), "version "+itoa64(int64(updated.Version))); err != nil {
		return err
	}
	return JSON(w, updated)
}

func (s *Server) journeyStatus(status string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		j, err := s.cfg.Store.SetJourneyStatus(r.Context(), id, status)
		if err != nil {
			return err
		}
		if err := s.Audit(r, "journey."+status, "journey:"+itoa64(id), j.Name); err != nil {
			return err
		}
		return JSON(w, j)
	}
}

func (s *Server) journeyStats(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	st, err := s.cfg.Store.JourneyStats(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, st)
}

func (s *Server) journeyEnrollments(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.Journey(r.Context(), id); err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := s.cfg.Store.JourneyEnrollments(r.Context(), store.EnrollmentFilter{JourneyID: id, Step: q.Get("step"), State: q.Get("state"),
		Limit: limit, AfterID: int64(after)})
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"enrollments": list})
}

func (s *Server) customerJourneys(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.JourneyEnrollments(r.Context(), store.EnrollmentFilter{CustomerID: id, Limit: 500})
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"enrollments": list})
}

func (s *Server) customerMessages(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.OutboxItems(r.Context(), id, limit)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"messages": list})
}

func (s *Server) setRules(w http.ResponseWriter, r *http.Request) error {
	var rules outbox.Rules
	if err := decodeJSON(w, r, &rules); err != nil {
		return err
	}
	if err := s.cfg.Store.SetMessagingRules(r.Context(), rules); err != nil {
		return err
	}
	if err := s.Audit(r, "messaging.rules", "settings:"+outbox.RulesSetting, ""); err != nil {
		return err
	}
	return JSON(w, rules)
}

func (s *Server) productSignal(w http.ResponseWriter, r *http.Request) error {
	sku := r.PathValue("sku")
	var in struct {
		Kind     string `json:"kind"`
		OldPrice int64  `json:"old_price"`
		NewPrice int64  `json:"new_price"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	id, err := s.cfg.Store.RecordProductSignal(r.Context(), sku, in.Kind, in.OldPrice, in.NewPrice)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "recorded_at": s.cfg.Clock.Now().Format(time.RFC3339)})
	return nil
}

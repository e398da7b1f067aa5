package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/errs"
)

// routesCampaigns registers the campaign API (docs/api.md, docs/campaigns.md).
func (s *Server) routesCampaigns() {
	s.Handle("GET /api/v1/campaigns", auth.ReportsRead, s.listCampaigns)
	s.Handle("POST /api/v1/campaigns", auth.CampaignsSend, s.createCampaign)
	s.Handle("GET /api/v1/campaigns/{id}", auth.ReportsRead, s.getCampaign)
	s.Handle("PUT /api/v1/campaigns/{id}", auth.CampaignsSend, s.updateCampaign)
	s.Handle("POST /api/v1/campaigns/{id}/schedule", auth.CampaignsSend, s.scheduleCampaign)
	s.Handle("POST /api/v1/campaigns/{id}/pause", auth.CampaignsSend, s.moveCampaign("pause"))
	s.Handle("POST /api/v1/campaigns/{id}/resume", auth.CampaignsSend, s.moveCampaign("resume"))
	s.Handle("POST /api/v1/campaigns/{id}/cancel", auth.CampaignsSend, s.moveCampaign("cancel"))
	s.Handle("POST /api/v1/campaigns/{id}/test", auth.CampaignsSend, s.testCampaign)
	s.Handle("GET /api/v1/campaigns/{id}/preview", auth.CampaignsSend, s.previewCampaign)
	s.Handle("GET /api/v1/campaigns/{id}/stats", auth.ReportsRead, s.campaignStats)
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.Store.Campaigns(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"campaigns": list})
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) error {
	var c campaign.Campaign
	if err := decodeJSON(w, r, &c); err != nil {
		return err
	}
	c.CreatedBy = PrincipalFrom(r.Context()).Actor()
	created, err := s.cfg.Store.CreateCampaign(r.Context(), c)
	if err != nil {
		return err
	}
	if c.SendAt != nil {
		if created, err = s.cfg.Store.ScheduleCampaign(r.Context(), created.ID, *c.SendAt); err != nil {
			return err
		}
	}
	if err := s.Audit(r, "campaign.create", "campaign:"+itoa64(created.ID), created.Status); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.Campaign(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, c)
}

func (s *Server) updateCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var c campaign.Campaign
	if err := decodeJSON(w, r, &c); err != nil {
		return err
	}
	c.ID = id
	updated, err := s.cfg.Store.UpdateCampaign(r.Context(), c)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "campaign.update", "campaign:"+itoa64(id), ""); err != nil {
		return err
	}
	return JSON(w, updated)
}

func (s *Server) scheduleCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		SendAt *time.Time `json:"send_at"` // omitted: now
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	at := time.Time{}
	if in.SendAt != nil {
		at = *in.SendAt
	}
	c, err := s.cfg.Store.ScheduleCampaign(r.Context(), id, at)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "campaign.schedule", "campaign:"+itoa64(id), c.SendAt.Format(time.RFC3339)); err != nil {
		return err
	}
	return JSON(w, c)
}

func (s *Server) moveCampaign(verb string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var c *campaign.Campaign
		switch verb {
		case "pause":
			c, err = s.cfg.Store.PauseCampaign(r.Context(), id)
		case "resume":
			c, err = s.cfg.Store.ResumeCampaign(r.Context(), id)
		default:
			c, err = s.cfg.Store.CancelCampaign(r.Context(), id)
		}
		if err != nil {
			return err
		}
		if err := s.Audit(r, "campaign."+verb, "campaign:"+itoa64(id), c.Status); err != nil {
			return err
		}
		return JSON(w, c)
	}
}

func (s *Server) testCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		CustomerID int64  `json:"customer_id"`
		Variant    string `json:"variant"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.CustomerID <= 0 {
		return errs.FieldErrorf("customer_id", "name the customer to send the test to (a staff member's own profile)")
	}
	c, err := s.cfg.Store.Campaign(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.CampaignRecipient(r.Context(), in.CustomerID); err != nil {
		return err
	}
	key, res, err := campaign.NewRunner(s.cfg.Store, s.cfg.Dispatcher, s.cfg.Clock, s.cfg.Log).TestSend(r.Context(), c, in.Variant, in.CustomerID)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "campaign.test", "campaign:"+itoa64(id), "customer "+itoa64(in.CustomerID)); err != nil {
		return err
	}
	return JSON(w, map[string]any{"key": key, "result": res})
}

func (s *Server) previewCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cid, err := strconv.ParseInt(r.URL.Query().Get("customer_id"), 10, 64)
	if err != nil || cid <= 0 {
		return errs.FieldErrorf("customer_id", "give ?customer_id= of the recipient to preview")
	}
	c, err := s.cfg.Store.Campaign(r.Context(), id)
	if err != nil {
		return err
	}
	rc, err := s.cfg.Store.CampaignRecipient(r.Context(), cid)
	if err != nil {
		return err
	}
	rules, err := s.cfg.Store.MessagingRules(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, campaign.PreviewFor(c, rc, rules, s.cfg.Clock.Now()))
}

func (s *Server) campaignStats(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.Campaign(r.Context(), id)
	if err != nil {
		return err
	}
	st, err := s.cfg.Store.CampaignStats(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"campaign": c, "variants": st})
}

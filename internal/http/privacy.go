package http

import (
	"net/http"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/privacy"
)

// routesPrivacy registers data subject requests (APPI 開示・消去).
func (s *Server) routesPrivacy() {
	svc := privacy.New(s.cfg.Store)
	s.Handle("GET /api/v1/customers/{id}/personal-data", auth.PrivacyManage, func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		pd, err := svc.Export(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Disposition", `attachment; filename="`+csvexport.SafeFileName("customer-"+itoa64(pd.CustomerID)+"-personal-data.json")+`"`)
		return JSON(w, pd)
	})
	s.Handle("POST /api/v1/customers/{id}/erase", auth.PrivacyManage, func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var in struct {
			Reason string `json:"reason"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		e, err := svc.Erase(r.Context(), id, in.Reason)
		if err != nil {
			return err
		}
		return JSON(w, e)
	})
	s.Handle("GET /api/v1/customers/{id}/privacy-requests", auth.CustomersRead, func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		reqs, err := s.cfg.Store.CustomerPrivacyRequests(r.Context(), id)
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"requests": reqs})
	})
}

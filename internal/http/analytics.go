package http

import (
	"net/http"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/reports"
)

// routesAnalytics registers the reports, recommendations and analytics settings.
func (s *Server) routesAnalytics() {
	s.Handle("GET /api/v1/reports", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		type item struct {
			Name        string   `json:"name"`
			Summary     string   `json:"summary"`
			Params      []string `json:"params"`
			PerCustomer bool     `json:"per_customer_csv"`
		}
		var out []item
		for _, rep := range reports.All {
			out = append(out, item{rep.Name, rep.Summary, rep.Params, rep.PerCustomer})
		}
		return JSON(w, map[string]any{"reports": out})
	})
	s.Handle("GET /api/v1/reports/{name}", auth.ReportsRead, s.report)
	s.Handle("GET /api/v1/customers/{id}/recommendations", auth.CustomersRead, s.recommendations)
	s.Handle("GET /api/v1/analytics/settings", auth.ReportsRead, s.analyticsSettings)
	s.Handle("PUT /api/v1/analytics/settings", auth.SettingsWrite, s.putAnalyticsSettings)
}

// report serves GET /api/v1/reports/NAME?param=value: the same JSON as
// `enishi report NAME --json`. ?format=csv lists customers and so needs
// customers:export as well.
func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	p := reports.Params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[k] = v[len(v)-1]
		}
	}
	run := reports.Runner{Store: s.cfg.Store, Clock: s.cfg.Clock}
	switch p["format"] {
	case "", "json":
		out, err := run.Run(r.Context(), name, p, nil)
		if err != nil {
			return err
		}
		return JSON(w, out)
	case "csv":
		if !PrincipalFrom(r.Context()).Can(auth.CustomersExport) {
			return errs.Errorf(errs.Forbidden, "a per-customer CSV lists customers: it needs the customers:export permission")
		}
		rep, err := reports.Find(name)
		if err != nil {
			return err
		}
		if !rep.PerCustomer {
			return errs.FieldErrorf("format", "report %s has no per-customer CSV (rfm and predict do)", name)
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		_, err = run.Run(r.Context(), name, p, w)
		return err
	}
	return errs.FieldErrorf("format", "%q is not json or csv", p["format"])
}

func (s *Server) recommendations(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 10)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 100 {
		return errs.FieldErrorf("limit", "must be between 1 and 100")
	}
	recs, err := s.cfg.Store.Recommendations(r.Context(), id, limit)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"customer_id": id, "recommendations": recs})
}

type analyticsSettings struct {
	RFM analytics.RFMConfig `json:"rfm"`
	CPM analytics.CPMConfig `json:"cpm"`
}

func (s *Server) analyticsSettings(w http.ResponseWriter, r *http.Request) error {
	rc, cc, err := s.cfg.Store.AnalyticsConfig(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, analyticsSettings{rc, cc})
}

func (s *Server) putAnalyticsSettings(w http.ResponseWriter, r *http.Request) error {
	rc, cc, err := s.cfg.Store.AnalyticsConfig(r.Context())
	if err != nil {
		return err
	}
	in := analyticsSettings{rc, cc}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.cfg.Store.SetAnalyticsConfig(r.Context(), in.RFM, in.CPM); err != nil {
		return err
	}
	return JSON(w, in)
}

package http

import (
	"net/http"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// routesLoyalty registers the loyalty API: ranks, points and coupons
// (docs/api.md#loyalty). Checkout integrations use points:redeem keys.
func (s *Server) routesLoyalty() {
	s.Handle("GET /api/v1/loyalty/program", auth.CustomersRead, s.getProgram)
	s.Handle("PUT /api/v1/loyalty/program", auth.LoyaltyWrite, s.putProgram)
	s.Handle("POST /api/v1/loyalty/daily", auth.LoyaltyWrite, func(w http.ResponseWriter, r *http.Request) error {
		res, err := s.cfg.Store.LoyaltyDaily(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, res)
	})

	s.Handle("GET /api/v1/customers/{id}/loyalty", auth.CustomersRead, s.customerLoyalty)
	s.Handle("GET /api/v1/customers/{id}/points", auth.CustomersRead, s.pointsBalance)
	s.Handle("GET /api/v1/customers/{id}/points/history", auth.CustomersRead, s.pointsHistory)
	s.Handle("POST /api/v1/customers/{id}/points/adjust", auth.LoyaltyWrite, s.adjustPoints)
	s.Handle("POST /api/v1/customers/{id}/points/redeem", auth.PointsRedeem, s.redeemPoints)
	s.Handle("POST /api/v1/customers/{id}/points/redemptions/{key}/cancel", auth.PointsRedeem, s.cancelRedemption)
	s.Handle("GET /api/v1/customers/{id}/ranks", auth.CustomersRead, s.rankHistory)
	s.Handle("GET /api/v1/customers/{id}/coupons", auth.CustomersRead, s.customerCoupons)
	s.Handle("POST /api/v1/customers/{id}/coupons", auth.LoyaltyWrite, s.issueCoupon)

	s.Handle("POST /api/v1/loyalty/points/import", auth.LoyaltyWrite, s.importBalances)
	s.Handle("POST /api/v1/loyalty/points/expire", auth.LoyaltyWrite, func(w http.ResponseWriter, r *http.Request) error {
		res, err := s.cfg.Store.ExpirePoints(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, res)
	})
	s.Handle("GET /api/v1/loyalty/points/expiring", auth.CustomersRead, s.expiringPoints)
	s.Handle("GET /api/v1/loyalty/points/liability", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		l, err := s.cfg.Store.PointsLiability(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, l)
	})

	s.Handle("POST /api/v1/loyalty/ranks/evaluate", auth.LoyaltyWrite, s.evaluateRanks)
	s.Handle("GET /api/v1/loyalty/ranks/report", auth.ReportsRead, s.rankReport)

	s.Handle("GET /api/v1/loyalty/coupon-campaigns", auth.CustomersRead, s.listCouponCampaigns)
	s.Handle("POST /api/v1/loyalty/coupon-campaigns", auth.LoyaltyWrite, s.createCouponCampaign)
	s.Handle("GET /api/v1/loyalty/coupon-campaigns/{id}", auth.CustomersRead, s.getCouponCampaign)
	s.Handle("GET /api/v1/loyalty/coupon-campaigns/{id}/coupons", auth.CustomersRead, s.campaignCoupons)
	s.Handle("POST /api/v1/loyalty/coupon-campaigns/{id}/codes", auth.LoyaltyWrite, s.generateCodes)
	s.Handle("POST /api/v1/loyalty/coupon-campaigns/{id}/shopify-sync", auth.LoyaltyWrite, s.syncCodes)
	s.Handle("POST /api/v1/loyalty/coupons/check", auth.PointsRedeem, s.checkCoupon)
	s.Handle("GET /api/v1/loyalty/coupons/unused", auth.CustomersRead, s.unusedCoupons)
	s.Handle("POST /api/v1/loyalty/coupons/remind", auth.LoyaltyWrite, func(w http.ResponseWriter, r *http.Request) error {
		n, err := s.cfg.Store.RemindUnusedCoupons(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, map[string]int{"events": n})
	})
	s.Handle("GET /api/v1/loyalty/coupons/report", auth.ReportsRead, s.listCouponCampaigns)
}

func (s *Server) getProgram(w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.LoyaltyProgram(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, p)
}

func (s *Server) putProgram(w http.ResponseWriter, r *http.Request) error {
	var p loyalty.Program
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	if err := s.cfg.Store.SetLoyaltyProgram(r.Context(), p); err != nil {
		return err
	}
	return s.getProgram(w, r)
}

func (s *Server) customerLoyalty(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sum, err := s.cfg.Store.CustomerLoyalty(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, sum)
}

func (s *Server) pointsBalance(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := s.cfg.Store.PointsBalance(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, b)
}

func (s *Server) pointsHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	before, err := queryInt(r, "before", 0)
	if err != nil {
		return err
	}
	es, err := s.cfg.Store.PointsHistory(r.Context(), id, limit, int64(before))
	if err != nil {
		return err
	}
	out := map[string]any{"entries": es}
	if len(es) == limit && len(es) > 0 {
		out["next_before"] = es[len(es)-1].ID
	}
	return JSON(w, out)
}

func (s *Server) adjustPoints(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Points    int64      `json:"points"`
		Reason    string     `json:"reason"`
		ExpiresAt *time.Time `json:"expires_at"`
		Key       string     `json:"key"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Key == "" {
		in.Key = r.Header.Get("Idempotency-Key")
	}
	res, err := s.cfg.Store.AdjustPoints(r.Context(), loyalty.Adjustment{CustomerID: id, Points: in.Points, Reason: in.Reason,
		ExpiresAt: in.ExpiresAt, Key: in.Key, Actor: PrincipalFrom(r.Context()).Actor()})
	if err != nil {
		return err
	}
	return JSON(w, res)
}

// redeemPoints spends points at checkout. The idempotency key comes in the
// Idempotency-Key header (or the body's idempotency_key); a retry with the
// same key returns the first answer with "replayed": true.
func (s *Server) redeemPoints(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Points         int64  `json:"points"`
		IdempotencyKey string `json:"idempotency_key"`
		OrderRef       string `json:"order_ref"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if h := r.Header.Get("Idempotency-Key"); h != "" {
		if in.IdempotencyKey != "" && in.IdempotencyKey != h {
			return errs.FieldErrorf("idempotency_key", "differs from the Idempotency-Key header")
		}
		in.IdempotencyKey = h
	}
	red, err := s.cfg.Store.RedeemPoints(r.Context(), loyalty.RedeemRequest{CustomerID: id, Points: in.Points, IdempotencyKey: in.IdempotencyKey,
		OrderRef: in.OrderRef, Actor: PrincipalFrom(r.Context()).Actor()})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if red.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, red)
	return nil
}

func (s *Server) cancelRedemption(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	red, err := s.cfg.Store.CancelRedemption(r.Context(), id, r.PathValue("key"), PrincipalFrom(r.Context()).Actor())
	if err != nil {
		return err
	}
	return JSON(w, red)
}

func (s *Server) rankHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	h, err := s.cfg.Store.RankHistory(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"changes": h})
}

func (s *Server) customerCoupons(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	cs, err := s.cfg.Store.CustomerCoupons(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"coupons": cs})
}

// issueCoupon gives the customer a coupon of a campaign (a journey step or
// staff). A key (body or Idempotency-Key header) makes retries safe.
func (s *Server) issueCoupon(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		CampaignID int64  `json:"campaign_id"`
		Key        string `json:"key"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.CampaignID <= 0 {
		return errs.FieldErrorf("campaign_id", "required")
	}
	if in.Key == "" {
		in.Key = r.Header.Get("Idempotency-Key")
	}
	c, err := s.cfg.Store.IssueCoupon(r.Context(), loyalty.IssueRequest{CampaignID: in.CampaignID, CustomerID: id, Key: in.Key, Actor: PrincipalFrom(r.Context()).Actor()})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// maxImportRows bounds a balance import sent through the API; larger files
// go through `enishi points import`.
const maxImportRows = 5000

func (s *Server) importBalances(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Batch  string               `json:"batch"`
		DryRun bool                 `json:"dry_run"`
		Rows   []loyalty.BalanceRow `json:"rows"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Rows) == 0 || len(in.Rows) > maxImportRows {
		return errs.FieldErrorf("rows", "send 1–%d rows (use enishi points import for larger files)", maxImportRows)
	}
	for i := range in.Rows {
		if in.Rows[i].Line == 0 {
			in.Rows[i].Line = i + 1
		}
	}
	res, err := s.cfg.Store.ImportPointBalances(r.Context(), in.Batch, in.Rows, in.DryRun)
	if err != nil {
		return err
	}
	return JSON(w, res)
}

func (s *Server) expiringPoints(w http.ResponseWriter, r *http.Request) error {
	days, err := queryInt(r, "days", 30)
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.ExpiringPoints(r.Context(), days)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"expiring": list})
}

func (s *Server) evaluateRanks(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		CustomerIDs []int64 `json:"customer_ids"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
	}
	run, err := s.cfg.Store.EvaluateRanks(r.Context(), in.CustomerIDs)
	if err != nil {
		return err
	}
	return JSON(w, run)
}

func (s *Server) rankReport(w http.ResponseWriter, r *http.Request) error {
	now := s.cfg.Clock.Now()
	to, err := queryDay(r, "to", now, true)
	if err != nil {
		return err
	}
	from, err := queryDay(r, "from", to.AddDate(0, -1, 0), false)
	if err != nil {
		return err
	}
	rep, err := s.cfg.Store.RankReport(r.Context(), from, to)
	if err != nil {
		return err
	}
	return JSON(w, rep)
}

// queryDay reads an optional YYYY-MM-DD (Tokyo) or RFC 3339 parameter; a
// day given as "to" means its end.
func queryDay(r *http.Request, name string, def time.Time, end bool) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := loyalty.ParseDay(v)
	if err != nil {
		return time.Time{}, errs.FieldErrorf(name, "%q is not a date (YYYY-MM-DD or RFC 3339)", v)
	}
	if end {
		return d.End().Add(-time.Millisecond).UTC(), nil
	}
	return d.UTC(), nil
}

func (s *Server) listCouponCampaigns(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.cfg.Store.CouponCampaigns(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"campaigns": cs})
}

func (s *Server) createCouponCampaign(w http.ResponseWriter, r *http.Request) error {
	var c loyalty.Campaign
	if err := decodeJSON(w, r, &c); err != nil {
		return err
	}
	c.ID, c.CreatedAt, c.CreatedBy = 0, time.Time{}, PrincipalFrom(r.Context()).Actor()
	out, err := s.cfg.Store.CreateCouponCampaign(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) getCouponCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.CouponCampaign(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, c)
}

func (s *Server) campaignCoupons(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 1000)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0)
	if err != nil {
		return err
	}
	cs, err := s.cfg.Store.CampaignCoupons(r.Context(), id, limit, offset)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"coupons": cs, "limit": limit, "offset": offset})
}

func (s *Server) generateCodes(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Count  int    `json:"count"`
		Prefix string `json:"prefix"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	cs, err := s.cfg.Store.GenerateCoupons(r.Context(), id, in.Count, in.Prefix)
	if err != nil {
		return err
	}
	codes := make([]string, len(cs))
	for i, c := range cs {
		codes[i] = c.Code
	}
	writeJSON(w, http.StatusCreated, map[string]any{"campaign_id": id, "codes": codes})
	return nil
}

func (s *Server) syncCodes(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if s.cfg.DiscountCodes == nil {
		return errs.Errorf(errs.Unavailable, "Shopify is not configured: start enishi with ENISHI_SHOPIFY_URL and ENISHI_SHOPIFY_TOKEN")
	}
	c, err := s.cfg.Store.CouponCampaign(r.Context(), id)
	if err != nil {
		return err
	}
	res, err := loyalty.SyncDiscountCodes(r.Context(), s.cfg.Store, s.cfg.DiscountCodes, &c.Campaign)
	if err != nil {
		if errs.Code(err) == errs.Internal {
			s.cfg.Log.Error("shopify sync", "campaign", id, "written", res.Written, "err", err)
			return errs.Errorf(errs.Unavailable, "Shopify sync stopped after %d codes; run it again to carry on", res.Written+res.Existed)
		}
		return err
	}
	return JSON(w, res)
}

func (s *Server) checkCoupon(w http.ResponseWriter, r *http.Request) error {
	var cart loyalty.Cart
	if err := decodeJSON(w, r, &cart); err != nil {
		return err
	}
	v, err := s.cfg.Store.CheckCoupon(r.Context(), cart)
	if err != nil {
		return err
	}
	return JSON(w, v)
}

func (s *Server) unusedCoupons(w http.ResponseWriter, r *http.Request) error {
	days, err := queryInt(r, "days", 7)
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.UnusedCoupons(r.Context(), days)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"coupons": list})
}

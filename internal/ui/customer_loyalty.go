package ui

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// customerExtras are the parts of the customer 360 beyond the profile:
// loyalty (rank, points, coupons) with the forms that change them, and
// subscriptions.
type customerExtras struct {
	Subscriptions []subscription.Contract
	Loyalty       *loyalty.CustomerSummary
	// OpenCampaigns are the coupon campaigns staff can issue from now.
	OpenCampaigns []loyalty.CampaignStats
	// FormKey makes a points or coupon form idempotent: a double click or
	// a resubmitted page changes the balance once.
	FormKey string
	// TierNames are the programme's rank names by code.
	TierNames map[string]string
}

// loadCustomerExtras fills the 360's loyalty and subscription panels.
func (u *UI) loadCustomerExtras(ctx context.Context, pg *customerPage) error {
	var err error
	if pg.Subscriptions, err = u.cfg.Store.CustomerSubscriptions(ctx, pg.CustomerID); err != nil {
		return err
	}
	if pg.Loyalty, err = u.cfg.Store.CustomerLoyalty(ctx, pg.CustomerID); err != nil {
		return err
	}
	prog, err := u.cfg.Store.LoyaltyProgram(ctx)
	if err != nil {
		return err
	}
	pg.TierNames = map[string]string{}
	for _, t := range prog.Ranks.Tiers {
		pg.TierNames[t.Code] = t.Name
	}
	now := u.cfg.Clock.Now()
	for i := range pg.Loyalty.Coupons {
		pg.Loyalty.Coupons[i].Status = pg.Loyalty.Coupons[i].StatusAt(now)
	}
	if pg.P.Can(auth.LoyaltyWrite) {
		all, err := u.cfg.Store.CouponCampaigns(ctx)
		if err != nil {
			return err
		}
		for _, c := range all {
			if c.EndsAt == nil || c.EndsAt.After(now) {
				pg.OpenCampaigns = append(pg.OpenCampaigns, c)
			}
		}
		pg.FormKey = "ui:" + auth.RandomToken(12)
	}
	return nil
}

// adjustPoints gives or takes points with a reason (ポイント調整).
func (u *UI) adjustPoints(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	vals := map[string]string{"points": strings.TrimSpace(r.PostFormValue("points")), "reason": strings.TrimSpace(r.PostFormValue("reason")),
		"expires": strings.TrimSpace(r.PostFormValue("expires"))}
	pts, perr := strconv.ParseInt(strings.ReplaceAll(strings.TrimPrefix(vals["points"], "+"), ",", ""), 10, 64)
	if perr != nil || pts == 0 {
		return u.formFailed(w, r, id, "points", "points.bad_amount", nil, vals)
	}
	if vals["reason"] == "" {
		return u.formFailed(w, r, id, "points", "points.reason_required", nil, vals)
	}
	a := loyalty.Adjustment{CustomerID: id, Points: pts, Reason: vals["reason"], Key: r.PostFormValue("key"), Actor: principal(r).Actor()}
	if vals["expires"] != "" {
		d, err := loyalty.ParseDay(vals["expires"])
		if err != nil {
			return u.formFailed(w, r, id, "points", "points.bad_expiry", nil, vals)
		}
		t := d.End().Add(-time.Millisecond).UTC() // usable through that day
		a.ExpiresAt = &t
	}
	res, err := u.cfg.Store.AdjustPoints(r.Context(), a)
	if err != nil {
		return u.formFailed(w, r, id, "points", "", err, vals)
	}
	if !res.Replayed {
		if err := u.api.Audit(r, "points.adjust", "customer:"+strconv.FormatInt(id, 10), strconv.FormatInt(pts, 10)+" points: "+vals["reason"]); err != nil {
			return err
		}
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#loyalty", "points_adjusted")
}

// issueCoupon gives the customer a coupon of a campaign.
func (u *UI) issueCoupon(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	cid, _ := strconv.ParseInt(r.PostFormValue("campaign_id"), 10, 64)
	if cid <= 0 {
		return u.formFailed(w, r, id, "coupon", "coupon.choose", nil, nil)
	}
	c, err := u.cfg.Store.IssueCoupon(r.Context(), loyalty.IssueRequest{CampaignID: cid, CustomerID: id, Key: r.PostFormValue("key"), Actor: principal(r).Actor()})
	if err != nil {
		return u.formFailed(w, r, id, "coupon", "", err, nil)
	}
	if err := u.api.Audit(r, "coupon.issue", "customer:"+strconv.FormatInt(id, 10), "campaign "+strconv.FormatInt(cid, 10)+" coupon "+strconv.FormatInt(c.ID, 10)); err != nil {
		return err
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#loyalty", "coupon_issued")
}

// pointsPerPage is how many ledger entries the points history shows.
const pointsPerPage = 50

type customerPointsPage struct {
	*base
	CustomerID int64
	Balance    *loyalty.Balance
	Entries    []loyalty.Entry
	Ranks      []loyalty.RankChange
	Tiers      map[string]string // rank code → name
	Next       string            // cursor of the next (older) page
}

// customerPoints is the whole points ledger of a customer (newest first,
// paged), their open lots and their rank history.
func (u *UI) customerPoints(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := u.cfg.Store.Customer(ctx, id); err != nil {
		return err
	}
	pg := &customerPointsPage{base: u.newBase(r, "customers", "points.title", id), CustomerID: id, Tiers: map[string]string{}}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if pg.Balance, err = u.cfg.Store.PointsBalance(ctx, id); err != nil {
		return err
	}
	if pg.Entries, err = u.cfg.Store.PointsHistory(ctx, id, pointsPerPage, before); err != nil {
		return err
	}
	if len(pg.Entries) == pointsPerPage {
		pg.Next = strconv.FormatInt(pg.Entries[len(pg.Entries)-1].ID, 10)
	}
	if pg.Ranks, err = u.cfg.Store.RankHistory(ctx, id); err != nil {
		return err
	}
	prog, err := u.cfg.Store.LoyaltyProgram(ctx)
	if err != nil {
		return err
	}
	for _, t := range prog.Ranks.Tiers {
		pg.Tiers[t.Code] = t.Name
	}
	return u.render(w, r, http.StatusOK, "customer_points", pg)
}

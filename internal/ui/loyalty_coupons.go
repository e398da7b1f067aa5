package ui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// couponsPerPage is how many codes a campaign's page lists at once.
const couponsPerPage = 100

// maxGenerate is the most codes one click makes (the store's own bound).
const maxGenerate = 100_000

type couponCampaignsPage struct {
	*base
	Campaigns []loyalty.CampaignStats
	Tiers     []loyalty.Tier
	Form      map[string]string
	Ranks     []string // rank codes ticked in a failed form
}

// couponCampaigns lists the coupon campaigns with their results, and the
// form for a new one.
func (u *UI) couponCampaigns(w http.ResponseWriter, r *http.Request) error {
	return u.showCouponCampaigns(w, r, http.StatusOK, nil, nil, nil)
}

func (u *UI) showCouponCampaigns(w http.ResponseWriter, r *http.Request, status int, form map[string]string, ranks []string, fail error) error {
	pg := &couponCampaignsPage{base: u.newBase(r, "loyalty", "loyalty.coupons"), Form: form, Ranks: ranks}
	if fail != nil {
		pg.Error = pg.loc.errorText(fail)
	}
	var err error
	if pg.Campaigns, err = u.cfg.Store.CouponCampaigns(r.Context()); err != nil {
		return err
	}
	prog, err := u.cfg.Store.LoyaltyProgram(r.Context())
	if err != nil {
		return err
	}
	pg.Tiers = prog.Ranks.Tiers
	return u.render(w, r, status, "loyalty_coupons", pg)
}

// createCouponCampaign makes a campaign from the form; the store checks it.
func (u *UI) createCouponCampaign(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	form := map[string]string{}
	for _, k := range []string{"name", "mode", "shared_code", "discount_type", "value", "min_order", "starts", "ends",
		"per_customer_limit", "total_limit", "skus", "categories", "shopify_price_rule_id"} {
		form[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	ranks := r.PostForm["ranks"]
	c, err := couponCampaignFromForm(form, ranks)
	if err == nil {
		c.CreatedBy = principal(r).Actor()
		var made *loyalty.Campaign
		if made, err = u.cfg.Store.CreateCouponCampaign(r.Context(), c); err == nil {
			if err := u.api.Audit(r, "coupon.campaign_create", "coupon-campaign:"+strconv.FormatInt(made.ID, 10), made.Name); err != nil {
				return err
			}
			return redirect(w, r, "/loyalty/coupons/"+strconv.FormatInt(made.ID, 10), "campaign_created")
		}
	}
	if !isValidation(err) {
		return err
	}
	return u.showCouponCampaigns(w, r, http.StatusUnprocessableEntity, form, ranks, err)
}

func couponCampaignFromForm(f map[string]string, ranks []string) (loyalty.Campaign, error) {
	c := loyalty.Campaign{Name: f["name"], Mode: loyalty.CodeMode(f["mode"]), SharedCode: f["shared_code"], DiscountType: loyalty.DiscountType(f["discount_type"]),
		SKUs: splitList(f["skus"]), Categories: splitList(f["categories"]), Ranks: ranks, ShopifyPriceRuleID: f["shopify_price_rule_id"]}
	if c.Mode == loyalty.Unique {
		c.SharedCode = ""
	}
	num := func(field string, dst *int64) error {
		s := strings.ReplaceAll(f[field], ",", "")
		if s == "" {
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errs.FieldErrorf(field, "%q is not a whole number", f[field])
		}
		*dst = n
		return nil
	}
	var per, total int64
	for field, dst := range map[string]*int64{"value": &c.Value, "min_order": &c.MinOrder, "per_customer_limit": &per, "total_limit": &total} {
		if err := num(field, dst); err != nil {
			return c, err
		}
	}
	c.PerCustomerLimit, c.TotalLimit = int(per), int(total)
	// Dates are Tokyo days: from the start of the first to the end of the
	// last (ends_at is the first instant the coupon no longer applies).
	if f["starts"] != "" {
		d, err := loyalty.ParseDay(f["starts"])
		if err != nil {
			return c, errs.FieldErrorf("starts_at", "%q is not a date (YYYY-MM-DD)", f["starts"])
		}
		t := d.UTC()
		c.StartsAt = &t
	}
	if f["ends"] != "" {
		d, err := loyalty.ParseDay(f["ends"])
		if err != nil {
			return c, errs.FieldErrorf("ends_at", "%q is not a date (YYYY-MM-DD)", f["ends"])
		}
		t := d.End().UTC()
		c.EndsAt = &t
	}
	return c, nil
}

type couponCampaignPage struct {
	*base
	C       *loyalty.CampaignStats
	Coupons []loyalty.Coupon
	Pager   pager
	Form    map[string]string
	Now     time.Time
}

// couponCampaign shows a campaign, its results and its codes.
func (u *UI) couponCampaign(w http.ResponseWriter, r *http.Request) error {
	return u.showCouponCampaign(w, r, http.StatusOK, nil, nil)
}

func (u *UI) showCouponCampaign(w http.ResponseWriter, r *http.Request, status int, form map[string]string, fail error) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	c, err := u.cfg.Store.CouponCampaign(r.Context(), id)
	if err != nil {
		return err
	}
	pg := &couponCampaignPage{base: u.newBase(r, "loyalty", "loyalty.campaign", c.Name), C: c, Form: form, Now: u.cfg.Clock.Now()}
	if fail != nil {
		pg.Error = pg.loc.errorText(fail)
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	offset := (page - 1) * couponsPerPage
	if pg.Coupons, err = u.cfg.Store.CampaignCoupons(r.Context(), id, couponsPerPage, offset); err != nil {
		return err
	}
	for i := range pg.Coupons {
		pg.Coupons[i].Status = pg.Coupons[i].StatusAt(pg.Now)
	}
	pg.Pager = pager{From: min(offset+1, c.Codes), To: offset + len(pg.Coupons), Total: c.Codes}
	base := "/loyalty/coupons/" + strconv.FormatInt(id, 10) + "?page="
	if page > 1 {
		pg.Pager.Prev = base + strconv.Itoa(page-1)
	}
	if offset+len(pg.Coupons) < c.Codes {
		pg.Pager.Next = base + strconv.Itoa(page+1)
	}
	return u.render(w, r, status, "loyalty_coupon", pg)
}

// generateCoupons makes unique codes for a campaign.
func (u *UI) generateCoupons(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	form := map[string]string{"count": strings.TrimSpace(r.PostFormValue("count")), "prefix": strings.TrimSpace(r.PostFormValue("prefix"))}
	n, perr := strconv.Atoi(strings.ReplaceAll(form["count"], ",", ""))
	if perr != nil || n < 1 || n > maxGenerate {
		return u.showCouponCampaign(w, r, http.StatusUnprocessableEntity, form, errs.FieldErrorf("count", "give 1–%d", maxGenerate))
	}
	cs, err := u.cfg.Store.GenerateCoupons(r.Context(), id, n, form["prefix"])
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showCouponCampaign(w, r, http.StatusUnprocessableEntity, form, err)
	}
	if err := u.api.Audit(r, "coupon.generate", "coupon-campaign:"+strconv.FormatInt(id, 10), strconv.Itoa(len(cs))+" codes"); err != nil {
		return err
	}
	return redirect(w, r, "/loyalty/coupons/"+strconv.FormatInt(id, 10), "codes_generated")
}

// downloadCoupons writes every code of a campaign as CSV (UTF-8 with a BOM,
// for Excel), to hand to a shop system or a print shop.
func (u *UI) downloadCoupons(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	c, err := u.cfg.Store.CouponCampaign(r.Context(), id)
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "coupon.codes_export", "coupon-campaign:"+strconv.FormatInt(id, 10), strconv.Itoa(c.Codes)+" codes"); err != nil {
		return err
	}
	now := u.cfg.Clock.Now()
	csvexport.Attachment(w.Header(), "coupons-"+strconv.FormatInt(id, 10)+".csv")
	cw, err := csvexport.New(w, csvexport.Options{})
	if err != nil {
		return err
	}
	if err := cw.WriteStrings([]string{"code", "status", "customer_id", "issued_at", "redemptions"}); err != nil {
		return err
	}
	const batch = 5000
	for offset := 0; ; offset += batch {
		list, err := u.cfg.Store.CampaignCoupons(r.Context(), id, batch, offset)
		if err != nil {
			return err
		}
		for _, cp := range list {
			cust := ""
			if cp.CustomerID != 0 {
				cust = strconv.FormatInt(cp.CustomerID, 10)
			}
			issued := ""
			if cp.IssuedAt != nil {
				issued = formatTime(cp.IssuedAt, "2006-01-02 15:04")
			}
			if err := cw.Write(cp.Code, cp.StatusAt(now), cust, issued, csvexport.Number(strconv.Itoa(cp.Redemptions))); err != nil {
				return err
			}
		}
		if err := cw.Flush(); err != nil || len(list) < batch {
			return err
		}
	}
}

package ui

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// blankRows is how many empty rows the programme form offers for new
// tiers and point campaigns.
const blankRows = 2

type loyaltyProgramPage struct {
	*base
	F programForm
	// FieldErr is the message for the field the store refused, keyed by
	// the programme's field path (ranks.tiers[1].min).
	FieldErr map[string]string
	Metrics  []loyalty.Metric
	Periods  []loyalty.Period
}

// Err returns the message for a field path built from a format and index.
func (p *loyaltyProgramPage) Err(format string, args ...any) string {
	return p.FieldErr[fmt.Sprintf(format, args...)]
}

// programForm is the programme as the form shows it: strings as typed.
type programForm struct {
	Enabled                                                           bool
	Metric, Period, Months                                            string
	BaseRate, ExpiryMonths, Birthday, ExpiringSoon, EarnSince, Remind string
	Tiers                                                             []tierRow
	Campaigns                                                         []pointCampaignRow
}

type tierRow struct {
	Code, Name, Min, Multiplier string
	FreeShipping                bool
}

type pointCampaignRow struct {
	Name, From, To, Multiplier, SKUs, Categories string
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// formOf shows a programme in the form.
func formOf(p loyalty.Program) programForm {
	f := programForm{Enabled: p.Enabled, Metric: string(p.Ranks.Metric), Period: string(p.Ranks.Period), Months: strconv.Itoa(p.Ranks.Months),
		BaseRate: fmtFloat(p.Points.BaseRatePercent), ExpiryMonths: strconv.Itoa(p.Points.ExpiryMonths), Birthday: fmtFloat(p.Points.BirthdayMultiplier),
		ExpiringSoon: strconv.Itoa(p.Points.ExpiringSoonDays), Remind: strconv.Itoa(p.Coupons.ReminderDays)}
	if p.Points.EarnSince != nil {
		f.EarnSince = p.Points.EarnSince.String()
	}
	for _, t := range p.Ranks.Tiers {
		f.Tiers = append(f.Tiers, tierRow{Code: t.Code, Name: t.Name, Min: strconv.FormatInt(t.Min, 10), Multiplier: fmtFloat(t.PointMultiplier), FreeShipping: t.FreeShipping})
	}
	for _, c := range p.Points.Campaigns {
		f.Campaigns = append(f.Campaigns, pointCampaignRow{Name: c.Name, From: c.From.String(), To: c.To.String(), Multiplier: fmtFloat(c.Multiplier),
			SKUs: strings.Join(c.SKUs, ", "), Categories: strings.Join(c.Categories, ", ")})
	}
	return f
}

// withBlanks adds the empty rows for new entries.
func (f programForm) withBlanks() programForm {
	for range blankRows {
		f.Tiers = append(f.Tiers, tierRow{})
		f.Campaigns = append(f.Campaigns, pointCampaignRow{})
	}
	return f
}

// loyaltyProgram shows the programme: ranks, points rules, coupon settings.
// People without loyalty:write see it read-only.
func (u *UI) loyaltyProgram(w http.ResponseWriter, r *http.Request) error {
	p, err := u.cfg.Store.LoyaltyProgram(r.Context())
	if err != nil {
		return err
	}
	return u.showProgram(w, r, http.StatusOK, formOf(p), nil)
}

func (u *UI) showProgram(w http.ResponseWriter, r *http.Request, status int, f programForm, fail error) error {
	pg := &loyaltyProgramPage{base: u.newBase(r, "loyalty", "loyalty.program"), F: f.withBlanks(), FieldErr: map[string]string{},
		Metrics: []loyalty.Metric{loyalty.MetricSpend, loyalty.MetricOrders},
		Periods: []loyalty.Period{loyalty.PeriodRolling, loyalty.PeriodCurrentYear, loyalty.PeriodPreviousYear}}
	if fail != nil {
		pg.Error = pg.T("loyalty.save_failed") + " " + errs.Message(fail)
		var e *errs.Error
		if errors.As(fail, &e) && e.Field != "" {
			pg.FieldErr[e.Field] = e.Message
		}
	}
	return u.render(w, r, status, "loyalty_program", pg)
}

// saveLoyaltyProgram reads the form into a programme and stores it through
// the store's validation; a refused field is shown beside its input.
func (u *UI) saveLoyaltyProgram(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	f := readProgramForm(r)
	p, err := f.program()
	if err == nil {
		err = u.cfg.Store.SetLoyaltyProgram(r.Context(), p)
	}
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showProgram(w, r, http.StatusUnprocessableEntity, f, err)
	}
	if err := u.api.Audit(r, "loyalty.program", "settings:loyalty", ""); err != nil {
		return err
	}
	return redirect(w, r, "/loyalty/program", "settings_saved")
}

// readProgramForm reads the posted form, dropping rows left empty.
func readProgramForm(r *http.Request) programForm {
	v := r.PostForm
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	f := programForm{Enabled: v.Get("enabled") == "1", Metric: get("metric"), Period: get("period"), Months: get("months"),
		BaseRate: get("base_rate"), ExpiryMonths: get("expiry_months"), Birthday: get("birthday"), ExpiringSoon: get("expiring_soon"),
		EarnSince: get("earn_since"), Remind: get("reminder_days")}
	at := func(list []string, i int) string {
		if i < len(list) {
			return strings.TrimSpace(list[i])
		}
		return ""
	}
	for i := range v["tier_code"] {
		t := tierRow{Code: at(v["tier_code"], i), Name: at(v["tier_name"], i), Min: at(v["tier_min"], i), Multiplier: at(v["tier_mult"], i),
			FreeShipping: at(v["tier_ship"], i) == "1"}
		if t.Code == "" && t.Name == "" && t.Min == "" {
			continue
		}
		f.Tiers = append(f.Tiers, t)
	}
	for i := range v["camp_name"] {
		c := pointCampaignRow{Name: at(v["camp_name"], i), From: at(v["camp_from"], i), To: at(v["camp_to"], i), Multiplier: at(v["camp_mult"], i),
			SKUs: at(v["camp_skus"], i), Categories: at(v["camp_cats"], i)}
		if c == (pointCampaignRow{}) {
			continue
		}
		f.Campaigns = append(f.Campaigns, c)
	}
	return f
}

// program turns the form into a programme. Tiers are put in the order the
// store keeps them (highest threshold first) so that the store's field
// paths point at the rows the form shows.
func (f *programForm) program() (loyalty.Program, error) {
	p := loyalty.DefaultProgram()
	p.Enabled = f.Enabled
	p.Ranks.Metric, p.Ranks.Period = loyalty.Metric(f.Metric), loyalty.Period(f.Period)
	var err error
	intField := func(field, s string, dst *int) {
		if err != nil {
			return
		}
		n, e := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if e != nil {
			err = errs.FieldErrorf(field, "%q is not a whole number", s)
		}
		*dst = n
	}
	floatField := func(field, s string, dst *float64) {
		if err != nil {
			return
		}
		n, e := strconv.ParseFloat(s, 64)
		if e != nil {
			err = errs.FieldErrorf(field, "%q is not a number", s)
		}
		*dst = n
	}
	p.Ranks.Months = 0
	if f.Months != "" {
		intField("ranks.months", f.Months, &p.Ranks.Months)
	}
	floatField("points.base_rate_percent", f.BaseRate, &p.Points.BaseRatePercent)
	intField("points.expiry_months", f.ExpiryMonths, &p.Points.ExpiryMonths)
	floatField("points.birthday_multiplier", f.Birthday, &p.Points.BirthdayMultiplier)
	intField("points.expiring_soon_days", f.ExpiringSoon, &p.Points.ExpiringSoonDays)
	intField("coupons.reminder_days", f.Remind, &p.Coupons.ReminderDays)
	if err != nil {
		return p, err
	}
	if f.EarnSince != "" {
		d, e := loyalty.ParseDay(f.EarnSince)
		if e != nil {
			return p, errs.FieldErrorf("points.earn_since", "%q is not a date (YYYY-MM-DD)", f.EarnSince)
		}
		p.Points.EarnSince = &d
	}

	// Thresholds first, so that the rows can be sorted before the other
	// fields are checked.
	mins := make([]int64, len(f.Tiers))
	for i, t := range f.Tiers {
		n, e := strconv.ParseInt(strings.ReplaceAll(t.Min, ",", ""), 10, 64)
		if e != nil {
			return p, errs.FieldErrorf(fmt.Sprintf("ranks.tiers[%d].min", i), "%q is not a whole number", t.Min)
		}
		mins[i] = n
	}
	idx := make([]int, len(f.Tiers))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return mins[idx[a]] > mins[idx[b]] })
	sorted := make([]tierRow, len(idx))
	p.Ranks.Tiers = make([]loyalty.Tier, len(idx))
	for j, i := range idx {
		t := f.Tiers[i]
		sorted[j] = t
		p.Ranks.Tiers[j] = loyalty.Tier{Code: strings.ToLower(t.Code), Name: t.Name, Min: mins[i], FreeShipping: t.FreeShipping, PointMultiplier: 1}
		if t.Multiplier != "" {
			floatField(fmt.Sprintf("ranks.tiers[%d].point_multiplier", j), t.Multiplier, &p.Ranks.Tiers[j].PointMultiplier)
		}
	}
	f.Tiers = sorted
	if err != nil {
		return p, err
	}

	p.Points.Campaigns = []loyalty.PointCampaign{}
	for i, c := range f.Campaigns {
		field := fmt.Sprintf("points.campaigns[%d]", i)
		pc := loyalty.PointCampaign{Name: c.Name, SKUs: splitList(c.SKUs), Categories: splitList(c.Categories)}
		if c.From != "" {
			d, e := loyalty.ParseDay(c.From)
			if e != nil {
				return p, errs.FieldErrorf(field+".from", "%q is not a date (YYYY-MM-DD)", c.From)
			}
			pc.From = d
		}
		if c.To != "" {
			d, e := loyalty.ParseDay(c.To)
			if e != nil {
				return p, errs.FieldErrorf(field+".to", "%q is not a date (YYYY-MM-DD)", c.To)
			}
			pc.To = d
		}
		floatField(field+".multiplier", c.Multiplier, &pc.Multiplier)
		if err != nil {
			return p, err
		}
		p.Points.Campaigns = append(p.Points.Campaigns, pc)
	}
	return p, nil // the store validates the rest
}

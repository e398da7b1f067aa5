package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/errs"
)

type analyticsSettingsPage struct {
	*base
	RFM analytics.RFMConfig
	CPM analytics.CPMConfig
	// Form holds what was typed when saving failed.
	Form map[string]string
}

// Cut returns the i-th cut point of an RFM list as typed or saved.
func (p *analyticsSettingsPage) Cut(list string, i int) string {
	if v, ok := p.Form[list+strconv.Itoa(i)]; ok {
		return v
	}
	var vals []int64
	switch list {
	case "r":
		vals = p.RFM.Thresholds.Recency
	case "f":
		vals = p.RFM.Thresholds.Frequency
	case "m":
		vals = p.RFM.Thresholds.Monetary
	}
	if i < len(vals) {
		return strconv.FormatInt(vals[i], 10)
	}
	return ""
}

// analyticsSettings shows the RFM window and score thresholds and the CPM
// thresholds the reports and stored scores use.
func (u *UI) analyticsSettings(w http.ResponseWriter, r *http.Request) error {
	rc, cc, err := u.cfg.Store.AnalyticsConfig(r.Context())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "analytics_settings", &analyticsSettingsPage{base: u.newBase(r, "settings", "settings.analytics"), RFM: rc, CPM: cc})
}

// saveAnalyticsSettings stores new thresholds (the store validates them);
// stored scores are recomputed by the server's analytics maintenance.
func (u *UI) saveAnalyticsSettings(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rc, cc, err := u.cfg.Store.AnalyticsConfig(ctx)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	form := map[string]string{}
	for k, v := range r.PostForm {
		form[k] = strings.TrimSpace(v[0])
	}
	num := func(name string) (int64, error) {
		n, err := strconv.ParseInt(strings.ReplaceAll(form[name], ",", ""), 10, 64)
		if err != nil || n < 0 {
			return 0, errs.FieldErrorf(name, "%q is not a whole number", form[name])
		}
		return n, nil
	}
	err = func() error {
		window, err := num("window")
		if err != nil {
			return err
		}
		rc.WindowDays = int(window)
		rc.Thresholds.Method = analytics.MethodFixed
		if form["method"] == analytics.MethodQuintile {
			rc.Thresholds.Method = analytics.MethodQuintile
		}
		lists := map[string]*[]int64{"r": &rc.Thresholds.Recency, "f": &rc.Thresholds.Frequency, "m": &rc.Thresholds.Monetary}
		for _, name := range []string{"r", "f", "m"} {
			vals := make([]int64, 4)
			for i := range vals {
				if vals[i], err = num(name + strconv.Itoa(i)); err != nil {
					return err
				}
			}
			*lists[name] = vals
		}
		dormant, err := num("dormant_days")
		if err != nil {
			return err
		}
		spend, err := num("spend_yen")
		if err != nil {
			return err
		}
		tenure, err := num("tenure_days")
		if err != nil {
			return err
		}
		cc = analytics.CPMConfig{DormantDays: int(dormant), SpendYen: spend, TenureDays: int(tenure)}
		return u.cfg.Store.SetAnalyticsConfig(ctx, rc, cc)
	}()
	if err != nil {
		if !isValidation(err) {
			return err
		}
		pg := &analyticsSettingsPage{base: u.newBase(r, "settings", "settings.analytics"), RFM: rc, CPM: cc, Form: form}
		pg.Error = pg.loc.errorText(err)
		return u.render(w, r, http.StatusUnprocessableEntity, "analytics_settings", pg)
	}
	if err := u.api.Audit(r, "analytics.settings", "settings:analytics", ""); err != nil {
		return err
	}
	u.reports.clear()
	return redirect(w, r, "/settings/analytics", "settings_saved")
}

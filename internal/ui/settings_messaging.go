package ui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/outbox"
)

// capChannels are the channels a frequency cap can name ("*" counts every
// channel together).
var capChannels = []string{"email", "line", "sms", "push", "*"}

type messagingPage struct {
	*base
	QuietOn    bool
	Start, End string
	// Caps are the cap table: per channel, the daily and weekly limits as
	// typed ("" is no cap).
	Caps     []capRow
	FieldErr map[string]string
}

type capRow struct {
	Channel   string
	Day, Week string
}

// messagingSettings shows the sending rules every campaign and journey
// follows: quiet hours and frequency caps (settings key messaging.rules).
func (u *UI) messagingSettings(w http.ResponseWriter, r *http.Request) error {
	rules, err := u.cfg.Store.MessagingRules(r.Context())
	if err != nil {
		return err
	}
	pg := &messagingPage{base: u.newBase(r, "settings", "settings.messaging"), FieldErr: map[string]string{}}
	if q := rules.QuietHours; q != nil {
		pg.QuietOn, pg.Start, pg.End = true, q.Start, q.End
	} else {
		pg.Start, pg.End = "21:00", "09:00"
	}
	for _, ch := range capChannels {
		row := capRow{Channel: ch}
		for _, c := range rules.Caps {
			if c.Channel == ch && c.Per == "day" {
				row.Day = strconv.Itoa(c.Max)
			}
			if c.Channel == ch && c.Per == "week" {
				row.Week = strconv.Itoa(c.Max)
			}
		}
		pg.Caps = append(pg.Caps, row)
	}
	return u.render(w, r, http.StatusOK, "messaging", pg)
}

// saveMessagingSettings stores the rules through the store's check.
func (u *UI) saveMessagingSettings(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	pg := &messagingPage{base: u.newBase(r, "settings", "settings.messaging"), FieldErr: map[string]string{},
		QuietOn: r.PostForm.Get("quiet") == "1", Start: strings.TrimSpace(r.PostForm.Get("start")), End: strings.TrimSpace(r.PostForm.Get("end"))}
	rules := outbox.Rules{Caps: []outbox.Cap{}}
	if pg.QuietOn {
		rules.QuietHours = &outbox.QuietHours{Start: pg.Start, End: pg.End}
	}
	var fail error
	for _, ch := range capChannels {
		row := capRow{Channel: ch, Day: strings.TrimSpace(r.PostForm.Get("day_" + ch)), Week: strings.TrimSpace(r.PostForm.Get("week_" + ch))}
		pg.Caps = append(pg.Caps, row)
		for per, v := range map[string]string{"day": row.Day, "week": row.Week} {
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				if fail == nil {
					fail = errs.FieldErrorf(per+"_"+ch, "%q is not a whole number (empty: no cap)", v)
				}
				continue
			}
			rules.Caps = append(rules.Caps, outbox.Cap{Channel: ch, Per: per, Max: n})
		}
	}
	if fail == nil {
		fail = u.cfg.Store.SetMessagingRules(r.Context(), rules)
	}
	if fail != nil {
		if !isValidation(fail) {
			return fail
		}
		pg.Error = pg.loc.errorText(fail)
		var e *errs.Error
		if errors.As(fail, &e) {
			pg.FieldErr[e.Field] = e.Message
		}
		return u.render(w, r, http.StatusUnprocessableEntity, "messaging", pg)
	}
	if err := u.api.Audit(r, "messaging.rules", "settings:"+outbox.RulesSetting, ""); err != nil {
		return err
	}
	return redirect(w, r, "/settings/messaging", "settings_saved")
}

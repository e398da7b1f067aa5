package ui

import (
	"net/http"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/message"
)

// suppressionsPerPage is how many addresses a page lists.
const suppressionsPerPage = 100

type suppressionsPage struct {
	*base
	List     []channel.Suppression
	Pager    pager
	Channel  string
	Reason   string
	Channels []message.Channel
	Reasons  []string
	Masked   bool
	Form     map[string]string
}

var suppressionChannels = []message.Channel{message.Email, message.SMS, message.LINE}

// suppressions lists the addresses no message goes to (配信停止リスト):
// unsubscribes, bounces, complaints and manual entries.
func (u *UI) suppressions(w http.ResponseWriter, r *http.Request) error {
	return u.showSuppressions(w, r, http.StatusOK, nil)
}

func (u *UI) showSuppressions(w http.ResponseWriter, r *http.Request, status int, form map[string]string) error {
	q := r.URL.Query()
	page := listPage(r)
	pg := &suppressionsPage{base: u.newBase(r, "settings", "settings.suppressions"), Channel: q.Get("channel"), Reason: q.Get("reason"),
		Channels: suppressionChannels, Reasons: []string{channel.SuppressUnsubscribed, channel.SuppressBounced, channel.SuppressComplained, channel.SuppressManual},
		Masked: !principal(r).Can(auth.PIIRead), Form: form}
	if form != nil {
		pg.Error = form["error"]
	}
	if pg.Channel == "" {
		pg.Channel = string(message.Email)
	}
	list, total, err := u.cfg.Store.Suppressions(r.Context(), message.Channel(pg.Channel), pg.Reason, suppressionsPerPage, (page-1)*suppressionsPerPage)
	if err != nil {
		return err
	}
	if pg.Masked {
		for i := range list {
			if list[i].Channel == message.Email {
				list[i].Address = customer.MaskEmail(list[i].Address)
			} else {
				list[i].Address = customer.MaskPhone(list[i].Address)
			}
		}
	}
	pg.List = list
	pg.Pager = pageLinks("/settings/suppressions", q, page, suppressionsPerPage, len(list), total)
	return u.render(w, r, status, "suppressions", pg)
}

// addSuppression stops messages to an address by hand.
func (u *UI) addSuppression(w http.ResponseWriter, r *http.Request) error {
	s := channel.Suppression{Channel: message.Channel(r.PostFormValue("channel")), Address: strings.TrimSpace(r.PostFormValue("address")),
		Reason: channel.SuppressManual, Detail: strings.TrimSpace(r.PostFormValue("detail")), Actor: principal(r).Actor()}
	if _, err := u.cfg.Store.Suppress(r.Context(), s); err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showSuppressions(w, r, http.StatusUnprocessableEntity, map[string]string{"address": s.Address, "detail": s.Detail, "error": u.localeFor(r).errorText(err)})
	}
	if err := u.api.Audit(r, "suppression.add", "channel:"+string(s.Channel), "manual"); err != nil {
		return err
	}
	return redirect(w, r, "/settings/suppressions?channel="+string(s.Channel), "suppressed")
}

// deleteSuppression lets messages go to an address again.
func (u *UI) deleteSuppression(w http.ResponseWriter, r *http.Request) error {
	ch := message.Channel(r.PostFormValue("channel"))
	if err := u.cfg.Store.Unsuppress(r.Context(), ch, r.PostFormValue("address")); err != nil {
		return err
	}
	if err := u.api.Audit(r, "suppression.delete", "channel:"+string(ch), ""); err != nil {
		return err
	}
	return redirect(w, r, "/settings/suppressions?channel="+string(ch), "unsuppressed")
}

package ui

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/email"
)

// dnsCheckTimeout bounds the DNS lookups of the e-mail domain check.
const dnsCheckTimeout = 5 * time.Second

type channelsPage struct {
	*base
	Set      *channel.Settings
	Ready    map[string]bool
	Missing  []string
	Records  []email.Record
	Checks   []email.Check
	Channels []string
	Secrets  []string
}

// channelSettings shows the sending channels' settings: the shop footer
// every marketing message carries, e-mail (SMTP, DKIM and the DNS records
// to publish, checked on request), LINE and SMS, and which channels can
// send now.
func (u *UI) channelSettings(w http.ResponseWriter, r *http.Request) error {
	set, _, err := u.api.ChannelSettings(r.Context())
	if err != nil {
		return err
	}
	return u.showChannels(w, r, http.StatusOK, set, "", r.URL.Query().Get("check") != "")
}

// showChannels renders the page for set (the stored settings, or a form that
// failed with msg).
func (u *UI) showChannels(w http.ResponseWriter, r *http.Request, status int, set *channel.Settings, msg string, check bool) error {
	ctx := r.Context()
	_, ready, err := u.api.ChannelSettings(ctx)
	if err != nil {
		return err
	}
	pg := &channelsPage{base: u.newBase(r, "settings", "settings.channels"), Set: set, Ready: ready, Missing: set.FooterReady(),
		Channels: []string{"email", "line", "sms", "push", "onsite", "webhook", "dm"}, Secrets: channel.SecretNames}
	pg.Error = msg
	if set.Email.DKIMDomain != "" && status == http.StatusOK {
		cctx, cancel := context.WithTimeout(ctx, dnsCheckTimeout)
		defer cancel()
		if pg.Records, pg.Checks, err = u.api.EmailDNS(cctx, "", "", check); err != nil && !isValidation(err) {
			return err
		}
	}
	return u.render(w, r, status, "channels", pg)
}

// saveChannelSettings stores the form through the same check and reload as
// the API (PUT /api/v1/channels/settings); fields the form does not show
// keep their stored values.
func (u *UI) saveChannelSettings(w http.ResponseWriter, r *http.Request) error {
	set, _, err := u.api.ChannelSettings(r.Context())
	if err != nil {
		return err
	}
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	set.BaseURL = f("base_url")
	set.Shop.Name, set.Shop.Address, set.Shop.Contact, set.Shop.URL, set.Shop.Note = f("shop_name"), f("shop_address"), f("shop_contact"), f("shop_url"), f("shop_note")
	e := &set.Email
	e.FromName, e.FromAddress, e.ReplyTo = f("email_from_name"), f("email_from_address"), f("email_reply_to")
	e.Host, e.Security, e.Username = f("email_host"), f("email_security"), f("email_username")
	e.Port = 0
	if p := f("email_port"); p != "" {
		if e.Port, err = strconv.Atoi(p); err != nil {
			e.Port = -1 // refused by the check with its message
		}
	}
	e.DKIMDomain, e.DKIMSelector = f("email_dkim_domain"), f("email_dkim_selector")
	set.LINE.ProviderID = f("line_provider_id")
	set.SMS.Provider, set.SMS.AccountSID, set.SMS.From = f("sms_provider"), f("sms_account_sid"), f("sms_from")
	if err := u.api.SaveChannelSettings(r.Context(), set); err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showChannels(w, r, http.StatusUnprocessableEntity, set, u.localeFor(r).errorText(err), false)
	}
	if err := u.api.Audit(r, "channels.settings", "settings:channels", ""); err != nil {
		return err
	}
	return redirect(w, r, "/settings/channels", "settings_saved")
}

package ui

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	qr "github.com/piglig/go-qr"

	"github.com/enishi-crm/enishi/internal/errs"
)

type totpPage struct {
	*base
	Enabled bool
	// Secret, URL and QR are the new seed, shown this once while it waits
	// for the first code.
	Secret string
	URL    string
	QR     template.URL
	// Fail is the message of a refused form.
	Fail string
}

// totpPage shows whether the signed-in user has a second factor and the
// forms to turn it on or off.
func (u *UI) totpPage(w http.ResponseWriter, r *http.Request) error {
	return u.showTOTP(w, r, http.StatusOK, &totpPage{})
}

func (u *UI) showTOTP(w http.ResponseWriter, r *http.Request, status int, pg *totpPage) error {
	p := principal(r)
	if p.UserID == 0 {
		return errs.Errorf(errs.Forbidden, "this is for signed-in staff")
	}
	user, err := u.cfg.Store.UserByID(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	pg.base = u.newBase(r, "", "totp.title")
	pg.Error = pg.Fail
	pg.Enabled = user.TOTPEnabled
	return u.render(w, r, status, "totp", pg)
}

// totpSetup makes a new seed and shows it with its QR code once; the
// second factor is on after the first code is confirmed.
func (u *UI) totpSetup(w http.ResponseWriter, r *http.Request) error {
	seed, url, err := u.api.SetupTOTP(r)
	if err != nil {
		return err
	}
	img, err := qrDataURL(url)
	if err != nil {
		return err
	}
	pg := &totpPage{Secret: seed, URL: url, QR: img}
	return u.showTOTP(w, r, http.StatusOK, pg)
}

// totpConfirm turns the second factor on with a code from the app.
func (u *UI) totpConfirm(w http.ResponseWriter, r *http.Request) error {
	if err := u.api.ConfirmTOTP(r, strings.TrimSpace(r.PostFormValue("code"))); err != nil {
		if !isValidation(err) {
			return err
		}
		// The seed stays pending: the person can try the next code, or
		// start again for a new seed.
		pg := &totpPage{Fail: u.localeFor(r).T("totp.wrong_code")}
		return u.showTOTP(w, r, http.StatusUnprocessableEntity, pg)
	}
	return redirect(w, r, "/account/totp", "totp_enabled")
}

// totpDisable turns the second factor off after checking the password.
func (u *UI) totpDisable(w http.ResponseWriter, r *http.Request) error {
	if err := u.api.DisableTOTP(r, r.PostFormValue("password")); err != nil {
		if errs.Code(err) != errs.Forbidden {
			return err
		}
		pg := &totpPage{Fail: u.localeFor(r).T("totp.wrong_password")}
		return u.showTOTP(w, r, http.StatusUnprocessableEntity, pg)
	}
	return redirect(w, r, "/account/totp", "totp_disabled")
}

// qrDataURL draws text as a QR code: an SVG data URL an <img> shows (the
// Content-Security-Policy allows data: images, no inline script).
func qrDataURL(text string) (template.URL, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return "", err
	}
	n, border := code.Size(), 4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges"><rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="`, n+2*border, n+2*border)
	for y := range n {
		for x := range n {
			if code.Module(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+border, y+border)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(b.String()))), nil
}

package ui

import (
	"net/http"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

type passwordPage struct {
	*base
}

func (u *UI) passwordForm(w http.ResponseWriter, r *http.Request) error {
	return u.render(w, r, http.StatusOK, "password", &passwordPage{base: u.newBase(r, "account", "password.title")})
}

// changePassword replaces the user's password. The store ends every session
// of the user (other browsers are signed out); this browser gets a new one.
func (u *UI) changePassword(w http.ResponseWriter, r *http.Request) error {
	b := u.newBase(r, "account", "password.title")
	current, next := r.PostFormValue("current"), r.PostFormValue("password")
	fail := func(key string) error {
		b.Error = b.T(key)
		return u.render(w, r, http.StatusUnprocessableEntity, "password", &passwordPage{base: b})
	}
	switch {
	case current == "" || next == "":
		return fail("password.required")
	case next != r.PostFormValue("confirm"):
		return fail("password.mismatch")
	case utf8.RuneCountInString(next) < 10:
		return fail("password.short")
	}
	p := enishihttp.PrincipalFrom(r.Context())
	err := enishihttp.ChangePassword(r.Context(), u.cfg.Store, p.UserID, current, next)
	var e *errs.Error
	if asErr(err, &e) && e.Field == "current" {
		return fail("password.wrong")
	}
	if asErr(err, &e) && e.Field == "password" {
		return fail("password.same")
	}
	if err != nil {
		return err
	}
	token, _, err := u.api.Login(r.Context(), p.Email, next, remoteIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	u.api.SetSessionCookie(w, token)
	return redirect(w, r, "/account/password", "password_changed")
}

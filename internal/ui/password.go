package ui

import (
	"net/http"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/errs"
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
	case next == current:
		return fail("password.same")
	}
	_, err := u.api.ChangeOwnPassword(w, r, current, next)
	var e *errs.Error
	if asErr(err, &e) && e.Field == "current_password" {
		return fail("password.wrong")
	}
	if asErr(err, &e) && e.Field == "password" {
		return fail("password.short")
	}
	if err != nil {
		return err
	}
	return redirect(w, r, "/account/password", "password_changed")
}

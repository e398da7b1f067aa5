package ui

import (
	"net/http"
	"strconv"

	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
)

type usersPage struct {
	*base
	Users []store.User
	Roles []string
	// Created is the account just made; Password its generated password,
	// shown this once.
	Created  *store.User
	Password string
	// Reset is the user whose password was just reset to Password.
	Reset *store.User
	Form  map[string]string
}

// users lists staff accounts and their roles.
func (u *UI) users(w http.ResponseWriter, r *http.Request) error {
	return u.showUsers(w, r, http.StatusOK, &usersPage{})
}

func (u *UI) showUsers(w http.ResponseWriter, r *http.Request, status int, pg *usersPage) error {
	pg.base = u.newBase(r, "settings", "settings.users")
	if pg.Form != nil {
		pg.Error = pg.Form["error"]
	}
	var err error
	if pg.Roles, err = u.roleNames(r.Context()); err != nil {
		return err
	}
	if pg.Users, err = u.cfg.Store.ListUsers(r.Context()); err != nil {
		return err
	}
	return u.render(w, r, status, "users", pg)
}

// createUser adds a staff account. The password is generated and shown once
// unless the admin typed one.
func (u *UI) createUser(w http.ResponseWriter, r *http.Request) error {
	form := map[string]string{"email": r.PostFormValue("email"), "name": r.PostFormValue("name"), "role": r.PostFormValue("role")}
	user, password, err := enishihttp.CreateUser(r.Context(), u.cfg.Store, form["email"], form["name"], form["role"], r.PostFormValue("password"))
	if err != nil {
		if !isValidation(err) {
			return err
		}
		form["error"] = u.localeFor(r).errorText(err)
		return u.showUsers(w, r, http.StatusUnprocessableEntity, &usersPage{Form: form})
	}
	if err := u.api.Audit(r, "user.create", "user:"+strconv.FormatInt(user.ID, 10), "role "+user.Role); err != nil {
		return err
	}
	pg := &usersPage{Created: user}
	if r.PostFormValue("password") == "" {
		pg.Password = password
	}
	return u.showUsers(w, r, http.StatusOK, pg)
}

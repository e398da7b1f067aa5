package ui

import (
	"context"
	"net/http"

	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// roleNames lists every role a user can be given: built in, then custom.
func (u *UI) roleNames(ctx context.Context) ([]string, error) {
	roles, err := enishihttp.AllRoles(ctx, u.cfg.Store)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Name
	}
	return out, nil
}

// updateUser changes a user's role or disables/enables the account (the
// API's checks: nobody locks themselves out).
func (u *UI) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	var role *string
	var disabled *bool
	if v := r.PostFormValue("role"); v != "" {
		role = &v
	}
	switch r.PostFormValue("disabled") {
	case "1":
		t := true
		disabled = &t
	case "0":
		f := false
		disabled = &f
	}
	if _, err := u.api.UpdateUser(r, id, role, disabled); err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showUsers(w, r, http.StatusUnprocessableEntity, &usersPage{Form: map[string]string{"error": u.localeFor(r).errorText(err)}})
	}
	return redirect(w, r, "/settings/users", "user_updated")
}

// resetUserPassword gives a user a new generated password, shown once,
// and signs them out everywhere.
func (u *UI) resetUserPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	password, err := u.api.ResetPassword(r, id)
	if err != nil {
		return err
	}
	user, err := u.cfg.Store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	return u.showUsers(w, r, http.StatusOK, &usersPage{Reset: user, Password: password})
}

// resetUserTOTP turns off a user's second factor (a lost phone).
func (u *UI) resetUserTOTP(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	if err := u.api.ResetTOTP(r, id); err != nil {
		return err
	}
	return redirect(w, r, "/settings/users", "totp_reset")
}

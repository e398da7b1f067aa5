package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
)

type apiKeysPage struct {
	*base
	Keys   []store.APIKey
	Scopes []string
	// Created is the key just made and Secret its value, shown this once.
	Created *store.APIKey
	Secret  string
	Form    map[string]string
	Checked []string
}

func (u *UI) apiKeys(w http.ResponseWriter, r *http.Request) error {
	return u.showAPIKeys(w, r, http.StatusOK, &apiKeysPage{})
}

func (u *UI) showAPIKeys(w http.ResponseWriter, r *http.Request, status int, pg *apiKeysPage) error {
	pg.base = u.newBase(r, "settings", "settings.api_keys")
	if pg.Form != nil {
		pg.Error = pg.Form["error"]
	}
	for _, p := range auth.AllPermissions {
		pg.Scopes = append(pg.Scopes, string(p))
	}
	var err error
	if pg.Keys, err = u.cfg.Store.ListAPIKeys(r.Context()); err != nil {
		return err
	}
	return u.render(w, r, status, "apikeys", pg)
}

// createAPIKey makes a key for an integration; its secret is shown once and
// only its hash is kept.
func (u *UI) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	name, scopes := r.PostFormValue("name"), r.PostForm["scope"]
	k, secret, err := enishihttp.CreateAPIKey(r.Context(), u.cfg.Store, name, scopes, enishihttp.PrincipalFrom(r.Context()).Actor())
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showAPIKeys(w, r, http.StatusUnprocessableEntity, &apiKeysPage{Form: map[string]string{"name": name, "error": u.localeFor(r).errorText(err)}, Checked: scopes})
	}
	if err := u.api.Audit(r, "apikey.create", "api-key:"+strconv.FormatInt(k.ID, 10), "scopes "+strings.Join(k.Scopes, " ")); err != nil {
		return err
	}
	return u.showAPIKeys(w, r, http.StatusOK, &apiKeysPage{Created: k, Secret: secret})
}

// revokeAPIKey stops a key from working at once.
func (u *UI) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	if err := u.cfg.Store.RevokeAPIKey(r.Context(), id); err != nil {
		return err
	}
	if err := u.api.Audit(r, "apikey.revoke", "api-key:"+strconv.FormatInt(id, 10), ""); err != nil {
		return err
	}
	return redirect(w, r, "/settings/api-keys", "key_revoked")
}

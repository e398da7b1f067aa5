package ui

import (
	"net/http"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// settingsPages are the settings tabs, each behind its own permission.
var settingsPages = []struct {
	Path string
	Perm auth.Permission
}{
	{"/settings/users", auth.UsersManage},
	{"/settings/api-keys", auth.KeysManage},
	{"/settings/identity", auth.SettingsWrite},
	{"/settings/analytics", auth.SettingsWrite},
	{"/settings/integrations", auth.SettingsWrite},
	{"/settings/channels", auth.SettingsWrite},
	{"/settings/roles", auth.UsersManage},
	{"/settings/audit", auth.AuditRead},
}

// settings opens the first settings tab the user may use.
func (u *UI) settings(w http.ResponseWriter, r *http.Request) error {
	p := enishihttp.PrincipalFrom(r.Context())
	for _, s := range settingsPages {
		if p.Can(s.Perm) {
			http.Redirect(w, r, s.Path, http.StatusSeeOther)
			return nil
		}
	}
	return errs.Errorf(errs.Forbidden, "your role has no settings to change")
}

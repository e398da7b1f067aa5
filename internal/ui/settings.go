package ui

import (
	"net/http"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// settingsPages are the settings tabs, each behind its own permission.
var settingsPages = []tabLink{
	{"/settings/users", auth.UsersManage},
	{"/settings/api-keys", auth.KeysManage},
	{"/settings/identity", auth.SettingsWrite},
	{"/settings/analytics", auth.SettingsWrite},
	{"/settings/integrations", auth.SettingsWrite},
	{"/settings/channels", auth.SettingsWrite},
	{"/settings/roles", auth.UsersManage},
	{"/settings/audit", auth.AuditRead},
}

// tabLink is a page of a section and the permission it needs.
type tabLink struct {
	Path string
	Perm auth.Permission
}

// openFirst sends people to the first of a section's pages their role may
// open; what names the section in the refusal.
func openFirst(w http.ResponseWriter, r *http.Request, tabs []tabLink, what string) error {
	p := enishihttp.PrincipalFrom(r.Context())
	for _, t := range tabs {
		if p.Can(t.Perm) {
			http.Redirect(w, r, t.Path, http.StatusSeeOther)
			return nil
		}
	}
	return errs.Errorf(errs.Forbidden, "your role cannot see %s", what)
}

// settings opens the first settings tab the user may use.
func (u *UI) settings(w http.ResponseWriter, r *http.Request) error {
	return openFirst(w, r, settingsPages, "any settings")
}

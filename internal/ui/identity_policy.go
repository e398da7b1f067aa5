package ui

import (
	"encoding/json"
	"net/http"

	"github.com/enishi-crm/enishi/internal/identity"
)

// identityPolicySetting is the setting the store's identity resolution
// reads: the identifier kinds whose links wait for approval.
const identityPolicySetting = "identity.manual_merge_kinds"

type identityPage struct {
	*base
	Kinds  []string
	Manual []string
}

// identityPolicy shows which identifier kinds merge customers by themselves
// and which wait for a person to approve (名寄せ policy).
func (u *UI) identityPolicy(w http.ResponseWriter, r *http.Request) error {
	raw, _, err := u.cfg.Store.Setting(r.Context(), identityPolicySetting)
	if err != nil {
		return err
	}
	pg := &identityPage{base: u.newBase(r, "settings", "settings.identity")}
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &pg.Manual) // the store ignores an unreadable value the same way
	}
	for _, k := range identity.Kinds {
		if k != identity.Anonymous { // anonymous ids are weak: they never merge anyone
			pg.Kinds = append(pg.Kinds, string(k))
		}
	}
	return u.render(w, r, http.StatusOK, "identity", pg)
}

func (u *UI) saveIdentityPolicy(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	manual := []string{}
	for _, k := range r.PostForm["manual"] {
		kind, err := identity.ParseKind(k)
		if err != nil {
			return err
		}
		manual = append(manual, string(kind))
	}
	b, _ := json.Marshal(manual)
	if err := u.cfg.Store.SetSetting(r.Context(), identityPolicySetting, string(b)); err != nil {
		return err
	}
	if err := u.api.Audit(r, "settings.set", "settings:"+identityPolicySetting, string(b)); err != nil {
		return err
	}
	return redirect(w, r, "/settings/identity", "settings_saved")
}

package ui

import (
	"net/http"
	"strconv"

	"github.com/enishi-crm/enishi/internal/customer"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// recordConsent records an opt-in or opt-out a staff member was told of
// (by phone, at the counter): appended to the consent history with who
// recorded it.
func (u *UI) recordConsent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	granted := r.PostFormValue("granted")
	if granted != "true" && granted != "false" {
		return u.formFailed(w, r, id, "consent", "consent.required", nil, nil)
	}
	c := customer.Consent{Channel: r.PostFormValue("channel"), Granted: granted == "true", Method: "staff",
		Source: r.PostFormValue("source"), Actor: enishihttp.PrincipalFrom(r.Context()).Actor()}
	if err := u.cfg.Store.RecordConsent(r.Context(), id, c); err != nil {
		return u.formFailed(w, r, id, "consent", "", err, nil)
	}
	if err := u.api.Audit(r, "customer.consent", "customer:"+strconv.FormatInt(id, 10), c.Channel+" granted="+granted); err != nil {
		return err
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#consents", "consent_saved")
}

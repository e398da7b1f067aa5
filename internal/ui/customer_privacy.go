package ui

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/privacy"
)

// personalData downloads everything held on the customer as JSON (a data
// subject's disclosure request, 開示請求). The request is recorded and
// audited by the privacy service.
func (u *UI) personalData(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	pd, err := privacy.New(u.cfg.Store).Export(r.Context(), id)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(pd, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+csvexport.SafeFileName("customer-"+strconv.FormatInt(pd.CustomerID, 10)+"-personal-data.json")+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(b)
	return err
}

// eraseCustomer erases the customer's personal data (消去請求) after the
// person typed the customer's id to confirm.
func (u *UI) eraseCustomer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	vals := map[string]string{"reason": reason}
	if strings.TrimSpace(r.PostFormValue("confirm")) != strconv.FormatInt(id, 10) {
		return u.formFailed(w, r, id, "erase", "erase.confirm_id", nil, vals)
	}
	if reason == "" {
		return u.formFailed(w, r, id, "erase", "erase.reason_required", nil, vals)
	}
	if _, err := privacy.New(u.cfg.Store).Erase(r.Context(), id, reason); err != nil {
		return u.formFailed(w, r, id, "erase", "", err, vals)
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10), "erased")
}

package ui

import (
	"net/http"
	"strconv"
	"strings"

	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// mergeInto merges another customer (by id) into this one, by hand.
func (u *UI) mergeInto(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	raw := strings.TrimPrefix(strings.TrimSpace(r.PostFormValue("other")), "#")
	other, perr := strconv.ParseInt(raw, 10, 64)
	values := map[string]string{"other": raw}
	if perr != nil || other <= 0 {
		return u.formFailed(w, r, id, "merge", "merges.other_required", nil, values)
	}
	if _, err := u.cfg.Store.MergeCustomers(r.Context(), id, other, enishihttp.PrincipalFrom(r.Context()).Actor()); err != nil {
		return u.formFailed(w, r, id, "merge", "", err, values)
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#merges", "merged")
}

// unmerge undoes a merge: both customers get their own rows and profile
// back. The form says which customer page to return to.
func (u *UI) unmerge(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	back, _ := strconv.ParseInt(r.PostFormValue("back"), 10, 64)
	if err := u.cfg.Store.Unmerge(r.Context(), id, enishihttp.PrincipalFrom(r.Context()).Actor()); err != nil {
		if back > 0 && isValidation(err) {
			return u.formFailed(w, r, back, "merge", "", err, nil)
		}
		return err
	}
	if back <= 0 {
		return redirect(w, r, "/customers", "unmerged")
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(back, 10)+"#merges", "unmerged")
}

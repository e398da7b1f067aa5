package ui

import (
	"net/http"
	"strconv"
)

// addTags tags the customer; several tags are separated by commas (、 too).
func (u *UI) addTags(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	raw := r.PostFormValue("tags")
	tags := splitList(raw)
	if len(tags) == 0 {
		return u.formFailed(w, r, id, "tags", "tags.required", nil, map[string]string{"tags": raw})
	}
	if err := u.cfg.Store.AddTags(r.Context(), id, tags); err != nil {
		return u.formFailed(w, r, id, "tags", "", err, map[string]string{"tags": raw})
	}
	if err := u.api.Audit(r, "customer.tags", "customer:"+strconv.FormatInt(id, 10), strconv.Itoa(len(tags))+" tag(s) added"); err != nil {
		return err
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#tags", "tags_added")
}

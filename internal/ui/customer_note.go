package ui

import (
	"net/http"
	"strconv"
	"strings"

	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// addNote adds a staff note to the customer's timeline.
func (u *UI) addNote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	body := r.PostFormValue("body")
	if strings.TrimSpace(body) == "" {
		return u.formFailed(w, r, id, "note", "note.required", nil, map[string]string{"body": body})
	}
	if _, err := u.cfg.Store.AddNote(r.Context(), id, enishihttp.PrincipalFrom(r.Context()).Actor(), body); err != nil {
		return u.formFailed(w, r, id, "note", "", err, map[string]string{"body": body})
	}
	if err := u.api.Audit(r, "customer.note", "customer:"+strconv.FormatInt(id, 10), ""); err != nil {
		return err
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#timeline", "note_added")
}

// formFailed shows the customer 360 again with a form's message (a
// catalogue key, or the store's validation error) and what was typed.
// Errors other than validation ones go to the error page.
func (u *UI) formFailed(w http.ResponseWriter, r *http.Request, id int64, form, key string, err error, values map[string]string) error {
	msg, err := u.formMessage(r, key, err)
	if err != nil {
		return err
	}
	return u.show360(w, r, id, http.StatusUnprocessableEntity, formState{Name: form, Error: msg, Values: values})
}

// formMessage is the message for a failed form: the catalogue's text for
// key, or the store's explanation of a validation error. Any other error
// is returned, for the error page.
func (u *UI) formMessage(r *http.Request, key string, err error) (string, error) {
	loc := u.localeFor(r)
	switch {
	case key != "":
		return loc.T(key), nil
	case isValidation(err):
		return loc.errorText(err), nil
	}
	return "", err
}

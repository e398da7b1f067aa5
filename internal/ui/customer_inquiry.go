package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/customer"
)

// addInquiry logs an inquiry (問い合わせ) on the customer's timeline.
func (u *UI) addInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	inq := customer.Inquiry{CustomerID: id, Channel: r.PostFormValue("channel"), Subject: r.PostFormValue("subject"),
		Body: r.PostFormValue("body"), Status: r.PostFormValue("status"), Assignee: r.PostFormValue("assignee")}
	values := map[string]string{"subject": inq.Subject, "body": inq.Body, "assignee": inq.Assignee}
	if strings.TrimSpace(inq.Subject) == "" && strings.TrimSpace(inq.Body) == "" {
		return u.formFailed(w, r, id, "inquiry", "inquiry.required", nil, values)
	}
	if _, err := u.cfg.Store.AddInquiry(r.Context(), inq); err != nil {
		return u.formFailed(w, r, id, "inquiry", "", err, values)
	}
	if err := u.api.Audit(r, "customer.inquiry", "customer:"+strconv.FormatInt(id, 10), ""); err != nil {
		return err
	}
	return redirect(w, r, "/customers/"+strconv.FormatInt(id, 10)+"#timeline", "inquiry_added")
}

package ui

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/store"
)

// inquiriesPerPage is how many inquiries the desk lists at once.
const inquiriesPerPage = 50

type inquiriesPage struct {
	*base
	List     []customer.InquiryDetail
	Pager    pager
	Query    store.InquiryQuery
	Counts   store.InquiryCounts
	Statuses []string
	// Assignees and Tags are the unresolved work by person and by tag,
	// largest first, for the desk's side bar and filters.
	Assignees []countRow
	Tags      []countRow
	Masked    bool
}

type countRow struct {
	Key   string
	Count int64
}

func sortedCounts(m map[string]int64) []countRow {
	out := make([]countRow, 0, len(m))
	for k, n := range m {
		out = append(out, countRow{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

var inquiryStatuses = []string{customer.InquiryOpen, customer.InquiryPending, customer.InquiryClosed}

// inquiries is the support desk: inquiries by status, assignee and tag,
// newest first. The default shows what is unresolved.
func (u *UI) inquiries(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	page := listPage(r)
	q := store.InquiryQuery{Status: v.Get("status"), Assignee: v.Get("assignee"), Tag: v.Get("tag"), Limit: inquiriesPerPage, Offset: (page - 1) * inquiriesPerPage}
	if !v.Has("status") {
		q.Status = "unresolved"
	}
	pg := &inquiriesPage{base: u.newBase(r, "voice", "voice.inquiries"), Query: q, Statuses: inquiryStatuses, Masked: !principal(r).Can(auth.PIIRead)}
	list, total, err := u.cfg.Store.ListInquiries(r.Context(), q)
	if err != nil {
		return err
	}
	if pg.Masked {
		for i := range list {
			list[i].Mask()
		}
	}
	pg.List = list
	if !v.Has("status") {
		v.Set("status", q.Status)
	}
	pg.Pager = pageLinks("/inquiries", v, page, inquiriesPerPage, len(list), total)
	if pg.Counts, err = u.cfg.Store.InquiryCounts(r.Context()); err != nil {
		return err
	}
	pg.Assignees, pg.Tags = sortedCounts(pg.Counts.ByAssignee), sortedCounts(pg.Counts.ByTag)
	return u.render(w, r, http.StatusOK, "inquiries", pg)
}

type inquiryPage struct {
	*base
	I        *customer.InquiryDetail
	Statuses []string
	Form     formState
	Masked   bool
}

// inquiry shows an inquiry with its replies and the desk's forms.
func (u *UI) inquiry(w http.ResponseWriter, r *http.Request) error {
	return u.showInquiry(w, r, http.StatusOK, formState{})
}

func (u *UI) showInquiry(w http.ResponseWriter, r *http.Request, status int, form formState) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	d, err := u.cfg.Store.Inquiry(r.Context(), id)
	if err != nil {
		return err
	}
	pg := &inquiryPage{base: u.newBase(r, "voice", "voice.inquiry", id), I: d, Statuses: inquiryStatuses, Form: form, Masked: !principal(r).Can(auth.PIIRead)}
	if pg.Masked {
		d.Mask()
		for i := range d.Replies {
			d.Replies[i].Body = "***"
		}
	}
	return u.render(w, r, status, "inquiry", pg)
}

// inquiryFailed shows the inquiry again with a form's message.
func (u *UI) inquiryFailed(w http.ResponseWriter, r *http.Request, form, key string, err error, values map[string]string) error {
	msg, err := u.formMessage(r, key, err)
	if err != nil {
		return err
	}
	return u.showInquiry(w, r, http.StatusUnprocessableEntity, formState{Name: form, Error: msg, Values: values})
}

// updateInquiry sets an inquiry's status and assignee.
func (u *UI) updateInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	status, assignee := r.PostFormValue("status"), strings.TrimSpace(r.PostFormValue("assignee"))
	d, err := u.cfg.Store.UpdateInquiry(r.Context(), id, &status, &assignee)
	if err != nil {
		return u.inquiryFailed(w, r, "update", "", err, map[string]string{"assignee": assignee})
	}
	if err := u.api.Audit(r, "inquiry.update", "inquiry:"+strconv.FormatInt(id, 10), "status "+d.Status); err != nil {
		return err
	}
	return redirect(w, r, "/inquiries/"+strconv.FormatInt(id, 10), "inquiry_updated")
}

// replyInquiry records a staff reply; an open inquiry becomes pending
// (waiting for the customer) unless the status is kept.
func (u *UI) replyInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	body, channel := r.PostFormValue("body"), r.PostFormValue("channel")
	if strings.TrimSpace(body) == "" {
		return u.inquiryFailed(w, r, "reply", "reply.required", nil, map[string]string{"body": body})
	}
	rid, err := u.cfg.Store.AddInquiryReply(r.Context(), customer.InquiryReply{InquiryID: id, Author: principal(r).Actor(), Body: body, Channel: channel},
		r.PostFormValue("keep_status") == "1")
	if err != nil {
		return u.inquiryFailed(w, r, "reply", "", err, map[string]string{"body": body})
	}
	if err := u.api.Audit(r, "inquiry.reply", "inquiry:"+strconv.FormatInt(id, 10), "reply "+strconv.FormatInt(rid, 10)); err != nil {
		return err
	}
	return redirect(w, r, "/inquiries/"+strconv.FormatInt(id, 10)+"#replies", "reply_added")
}

// tagInquiry replaces an inquiry's tags (comma separated).
func (u *UI) tagInquiry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	raw := r.PostFormValue("tags")
	tags := splitList(raw)
	if err := u.cfg.Store.SetInquiryTags(r.Context(), id, tags); err != nil {
		return u.inquiryFailed(w, r, "tags", "", err, map[string]string{"tags": raw})
	}
	if err := u.api.Audit(r, "inquiry.tags", "inquiry:"+strconv.FormatInt(id, 10), strconv.Itoa(len(tags))+" tags"); err != nil {
		return err
	}
	return redirect(w, r, "/inquiries/"+strconv.FormatInt(id, 10), "tags_saved")
}

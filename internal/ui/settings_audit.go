package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/store"
)

// auditPerPage is how many audit entries a page shows.
const auditPerPage = 100

// auditExportMax bounds one CSV download of the audit log (the API's).
const auditExportMax = 10000

type auditPage struct {
	*base
	Entries []store.AuditEntry
	Filter  map[string]string
	// Older and Newer page through the log by id; Query is the filters for
	// the export link.
	Older, Query string
	Prefixes     []string
}

// auditFilter reads the log's filters: since and until (Tokyo days,
// inclusive), action (exact, or a prefix ending in "."), actor, and before
// (an entry id, for paging).
func auditFilter(r *http.Request) (store.AuditQuery, map[string]string, error) {
	v := r.URL.Query()
	f := map[string]string{}
	for _, k := range []string{"since", "until", "action", "actor"} {
		f[k] = strings.TrimSpace(v.Get(k))
	}
	q := store.AuditQuery{Action: f["action"], Actor: f["actor"]}
	if f["since"] != "" {
		d, err := loyalty.ParseDay(f["since"])
		if err != nil {
			return q, f, errs.FieldErrorf("since", "%q is not a date (YYYY-MM-DD)", f["since"])
		}
		q.Since = d.UTC()
	}
	if f["until"] != "" {
		d, err := loyalty.ParseDay(f["until"])
		if err != nil {
			return q, f, errs.FieldErrorf("until", "%q is not a date (YYYY-MM-DD)", f["until"])
		}
		q.Until = d.End().UTC()
	}
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return q, f, errs.FieldErrorf("before", "%q is not an entry id", b)
		}
		q.BeforeID = n
	}
	return q, f, nil
}

// auditLog shows the audit log newest first, filtered and paged.
func (u *UI) auditLog(w http.ResponseWriter, r *http.Request) error {
	q, f, err := auditFilter(r)
	if err != nil {
		return err
	}
	q.Limit = auditPerPage + 1
	es, err := u.cfg.Store.AuditEntries(r.Context(), q)
	if err != nil {
		return err
	}
	pg := &auditPage{base: u.newBase(r, "settings", "settings.audit"), Filter: f,
		Prefixes: []string{"auth.", "user.", "role.", "apikey.", "customer.", "privacy.", "points.", "coupon.", "inquiry.", "survey.", "segment.", "campaign.", "journey.", "settings."}}
	vals := url.Values{}
	for k, s := range f {
		if s != "" {
			vals.Set(k, s)
		}
	}
	pg.Query = vals.Encode()
	if len(es) > auditPerPage {
		es = es[:auditPerPage]
		vals.Set("before", strconv.FormatInt(es[len(es)-1].ID, 10))
		pg.Older = "/settings/audit?" + vals.Encode()
	}
	pg.Entries = es
	return u.render(w, r, http.StatusOK, "audit", pg)
}

// exportAuditLog downloads the filtered log as CSV; the export is audited.
func (u *UI) exportAuditLog(w http.ResponseWriter, r *http.Request) error {
	q, _, err := auditFilter(r)
	if err != nil {
		return err
	}
	q.Limit = auditExportMax
	es, err := u.cfg.Store.AuditEntries(r.Context(), q)
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "audit.export", "", strconv.Itoa(len(es))+" entries"); err != nil {
		return err
	}
	csvexport.Attachment(w.Header(), "enishi-audit-"+u.cfg.Clock.Now().In(clock.Tokyo).Format("20060102")+".csv")
	return enishihttp.WriteAuditCSV(w, es)
}

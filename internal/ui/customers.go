package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// customersPerPage is the length of one page of the customer list.
const customersPerPage = 50

type customersPage struct {
	*base
	Query       customer.Query
	Customers   []customer.Summary
	Total       int
	Pager       pager
	Prefectures []string
	ExportQuery string // the filters, for the export links
	Masked      bool
}

// pager links the pages of a list.
type pager struct {
	From, To, Total int
	Prev, Next      string
}

// customerQuery reads the list's filters from the URL.
func customerQuery(r *http.Request) (customer.Query, int) {
	v := r.URL.Query()
	q := customer.Query{Q: v.Get("q"), Prefecture: v.Get("pref"), Tag: v.Get("tag"), Buyers: v.Get("buyers")}
	if q.Buyers != customer.OnlyBuyers && q.Buyers != customer.OnlyProspects {
		q.Buyers = ""
	}
	page, _ := strconv.Atoi(v.Get("page"))
	return q, max(page, 1)
}

// filterValues writes a query's filters back into URL form.
func filterValues(q customer.Query) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "pref": q.Prefecture, "tag": q.Tag, "buyers": q.Buyers} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// customers lists and searches customers (kanji, kana, e-mail, phone, #id)
// with filters and pages; htmx asks for just the results while typing.
func (u *UI) customers(w http.ResponseWriter, r *http.Request) error {
	q, page := customerQuery(r)
	q.Limit, q.Offset = customersPerPage, (page-1)*customersPerPage
	list, total, err := u.cfg.Store.SearchCustomers(r.Context(), q)
	if err != nil {
		return err
	}
	masked := !enishihttp.PrincipalFrom(r.Context()).Can(auth.PIIRead)
	if masked {
		for i := range list {
			list[i].Mask()
		}
	}
	pg := &customersPage{base: u.newBase(r, "customers", "customers.title"), Query: q, Customers: list, Total: total,
		Prefectures: customer.Prefectures, Masked: masked}
	vals := filterValues(q)
	pg.ExportQuery = vals.Encode()
	pg.Pager = pager{From: min(q.Offset+1, total), To: q.Offset + len(list), Total: total}
	if page > 1 {
		vals.Set("page", strconv.Itoa(page-1))
		pg.Pager.Prev = "/customers?" + vals.Encode()
	}
	if q.Offset+len(list) < total {
		vals.Set("page", strconv.Itoa(page+1))
		pg.Pager.Next = "/customers?" + vals.Encode()
	}
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "results" {
		return u.fragment(w, "customers", "results", pg)
	}
	return u.render(w, r, http.StatusOK, "customers", pg)
}

package ui

import (
	"net/http"
	"strconv"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// candidatesShown bounds the approval page; approving some shows the next.
const candidatesShown = 100

type candidatesPage struct {
	*base
	Rows  []candidateRow
	Total int
	More  bool
}

type candidateRow struct {
	customer.MergeCandidate
	A, B *customer.Customer
}

// candidates lists links waiting for approval (kinds set to manual merge in
// the identity settings) with both customers side by side.
func (u *UI) candidates(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cs, err := u.cfg.Store.MergeCandidates(ctx, "pending", candidatesShown+1)
	if err != nil {
		return err
	}
	pg := &candidatesPage{base: u.newBase(r, "candidates", "candidates.title"), More: len(cs) > candidatesShown}
	if pg.More {
		cs = cs[:candidatesShown]
	}
	masked := !enishihttp.PrincipalFrom(ctx).Can(auth.PIIRead)
	for _, c := range cs {
		row := candidateRow{MergeCandidate: c}
		if row.A, err = u.cfg.Store.Customer(ctx, c.A); err != nil {
			return err
		}
		if row.B, err = u.cfg.Store.Customer(ctx, c.B); err != nil {
			return err
		}
		if masked {
			row.A.Profile.Mask()
			row.B.Profile.Mask()
			row.Via.Value = customer.MaskIdentifier(row.Via)
		}
		pg.Rows = append(pg.Rows, row)
	}
	pg.Total = len(pg.Rows)
	return u.render(w, r, http.StatusOK, "candidates", pg)
}

// decideCandidate approves (merges) or rejects a candidate, then returns to
// the customer page it was decided on, or to the list.
func (u *UI) decideCandidate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	var approve bool
	switch r.PathValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		return errs.Errorf(errs.NotFound, "no decision %q", r.PathValue("decision"))
	}
	if err := u.cfg.Store.DecideMergeCandidate(r.Context(), id, approve, enishihttp.PrincipalFrom(r.Context()).Actor()); err != nil {
		return err
	}
	ok := "candidate_rejected"
	if approve {
		ok = "candidate_approved"
	}
	if back, _ := strconv.ParseInt(r.PostFormValue("back"), 10, 64); back > 0 {
		return redirect(w, r, "/customers/"+strconv.FormatInt(back, 10), ok)
	}
	return redirect(w, r, "/merge-candidates", ok)
}

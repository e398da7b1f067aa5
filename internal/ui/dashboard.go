package ui

import (
	"net/http"

	"github.com/enishi-crm/enishi/internal/auth"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
)

type dashboardPage struct {
	*base
	Stats store.Stats
	// PendingMerges counts merges waiting for approval (capped: see More).
	PendingMerges     int
	PendingMergesMore bool
	Imports           []store.ImportRun
}

// maxPendingShown caps the pending-merge count the dashboard asks for.
const maxPendingShown = 500

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	b := u.newBase(r, "dashboard", "dashboard.title")
	pg := &dashboardPage{base: b}
	var err error
	if pg.Stats, err = u.cfg.Store.Stats(ctx); err != nil {
		return err
	}
	cands, err := u.cfg.Store.MergeCandidates(ctx, "pending", maxPendingShown+1)
	if err != nil {
		return err
	}
	pg.PendingMerges, pg.PendingMergesMore = min(len(cands), maxPendingShown), len(cands) > maxPendingShown
	if enishihttp.PrincipalFrom(ctx).Can(auth.ImportsWrite) {
		if pg.Imports, err = u.cfg.Store.ImportRuns(ctx, 5); err != nil {
			return err
		}
	}
	return u.render(w, r, http.StatusOK, "dashboard", pg)
}

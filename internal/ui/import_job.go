package ui

import (
	"net/http"
	"os"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
)

type importJobPage struct {
	*base
	Job *importJob
	V   jobView
}

// job finds an upload; only the person who uploaded it may see it.
func (u *UI) job(r *http.Request) (*importJob, error) {
	j := u.imports.get(r.PathValue("id"))
	if j == nil {
		return nil, errs.Errorf(errs.NotFound, "this upload is gone (uploads are kept for a day); upload the file again")
	}
	if p := principal(r); p == nil || p.UserID != j.Owner {
		return nil, errs.Errorf(errs.NotFound, "this upload is gone (uploads are kept for a day); upload the file again")
	}
	return j, nil
}

// importJob shows an upload: the preview and column mapping, the dry run's
// findings, and the import's progress and report.
func (u *UI) importJob(w http.ResponseWriter, r *http.Request) error {
	j, err := u.job(r)
	if err != nil {
		return err
	}
	pg := &importJobPage{base: u.newBase(r, "imports", "import.title", j.FileName), Job: j, V: j.view()}
	return u.render(w, r, http.StatusOK, "import", pg)
}

// importStatus is the status panel htmx polls while a job works.
func (u *UI) importStatus(w http.ResponseWriter, r *http.Request) error {
	j, err := u.job(r)
	if err != nil {
		return err
	}
	return u.fragment(w, "import", "status", &importJobPage{base: u.newBase(r, "imports", ""), Job: j, V: j.view()})
}

// runImport imports a checked file.
func (u *UI) runImport(w http.ResponseWriter, r *http.Request) error {
	j, err := u.job(r)
	if err != nil {
		return err
	}
	if st := j.view().State; st != jobChecked {
		return errs.Errorf(errs.Conflict, "this file is %s; it can be imported once its check has finished", st)
	}
	if err := u.startImport(j); err != nil {
		return err
	}
	http.Redirect(w, r, "/imports/"+j.ID, http.StatusSeeOther)
	return nil
}

// discardImport forgets an upload and deletes its files.
func (u *UI) discardImport(w http.ResponseWriter, r *http.Request) error {
	j, err := u.job(r)
	if err != nil {
		return err
	}
	if st := j.view().State; st == jobRunning || st == jobChecking {
		return errs.Errorf(errs.Conflict, "wait until the file has been read to the end")
	}
	u.imports.remove(j.ID)
	_ = os.RemoveAll(j.Dir)
	return redirect(w, r, "/imports", "import_discarded")
}

// importErrors downloads the rejected rows of the check or of the import,
// in the file's own encoding, with the line number and reason.
func (u *UI) importErrors(w http.ResponseWriter, r *http.Request) error {
	j, err := u.job(r)
	if err != nil {
		return err
	}
	stage := r.PathValue("stage")
	if stage != "check" && stage != "run" {
		return errs.Errorf(errs.NotFound, "no such report")
	}
	f, err := os.Open(j.errorsPath(stage))
	if err != nil {
		return errs.Errorf(errs.NotFound, "no rows were rejected")
	}
	defer f.Close()
	name := strings.TrimSuffix(j.FileName, ".csv") + "." + stage + ".errors.csv"
	w.Header().Set("Content-Type", "text/csv")
	w.Header().Set("Content-Disposition", contentDisposition(name))
	w.Header().Set("Cache-Control", "no-store")
	st, _ := f.Stat()
	http.ServeContent(w, r, name, st.ModTime(), f)
	return nil
}

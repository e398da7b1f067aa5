package ui

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/importer"
	"github.com/enishi-crm/enishi/internal/store"
)

// previewRows is how many rows of an uploaded file the preview shows.
const previewRows = 10

type importsPage struct {
	*base
	Kinds     []string
	Formats   []formatOption
	Encodings []string
	Jobs      []jobRow
	Runs      []store.ImportRun
	Form      map[string]string
}

type formatOption struct{ Name, Title string }

type jobRow struct {
	*importJob
	V jobView
}

func importFormats() []formatOption {
	var out []formatOption
	for _, n := range importer.FormatNames() {
		f, _ := importer.LookupFormat(n)
		out = append(out, formatOption{Name: n, Title: f.Title})
	}
	return out
}

// importsPage shows the upload form, this server's recent uploads and the
// record of past imports.
func (u *UI) importsPage(w http.ResponseWriter, r *http.Request) error {
	return u.showImports(w, r, http.StatusOK, nil)
}

func (u *UI) showImports(w http.ResponseWriter, r *http.Request, status int, form map[string]string) error {
	pg := &importsPage{base: u.newBase(r, "imports", "imports.title"), Kinds: []string{"orders", "customers", "products", "events"},
		Formats: importFormats(), Encodings: []string{"auto", "utf-8", "shift_jis", "cp932", "euc-jp"}, Form: form}
	if form != nil {
		pg.Error = form["error"]
	}
	for _, j := range u.imports.list(u.cfg.Clock.Now()) {
		pg.Jobs = append(pg.Jobs, jobRow{importJob: j, V: j.view()})
	}
	var err error
	if pg.Runs, err = u.cfg.Store.ImportRuns(r.Context(), 20); err != nil {
		return err
	}
	return u.render(w, r, status, "imports", pg)
}

// upload stores an uploaded file, previews its first rows and column
// mapping, and starts the dry run; the job page shows both.
func (u *UI) upload(w http.ResponseWriter, r *http.Request) error {
	loc := u.localeFor(r)
	form := map[string]string{"kind": r.FormValue("kind"), "format": r.FormValue("format"), "encoding": r.FormValue("encoding"), "source": r.FormValue("source")}
	fail := func(msg string) error {
		form["error"] = msg
		return u.showImports(w, r, http.StatusUnprocessableEntity, form)
	}
	kind, ok := importer.ParseKind(form["kind"])
	if !ok {
		return fail(loc.T("imports.need_kind"))
	}
	format := form["format"]
	if format == "" {
		format = "auto"
	}
	if _, ok := importer.LookupFormat(format); !ok && format != "auto" {
		return fail(loc.T("imports.need_format"))
	}
	encoding := form["encoding"]
	if _, err := importer.ParseEncoding(encoding); err != nil {
		return fail(loc.T("imports.need_encoding"))
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		return fail(loc.T("imports.need_file"))
	}
	defer file.Close()
	p := enishihttp.PrincipalFrom(r.Context())
	j := &importJob{ID: auth.RandomToken(12), Owner: p.UserID, Actor: "ui:" + p.Actor(), FileName: filepath.Base(hdr.Filename),
		Created: u.cfg.Clock.Now(), state: jobChecking}
	j.Opt = importer.Options{Kind: kind, Format: format, Encoding: encoding, Source: strings.TrimSpace(form["source"]), FileName: j.FileName}
	j.Dir = filepath.Join(u.cfg.WorkDir, j.ID)
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(j.uploadPath(), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, file)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.RemoveAll(j.Dir)
		return err
	}
	j.Size = n
	in, err := os.Open(j.uploadPath())
	if err != nil {
		return err
	}
	j.Preview, err = importer.PreviewFile(in, j.Opt, previewRows)
	in.Close()
	if err != nil {
		_ = os.RemoveAll(j.Dir)
		if errs.Code(err) == errs.Invalid {
			return fail(errs.Message(err))
		}
		return err
	}
	if j.Preview.Format != "" {
		j.Opt.Format = j.Preview.Format // run with what the preview settled on
	}
	u.imports.add(j)
	if j.Preview.Problem != "" {
		j.set(func() { j.state, j.err = jobFailed, j.Preview.Problem })
	} else {
		u.startCheck(j)
	}
	http.Redirect(w, r, "/imports/"+j.ID, http.StatusSeeOther)
	return nil
}

package ui

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
)

// Long operations — rescoring every customer, evaluating every rank,
// refitting the subscription risk model, exporting a large customer list —
// run in the background as tasks, like imports: the form starts one and
// answers at once with the task's page, which follows its progress
// (htmx polls it; without JavaScript the page refreshes itself) and, for an
// export, offers the file when it is ready. Tasks live in memory: their
// effects are in the store, and an export's file is kept for a day.

// Task states.
const (
	taskRunning = "running"
	taskDone    = "done"
	taskFailed  = "failed"
)

// taskLifetime is how long a finished task and its file are kept.
const taskLifetime = 24 * time.Hour

type task struct {
	ID      string
	Kind    string // rescore, ranks, risk, export
	Owner   int64
	Started time.Time
	Back    string // the page the task was started from
	Actor   string // who started it, for audit entries written when it ends

	mu       sync.Mutex
	state    string
	done     int64
	total    int64 // 0 when unknown
	result   string
	err      string
	finished time.Time
	file     string // an export's file, when done
	fileName string
	fileType string
}

// taskView is a consistent copy of a task for templates.
type taskView struct {
	ID, Kind, State, Result, Err, Back string
	Done, Total                        int64
	Percent                            int
	Started, Finished                  time.Time
	File                               bool
}

func (t *task) view() taskView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := taskView{ID: t.ID, Kind: t.Kind, State: t.state, Result: t.result, Err: t.err, Back: t.Back, Done: t.done, Total: t.total,
		Started: t.Started, Finished: t.finished, File: t.file != ""}
	if t.total > 0 {
		v.Percent = int(min(100, t.done*100/t.total))
	}
	if t.state == taskDone {
		v.Percent = 100
	}
	return v
}

// progress records how far the task came (total 0: unknown).
func (t *task) progress(done, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done, t.total = done, total
}

type tasks struct {
	mu   sync.Mutex
	byID map[string]*task
}

func (ts *tasks) get(id string) *task {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.byID[id]
}

// add registers a task, dropping (with their files) finished tasks older
// than taskLifetime.
func (ts *tasks) add(t *task, now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.byID == nil {
		ts.byID = map[string]*task{}
	}
	for id, old := range ts.byID {
		v := old.view()
		if v.State != taskRunning && now.Sub(v.Finished) > taskLifetime {
			if old.file != "" {
				_ = os.RemoveAll(filepath.Dir(old.file))
			}
			delete(ts.byID, id)
		}
	}
	ts.byID[t.ID] = t
}

// running returns the owner's task of kind still running, if any, so that
// a second click follows the first run instead of starting another.
func (ts *tasks) running(kind string, owner int64) *task {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []*task
	for _, t := range ts.byID {
		if t.Kind == kind && t.Owner == owner && t.view().State == taskRunning {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	if len(out) == 0 {
		return nil
	}
	return out[0]
}

// startTask runs fn in the background as a task of kind and sends the
// browser to the task's page. fn reports progress through the task and
// returns a one-line result for people.
func (u *UI) startTask(w http.ResponseWriter, r *http.Request, kind, back string, fn func(ctx context.Context, t *task) (string, error)) error {
	p := principal(r)
	if t := u.tasks.running(kind, p.UserID); t != nil {
		http.Redirect(w, r, "/tasks/"+t.ID, http.StatusSeeOther)
		return nil
	}
	t := &task{ID: auth.RandomToken(12), Kind: kind, Owner: p.UserID, Actor: p.Actor(), Started: u.cfg.Clock.Now(), Back: back, state: taskRunning}
	u.tasks.add(t, t.Started)
	// The task outlives the request: keep who started it for the store's
	// own audit entries, not the request's cancellation.
	ctx := store.WithOrigin(enishihttp.WithPrincipal(u.ctx, p), store.OriginFrom(r.Context()))
	u.work.Add(1)
	go func() {
		defer u.work.Done()
		res, err := fn(ctx, t)
		t.mu.Lock()
		defer t.mu.Unlock()
		t.finished = u.cfg.Clock.Now()
		if err != nil {
			t.state, t.err = taskFailed, errs.Message(err)
			if errs.Code(err) == errs.Internal {
				u.cfg.Log.Error("ui: background task failed", "kind", kind, "err", err)
			}
			return
		}
		t.state, t.result = taskDone, res
	}()
	http.Redirect(w, r, "/tasks/"+t.ID, http.StatusSeeOther)
	return nil
}

// routesTasks registers the background tasks and their pages.
func (u *UI) routesTasks() {
	u.page("GET /tasks/{id}", "", u.taskStatus)
	u.page("GET /tasks/{id}/file", "", u.taskFile)
	u.page("POST /settings/analytics/rescore", auth.SettingsWrite, u.rescoreTask)
	u.page("POST /loyalty/daily", auth.LoyaltyWrite, u.ranksTask)
	u.page("POST /customers/export", auth.CustomersExport, u.exportTask)
}

type taskPage struct {
	*base
	Task taskView
}

// ownTask finds the task of the path for the signed-in user (others'
// tasks, exports above all, are not found).
func (u *UI) ownTask(r *http.Request) (*task, error) {
	t := u.tasks.get(r.PathValue("id"))
	if t == nil || t.Owner != principal(r).UserID {
		return nil, errs.Errorf(errs.NotFound, "no such task (finished tasks are kept for a day)")
	}
	return t, nil
}

// taskStatus is a task's page; htmx asks for its status part only.
func (u *UI) taskStatus(w http.ResponseWriter, r *http.Request) error {
	t, err := u.ownTask(r)
	if err != nil {
		return err
	}
	v := t.view()
	pg := &taskPage{base: u.newBase(r, "", "task."+v.Kind), Task: v}
	if r.Header.Get("HX-Request") == "true" {
		return u.fragment(w, "task", "status", pg)
	}
	if v.State == taskRunning {
		// Without JavaScript the page reloads itself.
		w.Header().Set("Refresh", "2")
	}
	return u.render(w, r, http.StatusOK, "task", pg)
}

// taskFile downloads an export task's file.
func (u *UI) taskFile(w http.ResponseWriter, r *http.Request) error {
	t, err := u.ownTask(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	path, name, ctype := t.file, t.fileName, t.fileType
	t.mu.Unlock()
	if path == "" {
		return errs.Errorf(errs.NotFound, "the file is not ready")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", contentDisposition(name))
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// rescoreTask recomputes every customer's stored scores (RFM, CPM, CLV,
// churn) now, instead of waiting for the server's maintenance.
func (u *UI) rescoreTask(w http.ResponseWriter, r *http.Request) error {
	if err := u.api.Audit(r, "analytics.rescore", "settings:analytics", "started"); err != nil {
		return err
	}
	return u.startTask(w, r, "rescore", "/settings/analytics", func(ctx context.Context, t *task) (string, error) {
		res, err := u.cfg.Store.RefreshScores(ctx)
		if err != nil {
			return "", err
		}
		u.reports.clear()
		t.progress(res.Rescored, res.Rescored)
		return u.localeFor(r).T("task.rescored", formatNum(res.Rescored)), nil
	})
}

// ranksTask evaluates every customer's rank (and what the daily run does:
// expiry, reminders).
func (u *UI) ranksTask(w http.ResponseWriter, r *http.Request) error {
	if err := u.api.Audit(r, "loyalty.daily", "", "started from the UI"); err != nil {
		return err
	}
	return u.startTask(w, r, "ranks", "/loyalty/report", func(ctx context.Context, t *task) (string, error) {
		res, err := u.cfg.Store.LoyaltyDaily(ctx)
		if err != nil {
			return "", err
		}
		t.progress(int64(res.Ranks.Evaluated), int64(res.Ranks.Evaluated))
		return u.localeFor(r).T("task.ranks_done", formatNum(int64(res.Ranks.Evaluated)), formatNum(int64(res.Ranks.Up)), formatNum(int64(res.Ranks.Down)),
			formatNum(res.Expiry.Points)), nil
	})
}

// exportTask writes the filtered customer list to a file in the background
// (large lists), with rows counted as they are written.
func (u *UI) exportTask(w http.ResponseWriter, r *http.Request) error {
	format := r.PostFormValue("format")
	if !validExportFormat(format) {
		return errs.FieldErrorf("format", "%q is not csv, csv-sjis or xlsx", format)
	}
	r.URL.RawQuery = r.PostFormValue("filters") // the list's filters, as its URL had them
	q, _ := customerQuery(r)
	masked := !principal(r).Can(auth.PIIRead)
	header := u.exportHeader(u.localeFor(r))
	name := "customers-" + u.cfg.Clock.Now().In(clock.Tokyo).Format("20060102-1504")
	if err := u.api.Audit(r, "customer.export", "", "background, format "+format+", masked="+strconv.FormatBool(masked)+", filters "+filterValues(q).Encode()); err != nil {
		return err
	}
	return u.startTask(w, r, "export", "/customers?"+filterValues(q).Encode(), func(ctx context.Context, t *task) (string, error) {
		count := q
		count.Limit = 1
		if _, total, err := u.cfg.Store.SearchCustomers(ctx, count); err == nil {
			t.progress(0, int64(total))
		}
		dir := filepath.Join(u.cfg.WorkDir, "task-"+t.ID)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		out := &fileResponse{header: http.Header{}}
		var err error
		if out.f, err = os.Create(filepath.Join(dir, "export")); err != nil {
			return "", err
		}
		defer out.f.Close()
		var n int64
		err = writeTable(out, format, name, header, func(fn func([]any) error) error {
			return u.customerRows(ctx, q, masked, func(row []any) error {
				n++
				if n%exportBatch == 0 {
					t.mu.Lock()
					t.done = n
					t.mu.Unlock()
				}
				return fn(row)
			})
		})
		if err == nil {
			err = out.f.Close()
		}
		if err != nil {
			return "", err
		}
		ext := ".csv"
		if format == "xlsx" {
			ext = ".xlsx"
		}
		t.mu.Lock()
		t.done, t.total = n, n
		t.file, t.fileName, t.fileType = out.f.Name(), name+ext, out.header.Get("Content-Type")
		t.mu.Unlock()
		return u.localeFor(r).T("task.exported", formatNum(n)), nil
	})
}

// fileResponse is a ResponseWriter over a file, so that writeTable can
// write a download to disk.
type fileResponse struct {
	f      *os.File
	header http.Header
}

func (f *fileResponse) Header() http.Header         { return f.header }
func (f *fileResponse) Write(b []byte) (int, error) { return f.f.Write(b) }
func (f *fileResponse) WriteHeader(int)             {}

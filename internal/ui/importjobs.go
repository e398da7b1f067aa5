package ui

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/importer"
	"github.com/enishi-crm/enishi/internal/store"
)

// Import job states.
const (
	jobChecking = "checking" // the dry run reads every row
	jobChecked  = "checked"  // waiting for the person to import
	jobRunning  = "running"
	jobDone     = "done"
	jobFailed   = "failed"
)

// importJob is one uploaded file on its way into the store: previewed,
// checked by a dry run, then imported, each in the background.
type importJob struct {
	ID       string
	Owner    int64 // the user who uploaded it
	Actor    string
	Opt      importer.Options
	FileName string
	Size     int64
	Dir      string
	Preview  *importer.Preview
	Created  time.Time

	mu       sync.Mutex
	state    string
	progress importer.Progress
	check    *importer.Report
	report   *importer.Report
	err      string
	runID    int64
}

// jobView is a consistent copy of a job's moving parts, for templates.
type jobView struct {
	State    string
	Progress importer.Progress
	Check    *importer.Report
	Report   *importer.Report
	Err      string
	RunID    int64
	Percent  int
}

func (j *importJob) view() jobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := jobView{State: j.state, Progress: j.progress, Check: j.check, Report: j.report, Err: j.err, RunID: j.runID}
	if j.Size > 0 {
		v.Percent = int(min(100, j.progress.BytesRead*100/j.Size))
	}
	if j.state == jobChecked || j.state == jobDone {
		v.Percent = 100
	}
	return v
}

func (j *importJob) set(f func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f()
}

func (j *importJob) uploadPath() string { return filepath.Join(j.Dir, "upload") }

// errorsPath is the rejected-rows file of a stage: "check" or "run".
func (j *importJob) errorsPath(stage string) string {
	return filepath.Join(j.Dir, stage+".errors.csv")
}

// importJobs keeps the jobs of this process. They are in memory only: what
// matters after a restart (the import's outcome) is in the store's
// import_runs; an unfinished upload is simply uploaded again.
type importJobs struct {
	mu   sync.Mutex
	jobs map[string]*importJob
}

func newImportJobs() *importJobs { return &importJobs{jobs: map[string]*importJob{}} }

// jobLifetime is how long a finished or abandoned job's files are kept.
const jobLifetime = 24 * time.Hour

func (js *importJobs) add(j *importJob) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.jobs[j.ID] = j
}

func (js *importJobs) get(id string) *importJob {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.jobs[id]
}

func (js *importJobs) remove(id string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	delete(js.jobs, id)
}

// list returns the jobs, newest first, dropping (and deleting the files of)
// idle jobs older than jobLifetime.
func (js *importJobs) list(now time.Time) []*importJob {
	js.mu.Lock()
	defer js.mu.Unlock()
	var out []*importJob
	for id, j := range js.jobs {
		st := j.view().State
		if now.Sub(j.Created) > jobLifetime && st != jobRunning && st != jobChecking {
			_ = os.RemoveAll(j.Dir)
			delete(js.jobs, id)
			continue
		}
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	return out
}

// startCheck runs the importer's dry run over the whole file in the
// background: every row is read and checked, nothing is written.
func (u *UI) startCheck(j *importJob) {
	j.set(func() { j.state, j.err, j.check = jobChecking, "", nil })
	u.work.Add(1)
	go func() {
		defer u.work.Done()
		opt := j.Opt
		opt.DryRun = true
		opt.ErrorsPath = j.errorsPath("check")
		opt.Progress = func(p importer.Progress) { j.set(func() { j.progress = p }) }
		rep, err := u.runFile(u.ctx, j, opt)
		j.set(func() {
			j.check = rep
			if err != nil {
				j.state, j.err = jobFailed, err.Error()
				return
			}
			j.state = jobChecked
		})
	}()
}

// startImport imports the checked file in the background, recording the
// run in the store (import_runs) as the CLI does.
func (u *UI) startImport(j *importJob) error {
	runID, err := u.cfg.Store.StartImportRun(u.ctx, store.ImportRun{Kind: string(j.Opt.Kind), Format: j.Opt.Format,
		Source: j.Opt.Source, FileName: j.FileName, Actor: j.Actor})
	if err != nil {
		return err
	}
	j.set(func() { j.state, j.err, j.runID, j.progress = jobRunning, "", runID, importer.Progress{} })
	u.work.Add(1)
	go func() {
		defer u.work.Done()
		opt := j.Opt
		opt.ErrorsPath = j.errorsPath("run")
		opt.Progress = func(p importer.Progress) { j.set(func() { j.progress = p }) }
		rep, err := u.runFile(u.ctx, j, opt)
		run := store.ImportRun{ID: runID, Status: "done"}
		if rep != nil {
			run.RowsRead, run.Imported, run.Unchanged, run.Rejected = rep.Rows, rep.Imported(), rep.Unchanged, rep.RejectedRows
			if rep.RejectedRows > 0 {
				run.Status = "partial"
			}
		}
		if err != nil {
			run.Status, run.Message = "failed", err.Error()
		}
		if ferr := u.cfg.Store.FinishImportRun(context.WithoutCancel(u.ctx), run); ferr != nil {
			u.cfg.Log.Error("ui: record import run", "run", runID, "err", ferr)
		}
		j.set(func() {
			j.report = rep
			if err != nil {
				j.state, j.err = jobFailed, err.Error()
				return
			}
			j.state = jobDone
		})
	}()
	return nil
}

func (u *UI) runFile(ctx context.Context, j *importJob, opt importer.Options) (*importer.Report, error) {
	f, err := os.Open(j.uploadPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_ = os.Remove(opt.ErrorsPath)
	return importer.Run(ctx, u.cfg.Store, f, opt)
}

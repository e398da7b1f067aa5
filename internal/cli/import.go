package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/importer"
	"github.com/enishi-crm/enishi/internal/store"
)

// importMemoryLimit is the soft limit of the Go heap during an import
// (GOMEMLIMIT overrides it).
const importMemoryLimit = 160 << 20

func cmdImport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "import", "import customers|orders|products|events|subscriptions|reviews FILE [flags]")
	db := addDBFlags(fs, env)
	format := fs.String("format", "auto", "layout: auto, "+strings.Join(importer.FormatNames(), ", "))
	encoding := fs.String("encoding", "auto", "auto, utf-8, shift_jis, cp932 or euc-jp")
	mapPath := fs.String("map", "", "YAML file naming the columns (see docs/formats.md)")
	dryRun := fs.Bool("dry-run", false, "read and check every row, write nothing")
	source := fs.String("source", "", "system the records come from (default: the format's name)")
	errorsPath := fs.String("errors", "", "where to write rejected rows (default: FILE.errors.csv beside the input)")
	batch := fs.Int("batch", 2000, "records per transaction")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("import needs a kind (customers, orders, products, events, subscriptions, reviews) and a file; see enishi import -h")
	}
	kind, ok := importer.ParseKind(pos[0])
	if !ok {
		return usagef("unknown kind %q (customers, orders, products, events, subscriptions, reviews)", pos[0])
	}
	path := pos[1]
	var mapping *importer.Mapping
	if *mapPath != "" {
		if mapping, err = importer.LoadMapping(*mapPath, kind); err != nil {
			return err
		}
	}
	var in io.Reader = env.Stdin
	name := "stdin"
	var size int64
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, filepath.Base(path)
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		if *errorsPath == "" {
			*errorsPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".errors.csv"
		}
	}
	// A previous run's errors must not be mistaken for this one's.
	if *errorsPath != "" {
		_ = os.Remove(*errorsPath)
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if env.Getenv("GOMEMLIMIT") == "" {
		// Peak memory: the Go heap would grow to twice what it holds
		// (about 100 MB live in a million-line import, mostly the cache of
		// identifier holders) on top of SQLite's page caches, which live
		// outside it. A soft limit makes the collector run earlier instead.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(importMemoryLimit))
	}

	opt := importer.Options{Kind: kind, Format: *format, Encoding: *encoding, Mapping: mapping, Source: *source, DryRun: *dryRun,
		BatchSize: *batch, FileName: name, ErrorsPath: *errorsPath, Errors: env.Stderr}
	bar := &progressBar{w: env.Stderr, size: size, name: name}
	if env.IsTerminal {
		opt.Progress = bar.update
	}
	var runID int64
	if !*dryRun {
		if runID, err = st.StartImportRun(ctx, store.ImportRun{Kind: string(kind), Format: *format, Source: *source, FileName: name, Actor: "cli"}); err != nil {
			return err
		}
	}
	rep, err := importer.Run(ctx, st, in, opt)
	bar.done()
	if !*dryRun {
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
		_ = st.FinishImportRun(context.WithoutCancel(ctx), run)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(env.Stdout, summary(rep, name))
	}
	if kind == importer.Orders && !*dryRun {
		if err := evaluateQueuedRanks(ctx, env, st, !*asJSON); err != nil {
			return err
		}
	}
	if rep.RejectedRows > 0 {
		return partialError{fmt.Sprintf("%d rows rejected", rep.RejectedRows)}
	}
	return nil
}

// summary is the one-line report printed after an import.
func summary(r *importer.Report, name string) string {
	var b strings.Builder
	verb := "imported"
	if r.DryRun {
		verb = "would import (dry run)"
	}
	fmt.Fprintf(&b, "%s: %s rows (%s, %s) → %s %s %s", name, group(r.Rows), r.Format, r.Encoding, group(r.Imported()), r.Kind, verb)
	if !r.DryRun {
		fmt.Fprintf(&b, " (%s new, %s updated, %s unchanged)", group(r.Inserted), group(r.Updated), group(r.Unchanged))
	}
	fmt.Fprintf(&b, ", %s rows rejected", group(r.RejectedRows))
	if r.Kind != importer.Products && !r.DryRun {
		fmt.Fprintf(&b, "; %s new customers, %s merges", group(r.NewCustomers), group(r.Merges))
		if r.MergeCandidates > 0 {
			fmt.Fprintf(&b, ", %s merges waiting for approval", group(r.MergeCandidates))
		}
	}
	secs := r.Duration.Seconds()
	if secs > 0 {
		fmt.Fprintf(&b, "; %.1fs (%s rows/s)", secs, group(int(float64(r.Rows)/secs)))
	}
	if r.ErrorsFile != "" {
		fmt.Fprintf(&b, "\nrejected rows with reasons: %s", r.ErrorsFile)
	}
	return b.String()
}

// group formats 1234567 as 1,234,567.
func group(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// progressBar draws import progress on a terminal.
type progressBar struct {
	w     io.Writer
	size  int64
	name  string
	last  time.Time
	drawn bool
}

func (p *progressBar) update(pr importer.Progress) {
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	rate := 0
	if s := pr.Elapsed.Seconds(); s > 0 {
		rate = int(float64(pr.Rows) / s)
	}
	if p.size > 0 {
		pct := float64(pr.BytesRead) / float64(p.size)
		if pct > 1 {
			pct = 1
		}
		width := 30
		fill := int(pct * float64(width))
		fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s rows %s rows/s ", p.name, strings.Repeat("█", fill), strings.Repeat("·", width-fill), pct*100, group(pr.Rows), group(rate))
	} else {
		fmt.Fprintf(p.w, "\r%s %s rows %s rows/s ", p.name, group(pr.Rows), group(rate))
	}
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

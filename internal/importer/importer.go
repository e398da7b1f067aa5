// Package importer reads customer, order, product, event, subscription and
// review files exported by shop systems (our canonical CSV and presets for
// Shopify, EC-CUBE, makeshop, futureshop and 楽天 RMS; --map for carts and
// review apps), in UTF-8 or Shift_JIS, and streams them
// into the store in batched transactions. Bad rows are reported with their
// line number and reason and never written; an order with any bad line is
// rejected whole.
package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// Sink is what the importer writes to; store.Store satisfies it.
type Sink interface {
	ImportOrders(ctx context.Context, orders []order.Order) (store.BatchResult, error)
	ImportCustomers(ctx context.Context, recs []customer.Record) (store.BatchResult, error)
	ImportProducts(ctx context.Context, ps []product.Product) (store.BatchResult, error)
	ImportEvents(ctx context.Context, evs []event.Event) (store.BatchResult, error)
	ImportSubscriptions(ctx context.Context, ups []subscription.Update) (store.BatchResult, error)
	ImportReviews(ctx context.Context, rs []review.Review) (store.BatchResult, error)
}

// Options configure one import.
type Options struct {
	Kind     Kind
	Format   string // "auto" or a registered format name
	Encoding string // "auto", "utf-8", "shift_jis", "cp932", "euc-jp"
	Mapping  *Mapping
	Source   string // system the records come from; default: the format's
	DryRun   bool   // read and check everything, write nothing
	// BatchSize is the number of records per transaction (default 2000).
	BatchSize int
	// FileName is used in messages; ErrorsPath, when set, receives every
	// rejected row as CSV (original columns plus line and error).
	FileName   string
	ErrorsPath string
	// Errors receives one human-readable line per rejected row (up to MaxErrorLines).
	Errors        io.Writer
	MaxErrorLines int
	// Progress, when set, is called about every 1000 rows.
	Progress func(Progress)
}

// Progress is how far an import has come.
type Progress struct {
	Rows      int
	BytesRead int64
	Elapsed   time.Duration
}

// Report is the outcome of an import.
type Report struct {
	Kind            Kind          `json:"kind"`
	Format          string        `json:"format"`
	Encoding        string        `json:"encoding"`
	Source          string        `json:"source"`
	DryRun          bool          `json:"dry_run"`
	Rows            int           `json:"rows"`
	Records         int           `json:"records"`
	Inserted        int           `json:"inserted"`
	Updated         int           `json:"updated"`
	Unchanged       int           `json:"unchanged"`
	RejectedRows    int           `json:"rejected_rows"`
	RejectedRecords int           `json:"rejected_records"`
	NewCustomers    int           `json:"new_customers"`
	Merges          int           `json:"merges"`
	MergeCandidates int           `json:"merge_candidates"`
	ErrorsFile      string        `json:"errors_file,omitempty"`
	Duration        time.Duration `json:"duration_ns"`
}

// Imported counts records written (new or changed).
func (r *Report) Imported() int { return r.Inserted + r.Updated }

// countingReader counts bytes read, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Run imports one file. Problems found before anything is written (an
// unreadable header, an unknown layout, a missing required column) return
// an error and write nothing. A store failure part-way returns an error
// after earlier batches were committed; running the import again finishes
// it, since imports are idempotent.
func Run(ctx context.Context, sink Sink, in io.Reader, opt Options) (*Report, error) {
	start := time.Now()
	if opt.BatchSize <= 0 {
		opt.BatchSize = 2000
	}
	if opt.MaxErrorLines == 0 {
		opt.MaxErrorLines = 50
	}
	counter := &countingReader{r: in}
	h, err := readHeader(counter, opt)
	if err != nil {
		return nil, err
	}
	f, layout, err := chooseLayout(opt, h.header)
	if err != nil {
		return nil, err
	}
	bnd, err := bind(opt.Kind, layout, h.header, opt.Mapping)
	if err != nil {
		return nil, err
	}
	cr, header, enc, bom := h.cr, h.header, h.enc, h.bom
	source := opt.Source
	if source == "" {
		source = layout.Source
	}
	if source == "" {
		source = f.Name
	}
	rep := &Report{Kind: opt.Kind, Format: f.Name, Encoding: enc, Source: source, DryRun: opt.DryRun}
	ew := &errorWriter{opt: opt, header: header, enc: enc, bom: bom, rep: rep}
	defer ew.close()

	run := &run{ctx: ctx, sink: sink, opt: opt, rep: rep, ew: ew, layout: layout,
		b: &builder{kind: opt.Kind, source: source, phones: map[string]phoneResult{}}}
	if !opt.DryRun {
		run.startWriter()
	}
	err = run.read(cr, bnd, counter, start)
	if werr := run.stopWriter(); werr != nil {
		err = werr // the store's own error explains why reading stopped
	}
	rep.Duration = time.Since(start)
	if cerr := ew.close(); err == nil && cerr != nil {
		err = cerr
	}
	return rep, err
}

// head is a file opened for reading: its decoder, header row and encoding.
type head struct {
	cr     *csv.Reader
	header []string
	enc    string
	bom    bool
}

// readHeader decodes the file and reads its header row.
func readHeader(in io.Reader, opt Options) (*head, error) {
	enc, err := ParseEncoding(opt.Encoding)
	if err != nil {
		return nil, err
	}
	text, enc, bom, err := decode(in, enc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", opt.FileName, err)
	}
	cr := csv.NewReader(text)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errs.Errorf(errs.Invalid, "%s is empty", opt.FileName)
	}
	if err != nil {
		return nil, errs.Errorf(errs.Invalid, "%s: cannot read the header row: %v", opt.FileName, err)
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	return &head{cr: cr, header: header, enc: enc, bom: bom}, nil
}

// chooseLayout picks the format (named, or detected from the header) and
// its layout for the kind.
func chooseLayout(opt Options, header []string) (*Format, *Layout, error) {
	var f *Format
	var err error
	if opt.Format == "" || opt.Format == "auto" {
		if opt.Mapping != nil {
			f = formats["enishi"]
		} else if f, err = detect(opt.Kind, header); err != nil {
			return nil, nil, err
		}
	} else if f = formats[opt.Format]; f == nil {
		return nil, nil, errs.Errorf(errs.Invalid, "unknown format %q (use auto, %s)", opt.Format, strings.Join(FormatNames(), ", "))
	}
	layout := f.Layouts[opt.Kind]
	if layout == nil {
		return nil, nil, errs.Errorf(errs.Invalid, "the %s format has no %s layout", f.Name, opt.Kind)
	}
	return f, layout, nil
}

type run struct {
	ctx    context.Context
	sink   Sink
	opt    Options
	rep    *Report
	ew     *errorWriter
	layout *Layout
	b      *builder

	batches chan any
	done    chan error
	failed  atomic.Bool
}

// startWriter runs the store writes beside the parsing, so that both cores
// work: one reads and checks rows while the other commits the last batch.
func (r *run) startWriter() {
	r.batches = make(chan any, 2)
	r.done = make(chan error, 1)
	go func() {
		var err error
		for batch := range r.batches {
			if err != nil {
				continue // drain after a failure
			}
			var res store.BatchResult
			switch b := batch.(type) {
			case []order.Order:
				res, err = r.sink.ImportOrders(r.ctx, b)
			case []customer.Record:
				res, err = r.sink.ImportCustomers(r.ctx, b)
			case []product.Product:
				res, err = r.sink.ImportProducts(r.ctx, b)
			case []event.Event:
				res, err = r.sink.ImportEvents(r.ctx, b)
			case []subscription.Update:
				res, err = r.sink.ImportSubscriptions(r.ctx, b)
			case []review.Review:
				res, err = r.sink.ImportReviews(r.ctx, b)
			}
			if err != nil {
				r.failed.Store(true)
				continue
			}
			r.rep.Inserted += res.Inserted
			r.rep.Updated += res.Updated
			r.rep.Unchanged += res.Unchanged
			r.rep.NewCustomers += res.NewCustomers
			r.rep.Merges += res.Merges
			r.rep.MergeCandidates += res.Candidates
		}
		r.done <- err
	}()
}

func (r *run) stopWriter() error {
	if r.batches == nil {
		return nil
	}
	close(r.batches)
	err := <-r.done
	if err != nil {
		return fmt.Errorf("write to the store: %w", err)
	}
	return nil
}

func (r *run) send(batch any) error {
	if r.opt.DryRun {
		return nil
	}
	if r.failed.Load() {
		return errors.New("stopped after a store error")
	}
	select {
	case r.batches <- batch:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// read parses every row, building and sending batches.
func (r *run) read(cr *csv.Reader, bnd *binding, counter *countingReader, start time.Time) error {
	var (
		orders []order.Order
		lines  int
		custs  []customer.Record
		prods  []product.Product
		evs    []event.Event
		subs   []subscription.Update
		revs   []review.Review
		group  *orderGroup
		seen   = map[uint64]int{} // order id hash → first line
	)
	flushOrders := func(force bool) error {
		if len(orders) == 0 || !force && len(orders) < r.opt.BatchSize && lines < 10*r.opt.BatchSize {
			return nil
		}
		err := r.send(orders)
		orders, lines = nil, 0
		return err
	}
	endGroup := func() error {
		if group == nil {
			return nil
		}
		g := group
		group = nil
		r.b.finishOrder(g, r.layout.Channel)
		r.rep.Records++
		if len(g.bad) > 0 {
			r.rejectGroup(g)
			return nil
		}
		orders = append(orders, g.o)
		lines += len(g.o.Lines)
		return flushOrders(false)
	}

	row := &Row{b: bnd}
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		r.rep.Rows++
		if r.opt.Progress != nil && r.rep.Rows%1000 == 0 {
			r.opt.Progress(Progress{Rows: r.rep.Rows, BytesRead: counter.n.Load(), Elapsed: time.Since(start)})
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			r.ew.reject(pe.StartLine, nil, "malformed CSV: "+pe.Err.Error())
			continue
		} else if err != nil {
			return fmt.Errorf("read %s: %w", r.opt.FileName, err)
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			r.rep.Rows--
			continue
		}
		*row = Row{Line: line, rec: rec, b: bnd}
		if msg := checkText(rec); msg != "" {
			if r.opt.Kind == Orders && group != nil && row.Get(FOrderID) == group.id {
				// Part of the current order: it fails with it.
				raw := &rawRow{line: line, rec: append([]string(nil), rec...), errors: []fieldError{{msg: msg}}}
				group.bad = append(group.bad, len(group.rows))
				group.rows = append(group.rows, raw)
			} else {
				r.ew.reject(line, rec, msg)
			}
			continue
		}
		if r.layout.SkipRow != nil && r.layout.SkipRow(row) {
			r.rep.Rows--
			continue
		}
		// Transform errors are the row's first field errors, reported with
		// the rest; an order row that has any takes its whole order down.
		var terrs []fieldError
		if r.layout.Transform != nil {
			terrs = transformErrors(r.layout.Transform(row))
		}
		switch r.opt.Kind {
		case Orders:
			id := jtext.NFKC(row.Get(FOrderID))
			if id == "" {
				r.ew.reject(line, rec, "order_id: empty")
				r.rep.Records++
				r.rep.RejectedRecords++
				continue
			}
			if group == nil || group.id != id {
				if err := endGroup(); err != nil {
					return err
				}
				h := fnv.New64a()
				h.Write([]byte(id))
				key := h.Sum64()
				if first, dup := seen[key]; dup {
					r.ew.reject(line, rec, fmt.Sprintf("order_id: order %s already appeared at line %d; keep all lines of an order together (sort the file by order)", id, first))
					continue
				}
				seen[key] = line
				group = &orderGroup{id: id}
			}
			r.b.addOrderRow(group, row, &rawRow{line: line, rec: append([]string(nil), rec...), errors: terrs})
		case Customers:
			c, fe := r.b.customerRecord(row)
			if err := queue(r, &custs, c, append(terrs, fe...), line, rec); err != nil {
				return err
			}
		case Products:
			p, fe := r.b.productOf(row)
			if err := queue(r, &prods, p, append(terrs, fe...), line, rec); err != nil {
				return err
			}
		case Events:
			e, fe := r.b.eventOf(row)
			if err := queue(r, &evs, e, append(terrs, fe...), line, rec); err != nil {
				return err
			}
		case Subscriptions:
			u, fe := r.b.subscriptionOf(row)
			if err := queue(r, &subs, u, append(terrs, fe...), line, rec); err != nil {
				return err
			}
		case Reviews:
			v, fe := r.b.reviewOf(row)
			if err := queue(r, &revs, v, append(terrs, fe...), line, rec); err != nil {
				return err
			}
		}
	}
	if err := endGroup(); err != nil {
		return err
	}
	if err := flushOrders(true); err != nil {
		return err
	}
	for _, batch := range []struct {
		n int
		v any
	}{{len(custs), custs}, {len(prods), prods}, {len(evs), evs}, {len(subs), subs}, {len(revs), revs}} {
		if batch.n > 0 {
			if err := r.send(batch.v); err != nil {
				return err
			}
		}
	}
	if r.opt.Progress != nil {
		r.opt.Progress(Progress{Rows: r.rep.Rows, BytesRead: counter.n.Load(), Elapsed: time.Since(start)})
	}
	if r.opt.DryRun {
		r.rep.Inserted = r.rep.Records - r.rep.RejectedRecords
	}
	return nil
}

// queue adds one record to its batch, or rejects its row when it has
// errors, and sends the batch when it is full.
func queue[T any](r *run, batch *[]T, v T, fe []fieldError, line int, rec []string) error {
	r.rep.Records++
	if len(fe) > 0 {
		r.rejectRow(line, rec, fe)
		return nil
	}
	*batch = append(*batch, v)
	if len(*batch) < r.opt.BatchSize {
		return nil
	}
	err := r.send(*batch)
	*batch = nil
	return err
}

func (r *run) rejectRow(line int, rec []string, fe []fieldError) {
	r.rep.RejectedRecords++
	r.ew.reject(line, rec, joinErrors(fe))
}

// rejectGroup reports every row of a bad order: the bad ones with their
// reasons, the others as rejected with their order.
func (r *run) rejectGroup(g *orderGroup) {
	r.rep.RejectedRecords++
	var badLines []string
	for _, i := range g.bad {
		badLines = append(badLines, fmt.Sprint(g.rows[i].line))
	}
	for _, raw := range g.rows {
		if len(raw.errors) > 0 {
			r.ew.reject(raw.line, raw.rec, joinErrors(raw.errors))
		} else {
			r.ew.reject(raw.line, raw.rec, fmt.Sprintf("order %s rejected whole: line %s is bad", g.id, strings.Join(dedupe(badLines), ", ")))
		}
	}
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// checkText finds text that did not decode: invalid UTF-8, or replacement
// characters left by a Shift_JIS decoder.
func checkText(rec []string) string {
	for _, f := range rec {
		if strings.IndexByte(f, 0) >= 0 {
			// PostgreSQL cannot store NUL in text; reject the row here
			// rather than fail a whole batch later.
			return "text contains a NUL byte (is this a binary or UTF-16 file?)"
		}
		for i := 0; i < len(f); i++ {
			if f[i] >= 0x80 {
				if !validText(f) {
					return "text is not valid in the file's encoding (is it Shift_JIS? try --encoding shift_jis)"
				}
				break
			}
		}
	}
	return ""
}

func validText(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' {
			return false
		}
	}
	return true
}

// contentKey identifies a row by its content (for rows without an id).
func contentKey(rec []string) string {
	h := fnv.New128a()
	for _, f := range rec {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// errorWriter reports rejected rows to the terminal and the errors file.
type errorWriter struct {
	opt    Options
	header []string
	enc    string
	bom    bool
	rep    *Report
	file   *os.File
	out    io.Writer // file, through the encoder
	csv    *csv.Writer
	lines  int
	closed bool
}

func (e *errorWriter) reject(line int, rec []string, msg string) {
	e.rep.RejectedRows++
	if e.opt.Errors != nil {
		if e.lines < e.opt.MaxErrorLines {
			fmt.Fprintf(e.opt.Errors, "%s:%d: %s\n", e.opt.FileName, line, msg)
		} else if e.lines == e.opt.MaxErrorLines {
			more := ""
			if e.opt.ErrorsPath != "" {
				more = " (every rejected row is in " + e.opt.ErrorsPath + ")"
			}
			fmt.Fprintf(e.opt.Errors, "%s: more rejected rows not shown%s\n", e.opt.FileName, more)
		}
		e.lines++
	}
	if e.opt.ErrorsPath == "" {
		return
	}
	if e.file == nil {
		f, err := os.Create(e.opt.ErrorsPath)
		if err != nil {
			if e.opt.Errors != nil {
				fmt.Fprintf(e.opt.Errors, "cannot write %s: %v\n", e.opt.ErrorsPath, err)
			}
			e.opt.ErrorsPath = ""
			return
		}
		e.file = f
		e.out = encoder(f, e.enc)
		if e.bom && e.enc == EncUTF8 {
			_, _ = io.WriteString(e.out, "\ufeff")
		}
		e.csv = csv.NewWriter(e.out)
		_ = e.csv.Write(append([]string{"line", "error"}, e.header...))
		e.rep.ErrorsFile = e.opt.ErrorsPath
	}
	_ = e.csv.Write(append([]string{fmt.Sprint(line), msg}, rec...))
}

func (e *errorWriter) close() error {
	if e.closed || e.file == nil {
		e.closed = true
		return nil
	}
	e.closed = true
	e.csv.Flush()
	err := e.csv.Error()
	if c, ok := e.out.(io.Closer); ok && e.out != io.Writer(e.file) { // the Shift_JIS encoder holds a tail
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := e.file.Close(); err == nil {
		err = cerr
	}
	return err
}

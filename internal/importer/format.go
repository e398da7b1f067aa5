package importer

import (
	"errors"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
)

// Format is a source system's export layout, per kind.
type Format struct {
	Name  string // used with --format
	Title string // shown in help and docs
	// Encoding is what the system exports when auto-detection cannot tell.
	Encoding string
	Layouts  map[Kind]*Layout
}

// Layout says how one kind of file from a format reads.
type Layout struct {
	// Columns lists, per field, the headers that carry it (first found wins).
	Columns map[Field][]string
	// Signature lists headers that together identify this layout in
	// --format auto.
	Signature []string
	// Channel and Source are the defaults for rows of this layout.
	Channel, Source string
	// Transform fixes up a row after columns are mapped: combine split
	// columns, translate codes, drop non-product lines. It may call Row.Set.
	// An error it returns (an *errs.Error naming the field; several joined
	// with errors.Join) rejects the row with its other problems, and an
	// order row its whole order.
	Transform func(r *Row) error
	// SkipRow reports rows to ignore entirely (not errors), such as the
	// shipping-fee lines of an order export.
	SkipRow func(r *Row) bool
}

var formats = map[string]*Format{}

// register adds a format; each preset's file registers itself.
func register(f *Format) { formats[f.Name] = f }

// FormatNames lists the registered formats.
func FormatNames() []string {
	var names []string
	for n := range formats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupFormat returns a format by name.
func LookupFormat(name string) (*Format, bool) {
	f, ok := formats[name]
	return f, ok
}

// normHeader makes headers comparable: NFKC, trimmed, lower case, with
// spaces, underscores and hyphens removed ("Order ID" = "order_id").
func normHeader(h string) string {
	h = strings.ToLower(strings.TrimSpace(jtext.NFKC(strings.TrimPrefix(h, "\ufeff"))))
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '\u3000':
			return -1
		}
		return r
	}, h)
}

// Mapping is a --map file: it names, per canonical field, the source column
// that holds it, and fixed values for fields the file lacks.
//
//	columns:
//	  order_id: 受注番号
//	  ordered_at: 注文日時
//	defaults:
//	  channel: rakuten
type Mapping struct {
	Columns  map[string]string `yaml:"columns"`
	Defaults map[string]string `yaml:"defaults"`
}

// LoadMapping reads and checks a mapping file for a kind.
func LoadMapping(path string, k Kind) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Mapping
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, errs.Errorf(errs.Invalid, "mapping %s: %v", path, err)
	}
	for name := range m.Columns {
		if _, ok := FieldByName(k, name); !ok && !strings.HasPrefix(name, "attr.") {
			return nil, errs.Errorf(errs.Invalid, "mapping %s: %q is not a field of %s (see docs/formats.md)", path, name, k)
		}
	}
	for name := range m.Defaults {
		if _, ok := FieldByName(k, name); !ok {
			return nil, errs.Errorf(errs.Invalid, "mapping %s: %q is not a field of %s", path, name, k)
		}
	}
	return &m, nil
}

// binding is a layout resolved against one file's header row.
type binding struct {
	kind     Kind
	layout   *Layout
	idx      [numFields]int   // column of each field, -1 when absent
	consts   map[Field]string // --map defaults
	attrs    map[string]int   // attr.NAME columns → index
	byHeader map[string]int   // every normalized header → index
	header   []string
	// personCols are the columns the buyer is read from (built on first use).
	personCols []int
}

// bind matches a header row to a layout (and mapping). It fails when a field
// the kind cannot do without has no column.
func bind(k Kind, l *Layout, header []string, m *Mapping) (*binding, error) {
	b := &binding{kind: k, layout: l, attrs: map[string]int{}, byHeader: map[string]int{}, header: header}
	for i, h := range header {
		n := normHeader(h)
		if _, dup := b.byHeader[n]; !dup {
			b.byHeader[n] = i
		}
		if raw := strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")); strings.HasPrefix(raw, "attr.") && len(raw) > 5 {
			b.attrs[raw[5:]] = i
		}
	}
	for f := range b.idx {
		b.idx[f] = -1
	}
	for f, aliases := range l.Columns {
		for _, a := range aliases {
			if i, ok := b.byHeader[normHeader(a)]; ok {
				b.idx[f] = i
				break
			}
		}
	}
	if m != nil {
		for name, col := range m.Columns {
			if strings.HasPrefix(name, "attr.") {
				i, ok := b.byHeader[normHeader(col)]
				if !ok {
					return nil, errs.Errorf(errs.Invalid, "mapping: column %q (for %s) is not in the file's header", col, name)
				}
				b.attrs[name[5:]] = i
				continue
			}
			f, _ := FieldByName(k, name)
			i, ok := b.byHeader[normHeader(col)]
			if !ok {
				return nil, errs.Errorf(errs.Invalid, "mapping: column %q (for %s) is not in the file's header", col, name)
			}
			b.idx[f] = i
		}
		if len(m.Defaults) > 0 {
			b.consts = map[Field]string{}
			for name, v := range m.Defaults {
				f, _ := FieldByName(k, name)
				b.consts[f] = v
			}
		}
	}
	if missing := b.missing(); len(missing) > 0 {
		return nil, errs.Errorf(errs.Invalid, "the header has no column for %s (found: %s); name the columns with --map", strings.Join(missing, ", "), strings.Join(header, ", "))
	}
	return b, nil
}

func (b *binding) has(f Field) bool {
	if b.idx[f] >= 0 {
		return true
	}
	_, ok := b.consts[f]
	return ok
}

// missing names the required fields the file lacks.
func (b *binding) missing() []string {
	var out []string
	need := func(fs ...Field) {
		for _, f := range fs {
			if b.has(f) {
				return
			}
		}
		names := make([]string, len(fs))
		for i, f := range fs {
			names[i] = FieldName(b.kind, f)
		}
		out = append(out, strings.Join(names, " or "))
	}
	switch b.kind {
	case Customers:
		need(FCustomerID, FEmail, FPhone, FLineUserID)
	case Orders:
		need(FOrderID)
		need(FOrderedAt)
		need(FCustomerID, FEmail, FPhone)
		need(FTotal, FUnitPrice)
	case Products:
		need(FSKU)
	case Events:
		need(FEventName)
		need(FOccurredAt)
		need(FCustomerID, FEmail, FPhone, FAnonymousID, FLineUserID)
	case Subscriptions:
		need(FSubscriptionID)
		need(FCustomerID, FEmail, FPhone, FLineUserID)
		need(FSKU, FProductName)
		need(FCycle)
		need(FStartedAt)
	case Reviews:
		need(FRating)
		need(FReviewedAt)
		need(FSKU, FProductName)
	}
	return out
}

// score says how well a header fits a layout: -1 when its signature is not
// all there, else the number of fields found.
func score(l *Layout, header []string) int {
	have := map[string]bool{}
	for _, h := range header {
		have[normHeader(h)] = true
	}
	for _, s := range l.Signature {
		if !have[normHeader(s)] {
			return -1
		}
	}
	n := 0
	for _, aliases := range l.Columns {
		for _, a := range aliases {
			if have[normHeader(a)] {
				n++
				break
			}
		}
	}
	return n
}

// detect picks the format whose layout for k fits the header best: among
// those whose signature is all there if any, else among all (so that a
// nearly-right file gets a message naming the columns it lacks).
func detect(k Kind, header []string) (*Format, error) {
	var best, loose *Format
	bestScore, looseScore := 0, 0
	for _, name := range FormatNames() {
		f := formats[name]
		l := f.Layouts[k]
		if l == nil {
			continue
		}
		if s := score(l, header); s > bestScore {
			best, bestScore = f, s
		}
		if s := score(&Layout{Columns: l.Columns}, header); s > looseScore {
			loose, looseScore = f, s
		}
	}
	if best == nil && looseScore >= 2 {
		best = loose
	}
	if best == nil {
		return nil, errs.Errorf(errs.Invalid, "cannot tell which system exported this %s file (header: %s); pass --format (%s) or --map",
			k, strings.Join(header, ", "), strings.Join(FormatNames(), ", "))
	}
	return best, nil
}

// Row is one CSV record seen through a binding.
type Row struct {
	Line int
	rec  []string
	b    *binding
	over map[Field]string
}

// Get returns a field's trimmed value ("" when absent).
func (r *Row) Get(f Field) string {
	if v, ok := r.over[f]; ok {
		return v
	}
	if i := r.b.idx[f]; i >= 0 && i < len(r.rec) {
		return strings.TrimSpace(r.rec[i])
	}
	return r.b.consts[f]
}

// Set overrides a field's value (for Transform).
func (r *Row) Set(f Field, v string) {
	if r.over == nil {
		r.over = map[Field]string{}
	}
	r.over[f] = v
}

// Col returns a source column's trimmed value by header ("" when absent).
func (r *Row) Col(header string) string {
	if i, ok := r.b.byHeader[normHeader(header)]; ok && i < len(r.rec) {
		return strings.TrimSpace(r.rec[i])
	}
	return ""
}

// HasCol reports whether the file has a column with this header.
func (r *Row) HasCol(header string) bool {
	_, ok := r.b.byHeader[normHeader(header)]
	return ok
}

func (r *Row) attrs() map[string]string {
	if len(r.b.attrs) == 0 {
		return nil
	}
	m := map[string]string{}
	for name, i := range r.b.attrs {
		if i < len(r.rec) {
			if v := strings.TrimSpace(r.rec[i]); v != "" {
				m[name] = v
			}
		}
	}
	return m
}

// fieldError is a problem with one field of one row.
type fieldError struct {
	field string
	msg   string
}

func (e fieldError) String() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

func ferr(k Kind, f Field, err error) fieldError {
	return fieldError{field: FieldName(k, f), msg: errs.Message(err)}
}

// transformErrors turns what a layout's Transform returned into field
// errors: an *errs.Error keeps its field, and errors.Join'ed errors (a row
// with several bad codes) become one field error each.
func transformErrors(err error) []fieldError {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []fieldError
		for _, e := range j.Unwrap() {
			out = append(out, transformErrors(e)...)
		}
		return out
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return []fieldError{{field: e.Field, msg: e.Message}}
	}
	return []fieldError{{msg: errs.Message(err)}}
}

func joinErrors(es []fieldError) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, "; ")
}

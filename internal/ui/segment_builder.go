package ui

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/segment"
)

// The segment editor's visual condition builder: the root is a group of
// AND (all) or OR (any) over groups, each group AND or OR over rows of
// field, operator and value. That two-level shape is the editor's; deeper
// trees (negations, nested groups) written through the API are edited as
// JSON instead, so nothing is lost by opening them here.

// builder is the editor's state, read from and written to the form.
type builder struct {
	Mode   string // all | any
	Groups []bGroup
	// JSON, when set, is the condition edited as text (trees the rows
	// cannot show); Advanced says the editor shows it.
	JSON     string
	Advanced bool
}

type bGroup struct {
	Mode string
	Rows []bRow
}

// bRow is one leaf: a field, its operator, the value as typed (Value2 is
// between's upper bound) and the qualifiers the field takes.
type bRow struct {
	Field, Op, Value, Value2 string
	Q                        map[string]string
}

// qualifierNames are the leaf qualifiers in the order the editor shows them.
var qualifierNames = []string{"attribute", "channel", "event", "sku", "category", "within_days", "survey_id", "question"}

// Info is the row's field from the catalogue (nil when none is chosen).
func (r bRow) Info() *segment.FieldInfo {
	f, _ := segment.Field(r.Field)
	return f
}

// Ops lists the operators the row's field takes.
func (r bRow) Ops() []string {
	if f := r.Info(); f != nil {
		return segment.Ops(f.Kind)
	}
	return nil
}

// Quals lists the qualifiers the row's field needs or allows.
func (r bRow) Quals() []string {
	f := r.Info()
	if f == nil {
		return nil
	}
	var out []string
	for _, q := range qualifierNames {
		if contains(f.Needs, q) || contains(f.Allows, q) {
			out = append(out, q)
		}
	}
	return out
}

// NoValue reports whether the operator takes no value.
func (r bRow) NoValue() bool {
	switch r.Op {
	case "is_empty", "is_set", "granted", "not_granted", "this_month", "next_month":
		return true
	}
	return false
}

// newBuilder is an empty editor: one group with one empty row.
func newBuilder() *builder {
	return &builder{Mode: "all", Groups: []bGroup{{Mode: "all", Rows: []bRow{{}}}}}
}

// maxBuilderParts bounds what a posted form may describe.
const maxBuilderParts = 100

// parseBuilder reads the editor's state from a posted form.
func parseBuilder(f url.Values) *builder {
	b := &builder{Mode: mode(f.Get("mode")), JSON: f.Get("condition_json"), Advanced: f.Get("advanced") == "1"}
	ng, _ := strconv.Atoi(f.Get("groups"))
	for i := 0; i < min(ng, maxBuilderParts); i++ {
		p := "g" + strconv.Itoa(i)
		g := bGroup{Mode: mode(f.Get(p + ".mode"))}
		nr, _ := strconv.Atoi(f.Get(p + ".rows"))
		for j := 0; j < min(nr, maxBuilderParts); j++ {
			rp := p + ".r" + strconv.Itoa(j) + "."
			row := bRow{Field: f.Get(rp + "field"), Op: f.Get(rp + "op"), Value: f.Get(rp + "value"), Value2: f.Get(rp + "value2"), Q: map[string]string{}}
			for _, q := range qualifierNames {
				if v := strings.TrimSpace(f.Get(rp + q)); v != "" {
					row.Q[q] = v
				}
			}
			row.normalize()
			g.Rows = append(g.Rows, row)
		}
		b.Groups = append(b.Groups, g)
	}
	if len(b.Groups) == 0 && !b.Advanced {
		return newBuilder()
	}
	return b
}

func mode(s string) string {
	if s == "any" {
		return "any"
	}
	return "all"
}

// normalize keeps the operator one the field takes (a changed field
// starts at its first operator).
func (r *bRow) normalize() {
	ops := r.Ops()
	if len(ops) > 0 && !contains(ops, r.Op) {
		r.Op = ops[0]
	}
}

// apply runs an editor command: add_group, add_row:G, remove_row:G:R,
// remove_group:G, advanced, visual.
func (b *builder) apply(cmd string) error {
	parts := strings.Split(cmd, ":")
	idx := func(i int, n int) (int, bool) {
		if len(parts) <= i {
			return 0, false
		}
		v, err := strconv.Atoi(parts[i])
		return v, err == nil && v >= 0 && v < n
	}
	switch parts[0] {
	case "add_group":
		if len(b.Groups) < maxBuilderParts {
			b.Groups = append(b.Groups, bGroup{Mode: "all", Rows: []bRow{{}}})
		}
	case "remove_group":
		if g, ok := idx(1, len(b.Groups)); ok {
			b.Groups = append(b.Groups[:g], b.Groups[g+1:]...)
		}
	case "add_row":
		if g, ok := idx(1, len(b.Groups)); ok && len(b.Groups[g].Rows) < maxBuilderParts {
			b.Groups[g].Rows = append(b.Groups[g].Rows, bRow{})
		}
	case "remove_row":
		if g, ok := idx(1, len(b.Groups)); ok {
			if r, ok := idx(2, len(b.Groups[g].Rows)); ok {
				b.Groups[g].Rows = append(b.Groups[g].Rows[:r], b.Groups[g].Rows[r+1:]...)
			}
		}
	case "advanced":
		// Show the rows' condition as JSON to edit by hand.
		c, err := b.condition()
		if err != nil {
			return err
		}
		js, _ := json.MarshalIndent(c, "", "  ")
		b.JSON, b.Advanced = string(js), true
	case "visual":
		c, err := b.condition()
		if err != nil {
			return err
		}
		nb, ok := builderFor(c)
		if !ok {
			return errs.FieldErrorf("condition", "this condition has negations or nested groups that the visual editor cannot show; keep editing it as JSON")
		}
		*b = *nb
	case "", "refresh":
	default:
		return errs.Errorf(errs.Invalid, "unknown editor command %q", cmd)
	}
	if len(b.Groups) == 0 && !b.Advanced {
		*b = *newBuilder()
	}
	return nil
}

// condition builds the condition the editor describes, validated. Rows
// without a field are ignored; no rows at all means everyone.
func (b *builder) condition() (segment.Condition, error) {
	if b.Advanced {
		src := strings.TrimSpace(b.JSON)
		if src == "" {
			src = "{}"
		}
		return segment.Parse([]byte(src))
	}
	var groups []segment.Condition
	for i, g := range b.Groups {
		var leaves []segment.Condition
		for j, r := range g.Rows {
			if r.Field == "" {
				continue
			}
			leaf, err := r.leaf(fmt.Sprintf("condition.groups[%d].rows[%d]", i, j))
			if err != nil {
				return segment.Condition{}, err
			}
			leaves = append(leaves, leaf)
		}
		switch {
		case len(leaves) == 0:
		case len(leaves) == 1:
			groups = append(groups, leaves[0])
		case g.Mode == "any":
			groups = append(groups, segment.Condition{Any: leaves})
		default:
			groups = append(groups, segment.Condition{All: leaves})
		}
	}
	var c segment.Condition
	switch {
	case len(groups) == 0:
	case b.Mode == "any":
		c = segment.Condition{Any: groups}
	default:
		c = segment.Condition{All: groups}
	}
	if err := c.Validate(); err != nil {
		return segment.Condition{}, err
	}
	return c, nil
}

// leaf turns a row into a condition leaf, typing the value by the field's
// kind and the operator.
func (r bRow) leaf(path string) (segment.Condition, error) {
	f := r.Info()
	if f == nil {
		return segment.Condition{}, errs.FieldErrorf(path+".field", "unknown field %q", r.Field)
	}
	c := segment.Condition{Field: r.Field, Op: r.Op, Attribute: r.Q["attribute"], Channel: r.Q["channel"], Event: r.Q["event"],
		SKU: r.Q["sku"], Category: r.Q["category"], Question: r.Q["question"]}
	for q, dst := range map[string]*int{"within_days": &c.WithinDays} {
		if v := r.Q[q]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return c, errs.FieldErrorf(path+"."+q, "must be a whole number of days")
			}
			*dst = n
		}
	}
	if v := r.Q["survey_id"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, errs.FieldErrorf(path+".survey_id", "must be a survey's id")
		}
		c.SurveyID = n
	}
	if r.NoValue() {
		return c, nil
	}
	scalar := func(s string) (any, error) {
		s = strings.TrimSpace(s)
		switch f.Kind {
		case segment.Number, segment.Count, segment.Month:
			v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
			if err != nil {
				return nil, errs.FieldErrorf(path+".value", "%q is not a number", s)
			}
			return v, nil
		}
		return s, nil
	}
	var v any
	switch r.Op {
	case "in", "not_in":
		var list []any
		for _, s := range splitList(r.Value) {
			x, err := scalar(s)
			if err != nil {
				return c, err
			}
			list = append(list, x)
		}
		v = list
	case "between":
		lo, err := scalar(r.Value)
		if err != nil {
			return c, err
		}
		hi, err := scalar(r.Value2)
		if err != nil {
			return c, err
		}
		v = []any{lo, hi}
	default:
		if strings.TrimSpace(r.Value) == "" && f.Kind == segment.Count && r.Op == ">=" {
			return c, nil // at least once
		}
		if strings.TrimSpace(r.Value) == "" {
			return c, errs.FieldErrorf(path+".value", "%s needs a value", r.Field)
		}
		x, err := scalar(r.Value)
		if err != nil {
			return c, err
		}
		v = x
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return c, err
	}
	c.Value = raw
	return c, nil
}

// splitList reads a typed list: commas (also Japanese 、 and ，) or lines.
func splitList(s string) []string {
	s = strings.NewReplacer("、", ",", "，", ",", "\n", ",").Replace(s)
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// builderFor shows a stored condition in the editor; ok is false for trees
// the rows cannot show (they are edited as JSON).
func builderFor(c segment.Condition) (*builder, bool) {
	if c.IsZero() {
		return newBuilder(), true
	}
	b := &builder{Mode: "all"}
	var children []segment.Condition
	switch {
	case c.Field != "":
		children = []segment.Condition{c}
	case c.All != nil:
		children = c.All
	case c.Any != nil:
		b.Mode, children = "any", c.Any
	default:
		return nil, false
	}
	for _, ch := range children {
		g := bGroup{Mode: "all"}
		var leaves []segment.Condition
		switch {
		case ch.Field != "":
			leaves = []segment.Condition{ch}
		case ch.All != nil:
			leaves = ch.All
		case ch.Any != nil:
			g.Mode, leaves = "any", ch.Any
		default:
			return nil, false
		}
		for _, l := range leaves {
			if l.Field == "" {
				return nil, false
			}
			g.Rows = append(g.Rows, rowFor(l))
		}
		b.Groups = append(b.Groups, g)
	}
	return b, true
}

// rowFor writes a leaf back as the editor's row.
func rowFor(l segment.Condition) bRow {
	r := bRow{Field: l.Field, Op: l.Op, Q: map[string]string{}}
	for q, v := range map[string]string{"attribute": l.Attribute, "channel": l.Channel, "event": l.Event, "sku": l.SKU, "category": l.Category, "question": l.Question} {
		if v != "" {
			r.Q[q] = v
		}
	}
	if l.WithinDays != 0 {
		r.Q["within_days"] = strconv.Itoa(l.WithinDays)
	}
	if l.SurveyID != 0 {
		r.Q["survey_id"] = strconv.FormatInt(l.SurveyID, 10)
	}
	if len(l.Value) > 0 {
		var list []json.RawMessage
		if json.Unmarshal(l.Value, &list) == nil {
			vals := make([]string, len(list))
			for i, x := range list {
				vals[i] = rawText(x)
			}
			if l.Op == "between" && len(vals) == 2 {
				r.Value, r.Value2 = vals[0], vals[1]
			} else {
				r.Value = strings.Join(vals, ", ")
			}
		} else {
			r.Value = rawText(l.Value)
		}
	}
	r.normalize()
	return r
}

// rawText shows a JSON scalar as typed: strings unquoted, numbers as is.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

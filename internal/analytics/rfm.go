// Package analytics holds the customer analytics of enishi: RFM scores and
// segments, CPM groups, deciles, cohorts, KPIs, market-basket measures, the
// BG/NBD and Gamma-Gamma models behind predicted CLV and P(alive), churn
// tiers, replenishment cycles and recommendations. It is plain Go over
// per-customer facts that the store streams to it; it knows no database.
package analytics

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Threshold methods.
const (
	MethodFixed    = "fixed"    // cut points given by the merchant (or the defaults)
	MethodQuintile = "quintile" // cut points at the 20/40/60/80th percentiles of the shop's own data
)

// Thresholds are the cut points of the 1–5 RFM scores. Each list has four
// values from the score 5 boundary down to the score 2 boundary:
// recency ≤ Recency[0] days scores 5, ≤ Recency[1] scores 4 … above
// Recency[3] scores 1; frequency ≥ Frequency[0] orders scores 5 … below
// Frequency[3] scores 1; monetary likewise in yen.
type Thresholds struct {
	Method    string  `json:"method"`
	Recency   []int64 `json:"recency_days"`
	Frequency []int64 `json:"frequency"`
	Monetary  []int64 `json:"monetary"`
}

// DefaultThresholds are the fixed defaults: R ≤30→5, 31–60→4, 61–90→3,
// 91–180→2, ≥181→1; F ≥10→5, 7–9→4, 4–6→3, 2–3→2, ≤1→1; M ≥100,000→5,
// 50,000–99,999→4, 30,000–49,999→3, 10,000–29,999→2, <10,000→1.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Method:    MethodFixed,
		Recency:   []int64{30, 60, 90, 180},
		Frequency: []int64{10, 7, 4, 2},
		Monetary:  []int64{100000, 50000, 30000, 10000},
	}
}

// Validate checks that each list has four cut points in the right order.
func (t Thresholds) Validate() error {
	if t.Method != MethodFixed && t.Method != MethodQuintile {
		return errs.FieldErrorf("thresholds.method", "%q is not fixed or quintile", t.Method)
	}
	if t.Method == MethodQuintile && len(t.Recency) == 0 {
		return nil // cut points come from the data
	}
	check := func(name string, v []int64, ascending bool) error {
		if len(v) != 4 {
			return errs.FieldErrorf("thresholds."+name, "needs 4 cut points (for scores 5, 4, 3 and 2), got %d", len(v))
		}
		for i := 1; i < 4; i++ {
			if ascending && v[i] < v[i-1] || !ascending && v[i] > v[i-1] {
				return errs.FieldErrorf("thresholds."+name, "cut points must be in %s order: %v",
					map[bool]string{true: "ascending", false: "descending"}[ascending], v)
			}
		}
		if v[3] < 0 {
			return errs.FieldErrorf("thresholds."+name, "cut points cannot be negative")
		}
		return nil
	}
	if err := check("recency_days", t.Recency, true); err != nil {
		return err
	}
	if err := check("frequency", t.Frequency, false); err != nil {
		return err
	}
	return check("monetary", t.Monetary, false)
}

// ScoreR scores recency in days (lower is better).
func (t Thresholds) ScoreR(days int64) int {
	for i, c := range t.Recency {
		if days <= c {
			return 5 - i
		}
	}
	return 1
}

// ScoreF scores the number of orders in the window.
func (t Thresholds) ScoreF(n int64) int { return scoreUp(t.Frequency, n) }

// ScoreM scores the yen spent in the window.
func (t Thresholds) ScoreM(yen int64) int { return scoreUp(t.Monetary, yen) }

func scoreUp(cuts []int64, v int64) int {
	for i, c := range cuts {
		if v >= c {
			return 5 - i
		}
	}
	return 1
}

// QuintileThresholds computes cut points from the shop's data: recency
// cut at the 20th, 40th, 60th and 80th percentiles (the most recent fifth
// scores 5); frequency and monetary at the 80th, 60th, 40th and 20th (the
// top fifth scores 5). Ties keep a value in one score, so skewed data
// (most customers with one order) gives uneven groups. The slices are
// sorted in place.
func QuintileThresholds(recency, frequency, monetary []int64) Thresholds {
	slices.Sort(recency)
	slices.Sort(frequency)
	slices.Sort(monetary)
	t := Thresholds{Method: MethodQuintile}
	for _, q := range []float64{0.2, 0.4, 0.6, 0.8} {
		t.Recency = append(t.Recency, percentile(recency, q))
	}
	// A customer at the cut point belongs above it: ≥ cut scores higher.
	for _, q := range []float64{0.8, 0.6, 0.4, 0.2} {
		t.Frequency = append(t.Frequency, upperCut(frequency, q))
		t.Monetary = append(t.Monetary, upperCut(monetary, q))
	}
	return t
}

// percentile returns the value at rank ⌈q·n⌉ (nearest rank) of sorted v.
func percentile(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q*float64(len(v))+0.999999999) - 1
	return v[max(0, min(i, len(v)-1))]
}

// upperCut returns the smallest value of the top (1−q) share of sorted v,
// so that "≥ cut" selects at most that share plus ties.
func upperCut(v []int64, q float64) int64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q * float64(len(v)))
	return v[max(0, min(i, len(v)-1))]
}

// Range bounds a score; 0 means no bound.
type Range struct {
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
}

func (r Range) has(v int) bool { return (r.Min == 0 || v >= r.Min) && (r.Max == 0 || v <= r.Max) }

// SegmentRule is one named RFM segment. A customer belongs to the first
// rule whose three ranges all hold.
type SegmentRule struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	R     Range  `json:"r"`
	F     Range  `json:"f"`
	M     Range  `json:"m"`
}

// Matches reports whether scores r, f, m fall in the rule.
func (s SegmentRule) Matches(r, f, m int) bool { return s.R.has(r) && s.F.has(f) && s.M.has(m) }

// SegmentOther is the segment of customers no rule matches.
const SegmentOther = "other"

// DefaultSegments are the named segments, first match wins: vip (R≥4,F≥4,
// M≥4), loyal 優良 (R≥3,F≥3,M≥3), growing 成長 (R≥3,F≥2,M≥2), new 新規
// (R≥4,F=1), at_risk 休眠リスク (R=2,F≥2), dormant 休眠 (R=1); the rest is other.
func DefaultSegments() []SegmentRule {
	return []SegmentRule{
		{Name: "vip", Label: "VIP", R: Range{Min: 4}, F: Range{Min: 4}, M: Range{Min: 4}},
		{Name: "loyal", Label: "優良", R: Range{Min: 3}, F: Range{Min: 3}, M: Range{Min: 3}},
		{Name: "growing", Label: "成長", R: Range{Min: 3}, F: Range{Min: 2}, M: Range{Min: 2}},
		{Name: "new", Label: "新規", R: Range{Min: 4}, F: Range{Min: 1, Max: 1}},
		{Name: "at_risk", Label: "休眠リスク", R: Range{Min: 2, Max: 2}, F: Range{Min: 2}},
		{Name: "dormant", Label: "休眠", R: Range{Min: 1, Max: 1}},
	}
}

// Segmenter assigns segments by rules.
type Segmenter []SegmentRule

// Segment returns the name of the first matching rule, or "other".
func (s Segmenter) Segment(r, f, m int) string {
	for _, rule := range s {
		if rule.Matches(r, f, m) {
			return rule.Name
		}
	}
	return SegmentOther
}

// Names lists the segment names in rule order, "other" last.
func (s Segmenter) Names() []string {
	out := make([]string, 0, len(s)+1)
	for _, r := range s {
		out = append(out, r.Name)
	}
	return append(out, SegmentOther)
}

// ValidateSegments checks names and score ranges.
func ValidateSegments(rules []SegmentRule) error {
	if len(rules) == 0 {
		return errs.FieldErrorf("segments", "define at least one segment")
	}
	seen := map[string]bool{SegmentOther: true}
	for i, r := range rules {
		if r.Name == "" || strings.Trim(r.Name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return errs.FieldErrorf(fmt.Sprintf("segments[%d].name", i), "%q: use lower-case letters, digits and _", r.Name)
		}
		if seen[r.Name] {
			return errs.FieldErrorf(fmt.Sprintf("segments[%d].name", i), "%q is used twice (or is the reserved \"other\")", r.Name)
		}
		seen[r.Name] = true
		for k, rg := range map[string]Range{"r": r.R, "f": r.F, "m": r.M} {
			if rg.Min < 0 || rg.Min > 5 || rg.Max < 0 || rg.Max > 5 || (rg.Max != 0 && rg.Min > rg.Max) {
				return errs.FieldErrorf(fmt.Sprintf("segments[%d].%s", i, k), "scores run from 1 to 5 (min %d, max %d)", rg.Min, rg.Max)
			}
		}
	}
	return nil
}

// RFMConfig is what the merchant saves (setting "analytics.rfm").
type RFMConfig struct {
	WindowDays int           `json:"window_days"`
	Thresholds Thresholds    `json:"thresholds"`
	Segments   []SegmentRule `json:"segments"`
}

// DefaultRFMConfig is the configuration before the merchant changes it.
func DefaultRFMConfig() RFMConfig {
	return RFMConfig{WindowDays: 365, Thresholds: DefaultThresholds(), Segments: DefaultSegments()}
}

// ParseRFMConfig reads a saved configuration; missing parts keep defaults.
func ParseRFMConfig(raw string) (RFMConfig, error) {
	c := DefaultRFMConfig()
	if strings.TrimSpace(raw) == "" {
		return c, nil
	}
	var in struct {
		WindowDays *int          `json:"window_days"`
		Thresholds *Thresholds   `json:"thresholds"`
		Segments   []SegmentRule `json:"segments"`
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return c, errs.Errorf(errs.Invalid, "RFM settings are not valid JSON: %v", err)
	}
	if in.WindowDays != nil {
		c.WindowDays = *in.WindowDays
	}
	if in.Thresholds != nil {
		t, err := completeThresholds(*in.Thresholds)
		if err != nil {
			return c, err
		}
		c.Thresholds = t
	}
	if in.Segments != nil {
		c.Segments = in.Segments
	}
	return c, c.Validate()
}

// ParseThresholds reads thresholds from JSON (a file given to --thresholds).
func ParseThresholds(raw []byte) (Thresholds, error) {
	var t Thresholds
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, errs.Errorf(errs.Invalid, "thresholds are not valid JSON (%v); expected {\"recency_days\":[30,60,90,180],\"frequency\":[10,7,4,2],\"monetary\":[100000,50000,30000,10000]}", err)
	}
	return completeThresholds(t)
}

func completeThresholds(t Thresholds) (Thresholds, error) {
	if t.Method == "" {
		t.Method = MethodFixed
	}
	return t, t.Validate()
}

// Validate checks the whole configuration.
func (c RFMConfig) Validate() error {
	if c.WindowDays < 1 || c.WindowDays > 3660 {
		return errs.FieldErrorf("window_days", "must be between 1 and 3660, got %d", c.WindowDays)
	}
	if err := c.Thresholds.Validate(); err != nil {
		return err
	}
	return ValidateSegments(c.Segments)
}

// RFMFacts are one customer's inputs to RFM as of a day.
type RFMFacts struct {
	CustomerID  int64
	RecencyDays int64 // days since the last paid order (ever, up to as-of)
	Frequency   int64 // paid orders in the window
	Monetary    int64 // yen of paid orders in the window
}

// RFMRow is one customer's scored RFM (the per-customer CSV).
type RFMRow struct {
	RFMFacts
	R, F, M int
	Segment string
}

// RFMReport is the report `rfm`.
type RFMReport struct {
	AsOf         string           `json:"as_of"`
	WindowDays   int              `json:"window_days"`
	Thresholds   Thresholds       `json:"thresholds"`
	Customers    int64            `json:"customers"`
	Prospects    int64            `json:"prospects"` // customers who never ordered, left out
	Segments     map[string]int64 `json:"segments"`
	SegmentOrder []string         `json:"segment_order"`
	GridRF       [5][5]int64      `json:"grid_rf"` // [r-1][f-1]
}

// NewRFMReport starts an empty report with every segment at zero.
func NewRFMReport(asOf string, window int, t Thresholds, seg Segmenter) *RFMReport {
	r := &RFMReport{AsOf: asOf, WindowDays: window, Thresholds: t, Segments: map[string]int64{}, SegmentOrder: seg.Names()}
	for _, n := range r.SegmentOrder {
		r.Segments[n] = 0
	}
	return r
}

// Score scores one customer's facts.
func Score(f RFMFacts, t Thresholds, seg Segmenter) RFMRow {
	row := RFMRow{RFMFacts: f, R: t.ScoreR(f.RecencyDays), F: t.ScoreF(f.Frequency), M: t.ScoreM(f.Monetary)}
	row.Segment = seg.Segment(row.R, row.F, row.M)
	return row
}

// Add counts a scored customer into the report.
func (r *RFMReport) Add(row RFMRow) { r.AddCount(row.R, row.F, row.Segment, 1) }

// AddCount counts n customers with scores rs and fs in segment seg.
func (r *RFMReport) AddCount(rs, fs int, seg string, n int64) {
	r.Customers += n
	r.Segments[seg] += n
	r.GridRF[rs-1][fs-1] += n
}

// MovementReport is the report `rfm-movement`: customers counted by their
// segment at From (rows) and at To (columns). "none" is a customer who had
// not ordered yet at that date.
type MovementReport struct {
	From       string                      `json:"from"`
	To         string                      `json:"to"`
	WindowDays int                         `json:"window_days"`
	Segments   []string                    `json:"segments"` // row and column order, "none" first
	Matrix     map[string]map[string]int64 `json:"matrix"`   // from → to → customers
	Customers  int64                       `json:"customers"`
	Stayed     int64                       `json:"stayed"`
}

// SegmentNone is the movement report's segment for not-yet customers.
const SegmentNone = "none"

// NewMovementReport returns a zeroed matrix over the segments.
func NewMovementReport(from, to string, window int, seg Segmenter) *MovementReport {
	names := append([]string{SegmentNone}, seg.Names()...)
	m := &MovementReport{From: from, To: to, WindowDays: window, Segments: names, Matrix: map[string]map[string]int64{}}
	for _, a := range names {
		m.Matrix[a] = map[string]int64{}
		for _, b := range names {
			m.Matrix[a][b] = 0
		}
	}
	return m
}

// Add counts a customer moving from segment a to b.
func (m *MovementReport) Add(a, b string) {
	m.Matrix[a][b]++
	m.Customers++
	if a == b {
		m.Stayed++
	}
}

// SortedKeys returns a map's keys in order (helper for text output).
func SortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

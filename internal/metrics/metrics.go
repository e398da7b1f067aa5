// Package metrics is a small registry of counters and gauges rendered in
// the Prometheus text exposition format (version 0.0.4) at /metrics. Any
// package registers its own metrics on the registry it is given; there is
// no global registry.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Registry holds metrics by name.
type Registry struct {
	mu      sync.Mutex
	metrics map[string]metric
}

type metric interface {
	write(w io.Writer) error
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{metrics: map[string]metric{}} }

func (r *Registry) add(name string, m metric) {
	if !validName(name) {
		panic(fmt.Sprintf("metrics: invalid name %q", name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.metrics[name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	r.metrics[name] = m
}

// WriteText writes every metric, sorted by name, in the text format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	ms := make([]metric, len(names))
	sort.Strings(names)
	for i, n := range names {
		ms[i] = r.metrics[n]
	}
	r.mu.Unlock()
	for _, m := range ms {
		if err := m.write(w); err != nil {
			return err
		}
	}
	return nil
}

// ContentType is the media type of WriteText's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// vec holds values by label values.
type vec struct {
	name, help, typ string
	labels          []string
	mu              sync.Mutex
	values          map[string]*float64
	keys            map[string][]string
}

func newVec(name, help, typ string, labels []string) *vec {
	return &vec{name: name, help: help, typ: typ, labels: labels, values: map[string]*float64{}, keys: map[string][]string{}}
}

func (v *vec) slot(lv []string) *float64 {
	if len(lv) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", v.name, len(v.labels), len(lv)))
	}
	k := strings.Join(lv, "\xff")
	p, ok := v.values[k]
	if !ok {
		p = new(float64)
		v.values[k] = p
		v.keys[k] = append([]string(nil), lv...)
	}
	return p
}

func (v *vec) write(w io.Writer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", v.name, escapeHelp(v.help), v.name, v.typ); err != nil {
		return err
	}
	if len(v.labels) == 0 && len(v.values) == 0 {
		_, err := fmt.Fprintf(w, "%s 0\n", v.name)
		return err
	}
	keys := make([]string, 0, len(v.values))
	for k := range v.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s%s %s\n", v.name, labelText(v.labels, v.keys[k]), formatValue(*v.values[k])); err != nil {
			return err
		}
	}
	return nil
}

// Counter is a value that only goes up (per label values).
type Counter struct{ v *vec }

// NewCounter registers a counter; by convention its name ends in _total.
func (r *Registry) NewCounter(name, help string, labels ...string) *Counter {
	c := &Counter{v: newVec(name, help, "counter", labels)}
	r.add(name, c.v)
	return c
}

// Add adds n (≥ 0) for the given label values.
func (c *Counter) Add(n float64, labelValues ...string) {
	if n < 0 {
		panic("metrics: counters only go up")
	}
	c.v.mu.Lock()
	*c.v.slot(labelValues) += n
	c.v.mu.Unlock()
}

// Inc adds one.
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Value returns the current value for the label values.
func (c *Counter) Value(labelValues ...string) float64 {
	c.v.mu.Lock()
	defer c.v.mu.Unlock()
	return *c.v.slot(labelValues)
}

// Gauge is a value that goes up and down.
type Gauge struct{ v *vec }

// NewGauge registers a gauge.
func (r *Registry) NewGauge(name, help string, labels ...string) *Gauge {
	g := &Gauge{v: newVec(name, help, "gauge", labels)}
	r.add(name, g.v)
	return g
}

// Set sets the value for the label values.
func (g *Gauge) Set(x float64, labelValues ...string) {
	g.v.mu.Lock()
	*g.v.slot(labelValues) = x
	g.v.mu.Unlock()
}

// Value returns the current value for the label values.
func (g *Gauge) Value(labelValues ...string) float64 {
	g.v.mu.Lock()
	defer g.v.mu.Unlock()
	return *g.v.slot(labelValues)
}

// GaugeFunc is a gauge read when scraped.
type gaugeFunc struct {
	name, help string
	fn         func() (float64, bool)
}

// NewGaugeFunc registers a gauge whose value fn computes at each scrape; fn
// returns false when it has no value (the sample is left out).
func (r *Registry) NewGaugeFunc(name, help string, fn func() (float64, bool)) {
	r.add(name, &gaugeFunc{name: name, help: help, fn: fn})
}

func (g *gaugeFunc) write(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", g.name, escapeHelp(g.help), g.name); err != nil {
		return err
	}
	if x, ok := g.fn(); ok {
		_, err := fmt.Fprintf(w, "%s %s\n", g.name, formatValue(x))
		return err
	}
	return nil
}

func labelText(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(values[i]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escapeHelp(s string) string { return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s) }

func formatValue(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	case math.IsNaN(x):
		return "NaN"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// LatencyBuckets are upper bounds in seconds for request latency.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram counts observations in buckets (per label values), with their
// sum and count, as Prometheus histograms do.
type Histogram struct {
	name, help string
	labels     []string
	bounds     []float64
	mu         sync.Mutex
	series     map[string]*histSeries
}

type histSeries struct {
	values  []string
	buckets []uint64 // cumulative counts per bound
	sum     float64
	count   uint64
}

// NewHistogram registers a histogram with the given bucket upper bounds
// (ascending; +Inf is implied).
func (r *Registry) NewHistogram(name, help string, bounds []float64, labels ...string) *Histogram {
	h := &Histogram{name: name, help: help, labels: labels, bounds: append([]float64(nil), bounds...), series: map[string]*histSeries{}}
	r.add(name, h)
	return h
}

// Observe records one value for the label values.
func (h *Histogram) Observe(x float64, labelValues ...string) {
	if len(labelValues) != len(h.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", h.name, len(h.labels), len(labelValues)))
	}
	k := strings.Join(labelValues, "\xff")
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.series[k]
	if !ok {
		s = &histSeries{values: append([]string(nil), labelValues...), buckets: make([]uint64, len(h.bounds))}
		h.series[k] = s
	}
	for i, b := range h.bounds {
		if x <= b {
			s.buckets[i]++
		}
	}
	s.sum += x
	s.count++
}

func (h *Histogram) write(w io.Writer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", h.name, escapeHelp(h.help), h.name); err != nil {
		return err
	}
	keys := make([]string, 0, len(h.series))
	for k := range h.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	names := append(append([]string(nil), h.labels...), "le")
	for _, k := range keys {
		s := h.series[k]
		for i, b := range h.bounds {
			if _, err := fmt.Fprintf(w, "%s_bucket%s %d\n", h.name, labelText(names, append(append([]string(nil), s.values...), formatValue(b))), s.buckets[i]); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "%s_bucket%s %d\n%s_sum%s %s\n%s_count%s %d\n",
			h.name, labelText(names, append(append([]string(nil), s.values...), "+Inf")), s.count,
			h.name, labelText(h.labels, s.values), formatValue(s.sum), h.name, labelText(h.labels, s.values), s.count); err != nil {
			return err
		}
	}
	return nil
}

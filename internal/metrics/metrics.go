// Package metrics keeps enishi's Prometheus metrics and writes them in the
// text exposition format (version 0.0.4) for GET /metrics. It is small on
// purpose: counters, gauges and histograms with labels, safe for concurrent
// use, no client library.
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
	funcs   []func(w io.Writer) // collectors that read their values when scraped
}

type metric interface {
	write(w io.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{metrics: map[string]metric{}} }

func (r *Registry) register(name string, m metric) metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.metrics[name]; ok {
		return old
	}
	r.metrics[name] = m
	return m
}

// Write writes every metric, sorted by name.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	ms := make([]metric, len(names))
	for i, n := range names {
		ms[i] = r.metrics[n]
	}
	funcs := append([]func(io.Writer){}, r.funcs...)
	r.mu.Unlock()
	for _, m := range ms {
		m.write(w)
	}
	for _, f := range funcs {
		f(w)
	}
}

// GaugeFunc registers a gauge whose value is read at scrape time.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.funcs = append(r.funcs, func(w io.Writer) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, num(f()))
	})
}

type vec struct {
	name, help, kind string
	labels           []string
	mu               sync.Mutex
	series           map[string]*series
}

type series struct {
	labels  string
	value   float64
	buckets []uint64
	sum     float64
	count   uint64
}

func (v *vec) get(values []string) *series {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	var b strings.Builder
	for i, l := range v.labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l + `="` + escapeLabel(values[i]) + `"`)
	}
	key := b.String()
	s := v.series[key]
	if s == nil {
		s = &series{labels: key}
		v.series[key] = s
	}
	return s
}

func (v *vec) sorted() []*series {
	out := make([]*series, 0, len(v.series))
	for _, s := range v.series {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].labels < out[j].labels })
	return out
}

// CounterVec is a counter with labels.
type CounterVec struct{ v *vec }

// Counter registers (or returns the registered) counter.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	return r.register(name, &CounterVec{&vec{name: name, help: help, kind: "counter", labels: labels, series: map[string]*series{}}}).(*CounterVec)
}

// Add adds delta (≥ 0) to the series with the given label values.
func (c *CounterVec) Add(delta float64, labelValues ...string) {
	c.v.mu.Lock()
	c.v.get(labelValues).value += delta
	c.v.mu.Unlock()
}

// Inc adds one.
func (c *CounterVec) Inc(labelValues ...string) { c.Add(1, labelValues...) }

func (c *CounterVec) write(w io.Writer) { c.v.writeSimple(w) }

// GaugeVec is a gauge with labels.
type GaugeVec struct{ v *vec }

// Gauge registers (or returns the registered) gauge.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	return r.register(name, &GaugeVec{&vec{name: name, help: help, kind: "gauge", labels: labels, series: map[string]*series{}}}).(*GaugeVec)
}

// Set sets the series' value.
func (g *GaugeVec) Set(v float64, labelValues ...string) {
	g.v.mu.Lock()
	g.v.get(labelValues).value = v
	g.v.mu.Unlock()
}

func (g *GaugeVec) write(w io.Writer) { g.v.writeSimple(w) }

func (v *vec) writeSimple(w io.Writer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", v.name, v.help, v.name, v.kind)
	for _, s := range v.sorted() {
		fmt.Fprintf(w, "%s%s %s\n", v.name, braces(s.labels), num(s.value))
	}
}

// HistogramVec is a histogram with labels.
type HistogramVec struct {
	v      *vec
	bounds []float64
}

// DefaultLatencyBuckets are upper bounds in seconds for request latency.
var DefaultLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram registers (or returns the registered) histogram.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return r.register(name, &HistogramVec{v: &vec{name: name, help: help, kind: "histogram", labels: labels, series: map[string]*series{}}, bounds: buckets}).(*HistogramVec)
}

// Observe records one value.
func (h *HistogramVec) Observe(value float64, labelValues ...string) {
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	s := h.v.get(labelValues)
	if s.buckets == nil {
		s.buckets = make([]uint64, len(h.bounds))
	}
	for i, b := range h.bounds {
		if value <= b {
			s.buckets[i]++
		}
	}
	s.sum += value
	s.count++
}

func (h *HistogramVec) write(w io.Writer) {
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", h.v.name, h.v.help, h.v.name)
	for _, s := range h.v.sorted() {
		sep := ""
		if s.labels != "" {
			sep = ","
		}
		for i, b := range h.bounds {
			fmt.Fprintf(w, "%s_bucket{%s%sle=\"%s\"} %d\n", h.v.name, s.labels, sep, num(b), s.buckets[i])
		}
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", h.v.name, s.labels, sep, s.count)
		fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", h.v.name, braces(s.labels), num(s.sum), h.v.name, braces(s.labels), s.count)
	}
}

func braces(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

func num(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

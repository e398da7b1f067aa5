package metrics

import (
	"strings"
	"testing"
)

func TestTextFormat(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("enishi_ingest_processed_total", "Messages processed.", "kind")
	c.Add(3, "segment")
	c.Inc("shop\"ify")
	g := r.NewGauge("enishi_queue_depth", "Requests waiting.")
	g.Set(7)
	r.NewGaugeFunc("enishi_lag_seconds", "Age of the oldest waiting request.", func() (float64, bool) { return 1.5, true })
	r.NewGaugeFunc("enishi_absent", "No value.", func() (float64, bool) { return 0, false })
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP enishi_absent No value.
# TYPE enishi_absent gauge
# HELP enishi_ingest_processed_total Messages processed.
# TYPE enishi_ingest_processed_total counter
enishi_ingest_processed_total{kind="segment"} 3
enishi_ingest_processed_total{kind="shop\"ify"} 1
# HELP enishi_lag_seconds Age of the oldest waiting request.
# TYPE enishi_lag_seconds gauge
enishi_lag_seconds 1.5
# HELP enishi_queue_depth Requests waiting.
# TYPE enishi_queue_depth gauge
enishi_queue_depth 7
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestDuplicateAndBadNamesPanic(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("a_total", "")
	for _, name := range []string{"a_total", "bad-name", "9x"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q did not panic", name)
				}
			}()
			r.NewCounter(name, "")
		}()
	}
}

func TestHistogramExposition(t *testing.T) {
	r := NewRegistry()
	h := r.NewHistogram("req_seconds", "Latency.", []float64{0.1, 1}, "route", "code")
	for i := 0; i < 100; i++ {
		h.Observe(0.05, "GET /x", "2xx")
	}
	h.Observe(0.5, "GET /x", "2xx")
	h.Observe(3, `POST /"y"`, "5xx")
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE req_seconds histogram",
		`req_seconds_bucket{route="GET /x",code="2xx",le="0.1"} 100`,
		`req_seconds_bucket{route="GET /x",code="2xx",le="1"} 101`,
		`req_seconds_bucket{route="GET /x",code="2xx",le="+Inf"} 101`,
		`req_seconds_count{route="GET /x",code="2xx"} 101`,
		`req_seconds_bucket{route="POST /\"y\"",code="5xx",le="1"} 0`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

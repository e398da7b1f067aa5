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

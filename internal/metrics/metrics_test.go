package metrics

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestExpositionFormat(t *testing.T) {
	r := NewRegistry()
	h := r.Histogram("http_request_duration_seconds", "Request latency.", []float64{0.1, 1}, "route", "code")
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); h.Observe(0.05, "GET /x", "2xx") }()
	}
	wg.Wait()
	h.Observe(0.5, "GET /x", "2xx")
	h.Observe(3, `POST /"y"`, "5xx")
	c := r.Counter("enishi_things_total", "Things.", "kind")
	c.Inc("a")
	c.Add(2, "a")
	r.GaugeFunc("enishi_queue_depth", "Depth.", func() float64 { return 7 })
	var buf bytes.Buffer
	r.Write(&buf)
	out := buf.String()
	for _, want := range []string{
		"# TYPE http_request_duration_seconds histogram",
		`http_request_duration_seconds_bucket{route="GET /x",code="2xx",le="0.1"} 100`,
		`http_request_duration_seconds_bucket{route="GET /x",code="2xx",le="1"} 101`,
		`http_request_duration_seconds_bucket{route="GET /x",code="2xx",le="+Inf"} 101`,
		`http_request_duration_seconds_count{route="GET /x",code="2xx"} 101`,
		`http_request_duration_seconds_bucket{route="POST /\"y\"",code="5xx",le="1"} 0`,
		`enishi_things_total{kind="a"} 3`,
		"enishi_queue_depth 7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if r.Counter("enishi_things_total", "Things.", "kind") != c {
		t.Fatal("registering twice made a second counter")
	}
}

// Command latency measures request latency of an enishi API or UI path
// over a running server: N sequential GETs with ids drawn uniformly from
// 1..max-id substituted for {id}, printing p50/p95/p99 in milliseconds.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server URL")
	path := flag.String("path", "/api/v1/customers/{id}", "path; {id} is replaced by a random id")
	key := flag.String("key", "", "API key (Bearer)")
	maxID := flag.Int64("max-id", 1000, "largest id")
	n := flag.Int("n", 2000, "requests")
	warm := flag.Int("warm", 200, "warm-up requests not counted")
	label := flag.String("label", "", "label printed before the numbers")
	flag.Parse()

	client := &http.Client{Timeout: 30 * time.Second}
	r := rand.New(rand.NewPCG(1, 2))
	var lat []float64
	errors := 0
	for i := 0; i < *warm+*n; i++ {
		id := 1 + r.Int64N(*maxID)
		req, _ := http.NewRequest("GET", *base+strings.ReplaceAll(*path, "{id}", strconv.FormatInt(id, 10)), nil)
		if *key != "" {
			req.Header.Set("Authorization", "Bearer "+*key)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			errors++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode >= 500 || resp.StatusCode == 401 || resp.StatusCode == 403 {
			errors++
		}
		if i >= *warm {
			lat = append(lat, float64(d.Microseconds())/1000)
		}
	}
	if len(lat) == 0 {
		fmt.Fprintln(os.Stderr, "no successful requests")
		os.Exit(1)
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("%s p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  (%d requests, %d errors)\n", *label, q(0.50), q(0.95), q(0.99), len(lat), errors)
	if errors > 0 {
		os.Exit(1)
	}
}

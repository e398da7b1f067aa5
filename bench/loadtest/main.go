// Command loadtest (make loadtest) runs a bounded load test against one
// enishi server on the loopback interface: concurrent event ingestion, API
// writes and reads, and order imports, for a fixed time. It reports
// throughput and latency per kind of work, the errors (expected: 0), and
// checks that every accepted write is stored exactly once.
//
// Events go through the store's ImportEvents (the path the event API's
// inbox drains into); when the HTTP event API lands, point -ingest-path at
// it to send them over HTTP instead.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enishi-crm/enishi/bench/benchstore"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/event"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/importer"
)

const maxDuration = 10 * time.Minute

type stat struct {
	mu   sync.Mutex
	lat  []time.Duration
	errs int
	ops  int
}

func (s *stat) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	if err != nil {
		s.errs++
		if s.errs <= 3 {
			log.Printf("error: %v", err)
		}
		return
	}
	s.lat = append(s.lat, d)
}

func (s *stat) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	return s.lat[min(len(s.lat)-1, int(float64(len(s.lat))*p))]
}

func main() {
	duration := flag.Duration("duration", 2*time.Minute, "how long to run (at most 10m)")
	readers := flag.Int("readers", 4, "concurrent API readers")
	writers := flag.Int("writers", 2, "concurrent API writers (notes)")
	ingesters := flag.Int("ingesters", 2, "concurrent event ingesters (batches of 100)")
	dbURL := flag.String("database-url", os.Getenv("ENISHI_DATABASE_URL"), "PostgreSQL URL; default a temporary SQLite file")
	flag.Parse()
	if *duration <= 0 || *duration > maxDuration {
		log.Fatalf("-duration must be between 0 and %s", maxDuration)
	}
	ctx := context.Background()
	var path string
	if *dbURL == "" {
		dir, err := os.MkdirTemp("", "enishi-loadtest-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "load.db")
	}
	db, err := benchstore.Open(ctx, path, *dbURL, clock.Real{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	run := fmt.Sprintf("lt%d", time.Now().UnixNano())
	_, key, err := enishihttp.CreateAPIKey(ctx, db, "loadtest "+run, []string{"customers:read", "customers:write", "pii:read", "reports:read"}, "loadtest")
	if err != nil {
		log.Fatal(err)
	}
	// Loopback only: the server listens on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: enishihttp.New(enishihttp.Config{Store: db})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// Seed customers through an import.
	seed := func(from, n int) *bytes.Buffer {
		var b bytes.Buffer
		b.WriteString("order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\n")
		for i := from; i < from+n; i++ {
			fmt.Fprintf(&b, "%s-%d,%s-C%d,%s-c%d@example.com,顧客 %d,2026-01-%02d,1200,SKU-%d,1,1200\n", run, i, run, i%5000, run, i%5000, i, 1+i%28, i%50)
		}
		return &b
	}
	if _, err := importer.Run(ctx, db, seed(0, 5000), importer.Options{Kind: importer.Orders, Format: "enishi", Encoding: "utf-8"}); err != nil {
		log.Fatal(err)
	}
	first, _, err := db.SearchCustomers(ctx, customer.Query{Q: run + "-c1@example.com", Limit: 1})
	if err != nil || len(first) == 0 {
		log.Fatalf("seed customer: %v", err)
	}
	cid := first[0].ID

	stats := map[string]*stat{"api read": {}, "api write": {}, "ingest batch": {}, "import batch": {}}
	var notes, events, orderIDs atomic.Int64
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	do := func(method, path string, body any) error {
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
		}
		return nil
	}
	timed := func(name string, f func() error) {
		t0 := time.Now()
		err := f()
		stats[name].add(time.Since(t0), err)
	}
	for w := 0; w < *readers; w++ {
		wg.Go(func() {
			paths := []string{"/api/v1/customers/%d", "/api/v1/customers?q=%s-c2", "/api/v1/customers/%d/orders", "/api/v1/stats"}
			for n := 0; time.Now().Before(deadline); n++ {
				p := paths[n%len(paths)]
				if strings.Contains(p, "%d") {
					p = fmt.Sprintf(p, cid+int64(n%4000))
				} else if strings.Contains(p, "%s") {
					p = fmt.Sprintf(p, run)
				}
				timed("api read", func() error { return do("GET", p, nil) })
			}
		})
	}
	for w := 0; w < *writers; w++ {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				timed("api write", func() error {
					err := do("POST", fmt.Sprintf("/api/v1/customers/%d/notes", cid), map[string]string{"body": fmt.Sprintf("%s w%d n%d", run, w, n)})
					if err == nil {
						notes.Add(1)
					}
					return err
				})
			}
		})
	}
	for w := 0; w < *ingesters; w++ {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				batch := make([]event.Event, 100)
				for i := range batch {
					email, _ := identity.EmailID(fmt.Sprintf("%s-c%d@example.com", run, (n*100+i)%5000))
					batch[i] = event.Event{Type: "track", Name: "page", OccurredAt: time.Now(), Source: "loadtest",
						MessageID: fmt.Sprintf("%s-%d-%d-%d", run, w, n, i), Actor: customer.Record{Identifiers: []identity.Identifier{email}}}
				}
				timed("ingest batch", func() error {
					res, err := db.ImportEvents(ctx, batch)
					if err == nil {
						events.Add(int64(res.Inserted))
						if n%10 == 0 { // a retry of the same batch stores nothing
							again, err := db.ImportEvents(ctx, batch)
							if err == nil && again.Inserted != 0 {
								err = fmt.Errorf("a retried batch stored %d events again", again.Inserted)
							}
							return err
						}
					}
					return err
				})
			}
		})
	}
	wg.Go(func() {
		for n := 0; time.Now().Before(deadline); n++ {
			from := 5000 + n*500
			timed("import batch", func() error {
				rep, err := importer.Run(ctx, db, seed(from, 500), importer.Options{Kind: importer.Orders, Format: "enishi", Encoding: "utf-8"})
				if err == nil {
					orderIDs.Add(int64(rep.Inserted))
					if rep.RejectedRows > 0 {
						err = fmt.Errorf("import rejected %d rows", rep.RejectedRows)
					}
				}
				return err
			})
		}
	})
	wg.Wait()
	elapsed := *duration

	fmt.Printf("enishi load test: %s on loopback, %s backend, %d readers, %d writers, %d ingesters, 1 importer\n",
		elapsed, db.Backend(), *readers, *writers, *ingesters)
	fmt.Printf("%-14s %10s %10s %10s %10s %8s\n", "work", "ops", "ops/s", "p50", "p99", "errors")
	failed := false
	for _, name := range []string{"api read", "api write", "ingest batch", "import batch"} {
		s := stats[name]
		fmt.Printf("%-14s %10d %10.1f %10s %10s %8d\n", name, s.ops, float64(s.ops)/elapsed.Seconds(), s.pct(0.50).Round(time.Microsecond), s.pct(0.99).Round(time.Microsecond), s.errs)
		failed = failed || s.errs > 0
	}
	// Exactly once: what was accepted is what is stored.
	var storedNotes, storedEvents, storedOrders int64
	_ = db.Read.QueryRowContext(ctx, `SELECT count(*) FROM notes WHERE body LIKE $1`, run+" %").Scan(&storedNotes)
	_ = db.Read.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE message_id LIKE $1`, run+"-%").Scan(&storedEvents)
	_ = db.Read.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE external_id LIKE $1`, run+"-%").Scan(&storedOrders)
	check := func(what string, accepted, stored int64) {
		ok := "ok"
		if accepted != stored {
			ok, failed = "MISMATCH", true
		}
		fmt.Printf("exactly once: %-7s accepted %9d stored %9d  %s\n", what, accepted, stored, ok)
	}
	check("notes", notes.Load(), storedNotes)
	check("events", events.Load(), storedEvents)
	check("orders", orderIDs.Load()+5000, storedOrders)
	fmt.Printf("events per second stored: %.0f\n", float64(storedEvents)/elapsed.Seconds())
	if failed {
		os.Exit(1)
	}
}

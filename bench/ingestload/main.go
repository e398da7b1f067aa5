// Command ingestload benchmarks real-time ingestion (make bench, section
// ingest). Modes:
//
//	-mode direct   store the events with store.ImportEvents in batched
//	               transactions: the baseline
//	-mode setup    migrate a database, create an API key and a generic
//	               webhook secret, print the key
//	-mode http     post the same events to a running `enishi serve` as
//	               /v1/batch requests from -clients clients, wait until the
//	               inbox is drained, print p50/p99 request latency; with
//	               -probe, also send a signed order webhook every 250 ms and
//	               measure how long until it shows in the customer 360
//
// Every mode prints "elapsed_s=…" and key=value results on stdout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
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
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/store"
)

// probeSecret signs the probe webhooks (source "bench").
const probeSecret = "bench-generic-secret"

func main() {
	mode := flag.String("mode", "http", "direct | setup | http")
	dbPath := flag.String("db", "", "SQLite file")
	dbURL := flag.String("database-url", "", "PostgreSQL URL")
	url := flag.String("url", "http://127.0.0.1:18090", "enishi's address (http mode)")
	key := flag.String("key", "", "API key with ingest:write, ingest:identify and reports:read (http mode)")
	events := flag.Int("events", 100_000, "events to send")
	batch := flag.Int("batch", 100, "events per request or transaction")
	clients := flag.Int("clients", 8, "concurrent clients (http mode)")
	users := flag.Int("users", 10_000, "distinct users")
	probe := flag.Bool("probe", false, "measure time-to-visible of webhooks under the load (http mode)")
	flag.Parse()
	ctx := context.Background()
	var err error
	switch *mode {
	case "direct":
		err = direct(ctx, openDB(*dbPath, *dbURL), *events, *batch, *users)
	case "setup":
		err = setup(ctx, openDB(*dbPath, *dbURL))
	case "http":
		err = load(*url, *key, *events, *batch, *clients, *users, *probe)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestload:", err)
		os.Exit(1)
	}
}

func openDB(path, url string) *store.DB {
	db, err := benchstore.Open(context.Background(), path, url, clock.Real{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestload:", err)
		os.Exit(1)
	}
	return db
}

// message i of the load: a product view by a logged-in user with the
// browser's anonymous id, as a server-side library would send it.
func message(i, users int) (user, anon, sku string) {
	u := (i * 7919) % users
	return fmt.Sprintf("u%d", u), fmt.Sprintf("anon-%d", u), fmt.Sprintf("SKU-%d", i%500)
}

func direct(ctx context.Context, db *store.DB, n, batch, users int) error {
	defer db.Close()
	start := time.Now()
	now := time.Now().UTC()
	for lo := 0; lo < n; lo += batch {
		evs := make([]event.Event, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			user, anon, sku := message(i, users)
			props, _ := json.Marshal(map[string]any{"sku": sku, "price": 1200})
			evs = append(evs, event.Event{Type: "track", Name: event.ProductViewed, OccurredAt: now, Source: "bench", MessageID: fmt.Sprintf("m-%d", i),
				AnonymousID: anon, SKU: sku, Properties: props, Actor: customer.Record{Identifiers: []identity.Identifier{
					identity.ExternalID("bench", user), {Kind: identity.Anonymous, Value: anon, Weak: true}}}})
		}
		if _, err := db.ImportEvents(ctx, evs); err != nil {
			return err
		}
	}
	el := time.Since(start)
	fmt.Printf("elapsed_s=%.3f events_per_s=%.0f\n", el.Seconds(), float64(n)/el.Seconds())
	return nil
}

func setup(ctx context.Context, db *store.DB) error {
	defer db.Close()
	_, key, err := enishihttp.CreateAPIKey(ctx, db, "bench", []string{"ingest:write", "ingest:identify", "reports:read", "customers:read", "pii:read"}, "bench")
	if err != nil {
		return err
	}
	if err := (ingest.SettingsSecrets{Store: db}).SetSecret(ctx, ingest.SecretGeneric("bench"), probeSecret); err != nil {
		return err
	}
	fmt.Println(key)
	return nil
}

type client struct {
	url, key string
	hc       *http.Client
}

func (c *client) do(method, path string, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func load(url, key string, n, batch, clients, users int, probe bool) error {
	c := &client{url: url, key: key, hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	errc := make(chan error, clients)
	start := time.Now()
	stopProbe := make(chan struct{})
	probeDone := make(chan []time.Duration, 1)
	if probe {
		go func() { probeDone <- probes(c, stopProbe) }()
	}
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(batch))) - batch
				if lo >= n {
					return
				}
				var b bytes.Buffer
				b.WriteString(`{"batch":[`)
				for i := lo; i < min(lo+batch, n); i++ {
					user, anon, sku := message(i, users)
					if i > lo {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"type":"track","event":"Product Viewed","userId":%q,"anonymousId":%q,"messageId":"m-%d","properties":{"sku":%q,"price":1200}}`,
						user, anon, i, sku)
				}
				b.WriteString(`]}`)
				t0 := time.Now()
				code, body, err := c.do("POST", "/v1/batch", b.Bytes(), nil)
				d := time.Since(t0)
				if err == nil && code != 200 {
					err = fmt.Errorf("HTTP %d: %s", code, body)
				}
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	accepted := time.Since(start)
	// Sustained ingest ends when the last event is stored.
	for {
		code, body, err := c.do("GET", "/api/v1/ingest/status", nil, nil)
		if err != nil || code != 200 {
			return fmt.Errorf("status: %d %s %v", code, body, err)
		}
		var st struct {
			Pending int `json:"pending"`
			Dead    int `json:"dead"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			return err
		}
		if st.Dead > 0 {
			return fmt.Errorf("%d requests in the dead-letter list", st.Dead)
		}
		if st.Pending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	el := time.Since(start)
	close(stopProbe)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	fmt.Printf("elapsed_s=%.3f accepted_s=%.3f events_per_s=%.0f requests=%d p50_ms=%.1f p99_ms=%.1f\n",
		el.Seconds(), accepted.Seconds(), float64(n)/el.Seconds(), len(lat), pct(0.5), pct(0.99))
	if probe {
		vis := <-probeDone
		if len(vis) == 0 {
			return fmt.Errorf("no probe finished")
		}
		sort.Slice(vis, func(i, j int) bool { return vis[i] < vis[j] })
		fmt.Printf("visible_n=%d visible_p50_ms=%d visible_max_ms=%d\n", len(vis), vis[len(vis)/2].Milliseconds(), vis[len(vis)-1].Milliseconds())
	}
	return nil
}

// probes sends a signed order webhook every 250 ms until stop, and for each
// measures the time from its 2xx until the order is in the customer 360.
func probes(c *client, stop chan struct{}) []time.Duration {
	var out []time.Duration
	for i := 0; ; i++ {
		select {
		case <-stop:
			return out
		case <-time.After(250 * time.Millisecond):
		}
		email := fmt.Sprintf("probe-%d-%d@example.com", time.Now().UnixNano(), i)
		body := []byte(fmt.Sprintf(`{"id":"probe-%s","type":"order.created","data":{"id":"P-%s","ordered_at":%q,"status":"paid","total":1000,
			"customer":{"email":%q},"lines":[{"sku":"PROBE","name":"probe","quantity":1,"unit_price":1000}]}}`,
			email, email, time.Now().UTC().Format(time.RFC3339), email))
		code, _, err := c.do("POST", "/webhooks/generic/bench", body, map[string]string{"X-Enishi-Signature": ingest.SignGeneric(probeSecret, time.Now(), body)})
		if err != nil || code != 200 {
			fmt.Fprintln(os.Stderr, "probe:", code, err)
			continue
		}
		acked := time.Now()
		for time.Since(acked) < 30*time.Second {
			code, b, err := c.do("GET", "/api/v1/customers?q="+email, nil, nil)
			if err == nil && code == 200 && strings.Contains(string(b), `"order_count":1`) {
				out = append(out, time.Since(acked))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

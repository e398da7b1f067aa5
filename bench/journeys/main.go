// Command journeys benchmarks segments and the journey engine on a
// generated store (bench/sections/journeys.sh runs it):
//
//	journeys gen -db F | -database-url U -customers N
//	journeys run -db F | -database-url U [-engine-customers N]
//
// gen fills an empty store with bulk SQL (the importer would take many
// minutes for a million customers): customers 1…N, a prefecture each, and
// one to a few paid orders for every third customer, aggregates included.
// run measures, printing "name value" lines:
//
//   - schedule_1m: a segment of every customer is built, then a journey
//     triggered by entering it (include_existing) is enabled: every member
//     is enrolled and scheduled in that transaction;
//   - steps_per_s: the engine walks engine-customers enrollments through a
//     journey of sends (to the in-process fake channel), a wait and a tag,
//     beside insert_per_s, a bare loop of one-row INSERT transactions on
//     the same store, and their ratio;
//   - reeval_ms: with twenty segments defined, one new order is imported and
//     the customer's segments re-evaluated through the change feed (p50 and
//     p95 over 50 orders).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/enishi-crm/enishi/bench/benchstore"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/engine"
	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"

	"github.com/enishi-crm/enishi/internal/customer"
)

// Now is the benchmark's clock: 2026-04-01 12:00 JST (outside quiet hours).
var Now = time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: journeys gen|run [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	path := fs.String("db", "", "SQLite file")
	url := fs.String("database-url", "", "PostgreSQL URL")
	customers := fs.Int("customers", 1_000_000, "customers to generate")
	engineCustomers := fs.Int("engine-customers", 50_000, "enrollments the engine walks through for steps/s")
	profile := fs.String("cpuprofile", "", "write a CPU profile of run to this file")
	_ = fs.Parse(os.Args[2:])
	if *profile != "" {
		f, err := os.Create(*profile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	c := clock.NewManual(Now, true)
	db, err := benchstore.Open(ctx, *path, *url, c)
	check(err)
	defer db.Close()
	switch os.Args[1] {
	case "gen":
		gen(ctx, db, *customers)
	case "run":
		run(ctx, db, c, *engineCustomers)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "journeys bench:", err)
		os.Exit(1)
	}
}

func gen(ctx context.Context, db *store.DB, customers int) {
	now := Now.UnixMilli()
	span := int64(2 * 365 * 86_400_000)
	seq := "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g) AS s"
	rnd := "(abs(random()) %% %d)"
	if db.Backend() == "postgres" {
		seq, rnd = "generate_series(1, %d) AS s(i)", "floor(random() * %d)::bigint"
	}
	r := func(n int64) string { return fmt.Sprintf(rnd, n) }
	start := time.Now()
	prefs := `CASE i %% 5 WHEN 0 THEN '東京都' WHEN 1 THEN '大阪府' WHEN 2 THEN '神奈川県' WHEN 3 THEN '愛知県' ELSE '福岡県' END`
	_, err := db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO customers (id, email, prefecture, birthday, created_at, updated_at)
		SELECT i, 'u' || i || '@example.com', `+prefs+`, '1990-' || substr('0' || (1 + i %% 12), -2) || '-15', %d, %d FROM `+seq,
		now-span, now-span, customers))
	check(err)
	_, err = db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO identities (customer_id, origin_customer_id, kind, source, value, created_at)
		SELECT i, i, 'email', '', 'u' || i || '@example.com', %d FROM `+seq, now-span, customers))
	check(err)
	orders := customers / 3 * 2
	_, err = db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO orders (id, source, external_id, customer_id, origin_customer_id, ordered_at, status,
		channel, total, content_hash, created_at, updated_at)
		SELECT i, 'bench', 'o' || i, c, c, %d - %s, 'paid', 'own_ec', 500 + 100 * %s, i, %d, %d
		FROM (SELECT i, 3 * (1 + %s) AS c FROM `+seq+`) x`,
		now, r(span), r(200), now, now, r(int64(customers/3-1)), orders))
	check(err)
	_, err = db.Write.ExecContext(ctx, `UPDATE customers SET order_count = a.n, total_spent = a.s, first_order_at = a.f, last_order_at = a.l
		FROM (SELECT customer_id, count(*) AS n, sum(total) AS s, min(ordered_at) AS f, max(ordered_at) AS l FROM orders WHERE status = 'paid' GROUP BY customer_id) a
		WHERE customers.id = a.customer_id`)
	check(err)
	if db.Backend() == "postgres" {
		for _, t := range []string{"customers", "orders"} {
			_, err := db.Write.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), (SELECT max(id) FROM `+t+`))`)
			check(err)
		}
		_, err = db.Write.ExecContext(ctx, `ANALYZE`)
	} else {
		_, err = db.Write.ExecContext(ctx, `ANALYZE`)
	}
	check(err)
	fmt.Printf("gen %.1f %d customers, %d orders\n", time.Since(start).Seconds(), customers, orders)
}

func cond(s string) segment.Condition {
	c, err := segment.Parse([]byte(s))
	check(err)
	return c
}

func run(ctx context.Context, db *store.DB, c *clock.Manual, engineCustomers int) {
	check(db.SetMessagingRules(ctx, outbox.Rules{})) // delivery speed, not rules
	// 1. A journey whose trigger matches every customer.
	start := time.Now()
	all, err := db.CreateSegment(ctx, segment.Segment{Name: "全員", Condition: cond(`{}`)})
	check(err)
	segSecs := time.Since(start).Seconds()
	j, err := db.CreateJourney(ctx, journey.Journey{Name: "全員に", Trigger: journey.Trigger{Type: journey.TriggerSegmentEnter, SegmentID: all.ID, IncludeExisting: true},
		Steps: []journey.Step{{ID: "w", Type: journey.StepWait, Duration: journey.Duration{Duration: 24 * time.Hour}, Next: "m"},
			{ID: "m", Type: journey.StepSend, Channel: message.Email, Content: &journey.Content{Text: "x"}}}})
	check(err)
	start = time.Now()
	_, err = db.SetJourneyStatus(ctx, j.ID, journey.Enabled)
	check(err)
	schedSecs := time.Since(start).Seconds()
	st, err := db.JourneyStats(ctx, j.ID)
	check(err)
	fmt.Printf("segment_build %.2f %d members\n", segSecs, all.MemberCount)
	fmt.Printf("schedule_1m %.2f %d enrolled\n", schedSecs, st.Entered)
	_, err = db.SetJourneyStatus(ctx, j.ID, journey.Archived) // out of the way of what follows
	check(err)

	// 2. Engine throughput: send, wait, send, tag for engineCustomers.
	ids := make([]int64, 0, engineCustomers)
	for i := 1; len(ids) < engineCustomers; i++ {
		ids = append(ids, int64(i))
	}
	ej, err := db.CreateJourney(ctx, journey.Journey{Name: "throughput", Trigger: journey.Trigger{Type: journey.TriggerEvent, Event: "bench"},
		Steps: []journey.Step{
			{ID: "s1", Type: journey.StepSend, Channel: message.Email, Content: &journey.Content{Text: "1"}, Next: "w"},
			{ID: "w", Type: journey.StepWait, Duration: journey.Duration{Duration: time.Hour}, Next: "s2"},
			{ID: "s2", Type: journey.StepSend, Channel: message.Email, Content: &journey.Content{Text: "2"}, Next: "t"},
			{ID: "t", Type: journey.StepTag, AddTags: []string{"bench"}},
		}})
	check(err)
	ej, err = db.SetJourneyStatus(ctx, ej.ID, journey.Enabled)
	check(err)
	cands := make([]journey.Candidate, len(ids))
	for i, id := range ids {
		cands[i] = journey.Candidate{CustomerID: id, Key: fmt.Sprintf("bench:%d", id)}
	}
	_, err = db.Enroll(ctx, ej, cands)
	check(err)
	ch := fakechannel.New(c)
	eng := engine.New(db, c, engine.Config{Dispatcher: ch})
	start = time.Now()
	check(eng.Drain(ctx))
	c.Advance(time.Hour)
	check(eng.Drain(ctx))
	secs := time.Since(start).Seconds()
	est, err := db.JourneyStats(ctx, ej.ID)
	check(err)
	steps := int64(0)
	for _, s := range est.Steps {
		steps += s.Entered
	}
	if est.Exits["completed"] != int64(len(ids)) || len(ch.Sent()) != 2*len(ids) {
		check(fmt.Errorf("engine run incomplete: %+v, %d sent", est.Exits, len(ch.Sent())))
	}
	fmt.Printf("engine_secs %.2f %d steps, %d messages\n", secs, steps, len(ch.Sent()))
	fmt.Printf("steps_per_s %.0f\n", float64(steps)/secs)
	// The baseline: one-row INSERT transactions, the least a durable step costs.
	_, err = db.Write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_baseline (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, step TEXT NOT NULL, at BIGINT NOT NULL)`)
	check(err)
	n := 20000
	start = time.Now()
	for i := 0; i < n; i++ {
		_, err := db.Write.ExecContext(ctx, `INSERT INTO bench_baseline (id, customer_id, step, at) VALUES ($1, $2, $3, $4)`, i, i, "s", Now.UnixMilli())
		check(err)
	}
	fmt.Printf("insert_per_s %.0f\n", float64(n)/time.Since(start).Seconds())

	// 3. Re-evaluation after one order, with twenty segments defined.
	for i, q := range []string{
		`{"field":"order_count","op":">=","value":2}`, `{"field":"total_spent","op":">=","value":30000}`,
		`{"field":"prefecture","op":"=","value":"東京都"}`, `{"field":"days_since_last_order","op":">=","value":180}`,
		`{"field":"days_since_last_order","op":"<=","value":30}`, `{"field":"birthday_month","op":"this_month"}`,
		`{"field":"bought","within_days":90}`, `{"field":"aov","op":">","value":10000}`,
		`{"field":"tag","op":"has","value":"VIP"}`, `{"field":"consent","channel":"email","op":"granted"}`,
		`{"all":[{"field":"order_count","op":">=","value":3},{"field":"prefecture","op":"in","value":["東京都","神奈川県"]}]}`,
		`{"any":[{"field":"order_count","op":"=","value":1},{"field":"days_since_first_order","op":"<=","value":60}]}`,
		`{"field":"event","event":"Product Viewed","within_days":7}`, `{"field":"sales_channel","op":"in","value":["rakuten"]}`,
		`{"not":{"field":"order_count","op":">=","value":1}}`, `{"field":"last_order_at","op":"after","value":"2026-01-01"}`,
		`{"field":"total_spent","op":"between","value":[5000,20000]}`, `{"field":"email","op":"contains","value":"example"}`,
		`{"field":"bought","sku":"SKU-1"}`, `{"field":"order_count","op":">=","value":5}`,
	} {
		_, err := db.CreateSegment(ctx, segment.Segment{Name: fmt.Sprintf("seg%02d", i), Condition: cond(q)})
		check(err)
	}
	check(eng.Drain(ctx))
	var lat, imp []float64
	for i := 0; i < 50; i++ {
		cid := int64(3 * (i + 1) * 997)
		email := fmt.Sprintf("u%d@example.com", cid)
		id, err := identity.EmailID(email)
		check(err)
		o := order.Order{Source: "bench", ExternalID: fmt.Sprintf("new-%d", i), OrderedAt: c.Now(), Status: order.Paid, Channel: "own_ec", Total: 20000,
			Lines: []order.Line{{LineNo: 1, SKU: "SKU-1", Quantity: 1, UnitPrice: 20000, Amount: 20000}},
			Buyer: customer.Record{Identifiers: []identity.Identifier{id}}}
		start := time.Now()
		_, err = db.ImportOrders(ctx, []order.Order{o})
		check(err)
		mid := time.Now()
		check(eng.Drain(ctx))
		imp = append(imp, float64(mid.Sub(start).Microseconds())/1000)
		lat = append(lat, float64(time.Since(mid).Microseconds())/1000)
	}
	sort.Float64s(lat)
	sort.Float64s(imp)
	fmt.Printf("import_one_order_ms_p50 %.1f\n", imp[len(imp)/2])
	fmt.Printf("reeval_ms_p50 %.1f\nreeval_ms_p95 %.1f\n", lat[len(lat)/2], lat[len(lat)*95/100])
}

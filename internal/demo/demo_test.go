package demo

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// now is the end of the demo history in the tests: 2026-04-01 12:00 JST.
var now = time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)

func generate(t *testing.T, open storetest.Opener, people int, seed int64) (*store.DB, Result) {
	t.Helper()
	db := open(t, clock.NewManual(now, true))
	var done, total int
	progress := func(d, n int) { done, total = d, n }
	res, err := Generate(context.Background(), db, Options{Customers: people, Seed: seed, Now: now, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if done != people || total != people {
		t.Errorf("last progress %d of %d; want %d of %d", done, total, people, people)
	}
	return db, res
}

func count(t *testing.T, db *store.DB, query string) int {
	t.Helper()
	var n int
	if err := db.Read.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestGenerateWritesAPlausibleShop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db, res := generate(t, open, 500, 42)
		st, err := db.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := Result{Customers: int(st.Customers), Orders: int(st.Orders), LineItems: int(st.LineItems), Products: int(st.Products), Events: int(st.Events),
			Subscriptions: count(t, db, `SELECT count(*) FROM subscriptions`), Reviews: count(t, db, `SELECT count(*) FROM reviews`),
			SurveyResponses: count(t, db, `SELECT count(*) FROM survey_responses`), Inquiries: count(t, db, `SELECT count(*) FROM inquiries`)}
		if res != want {
			t.Errorf("result %+v, store has %+v", res, want)
		}
		checkVoice(t, db, res)
		if res.Customers < 400 || res.Customers > 600 || res.Orders < 500 || res.Events == 0 || res.Products < 40 || res.Products > 80 {
			t.Errorf("implausible counts for 500 people: %+v", res)
		}
		storetest.CheckIntegrity(t, db)

		buyers := count(t, db, `SELECT count(*) FROM customers WHERE status = 'active' AND order_count > 0`)
		once := count(t, db, `SELECT count(*) FROM customers WHERE status = 'active' AND order_count = 1`)
		often := count(t, db, `SELECT count(*) FROM customers WHERE status = 'active' AND order_count >= 5`)
		if share := float64(once) / float64(buyers); share < 0.40 || share > 0.85 {
			t.Errorf("one-time buyers are %.0f%% of %d buyers; want 40–85%%", share*100, buyers)
		}
		if often == 0 {
			t.Error("no customer has 5 or more orders")
		}
		aov := count(t, db, `SELECT CAST(sum(total_spent) AS bigint) / CAST(sum(order_count) AS bigint) FROM customers WHERE status = 'active'`)
		t.Logf("%+v; %d buyers, %d once, %d with 5+ orders, AOV %d yen, %d merges", res, buyers, once, often, aov,
			count(t, db, `SELECT count(*) FROM merges`))
		if aov < 4000 || aov > 8000 {
			t.Errorf("AOV %d yen; want 4,000–8,000", aov)
		}

		if n := count(t, db, `SELECT count(*) FROM merges`); n == 0 {
			t.Error("identity resolution merged nobody")
		}
		multi := count(t, db, `SELECT count(*) FROM (SELECT customer_id FROM orders GROUP BY customer_id HAVING count(DISTINCT channel) > 1) x`)
		if multi == 0 {
			t.Error("nobody is filed with orders from more than one channel")
		}
		if n := count(t, db, `SELECT count(*) FROM customers c WHERE c.status = 'active' AND NOT EXISTS (SELECT 1 FROM identities i
			WHERE i.customer_id = c.id AND i.kind IN ('email', 'phone', 'external'))`); n != 0 {
			t.Errorf("%d active customers have no e-mail, phone or external id", n)
		}
		if n := count(t, db, `SELECT count(*) FROM identities WHERE kind = 'line'`); n == 0 {
			t.Error("no LINE user ids")
		}
		if n := count(t, db, `SELECT count(*) FROM identities WHERE kind = 'email' AND weak AND value LIKE '%@pc.fw.rakuten.ne.jp'`); n == 0 {
			t.Error("no masked 楽天 addresses")
		}
		if n := count(t, db, `SELECT count(*) FROM identities WHERE kind = 'email' AND NOT weak
			AND value NOT LIKE '%@example.com' AND value NOT LIKE '%@example.jp' AND value NOT LIKE '%@example.ne.jp'
			AND value NOT LIKE '%@example.co.jp' AND value NOT LIKE '%@example.net' AND value NOT LIKE '%@example.org'`); n != 0 {
			t.Errorf("%d e-mail addresses outside the example domains", n)
		}
		if n := count(t, db, `SELECT count(*) FROM consent_records WHERE channel = 'email' AND granted`); n < res.Customers/3 {
			t.Errorf("only %d e-mail opt-ins", n)
		}
		if n := count(t, db, `SELECT count(*) FROM orders WHERE status IN ('cancelled', 'refunded')`); n == 0 || n > res.Orders/10 {
			t.Errorf("%d cancelled or refunded of %d orders", n, res.Orders)
		}
		// Carts abandoned in the last ten days: added, and no order since.
		cutoff := now.Add(-10 * 24 * time.Hour).UnixMilli()
		if n := count(t, db, `SELECT count(DISTINCT e.customer_id) FROM events e WHERE e.name = 'Product Added' AND e.occurred_at > `+itoa(cutoff)+`
			AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = e.customer_id AND o.ordered_at > e.occurred_at)`); n == 0 {
			t.Error("no recently abandoned carts")
		}

		var last, first, kana, pref string
		err = db.Read.QueryRowContext(context.Background(), `SELECT last_name, first_name, last_name_kana, prefecture FROM customers
			WHERE status = 'active' AND last_name <> '' AND last_name_kana <> '' ORDER BY id LIMIT 1`).Scan(&last, &first, &kana, &pref)
		if err != nil {
			t.Fatal(err)
		}
		if !isHan(last) || !isKatakana(kana) || pref == "" {
			t.Errorf("first customer is %q %q (%q) in %q; want a Japanese name in kanji and katakana", last, first, kana, pref)
		}
	})
}

func TestSameSeedGivesSameData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		a, ra := generate(t, open, 300, 7)
		b, rb := generate(t, open, 300, 7)
		if ra != rb {
			t.Fatalf("results differ: %+v and %+v", ra, rb)
		}
		ctx := context.Background()
		sa, _ := a.Stats(ctx)
		sb, _ := b.Stats(ctx)
		if sa != sb {
			t.Fatalf("stats differ: %+v and %+v", sa, sb)
		}
		// The customers with the most orders and with the most identifiers
		// exercise most of the generator.
		for _, q := range []string{
			`SELECT id FROM customers WHERE status = 'active' ORDER BY order_count DESC, id LIMIT 1`,
			`SELECT customer_id FROM identities GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1`,
			`SELECT min(id) FROM customers`,
		} {
			id := count(t, a, q)
			va, err := a.CustomerView(ctx, int64(id), store.ViewOptions{TimelineLimit: 500})
			if err != nil {
				t.Fatal(err)
			}
			vb, err := b.CustomerView(ctx, int64(id), store.ViewOptions{TimelineLimit: 500})
			if err != nil {
				t.Fatal(err)
			}
			ja, _ := json.Marshal(va)
			jb, _ := json.Marshal(vb)
			if string(ja) != string(jb) {
				t.Errorf("customer %d differs between runs:\n%s\n%s", id, ja, jb)
			}
		}
		_, rc := generate(t, open, 300, 8)
		if rc == ra {
			t.Error("a different seed gave the same counts")
		}
	})
}

func TestGenerateStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t, clock.NewManual(now, true))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	_, err := Generate(ctx, db, Options{Customers: 3 * groupSize, Now: now, Progress: func(int, int) { calls++; cancel() }})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Generate returned %v after %d groups; want context.Canceled after 1", err, calls)
	}
}

func TestGenerateReturnsSinkErrors(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t, clock.NewManual(now, true))
	// Closing the store after the first group fails the next write while
	// the next group is being generated.
	_, err := Generate(context.Background(), db, Options{Customers: 6 * groupSize, Now: now, Progress: func(int, int) { db.Close() }})
	if err == nil {
		t.Fatal("Generate ignored a failing sink")
	}
}

func isHan(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) && r != '々' && !unicode.Is(unicode.Hiragana, r) && !unicode.Is(unicode.Katakana, r) {
			return false
		}
	}
	return s != ""
}

func isKatakana(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.Katakana, r) && r != 'ー' {
			return false
		}
	}
	return s != ""
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// BenchmarkGenerateSQLite measures generation into SQLite, the default
// store; `enishi demo --customers 100000` should take well under a minute.
func BenchmarkGenerateSQLite(b *testing.B) {
	const people = 5000
	for b.Loop() {
		b.StopTimer()
		db := storetest.SQLite(b, clock.NewManual(now, true))
		b.StartTimer()
		if _, err := Generate(context.Background(), db, Options{Customers: people, Seed: 1, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(people*b.N)/b.Elapsed().Seconds(), "customers/s")
}

// checkVoice checks the demo's subscribers, reviews, survey answers and
// inquiries look like a real shop's.
func checkVoice(t *testing.T, db *store.DB, res Result) {
	t.Helper()
	ctx := context.Background()
	if res.Subscriptions < 10 || res.Reviews < 10 || res.SurveyResponses < 10 || res.Inquiries < 5 {
		t.Fatalf("too little voice data: %+v", res)
	}
	rep, err := db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByNone, MaxDelivery: 6})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Total.Survival
	if s[1] == nil || s[3] == nil || *s[1] > 0.85 || *s[1] < 0.4 || *s[3] >= *s[1] {
		t.Errorf("retention does not decay like a D2C book: %+v", rep.Total)
	}
	if n := count(t, db, `SELECT count(*) FROM subscription_deliveries WHERE order_id IS NULL`); n != 0 {
		t.Errorf("%d deliveries without their order", n)
	}
	if n := count(t, db, `SELECT count(*) FROM inquiries i JOIN inquiry_tags t ON t.inquiry_id = i.id WHERE t.tag = '解約相談'`); n == 0 {
		t.Error("no cancellation inquiries")
	}
	if n := count(t, db, `SELECT count(*) FROM reviews WHERE customer_id IS NULL`); n != 0 {
		t.Errorf("%d reviews filed under nobody", n)
	}
	r, err := db.SurveyResults(ctx, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if r.Responses != int64(res.SurveyResponses) || r.ResponseRate < 0.2 || r.ResponseRate > 0.6 || r.Questions[3].NPS == nil {
		t.Errorf("survey results %+v", r)
	}
	if _, err := db.RefreshSubscriptionRisk(ctx); err != nil {
		t.Errorf("the risk model cannot be fitted on the demo: %v", err)
	}
}

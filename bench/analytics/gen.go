package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/store"
)

// Truth is the process the benchmark's customers are drawn from, so that
// the fitted models can be checked against known parameters. Purchases
// follow BG/NBD (Fader, Hardie & Lee 2005) in weeks: each customer buys at
// a Poisson rate λ ~ Gamma(R, Alpha) and, after each repeat purchase,
// drops out with probability p ~ Beta(A, B). Order values follow
// Gamma-Gamma: a customer's mean is set by ν ~ Gamma(Q, Gamma) and each
// order is ~ Gamma(P, ν) yen. First purchases are spread uniformly over
// SpanWeeks before the clock. Alpha is chosen (calibrate) so that the
// expected number of orders is the one asked for.
type Truth struct {
	Customers int     `json:"customers"`
	Orders    int     `json:"orders"` // generated (paid and cancelled)
	Paid      int     `json:"paid"`
	Seed      uint64  `json:"seed"`
	SpanWeeks float64 `json:"span_weeks"`
	R         float64 `json:"r"`
	Alpha     float64 `json:"alpha"`
	A         float64 `json:"a"`
	B         float64 `json:"b"`
	P         float64 `json:"p"`
	Q         float64 `json:"q"`
	Gamma     float64 `json:"gamma"`
}

// defaultTruth: a shop open for five years whose customers mostly buy a
// handful of times (median 7 orders, 1% over 45) and whose mean order
// value is P·Gamma/(Q−1) = 6,000 yen. Ten orders per customer over a short
// history would mean many customers buying several times a week, and
// merging their same-day orders (as the model reads them) would bias the
// fitted α; over five years about 2% of repeat purchases fall on the day
// of the previous one.
func defaultTruth(customers int) Truth {
	return Truth{Customers: customers, Seed: 2026, SpanWeeks: 5 * 365 / 7.0, R: 3, A: 0.8, B: 8, P: 6, Q: 4, Gamma: 3000}
}

// cancelRate is the share of purchases that also leave a cancelled order
// (never counted by analytics, but scanned past).
const cancelRate = 0.02

func (t Truth) models(alpha float64) (analytics.BGNBD, analytics.GammaGamma) {
	return analytics.BGNBD{R: t.R, Alpha: alpha, A: t.A, B: t.B}, analytics.GammaGamma{P: t.P, Q: t.Q, V: t.Gamma}
}

// simulate draws customer id's history: how many weeks before the clock
// they first bought and their purchase times after that (0 first), from
// the customer's own random stream, so the same id always gets the same
// history whatever the batch or backend. The stream goes on to draw their
// order values.
func (t Truth) simulate(id uint64, alpha float64, buf []float64) (float64, []float64, *rand.Rand) {
	rng := rand.New(rand.NewPCG(t.Seed, id))
	bg, _ := t.models(alpha)
	span := rng.Float64() * t.SpanWeeks
	return span, bg.SimulateCustomer(rng, span, buf[:0]), rng
}

// calibrate finds the Alpha that gives paidPerCustomer orders on average,
// by bisection on a fixed sample (the count falls as Alpha grows: every
// gap between purchases scales with it).
func (t Truth) calibrate(paidPerCustomer float64) float64 {
	const sample = 20000
	lo, hi := math.Log(1e-4), math.Log(1e5)
	var buf []float64
	for range 60 {
		mid := (lo + hi) / 2
		n := 0
		for i := range sample {
			_, buf, _ = t.simulate(uint64(1<<40+i), math.Exp(mid), buf)
			n += len(buf)
		}
		if float64(n)/sample > paidPerCustomer {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

// gen fills an empty store with the simulated customers (with their email
// identities and order aggregates, as the importer would leave them) and
// their orders, through multi-row INSERTs in transactions of about 200,000
// orders. Going through the importer would take hours for 10M orders.
func gen(ctx context.Context, db *store.DB, customers, orders int, truthFile string) {
	t := defaultTruth(customers)
	timed("gen_calibrate", func() { t.Alpha = t.calibrate(float64(orders) / float64(customers) / (1 + cancelRate)) })
	now := Now.UnixMilli()
	const week = 7 * 86_400_000
	channels := []string{"own_ec", "own_ec", "own_ec", "own_ec", "own_ec", "own_ec", "own_ec", "own_ec", "rakuten", "amazon"}
	timed("gen_load", func() {
		var tx *sql.Tx
		var cs, ids, os *loader
		begin := func() {
			var err error
			tx, err = db.Write.BeginTx(ctx, nil)
			check(err)
			cs = newLoader(db, tx, `INSERT INTO customers (id, email, created_at, updated_at, order_count, total_spent, first_order_at, last_order_at)`, 8)
			ids = newLoader(db, tx, `INSERT INTO identities (customer_id, origin_customer_id, kind, source, value, weak, created_at)`, 7)
			os = newLoader(db, tx, `INSERT INTO orders (id, source, external_id, customer_id, origin_customer_id, ordered_at, status, channel, total,
				content_hash, created_at, updated_at)`, 12)
		}
		commit := func() {
			cs.flush()
			ids.flush()
			os.flush()
			check(tx.Commit())
		}
		begin()
		var buf []float64
		orderID := int64(0)
		pending := 0
		_, gg := t.models(t.Alpha)
		for c := 1; c <= customers; c++ {
			var span float64
			var rng *rand.Rand
			span, buf, rng = t.simulate(uint64(c), t.Alpha, buf)
			nu := gg.SimulateSpender(rng)
			first := now - int64(span*week)
			var spent int64
			for _, w := range buf {
				at := first + int64(w*week)
				total := max(100, int64(math.Round(gg.SpendDraw(rng, nu)/10))*10)
				ch := channels[rng.IntN(len(channels))]
				if rng.Float64() < cancelRate {
					orderID++
					os.add(orderID, "bench", fmt.Sprintf("o%d", orderID), c, c, max(first, at-3_600_000), "cancelled", ch, total, orderID, now, now)
				}
				orderID++
				os.add(orderID, "bench", fmt.Sprintf("o%d", orderID), c, c, at, "paid", ch, total, orderID, now, now)
				spent += total
				t.Paid++
			}
			last := first + int64(buf[len(buf)-1]*week)
			email := fmt.Sprintf("u%d@example.com", c)
			cs.add(c, email, first, first, len(buf), spent, first, last)
			ids.add(c, c, "email", "", email, false, first)
			if pending += len(buf); pending >= 200_000 {
				commit()
				begin()
				pending = 0
			}
		}
		commit()
		t.Orders = int(orderID)
	})
	timed("gen_analyze", func() {
		if db.Backend() == "postgres" {
			for _, tb := range []string{"customers", "orders"} {
				_, err := db.Write.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+tb+`', 'id'), (SELECT max(id) FROM `+tb+`))`)
				check(err)
			}
			_, err := db.Write.ExecContext(ctx, `VACUUM ANALYZE`)
			check(err)
		} else {
			_, err := db.Write.ExecContext(ctx, `ANALYZE`)
			check(err)
		}
	})
	fmt.Printf("# generated %d customers, %d orders (%d paid); BG/NBD r=%.3f alpha=%.3f a=%.3f b=%.3f, Gamma-Gamma p=%g q=%g v=%g\n",
		t.Customers, t.Orders, t.Paid, t.R, t.Alpha, t.A, t.B, t.P, t.Q, t.Gamma)
	b, _ := json.Marshal(t)
	check(os.WriteFile(truthFile, b, 0o644))
}

// loader inserts rows of k columns through one prepared statement of
// loaderRows rows.
type loader struct {
	db   *store.DB
	tx   *sql.Tx
	head string
	k    int
	stmt *sql.Stmt
	buf  []any
}

const loaderRows = 500

func newLoader(db *store.DB, tx *sql.Tx, head string, k int) *loader {
	return &loader{db: db, tx: tx, head: head, k: k}
}

func (l *loader) add(vals ...any) {
	l.buf = append(l.buf, vals...)
	if len(l.buf) < l.k*loaderRows {
		return
	}
	if l.stmt == nil {
		var err error
		l.stmt, err = l.tx.PrepareContext(context.Background(), l.text(loaderRows))
		check(err)
	}
	_, err := l.stmt.Exec(l.buf...)
	check(err)
	l.buf = l.buf[:0]
}

// flush writes what is left.
func (l *loader) flush() {
	if n := len(l.buf) / l.k; n > 0 {
		_, err := l.tx.Exec(l.text(n), l.buf...)
		check(err)
	}
	l.buf = l.buf[:0]
}

func (l *loader) text(rows int) string {
	var b strings.Builder
	b.WriteString(l.head)
	b.WriteString(" VALUES ")
	n := 0
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range l.k {
			if j > 0 {
				b.WriteByte(',')
			}
			n++
			fmt.Fprintf(&b, "$%d", n)
		}
		b.WriteByte(')')
	}
	q, _ := l.db.Dialect.Rebind(b.String(), nil)
	return q
}

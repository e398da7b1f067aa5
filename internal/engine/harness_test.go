package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/engine"
	"github.com/enishi-crm/enishi/internal/event"
	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx = context.Background()

// T0 is 2026-04-01 12:00 JST, a Wednesday.
var T0 = storetest.T0

// at reads a Tokyo wall time.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, clock.Tokyo)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func fmtJST(t time.Time) string { return t.In(clock.Tokyo).Format("2006-01-02 15:04") }

// fakeLoyalty issues coupons and moves points idempotently by key, like
// the loyalty store does.
type fakeLoyalty struct {
	mu      sync.Mutex
	coupons map[string]string
	points  map[string]int64
	fail    error
}

func newFakeLoyalty() *fakeLoyalty {
	return &fakeLoyalty{coupons: map[string]string{}, points: map[string]int64{}}
}

func (f *fakeLoyalty) IssueCoupon(_ context.Context, customerID, campaignID int64, key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	if c, ok := f.coupons[key]; ok {
		return c, nil
	}
	c := fmt.Sprintf("C%d-%d-%d", campaignID, customerID, len(f.coupons)+1)
	f.coupons[key] = c
	return c, nil
}

func (f *fakeLoyalty) AdjustPoints(_ context.Context, customerID, points int64, _ string, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.points[key] = points
	return nil
}

type harness struct {
	t       *testing.T
	db      *store.DB
	c       *clock.Manual
	ch      *fakechannel.Channel
	loyalty *fakeLoyalty
	eng     *engine.Engine
}

func newHarness(t *testing.T, open storetest.Opener) *harness {
	c := clock.NewManual(T0, true)
	db := open(t, c)
	h := &harness{t: t, db: db, c: c, ch: fakechannel.New(c), loyalty: newFakeLoyalty()}
	h.eng = engine.New(db, c, engine.Config{Dispatcher: h.ch, Loyalty: h.loyalty})
	// Enrollments and outbox rows belong to active customers, aggregates
	// match orders: whatever the engine did.
	t.Cleanup(func() { storetest.CheckIntegrity(t, db) })
	return h
}

func (h *harness) drain() {
	h.t.Helper()
	if err := h.eng.Drain(ctx); err != nil {
		h.t.Fatalf("engine: %v", err)
	}
}

// runUntil moves the clock from event to event (whatever falls due next,
// and each Tokyo day's 00:00, 09:00 and 10:00 for date triggers and
// segment flips), draining the engine at each, and stops at until.
func (h *harness) runUntil(until time.Time) {
	h.t.Helper()
	for i := 0; i < 100000; i++ {
		h.drain()
		now := h.c.Now()
		next := until
		due, err := h.db.NextDue(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if !due.IsZero() && due.After(now) && due.Before(next) {
			next = due
		}
		day := clock.StartOfDay(now)
		for _, tick := range []time.Time{day.Add(24 * time.Hour), day.Add(9 * time.Hour), day.Add(10 * time.Hour), day.Add(33 * time.Hour), day.Add(34 * time.Hour)} {
			if tick.After(now) && tick.Before(next) {
				next = tick
			}
		}
		if !next.After(now) {
			if now.Before(until) {
				h.t.Fatalf("clock stuck at %s", fmtJST(now))
			}
			return
		}
		h.c.Set(next)
		if next.Equal(until) {
			h.drain()
			return
		}
	}
	h.t.Fatal("runUntil: too many steps")
}

func (h *harness) buyer(key string) customer.Record {
	return storetest.Buyer(h.t, "shop", key, key+"@example.com", "")
}

// customer makes a customer with an e-mail consent and returns its id.
func (h *harness) customer(key string, edit func(r *customer.Record)) int64 {
	h.t.Helper()
	r := h.buyer(key)
	r.Profile.LastName, r.Profile.FirstName = "山田", key
	r.Consents = []customer.Consent{{Channel: "email", Granted: true, Method: "form"}}
	r.Overwrite = true
	r.SeenAt = h.c.Now().AddDate(0, -1, 0)
	if edit != nil {
		edit(&r)
	}
	res, err := h.db.ImportCustomers(ctx, []customer.Record{r})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.CustomerIDs[0]
}

func (h *harness) order(key, ext string, atTime time.Time, lines ...any) int64 {
	h.t.Helper()
	o := storetest.Order("shop", ext, atTime, h.buyer(key), lines...)
	res, err := h.db.ImportOrders(ctx, []order.Order{o})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.CustomerIDs[0]
}

func (h *harness) event(key, name, sku string, atTime time.Time, props map[string]any) {
	h.t.Helper()
	raw, _ := json.Marshal(props)
	if props == nil {
		raw = nil
	}
	_, err := h.db.ImportEvents(ctx, []event.Event{{Type: "track", Name: name, SKU: sku, OccurredAt: atTime, Source: "web",
		MessageID: fmt.Sprintf("%s-%s-%d", key, name, atTime.UnixNano()), Properties: raw,
		Actor: customer.Record{Identifiers: []identity.Identifier{identity.ExternalID("shop", key)}}}})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) journey(j journey.Journey) *journey.Journey {
	h.t.Helper()
	created, err := h.db.CreateJourney(ctx, j)
	if err != nil {
		h.t.Fatalf("create journey: %v", err)
	}
	enabled, err := h.db.SetJourneyStatus(ctx, created.ID, journey.Enabled)
	if err != nil {
		h.t.Fatalf("enable journey: %v", err)
	}
	return enabled
}

func (h *harness) template(key string, p journey.TemplateParams) *journey.Journey {
	h.t.Helper()
	j, err := journey.FromTemplate(key, p)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.journey(j)
}

func (h *harness) segment(name, cond string) *segment.Segment {
	h.t.Helper()
	c, err := segment.Parse([]byte(cond))
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := h.db.CreateSegment(ctx, segment.Segment{Name: name, Condition: c})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// expect checks the messages a customer got: step source suffix and
// Tokyo time each, in order.
type sent struct {
	step string
	at   string
}

// Messages due at the same instant may go out in any order (they are
// dispatched in parallel): lines are compared sorted by time, then step.
func (h *harness) expect(cid int64, want ...sent) {
	h.t.Helper()
	got := h.ch.SentTo(cid)
	var lines []string
	for _, s := range got {
		lines = append(lines, fmt.Sprintf("%s@%s", s.Source[strings.LastIndex(s.Source, ":")+1:], fmtJST(s.At)))
	}
	var wantLines []string
	for _, w := range want {
		wantLines = append(wantLines, w.step+"@"+w.at)
	}
	byTime := func(l []string) {
		sort.SliceStable(l, func(i, j int) bool {
			ti, tj := l[i][strings.Index(l[i], "@"):], l[j][strings.Index(l[j], "@"):]
			if ti != tj {
				return ti < tj
			}
			return l[i] < l[j]
		})
	}
	byTime(lines)
	byTime(wantLines)
	if strings.Join(lines, "\n") != strings.Join(wantLines, "\n") {
		h.t.Fatalf("customer %d got:\n  %s\nwant:\n  %s", cid, strings.Join(lines, "\n  "), strings.Join(wantLines, "\n  "))
	}
}

func (h *harness) stats(id int64) *journey.Stats {
	h.t.Helper()
	s, err := h.db.JourneyStats(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) enrollments(journeyID int64) []journey.Enrollment {
	h.t.Helper()
	es, err := h.db.JourneyEnrollments(ctx, store.EnrollmentFilter{JourneyID: journeyID})
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func content(s fakechannel.Sent) (subject, text string) {
	c, _ := s.Vars["content"].(map[string]any)
	subject, _ = c["subject"].(string)
	text, _ = c["text"].(string)
	return subject, text
}

package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
)

func segmentCases() []Case {
	return []Case{
		{"SegmentConditionsMatchTheirMeaning", testSegmentConditions},
		{"SegmentMembershipFollowsTheChangeFeed", testSegmentChangeFeed},
		{"SegmentTimeConditionsFlipByDateWithoutRebuild", testSegmentDateFlips},
		{"SegmentRefusesFieldsOfMissingCapabilities", testSegmentMissingSource},
		{"SegmentCrudExportHistoryAndPushState", testSegmentCrud},
		{"SegmentMembersMoveWithMerges", testSegmentMerge},
		{"SegmentConditionsOverAnalyticsScores", testSegmentAnalytics},
	}
}

// segmentWorld is three customers with known facts (T0 = 2026-04-01 JST):
//
//	a 山田 東京都: e-mail consent, tag VIP, born 1990-04-15, orders 30 days
//	  ago (SKU-1, own EC) and 10 days ago (SKU-2 スキンケア, 楽天), 3 views
//	  of SKU-9 2 days ago, attribute plan=gold
//	b 佐藤 大阪府: one order 100 days ago (SKU-3 スキンケア), LINE consent
//	  refused, 1 view of SKU-9 20 days ago
//	c 鈴木 東京都: no orders, signed up 5 days ago
type segmentWorld struct{ a, b, c int64 }

func newSegmentWorld(t *testing.T, db *store.DB) segmentWorld {
	t.Helper()
	ra := Buyer(t, "shop", "a", "a@example.com", "090-1111-1111")
	ra.Profile = customer.Profile{LastName: "山田", FirstName: "太郎", Email: "a@example.com", Prefecture: "東京都", Birthday: "1990-04-15"}
	ra.Consents = []customer.Consent{{Channel: "email", Granted: true, Method: "import"}}
	ra.Tags = []string{"VIP"}
	ra.Attributes = map[string]string{"plan": "gold"}
	ra.SeenAt = day(400)
	rb := Buyer(t, "shop", "b", "b@example.com", "")
	rb.Profile = customer.Profile{LastName: "佐藤", FirstName: "花子", Email: "b@example.com", Prefecture: "大阪府", Birthday: "1985-11-02"}
	rb.Consents = []customer.Consent{{Channel: "line", Granted: false, Method: "import"}}
	rb.SeenAt = day(300)
	rc := Buyer(t, "shop", "c", "c@example.com", "")
	rc.Profile = customer.Profile{LastName: "鈴木", FirstName: "一郎", Email: "c@example.com", Prefecture: "東京都"}
	rc.SeenAt = day(5)
	for _, r := range []*customer.Record{&ra, &rb, &rc} {
		r.Overwrite = true
	}
	ids := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{ra, rb, rc})).CustomerIDs
	w := segmentWorld{ids[0], ids[1], ids[2]}
	o1 := Order("shop", "1", day(30), Buyer(t, "shop", "a", "", ""), "SKU-1", 1, 3000)
	o2 := Order("shop", "2", day(10), Buyer(t, "shop", "a", "", ""), "SKU-2", 2, 2500)
	o2.Channel, o2.Lines[0].Category = order.ChannelRakuten, "スキンケア"
	o3 := Order("shop", "3", day(100), Buyer(t, "shop", "b", "", ""), "SKU-3", 1, 8000)
	o3.Lines[0].Category = "スキンケア"
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o1, o2, o3}))
	var evs []event.Event
	for i := 0; i < 3; i++ {
		evs = append(evs, event.Event{Type: "track", Name: event.ProductViewed, SKU: "SKU-9", OccurredAt: day(2).Add(time.Duration(i) * time.Minute),
			Source: "web", MessageID: fmt.Sprintf("a%d", i), Actor: customer.Record{Identifiers: []identity.Identifier{identity.ExternalID("shop", "a")}}})
	}
	evs = append(evs, event.Event{Type: "track", Name: event.ProductViewed, SKU: "SKU-9", OccurredAt: day(20), Source: "web", MessageID: "b0",
		Actor: customer.Record{Identifiers: []identity.Identifier{identity.ExternalID("shop", "b")}}})
	must[store.BatchResult](t)(db.ImportEvents(ctx, evs))
	return w
}

func cond(t testing.TB, s string) segment.Condition {
	t.Helper()
	c, err := segment.Parse([]byte(s))
	if err != nil {
		t.Fatalf("condition %s: %v", s, err)
	}
	return c
}

// matchIDs previews a condition and returns the matching ids, sorted.
func matchIDs(t testing.TB, db *store.DB, c segment.Condition) []int64 {
	t.Helper()
	p := must[*segment.Preview](t)(db.PreviewSegment(ctx, c, 100))
	var ids []int64
	for _, s := range p.Sample {
		ids = append(ids, s.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if int64(len(ids)) != p.Count {
		t.Fatalf("count %d but %d sampled", p.Count, len(ids))
	}
	return ids
}

func testSegmentConditions(t *testing.T, db *store.DB, _ *clock.Manual) {
	w := newSegmentWorld(t, db)
	cases := []struct {
		cond string
		want []int64
	}{
		{`{}`, []int64{w.a, w.b, w.c}},
		{`{"field":"prefecture","op":"=","value":"東京都"}`, []int64{w.a, w.c}},
		{`{"field":"prefecture","op":"not_in","value":["東京都"]}`, []int64{w.b}},
		{`{"field":"last_name","op":"contains","value":"田"}`, []int64{w.a}},
		{`{"field":"email","op":"starts_with","value":"B@"}`, []int64{w.b}},
		{`{"field":"birthday_month","op":"=","value":4}`, []int64{w.a}},
		{`{"field":"birthday_month","op":"this_month"}`, []int64{w.a}},
		{`{"field":"birthday_month","op":"next_month"}`, nil},
		{`{"field":"order_count","op":">=","value":2}`, []int64{w.a}},
		{`{"field":"order_count","op":"=","value":0}`, []int64{w.c}},
		{`{"field":"total_spent","op":"between","value":[5000,9000]}`, []int64{w.a, w.b}},
		{`{"field":"aov","op":">","value":4000}`, []int64{w.b}},
		{`{"field":"days_since_last_order","op":">=","value":90}`, []int64{w.b}},
		{`{"field":"days_since_last_order","op":"=","value":10}`, []int64{w.a}},
		{`{"field":"days_since_last_order","op":"<","value":10}`, nil},
		{`{"field":"days_since_last_order","op":"is_empty"}`, []int64{w.c}},
		{`{"not":{"field":"days_since_last_order","op":">=","value":90}}`, []int64{w.a, w.c}},
		{`{"field":"days_since_signup","op":"<=","value":7}`, []int64{w.c}},
		{`{"field":"last_order_at","op":"before","value":"2026-01-01"}`, []int64{w.b}},
		{`{"field":"first_order_at","op":"on","value":"2026-03-02"}`, []int64{w.a}},
		{`{"field":"tag","op":"has","value":"VIP"}`, []int64{w.a}},
		{`{"field":"tag","op":"not_has","value":"VIP"}`, []int64{w.b, w.c}},
		{`{"field":"consent","channel":"email","op":"granted"}`, []int64{w.a}},
		{`{"field":"consent","channel":"line","op":"not_granted"}`, []int64{w.a, w.b, w.c}},
		{`{"field":"bought","sku":"SKU-1"}`, []int64{w.a}},
		{`{"field":"bought","category":"スキンケア"}`, []int64{w.a, w.b}},
		{`{"field":"bought","category":"スキンケア","within_days":30}`, []int64{w.a}},
		{`{"field":"bought","category":"スキンケア","op":"=","value":0}`, []int64{w.c}},
		{`{"field":"bought","op":">=","value":2}`, []int64{w.a}},
		{`{"field":"event","event":"Product Viewed","op":">=","value":3,"within_days":7}`, []int64{w.a}},
		{`{"field":"event","event":"Product Viewed","sku":"SKU-9"}`, []int64{w.a, w.b}},
		{`{"field":"event","event":"Product Viewed","within_days":7,"op":"=","value":0}`, []int64{w.b, w.c}},
		{`{"field":"sales_channel","op":"in","value":["rakuten"]}`, []int64{w.a}},
		{`{"field":"sales_channel","op":"not_in","value":["rakuten"]}`, []int64{w.b, w.c}},
		{`{"field":"attribute","attribute":"plan","op":"=","value":"gold"}`, []int64{w.a}},
		{`{"field":"attribute","attribute":"plan","op":"is_empty"}`, []int64{w.b, w.c}},
		{`{"any":[{"field":"prefecture","op":"=","value":"大阪府"},{"all":[{"field":"tag","op":"has","value":"VIP"},{"field":"order_count","op":">=","value":2}]}]}`, []int64{w.a, w.b}},
	}
	for _, tc := range cases {
		got := matchIDs(t, db, cond(t, tc.cond))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: matched %v, want %v (a=%d b=%d c=%d)", tc.cond, got, tc.want, w.a, w.b, w.c)
		}
	}
}

// drainChanges runs the change feed's segment half, as the engine does.
func drainChanges(t testing.TB, db *store.DB) []segment.Change {
	t.Helper()
	var all []segment.Change
	for {
		cs := must[[]store.Changed](t)(db.ClaimChanged(ctx, 100, time.Minute))
		if len(cs) == 0 {
			return all
		}
		ids := make([]int64, len(cs))
		for i, c := range cs {
			ids[i] = c.CustomerID
		}
		all = append(all, must[[]segment.Change](t)(db.RefreshSegmentsFor(ctx, ids))...)
		if err := db.DoneChanged(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
}

func testSegmentChangeFeed(t *testing.T, db *store.DB, c *clock.Manual) {
	w := newSegmentWorld(t, db)
	drainChanges(t, db)
	s := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "リピーター", Condition: cond(t, `{"field":"order_count","op":">=","value":2}`)}))
	if s.MemberCount != 1 {
		t.Fatalf("initial members = %d", s.MemberCount)
	}
	if n := must[int64](t)(db.PendingChanges(ctx)); n != 0 {
		t.Fatalf("pending = %d", n)
	}
	c.Advance(time.Minute)
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "4", c.Now(), Buyer(t, "shop", "b", "", ""), "SKU-4", 1, 1000)}))
	if n := must[int64](t)(db.PendingChanges(ctx)); n != 1 {
		t.Fatalf("pending after one order = %d", n)
	}
	ch := drainChanges(t, db)
	if len(ch) != 1 || ch[0].CustomerID != w.b || !ch[0].Entered || ch[0].SegmentID != s.ID {
		t.Fatalf("changes = %+v", ch)
	}
	if n := must[int64](t)(db.CountSegment(ctx, s.ID)); n != 2 {
		t.Fatalf("count = %d", n)
	}
	// A cancelled order takes b out again.
	c.Advance(time.Minute)
	o := Order("shop", "4", c.Now().Add(-time.Minute), Buyer(t, "shop", "b", "", ""), "SKU-4", 1, 1000)
	o.Status = order.Cancelled
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o}))
	ch = drainChanges(t, db)
	if len(ch) != 1 || ch[0].Entered {
		t.Fatalf("exit = %+v", ch)
	}
	// Tags and consents changed by hand are in the feed too.
	vip := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "VIP", Condition: cond(t, `{"field":"tag","op":"has","value":"VIP"}`)}))
	if err := db.AddTags(ctx, w.c, []string{"VIP"}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordConsent(ctx, w.c, customer.Consent{Channel: "email", Granted: true, Method: "form"}); err != nil {
		t.Fatal(err)
	}
	ch = drainChanges(t, db)
	if len(ch) != 1 || ch[0].SegmentID != vip.ID || ch[0].CustomerID != w.c {
		t.Fatalf("tag change = %+v", ch)
	}
	hist := must[[]segment.Change](t)(db.SegmentChanges(ctx, s.ID, 10, 0))
	if len(hist) != 3 || hist[0].Entered || !hist[1].Entered || hist[2].CustomerID != w.a {
		t.Fatalf("history = %+v", hist)
	}
	// A claimed customer marked again meanwhile stays in the feed.
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "5", c.Now(), Buyer(t, "shop", "c", "", ""), "SKU-4", 1, 1000)}))
	cs := must[[]store.Changed](t)(db.ClaimChanged(ctx, 10, time.Minute))
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "6", c.Now(), Buyer(t, "shop", "c", "", ""), "SKU-4", 1, 1000)}))
	if len(must[[]store.Changed](t)(db.ClaimChanged(ctx, 10, time.Minute))) != 0 {
		t.Fatal("a leased customer was claimed twice")
	}
	if err := db.DoneChanged(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if again := must[[]store.Changed](t)(db.ClaimChanged(ctx, 10, time.Minute)); len(again) != 1 || again[0].CustomerID != w.c {
		t.Fatalf("re-marked customer = %+v", again)
	}
}

func testSegmentDateFlips(t *testing.T, db *store.DB, c *clock.Manual) {
	w := newSegmentWorld(t, db)
	drainChanges(t, db)
	dormant := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "休眠", Condition: cond(t, `{"field":"days_since_last_order","op":">=","value":14}`)}))
	recent := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "最近見た",
		Condition: cond(t, `{"field":"event","event":"Product Viewed","within_days":3}`)}))
	bday := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "今月誕生日", Condition: cond(t, `{"field":"birthday_month","op":"this_month"}`)}))
	static := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "東京", Condition: cond(t, `{"field":"prefecture","op":"=","value":"東京都"}`)}))
	members := func(s *segment.Segment) []int64 {
		var ids []int64
		for _, m := range must[[]customer.Summary](t)(db.SegmentMembers(ctx, s.ID, 100, 0)) {
			ids = append(ids, m.ID)
		}
		return ids
	}
	if got := members(dormant); !slices.Equal(got, []int64{w.b}) {
		t.Fatalf("dormant at T0 = %v", got)
	}
	if got := members(recent); !slices.Equal(got, []int64{w.a}) {
		t.Fatalf("recent at T0 = %v", got)
	}
	// The same day: nothing to do.
	if n := must[int](t)(db.RefreshSegmentsByDate(ctx)); n != 0 {
		t.Fatalf("refreshed %d segments on the same day", n)
	}
	// Four days on: a's last order is 14 days old, a's views are 6 days old.
	c.Advance(4 * 24 * time.Hour)
	if n := must[int](t)(db.RefreshSegmentsByDate(ctx)); n != 3 {
		t.Fatalf("refreshed %d time-relative segments, want 3", n)
	}
	if got := members(dormant); !slices.Equal(got, []int64{w.a, w.b}) {
		t.Fatalf("dormant after 4 days = %v", got)
	}
	if got := members(recent); len(got) != 0 {
		t.Fatalf("recent after 4 days = %v", got)
	}
	if got := members(static); !slices.Equal(got, []int64{w.a, w.c}) {
		t.Fatalf("static = %v", got)
	}
	// Into May: April's birthdays leave.
	c.Advance(30 * 24 * time.Hour)
	must[int](t)(db.RefreshSegmentsByDate(ctx))
	if got := members(bday); len(got) != 0 {
		t.Fatalf("birthday segment in May = %v", got)
	}
	h := must[[]segment.Change](t)(db.SegmentChanges(ctx, dormant.ID, 10, 0))
	if len(h) != 2 || !h[0].Entered || h[0].CustomerID != w.a || !h[0].At.Equal(T0.Add(4*24*time.Hour)) {
		t.Fatalf("dormant history = %+v", h)
	}
	// The flips agree with a full evaluation.
	for _, s := range []*segment.Segment{dormant, recent, bday} {
		if got, want := members(s), matchIDs(t, db, s.Condition); !slices.Equal(got, want) {
			t.Errorf("segment %s: members %v, evaluation %v", s.Name, got, want)
		}
	}
}

func testSegmentMissingSource(t *testing.T, db *store.DB, _ *clock.Manual) {
	for _, src := range []string{`{"field":"rfm_segment","op":"=","value":"loyal"}`, `{"field":"points_balance","op":">","value":100}`} {
		_, err := db.CreateSegment(ctx, segment.Segment{Name: src, Condition: cond(t, src)})
		var e *errs.Error
		if err == nil {
			// The capability is present in this database (merged later):
			// the condition must then evaluate.
			continue
		}
		if !errors.As(err, &e) || e.Code != errs.Invalid || !strings.Contains(e.Message, "not available yet") {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func testSegmentCrud(t *testing.T, db *store.DB, _ *clock.Manual) {
	w := newSegmentWorld(t, db)
	s := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "東京", Description: "都内", CreatedBy: "test",
		Condition: cond(t, `{"field":"prefecture","op":"=","value":"東京都"}`)}))
	if _, err := db.CreateSegment(ctx, segment.Segment{Name: "東京", Condition: cond(t, `{}`)}); errs.Code(err) != errs.Conflict {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := db.CreateSegment(ctx, segment.Segment{Name: " ", Condition: cond(t, `{}`)}); errs.Code(err) != errs.Invalid {
		t.Fatalf("empty name: %v", err)
	}
	s.Condition = cond(t, `{"field":"prefecture","op":"in","value":["東京都","大阪府"]}`)
	s = must[*segment.Segment](t)(db.UpdateSegment(ctx, *s))
	if s.MemberCount != 3 {
		t.Fatalf("after update = %d", s.MemberCount)
	}
	list := must[[]segment.Segment](t)(db.Segments(ctx))
	if len(list) != 1 || list[0].Name != "東京" || list[0].Condition.JSON() != s.Condition.JSON() {
		t.Fatalf("list = %+v", list)
	}
	var rows []segment.Member
	if err := db.ExportSegment(ctx, s.ID, true, func(m segment.Member) error { rows = append(rows, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].CustomerID != w.a || rows[0].LastName != "山田" || rows[0].OrderCount != 2 || !slices.Equal(rows[0].ShopifyIDs, nil) {
		t.Fatalf("export = %+v", rows)
	}
	var buf bytes.Buffer
	ex := must[*segment.Exporter](t)(segment.NewExporter(&buf, segment.UTF8))
	for _, m := range rows {
		if err := ex.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil || strings.Count(buf.String(), "\r\n") != 4 {
		t.Fatalf("csv = %q %v", buf.String(), err)
	}
	st := must[segment.PushState](t)(db.SegmentPushState(ctx, s.ID, segment.TargetShopify))
	if st.Ref != "" || len(st.IDs) != 0 {
		t.Fatalf("fresh push state = %+v", st)
	}
	if err := db.SaveSegmentPush(ctx, segment.PushState{SegmentID: s.ID, Target: segment.TargetShopify, Ref: "vip", IDs: []string{"1", "2"}}); err != nil {
		t.Fatal(err)
	}
	st = must[segment.PushState](t)(db.SegmentPushState(ctx, s.ID, segment.TargetShopify))
	if st.Ref != "vip" || !slices.Equal(st.IDs, []string{"1", "2"}) {
		t.Fatalf("push state = %+v", st)
	}
	if err := db.DeleteSegment(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Segment(ctx, s.ID); errs.Code(err) != errs.NotFound {
		t.Fatalf("deleted segment: %v", err)
	}
	// Hostile values are parameters, never SQL.
	hostile := cond(t, `{"any":[{"field":"last_name","op":"=","value":"x' OR '1'='1"},{"field":"attribute","attribute":"a.b","op":"contains","value":"%_\\"}]}`)
	if got := matchIDs(t, db, hostile); len(got) != 0 {
		t.Fatalf("hostile condition matched %v", got)
	}
	b, _ := json.Marshal(hostile)
	if !strings.Contains(string(b), "OR") {
		t.Fatal("condition lost its value")
	}
}

func testSegmentMerge(t *testing.T, db *store.DB, _ *clock.Manual) {
	w := newSegmentWorld(t, db)
	drainChanges(t, db)
	s := must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: "大阪", Condition: cond(t, `{"field":"prefecture","op":"=","value":"大阪府"}`)}))
	mid := must[int64](t)(db.MergeCustomers(ctx, w.c, w.b, "test"))
	drainChanges(t, db)
	var got []int64
	for _, m := range must[[]customer.Summary](t)(db.SegmentMembers(ctx, s.ID, 10, 0)) {
		got = append(got, m.ID)
	}
	// c (東京都) keeps its own prefecture: b's is not copied over, so the
	// merged person is not in 大阪; b itself is no longer a customer.
	if len(got) != 0 {
		t.Fatalf("after merge = %v", got)
	}
	if err := db.Unmerge(ctx, mid, "test"); err != nil {
		t.Fatal(err)
	}
	drainChanges(t, db)
	got = got[:0]
	for _, m := range must[[]customer.Summary](t)(db.SegmentMembers(ctx, s.ID, 10, 0)) {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, []int64{w.b}) {
		t.Fatalf("after unmerge = %v", got)
	}
}

// testSegmentAnalytics checks the score fields against each customer's
// stored scores, and that rescoring changed customers puts them in the
// change feed.
func testSegmentAnalytics(t *testing.T, db *store.DB, _ *clock.Manual) {
	w := newSegmentWorld(t, db)
	if _, err := db.RefreshScores(ctx); err != nil {
		t.Fatal(err)
	}
	drainChanges(t, db)
	for _, id := range []int64{w.a, w.b} {
		sc := must[*analytics.Scores](t)(db.CustomerScores(ctx, id))
		if sc == nil {
			t.Fatalf("customer %d has no scores", id)
		}
		conds := []string{
			fmt.Sprintf(`{"field":"rfm_r","op":"=","value":%d}`, sc.R),
			fmt.Sprintf(`{"field":"rfm_segment","op":"=","value":%q}`, sc.Segment),
			fmt.Sprintf(`{"field":"cpm","op":"=","value":%q}`, sc.CPM),
		}
		if sc.PAlive != nil {
			conds = append(conds, fmt.Sprintf(`{"field":"p_alive","op":"between","value":[%f,%f]}`, *sc.PAlive-0.0001, *sc.PAlive+0.0001))
		}
		for _, c := range conds {
			if got := matchIDs(t, db, cond(t, c)); !slices.Contains(got, id) {
				t.Errorf("%s: matched %v, not customer %d (scores %+v)", c, got, id, sc)
			}
		}
	}
	// c has no orders, hence no scores: never matched by a score.
	if got := matchIDs(t, db, cond(t, `{"field":"rfm_r","op":">=","value":1}`)); slices.Contains(got, w.c) {
		t.Errorf("a customer without scores matched: %v", got)
	}
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "9", T0, Buyer(t, "shop", "c", "", ""), "SKU-1", 1, 1000)}))
	drainChanges(t, db)
	if _, err := db.RefreshScores(ctx); err != nil {
		t.Fatal(err)
	}
	if n := must[int64](t)(db.PendingChanges(ctx)); n != 1 {
		t.Fatalf("rescored customers in the change feed: %d, want 1", n)
	}
}

package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/store"
)

var ctx = context.Background()

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func stats(t testing.TB, db *store.DB) store.Stats {
	t.Helper()
	return must[store.Stats](t)(db.Stats(ctx))
}

func view(t testing.TB, db *store.DB, id int64) *customer.View {
	t.Helper()
	return must[*customer.View](t)(db.CustomerView(ctx, id, store.ViewOptions{}))
}

func day(d int) time.Time { return T0.AddDate(0, 0, -d) }

func testMigrateTwice(t *testing.T, db *store.DB, _ *clock.Manual) {
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func testImportOrders(t *testing.T, db *store.DB, _ *clock.Manual) {
	a := Buyer(t, "shop", "c1", "Taro@Example.com", "090-1234-5678")
	a.Profile.LastName, a.Profile.FirstName = "山田", "太郎"
	b := Buyer(t, "shop", "c2", "hanako@example.com", "")
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "1001", day(30), a, "SKU-1", 2, 1500, "SKU-2", 1, 3000),
		Order("shop", "1002", day(10), a, "SKU-1", 1, 1500),
		Order("shop", "1003", day(5), b, "SKU-3", 1, 9800),
	}))
	if res.Inserted != 3 || res.NewCustomers != 2 || res.Updated != 0 {
		t.Fatalf("result = %+v", res)
	}
	if res.CustomerIDs[0] != res.CustomerIDs[1] || res.CustomerIDs[0] == res.CustomerIDs[2] {
		t.Fatalf("customer ids = %v", res.CustomerIDs)
	}
	s := stats(t, db)
	want := store.Stats{Customers: 2, Orders: 3, LineItems: 4, Products: 3}
	if s != want {
		t.Fatalf("stats = %+v, want %+v", s, want)
	}
	v := view(t, db, res.CustomerIDs[0])
	if v.OrderCount != 2 || v.TotalSpent != 7500 || v.AOV != 3750 || v.Email != "taro@example.com" || v.Phone != "+819012345678" {
		t.Fatalf("view = %+v", v.Customer)
	}
	if v.DaysSinceLastOrder == nil || *v.DaysSinceLastOrder != 10 {
		t.Fatalf("days since last order = %v", v.DaysSinceLastOrder)
	}
	if !v.FirstOrderAt.Equal(day(30)) || !v.LastOrderAt.Equal(day(10)) {
		t.Fatalf("first/last = %v %v", v.FirstOrderAt, v.LastOrderAt)
	}
	if len(v.Identities) != 3 {
		t.Fatalf("identities = %+v", v.Identities)
	}
	if !v.CreatedAt.Equal(day(30)) {
		t.Fatalf("created_at = %v, want the first order's time", v.CreatedAt)
	}
	if len(v.Timeline) != 2 || v.Timeline[0].Title != "1002" || v.Timeline[1].Title != "1001" {
		t.Fatalf("timeline = %+v", v.Timeline)
	}
	lines, _ := v.Timeline[1].Detail["lines"].([]order.Line)
	if len(lines) != 2 || lines[0].SKU != "SKU-1" || lines[0].Amount != 3000 {
		t.Fatalf("lines = %+v", lines)
	}
	p := must[*product.Product](t)(db.Product(ctx, "SKU-3"))
	if p.Name != "商品 SKU-3" || p.Price != 9800 {
		t.Fatalf("product = %+v", p)
	}
	orders := must[[]order.Order](t)(db.CustomerOrders(ctx, res.CustomerIDs[0], 10))
	if len(orders) != 2 || orders[1].ExternalID != "1001" || len(orders[1].Lines) != 2 {
		t.Fatalf("orders = %+v", orders)
	}
}

func testReimportChangesNothing(t *testing.T, db *store.DB, c *clock.Manual) {
	batch := func() []order.Order {
		a := Buyer(t, "shop", "c1", "a@example.com", "")
		a.Profile.LastName = "佐藤"
		return []order.Order{
			Order("shop", "1", day(3), a, "X", 1, 100),
			Order("shop", "2", day(2), Buyer(t, "shop", "c2", "", "080-1111-2222"), "Y", 3, 200),
		}
	}
	must[store.BatchResult](t)(db.ImportOrders(ctx, batch()))
	before := stats(t, db)
	var beforeJSON []byte
	for _, id := range []int64{1, 2} {
		b, _ := json.Marshal(view(t, db, id))
		beforeJSON = append(beforeJSON, b...)
	}
	c.Advance(time.Hour)
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, batch()))
	if res.Unchanged != 2 || res.Inserted != 0 || res.Updated != 0 || res.NewCustomers != 0 {
		t.Fatalf("re-import result = %+v", res)
	}
	if after := stats(t, db); after != before {
		t.Fatalf("stats changed: %+v → %+v", before, after)
	}
	var afterJSON []byte
	for _, id := range []int64{1, 2} {
		b, _ := json.Marshal(view(t, db, id))
		afterJSON = append(afterJSON, b...)
	}
	if string(afterJSON) != string(beforeJSON) {
		t.Fatalf("customers changed on re-import:\n%s\n%s", beforeJSON, afterJSON)
	}
}

func testOrderUpdate(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := Buyer(t, "shop", "c1", "", "")
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "1", day(20), b, "A", 1, 1000, "B", 1, 2000),
		Order("shop", "2", day(10), b, "A", 1, 1000),
	}))
	o := Order("shop", "1", day(20), b, "A", 1, 1000)
	o.Status = order.Cancelled
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o}))
	if res.Updated != 1 {
		t.Fatalf("result = %+v", res)
	}
	s := stats(t, db)
	if s.Orders != 2 || s.LineItems != 2 {
		t.Fatalf("stats = %+v", s)
	}
	v := view(t, db, res.CustomerIDs[0])
	if v.OrderCount != 1 || v.TotalSpent != 1000 || !v.FirstOrderAt.Equal(day(10)) {
		t.Fatalf("aggregates after cancel = %+v", v.Aggregates)
	}
}

func testSameIdentifierOnePerson(t *testing.T, db *store.DB, _ *clock.Manual) {
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("own", "E1", day(9), Buyer(t, "own", "m1", "ｔａｒｏ＠example.com", ""), "A", 1, 100),
		Order("rakuten", "R1", day(8), Buyer(t, "", "", "TARO@example.com ", "０９０１２３４５６７８"), "A", 1, 100),
		Order("pos", "P1", day(7), Buyer(t, "pos", "card-9", "", "+81 90-1234-5678"), "A", 1, 100),
	}))
	if res.NewCustomers != 1 || res.CustomerIDs[0] != res.CustomerIDs[1] || res.CustomerIDs[1] != res.CustomerIDs[2] {
		t.Fatalf("result = %+v ids %v", res, res.CustomerIDs)
	}
	if s := stats(t, db); s.Customers != 1 || s.Orders != 3 {
		t.Fatalf("stats = %+v", s)
	}
	if v := view(t, db, res.CustomerIDs[0]); v.OrderCount != 3 || len(v.Identities) != 4 {
		t.Fatalf("view = %+v identities %+v", v.Aggregates, v.Identities)
	}
}

// twoCustomers imports A (own-EC member with e-mail) and B (POS member with
// phone and a different name), each with an order, a tag and a consent.
func twoCustomers(t *testing.T, db *store.DB) (a, b int64) {
	ra := Buyer(t, "own", "m1", "a@example.com", "")
	ra.Profile.LastName, ra.Profile.FirstName = "山田", "太郎"
	ra.Tags = []string{"own-tag"}
	rb := Buyer(t, "pos", "card-1", "", "090-0000-1111")
	rb.Profile.LastName, rb.Profile.FirstName, rb.Profile.Prefecture = "山田", "太郎", "東京都"
	rb.Tags = []string{"pos-tag"}
	rb.Consents = []customer.Consent{{Channel: customer.ChannelSMS, Granted: true, Method: "import"}}
	must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{ra, rb}))
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("own", "E1", day(40), Buyer(t, "own", "m1", "", ""), "A", 1, 5000),
		Order("pos", "P1", day(20), Buyer(t, "pos", "card-1", "", ""), "B", 2, 3000),
	}))
	if res.CustomerIDs[0] == res.CustomerIDs[1] {
		t.Fatalf("A and B should start apart")
	}
	return res.CustomerIDs[0], res.CustomerIDs[1]
}

func testMergeUnmerge(t *testing.T, db *store.DB, c *clock.Manual) {
	a, b := twoCustomers(t, db)
	beforeA, beforeB := view(t, db, a), view(t, db, b)
	// A store order with A's e-mail and B's phone links the two.
	link := Order("shop", "S1", day(1), Buyer(t, "", "", "a@example.com", "09000001111"), "C", 1, 1000)
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{link}))
	if res.Merges != 1 || res.CustomerIDs[0] != a {
		t.Fatalf("result = %+v ids %v", res, res.CustomerIDs)
	}
	if s := stats(t, db); s.Customers != 1 {
		t.Fatalf("customers after merge = %d", s.Customers)
	}
	v := view(t, db, a)
	if v.OrderCount != 3 || v.TotalSpent != 5000+6000+1000 || v.Prefecture != "東京都" {
		t.Fatalf("merged view = %+v %+v", v.Aggregates, v.Profile)
	}
	if len(v.Tags) != 2 || len(v.Consents) != 1 {
		t.Fatalf("merged tags %v consents %+v", v.Tags, v.Consents)
	}
	if len(v.Merges) != 1 || v.Merges[0].LoserID != b || v.Merges[0].Via.Kind != identity.Phone || v.Merges[0].Reason != "auto" {
		t.Fatalf("merge history = %+v", v.Merges)
	}
	// Asking for B gives A.
	if vb := view(t, db, b); vb.ID != a {
		t.Fatalf("view of merged B = %d, want %d", vb.ID, a)
	}
	c.Advance(time.Minute)
	if err := db.Unmerge(ctx, v.Merges[0].ID, "staff@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := db.Unmerge(ctx, v.Merges[0].ID, "staff@example.com"); errs.Code(err) != errs.Conflict {
		t.Fatalf("second unmerge err = %v", err)
	}
	afterA, afterB := view(t, db, a), view(t, db, b)
	if afterB.ID != b || afterB.Status != customer.Active {
		t.Fatalf("B after unmerge = %+v", afterB.Customer)
	}
	// B gets back its order, tag, consent and phone; A keeps its own and the
	// linking order, which arrived through A's e-mail.
	if afterB.OrderCount != 1 || afterB.TotalSpent != 6000 || len(afterB.Tags) != 1 || afterB.Tags[0] != "pos-tag" || len(afterB.Consents) != 1 {
		t.Fatalf("B after unmerge = %+v tags %v consents %v", afterB.Aggregates, afterB.Tags, afterB.Consents)
	}
	if afterA.OrderCount != 2 || afterA.TotalSpent != 6000 || afterA.Prefecture != "" {
		t.Fatalf("A after unmerge = %+v prefecture %q", afterA.Aggregates, afterA.Prefecture)
	}
	for _, id := range afterB.Identities {
		if id.Kind == identity.Email {
			t.Fatalf("B got A's e-mail back: %+v", afterB.Identities)
		}
	}
	if len(afterB.Identities) != len(beforeB.Identities) {
		t.Fatalf("B identities %+v, before %+v", afterB.Identities, beforeB.Identities)
	}
	if afterB.Phone != beforeB.Phone || afterB.LastName != beforeB.LastName {
		t.Fatalf("B profile changed: %+v → %+v", beforeB.Profile, afterB.Profile)
	}
	if afterA.LastName != beforeA.LastName || afterA.Phone != "" {
		t.Fatalf("A profile = %+v", afterA.Profile)
	}
	if hist := must[[]customer.MergeRecord](t)(db.Merges(ctx, a)); hist[0].UndoneAt == nil || hist[0].UndoneBy != "staff@example.com" {
		t.Fatalf("history = %+v", hist)
	}
}

func testUnmergeChain(t *testing.T, db *store.DB, _ *clock.Manual) {
	a, b := twoCustomers(t, db)
	c3 := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("ec", "X1", day(3), Buyer(t, "ec", "z", "c@example.com", ""), "Z", 1, 700),
	})).CustomerIDs[0]
	m1 := must[int64](t)(db.MergeCustomers(ctx, b, c3, "staff")) // C into B
	m2 := must[int64](t)(db.MergeCustomers(ctx, a, b, "staff"))  // B (with C) into A
	if v := view(t, db, a); v.OrderCount != 3 {
		t.Fatalf("after merges = %+v", v.Aggregates)
	}
	// Undo the first merge: C's rows leave A (where they sit now) for C.
	if err := db.Unmerge(ctx, m1, "staff"); err != nil {
		t.Fatal(err)
	}
	if v := view(t, db, c3); v.ID != c3 || v.OrderCount != 1 || v.TotalSpent != 700 {
		t.Fatalf("C after unmerge = %d %+v", v.ID, v.Aggregates)
	}
	if v := view(t, db, a); v.OrderCount != 2 {
		t.Fatalf("A after unmerging C = %+v", v.Aggregates)
	}
	if err := db.Unmerge(ctx, m2, "staff"); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db); s.Customers != 3 {
		t.Fatalf("customers = %d", s.Customers)
	}
}

func testMaskedNeverMerges(t *testing.T, db *store.DB, _ *clock.Manual) {
	relay := "abc123@pc.fw.rakuten.ne.jp"
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("rakuten", "R1", day(5), Buyer(t, "rakuten-member", "u1", relay, ""), "A", 1, 100),
		Order("rakuten", "R2", day(4), Buyer(t, "rakuten-member", "u2", relay, ""), "A", 1, 100),
	}))
	if res.Merges != 0 || res.CustomerIDs[0] == res.CustomerIDs[1] {
		t.Fatalf("masked address merged: %+v %v", res, res.CustomerIDs)
	}
	// Alone it still finds the customer that holds it.
	res = must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("rakuten", "R3", day(3), Buyer(t, "", "", relay, ""), "A", 1, 100),
	}))
	if res.NewCustomers != 0 || res.CustomerIDs[0] != 1 {
		t.Fatalf("masked-only record: %+v %v", res, res.CustomerIDs)
	}
}

func testManualMergePolicy(t *testing.T, db *store.DB, _ *clock.Manual) {
	if err := db.SetSetting(ctx, "identity.manual_merge_kinds", `["phone"]`); err != nil {
		t.Fatal(err)
	}
	a, b := twoCustomers(t, db)
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "S1", day(1), Buyer(t, "", "", "a@example.com", "09000001111"), "C", 1, 1000),
	}))
	if res.Merges != 0 || res.Candidates != 1 || res.CustomerIDs[0] != a {
		t.Fatalf("result = %+v", res)
	}
	cands := must[[]customer.MergeCandidate](t)(db.MergeCandidates(ctx, "pending", 10))
	if len(cands) != 1 || cands[0].A != a || cands[0].B != b || cands[0].Via.Kind != identity.Phone {
		t.Fatalf("candidates = %+v", cands)
	}
	if v := view(t, db, b); len(v.MergeCandidates) != 1 {
		t.Fatalf("B view candidates = %+v", v.MergeCandidates)
	}
	if err := db.DecideMergeCandidate(ctx, cands[0].ID, true, "staff"); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db); s.Customers != 1 {
		t.Fatalf("customers after approval = %d", s.Customers)
	}
	if v := view(t, db, a); len(v.Merges) != 1 || v.Merges[0].Reason != "approved" || v.Merges[0].Actor != "staff" {
		t.Fatalf("merges = %+v", v.Merges)
	}
	if err := db.DecideMergeCandidate(ctx, cands[0].ID, true, "staff"); errs.Code(err) != errs.Conflict {
		t.Fatalf("deciding twice: %v", err)
	}
}

func testRejectCandidate(t *testing.T, db *store.DB, _ *clock.Manual) {
	if err := db.SetSetting(ctx, "identity.manual_merge_kinds", `["email","phone"]`); err != nil {
		t.Fatal(err)
	}
	twoCustomers(t, db)
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "S1", day(1), Buyer(t, "", "", "a@example.com", "09000001111"), "C", 1, 1000),
	}))
	cands := must[[]customer.MergeCandidate](t)(db.MergeCandidates(ctx, "pending", 10))
	if len(cands) != 1 {
		t.Fatalf("candidates = %+v", cands)
	}
	if err := db.DecideMergeCandidate(ctx, cands[0].ID, false, "staff"); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db); s.Customers != 2 {
		t.Fatalf("customers = %d", s.Customers)
	}
	// The same link again does not ask again.
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "S2", day(1), Buyer(t, "", "", "a@example.com", "09000001111"), "C", 1, 1000),
	}))
	if res.Candidates != 0 {
		t.Fatalf("rejected link asked again: %+v", res)
	}
}

func testManualMerge(t *testing.T, db *store.DB, _ *clock.Manual) {
	a, b := twoCustomers(t, db)
	if _, err := db.MergeCustomers(ctx, a, a, "staff"); errs.Code(err) != errs.Invalid {
		t.Fatalf("self-merge err = %v", err)
	}
	if _, err := db.MergeCustomers(ctx, a, 999, "staff"); errs.Code(err) != errs.NotFound {
		t.Fatalf("missing merge err = %v", err)
	}
	id := must[int64](t)(db.MergeCustomers(ctx, a, b, "staff"))
	if _, err := db.MergeCustomers(ctx, a, b, "staff"); errs.Code(err) != errs.Conflict {
		t.Fatalf("merging a merged customer err = %v", err)
	}
	// New data through B's identifiers lands on A while merged.
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("pos", "P2", day(0), Buyer(t, "pos", "card-1", "", ""), "B", 1, 3000),
	}))
	if res.CustomerIDs[0] != a {
		t.Fatalf("order through B's card went to %d", res.CustomerIDs[0])
	}
	if err := db.Unmerge(ctx, id, "staff"); err != nil {
		t.Fatal(err)
	}
	// …and goes back to B with the unmerge, since it came through B's card.
	if v := view(t, db, b); v.OrderCount != 2 {
		t.Fatalf("B after unmerge = %+v", v.Aggregates)
	}
}

func testTimelinePages(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "s", "1", "", "")
	var orders []order.Order
	for i := 0; i < 7; i++ {
		orders = append(orders, Order("s", fmt.Sprint(i), day(10-i), b, "A", 1, 100))
	}
	id := must[store.BatchResult](t)(db.ImportOrders(ctx, orders)).CustomerIDs[0]
	must[int64](t)(db.AddNote(ctx, id, "staff", "電話で問い合わせあり"))
	evs := []event.Event{{Type: "track", Name: event.ProductViewed, OccurredAt: day(2).Add(time.Hour), Source: "web", MessageID: "m1", SKU: "A",
		Actor: customer.Record{Identifiers: []identity.Identifier{identity.ExternalID("s", "1")}}}}
	must[store.BatchResult](t)(db.ImportEvents(ctx, evs))
	var all []customer.TimelineItem
	cursor := ""
	for page := 0; page < 10; page++ {
		v := must[*customer.View](t)(db.CustomerView(ctx, id, store.ViewOptions{TimelineLimit: 3, TimelineBefore: cursor}))
		all = append(all, v.Timeline...)
		if v.TimelineNext == "" {
			break
		}
		cursor = v.TimelineNext
	}
	if len(all) != 9 {
		t.Fatalf("timeline has %d items, want 9: %+v", len(all), all)
	}
	if all[0].Kind != "note" {
		t.Fatalf("newest item = %+v", all[0])
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.After(all[i-1].At) {
			t.Fatalf("timeline out of order at %d: %+v", i, all)
		}
	}
	if _, err := db.CustomerView(ctx, id, store.ViewOptions{TimelineBefore: "garbage"}); errs.Code(err) != errs.Invalid {
		t.Fatalf("bad cursor err = %v", err)
	}
	if _, err := db.CustomerView(ctx, 424242, store.ViewOptions{}); errs.Code(err) != errs.NotFound {
		t.Fatalf("missing customer err = %v", err)
	}
}

func testSearch(t *testing.T, db *store.DB, _ *clock.Manual) {
	r := Buyer(t, "s", "1", "Suzuki.Ichiro@example.jp", "03-1234-5678")
	r.Profile.LastName, r.Profile.FirstName = "鈴木", "一郎"
	r.Profile.LastNameKana, r.Profile.FirstNameKana = "スズキ", "イチロウ"
	o := Buyer(t, "s", "2", "other@example.com", "")
	o.Profile.LastName, o.Profile.FirstName = "田中", "花子"
	o.Profile.LastNameKana = "ﾀﾅｶ" // half-width, as old exports write it
	must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{r, o}))
	cases := map[string]int{
		"鈴木": 1, "鈴木 一郎": 1, "すずき": 1, "スズキイチロウ": 1, "suzuki.ichiro": 1, "SUZUKI": 1,
		"0312345678": 1, "03-1234-5678": 1, "+81312345678": 1, "たなか": 1, "タナカ": 1,
		"example": 2, "": 2, "佐藤": 0, "%": 0, "_": 0,
	}
	for q, want := range cases {
		got, total, err := db.SearchCustomers(ctx, customer.Query{Q: q})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		if len(got) != want || total != want {
			t.Errorf("search %q: %d results (total %d), want %d", q, len(got), total, want)
		}
	}
	page, total, err := db.SearchCustomers(ctx, customer.Query{Limit: 1, Offset: 1})
	if err != nil || len(page) != 1 || total != 2 || page[0].DisplayName != "鈴木 一郎" {
		t.Fatalf("page = %+v total %d err %v", page, total, err)
	}
}

func testEventsDedupe(t *testing.T, db *store.DB, _ *clock.Manual) {
	known := customer.Record{Identifiers: []identity.Identifier{identity.ExternalID("web", "u1")}}
	anon := customer.Record{Identifiers: []identity.Identifier{{Kind: identity.Anonymous, Value: "anon-1", Weak: true}}}
	evs := []event.Event{
		{Type: "track", Name: event.ProductAdded, OccurredAt: day(1), Source: "web", MessageID: "a", SKU: "X", Properties: json.RawMessage(`{"price":1200}`), Actor: known},
		{Type: "page", Name: event.PageViewed, OccurredAt: day(1), Source: "web", MessageID: "b", Actor: anon},
	}
	res := must[store.BatchResult](t)(db.ImportEvents(ctx, evs))
	if res.Inserted != 2 || res.NewCustomers != 1 {
		t.Fatalf("first = %+v", res)
	}
	res = must[store.BatchResult](t)(db.ImportEvents(ctx, evs))
	if res.Inserted != 0 || res.Unchanged != 2 {
		t.Fatalf("retry = %+v", res)
	}
	if s := stats(t, db); s.Events != 2 || s.Customers != 1 {
		t.Fatalf("stats = %+v", s)
	}
	v := view(t, db, res.CustomerIDs[0])
	if len(v.Timeline) != 1 || v.Timeline[0].Title != event.ProductAdded || v.Timeline[0].Detail["sku"] != "X" {
		t.Fatalf("timeline = %+v", v.Timeline)
	}
	if p, _ := v.Timeline[0].Detail["properties"].(map[string]any); p["price"] != 1200.0 {
		t.Fatalf("properties = %+v", v.Timeline[0].Detail)
	}
}

func testConsents(t *testing.T, db *store.DB, c *clock.Manual) {
	rec := func(granted bool) customer.Record {
		r := Buyer(t, "s", "1", "a@example.com", "")
		r.Consents = []customer.Consent{{Channel: customer.ChannelEmail, Granted: granted, Method: "import", Source: "members.csv", WordingVersion: "v1"}}
		return r
	}
	id := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{rec(true)})).CustomerIDs[0]
	c.Advance(time.Hour)
	res := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{rec(true)}))
	if res.Updated != 0 || res.Unchanged != 1 {
		t.Fatalf("same consent again = %+v", res)
	}
	c.Advance(time.Hour)
	res = must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{rec(false)}))
	if res.Updated != 1 {
		t.Fatalf("opt-out = %+v", res)
	}
	v := view(t, db, id)
	if len(v.Consents) != 1 || v.Consents[0].Granted || v.Consents[0].WordingVersion != "v1" {
		t.Fatalf("consents = %+v", v.Consents)
	}
	n := 0
	for _, it := range v.Timeline {
		if it.Kind == "consent" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("consent records = %d, want 2", n)
	}
	if err := db.RecordConsent(ctx, id, customer.Consent{Channel: "fax", Granted: true}); errs.Code(err) != errs.Invalid {
		t.Fatalf("bad channel err = %v", err)
	}
}

func testCustomerOverwrite(t *testing.T, db *store.DB, _ *clock.Manual) {
	r := Buyer(t, "s", "1", "a@example.com", "")
	r.Profile.LastName, r.Profile.City = "旧姓", "渋谷区"
	id := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{r})).CustomerIDs[0]
	r2 := Buyer(t, "s", "1", "", "")
	r2.Overwrite = true
	r2.Profile.LastName = "新姓"
	res := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{r2}))
	if res.Updated != 1 || res.Inserted != 0 {
		t.Fatalf("result = %+v", res)
	}
	v := view(t, db, id)
	if v.LastName != "新姓" || v.City != "渋谷区" || v.Email != "a@example.com" {
		t.Fatalf("profile = %+v", v.Profile)
	}
	// An order's buyer only fills gaps.
	b := Buyer(t, "s", "1", "", "")
	b.Profile.LastName, b.Profile.Prefecture = "注文者", "大阪府"
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("s", "o1", day(1), b, "A", 1, 1)}))
	v = view(t, db, id)
	if v.LastName != "新姓" || v.Prefecture != "大阪府" {
		t.Fatalf("profile after order = %+v", v.Profile)
	}
}

func testProducts(t *testing.T, db *store.DB, _ *clock.Manual) {
	res := must[store.BatchResult](t)(db.ImportProducts(ctx, []product.Product{
		{SKU: "P1", Name: "化粧水", Category: "スキンケア", Price: 3300, ReplenishmentDays: 30},
		{SKU: "P2", Name: "乳液", Price: 3800},
	}))
	if res.Inserted != 2 {
		t.Fatalf("res = %+v", res)
	}
	res = must[store.BatchResult](t)(db.ImportProducts(ctx, []product.Product{
		{SKU: "P1", Name: "化粧水", Category: "スキンケア", Price: 3300, ReplenishmentDays: 30},
		{SKU: "P2", Price: 4000},
	}))
	if res.Unchanged != 1 || res.Updated != 1 {
		t.Fatalf("res = %+v", res)
	}
	p := must[*product.Product](t)(db.Product(ctx, "P2"))
	if p.Name != "乳液" || p.Price != 4000 {
		t.Fatalf("P2 = %+v", p)
	}
	if _, err := db.Product(ctx, "nope"); errs.Code(err) != errs.NotFound {
		t.Fatalf("err = %v", err)
	}
}

func testNotesInquiriesTags(t *testing.T, db *store.DB, _ *clock.Manual) {
	id := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "s", "1", "", "")})).CustomerIDs[0]
	if _, err := db.AddNote(ctx, id, "staff", "  "); errs.Code(err) != errs.Invalid {
		t.Fatalf("empty note err = %v", err)
	}
	must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: id, Channel: "email", Subject: "配送について", Body: "いつ届きますか"}))
	if _, err := db.AddInquiry(ctx, customer.Inquiry{CustomerID: id, Subject: "x", Status: "weird"}); errs.Code(err) != errs.Invalid {
		t.Fatalf("bad status err = %v", err)
	}
	if err := db.AddTags(ctx, id, []string{"VIP", "VIP", " ", "定期"}); err != nil {
		t.Fatal(err)
	}
	v := view(t, db, id)
	if strings.Join(v.Tags, ",") != "VIP,定期" {
		t.Fatalf("tags = %v", v.Tags)
	}
	if len(v.Timeline) != 1 || v.Timeline[0].Kind != "inquiry" || v.Timeline[0].Detail["status"] != "open" {
		t.Fatalf("timeline = %+v", v.Timeline)
	}
	if _, err := db.AddNote(ctx, 9999, "staff", "x"); errs.Code(err) != errs.NotFound {
		t.Fatalf("note on missing customer err = %v", err)
	}
}

func testUsersSessionsKeys(t *testing.T, db *store.DB, c *clock.Manual) {
	id := must[int64](t)(db.CreateUser(ctx, store.User{Email: "Admin@Example.com", Role: "admin", PasswordHash: "h1"}))
	if _, err := db.CreateUser(ctx, store.User{Email: "admin@example.com", Role: "admin", PasswordHash: "h"}); errs.Code(err) != errs.Conflict {
		t.Fatalf("duplicate user err = %v", err)
	}
	u := must[*store.User](t)(db.UserByEmail(ctx, "ADMIN@example.com"))
	if u.ID != id || u.Role != "admin" || u.PasswordHash != "h1" {
		t.Fatalf("user = %+v", u)
	}
	now := c.Now()
	if err := db.CreateSession(ctx, store.Session{TokenHash: "t1", UserID: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeenAt: now}); err != nil {
		t.Fatal(err)
	}
	if s := must[*store.Session](t)(db.SessionByHash(ctx, "t1")); s.UserID != id || !s.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("session = %+v", s)
	}
	if err := db.SetUserPassword(ctx, id, "h2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByHash(ctx, "t1"); errs.Code(err) != errs.NotFound {
		t.Fatalf("session survived password change: %v", err)
	}
	kid := must[int64](t)(db.CreateAPIKey(ctx, store.APIKey{Name: "shopify", Prefix: "ek_abc", KeyHash: "kh", Scopes: []string{"customers:read", "ingest:write"}}))
	k := must[*store.APIKey](t)(db.APIKeyByHash(ctx, "kh"))
	if k.ID != kid || len(k.Scopes) != 2 || k.RevokedAt != nil {
		t.Fatalf("key = %+v", k)
	}
	if err := db.TouchAPIKey(ctx, kid, now); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAPIKey(ctx, kid); err != nil {
		t.Fatal(err)
	}
	if k := must[*store.APIKey](t)(db.APIKeyByHash(ctx, "kh")); k.RevokedAt == nil || k.LastUsedAt == nil {
		t.Fatalf("revoked key = %+v", k)
	}
	if err := db.RevokeAPIKey(ctx, kid); errs.Code(err) != errs.NotFound {
		t.Fatalf("revoke twice err = %v", err)
	}
}

func testSettings(t *testing.T, db *store.DB, _ *clock.Manual) {
	if _, ok, err := db.Setting(ctx, "x"); ok || err != nil {
		t.Fatalf("unset setting: %v %v", ok, err)
	}
	for _, v := range []string{"1", "2"} {
		if err := db.SetSetting(ctx, "x", v); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := db.Setting(ctx, "x"); v != "2" || !ok || err != nil {
		t.Fatalf("setting = %q %v %v", v, ok, err)
	}
}

func testHostileText(t *testing.T, db *store.DB, _ *clock.Manual) {
	hostile := `'; DROP TABLE customers; -- <script>alert(1)</script> "\ %_`
	r := Buyer(t, "s", hostile, "", "")
	r.Profile.LastName = hostile
	r.Tags = []string{hostile}
	o := Order("s", hostile, day(1), r, hostile, 1, 100)
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o}))
	v := view(t, db, res.CustomerIDs[0])
	if v.LastName != hostile || v.Tags[0] != hostile || v.Timeline[0].Title != hostile {
		t.Fatalf("hostile text changed: %+v", v)
	}
	got, _, err := db.SearchCustomers(ctx, customer.Query{Q: "drop table"})
	if err != nil || len(got) != 1 {
		t.Fatalf("search hostile: %v %v", got, err)
	}
}

// testIdentityCacheAcrossMerges imports through the process's identifier
// cache across merges and unmerges: what the cache remembers must never
// file a record under a customer that no longer holds the identifier.
func testIdentityCacheAcrossMerges(t *testing.T, db *store.DB, _ *clock.Manual) {
	a, b := twoCustomers(t, db)
	// Warm the cache with both customers' identifiers.
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("own", "E2", day(5), Buyer(t, "own", "m1", "", ""), "A", 1, 100),
		Order("pos", "P2", day(5), Buyer(t, "pos", "card-1", "", ""), "A", 1, 100),
	}))
	mid := must[int64](t)(db.MergeCustomers(ctx, a, b, "staff"))
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("pos", "P3", day(4), Buyer(t, "pos", "card-1", "", ""), "A", 1, 100)}))
	if res.CustomerIDs[0] != a {
		t.Fatalf("after merge, B's card filed under %d, want %d", res.CustomerIDs[0], a)
	}
	if err := db.Unmerge(ctx, mid, "staff"); err != nil {
		t.Fatal(err)
	}
	res = must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("pos", "P4", day(3), Buyer(t, "pos", "card-1", "", ""), "A", 1, 100)}))
	if res.CustomerIDs[0] != b {
		t.Fatalf("after unmerge, B's card filed under %d, want %d", res.CustomerIDs[0], b)
	}
	if v := view(t, db, b); v.OrderCount != 4 {
		t.Fatalf("B orders = %d, want 4 (P1, P2, P3 through its card while merged, P4)", v.OrderCount)
	}
}

// testRollbackLeavesNoCache checks that a failed batch teaches the cache
// nothing: the identifiers it would have created do not exist.
func testRollbackLeavesNoCache(t *testing.T, db *store.DB, _ *clock.Manual) {
	good := Order("s", "1", day(2), Buyer(t, "s", "new-1", "new@example.com", ""), "A", 1, 100)
	bad := Order("s", "2", day(2), customer.Record{}, "A", 1, 100) // no identifier: the batch fails
	if _, err := db.ImportOrders(ctx, []order.Order{good, bad}); err == nil {
		t.Fatal("batch with an order without a buyer succeeded")
	}
	if s := stats(t, db); s.Customers != 0 || s.Orders != 0 {
		t.Fatalf("failed batch wrote %+v", s)
	}
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("s", "1", day(2), Buyer(t, "s", "new-1", "new@example.com", ""), "A", 1, 100)}))
	if res.NewCustomers != 1 || res.CustomerIDs[0] == 0 {
		t.Fatalf("after rollback = %+v", res)
	}
	if v := view(t, db, res.CustomerIDs[0]); len(v.Identities) != 2 {
		t.Fatalf("identities = %+v", v.Identities)
	}
}

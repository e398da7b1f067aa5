package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
	"github.com/enishi-crm/enishi/internal/subscription/book"
)

func subscriptionCases() []Case {
	return []Case{
		{"SubscriptionExportReproducesGeneratedRetention", testSubscriptionSnapshotRetention},
		{"SubscriptionLiveFeedReproducesRetentionRatesAndMRR", testSubscriptionLiveFeed},
		{"SubscriptionEventsAreIdempotentAndOnTheTimeline", testSubscriptionEvents},
		{"SubscriptionTriggersFollowTheClock", testSubscriptionTriggers},
		{"SubscriptionsMoveWithMergesAndBack", testSubscriptionMerge},
		{"CancelledDeliveryOrderIsNoDelivery", testSubscriptionOrderCancelled},
		{"SubscriptionRiskFindsThePlantedSignal", testSubscriptionRisk},
		{"SubscriptionBadInputIsRefused", testSubscriptionBadInput},
	}
}

// genBook is a small book ending at the suite's clock.
func genBook(seed int64, n int) *book.Book {
	return book.Generate(book.Options{Seed: seed, Subscribers: n, Start: T0.AddDate(-2, 0, 0), End: T0, FirstOrderFree: true})
}

func importInBatches[T any](t *testing.T, items []T, size int, write func([]T) (store.BatchResult, error)) store.BatchResult {
	t.Helper()
	var sum store.BatchResult
	for lo := 0; lo < len(items); lo += size {
		r, err := write(items[lo:min(lo+size, len(items))])
		if err != nil {
			t.Fatal(err)
		}
		sum.Add(r)
	}
	return sum
}

// checkRetention compares a retention report with the book's truth.
func checkRetention(t *testing.T, rep *subscription.RetentionReport, truth map[string]*book.Truth) {
	t.Helper()
	check := func(row subscription.RetentionRow, tr *book.Truth) {
		t.Helper()
		if tr == nil {
			t.Errorf("group %q is not in the book", row.Key)
			return
		}
		if row.Subscriptions != tr.Subscriptions || row.Cancelled != tr.Cancelled || !reflect.DeepEqual(row.Reached, tr.Reached) ||
			!reflect.DeepEqual(row.Open, tr.Open) || row.Revenue != tr.Revenue {
			t.Errorf("group %q:\n got  subs %d cancelled %d reached %v open %v revenue %d\n want subs %d cancelled %d reached %v open %v revenue %d",
				row.Key, row.Subscriptions, row.Cancelled, row.Reached, row.Open, row.Revenue,
				tr.Subscriptions, tr.Cancelled, tr.Reached, tr.Open, tr.Revenue)
		}
		if want := float64(tr.Deliveries) / float64(tr.Subscriptions); abs(row.AvgDeliveries-want) > 0.001 {
			t.Errorf("group %q: average deliveries %.3f, want %.3f", row.Key, row.AvgDeliveries, want)
		}
	}
	check(rep.Total, truth[""])
	if len(rep.Groups) != len(truth)-1 {
		t.Errorf("%d groups, the book has %d", len(rep.Groups), len(truth)-1)
	}
	for _, g := range rep.Groups {
		check(g, truth[g.Key])
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func testSubscriptionSnapshotRetention(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := genBook(7, 250)
	// Delivery orders first (they create the contracts, inferred), then the
	// cart's contract export, which fills in cycle, plan and status.
	importInBatches(t, b.Orders(), 300, func(os []order.Order) (store.BatchResult, error) { return db.ImportOrders(ctx, os) })
	res := importInBatches(t, b.Snapshot(), 100, func(us []subscription.Update) (store.BatchResult, error) { return db.ImportSubscriptions(ctx, us) })
	if res.Inserted != 0 || res.Updated != len(b.Contracts) {
		t.Errorf("snapshot over inferred contracts: %+v", res)
	}
	rep := must[*subscription.RetentionReport](t)(db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByCohort}))
	checkRetention(t, rep, b.Retention(book.CohortKey, 12))
	rep = must[*subscription.RetentionReport](t)(db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByPlan, MaxDelivery: 6}))
	checkRetention(t, rep, b.Retention(func(c *book.Contract) string { return c.Offer.Plan }, 6))
	// The classic curve: most reach the 2nd delivery, fewer each time after.
	tot := rep.Total
	if r2, r3 := *tot.Retention[1], *tot.Retention[2]; r2 < 0.45 || r2 > 0.85 || r3 >= r2 {
		t.Errorf("implausible retention: 2nd %.2f, 3rd %.2f", r2, r3)
	}
	if tot.ExpectedDeliveries <= 1 || tot.ExpectedLTV <= 0 {
		t.Errorf("expected deliveries %.2f, LTV %.0f", tot.ExpectedDeliveries, tot.ExpectedLTV)
	}
	// A second import of the same files changes nothing.
	again := importInBatches(t, b.Snapshot(), 100, func(us []subscription.Update) (store.BatchResult, error) { return db.ImportSubscriptions(ctx, us) })
	if again.Unchanged != len(b.Contracts) || again.Updated+again.Inserted != 0 {
		t.Errorf("re-import: %+v", again)
	}
	ores := importInBatches(t, b.Orders(), 300, func(os []order.Order) (store.BatchResult, error) { return db.ImportOrders(ctx, os) })
	if ores.Inserted+ores.Updated != 0 {
		t.Errorf("re-import orders: %+v", ores)
	}
	rep2 := must[*subscription.RetentionReport](t)(db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByPlan, MaxDelivery: 6}))
	if !reflect.DeepEqual(rep, rep2) {
		t.Error("the report changed after re-importing the same data")
	}
	// Filters: one product, a window of start dates.
	from := T0.AddDate(-1, 0, 0)
	rep = must[*subscription.RetentionReport](t)(db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByNone, SKU: "SK-005", From: from}))
	want := int64(0)
	for _, c := range b.Contracts {
		if c.Offer.SKU == "SK-005" && !c.Started.Before(from) {
			want++
		}
	}
	if rep.Total.Subscriptions != want || len(rep.Groups) != 0 {
		t.Errorf("filtered: %d subscriptions (%d groups), want %d", rep.Total.Subscriptions, len(rep.Groups), want)
	}
	// Every contract is linked to its orders and no longer inferred.
	var inferred, unlinked int
	if err := db.Read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM subscriptions WHERE inferred = $1),
		(SELECT count(*) FROM subscription_deliveries WHERE order_id IS NULL)`, true).Scan(&inferred, &unlinked); err != nil {
		t.Fatal(err)
	}
	if inferred != 0 || unlinked != 0 {
		t.Errorf("%d contracts still inferred, %d deliveries without an order", inferred, unlinked)
	}
}

// applyActions applies the book's live feed up to until (book.Feed), with
// the clock at the last action.
func applyActions(t *testing.T, db *store.DB, c *clock.Manual, acts []book.Action, until time.Time) {
	t.Helper()
	for i := len(acts) - 1; i >= 0; i-- {
		if acts[i].At.Before(until) {
			c.Set(acts[i].At)
			break
		}
	}
	if _, err := book.Feed(ctx, db, acts, until); err != nil {
		t.Fatal(err)
	}
}

func testSubscriptionLiveFeed(t *testing.T, db *store.DB, c *clock.Manual) {
	b := genBook(11, 200)
	c.Set(T0.AddDate(-2, 0, -1))
	applyActions(t, db, c, b.Actions(), b.End)
	c.Set(T0)
	rep := must[*subscription.RetentionReport](t)(db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByProduct}))
	checkRetention(t, rep, b.Retention(func(c *book.Contract) string { return c.Offer.SKU }, 12))

	// Cancellations by reason and by deliveries received, skips and pauses.
	from := T0.AddDate(-2, 0, -1)
	cr := must[*subscription.CancellationReport](t)(db.SubscriptionCancellations(ctx, subscription.CancellationOptions{From: from, To: T0.Add(time.Hour), Limit: 50}))
	reasons, byDelivery := map[string]int64{}, map[int]int64{}
	var skips, deliveries, cancelled, skippers, pausers int64
	for _, k := range b.Contracts {
		skips += int64(len(k.Skips))
		deliveries += int64(len(k.Deliveries))
		if len(k.Skips) > 0 {
			skippers++
		}
		if len(k.Pauses) > 0 {
			pausers++
		}
		if !k.Cancelled.IsZero() {
			cancelled++
			r := k.Reason
			if r == "" {
				r = subscription.NoReason
			}
			reasons[r]++
			byDelivery[len(k.Deliveries)]++
		}
	}
	gotReasons, gotBy := map[string]int64{}, map[int]int64{}
	for _, r := range cr.Reasons {
		gotReasons[r.Reason] = r.Count
	}
	for _, d := range cr.ByDelivery {
		gotBy[d.Deliveries] = d.Count
	}
	if cr.Cancellations != cancelled || !reflect.DeepEqual(gotReasons, reasons) || !reflect.DeepEqual(gotBy, byDelivery) {
		t.Errorf("cancellations %d %v %v, want %d %v %v", cr.Cancellations, gotReasons, gotBy, cancelled, reasons, byDelivery)
	}
	for i := 1; i < len(cr.Reasons); i++ {
		if cr.Reasons[i].Count > cr.Reasons[i-1].Count {
			t.Errorf("reasons not ranked: %+v", cr.Reasons)
		}
	}
	if cr.Skips != skips || cr.Deliveries != deliveries || cr.Skippers != skippers || cr.Pausers != pausers || cr.Subscribers != int64(len(b.Contracts)) {
		t.Errorf("skips %d deliveries %d skippers %d pausers %d subscribers %d; want %d %d %d %d %d",
			cr.Skips, cr.Deliveries, cr.Skippers, cr.Pausers, cr.Subscribers, skips, deliveries, skippers, pausers, len(b.Contracts))
	}

	// The same with a product filter (contracts joined).
	crs := must[*subscription.CancellationReport](t)(db.SubscriptionCancellations(ctx, subscription.CancellationOptions{From: from, To: T0.Add(time.Hour), SKU: "SP-001"}))
	var skus, skippersS, cancelledS int64
	for _, k := range b.Contracts {
		if k.Offer.SKU != "SP-001" {
			continue
		}
		skus += int64(len(k.Skips))
		if len(k.Skips) > 0 {
			skippersS++
		}
		if !k.Cancelled.IsZero() {
			cancelledS++
		}
	}
	if crs.Skips != skus || crs.Skippers != skippersS || crs.Cancellations != cancelledS {
		t.Errorf("SP-001: skips %d skippers %d cancellations %d; want %d %d %d", crs.Skips, crs.Skippers, crs.Cancellations, skus, skippersS, cancelledS)
	}

	// Subscribers and paused ones at each month's end, as the book says.
	from6 := subscription.CohortMonth(T0.AddDate(0, -6, 0))
	mrr := must[*subscription.MRRReport](t)(db.SubscriptionMRR(ctx, from6, subscription.CohortMonth(T0)))
	for _, m := range mrr.Months {
		var ym int
		fmt.Sscanf(m.Month, "%d-%d", &ym, new(int))
		var y, mo int
		fmt.Sscanf(m.Month, "%d-%d", &y, &mo)
		end := subscription.MonthStart(subscription.NextMonth(y*100 + mo)).Add(-time.Millisecond)
		if end.After(T0) {
			end = T0
		}
		live, paused := b.LiveAt(end)
		if m.SubscribersEnd != live || m.PausedEnd != paused {
			t.Errorf("%s: subscribers %d paused %d, the book says %d %d", m.Month, m.SubscribersEnd, m.PausedEnd, live, paused)
		}
		if m.MRR <= 0 {
			t.Errorf("%s: MRR %d", m.Month, m.MRR)
		}
	}
	live, paused := b.LiveAt(T0)
	if mrr.Subscribers != live || mrr.Paused != paused {
		t.Errorf("now: %d subscribers %d paused, want %d %d", mrr.Subscribers, mrr.Paused, live, paused)
	}
	// Every live contract's next delivery is the book's.
	for _, k := range b.Contracts {
		if k.Next.IsZero() || k.Status() != subscription.Active {
			continue
		}
		list := must[[]subscription.Contract](t)(db.CustomerSubscriptions(ctx, customerOf(t, db, k.Buyer)))
		found := false
		for _, s := range list {
			if s.ExternalID == k.ExternalID {
				found = true
				if s.NextDeliveryAt == nil || !s.NextDeliveryAt.Equal(k.Next) || s.Deliveries != len(k.Deliveries) || s.Skips != len(k.Skips) {
					t.Errorf("%s: next %v deliveries %d skips %d; want %v %d %d", k.ExternalID, s.NextDeliveryAt, s.Deliveries, s.Skips,
						k.Next, len(k.Deliveries), len(k.Skips))
				}
			}
		}
		if !found {
			t.Errorf("%s not listed for its customer", k.ExternalID)
		}
	}
}

// customerOf finds the customer a record names (by its first identifier).
func customerOf(t testing.TB, db *store.DB, rec customer.Record) int64 {
	t.Helper()
	var id int64
	id0 := rec.Identifiers[0]
	if err := db.Read.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE kind = $1 AND source = $2 AND value = $3`,
		string(id0.Kind), id0.Source, id0.Value).Scan(&id); err != nil {
		t.Fatalf("customer of %v: %v", id0, err)
	}
	return id
}

func ptrTo[T any](v T) *T { return &v }

// contract is a full update for hand-made cases.
func contract(t testing.TB, ext, email string, started time.Time, next *time.Time, status subscription.Status, deliveries int) subscription.Update {
	cy := subscription.Cycle{Unit: subscription.Months, Count: 1}
	return subscription.Update{Source: "cart", ExternalID: ext, Buyer: Buyer(t, "cart", "", email, ""),
		SKU: ptrTo("SP-001"), ProductName: ptrTo("乳酸菌サプリ"), Plan: ptrTo("定期便"), Cycle: &cy, Price: ptrTo(int64(3000)),
		Status: &status, StartedAt: &started, NextDeliveryAt: next, Deliveries: &deliveries}
}

func testSubscriptionEvents(t *testing.T, db *store.DB, c *clock.Manual) {
	u := contract(t, "S-1", "a@example.jp", day(40), ptrTo(day(-5)), subscription.Active, 1)
	u.Kind, u.EventID = subscription.Created, "e1"
	res := must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{u}))
	if res.Inserted != 1 || res.NewCustomers != 1 {
		t.Fatalf("create: %+v", res)
	}
	cid := res.CustomerIDs[0]
	skip := subscription.Update{Source: "cart", ExternalID: "S-1", Kind: subscription.SkippedOne, EventID: "e2", At: day(1)}
	for i := 0; i < 2; i++ { // a redelivery of the same webhook changes nothing
		res = must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{skip}))
		if (i == 0 && res.Updated != 1) || (i == 1 && res.Unchanged != 1) {
			t.Fatalf("skip %d: %+v", i, res)
		}
	}
	list := must[[]subscription.Contract](t)(db.CustomerSubscriptions(ctx, cid))
	if len(list) != 1 || list[0].Skips != 1 || list[0].Status != subscription.Skipped || !list[0].NextDeliveryAt.Equal(subscription.Cycle{Unit: subscription.Months, Count: 1}.Next(day(-5))) {
		t.Fatalf("after skip: %+v", list)
	}
	// A delivery by webhook, linking the order it created.
	ord := Order("cart", "O-2", day(-35), Buyer(t, "cart", "", "a@example.jp", ""), "SP-001", 1, 3000)
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{ord}))
	del := subscription.Update{Source: "cart", ExternalID: "S-1", Kind: subscription.Delivered, EventID: "e3", At: day(-35),
		Delivery: &subscription.Delivery{Number: 2, DeliveredAt: day(-35), Amount: -1, OrderRef: "O-2"}}
	c.Set(day(-35))
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{del}))
	d := must[*store.SubscriptionDetail](t)(db.Subscription(ctx, list[0].ID))
	if d.Deliveries != 2 || d.Status != subscription.Active || len(d.DeliveryList) != 1 || d.DeliveryList[0].OrderRef != "O-2" || d.DeliveryList[0].Amount != 3000 {
		t.Fatalf("after delivery: %+v %+v", d.Contract, d.DeliveryList)
	}
	cancel := subscription.Update{Source: "cart", ExternalID: "S-1", Kind: subscription.CancelledK, EventID: "e4", At: day(-40), CancelReason: ptrTo("商品が余っている")}
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{cancel}))
	d = must[*store.SubscriptionDetail](t)(db.Subscription(ctx, list[0].ID))
	kinds := []subscription.ChangeKind{}
	for _, h := range d.History {
		kinds = append(kinds, h.Kind)
	}
	want := []subscription.ChangeKind{subscription.Created, subscription.SkippedOne, subscription.Delivered, subscription.CancelledK}
	if d.Status != subscription.Cancelled || d.NextDeliveryAt != nil || d.CancelReason != "商品が余っている" || !reflect.DeepEqual(kinds, want) {
		t.Fatalf("after cancel: %+v %v", d.Contract, kinds)
	}
	// The changes are events on the customer's timeline, for journeys.
	v := view(t, db, cid)
	names := map[string]bool{}
	for _, it := range v.Timeline {
		if it.Kind == "event" {
			names[it.Title] = true
		}
	}
	for _, n := range []string{subscription.EventStarted, subscription.EventSkipped, subscription.EventDelivered, subscription.EventCancelled} {
		if !names[n] {
			t.Errorf("timeline lacks %q: %v", n, names)
		}
	}
	// Reactivation clears the cancellation.
	c.Set(day(-45))
	react := contract(t, "S-1", "a@example.jp", day(40), ptrTo(day(-60)), subscription.Active, 2)
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{react}))
	d = must[*store.SubscriptionDetail](t)(db.Subscription(ctx, list[0].ID))
	if d.Status != subscription.Active || d.CancelledAt != nil || d.History[len(d.History)-1].Kind != subscription.Reactivated {
		t.Fatalf("after reactivation: %+v", d.Contract)
	}
}

func testSubscriptionTriggers(t *testing.T, db *store.DB, c *clock.Manual) {
	in3 := T0.AddDate(0, 0, 3)
	in4 := T0.AddDate(0, 0, 4)
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{
		contract(t, "A", "a@example.jp", day(30), &in3, subscription.Active, 1),
		contract(t, "B", "b@example.jp", day(60), &in4, subscription.Active, 2),
		contract(t, "C", "c@example.jp", day(90), &in3, subscription.Paused, 3),
	}))
	ids := func(hs []store.SubscriptionHit) []string {
		out := []string{}
		for _, h := range hs {
			out = append(out, h.ExternalID)
		}
		return out
	}
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsDue(ctx, 3))); !reflect.DeepEqual(got, []string{"A"}) {
		t.Errorf("due in 3 days at T0: %v", got)
	}
	c.Advance(24 * time.Hour)
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsDue(ctx, 3))); !reflect.DeepEqual(got, []string{"B"}) {
		t.Errorf("due in 3 days a day later: %v", got)
	}
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsAtDelivery(ctx, 1))); !reflect.DeepEqual(got, []string{"A"}) {
		t.Errorf("after the 1st delivery: %v", got)
	}
	cancel := subscription.Update{Source: "cart", ExternalID: "B", Kind: subscription.CancelledK, CancelReason: ptrTo("価格が高い")}
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{cancel}))
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsCancelledDaysAgo(ctx, 0))); !reflect.DeepEqual(got, []string{"B"}) {
		t.Errorf("cancelled today: %v", got)
	}
	c.Advance(7 * 24 * time.Hour)
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsCancelledDaysAgo(ctx, 7))); !reflect.DeepEqual(got, []string{"B"}) {
		t.Errorf("cancelled 7 days ago: %v", got)
	}
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsCancelledDaysAgo(ctx, 6))); len(got) != 0 {
		t.Errorf("cancelled 6 days ago: %v", got)
	}
	if got := ids(must[[]store.SubscriptionHit](t)(db.SubscriptionsDue(ctx, 3))); len(got) != 0 {
		t.Errorf("due later: %v", got)
	}
	if _, err := db.SubscriptionsDue(ctx, -1); errs.Code(err) != errs.Invalid {
		t.Errorf("negative days: %v", err)
	}
}

func testSubscriptionMerge(t *testing.T, db *store.DB, _ *clock.Manual) {
	a := contract(t, "A", "a@example.jp", day(30), nil, subscription.Active, 1)
	b := contract(t, "B", "", day(20), nil, subscription.Active, 1)
	b.Buyer = Buyer(t, "cart", "", "", "090-1111-2222")
	res := must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{a, b}))
	if res.CustomerIDs[0] == res.CustomerIDs[1] {
		t.Fatal("two people expected")
	}
	mid := must[int64](t)(db.MergeCustomers(ctx, res.CustomerIDs[0], res.CustomerIDs[1], "test"))
	if n := len(must[[]subscription.Contract](t)(db.CustomerSubscriptions(ctx, res.CustomerIDs[0]))); n != 2 {
		t.Fatalf("after merge %d subscriptions", n)
	}
	CheckIntegrity(t, db)
	if err := db.Unmerge(ctx, mid, "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range res.CustomerIDs {
		if n := len(must[[]subscription.Contract](t)(db.CustomerSubscriptions(ctx, id))); n != 1 {
			t.Fatalf("after unmerge customer %d has %d subscriptions", id, n)
		}
	}
}

func testSubscriptionOrderCancelled(t *testing.T, db *store.DB, _ *clock.Manual) {
	buyer := Buyer(t, "cart", "", "x@example.jp", "")
	o1 := Order("cart", "O1", day(60), buyer, "SP-001", 1, 3000)
	o2 := Order("cart", "O2", day(30), buyer, "SP-001", 1, 3000)
	o1.SubscriptionID, o2.SubscriptionID = "S", "S"
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o1, o2}))
	list := must[[]subscription.Contract](t)(db.CustomerSubscriptions(ctx, customerOf(t, db, buyer)))
	if len(list) != 1 || list[0].Deliveries != 2 || !list[0].Inferred || list[0].Price != 3000 || !list[0].StartedAt.Equal(day(60)) {
		t.Fatalf("contract from orders: %+v", list)
	}
	o2.Status = order.Cancelled
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o2}))
	d := must[*store.SubscriptionDetail](t)(db.Subscription(ctx, list[0].ID))
	if d.Deliveries != 1 || len(d.DeliveryList) != 1 {
		t.Fatalf("after the 2nd order was cancelled: %d deliveries %+v", d.Deliveries, d.DeliveryList)
	}
}

func testSubscriptionRisk(t *testing.T, db *store.DB, c *clock.Manual) {
	if _, err := db.RefreshSubscriptionRisk(ctx); errs.Code(err) != errs.Invalid {
		t.Fatalf("risk without history: %v", err)
	}
	b := genBook(3, 300)
	applyActions(t, db, c, b.Actions(), b.End)
	c.Set(T0)
	rr := must[*store.RiskRefresh](t)(db.RefreshSubscriptionRisk(ctx))
	m := rr.Model
	coef := map[string]float64{}
	for i, f := range m.Features {
		coef[f] = m.Coef[i]
	}
	// The book makes skippers cancel 1.7× as often and the first deliveries
	// the riskiest: the model must find both.
	if coef["skips"] <= 0 || coef["early"] <= 0 || m.AUC < 0.6 {
		t.Errorf("model: skips %.3f early %.3f AUC %.3f", coef["skips"], coef["early"], m.AUC)
	}
	var live int
	for _, k := range b.Contracts {
		if k.Cancelled.IsZero() {
			live++
		}
	}
	if rr.Scored != live || rr.High+rr.Medium+rr.Low != live {
		t.Errorf("scored %d (%d/%d/%d), live %d", rr.Scored, rr.High, rr.Medium, rr.Low, live)
	}
	high, total := must2(t)(db.ListSubscriptions(ctx, store.SubscriptionQuery{RiskTier: subscription.TierHigh, Limit: 1000}))
	if total != rr.High {
		t.Errorf("listed %d high-risk, refresh said %d", total, rr.High)
	}
	for i, s := range high {
		if s.Risk == nil || s.Risk.Tier != subscription.TierHigh || (i > 0 && s.Risk.Probability > high[i-1].Risk.Probability) {
			t.Fatalf("high-risk list %d: %+v", i, s.Risk)
		}
		if len(s.Risk.Reasons) == 0 {
			t.Errorf("high risk without reasons: %+v", s.Risk)
		}
	}
	got := must[*subscription.Model](t)(db.SubscriptionRiskModel(ctx))
	if got == nil || got.Samples != m.Samples || got.AUC != m.AUC {
		t.Errorf("stored model %+v", got)
	}
}

func must2(t testing.TB) func(v []subscription.Contract, n int, err error) ([]subscription.Contract, int) {
	return func(v []subscription.Contract, n int, err error) ([]subscription.Contract, int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, n
	}
}

func testSubscriptionBadInput(t *testing.T, db *store.DB, _ *clock.Manual) {
	noBuyer := contract(t, "N", "n@example.jp", day(3), nil, subscription.Active, 0)
	noBuyer.Buyer = customer.Record{}
	badCycle := contract(t, "C", "c@example.jp", day(3), nil, subscription.Active, 0)
	badCycle.Cycle = &subscription.Cycle{Unit: "year", Count: 1}
	noStart := contract(t, "S", "s@example.jp", day(3), nil, subscription.Active, 0)
	noStart.StartedAt = nil
	for _, u := range []subscription.Update{noBuyer, badCycle, noStart} {
		if _, err := db.ImportSubscriptions(ctx, []subscription.Update{contract(t, "OK", "ok@example.jp", day(3), nil, subscription.Active, 0), u}); errs.Code(err) != errs.Invalid {
			t.Errorf("%s: %v", u.ExternalID, err)
		}
	}
	// Nothing was half-written: the good contract of each batch is gone too.
	if _, n, err := db.ListSubscriptions(ctx, store.SubscriptionQuery{}); err != nil || n != 0 {
		t.Errorf("%d contracts written (%v)", n, err)
	}
	if _, _, err := db.ListSubscriptions(ctx, store.SubscriptionQuery{Status: "weird"}); errs.Code(err) != errs.Invalid {
		t.Errorf("bad status filter: %v", err)
	}
}

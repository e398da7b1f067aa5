package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

func loyaltyCases() []Case {
	return []Case{
		{"PaidOrdersEarnPointsOnceAcrossReimports", testEarnIdempotent},
		{"CancelReversesEarnedPoints", testCancelReverses},
		{"CancelAfterSpendingTakesFromOtherLotsAndRecordsShortfall", testCancelAfterSpending},
		{"PartialRefundScalesPointsDown", testPartialRefund},
		{"ExpiredPointsAreNotTakenBackTwice", testCancelAfterExpiry},
		{"EarnUsesRankBirthdayCampaignAndEarnSince", testEarnRules},
		{"RedeemSpendsSoonestExpiringFirstAndCancelRestores", testRedeemFIFO},
		{"ConcurrentRedemptionsNeverOverdraw", testConcurrentRedeem},
		{"SameIdempotencyKeyRedeemsOnce", testRedeemSameKey},
		{"AdjustPointsNeverGoesNegative", testAdjust},
		{"ImportBalancesByIdentifierOnce", testImportBalances},
		{"ExpireLapsesLotsAndFiresExpiringSoonOnce", testExpire},
		{"RankUpOnOrderDownDailyWithEventsAndReport", testRanks},
		{"OneImportRanksEachBuyerOnce", testRankQueue},
		{"MergeMovesPointsAndUnmergeReturnsThem", testPointsMerge},
		{"CouponCodesAreUniqueUnguessableAndIssued", testCouponCodes},
		{"CouponCheckAppliesRules", testCouponCheck},
		{"OrderCouponCodeRecordsRedemptionWithRevenue", testCouponRedemptions},
		{"UnusedCouponReminderFiresOnce", testCouponReminder},
		{"CouponSyncWritesEachCodeOnce", testCouponSync},
		{"CustomerLoyaltySummary", testCustomerLoyalty},
		{"DisabledProgramEarnsNothing", testProgramDisabled},
		{"JourneyStepsIssueCouponsAndPointsOnce", testJourneyLoyalty},
		{"SegmentsSeeRanksAndPoints", testLoyaltySegments},
	}
}

// checkLoyaltyIntegrity verifies the ledger's invariants: no lot and no
// usable balance below zero, and every entry of a lot with the lot's
// customer, origin and expiry.
func checkLoyaltyIntegrity(t testing.TB, db *store.DB) {
	t.Helper()
	for name, q := range map[string]string{
		"lots below zero": `SELECT count(*) FROM (SELECT lot_id FROM point_entries GROUP BY lot_id HAVING sum(points) < 0) x`,
		"entries apart from their lot": `SELECT count(*) FROM point_entries e JOIN point_entries l ON l.id = e.lot_id
			WHERE e.customer_id <> l.customer_id OR e.origin_customer_id <> l.origin_customer_id OR coalesce(e.expires_at, -1) <> coalesce(l.expires_at, -1)`,
		"entries without a lot": `SELECT count(*) FROM point_entries e WHERE NOT EXISTS (SELECT 1 FROM point_entries l WHERE l.id = e.lot_id)`,
		"balances below zero":   `SELECT count(*) FROM (SELECT customer_id FROM point_entries GROUP BY customer_id HAVING sum(points) < 0) x`,
	} {
		var n int
		if err := db.Read.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("loyalty integrity %s: %v", name, err)
		}
		if n != 0 {
			t.Errorf("loyalty integrity: %d %s", n, name)
		}
	}
}

func balance(t testing.TB, db *store.DB, id int64) int64 {
	t.Helper()
	return must[*loyalty.Balance](t)(db.PointsBalance(ctx, id)).Points
}

func entries(t testing.TB, db *store.DB, id int64) []loyalty.Entry {
	t.Helper()
	return must[[]loyalty.Entry](t)(db.PointsHistory(ctx, id, 1000, 0))
}

func importOrders(t testing.TB, db *store.DB, os ...order.Order) store.BatchResult {
	t.Helper()
	return must[store.BatchResult](t)(db.ImportOrders(ctx, os))
}

// importRanked imports orders and evaluates the ranks the import queued,
// as the import command does when it ends.
func importRanked(t testing.TB, db *store.DB, os ...order.Order) store.BatchResult {
	t.Helper()
	res := importOrders(t, db, os...)
	must[loyalty.RankRun](t)(db.EvaluatePendingRanks(ctx))
	return res
}

func setProgram(t testing.TB, db *store.DB, edit func(p *loyalty.Program)) {
	t.Helper()
	p := loyalty.DefaultProgram()
	edit(&p)
	if err := db.SetLoyaltyProgram(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// loyaltyEvents lists the loyalty trigger events of a customer by name.
func loyaltyEvents(t testing.TB, db *store.DB, cust int64, name string) []map[string]any {
	t.Helper()
	rows, err := db.Read.QueryContext(ctx, `SELECT properties FROM events WHERE customer_id = $1 AND source = $2 AND name = $3 ORDER BY id`,
		cust, loyalty.EventSource, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func testEarnIdempotent(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	batch := func() []order.Order {
		o1 := Order("shop", "1", day(20), b, "A", 2, 5000) // 10,000 → 100 points
		o2 := Order("shop", "2", day(10), b, "B", 1, 8000)
		o2.Shipping, o2.PointsUsed, o2.Total = 550, 300, 8000+550 // basis 8,550 − 550 − 300 = 7,700 → 77
		o3 := Order("shop", "3", day(5), b, "C", 1, 3000)
		o3.Status = order.Pending // earns when paid
		return []order.Order{o1, o2, o3}
	}
	cust := importOrders(t, db, batch()...).CustomerIDs[0]
	if got := balance(t, db, cust); got != 177 {
		t.Fatalf("balance = %d, want 177", got)
	}
	c.Advance(time.Hour)
	importOrders(t, db, batch()...)
	if got, n := balance(t, db, cust), len(entries(t, db, cust)); got != 177 || n != 2 {
		t.Fatalf("after re-import balance = %d entries = %d", got, n)
	}
	paid := batch()
	paid[2].Status = order.Paid
	importOrders(t, db, paid...)
	importOrders(t, db, paid...)
	es := entries(t, db, cust)
	if got := balance(t, db, cust); got != 207 || len(es) != 3 {
		t.Fatalf("after payment balance = %d entries %+v", got, es)
	}
	if es[0].Kind != loyalty.Earn || es[0].OrderID == 0 || es[0].ExpiresAt == nil {
		t.Fatalf("earn entry = %+v", es[0])
	}
	// Points earned 5 days ago are valid through the same date next year.
	if d := loyalty.ValidThrough(*es[0].ExpiresAt).String(); d != "2027-03-27" {
		t.Fatalf("valid through %s, want 2027-03-27", d)
	}
}

func testCancelReverses(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "", "090-1111-2222")
	o := Order("shop", "1", day(3), b, "A", 1, 12000)
	cust := importOrders(t, db, o).CustomerIDs[0]
	if got := balance(t, db, cust); got != 120 {
		t.Fatalf("balance = %d", got)
	}
	c.Advance(time.Hour)
	o.Status = order.Cancelled
	importOrders(t, db, o)
	es := entries(t, db, cust)
	if got := balance(t, db, cust); got != 0 || len(es) != 2 || es[0].Kind != loyalty.Reverse || es[0].Points != -120 || es[0].LotID != es[1].ID {
		t.Fatalf("after cancel balance = %d entries %+v", got, es)
	}
	importOrders(t, db, o) // re-import of the cancelled order
	if n := len(entries(t, db, cust)); n != 2 {
		t.Fatalf("re-import of cancel added entries: %d", n)
	}
	// Reinstated (cancel undone at the shop): the points come back to the lot.
	o.Status = order.Paid
	importOrders(t, db, o)
	if got := balance(t, db, cust); got != 120 {
		t.Fatalf("after reinstating balance = %d", got)
	}
	o.Status = order.Refunded
	importOrders(t, db, o)
	if got := balance(t, db, cust); got != 0 {
		t.Fatalf("after refund balance = %d", got)
	}
}

func testCancelAfterSpending(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "", "090-1111-2222")
	oa := Order("shop", "A", day(30), b, "A", 1, 10000) // 100, expires first
	ob := Order("shop", "B", day(10), b, "B", 1, 5000)  // 50
	cust := importOrders(t, db, oa, ob).CustomerIDs[0]
	red := must[*loyalty.Redemption](t)(db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 120, IdempotencyKey: "k1"}))
	if red.Balance != 30 {
		t.Fatalf("redemption = %+v", red)
	}
	c.Advance(time.Hour)
	oa.Status = order.Cancelled
	importOrders(t, db, oa)
	if got := balance(t, db, cust); got != 0 {
		t.Fatalf("balance after cancel = %d", got)
	}
	l := must[*loyalty.Liability](t)(db.PointsLiability(ctx))
	if l.Unrecovered != 70 || l.Outstanding != 0 {
		t.Fatalf("liability = %+v", l)
	}
}

func testPartialRefund(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	o := Order("shop", "1", day(3), b, "A", 1, 6000, "B", 1, 4000)
	cust := importOrders(t, db, o).CustomerIDs[0]
	c.Advance(time.Hour)
	o.Lines, o.Total = o.Lines[:1], 6000 // B returned
	importOrders(t, db, o)
	if got := balance(t, db, cust); got != 60 {
		t.Fatalf("balance after partial refund = %d, want 60", got)
	}
	o.Total = 10000 // corrected back
	importOrders(t, db, o)
	if got := balance(t, db, cust); got != 100 {
		t.Fatalf("balance after correction = %d, want 100", got)
	}
}

func testCancelAfterExpiry(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	old := Order("shop", "old", day(400), b, "A", 1, 10000) // 100 points, lapsed
	cust := importOrders(t, db, old).CustomerIDs[0]
	if got := balance(t, db, cust); got != 0 {
		t.Fatalf("expired lot counted: %d", got)
	}
	res := must[loyalty.ExpiryResult](t)(db.ExpirePoints(ctx))
	if res.Lots != 1 || res.Points != 100 {
		t.Fatalf("expiry = %+v", res)
	}
	importOrders(t, db, Order("shop", "new", day(1), b, "B", 1, 5000))
	old.Status = order.Refunded
	importOrders(t, db, old)
	if got := balance(t, db, cust); got != 50 {
		t.Fatalf("refund of an expired order took other points: balance %d", got)
	}
	if l := must[*loyalty.Liability](t)(db.PointsLiability(ctx)); l.Unrecovered != 0 {
		t.Fatalf("unrecovered = %d", l.Unrecovered)
	}
}

func testEarnRules(t *testing.T, db *store.DB, _ *clock.Manual) {
	since := loyalty.DayOf(day(100))
	from, to := loyalty.DayOf(day(15)), loyalty.DayOf(day(5))
	setProgram(t, db, func(p *loyalty.Program) {
		p.Points.EarnSince = &since
		p.Points.Campaigns = []loyalty.PointCampaign{{Name: "スキンケア5倍", From: from, To: to, Multiplier: 5, Categories: []string{"スキンケア"}}}
	})
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	b.Profile.Birthday = "1990-" + T0.In(clock.Tokyo).AddDate(0, 0, -1).Format("01-02") // born in March
	first := Order("shop", "0", day(200), b, "A", 1, 100000)                            // before earn_since: nothing
	gold := Order("shop", "1", day(60), b, "A", 1, 100000)                              // bronze ×1 → 1000, then gold
	cust := importRanked(t, db, first, gold).CustomerIDs[0]
	if got := balance(t, db, cust); got != 1000 {
		t.Fatalf("balance = %d, want 1000", got)
	}
	plain := Order("shop", "2", day(45), b, "A", 1, 10000) // February: gold ×3 → 300
	camp := Order("shop", "3", day(10), b, "A", 1, 10000, "S", 1, 10000)
	camp.Lines[1].Category = "スキンケア" // March, birthday ×2, campaign ×5 on one line: 100×3×2 + 100×3×2×5 = 600 + 3000
	importOrders(t, db, plain, camp)
	if got := balance(t, db, cust); got != 1000+300+3600 {
		t.Fatalf("balance = %d, want %d", got, 1000+300+3600)
	}
}

func testRedeemFIFO(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importOrders(t, db, Order("shop", "1", day(100), b, "A", 1, 10000), Order("shop", "2", day(50), b, "A", 1, 20000)).CustomerIDs[0]
	exp := T0.AddDate(3, 0, 0)
	must[loyalty.AdjustResult](t)(db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: 1000, Reason: "お詫び", ExpiresAt: &exp, Actor: "staff"}))
	bal := must[*loyalty.Balance](t)(db.PointsBalance(ctx, cust))
	if bal.Points != 1300 || len(bal.Lots) != 3 || bal.Lots[0].Remaining != 100 || bal.Lots[2].Kind != loyalty.Adjust || len(bal.Expiring) != 3 {
		t.Fatalf("balance = %+v", bal)
	}
	red := must[*loyalty.Redemption](t)(db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 250, IdempotencyKey: "cart-1", OrderRef: "#1001"}))
	bal = must[*loyalty.Balance](t)(db.PointsBalance(ctx, cust))
	if red.Balance != 1050 || len(bal.Lots) != 2 || bal.Lots[0].Remaining != 50 || bal.Lots[1].Remaining != 1000 {
		t.Fatalf("after redeem %+v balance %+v", red, bal)
	}
	c.Advance(time.Minute)
	back := must[*loyalty.Redemption](t)(db.CancelRedemption(ctx, cust, "cart-1", "checkout"))
	if back.Status != loyalty.RedemptionCancelled || back.Balance != 1300 {
		t.Fatalf("cancel = %+v", back)
	}
	again := must[*loyalty.Redemption](t)(db.CancelRedemption(ctx, cust, "cart-1", "checkout"))
	if !again.Replayed || again.Balance != 1300 {
		t.Fatalf("second cancel = %+v", again)
	}
	bal = must[*loyalty.Balance](t)(db.PointsBalance(ctx, cust))
	if bal.Lots[0].Remaining != 100 || bal.Lots[1].Remaining != 200 {
		t.Fatalf("lots after cancel = %+v", bal.Lots)
	}
	if _, err := db.CancelRedemption(ctx, cust, "nope", "x"); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown key err = %v", err)
	}
	if _, err := db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 1301, IdempotencyKey: "too-much"}); errs.Code(err) != errs.Conflict {
		t.Fatalf("overdraw err = %v", err)
	}
	if _, err := db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 10}); errs.Code(err) != errs.Invalid {
		t.Fatalf("missing key err = %v", err)
	}
}

func testConcurrentRedeem(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importOrders(t, db, Order("shop", "1", day(10), b, "A", 1, 50000), Order("shop", "2", day(5), b, "A", 1, 50000)).CustomerIDs[0]
	if got := balance(t, db, cust); got != 1000 {
		t.Fatalf("balance = %d", got)
	}
	const n = 24
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 90, IdempotencyKey: fmt.Sprintf("k%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch errs.Code(err) {
			case "":
				ok++
			case errs.Conflict:
				refused++
			default:
				t.Errorf("redeem %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 11 || refused != n-11 {
		t.Fatalf("%d redemptions succeeded, %d refused; want 11 and %d", ok, refused, n-11)
	}
	if got := balance(t, db, cust); got != 10 {
		t.Fatalf("balance = %d, want 10", got)
	}
}

func testRedeemSameKey(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importOrders(t, db, Order("shop", "1", day(10), b, "A", 1, 50000)).CustomerIDs[0]
	var wg sync.WaitGroup
	results := make([]*loyalty.Redemption, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 300, IdempotencyKey: "same"})
			if err != nil {
				t.Errorf("redeem: %v", err)
				return
			}
			results[i] = r
		}()
	}
	wg.Wait()
	replayed := 0
	for _, r := range results {
		if r != nil && r.Replayed {
			replayed++
		}
		if r != nil && (r.ID != results[0].ID || r.Balance != 200) {
			t.Fatalf("results differ: %+v vs %+v", r, results[0])
		}
	}
	if replayed != len(results)-1 || balance(t, db, cust) != 200 {
		t.Fatalf("replayed %d, balance %d", replayed, balance(t, db, cust))
	}
	if _, err := db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 100, IdempotencyKey: "same"}); errs.Code(err) != errs.Conflict {
		t.Fatalf("same key, other amount err = %v", err)
	}
}

func testAdjust(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importOrders(t, db, Order("shop", "1", day(10), b, "A", 1, 10000)).CustomerIDs[0]
	if _, err := db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: 50}); errs.Code(err) != errs.Invalid {
		t.Fatalf("adjust without reason err = %v", err)
	}
	r := must[loyalty.AdjustResult](t)(db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: 500, Reason: "お詫び", Key: "ticket-7"}))
	if r.Balance != 600 {
		t.Fatalf("adjust = %+v", r)
	}
	r = must[loyalty.AdjustResult](t)(db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: 500, Reason: "お詫び", Key: "ticket-7"}))
	if !r.Replayed || r.Balance != 600 {
		t.Fatalf("replayed adjust = %+v", r)
	}
	if _, err := db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: -601, Reason: "修正"}); errs.Code(err) != errs.Conflict {
		t.Fatalf("negative overdraw err = %v", err)
	}
	r = must[loyalty.AdjustResult](t)(db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: -550, Reason: "修正"}))
	if r.Balance != 50 {
		t.Fatalf("after taking = %+v", r)
	}
	es := entries(t, db, cust)
	if es[0].Kind != loyalty.Adjust || es[0].Points >= 0 || es[0].Reason != "修正" {
		t.Fatalf("entries = %+v", es)
	}
}

func testImportBalances(t *testing.T, db *store.DB, _ *clock.Manual) {
	a := importOrders(t, db, Order("shop", "1", day(10), Buyer(t, "shop", "m1", "a@example.com", ""), "A", 1, 100)).CustomerIDs[0]
	b := importOrders(t, db, Order("shop", "2", day(10), Buyer(t, "shop", "m2", "", "090-3333-4444"), "A", 1, 100)).CustomerIDs[0]
	exp := T0.AddDate(0, 6, 0)
	rows := []loyalty.BalanceRow{
		{Line: 2, Email: "A@Example.com", Points: 1200, ExpiresAt: &exp, Note: "旧システム"},
		{Line: 3, Phone: "09033334444", Points: 300},
		{Line: 4, Source: "shop", ExternalID: "m2", Points: 45, ExpiresAt: &exp},
		{Line: 5, Email: "nobody@example.com", Points: 10},
		{Line: 6, CustomerID: a, Points: -5},
		{Line: 7, CustomerID: a, Email: "a@example.com", Points: 5},
	}
	dry := must[loyalty.BalanceImportResult](t)(db.ImportPointBalances(ctx, "legacy.csv", rows, true))
	if dry.Imported != 3 || len(dry.Rejected) != 3 || balance(t, db, a) != 1 {
		t.Fatalf("dry run = %+v, balance %d", dry, balance(t, db, a))
	}
	res := must[loyalty.BalanceImportResult](t)(db.ImportPointBalances(ctx, "legacy.csv", rows, false))
	if res.Imported != 3 || res.Points != 1545 || len(res.Rejected) != 3 || res.Rejected[0].Line != 5 {
		t.Fatalf("import = %+v", res)
	}
	if balance(t, db, a) != 1201 || balance(t, db, b) != 346 {
		t.Fatalf("balances = %d %d", balance(t, db, a), balance(t, db, b))
	}
	again := must[loyalty.BalanceImportResult](t)(db.ImportPointBalances(ctx, "legacy.csv", rows[:3], false))
	if again.Imported != 0 || again.Skipped != 3 || balance(t, db, a) != 1201 {
		t.Fatalf("re-import = %+v", again)
	}
	es := entries(t, db, a)
	if es[0].Kind != loyalty.Import || es[0].Reason != "旧システム" || es[0].ExpiresAt == nil || !es[0].ExpiresAt.Equal(exp) {
		t.Fatalf("import entry = %+v", es[0])
	}
}

func testExpire(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importOrders(t, db, Order("shop", "1", day(350), b, "A", 1, 10000), Order("shop", "2", day(100), b, "A", 1, 20000)).CustomerIDs[0]
	must[*loyalty.Redemption](t)(db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: cust, Points: 30, IdempotencyKey: "r"}))
	// The first lot (70 left) lapses in about two weeks: expiring soon.
	res := must[loyalty.ExpiryResult](t)(db.ExpirePoints(ctx))
	if res.Lots != 0 || res.ExpiringSoonEvents != 1 {
		t.Fatalf("first run = %+v", res)
	}
	evs := loyaltyEvents(t, db, cust, loyalty.EventPointsExpiring)
	if len(evs) != 1 || evs[0]["points"] != float64(70) {
		t.Fatalf("expiring events = %+v", evs)
	}
	soon := must[[]loyalty.CustomerExpiring](t)(db.ExpiringPoints(ctx, 30))
	if len(soon) != 1 || soon[0].CustomerID != cust || soon[0].Points != 70 {
		t.Fatalf("expiring soon = %+v", soon)
	}
	if res := must[loyalty.ExpiryResult](t)(db.ExpirePoints(ctx)); res.ExpiringSoonEvents != 0 {
		t.Fatalf("second run fired again: %+v", res)
	}
	c.Advance(20 * 24 * time.Hour)
	res = must[loyalty.ExpiryResult](t)(db.ExpirePoints(ctx))
	if res.Lots != 1 || res.Points != 70 || res.Customers != 1 {
		t.Fatalf("expiry = %+v", res)
	}
	if res := must[loyalty.ExpiryResult](t)(db.ExpirePoints(ctx)); res.Lots != 0 {
		t.Fatalf("expired twice: %+v", res)
	}
	es := entries(t, db, cust)
	if es[0].Kind != loyalty.Expire || es[0].Points != -70 || balance(t, db, cust) != 200 {
		t.Fatalf("entries = %+v balance %d", es, balance(t, db, cust))
	}
	l := must[*loyalty.Liability](t)(db.PointsLiability(ctx))
	if l.Outstanding != 200 || l.Customers != 1 || len(l.ByMonth) != 1 || l.ByMonth[0].Month != "2026-12" {
		t.Fatalf("liability = %+v", l)
	}
}

func testRanks(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	other := importRanked(t, db, Order("shop", "x", day(5), Buyer(t, "shop", "c2", "", "090-5555-6666"), "A", 1, 1000)).CustomerIDs[0]
	cust := importOrders(t, db, Order("shop", "1", day(60), b, "A", 1, 60000)).CustomerIDs[0]
	if h := must[[]loyalty.RankChange](t)(db.RankHistory(ctx, cust)); len(h) != 0 {
		t.Fatalf("ranked before the queue was worked: %+v", h)
	}
	if run := must[loyalty.RankRun](t)(db.EvaluatePendingRanks(ctx)); run.Evaluated != 1 || run.Up != 1 {
		t.Fatalf("queued evaluation = %+v", run)
	}
	if run := must[loyalty.RankRun](t)(db.EvaluatePendingRanks(ctx)); run.Evaluated != 0 {
		t.Fatalf("queue not emptied: %+v", run)
	}
	sum := must[*loyalty.CustomerSummary](t)(db.CustomerLoyalty(ctx, cust))
	if sum.Rank.Code != "silver" || sum.NextRank == nil || sum.NextRank.Code != "gold" || sum.ToNext != 40000 {
		t.Fatalf("summary = %+v", sum)
	}
	c.Advance(time.Hour)
	importRanked(t, db, Order("shop", "2", day(1), b, "A", 1, 50000))
	hist := must[[]loyalty.RankChange](t)(db.RankHistory(ctx, cust))
	if len(hist) != 2 || hist[0].To != "gold" || hist[0].Direction != "up" || hist[0].Reason != loyalty.ReasonOrder || hist[1].From != "bronze" {
		t.Fatalf("history = %+v", hist)
	}
	evs := loyaltyEvents(t, db, cust, loyalty.EventRankChanged)
	if len(evs) != 2 || evs[1]["to"] != "gold" || evs[1]["from"] != "silver" || evs[1]["direction"] != "up" {
		t.Fatalf("rank events = %+v", evs)
	}
	mid := c.Now()
	// Eleven months on, the silver order has left the window; a year on, both.
	c.Advance(330 * 24 * time.Hour)
	run := must[loyalty.RankRun](t)(db.EvaluateRanks(ctx, nil))
	if run.Down != 1 || run.Up != 0 || run.Changes[0].To != "silver" || run.Changes[0].Reason != loyalty.ReasonDaily {
		t.Fatalf("daily run = %+v", run)
	}
	c.Advance(60 * 24 * time.Hour)
	daily := must[loyalty.DailyResult](t)(db.LoyaltyDaily(ctx))
	if daily.Ranks.Down != 1 {
		t.Fatalf("daily = %+v", daily)
	}
	if again := must[loyalty.RankRun](t)(db.EvaluateRanks(ctx, nil)); len(again.Changes) != 0 {
		t.Fatalf("second daily run changed ranks: %+v", again)
	}
	if evs := loyaltyEvents(t, db, cust, loyalty.EventRankChanged); len(evs) != 4 || evs[3]["to"] != "bronze" || evs[3]["direction"] != "down" {
		t.Fatalf("rank events = %+v", evs)
	}
	rep := must[*loyalty.RankReport](t)(db.RankReport(ctx, mid, c.Now()))
	want := map[[2]string]int64{{"gold", "bronze"}: 1, {"bronze", "bronze"}: 1}
	if len(rep.Movement) != 2 || rep.Downgraded != 1 || rep.Unchanged != 1 {
		t.Fatalf("report = %+v", rep)
	}
	for _, m := range rep.Movement {
		if want[[2]string{m.From, m.To}] != m.Customers {
			t.Fatalf("movement = %+v", rep.Movement)
		}
	}
	if rep.Distribution[3].Rank != "bronze" || rep.Distribution[3].Customers != 2 || rep.Distribution[1].Customers != 0 {
		t.Fatalf("distribution = %+v", rep.Distribution)
	}
	early := must[*loyalty.RankReport](t)(db.RankReport(ctx, T0.AddDate(0, 0, -90), mid))
	if early.New != 2 || early.Distribution[1].Customers != 1 {
		t.Fatalf("early report = %+v", early)
	}
	_ = other
}

func testRankQueue(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	var cust int64
	for i := range 8 { // ¥40,000 a batch: silver, gold, platinum along the way
		cust = importOrders(t, db, Order("shop", fmt.Sprint(i), day(80-i), b, "A", 1, 40000)).CustomerIDs[0]
	}
	old := importOrders(t, db, Order("shop", "old", day(500), Buyer(t, "shop", "c2", "b@example.com", ""), "A", 1, 500000)).CustomerIDs[0]
	run := must[loyalty.RankRun](t)(db.EvaluatePendingRanks(ctx))
	if run.Evaluated != 1 || len(run.Changes) != 1 || run.Changes[0].From != "bronze" || run.Changes[0].To != "platinum" {
		t.Fatalf("run = %+v", run)
	}
	if evs := loyaltyEvents(t, db, cust, loyalty.EventRankChanged); len(evs) != 1 {
		t.Fatalf("events = %+v", evs)
	}
	// An order outside the window cannot move a rank: its buyer was not queued.
	if h := must[[]loyalty.RankChange](t)(db.RankHistory(ctx, old)); len(h) != 0 {
		t.Fatalf("old buyer ranked: %+v", h)
	}
	// A merged customer queued is evaluated as the one that absorbed it.
	c := importOrders(t, db, Order("shop", "m", day(3), Buyer(t, "shop", "c3", "c@example.com", ""), "A", 1, 35000)).CustomerIDs[0]
	must[int64](t)(db.MergeCustomers(ctx, old, c, "staff"))
	run = must[loyalty.RankRun](t)(db.EvaluatePendingRanks(ctx))
	if run.Evaluated != 1 || len(run.Changes) != 1 || run.Changes[0].CustomerID != old || run.Changes[0].To != "silver" {
		t.Fatalf("merged run = %+v", run)
	}
}

func testPointsMerge(t *testing.T, db *store.DB, c *clock.Manual) {
	a, b := twoCustomers(t, db) // A: ¥5,000 → 50; B: ¥6,000 → 60
	if balance(t, db, a) != 50 || balance(t, db, b) != 60 {
		t.Fatalf("balances %d %d", balance(t, db, a), balance(t, db, b))
	}
	mid := must[int64](t)(db.MergeCustomers(ctx, a, b, "staff"))
	if got := balance(t, db, a); got != 110 {
		t.Fatalf("merged balance = %d", got)
	}
	// Spend across both profiles' lots: A's lot is older and goes first.
	must[*loyalty.Redemption](t)(db.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: b, Points: 70, IdempotencyKey: "m"}))
	c.Advance(time.Minute)
	if err := db.Unmerge(ctx, mid, "staff"); err != nil {
		t.Fatal(err)
	}
	if ga, gb := balance(t, db, a), balance(t, db, b); ga != 0 || gb != 40 {
		t.Fatalf("after unmerge A %d B %d, want 0 and 40", ga, gb)
	}
}

func testCouponCodes(t *testing.T, db *store.DB, _ *clock.Manual) {
	ends := T0.AddDate(0, 1, 0)
	uc := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "春の500円OFF", Mode: loyalty.Unique,
		DiscountType: loyalty.AmountOff, Value: 500, EndsAt: &ends}))
	codes := must[[]loyalty.Coupon](t)(db.GenerateCoupons(ctx, uc.ID, 300, "SP-"))
	seen := map[string]bool{}
	for _, cp := range codes {
		body := strings.TrimPrefix(cp.Code, "SP-")
		if len(body) != loyalty.CodeLength || strings.Trim(body, loyalty.CodeAlphabet) != "" || seen[cp.Code] {
			t.Fatalf("bad code %q", cp.Code)
		}
		seen[cp.Code] = true
	}
	if len(codes) != 300 {
		t.Fatalf("%d codes", len(codes))
	}
	sc := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "Welcome", Mode: loyalty.Shared, SharedCode: "welcome10",
		DiscountType: loyalty.PercentOff, Value: 10}))
	if sc.SharedCode != "WELCOME10" {
		t.Fatalf("shared code = %q", sc.SharedCode)
	}
	if _, err := db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "dup", Mode: loyalty.Shared, SharedCode: "Welcome10", DiscountType: loyalty.AmountOff, Value: 1}); errs.Code(err) != errs.Conflict {
		t.Fatalf("duplicate shared code err = %v", err)
	}
	if _, err := db.GenerateCoupons(ctx, sc.ID, 5, ""); errs.Code(err) != errs.Invalid {
		t.Fatalf("generate for shared err = %v", err)
	}
	cust := importOrders(t, db, Order("shop", "1", day(10), Buyer(t, "shop", "c1", "a@example.com", ""), "A", 1, 100)).CustomerIDs[0]
	first := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: uc.ID, CustomerID: cust, Key: "journey-1:step-2", Actor: "journey"}))
	if first.Code != codes[0].Code || first.CustomerID != cust || first.Status != loyalty.CouponUnused {
		t.Fatalf("issued = %+v", first)
	}
	again := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: uc.ID, CustomerID: cust, Key: "journey-1:step-2"}))
	second := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: uc.ID, CustomerID: cust}))
	if again.ID != first.ID || second.ID == first.ID {
		t.Fatalf("issue idempotency: %+v %+v %+v", first, again, second)
	}
	s1 := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: sc.ID, CustomerID: cust}))
	s2 := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: sc.ID, CustomerID: cust}))
	if s1.Code != "WELCOME10" || s1.ID != s2.ID {
		t.Fatalf("shared issue = %+v %+v", s1, s2)
	}
	mine := must[[]loyalty.Coupon](t)(db.CustomerCoupons(ctx, cust))
	if len(mine) != 3 || len(loyaltyEvents(t, db, cust, loyalty.EventCouponIssued)) != 3 {
		t.Fatalf("customer coupons = %+v", mine)
	}
	// A campaign with every code issued makes a new one.
	small := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "one", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 100}))
	made := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: small.ID, CustomerID: cust}))
	if len(made.Code) != loyalty.CodeLength {
		t.Fatalf("made = %+v", made)
	}
	vip := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "Gold限定", Mode: loyalty.Unique, DiscountType: loyalty.PercentOff, Value: 15, Ranks: []string{"gold", "platinum"}}))
	if _, err := db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: vip.ID, CustomerID: cust}); errs.Code(err) != errs.Conflict {
		t.Fatalf("rank-exclusive issue err = %v", err)
	}
	st := must[*loyalty.CampaignStats](t)(db.CouponCampaign(ctx, uc.ID))
	if st.Codes != 300 || st.Issued != 2 || st.Redeemed != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func testCouponCheck(t *testing.T, db *store.DB, _ *clock.Manual) {
	starts, ends := T0.AddDate(0, 0, -1), T0.AddDate(0, 0, 10)
	camp := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "スキンケア20%", Mode: loyalty.Shared, SharedCode: "SKIN20",
		DiscountType: loyalty.PercentOff, Value: 20, MinOrder: 3000, StartsAt: &starts, EndsAt: &ends, PerCustomerLimit: 1, Categories: []string{"スキンケア"}}))
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importOrders(t, db, Order("shop", "1", day(10), b, "A", 1, 100)).CustomerIDs[0]
	lines := []order.Line{{SKU: "S1", Category: "スキンケア", Quantity: 1, UnitPrice: 4000, Amount: 4000}, {SKU: "F1", Category: "食品", Quantity: 1, UnitPrice: 1000, Amount: 1000}}
	check := func(cart loyalty.Cart) loyalty.Verdict {
		t.Helper()
		return must[loyalty.Verdict](t)(db.CheckCoupon(ctx, cart))
	}
	if v := check(loyalty.Cart{Code: "skin20", CustomerID: cust, Subtotal: 5000, Lines: lines}); !v.Valid || v.Discount != 800 || v.CampaignID != camp.ID {
		t.Fatalf("valid check = %+v", v)
	}
	if v := check(loyalty.Cart{Code: "SKIN20", CustomerID: cust, Subtotal: 2000, Lines: lines[:1]}); v.Reason != loyalty.ReasonBelowMinimum {
		t.Fatalf("below minimum = %+v", v)
	}
	if v := check(loyalty.Cart{Code: "SKIN20", CustomerID: cust, Subtotal: 5000, Lines: lines[1:]}); v.Reason != loyalty.ReasonNoEligible {
		t.Fatalf("out of scope = %+v", v)
	}
	if v := check(loyalty.Cart{Code: "SKIN20", Subtotal: 5000, Lines: lines}); v.Reason != loyalty.ReasonNeedsCustomer {
		t.Fatalf("anonymous = %+v", v)
	}
	if v := check(loyalty.Cart{Code: "NOPE", Subtotal: 5000}); v.Reason != loyalty.ReasonUnknownCode {
		t.Fatalf("unknown = %+v", v)
	}
	o := Order("shop", "2", day(0), b, "S1", 1, 4000)
	o.CouponCode, o.Discount = "skin20", 800
	importOrders(t, db, o)
	if v := check(loyalty.Cart{Code: "SKIN20", CustomerID: cust, Subtotal: 5000, Lines: lines}); v.Reason != loyalty.ReasonCustomerLimit {
		t.Fatalf("after use = %+v", v)
	}
	uc := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "u", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 1000}))
	code := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: uc.ID, CustomerID: cust})).Code
	someone := importOrders(t, db, Order("shop", "9", day(10), Buyer(t, "shop", "c9", "z@example.com", ""), "A", 1, 100)).CustomerIDs[0]
	if v := check(loyalty.Cart{Code: code, CustomerID: someone, Subtotal: 5000}); v.Reason != loyalty.ReasonNotYours {
		t.Fatalf("someone else's code = %+v", v)
	}
	if v := check(loyalty.Cart{Code: code, CustomerID: cust, Subtotal: 600}); !v.Valid || v.Discount != 600 {
		t.Fatalf("amount capped = %+v", v)
	}
}

func testCouponRedemptions(t *testing.T, db *store.DB, c *clock.Manual) {
	camp := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "Welcome", Mode: loyalty.Shared, SharedCode: "WELCOME10",
		DiscountType: loyalty.PercentOff, Value: 10}))
	uc := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "Thanks", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 500}))
	codes := must[[]loyalty.Coupon](t)(db.GenerateCoupons(ctx, uc.ID, 3, ""))
	a := Buyer(t, "shop", "c1", "a@example.com", "")
	b := Buyer(t, "shop", "c2", "b@example.com", "")
	custA := importOrders(t, db, Order("shop", "0", day(30), a, "A", 1, 100)).CustomerIDs[0]
	must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: camp.ID, CustomerID: custA}))
	must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: uc.ID, CustomerID: custA}))
	o1 := Order("shop", "1", day(5), a, "A", 1, 9000)
	o1.CouponCode, o1.Discount, o1.Total = "welcome10", 900, 8100
	o2 := Order("shop", "2", day(4), b, "A", 1, 5000)
	o2.CouponCode, o2.Discount, o2.Total = "WELCOME10", 500, 4500
	o3 := Order("shop", "3", day(3), a, "A", 1, 3000)
	o3.CouponCode, o3.Discount, o3.Total = strings.ToLower(codes[0].Code), 500, 2500 // the code issued to A
	o4 := Order("shop", "4", day(2), b, "A", 1, 1000)
	o4.CouponCode = "SHOPIFY-ONLY" // unknown: ignored
	batch := []order.Order{o1, o2, o3, o4}
	importOrders(t, db, batch...)
	c.Advance(time.Hour)
	importOrders(t, db, batch...)
	st := must[*loyalty.CampaignStats](t)(db.CouponCampaign(ctx, camp.ID))
	if st.Redemptions != 2 || st.Revenue != 12600 || st.Discount != 1400 || st.Issued != 1 || st.Redeemed != 1 || st.Rate != 1 {
		t.Fatalf("shared stats = %+v", st)
	}
	ust := must[*loyalty.CampaignStats](t)(db.CouponCampaign(ctx, uc.ID))
	if ust.Redemptions != 1 || ust.Revenue != 2500 || ust.Issued != 1 || ust.Redeemed != 1 {
		t.Fatalf("unique stats = %+v", ust)
	}
	mine := must[[]loyalty.Coupon](t)(db.CustomerCoupons(ctx, custA))
	for _, cp := range mine {
		if cp.Status != loyalty.CouponUsed {
			t.Fatalf("coupon %+v should be used", cp)
		}
	}
	// Cancelled: the redemption no longer counts; the code is free again.
	o2.Status = order.Cancelled
	o3.CouponCode = ""
	importOrders(t, db, o2, o3)
	st = must[*loyalty.CampaignStats](t)(db.CouponCampaign(ctx, camp.ID))
	ust = must[*loyalty.CampaignStats](t)(db.CouponCampaign(ctx, uc.ID))
	if st.Redemptions != 1 || st.Revenue != 8100 || ust.Redemptions != 0 || ust.Redeemed != 0 || ust.Rate != 0 {
		t.Fatalf("after cancel: %+v / %+v", st, ust)
	}
	all := must[[]loyalty.CampaignStats](t)(db.CouponCampaigns(ctx))
	if len(all) != 2 || all[0].ID != uc.ID || all[1].SharedCode != "WELCOME10" {
		t.Fatalf("campaigns = %+v", all)
	}
}

func testCouponReminder(t *testing.T, db *store.DB, c *clock.Manual) {
	ends := T0.AddDate(0, 0, 20)
	camp := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "月末まで", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 300, EndsAt: &ends}))
	a := importOrders(t, db, Order("shop", "1", day(10), Buyer(t, "shop", "c1", "a@example.com", ""), "A", 1, 100)).CustomerIDs[0]
	b := importOrders(t, db, Order("shop", "2", day(10), Buyer(t, "shop", "c2", "b@example.com", ""), "A", 1, 100)).CustomerIDs[0]
	ca := must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: camp.ID, CustomerID: a}))
	must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: camp.ID, CustomerID: b}))
	if n := must[int](t)(db.RemindUnusedCoupons(ctx)); n != 0 {
		t.Fatalf("reminded %d coupons 20 days before the end", n)
	}
	o := Order("shop", "3", day(0), Buyer(t, "shop", "c1", "", ""), "A", 1, 5000)
	o.CouponCode = ca.Code
	importOrders(t, db, o)
	c.Advance(15 * 24 * time.Hour)
	unused := must[[]loyalty.UnusedCoupon](t)(db.UnusedCoupons(ctx, 7))
	if len(unused) != 1 || unused[0].CustomerID != b || unused[0].DaysLeft != 5 {
		t.Fatalf("unused = %+v", unused)
	}
	if n := must[int](t)(db.RemindUnusedCoupons(ctx)); n != 1 {
		t.Fatalf("reminded %d", n)
	}
	if n := must[int](t)(db.RemindUnusedCoupons(ctx)); n != 0 {
		t.Fatalf("reminded again: %d", n)
	}
	if evs := loyaltyEvents(t, db, b, loyalty.EventCouponUnused); len(evs) != 1 || evs[0]["days_left"] != float64(5) {
		t.Fatalf("events = %+v", evs)
	}
}

// fakeCodeWriter records codes like a remote shop, refusing one it holds.
type fakeCodeWriter struct {
	mu    sync.Mutex
	codes map[string]string
	fail  string // a code to fail on, once
}

func (f *fakeCodeWriter) CreateDiscountCode(_ context.Context, rule, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == f.fail {
		f.fail = ""
		return "", fmt.Errorf("remote down")
	}
	if _, ok := f.codes[code]; ok {
		return "", loyalty.ErrCodeExists
	}
	id := fmt.Sprintf("%s-%d", rule, len(f.codes)+1)
	f.codes[code] = id
	return id, nil
}

func testCouponSync(t *testing.T, db *store.DB, _ *clock.Manual) {
	camp := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "sync", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff,
		Value: 300, ShopifyPriceRuleID: "507328175"}))
	codes := must[[]loyalty.Coupon](t)(db.GenerateCoupons(ctx, camp.ID, 150, ""))
	w := &fakeCodeWriter{codes: map[string]string{codes[3].Code: "pre"}, fail: codes[120].Code}
	res, err := loyalty.SyncDiscountCodes(ctx, db, w, camp)
	if err == nil || res.Written != 119 || res.Existed != 1 {
		t.Fatalf("first sync = %+v, %v", res, err)
	}
	res, err = loyalty.SyncDiscountCodes(ctx, db, w, camp)
	if err != nil || res.Written != 30 || res.Existed != 0 {
		t.Fatalf("second sync = %+v, %v", res, err)
	}
	st := must[*loyalty.CampaignStats](t)(db.CouponCampaign(ctx, camp.ID))
	if st.Synced != 150 || len(w.codes) != 150 {
		t.Fatalf("synced %d, remote %d", st.Synced, len(w.codes))
	}
	if res, _ := loyalty.SyncDiscountCodes(ctx, db, w, camp); res.Written != 0 {
		t.Fatalf("third sync wrote %d", res.Written)
	}
}

func testCustomerLoyalty(t *testing.T, db *store.DB, _ *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	cust := importRanked(t, db, Order("shop", "1", day(20), b, "A", 1, 150000)).CustomerIDs[0]
	vip := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "Gold限定", Mode: loyalty.Unique, DiscountType: loyalty.PercentOff, Value: 15, Ranks: []string{"gold"}}))
	must[*loyalty.Coupon](t)(db.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: vip.ID, CustomerID: cust}))
	s := must[*loyalty.CustomerSummary](t)(db.CustomerLoyalty(ctx, cust))
	if s.Rank.Code != "gold" || !s.Rank.FreeShipping || s.RankSince == nil || s.Value != 150000 || s.NextRank.Code != "platinum" || s.ToNext != 150000 {
		t.Fatalf("rank part = %+v", s)
	}
	if s.Points != 1500 || len(s.Expiring) != 1 || len(s.Recent) != 1 || len(s.Coupons) != 1 || len(s.Exclusive) != 1 || len(s.RankHistory) != 1 {
		t.Fatalf("summary = %+v", s)
	}
	if _, err := db.CustomerLoyalty(ctx, 999); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown customer err = %v", err)
	}
}

func testProgramDisabled(t *testing.T, db *store.DB, _ *clock.Manual) {
	setProgram(t, db, func(p *loyalty.Program) { p.Enabled = false })
	cust := importOrders(t, db, Order("shop", "1", day(20), Buyer(t, "shop", "c1", "a@example.com", ""), "A", 1, 150000)).CustomerIDs[0]
	if balance(t, db, cust) != 0 || len(must[[]loyalty.RankChange](t)(db.RankHistory(ctx, cust))) != 0 {
		t.Fatalf("disabled programme earned or ranked")
	}
	bad := `{"ranks":{"metric":"spend","period":"rolling","tiers":[{"code":"a","min":5}]}}`
	if err := db.SetSetting(ctx, loyalty.ProgramSetting, bad); errs.Code(err) != errs.Invalid {
		t.Fatalf("invalid programme stored: %v", err)
	}
	// One stored by other means is refused when read.
	if _, err := db.Write.ExecContext(ctx, `UPDATE settings SET value = $1 WHERE key = $2`, bad, loyalty.ProgramSetting); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LoyaltyProgram(ctx); err == nil {
		t.Fatal("a programme without a zero tier was accepted")
	}
}

func testJourneyLoyalty(t *testing.T, db *store.DB, _ *clock.Manual) {
	cust := importOrders(t, db, Order("shop", "1", day(5), Buyer(t, "shop", "c1", "a@example.com", ""), "A", 1, 1000)).CustomerIDs[0]
	camp := must[*loyalty.Campaign](t)(db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "F2", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 500}))
	l := store.JourneyLoyalty{DB: db}
	a := must[string](t)(l.IssueCoupon(ctx, cust, camp.ID, "enr-1:cpn"))
	b := must[string](t)(l.IssueCoupon(ctx, cust, camp.ID, "enr-1:cpn"))
	if a == "" || a != b || len(must[[]loyalty.Coupon](t)(db.CustomerCoupons(ctx, cust))) != 1 {
		t.Fatalf("codes %q %q", a, b)
	}
	for range 2 {
		if err := l.AdjustPoints(ctx, cust, 300, "誕生日ポイント", "enr-1:pts"); err != nil {
			t.Fatal(err)
		}
	}
	if got := balance(t, db, cust); got != 310 {
		t.Fatalf("balance = %d, want 310", got)
	}
	if _, err := l.IssueCoupon(ctx, cust, 999, "enr-2:cpn"); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown campaign err = %v", err)
	}
}

func testLoyaltySegments(t *testing.T, db *store.DB, _ *clock.Manual) {
	gold := importRanked(t, db, Order("shop", "1", day(5), Buyer(t, "shop", "c1", "a@example.com", ""), "A", 1, 150000)).CustomerIDs[0]
	plain := importRanked(t, db, Order("shop", "2", day(5), Buyer(t, "shop", "c2", "b@example.com", ""), "A", 1, 1000)).CustomerIDs[0]
	if got := matchIDs(t, db, cond(t, `{"field":"rank","op":"=","value":"bronze"}`)); !slicesEqual(got, []int64{plain}) {
		t.Fatalf("bronze = %v", got)
	}
	if got := matchIDs(t, db, cond(t, `{"field":"rank","op":"=","value":"gold"}`)); !slicesEqual(got, []int64{gold}) {
		t.Fatalf("gold = %v", got)
	}
	if got := matchIDs(t, db, cond(t, `{"field":"points_balance","op":">","value":100}`)); !slicesEqual(got, []int64{gold}) {
		t.Fatalf("points > 100 = %v", got)
	}
	// A programme whose lowest tier has another code: customers without a
	// stored rank hold it.
	setProgram(t, db, func(p *loyalty.Program) { p.Ranks.Tiers[3].Code = "regular" })
	if got := matchIDs(t, db, cond(t, `{"field":"rank","op":"=","value":"regular"}`)); !slicesEqual(got, []int64{plain}) {
		t.Fatalf("regular = %v", got)
	}
	if err := db.SetSetting(ctx, loyalty.ProgramSetting, `{"ranks":{"metric":"spend","period":"rolling","tiers":[{"code":"member","min":0}]}}`); err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(t, db, cond(t, `{"field":"rank","op":"=","value":"member"}`)); !slicesEqual(got, []int64{plain}) {
		t.Fatalf("member = %v", got)
	}
	if err := db.SetSetting(ctx, loyalty.ProgramSetting, `{"ranks":{"tiers":[]}}`); errs.Code(err) != errs.Invalid {
		t.Fatalf("invalid programme through SetSetting: %v", err)
	}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

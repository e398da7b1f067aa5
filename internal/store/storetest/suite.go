package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

// T0 is the fixed "now" of the suite's clock: 2026-04-01 12:00 JST.
var T0 = time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)

// Case is one behaviour test of the store; it gets a fresh store whose
// clock starts at T0 and does not move by itself.
type Case struct {
	Name string
	Fn   func(t *testing.T, db *store.DB, c *clock.Manual)
}

// suites lists every capability's cases. A capability adds its list here
// (one line) and keeps its cases in a file of its own.
func suites() [][]Case {
	return [][]Case{
		coreCases(),
		uiCases(),
		segmentCases(),
		channelCases(),
		ingestCases(),
		loyaltyCases(),
		analyticsCases(),
		securityCases(),
		subscriptionCases(),
		vocCases(),
	}
}

// Run exercises a backend: open must return a fresh, migrated store.
func Run(t *testing.T, open Opener) {
	for _, cases := range suites() {
		for _, tc := range cases {
			t.Run(tc.Name, func(t *testing.T) {
				t.Parallel()
				c := clock.NewManual(T0, true)
				db := open(t, c)
				tc.Fn(t, db, c)
				CheckIntegrity(t, db)
			})
		}
	}
}

func coreCases() []Case {
	return []Case{
		{"MigrateTwiceIsHarmless", testMigrateTwice},
		{"ImportOrdersCreatesCustomersOrdersLinesProducts", testImportOrders},
		{"ReimportChangesNothing", testReimportChangesNothing},
		{"OrderUpdateReplacesLinesAndAggregates", testOrderUpdate},
		{"SameIdentifierFromAnySourceIsOnePerson", testSameIdentifierOnePerson},
		{"LinkingRecordMergesAndUnmergeRestores", testMergeUnmerge},
		{"UnmergeAfterLaterMergeReturnsRowsByOrigin", testUnmergeChain},
		{"MaskedMallAddressNeverMerges", testMaskedNeverMerges},
		{"ManualKindsWaitForApproval", testManualMergePolicy},
		{"RejectedCandidateLeavesCustomersApart", testRejectCandidate},
		{"ManualMergeAndUnmerge", testManualMerge},
		{"CustomerViewTimelinePages", testTimelinePages},
		{"SearchByKanjiKanaEmailPhone", testSearch},
		{"EventsDeduplicateByMessageID", testEventsDedupe},
		{"CustomerImportRecordsConsentChangesOnly", testConsents},
		{"CustomerImportOverwritesProfileAndCountsUpdates", testCustomerOverwrite},
		{"ProductsUpsertBySKU", testProducts},
		{"NotesInquiriesTags", testNotesInquiriesTags},
		{"UsersSessionsAPIKeys", testUsersSessionsKeys},
		{"Settings", testSettings},
		{"HostileTextIsStoredVerbatim", testHostileText},
		{"IdentityCacheSurvivesMergesAndUnmerges", testIdentityCacheAcrossMerges},
		{"RollbackLeavesNoCachedIdentity", testRollbackLeavesNoCache},
	}
}

// CheckIntegrity verifies what the schema cannot: every customer-owned row
// points at an active (or erased, emptied) customer, merged customers point at a customer, and
// stored aggregates equal a recomputation from paid orders.
func CheckIntegrity(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	for _, table := range store.CustomerTables() {
		var n int
		err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` x WHERE x.customer_id IS NOT NULL AND NOT EXISTS
			(SELECT 1 FROM customers c WHERE c.id = x.customer_id AND c.status IN ('active', 'erased'))`).Scan(&n)
		if err != nil {
			t.Fatalf("integrity %s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("integrity: %d rows of %s belong to no active customer", n, table)
		}
		err = db.Read.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` x WHERE x.origin_customer_id IS NOT NULL AND NOT EXISTS
			(SELECT 1 FROM customers c WHERE c.id = x.origin_customer_id)`).Scan(&n)
		if err != nil {
			t.Fatalf("integrity %s: %v", table, err)
		}
		if n != 0 {
			t.Errorf("integrity: %d rows of %s have an unknown origin customer", n, table)
		}
	}
	var n int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM order_lines l WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = l.order_id)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("integrity: %d order lines without an order", n)
	}
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customers c WHERE c.status = 'merged' AND NOT EXISTS
		(SELECT 1 FROM customers w WHERE w.id = c.merged_into)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("integrity: %d merged customers point nowhere", n)
	}
	err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customers c
		LEFT JOIN (SELECT customer_id, count(*) AS n, sum(total) AS s, min(ordered_at) AS f, max(ordered_at) AS l
		           FROM orders WHERE status = 'paid' GROUP BY customer_id) a ON a.customer_id = c.id
		WHERE c.status IN ('active', 'erased') AND (c.order_count <> coalesce(a.n, 0) OR c.total_spent <> coalesce(a.s, 0)
		   OR coalesce(c.first_order_at, -1) <> coalesce(a.f, -1) OR coalesce(c.last_order_at, -1) <> coalesce(a.l, -1))`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("integrity: %d customers' aggregates differ from their paid orders", n)
	}
	checkLoyaltyIntegrity(t, db)
}

// Buyer builds a customer record from optional identifiers.
func Buyer(t testing.TB, extSource, extID, email, phone string) customer.Record {
	t.Helper()
	var r customer.Record
	if extID != "" {
		r.Identifiers = append(r.Identifiers, identity.ExternalID(extSource, extID))
	}
	if email != "" {
		id, err := identity.EmailID(email)
		if err != nil {
			t.Fatal(err)
		}
		r.Identifiers = append(r.Identifiers, id)
		r.Profile.Email = id.Value
	}
	if phone != "" {
		id, err := identity.PhoneID(phone)
		if err != nil {
			t.Fatal(err)
		}
		r.Identifiers = append(r.Identifiers, id)
		r.Profile.Phone = id.Value
	}
	return r
}

// Order builds a paid order with one line per (sku, qty, price) triple.
func Order(source, ext string, at time.Time, buyer customer.Record, lines ...any) order.Order {
	o := order.Order{Source: source, ExternalID: ext, OrderedAt: at, Status: order.Paid, Channel: order.ChannelOwnEC, Currency: "JPY", Buyer: buyer}
	for i := 0; i+2 < len(lines); i += 3 {
		q, p := int64(lines[i+1].(int)), int64(lines[i+2].(int))
		o.Lines = append(o.Lines, order.Line{LineNo: len(o.Lines) + 1, SKU: lines[i].(string), ProductName: "商品 " + lines[i].(string), Quantity: q, UnitPrice: p, Amount: q * p})
		o.Total += q * p
	}
	return o
}

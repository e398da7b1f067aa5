package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store"
)

func ingestCases() []Case {
	return []Case{
		{"InboxDeduplicatesByKey", testInboxDedupe},
		{"InboxClaimsEachRowOnceAcrossWorkers", testInboxConcurrentClaims},
		{"InboxLeaseExpiryHandsRowsOver", testInboxLease},
		{"InboxClaimsWebhooksBeforeEventBatches", testInboxPriority},
		{"InboxFailRetryDeadDiscardPrune", testInboxFailures},
		{"StitchAnonymousEventsKeepsOriginForUnmerge", testStitchAnonymous},
		{"AttachIdentifierMergesItsHolder", testAttachIdentifier},
		{"ExternalInquiryIsAddedOnce", testExternalInquiry},
		{"LinkNonceIsUsedOnce", testLinkNonce},
		{"PrivacyRequestsAndShopifyOrderIDs", testPrivacyAndShopifyIDs},
	}
}

func item(kind, dedupe string) store.InboxItem {
	return store.InboxItem{Kind: kind, Source: "s", Topic: "t", DedupeKey: dedupe, Body: []byte(`{"a":1}`), Items: 2}
}

func testInboxDedupe(t *testing.T, db *store.DB, _ *clock.Manual) {
	ids := must[[]int64](t)(db.EnqueueInbox(ctx, []store.InboxItem{item("shopify", "w1"), item("shopify", "w1"), item("shopify", ""), item("shopify", ""), item("line", "w1")}))
	if ids[0] == 0 || ids[1] != 0 || ids[2] == 0 || ids[3] == 0 || ids[4] == 0 {
		t.Fatalf("ids = %v", ids)
	}
	st := must[store.InboxStatus](t)(db.InboxStatus(ctx))
	if st.Pending != 4 || st.PendingItems != 8 || st.OldestPendingAt == nil || !st.OldestPendingAt.Equal(T0) {
		t.Fatalf("status = %+v", st)
	}
	got := must[*store.InboxItem](t)(db.InboxItem(ctx, ids[0]))
	if string(got.Body) != `{"a":1}` || got.Status != store.InboxPending || got.DedupeKey != "w1" {
		t.Fatalf("item = %+v", got)
	}
}

func testInboxConcurrentClaims(t *testing.T, db *store.DB, _ *clock.Manual) {
	var items []store.InboxItem
	for i := 0; i < 200; i++ {
		items = append(items, item("segment", ""))
	}
	must[[]int64](t)(db.EnqueueInbox(ctx, items))
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				got, err := db.ClaimInbox(ctx, "w", 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					seen[it.ID]++
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("claimed %d rows, want 200", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %d claimed %d times", id, n)
		}
	}
}

func testInboxLease(t *testing.T, db *store.DB, c *clock.Manual) {
	must[[]int64](t)(db.EnqueueInbox(ctx, []store.InboxItem{item("segment", ""), item("segment", "")}))
	a := must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "a", 10, time.Minute))
	if len(a) != 2 || a[0].Attempts != 1 || a[0].ID > a[1].ID {
		t.Fatalf("claim = %+v", a)
	}
	if b := must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "b", 10, time.Minute)); len(b) != 0 {
		t.Fatalf("leased rows claimed again: %+v", b)
	}
	if err := db.CompleteInbox(ctx, []int64{a[0].ID}); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Minute) // worker a died holding a[1]
	b := must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "b", 10, time.Minute))
	if len(b) != 1 || b[0].ID != a[1].ID || b[0].Attempts != 2 {
		t.Fatalf("after the lease = %+v", b)
	}
}

func testInboxFailures(t *testing.T, db *store.DB, c *clock.Manual) {
	ids := must[[]int64](t)(db.EnqueueInbox(ctx, []store.InboxItem{item("generic", "a"), item("generic", "b")}))
	must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "w", 10, time.Minute))
	if err := db.FailInbox(ctx, ids[0], "timeout", c.Now().Add(10*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if err := db.FailInbox(ctx, ids[1], "bad data", c.Now(), true); err != nil {
		t.Fatal(err)
	}
	if got := must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "w", 10, time.Minute)); len(got) != 0 {
		t.Fatalf("claimed before the retry time: %+v", got)
	}
	c.Advance(10 * time.Second)
	got := must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "w", 10, time.Minute))
	if len(got) != 1 || got[0].ID != ids[0] || got[0].LastError != "timeout" {
		t.Fatalf("retry = %+v", got)
	}
	dead := must[[]store.InboxItem](t)(db.InboxItems(ctx, store.InboxDead, 10, 0))
	if len(dead) != 1 || dead[0].ID != ids[1] || dead[0].LastError != "bad data" {
		t.Fatalf("dead = %+v", dead)
	}
	if err := db.DiscardInbox(ctx, ids[0]); errs.Code(err) != errs.Conflict {
		t.Fatalf("discarding a pending row: %v", err)
	}
	if err := db.RetryInbox(ctx, 999); errs.Code(err) != errs.NotFound {
		t.Fatalf("retrying a missing row: %v", err)
	}
	if err := db.DiscardInbox(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := db.RetryInbox(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	got = must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "w", 10, time.Minute))
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 1 {
		t.Fatalf("after retry = %+v", got)
	}
	if err := db.CompleteInbox(ctx, []int64{ids[0], ids[1]}); err != nil {
		t.Fatal(err)
	}
	st := must[store.InboxStatus](t)(db.InboxStatus(ctx))
	if st.Done != 2 || st.Pending != 0 || st.Dead != 0 || st.LastProcessedAt == nil {
		t.Fatalf("status = %+v", st)
	}
	c.Advance(time.Hour)
	if n := must[int64](t)(db.PruneInbox(ctx, c.Now().Add(-30*time.Minute))); n != 2 {
		t.Fatalf("pruned %d", n)
	}
	// Pruned keys may be delivered again (past the retention window).
	if ids := must[[]int64](t)(db.EnqueueInbox(ctx, []store.InboxItem{item("generic", "a")})); ids[0] == 0 {
		t.Fatal("a pruned key still deduplicates")
	}
}

func anonEvent(msg, anon string) event.Event {
	return event.Event{Type: "page", Name: event.PageViewed, OccurredAt: day(1), Source: "web", MessageID: msg, AnonymousID: anon,
		Properties: json.RawMessage(`{}`), Actor: customer.Record{Identifiers: []identity.Identifier{{Kind: identity.Anonymous, Value: anon, Weak: true}}}}
}

func testStitchAnonymous(t *testing.T, db *store.DB, _ *clock.Manual) {
	must[store.BatchResult](t)(db.ImportEvents(ctx, []event.Event{anonEvent("1", "anon-a"), anonEvent("2", "anon-a"), anonEvent("3", "anon-b")}))
	// Identify: the member's record carries the anonymous id.
	rec := Buyer(t, "web", "m1", "", "")
	rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: "anon-a", Weak: true})
	member := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{rec})).CustomerIDs[0]
	if n := must[int64](t)(db.StitchAnonymous(ctx, []string{"anon-a", "anon-b", ""})); n != 2 {
		t.Fatalf("stitched %d events, want 2 (anon-b belongs to no one)", n)
	}
	if n := must[int64](t)(db.StitchAnonymous(ctx, []string{"anon-a"})); n != 0 {
		t.Fatalf("stitching again moved %d", n)
	}
	if v := view(t, db, member); len(v.Timeline) != 2 {
		t.Fatalf("timeline = %+v", v.Timeline)
	}
	// Merge the member into another customer, then undo it: the stitched
	// events go back with the member.
	older := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "pos", "p1", "", "")})).CustomerIDs[0]
	mid := must[int64](t)(db.MergeCustomers(ctx, older, member, "test"))
	if v := view(t, db, older); len(v.Timeline) != 2 {
		t.Fatalf("after merge = %d items", len(v.Timeline))
	}
	if err := db.Unmerge(ctx, mid, "test"); err != nil {
		t.Fatal(err)
	}
	if v := view(t, db, older); len(v.Timeline) != 0 {
		t.Fatalf("older keeps %d items after unmerge", len(v.Timeline))
	}
}

func testAttachIdentifier(t *testing.T, db *store.DB, _ *clock.Manual) {
	member := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "shop", "c1", "a@example.com", "")})).CustomerIDs[0]
	line := identity.Identifier{Kind: identity.Line, Source: "prov", Value: "U1"}
	// The LINE user followed before linking: a LINE-only customer exists.
	follower := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{{Identifiers: []identity.Identifier{line},
		Consents: []customer.Consent{{Channel: customer.ChannelLine, Granted: true, Method: "follow"}}}})).CustomerIDs[0]
	got := must[int64](t)(db.AttachIdentifier(ctx, member, line, nil))
	if got != min(member, follower) {
		t.Fatalf("holder = %d, want the older of %d and %d", got, member, follower)
	}
	v := view(t, db, member)
	has := false
	for _, id := range v.Identities {
		has = has || id.Identifier == line
	}
	if !has || len(v.Consents) != 1 || v.Consents[0].Channel != customer.ChannelLine {
		t.Fatalf("view = %+v %+v", v.Identities, v.Consents)
	}
	if s := stats(t, db); s.Customers != 1 {
		t.Fatalf("customers = %d", s.Customers)
	}
	again := must[int64](t)(db.AttachIdentifier(ctx, member, line, nil))
	if again != got {
		t.Fatalf("attaching again = %d", again)
	}
	if _, err := db.AttachIdentifier(ctx, 999, line, nil); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown customer: %v", err)
	}
}

func testExternalInquiry(t *testing.T, db *store.DB, _ *clock.Manual) {
	cid := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "s", "1", "", "")})).CustomerIDs[0]
	inq := customer.Inquiry{CustomerID: cid, Channel: "line", Subject: "配送", Body: "配送日は？"}
	id, created, err := db.AddExternalInquiry(ctx, inq, "m-1")
	if err != nil || !created {
		t.Fatal(created, err)
	}
	id2, created, err := db.AddExternalInquiry(ctx, inq, "m-1")
	if err != nil || created || id2 != id {
		t.Fatalf("again = %d %v %v", id2, created, err)
	}
	if _, created, _ = db.AddExternalInquiry(ctx, inq, "m-2"); !created {
		t.Fatal("another message was not added")
	}
	if _, _, err = db.AddExternalInquiry(ctx, customer.Inquiry{CustomerID: cid, Channel: "line"}, "m-3"); errs.Code(err) != errs.Invalid {
		t.Fatalf("empty inquiry: %v", err)
	}
	if v := view(t, db, cid); len(v.Timeline) != 2 {
		t.Fatalf("timeline = %+v", v.Timeline)
	}
}

func testLinkNonce(t *testing.T, db *store.DB, c *clock.Manual) {
	cid := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "s", "1", "", "")})).CustomerIDs[0]
	if err := db.CreateLinkNonce(ctx, "n1", cid, c.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateLinkNonce(ctx, "n2", cid, c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := must[int64](t)(db.UseLinkNonce(ctx, "n1", "U1")); got != cid {
		t.Fatalf("customer = %d", got)
	}
	if got := must[int64](t)(db.UseLinkNonce(ctx, "n1", "U1")); got != cid {
		t.Fatalf("redelivery = %d", got)
	}
	if _, err := db.UseLinkNonce(ctx, "n1", "U2"); errs.Code(err) != errs.Conflict {
		t.Fatalf("another user: %v", err)
	}
	c.Advance(2 * time.Minute)
	if _, err := db.UseLinkNonce(ctx, "n2", "U1"); errs.Code(err) != errs.Invalid {
		t.Fatalf("expired: %v", err)
	}
	if _, err := db.UseLinkNonce(ctx, "nope", "U1"); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown: %v", err)
	}
	if err := db.CreateLinkNonce(ctx, "n3", 999, c.Now()); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown customer: %v", err)
	}
}

func testPrivacyAndShopifyIDs(t *testing.T, db *store.DB, _ *clock.Manual) {
	req := store.PrivacyRequest{Source: "shopify", Ref: "w-1", Kind: "erase", Shop: "x.myshopify.com",
		Identifiers: []identity.Identifier{identity.ExternalID("shopify", "9007199254740993")}, Payload: json.RawMessage(`{"a":1}`)}
	id := must[int64](t)(db.AddPrivacyRequest(ctx, req))
	if again := must[int64](t)(db.AddPrivacyRequest(ctx, req)); again != id {
		t.Fatalf("redelivery = %d, want %d", again, id)
	}
	ps := must[[]store.PrivacyRequest](t)(db.PrivacyRequests(ctx, "pending", 10))
	if len(ps) != 1 || ps[0].Identifiers[0].Value != "9007199254740993" || ps[0].Status != "pending" || string(ps[0].Payload) != `{"a":1}` {
		t.Fatalf("requests = %+v", ps)
	}
	if err := db.PutShopifyOrder(ctx, "x", "9007199254740993", "#1001", "5"); err != nil {
		t.Fatal(err)
	}
	name, cust, ok, err := db.ShopifyOrder(ctx, "x", "9007199254740993")
	if err != nil || !ok || name != "#1001" || cust != "5" {
		t.Fatalf("= %q %q %v %v", name, cust, ok, err)
	}
	if _, _, ok, _ = db.ShopifyOrder(ctx, "x", "9007199254740992"); ok {
		t.Fatal("a neighbouring id matched")
	}
}

func testInboxPriority(t *testing.T, db *store.DB, _ *clock.Manual) {
	bulk := item("segment", "")
	bulk.Priority = 1
	ids := must[[]int64](t)(db.EnqueueInbox(ctx, []store.InboxItem{bulk, bulk, item("shopify", "w"), item("line", "")}))
	var order []int64
	for {
		got := must[[]store.InboxItem](t)(db.ClaimInbox(ctx, "w", 1, time.Minute))
		if len(got) == 0 {
			break
		}
		order = append(order, got[0].ID)
	}
	want := []int64{ids[2], ids[3], ids[0], ids[1]}
	for i := range want {
		if len(order) != 4 || order[i] != want[i] {
			t.Fatalf("claim order = %v, want %v", order, want)
		}
	}
}

package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

func channelCases() []Case {
	return []Case{
		{"ClaimSendsRecordsEachKeyOnce", testClaimSendsOnce},
		{"DueRetriesAreTakenOverOnce", testClaimRetryTakeover},
		{"SuppressionKeepsTheStrongestReason", testSuppressionPrecedence},
		{"RecipientsCarryLatestConsentLINEIdAndLastPurchase", testRecipients},
		{"SendEventsSetFirstTimesAndStats", testSendEventsAndStats},
		{"TokenBucketRefillsWithTime", testTokenBucket},
		{"TemplatesSaveVersionAndRefuseDeletingUsedOnes", testTemplates},
		{"OrdersAreAttributedToTheLastTouchWithinWindows", testAttribution},
		{"SendsFollowMergedCustomers", testSendsFollowMerges},
		{"PushSubscriptionsAndOnsiteCampaigns", testPushAndOnsite},
	}
}

func seedCustomer(t *testing.T, db *store.DB, ext, email, phone string) int64 {
	t.Helper()
	b := Buyer(t, "shop", ext, email, phone)
	b.Profile.LastName, b.Profile.FirstName = "山田", "太郎"
	res := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{b}))
	return res.CustomerIDs[0]
}

func claim(key string, cust int64, ch message.Channel) channel.Claim {
	return channel.Claim{Key: key, CustomerID: cust, Channel: ch, Purpose: message.Marketing, TemplateID: 1, Source: "campaign:1", Vars: json.RawMessage(`{"coupon_code":"X"}`), Status: channel.StatusSending}
}

func testClaimSendsOnce(t *testing.T, db *store.DB, c *clock.Manual) {
	id := seedCustomer(t, db, "c1", "a@example.com", "")
	got := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k1", id, message.Email), claim("k2", id, message.Email), claim("k3", 999, message.Email)}, c.Now()))
	if !got[0].New || !got[1].New || got[0].MessageID == got[1].MessageID || got[2].New || got[2].MessageID != 0 {
		t.Fatalf("first claims = %+v", got)
	}
	again := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k1", id, message.Email)}, c.Now()))
	if again[0].New || again[0].MessageID != got[0].MessageID || again[0].Status != channel.StatusSending {
		t.Fatalf("second claim = %+v", again)
	}
	if err := db.UpdateSends(ctx, []channel.Update{{MessageID: got[0].MessageID, Status: channel.StatusSent, Address: "a@example.com", Subject: "件名",
		Provider: "smtp", ProviderID: "<m1@x>", Attempt: true, SentAt: c.Now()}}); err != nil {
		t.Fatal(err)
	}
	rec := must[*channel.Record](t)(db.SendRecordByKey(ctx, "k1"))
	if rec.Status != channel.StatusSent || rec.Attempts != 1 || rec.Subject != "件名" || rec.SentAt == nil || string(rec.Vars) != `{"coupon_code":"X"}` {
		t.Fatalf("record = %+v", rec)
	}
	if r := must[*channel.Record](t)(db.SendRecordByProviderID(ctx, "smtp", "<m1@x>")); r.ID != rec.ID {
		t.Fatalf("by provider id = %d", r.ID)
	}
	if o := rec.Outgoing(); o.Vars["coupon_code"] != "X" || o.Key != "k1" {
		t.Fatalf("outgoing = %+v", o)
	}
	found := false
	for _, it := range view(t, db, id).Timeline {
		found = found || (it.Kind == "message" && it.ID == rec.ID && it.Title == "件名" && it.Detail["status"] == channel.StatusSent)
	}
	if !found {
		t.Fatal("the send is not on the customer's timeline")
	}
}

func testClaimRetryTakeover(t *testing.T, db *store.DB, c *clock.Manual) {
	id := seedCustomer(t, db, "c1", "a@example.com", "")
	got := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k1", id, message.Email)}, c.Now()))
	mid := got[0].MessageID
	if err := db.UpdateSends(ctx, []channel.Update{{MessageID: mid, Status: channel.StatusRetry, Error: "503", Attempt: true, NextAt: c.Now().Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if g := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k1", id, message.Email)}, c.Now())); g[0].New {
		t.Fatal("a retry was taken over before it was due")
	}
	if due := must[[]channel.Record](t)(db.DueSends(ctx, c.Now(), c.Now().Add(-10*time.Minute), 10)); len(due) != 0 {
		t.Fatalf("due = %+v", due)
	}
	c.Advance(2 * time.Minute)
	due := must[[]channel.Record](t)(db.DueSends(ctx, c.Now(), c.Now().Add(-10*time.Minute), 10))
	if len(due) != 1 || due[0].ID != mid || due[0].Attempts != 1 {
		t.Fatalf("due = %+v", due)
	}
	g := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k1", id, message.Email)}, c.Now()))
	if !g[0].New || g[0].MessageID != mid || g[0].Attempts != 1 {
		t.Fatalf("take-over = %+v", g)
	}
	if g := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k1", id, message.Email)}, c.Now())); g[0].New {
		t.Fatal("taken over twice")
	}
	// A scheduled claim is due at its time.
	sc := claim("k2", id, message.Email)
	sc.Status, sc.NextAt = channel.StatusScheduled, c.Now().Add(time.Hour)
	g = must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{sc}, c.Now()))
	if !g[0].New || g[0].Status != channel.StatusScheduled {
		t.Fatalf("scheduled = %+v", g)
	}
	c.Advance(2 * time.Hour)
	if due := must[[]channel.Record](t)(db.DueSends(ctx, c.Now(), c.Now().Add(-10*time.Minute), 10)); len(due) != 2 {
		// k2 (scheduled, due) and k1 (left sending by the take-over above, now stale)
		t.Fatalf("due = %+v", due)
	}
}

func testSuppressionPrecedence(t *testing.T, db *store.DB, c *clock.Manual) {
	s := func(reason string) bool {
		return must[bool](t)(db.Suppress(ctx, channel.Suppression{Channel: message.Email, Address: "Taro@Example.com", Reason: reason}))
	}
	if !s(channel.SuppressUnsubscribed) || !s(channel.SuppressBounced) || s(channel.SuppressUnsubscribed) || s(channel.SuppressComplained) {
		t.Fatal("precedence")
	}
	m := must[map[string]string](t)(db.Suppressed(ctx, message.Email, []string{"taro@example.com", "TARO@example.com", "x@example.com"}))
	if m["taro@example.com"] != channel.SuppressBounced || m["TARO@example.com"] != channel.SuppressBounced || m["x@example.com"] != "" {
		t.Fatalf("suppressed = %v", m)
	}
	if _, err := db.Suppress(ctx, channel.Suppression{Channel: message.Email, Address: "y@example.com", Reason: "bored"}); errs.Code(err) != errs.Invalid {
		t.Fatalf("bad reason = %v", err)
	}
	list, total, err := db.Suppressions(ctx, message.Email, "", 10, 0)
	if err != nil || total != 1 || list[0].Reason != channel.SuppressBounced {
		t.Fatalf("list = %+v %d %v", list, total, err)
	}
	for i := 1; i <= 3; i++ {
		if n := must[int](t)(db.CountSoftBounce(ctx, message.Email, "Soft@example.com", c.Now())); n != i {
			t.Fatalf("soft count = %d, want %d", n, i)
		}
	}
	if err := db.Unsuppress(ctx, message.Email, "TARO@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := db.Unsuppress(ctx, message.Email, "taro@example.com"); errs.Code(err) != errs.NotFound {
		t.Fatalf("second unsuppress = %v", err)
	}
}

func testRecipients(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "090-1111-2222")
	b.Identifiers = append(b.Identifiers, identity.Identifier{Kind: identity.Line, Source: "prov", Value: "U0123456789abcdef0123456789abcdef"})
	b.Consents = []customer.Consent{{Channel: customer.ChannelEmail, Granted: true, RecordedAt: day(20), Method: "form"}}
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "1", day(30), b, "SKU-OLD", 1, 500),
		Order("shop", "2", day(3), b, "SKU-NEW", 1, 1200, "SKU-2ND", 1, 100),
	}))
	id := res.CustomerIDs[0]
	must[int](t)(0, db.RecordConsent(ctx, id, customer.Consent{Channel: customer.ChannelEmail, Granted: false, RecordedAt: day(1), Method: "unsubscribe"}))
	rs := must[map[int64]*channel.Recipient](t)(db.Recipients(ctx, message.Email, []int64{id, 424242}))
	r := rs[id]
	if r == nil || rs[424242] != nil || r.Customer.Email != "a@example.com" || r.Consent == nil || r.Consent.Granted || r.Consent.Method != "unsubscribe" {
		t.Fatalf("recipient = %+v", r)
	}
	if r.LastPurchase == nil || r.LastPurchase.SKU != "SKU-NEW" || r.LastPurchase.Amount != 1300 {
		t.Fatalf("last purchase = %+v", r.LastPurchase)
	}
	rs = must[map[int64]*channel.Recipient](t)(db.Recipients(ctx, message.LINE, []int64{id}))
	if rs[id].LINEUserID != "U0123456789abcdef0123456789abcdef" || rs[id].Consent != nil {
		t.Fatalf("LINE recipient = %+v", rs[id])
	}
	ids := must[[]int64](t)(db.CustomersByAddress(ctx, message.SMS, "+819011112222"))
	if len(ids) != 1 || ids[0] != id {
		t.Fatalf("by phone = %v", ids)
	}
}

func testSendEventsAndStats(t *testing.T, db *store.DB, c *clock.Manual) {
	id := seedCustomer(t, db, "c1", "a@example.com", "")
	cl := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("a", id, message.Email), claim("b", id, message.Email), claim("c", id, message.Email)}, c.Now()))
	ups := []channel.Update{}
	for _, x := range cl {
		ups = append(ups, channel.Update{MessageID: x.MessageID, Status: channel.StatusSent, Attempt: true, SentAt: c.Now()})
	}
	ups[2].Status = channel.StatusBlocked
	must[int](t)(0, db.UpdateSends(ctx, ups))
	ev := func(id int64, kind string, machine bool, detail string) bool {
		return must[bool](t)(db.AddSendEvent(ctx, channel.Event{MessageID: id, Kind: kind, Machine: machine, Detail: detail}))
	}
	if ev(cl[0].MessageID, channel.EventOpen, true, "") || !ev(cl[0].MessageID, channel.EventOpen, false, "") || ev(cl[0].MessageID, channel.EventOpen, false, "") {
		t.Fatal("open first flags")
	}
	if !ev(cl[0].MessageID, channel.EventClick, false, "") || ev(cl[1].MessageID, channel.EventOpen, true, "") || !ev(cl[1].MessageID, channel.EventBounce, false, "hard 5.1.1") {
		t.Fatal("click/bounce first flags")
	}
	if _, err := db.AddSendEvent(ctx, channel.Event{MessageID: 99999, Kind: channel.EventOpen}); errs.Code(err) != errs.NotFound {
		t.Fatalf("unknown message = %v", err)
	}
	if !ev(cl[0].MessageID, channel.EventBounce, false, "soft 4.2.2") {
		t.Fatal("soft bounce first flag")
	}
	st := must[[]channel.SourceStats](t)(db.SendStats(ctx, "campaign:"))
	want := channel.SourceStats{Source: "campaign:1", Channel: "email", Sent: 2, Bounced: 1, Blocked: 1, Opened: 1, MachineOpened: 1, Clicked: 1}
	want.SoftBounced = 1
	if len(st) != 1 || st[0] != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
	if rec := must[*channel.Record](t)(db.SendRecord(ctx, cl[1].MessageID)); rec.Status != channel.StatusBounced || rec.BouncedAt == nil {
		t.Fatalf("bounced record = %+v", rec)
	}
}

func testTokenBucket(t *testing.T, db *store.DB, c *clock.Manual) {
	take := func(n int) int {
		return must[int](t)(db.TakeTokens(ctx, "channel:email", n, 60, 10, c.Now()))
	}
	if got := take(4); got != 4 {
		t.Fatalf("first take = %d", got)
	}
	if got := take(10); got != 6 {
		t.Fatalf("rest of the burst = %d", got)
	}
	if got := take(1); got != 0 {
		t.Fatalf("empty bucket gave %d", got)
	}
	c.Advance(3 * time.Second) // 60/min = 1/s
	if got := take(5); got != 3 {
		t.Fatalf("after 3s = %d", got)
	}
	c.Advance(time.Hour)
	if got := take(100); got != 10 {
		t.Fatalf("bucket holds at most the burst, got %d", got)
	}
}

func testTemplates(t *testing.T, db *store.DB, c *clock.Manual) {
	tpl := &content.Template{Name: "ようこそ", Purpose: message.Marketing, Variants: []content.Variant{{Channel: message.SMS, Text: "{{ customer.name }}様"}}}
	id := must[int64](t)(db.SaveTemplate(ctx, tpl))
	if tpl.Version != 1 {
		t.Fatalf("version = %d", tpl.Version)
	}
	tpl.Variants[0].Text = "変更"
	must[int64](t)(db.SaveTemplate(ctx, tpl))
	got := must[*content.Template](t)(db.Template(ctx, id))
	if got.Version != 2 || got.Variants[0].Text != "変更" || got.Name != "ようこそ" {
		t.Fatalf("template = %+v", got)
	}
	if list := must[[]content.Template](t)(db.Templates(ctx)); len(list) != 1 {
		t.Fatalf("list = %+v", list)
	}
	cust := seedCustomer(t, db, "c1", "a@example.com", "")
	cl := claim("k", cust, message.SMS)
	cl.TemplateID = id
	must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{cl}, c.Now()))
	if err := db.DeleteTemplate(ctx, id); errs.Code(err) != errs.Conflict {
		t.Fatalf("delete used = %v", err)
	}
	id2 := must[int64](t)(db.SaveTemplate(ctx, &content.Template{Name: "x", Variants: tpl.Variants}))
	if err := db.DeleteTemplate(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Template(ctx, id2); errs.Code(err) != errs.NotFound {
		t.Fatalf("deleted = %v", err)
	}
}

func testAttribution(t *testing.T, db *store.DB, c *clock.Manual) {
	b := Buyer(t, "shop", "c1", "a@example.com", "")
	id := seedCustomer(t, db, "c1", "a@example.com", "")
	cl := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("m1", id, message.Email), claim("m2", id, message.LINE)}, c.Now()))
	m1, m2 := cl[0].MessageID, cl[1].MessageID
	must[bool](t)(db.AddSendEvent(ctx, channel.Event{MessageID: m1, Kind: channel.EventClick, At: T0.Add(-72 * time.Hour)}))
	must[bool](t)(db.AddSendEvent(ctx, channel.Event{MessageID: m2, Kind: channel.EventOpen, At: T0.Add(-30 * time.Hour)}))
	must[bool](t)(db.AddSendEvent(ctx, channel.Event{MessageID: m2, Kind: channel.EventOpen, Machine: true, At: T0.Add(-2 * time.Hour)}))
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "o1", T0.Add(-71*time.Hour), b, "SKU", 1, 5000), // 1h after the click
		Order("shop", "o2", T0.Add(-29*time.Hour), b, "SKU", 1, 3000), // 1h after the open: last touch
		Order("shop", "o3", T0.Add(-1*time.Hour), b, "SKU", 1, 2000),  // 29h after the open (too late), 71h after the click
		Order("shop", "o4", T0.Add(-100*time.Hour), b, "SKU", 1, 900), // before any touch
	}))
	_ = res
	orders := must[[]order.Order](t)(db.CustomerOrders(ctx, id, 10))
	byExt := map[string]int64{}
	for _, o := range orders {
		byExt[o.ExternalID] = o.ID
	}
	want := map[string]int64{"o1": m1, "o2": m2, "o3": m1}
	for ext, msg := range want {
		a := must[*channel.Attribution](t)(db.OrderAttribution(ctx, byExt[ext]))
		if a.MessageID != msg {
			t.Errorf("order %s attributed to %d, want %d", ext, a.MessageID, msg)
		}
	}
	if _, err := db.OrderAttribution(ctx, byExt["o4"]); errs.Code(err) != errs.NotFound {
		t.Errorf("o4 attributed: %v", err)
	}
	st := must[[]channel.SourceStats](t)(db.SendStats(ctx, "campaign:1"))
	var conv, rev int64
	for _, s := range st {
		conv, rev = conv+s.Conversions, rev+s.Revenue
	}
	if conv != 3 || rev != 10000 {
		t.Fatalf("conversions %d revenue %d", conv, rev)
	}
	// Narrower windows, then a rebuild: o3 is no longer credited.
	must[int](t)(0, db.SetSetting(ctx, channel.SettingsKey, `{"click_window_hours": 48}`))
	if n := must[int](t)(db.ReattributeOrders(ctx, T0.Add(-200*time.Hour))); n != 4 {
		t.Fatalf("reattributed %d", n)
	}
	if _, err := db.OrderAttribution(ctx, byExt["o3"]); errs.Code(err) != errs.NotFound {
		t.Fatalf("o3 after narrowing: %v", err)
	}
}

func testSendsFollowMerges(t *testing.T, db *store.DB, c *clock.Manual) {
	a := seedCustomer(t, db, "c1", "a@example.com", "")
	b := seedCustomer(t, db, "c2", "b@example.com", "")
	must[int64](t)(db.MergeCustomers(ctx, a, b, "staff"))
	cl := must[[]channel.Claimed](t)(db.ClaimSends(ctx, []channel.Claim{claim("k", b, message.Email)}, c.Now()))
	rec := must[*channel.Record](t)(db.SendRecord(ctx, cl[0].MessageID))
	if rec.CustomerID != a {
		t.Fatalf("send to merged customer filed under %d, want %d", rec.CustomerID, a)
	}
	must[bool](t)(db.AddSendEvent(ctx, channel.Event{MessageID: rec.ID, Kind: channel.EventOpen}))
	rs := must[map[int64]*channel.Recipient](t)(db.Recipients(ctx, message.Email, []int64{b}))
	if rs[b] == nil || rs[b].Customer.ID != a {
		t.Fatalf("recipient of merged id = %+v", rs[b])
	}
}

func testPushAndOnsite(t *testing.T, db *store.DB, c *clock.Manual) {
	id := seedCustomer(t, db, "c1", "a@example.com", "")
	if _, err := db.SavePushSubscription(ctx, channel.PushSubscription{Endpoint: "http://insecure", P256dh: "k", Auth: "a"}); errs.Code(err) != errs.Invalid {
		t.Fatalf("insecure endpoint = %v", err)
	}
	must[int64](t)(db.SavePushSubscription(ctx, channel.PushSubscription{CustomerID: id, Endpoint: "https://push.example.com/1", P256dh: "k", Auth: "a"}))
	must[int64](t)(db.SavePushSubscription(ctx, channel.PushSubscription{AnonymousID: "anon-unknown", Endpoint: "https://push.example.com/2", P256dh: "k", Auth: "a"}))
	rs := must[map[int64]*channel.Recipient](t)(db.Recipients(ctx, message.Push, []int64{id}))
	if len(rs[id].Push) != 1 || rs[id].Push[0].Endpoint != "https://push.example.com/1" {
		t.Fatalf("push = %+v", rs[id].Push)
	}
	must[int](t)(0, db.DeletePushSubscription(ctx, "https://push.example.com/1"))
	rs = must[map[int64]*channel.Recipient](t)(db.Recipients(ctx, message.Push, []int64{id}))
	if len(rs[id].Push) != 0 {
		t.Fatal("deleted subscription still listed")
	}
	tid := must[int64](t)(db.SaveTemplate(ctx, &content.Template{Name: "popup", Variants: []content.Variant{{Channel: message.OnSite, Subject: "x"}}}))
	end := c.Now().Add(time.Hour)
	must[int64](t)(db.SaveOnsiteCampaign(ctx, channel.OnsiteCampaign{Name: "春", TemplateID: tid, Active: true, EndsAt: &end}))
	if _, err := db.SaveOnsiteCampaign(ctx, channel.OnsiteCampaign{Name: "x", TemplateID: tid, Audience: "robots"}); errs.Code(err) != errs.Invalid {
		t.Fatalf("bad audience = %v", err)
	}
	if l := must[[]channel.OnsiteCampaign](t)(db.OnsiteCampaigns(ctx, c.Now())); len(l) != 1 || l[0].Audience != "all" {
		t.Fatalf("active = %+v", l)
	}
	if l := must[[]channel.OnsiteCampaign](t)(db.OnsiteCampaigns(ctx, end.Add(time.Second))); len(l) != 0 {
		t.Fatalf("after end = %+v", l)
	}
	if _, err := db.CustomerByAnonymousID(ctx, "nobody"); errs.Code(err) != errs.NotFound {
		t.Fatalf("anonymous = %v", err)
	}
}

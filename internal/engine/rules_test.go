package engine_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func mail(id, next string) journey.Step {
	return journey.Step{ID: id, Type: journey.StepSend, Next: next, Channel: message.Email, Content: &journey.Content{Subject: id, Text: id + "様"}}
}

func wait(id, next string, d time.Duration) journey.Step {
	return journey.Step{ID: id, Type: journey.StepWait, Next: next, Duration: journey.Duration{Duration: d}}
}

func eventJourney(name, event string, steps ...journey.Step) journey.Journey {
	return journey.Journey{Name: name, Trigger: journey.Trigger{Type: journey.TriggerEvent, Event: event}, Steps: steps}
}

func condPtr(t *testing.T, s string) *segment.Condition {
	c, err := segment.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestFrequencyCapsSpanJourneysAndDropTheExcess(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{QuietHours: &outbox.QuietHours{Start: "21:00", End: "09:00"},
			Caps: []outbox.Cap{{Channel: "email", Per: "day", Max: 2}, {Channel: "*", Per: "week", Max: 3}}}); err != nil {
			t.Fatal(err)
		}
		a := h.journey(eventJourney("A", "A", mail("a1", "")))
		b := h.journey(eventJourney("B", "B", mail("b1", "")))
		c := h.journey(eventJourney("C", "C", journey.Step{ID: "c1", Type: journey.StepSend, Channel: message.LINE, Content: &journey.Content{Text: "c"}}))
		tx := h.journey(journey.Journey{Name: "注文確認", Trigger: journey.Trigger{Type: journey.TriggerEvent, Event: "T"},
			Steps: []journey.Step{{ID: "t1", Type: journey.StepSend, Channel: message.Email, Purpose: message.Transactional, Content: &journey.Content{Text: "t"}}}})
		taro := h.customer("taro", nil)
		h.event("taro", "A", "", T0, nil)
		h.event("taro", "B", "", T0.Add(time.Minute), nil)
		h.drain()
		h.event("taro", "C", "", T0.Add(2*time.Minute), nil)
		h.event("taro", "T", "", T0.Add(3*time.Minute), nil)
		h.drain()
		h.c.Advance(time.Hour)
		h.event("taro", "A", "", h.c.Now(), nil) // a third e-mail today: over the day cap (and a re-entry after the first run ended)
		h.runUntil(T0.Add(2 * time.Hour))
		h.c.Set(at("2026-04-02 12:00"))
		h.event("taro", "B", "", h.c.Now(), nil) // next day, but the fourth marketing message this week
		h.drain()
		h.expect(taro, sent{"a1", "2026-04-01 12:00"}, sent{"b1", "2026-04-01 12:00"}, sent{"c1", "2026-04-01 12:00"}, sent{"t1", "2026-04-01 12:00"})
		if s := h.stats(a.ID); s.Entered != 2 || s.Steps[0].Sent != 1 || s.Steps[0].Capped != 1 {
			t.Fatalf("A stats = %+v %+v", s, s.Steps[0])
		}
		if s := h.stats(b.ID); s.Steps[0].Capped != 1 || s.Steps[0].Sent != 1 {
			t.Fatalf("B stats = %+v", s.Steps[0])
		}
		_, _ = c, tx
		// Capped enrollments still walk on to the end.
		for _, e := range h.enrollments(a.ID) {
			if e.State != journey.Ended || e.EndReason != journey.EndCompleted {
				t.Fatalf("enrollment = %+v", e)
			}
		}
	})
}

func TestTransientFailuresRetryWithBackoffAndNeverDuplicate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		j := h.journey(eventJourney("retry", "X", mail("m1", "w"), wait("w", "m2", time.Hour), mail("m2", "")))
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		skip := h.customer("skip", nil)
		h.ch.FailTransient(taro, 2)
		h.ch.FailPermanent(hana)
		h.ch.Skip(skip)
		for _, k := range []string{"taro", "hana", "skip"} {
			h.event(k, "X", "", T0, nil)
		}
		h.runUntil(at("2026-04-01 18:00"))
		// Two failures: retried after 1 and 5 minutes; then the wait.
		h.expect(taro, sent{"m1", "2026-04-01 12:06"}, sent{"m2", "2026-04-01 13:06"})
		h.expect(hana)
		h.expect(skip)
		at := h.ch.Attempts()
		for k, n := range at {
			if strings.Contains(k, ":m1:") && n > 3 || strings.Contains(k, ":m2:") && n > 1 {
				t.Errorf("key %s dispatched %d times", k, n)
			}
		}
		s := h.stats(j.ID)
		if s.Steps[0].Sent != 1 || s.Steps[0].Failed != 1 || s.Steps[0].Skipped != 1 || s.Steps[2].Sent != 1 {
			t.Fatalf("stats = %+v", s.Steps)
		}
		items, err := h.db.OutboxItems(ctx, taro, 10)
		if err != nil || len(items) != 2 || items[1].Attempts != 3 || items[1].Status != "sent" {
			t.Fatalf("outbox = %+v %v", items, err)
		}
	})
}

func TestReentryPolicies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil { // no caps, no quiet hours
			t.Fatal(err)
		}
		once := eventJourney("once", "O", mail("o", ""))
		once.Reentry = journey.Reentry{Policy: journey.ReentryOnce}
		cool := eventJourney("cool", "C", mail("c", ""))
		cool.Reentry = journey.Reentry{Policy: journey.ReentryCooldown, Cooldown: journey.Duration{Duration: 48 * time.Hour}}
		after := eventJourney("after", "A", wait("w", "a", 2*time.Hour), mail("a", ""))
		h.journey(once)
		h.journey(cool)
		h.journey(after)
		taro := h.customer("taro", nil)
		for i := 0; i < 4; i++ { // an event every day; "A" twice an hour apart
			now := h.c.Now()
			h.event("taro", "O", "", now, nil)
			h.event("taro", "C", "", now, nil)
			h.event("taro", "A", "", now, nil)
			h.drain()
			h.event("taro", "A", "", now.Add(time.Minute), nil) // still in the journey: refused
			h.runUntil(now.Add(24 * time.Hour))
		}
		var got []string
		for _, s := range h.ch.SentTo(taro) {
			got = append(got, s.Source[strings.LastIndex(s.Source, ":")+1:]+"@"+fmtJST(s.At)[5:10])
		}
		sort.Slice(got, func(i, j int) bool { return got[i][2:]+got[i][:1] < got[j][2:]+got[j][:1] })
		want := "a@04-01 c@04-01 o@04-01 a@04-02 a@04-03 c@04-03 a@04-04"
		if g := strings.Join(got, " "); g != want {
			t.Fatalf("sent %s, want %s", g, want)
		}
	})
}

func TestSplitHoldoutLoopsAndWaitTimeouts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil {
			t.Fatal(err)
		}
		j := h.journey(journey.Journey{Name: "ab", Trigger: journey.Trigger{Type: journey.TriggerEvent, Event: "X"}, MaxVisits: 3,
			Steps: []journey.Step{
				{ID: "split", Type: journey.StepSplit, Variants: []journey.Variant{{Name: "A", Weight: 45, Next: "a"}, {Name: "B", Weight: 45, Next: "b"}, {Name: "hold", Weight: 10}}},
				mail("a", "wait"), mail("b", "wait"),
				// Wait up to a day for a purchase; otherwise loop back to the
				// split's mails, at most three visits of any step.
				{ID: "wait", Type: journey.StepWaitEvent, Event: journey.EventOrderCompleted, Timeout: journey.Duration{Duration: 24 * time.Hour},
					TimeoutNext: "again", Next: "bought"},
				{ID: "again", Type: journey.StepBranch, Condition: condPtr(t, `{"field":"order_count","op":"=","value":0}`), Next: "split", Else: ""},
				{ID: "bought", Type: journey.StepTag, AddTags: []string{"ab-buyer"}},
			}})
		var ids []int64
		var keys []string
		for i := 0; i < 40; i++ {
			k := "c" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			keys = append(keys, k)
			ids = append(ids, h.customer(k, nil))
			h.event(k, "X", "", T0, nil)
		}
		h.drain()
		h.c.Advance(time.Hour)
		buyer := -1
		for i, id := range ids {
			if len(h.ch.SentTo(id)) == 1 {
				buyer = i
				break
			}
		}
		h.order(keys[buyer], "9001", h.c.Now(), "SKU-1", 1, 1000) // a customer who got a mail buys within the day
		h.runUntil(T0.AddDate(0, 0, 5))
		s := h.stats(j.ID)
		if s.Entered != 40 || s.Steps[0].Variants["hold"] == 0 || s.Steps[0].Variants["A"] == 0 || s.Steps[0].Variants["B"] == 0 {
			t.Fatalf("split = %+v", s.Steps[0])
		}
		holdouts := s.Exits["holdout"]
		if s.Exits["loop_cap"] == 0 || s.Exits["completed"] != 1 || s.Steps[3].Timeouts == 0 {
			t.Fatalf("exits = %v, wait = %+v", s.Exits, s.Steps[3])
		}
		// Nobody got more than three mails; a customer keeps one arm per pass.
		for _, id := range ids {
			if n := len(h.ch.SentTo(id)); n > 3 {
				t.Fatalf("customer %d got %d mails", id, n)
			}
		}
		if len(h.ch.SentTo(ids[buyer])) != 1 {
			t.Fatalf("buyer got %d mails", len(h.ch.SentTo(ids[buyer])))
		}
		v, err := h.db.CustomerView(ctx, ids[buyer], store.ViewOptions{})
		if err != nil || len(v.Tags) != 1 || v.Tags[0] != "ab-buyer" {
			t.Fatalf("tags = %v %v", v.Tags, err)
		}
		if holdouts+s.Exits["loop_cap"]+s.Exits["completed"] != 40 {
			t.Fatalf("exits = %v", s.Exits)
		}
	})
}

func TestBranchOnEngagementAndGoalStep(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil {
			t.Fatal(err)
		}
		j := h.journey(journey.Journey{Name: "engage", Trigger: journey.Trigger{Type: journey.TriggerEvent, Event: "X"}, Steps: []journey.Step{
			mail("first", "w"), wait("w", "opened", 24*time.Hour),
			{ID: "opened", Type: journey.StepBranch, Engagement: &journey.Engagement{Step: "first", Kind: "opened"}, Next: "thanks", Else: "resend"},
			mail("thanks", "goal"), mail("resend", "goal"),
			{ID: "goal", Type: journey.StepGoal, Next: "attr"},
			{ID: "attr", Type: journey.StepAttribute, Attribute: "engaged", Value: "no"},
		}})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		h.event("taro", "X", "", T0, nil)
		h.event("hana", "X", "", T0, nil)
		h.drain()
		taroKey := h.ch.SentTo(taro)[0].Key
		if err := h.db.RecordEngagement(ctx, taroKey, "clicked", T0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		h.order("taro", "9101", T0.Add(2*time.Hour), "SKU-1", 1, 7000)
		h.runUntil(T0.AddDate(0, 0, 2))
		h.expect(taro, sent{"first", "2026-04-01 12:00"}, sent{"thanks", "2026-04-02 12:00"})
		h.expect(hana, sent{"first", "2026-04-01 12:00"}, sent{"resend", "2026-04-02 12:00"})
		s := h.stats(j.ID)
		if s.Steps[0].Opened != 1 || s.Steps[0].Clicked != 1 || s.Converted != 1 || s.Revenue != 7000 || s.Steps[5].Converted != 1 {
			t.Fatalf("stats = %+v / %+v / %+v", s, s.Steps[0], s.Steps[5])
		}
		v, _ := h.db.Customer(ctx, hana)
		if v.Attributes["engaged"] != "no" {
			t.Fatalf("attributes = %v", v.Attributes)
		}
		if err := h.db.RecordEngagement(ctx, "nope", "opened", T0); errs.Code(err) != errs.NotFound {
			t.Fatalf("unknown key: %v", err)
		}
	})
}

func TestMergedCustomersContinueOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil {
			t.Fatal(err)
		}
		j := h.journey(eventJourney("merge", "X", mail("m1", "w"), wait("w", "m2", 24*time.Hour), mail("m2", "")))
		taro := h.customer("taro", nil)
		dup := h.customer("dup", nil)
		h.event("taro", "X", "", T0, nil)
		h.event("dup", "X", "", T0, nil)
		h.drain()
		if _, err := h.db.MergeCustomers(ctx, taro, dup, "test"); err != nil {
			t.Fatal(err)
		}
		h.runUntil(T0.AddDate(0, 0, 2))
		h.expect(taro, sent{"m1", "2026-04-01 12:00"}, sent{"m2", "2026-04-02 12:00"})
		h.expect(dup, sent{"m1", "2026-04-01 12:00"})
		if s := h.stats(j.ID); s.Exits["merged"] != 1 || s.Exits["completed"] != 1 {
			t.Fatalf("exits = %v", s.Exits)
		}
	})
}

func TestDisablePausesAndEditsKeepCustomersPlaced(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil {
			t.Fatal(err)
		}
		j := h.journey(eventJourney("pause", "X", mail("m1", "w"), wait("w", "m2", time.Hour), mail("m2", "")))
		taro := h.customer("taro", nil)
		h.event("taro", "X", "", T0, nil)
		h.drain()
		if _, err := h.db.SetJourneyStatus(ctx, j.ID, journey.Disabled); err != nil {
			t.Fatal(err)
		}
		h.event("taro", "X", "", T0.Add(time.Minute), nil) // disabled: no entry
		h.runUntil(T0.Add(5 * time.Hour))
		h.expect(taro, sent{"m1", "2026-04-01 12:00"})
		// Removing the step a customer waits at is refused.
		edit := *j
		edit.Steps = []journey.Step{mail("m1", "m2"), mail("m2", "")}
		if _, err := h.db.UpdateJourney(ctx, edit); errs.Code(err) != errs.Invalid || !strings.Contains(err.Error(), `step "w"`) {
			t.Fatalf("stranding edit: %v", err)
		}
		edit.Steps = []journey.Step{mail("m1", "w"), wait("w", "m3", time.Hour), mail("m3", "")}
		if _, err := h.db.UpdateJourney(ctx, edit); err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.SetJourneyStatus(ctx, j.ID, journey.Enabled); err != nil {
			t.Fatal(err)
		}
		h.runUntil(T0.Add(6 * time.Hour))
		h.expect(taro, sent{"m1", "2026-04-01 12:00"}, sent{"m3", "2026-04-01 17:00"})
		if _, err := h.db.SetJourneyStatus(ctx, j.ID, journey.Archived); err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.SetJourneyStatus(ctx, j.ID, journey.Enabled); errs.Code(err) != errs.Conflict {
			t.Fatalf("enable archived: %v", err)
		}
	})
}

func TestLoyaltyAndWebhookSteps(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		j := h.journey(journey.Journey{Name: "loyal", Trigger: journey.Trigger{Type: journey.TriggerOrder}, Steps: []journey.Step{
			{ID: "pts", Type: journey.StepPoints, Points: 100, Next: "cpn"},
			{ID: "cpn", Type: journey.StepCoupon, CouponCampaignID: 4, Next: "hook"},
			{ID: "hook", Type: journey.StepWebhook, URL: "https://shop.example.com/hooks/enishi", Next: "tag"},
			{ID: "tag", Type: journey.StepTag, AddTags: []string{"rewarded"}, RemoveTags: []string{"new"}},
		}})
		taro := h.order("taro", "9201", T0, "SKU-1", 1, 1000)
		h.loyalty.fail = errs.Errorf(errs.Unavailable, "loyalty down")
		h.drain()
		if len(h.loyalty.points) != 0 {
			t.Fatal("points moved while loyalty was down")
		}
		h.loyalty.fail = nil
		h.runUntil(T0.Add(10 * time.Minute))
		if len(h.loyalty.points) != 1 || len(h.loyalty.coupons) != 1 {
			t.Fatalf("loyalty = %+v %+v", h.loyalty.points, h.loyalty.coupons)
		}
		msgs := h.ch.SentTo(taro)
		if len(msgs) != 1 || msgs[0].Channel != message.Webhook || msgs[0].Purpose != message.Transactional ||
			msgs[0].Vars["url"] != "https://shop.example.com/hooks/enishi" || !strings.HasPrefix(msgs[0].Vars["coupon_code"].(string), "C4-") {
			t.Fatalf("webhook = %+v", msgs)
		}
		if fmtJST(msgs[0].At) != "2026-04-01 12:01" {
			t.Fatalf("webhook after one retry at %s", fmtJST(msgs[0].At))
		}
		v, _ := h.db.CustomerView(ctx, taro, store.ViewOptions{})
		if len(v.Tags) != 1 || v.Tags[0] != "rewarded" {
			t.Fatalf("tags = %v", v.Tags)
		}
		if s := h.stats(j.ID); s.Exits["completed"] != 1 || s.Steps[0].Sent != 1 {
			t.Fatalf("stats = %+v", s)
		}
		// A permanent refusal ends the enrollment with the reason kept.
		h.loyalty.fail = errs.Errorf(errs.NotFound, "coupon campaign 4 not found")
		h.order("hana", "9202", h.c.Now(), "SKU-1", 1, 1000)
		h.drain()
		es := h.enrollments(j.ID)
		if es[1].State != journey.Ended || es[1].EndReason != journey.EndError || !strings.Contains(es[1].LastError, "not found") {
			t.Fatalf("failed enrollment = %+v", es[1])
		}
	})
}

func TestWaitConditionResumesOnChangeAndByDate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil {
			t.Fatal(err)
		}
		j := h.journey(journey.Journey{Name: "wait", Trigger: journey.Trigger{Type: journey.TriggerOrder}, Steps: []journey.Step{
			mail("thanks", "vip"),
			// Wait up to 10 days to be tagged VIP …
			{ID: "vip", Type: journey.StepWaitCondition, Condition: condPtr(t, `{"field":"tag","op":"has","value":"VIP"}`),
				Timeout: journey.Duration{Duration: 10 * 24 * time.Hour}, Next: "welcome", TimeoutNext: "quiet"},
			mail("welcome", ""),
			// … or, without it, until 5 days without an order (date-driven).
			{ID: "quiet", Type: journey.StepWaitCondition, Condition: condPtr(t, `{"field":"days_since_last_order","op":">=","value":15}`), Next: "bought"},
			{ID: "bought", Type: journey.StepBranch, Engagement: &journey.Engagement{Step: "thanks", Kind: "purchased"}, Next: "again", Else: "nudge"},
			mail("again", ""), mail("nudge", ""),
		}})
		taro := h.order("taro", "8001", T0, "SKU-1", 1, 1000)
		hana := h.order("hana", "8002", T0, "SKU-1", 1, 1000)
		h.runUntil(T0.Add(24 * time.Hour))
		if err := h.db.AddTags(ctx, taro, []string{"VIP"}); err != nil {
			t.Fatal(err)
		}
		h.runUntil(at("2026-04-17 12:00"))
		h.expect(taro, sent{"thanks", "2026-04-01 12:00"}, sent{"welcome", "2026-04-02 12:00"})
		// Hanako: the VIP wait ran out on 04-11; 15 days after her order
		// (04-16, midnight) the date condition held. No purchase after
		// "thanks": the nudge.
		h.expect(hana, sent{"thanks", "2026-04-01 12:00"}, sent{"nudge", "2026-04-16 00:00"})
		s := h.stats(j.ID)
		if s.Steps[1].Timeouts != 1 || s.Exits["completed"] != 2 {
			t.Fatalf("stats = %+v %+v", s.Exits, s.Steps[1])
		}
	})
}

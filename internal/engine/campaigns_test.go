package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// customers makes n customers of a prefecture in one import.
func (h *harness) customers(n int, pref string, edit func(i int, r *customer.Record)) []int64 {
	h.t.Helper()
	recs := make([]customer.Record, n)
	for i := range recs {
		k := fmt.Sprintf("%s-%d", pref, i)
		r := h.buyer(k)
		r.Profile.LastName, r.Profile.Prefecture = "客"+k, pref
		r.Overwrite = true
		if edit != nil {
			edit(i, &r)
		}
		recs[i] = r
	}
	res, err := h.db.ImportCustomers(ctx, recs)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.CustomerIDs
}

func TestCampaignScheduledThrottledPausedResumedSendsEachOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		ids := h.customers(10, "東京都", nil)
		seg := h.segment("東京", `{"field":"prefecture","op":"=","value":"東京都"}`)
		c, err := h.db.CreateCampaign(ctx, campaign.Campaign{Name: "春のセール", SegmentID: seg.ID, Channel: message.Email, ThrottlePerMinute: 2,
			Variants: []campaign.Variant{{Content: &campaign.Content{Subject: "春のセール", Text: "{{ customer.last_name }}様"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.ScheduleCampaign(ctx, c.ID, at("2026-04-02 10:00")); err != nil {
			t.Fatal(err)
		}
		h.runUntil(at("2026-04-02 10:01"))
		if n := len(h.ch.Sent()); n != 4 {
			t.Fatalf("sent by 10:01: %d, want 4 (2 a minute)", n)
		}
		if _, err := h.db.PauseCampaign(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		h.runUntil(at("2026-04-02 11:00"))
		if n := len(h.ch.Sent()); n != 4 {
			t.Fatalf("sent while paused: %d", n)
		}
		if _, err := h.db.ResumeCampaign(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		h.runUntil(at("2026-04-02 12:00"))
		keys := map[string]int{}
		for _, s := range h.ch.Sent() {
			keys[s.Key]++
			if s.Source != campaign.Source(c.ID, "A") || s.Vars["content"].(map[string]any)["subject"] != "春のセール" {
				t.Fatalf("message = %+v", s)
			}
		}
		if len(keys) != 10 {
			t.Fatalf("sent to %d customers", len(keys))
		}
		for _, id := range ids {
			if keys[campaign.Key(c.ID, id)] != 1 {
				t.Fatalf("customer %d got %d", id, keys[campaign.Key(c.ID, id)])
			}
		}
		last := h.ch.Sent()[9].At
		if fmtJST(last) != "2026-04-02 11:02" {
			t.Fatalf("last message at %s, want 11:02 (resumed at 11:00, 2 a minute)", fmtJST(last))
		}
		got, _ := h.db.Campaign(ctx, c.ID)
		if got.Status != campaign.Done || got.DoneAt == nil {
			t.Fatalf("campaign = %+v", got)
		}
		if _, err := h.db.PauseCampaign(ctx, c.ID); errs.Code(err) != errs.Conflict {
			t.Fatalf("pause a done campaign: %v", err)
		}
	})
}

func TestCampaignABTestPicksTheSignificantWinner(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if err := h.db.SetMessagingRules(ctx, outbox.Rules{}); err != nil {
			t.Fatal(err)
		}
		h.customers(400, "大阪府", nil)
		seg := h.segment("大阪", `{"field":"prefecture","op":"=","value":"大阪府"}`)
		c, err := h.db.CreateCampaign(ctx, campaign.Campaign{Name: "件名テスト", SegmentID: seg.ID, Channel: message.Email,
			Variants: []campaign.Variant{{Name: "A", Content: &campaign.Content{Subject: "新商品のお知らせ", Text: "本文"}},
				{Name: "B", Content: &campaign.Content{Subject: "【本日限定】新商品", Text: "本文"}}},
			AB: &campaign.ABTest{TestPercent: 50, Metric: "open", WaitHours: 4}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.ScheduleCampaign(ctx, c.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		h.drain()
		test := h.ch.Sent()
		if len(test) < 150 || len(test) > 250 {
			t.Fatalf("test group = %d of 400", len(test))
		}
		// B's subject is opened far more often.
		for i, s := range test {
			v := s.Source[strings.LastIndex(s.Source, ":")+1:]
			if v == "B" && i%3 != 0 || v == "A" && i%10 == 0 {
				if err := h.db.RecordEngagement(ctx, s.Key, "opened", h.c.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		h.runUntil(T0.Add(3 * time.Hour))
		if n := len(h.ch.Sent()); n != len(test) {
			t.Fatalf("rest sent before the wait: %d", n)
		}
		h.runUntil(T0.Add(5 * time.Hour))
		got, _ := h.db.Campaign(ctx, c.ID)
		if got.Winner != "B" || !strings.Contains(got.WinnerWhy, "z =") || got.Status != campaign.Done {
			t.Fatalf("winner %q (%s), status %s", got.Winner, got.WinnerWhy, got.Status)
		}
		all := h.ch.Sent()
		if len(all) != 400 {
			t.Fatalf("sent %d of 400", len(all))
		}
		for _, s := range all[len(test):] {
			if !strings.HasSuffix(s.Source, ":B") || s.Vars["content"].(map[string]any)["subject"] != "【本日限定】新商品" {
				t.Fatalf("rest got %s", s.Source)
			}
		}
		st, err := h.db.CampaignStats(ctx, c.ID)
		if err != nil || len(st) != 2 || st[0].Variant != "A" || st[1].Sent < 200 || st[0].Opened == 0 {
			t.Fatalf("stats = %+v %v", st, err)
		}
	})
}

func TestCampaignLocalTimeQuietHoursPreviewAndTestSend(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		ids := h.customers(2, "海外", func(i int, r *customer.Record) {
			if i == 1 {
				r.Attributes = map[string]string{"timezone": "America/Los_Angeles"}
			}
		})
		seg := h.segment("海外", `{"field":"prefecture","op":"=","value":"海外"}`)
		c, err := h.db.CreateCampaign(ctx, campaign.Campaign{Name: "夜の案内", SegmentID: seg.ID, Channel: message.Email, LocalTime: true,
			Variants: []campaign.Variant{{Content: &campaign.Content{Subject: "こんばんは", Text: "本文"}}}})
		if err != nil {
			t.Fatal(err)
		}
		// 22:00 local: inside quiet hours, so it goes out at 09:00 local.
		c, err = h.db.ScheduleCampaign(ctx, c.ID, at("2026-04-02 22:00"))
		if err != nil {
			t.Fatal(err)
		}
		rules, _ := h.db.MessagingRules(ctx)
		rc, _ := h.db.CampaignRecipient(ctx, ids[1])
		p := campaign.PreviewFor(c, rc, rules, h.c.Now())
		la, _ := time.LoadLocation("America/Los_Angeles")
		if p.TimeZone != "America/Los_Angeles" || !p.SendAt.Equal(time.Date(2026, 4, 2, 22, 0, 0, 0, la)) ||
			!p.GoesOutAt.Equal(time.Date(2026, 4, 3, 9, 0, 0, 0, la)) || p.Content.Subject != "こんばんは" {
			t.Fatalf("preview = %+v", p)
		}
		key, res, err := h.eng.Campaigns.TestSend(ctx, c, "", ids[0])
		if err != nil || res.Status != "sent" || !strings.HasPrefix(key, "test:campaign:") {
			t.Fatalf("test send: %q %+v %v", key, res, err)
		}
		h.runUntil(at("2026-04-04 12:00"))
		jp := h.ch.SentTo(ids[0])
		us := h.ch.SentTo(ids[1])
		if len(jp) != 2 || fmtJST(jp[1].At) != "2026-04-03 09:00" || len(us) != 1 || !us[0].At.Equal(time.Date(2026, 4, 3, 9, 0, 0, 0, la)) {
			t.Fatalf("jp %v, us %v", jp, us)
		}
		// Cancel before start leaves nothing to send.
		c2, _ := h.db.CreateCampaign(ctx, campaign.Campaign{Name: "中止", SegmentID: seg.ID, Channel: message.Email,
			Variants: []campaign.Variant{{Content: &campaign.Content{Text: "x"}}}})
		if _, err := h.db.ScheduleCampaign(ctx, c2.ID, at("2026-04-05 10:00")); err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.CancelCampaign(ctx, c2.ID); err != nil {
			t.Fatal(err)
		}
		h.runUntil(at("2026-04-06 12:00"))
		if len(h.ch.Sent()) != 3 {
			t.Fatalf("cancelled campaign sent: %d", len(h.ch.Sent()))
		}
		if _, err := h.db.CreateCampaign(ctx, campaign.Campaign{Name: "x", SegmentID: 999, Channel: message.Email,
			Variants: []campaign.Variant{{Content: &campaign.Content{Text: "x"}}}}); errs.Code(err) != errs.Invalid {
			t.Fatalf("unknown segment: %v", err)
		}
		var _ store.CampaignStore = h.db
	})
}

func TestZTestAndWinnerFallback(t *testing.T) {
	t.Parallel()
	z, p := campaign.ZTest(60, 100, 40, 100)
	if z < 2.8 || z > 2.9 || p > 0.003 {
		t.Fatalf("z = %v p = %v", z, p)
	}
	c := &campaign.Campaign{Variants: []campaign.Variant{{Name: "A"}, {Name: "B"}}, AB: &campaign.ABTest{Metric: "click", Confidence: 0.95, Fallback: "control"}}
	w, why := c.PickWinner([]campaign.VariantStats{{Variant: "A", Sent: 100, Clicked: 10}, {Variant: "B", Sent: 100, Clicked: 12}})
	if w != "A" || !strings.Contains(why, "control") {
		t.Fatalf("not significant: %s %s", w, why)
	}
	c.AB.Fallback = "best"
	if w, _ := c.PickWinner([]campaign.VariantStats{{Variant: "A", Sent: 100, Clicked: 10}, {Variant: "B", Sent: 100, Clicked: 12}}); w != "B" {
		t.Fatalf("best fallback = %s", w)
	}
	if w, _ := c.PickWinner([]campaign.VariantStats{{Variant: "A", Sent: 1000, Clicked: 50}, {Variant: "B", Sent: 1000, Clicked: 120}}); w != "B" {
		t.Fatalf("significant = %s", w)
	}
}

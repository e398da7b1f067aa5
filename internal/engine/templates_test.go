package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// Each template of the library, switched on and run end to end on a test
// customer: the expected messages at the expected times (Tokyo), on both
// stores. T0 is Wednesday 2026-04-01 12:00.

func TestTemplateF2FollowUp(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		j := h.template("f2_followup", journey.TemplateParams{CouponCampaignID: 7})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		h.order("taro", "1001", T0, "SKU-1", 1, 4800)
		h.order("hana", "1002", T0, "SKU-1", 1, 4800)
		h.runUntil(at("2026-04-20 00:00"))
		// Hanako buys again on day 19: the goal ends her journey.
		h.order("hana", "1003", h.c.Now(), "SKU-2", 1, 3000)
		h.runUntil(at("2026-06-05 00:00"))
		h.expect(taro,
			sent{"thanks", "2026-04-01 12:00"}, sent{"howto", "2026-04-04 10:00"}, sent{"review", "2026-04-08 10:00"},
			sent{"cross", "2026-04-15 10:00"}, sent{"offer", "2026-05-01 10:00"}, sent{"last", "2026-05-31 10:00"})
		h.expect(hana,
			sent{"thanks", "2026-04-01 12:00"}, sent{"howto", "2026-04-04 10:00"}, sent{"review", "2026-04-08 10:00"},
			sent{"cross", "2026-04-15 10:00"})
		msgs := h.ch.SentTo(taro)
		subj, text := content(msgs[0])
		if !strings.Contains(subj, "ご購入ありがとうございます") || !strings.Contains(text, "{{ customer.last_name }}") {
			t.Fatalf("thanks copy = %q %q", subj, text)
		}
		if code := msgs[4].Vars["coupon_code"]; code == nil || !strings.HasPrefix(code.(string), "C7-") || msgs[5].Vars["coupon_code"] != code {
			t.Fatalf("coupon code = %v then %v", code, msgs[5].Vars["coupon_code"])
		}
		st := h.stats(j.ID)
		if st.Entered != 2 || st.Converted != 1 || st.Revenue != 3000 || st.Exits["completed"] != 1 || st.Exits["goal"] != 1 || st.Active != 0 {
			t.Fatalf("stats = %+v", st)
		}
		if st.Steps[0].Step != "thanks" || st.Steps[0].Sent != 2 {
			t.Fatalf("step stats = %+v", st.Steps[0])
		}
		// The second order is no first purchase: nobody entered again.
		if es := h.enrollments(j.ID); len(es) != 2 {
			t.Fatalf("enrollments = %d", len(es))
		}
	})
}

func TestTemplateCartAbandonment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		h.template("cart_abandonment", journey.TemplateParams{CouponCode: "CART500"})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		late := h.customer("late", nil)
		h.event("taro", "Checkout Started", "SKU-1", T0, nil)
		h.event("hana", "Checkout Started", "SKU-1", T0, nil)
		h.runUntil(at("2026-04-01 14:00"))
		h.order("hana", "2001", h.c.Now(), "SKU-1", 1, 4800) // Hanako buys after the first reminder
		h.runUntil(at("2026-04-01 20:30"))
		h.event("late", "Checkout Started", "SKU-1", h.c.Now(), nil) // 20:30: the first reminder falls in quiet hours
		h.runUntil(at("2026-04-06 00:00"))
		h.expect(taro, sent{"remind1", "2026-04-01 13:00"}, sent{"remind2", "2026-04-02 12:00"}, sent{"remind3", "2026-04-04 12:00"})
		h.expect(hana, sent{"remind1", "2026-04-01 13:00"})
		h.expect(late, sent{"remind1", "2026-04-02 09:00"}, sent{"remind2", "2026-04-02 20:30"}, sent{"remind3", "2026-04-04 20:30"})
		if c := h.ch.SentTo(taro)[2].Vars["coupon_code"]; c != "CART500" {
			t.Fatalf("coupon = %v", c)
		}
	})
}

func TestTemplateBrowseAbandonment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		h.template("browse_abandonment", journey.TemplateParams{})
		taro := h.customer("taro", nil)
		h.event("taro", "Product Viewed", "SKU-9", T0, map[string]any{"name": "美容液"})
		h.event("taro", "Product Viewed", "SKU-8", T0.Add(time.Hour), nil) // within the cooldown: no second run
		h.runUntil(at("2026-04-04 00:00"))
		h.expect(taro, sent{"remind", "2026-04-02 10:00"})
		trig := h.ch.SentTo(taro)[0].Vars["trigger"].(map[string]any)
		if trig["sku"] != "SKU-9" || trig["properties"].(map[string]any)["name"] != "美容液" {
			t.Fatalf("trigger vars = %v", trig)
		}
	})
}

func TestTemplateWelcome(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		h.template("welcome", journey.TemplateParams{CouponCampaignID: 3})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		h.event("taro", "Signed Up", "", T0, nil)
		h.event("hana", "Signed Up", "", T0, nil)
		h.runUntil(at("2026-04-04 00:00"))
		h.order("hana", "3001", h.c.Now(), "SKU-1", 1, 2000)
		h.runUntil(at("2026-04-10 00:00"))
		h.expect(taro, sent{"welcome", "2026-04-01 12:00"}, sent{"story", "2026-04-03 10:00"}, sent{"offer", "2026-04-06 10:00"})
		h.expect(hana, sent{"welcome", "2026-04-01 12:00"}, sent{"story", "2026-04-03 10:00"})
	})
}

func TestTemplateBirthday(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		h.template("birthday", journey.TemplateParams{CouponCampaignID: 5})
		taro := h.customer("taro", func(r *customer.Record) { r.Profile.Birthday = "1990-04-03" })
		hana := h.customer("hana", func(r *customer.Record) { r.Profile.Birthday = "1992-05-20" })
		h.runUntil(at("2026-04-10 00:00"))
		h.expect(taro, sent{"greet", "2026-04-03 09:00"})
		h.expect(hana)
		if c, _ := h.ch.SentTo(taro)[0].Vars["coupon_code"].(string); !strings.HasPrefix(c, "C5-") {
			t.Fatalf("birthday coupon = %q", c)
		}
	})
}

func TestTemplateWinback(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		taro := h.order("taro", "4001", T0.AddDate(0, 0, -179), "SKU-1", 1, 5000)
		hana := h.order("hana", "4002", T0.AddDate(0, 0, -179), "SKU-1", 1, 5000)
		h.template("winback", journey.TemplateParams{CouponCode: "WELCOMEBACK"})
		h.runUntil(at("2026-04-05 00:00"))
		h.order("hana", "4003", h.c.Now(), "SKU-1", 1, 5000) // Hanako comes back on her own
		h.runUntil(at("2026-04-20 00:00"))
		h.expect(taro, sent{"hello", "2026-04-02 10:00"}, sent{"offer", "2026-04-16 10:00"})
		h.expect(hana, sent{"hello", "2026-04-02 10:00"})
	})
}

func TestTemplateReplenishment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if _, err := h.db.ImportProducts(ctx, []product.Product{{SKU: "SKU-R", Name: "化粧水 詰め替え", Price: 2400, ReplenishmentDays: 30}}); err != nil {
			t.Fatal(err)
		}
		taro := h.order("taro", "5001", T0.AddDate(0, 0, -20), "SKU-R", 1, 2400)
		other := h.order("jiro", "5002", T0.AddDate(0, 0, -20), "SKU-X", 1, 2400) // no cycle
		h.template("replenishment", journey.TemplateParams{})
		h.runUntil(at("2026-04-20 00:00"))
		h.expect(taro, sent{"remind", "2026-04-06 10:00"}, sent{"again", "2026-04-13 10:00"})
		h.expect(other)
		trig := h.ch.SentTo(taro)[0].Vars["trigger"].(map[string]any)
		if trig["sku"] != "SKU-R" || trig["product_name"] != "化粧水 詰め替え" {
			t.Fatalf("trigger = %v", trig)
		}
	})
}

func TestTemplateBackInStockAndPriceDrop(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		if _, err := h.db.ImportProducts(ctx, []product.Product{{SKU: "SKU-B", Name: "限定バッグ", Price: 12000}, {SKU: "SKU-P", Name: "ワンピース", Price: 9800}}); err != nil {
			t.Fatal(err)
		}
		bis := h.template("back_in_stock", journey.TemplateParams{})
		h.template("price_drop", journey.TemplateParams{})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		h.event("taro", journey.EventFavorited, "SKU-B", T0.AddDate(0, 0, -3), nil)
		h.event("hana", journey.EventFavorited, "SKU-P", T0.AddDate(0, 0, -3), nil)
		h.event("hana", journey.EventFavorited, "SKU-B", T0.AddDate(-1, 0, 0), nil) // too long ago
		h.runUntil(T0.Add(time.Hour))
		if _, err := h.db.RecordProductSignal(ctx, "SKU-B", "back_in_stock", 0, 0); err != nil {
			t.Fatal(err)
		}
		h.runUntil(T0.Add(2 * time.Hour))
		if _, err := h.db.ImportProducts(ctx, []product.Product{{SKU: "SKU-P", Price: 7800}}); err != nil {
			t.Fatal(err)
		}
		h.runUntil(T0.Add(3 * time.Hour))
		h.expect(taro, sent{"notify", "2026-04-01 13:00"})
		h.expect(hana, sent{"notify", "2026-04-01 14:00"})
		trig := h.ch.SentTo(hana)[0].Vars["trigger"].(map[string]any)
		if trig["old_price"] != 9800.0 || trig["new_price"] != 7800.0 || trig["product_name"] != "ワンピース" {
			t.Fatalf("price drop = %v", trig)
		}
		if st := h.stats(bis.ID); st.Entered != 1 {
			t.Fatalf("back in stock entered %d", st.Entered)
		}
	})
}

func TestTemplateCouponUnused(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		h.template("coupon_unused", journey.TemplateParams{})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		h.event("taro", journey.EventCouponIssued, "", T0, map[string]any{"code": "SPRING-1"})
		h.event("hana", journey.EventCouponIssued, "", T0, map[string]any{"code": "SPRING-2"})
		h.runUntil(at("2026-04-03 12:00"))
		o := storetest.Order("shop", "6001", h.c.Now(), h.buyer("hana"), "SKU-1", 1, 3000)
		o.CouponCode = "SPRING-2"
		if _, err := h.db.ImportOrders(ctx, []order.Order{o}); err != nil {
			t.Fatal(err)
		}
		h.runUntil(at("2026-04-10 00:00"))
		h.expect(taro, sent{"remind", "2026-04-08 10:00"})
		h.expect(hana)
		if trig := h.ch.SentTo(taro)[0].Vars["trigger"].(map[string]any); trig["coupon_code"] != "SPRING-1" {
			t.Fatalf("trigger = %v", trig)
		}
	})
}

func TestTemplateRankUpPointsExpiringAndVIP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		vip := h.segment("VIP", `{"field":"total_spent","op":">=","value":50000}`)
		h.template("rank_up", journey.TemplateParams{})
		h.template("points_expiring", journey.TemplateParams{})
		h.template("vip_thanks", journey.TemplateParams{SegmentID: vip.ID})
		taro := h.customer("taro", nil)
		hana := h.customer("hana", nil)
		h.event("taro", journey.EventRankChanged, "", T0, map[string]any{"from": "silver", "to": "gold", "from_name": "シルバー", "to_name": "ゴールド", "direction": "up"})
		h.event("hana", journey.EventRankChanged, "", T0, map[string]any{"from": "gold", "to": "silver", "from_name": "ゴールド", "to_name": "シルバー", "direction": "down"})
		h.event("hana", journey.EventPointsExpiring, "", T0, map[string]any{"points": 500, "valid_through": "2026-04-30"})
		h.order("taro", "7001", T0, "SKU-G", 1, 60000)
		h.runUntil(at("2026-04-03 00:00"))
		h.expect(taro, sent{"congrats", "2026-04-01 12:00"}, sent{"thanks", "2026-04-02 10:00"})
		h.expect(hana, sent{"notify", "2026-04-01 12:00"})
	})
}

// The rank-up journey fires from a real rank change: an order import
// queues its buyer, the evaluation moves them to ゴールド and writes the
// Rank Changed event the journey starts on (loyalty and journeys
// together, not an injected event).
func TestTemplateRankUpFromAnOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		h := newHarness(t, open)
		h.template("rank_up", journey.TemplateParams{})
		taro := h.order("taro", "8001", h.c.Now(), "SKU-G", 1, 120000)
		run, err := h.db.EvaluatePendingRanks(ctx)
		if err != nil || run.Up != 1 {
			t.Fatalf("rank evaluation = %+v, %v", run, err)
		}
		h.runUntil(h.c.Now().Add(2 * time.Hour))
		got := h.ch.SentTo(taro)
		if len(got) != 1 {
			t.Fatalf("sent %d messages, want the congratulation", len(got))
		}
		trig := got[0].Vars["trigger"].(map[string]any)
		props, _ := trig["properties"].(map[string]any)
		if props == nil {
			props = trig
		}
		if props["to"] != "gold" || props["to_name"] != "ゴールド" || props["direction"] != "up" {
			t.Fatalf("trigger = %v", trig)
		}
	})
}

package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/loyalty"
)

func TestLoyaltyPagesByRole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	id := s.anyCustomer()
	c, err := s.db.CreateCouponCampaign(bg, loyalty.Campaign{Name: "春の感謝", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 500})
	if err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		path  string
		allow []string
	}{
		{"/loyalty/report", []string{"admin", "marketer", "analyst"}},
		{"/loyalty/report?from=2024-01-01&to=2024-06-30", []string{"admin", "marketer", "analyst"}},
		{"/loyalty/coupons", []string{"admin", "marketer", "analyst", "support"}},
		{"/loyalty/coupons/" + itoa(c.ID), []string{"admin", "marketer", "analyst", "support"}},
		{"/loyalty/coupons/" + itoa(c.ID) + "/codes.csv", []string{"admin", "marketer"}},
		{"/loyalty/program", []string{"admin", "marketer", "analyst", "support"}},
		{"/customers/" + itoa(id) + "/points", []string{"admin", "marketer", "analyst", "support"}},
	}
	for _, role := range []string{"admin", "marketer", "analyst", "support"} {
		cl := s.as(role)
		for _, p := range pages {
			resp, body := cl.get(p.path)
			want := http.StatusForbidden
			if contains(p.allow, role) {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s: %d, want %d", role, p.path, resp.StatusCode, want)
			}
			if strings.Contains(body, "ZgotmplZ") || strings.Contains(body, "loyalty.") && want == 200 && strings.Contains(p.path, "loyalty") && regexp.MustCompile(`>loyalty\.[a-z_]+<`).MatchString(body) {
				t.Errorf("%s %s: a refused template value or an untranslated key", role, p.path)
			}
		}
		// The menu shows loyalty to those who may see its report or change it.
		_, home := cl.get("/customers")
		shown := strings.Contains(home, `href="/loyalty"`)
		if want := role != "support"; shown != want {
			t.Errorf("%s: loyalty menu shown = %v", role, shown)
		}
		// The programme is read-only without loyalty:write.
		_, prog := cl.get("/loyalty/program")
		if editable := strings.Contains(prog, `data-testid="program-save"`); editable != (role == "admin" || role == "marketer") {
			t.Errorf("%s: programme editable = %v", role, editable)
		}
	}
	if resp, _ := s.as("analyst").form("/loyalty/program", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst saved the programme: %d", resp.StatusCode)
	}
	if resp, _ := s.as("support").form("/customers/"+itoa(id)+"/points", url.Values{"points": {"100"}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support adjusted points: %d", resp.StatusCode)
	}
}

// programForm is the default programme as the form posts it.
func programForm() url.Values {
	return url.Values{
		"enabled": {"1"}, "metric": {"spend"}, "period": {"rolling"}, "months": {"12"},
		"tier_code": {"platinum", "gold", "silver", "bronze", ""}, "tier_name": {"プラチナ", "ゴールド", "シルバー", "ブロンズ", ""},
		"tier_min": {"300,000", "100000", "30000", "0", ""}, "tier_mult": {"3", "3", "2", "1", ""}, "tier_ship": {"1", "1", "0", "0", "0"},
		"base_rate": {"1"}, "expiry_months": {"12"}, "birthday": {"2"}, "expiring_soon": {"30"}, "earn_since": {""}, "reminder_days": {"7"},
		"camp_name": {"スキンケア5倍", ""}, "camp_from": {"2026-05-01", ""}, "camp_to": {"2026-05-07", ""}, "camp_mult": {"5", ""},
		"camp_skus": {"", ""}, "camp_cats": {"スキンケア, 化粧水", ""},
	}
}

func TestLoyaltyProgrammeSavesThroughTheStoresCheck(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("marketer")
	f := programForm()
	// A new tier typed in the blank row, below its place: saved in order.
	f["tier_code"][4], f["tier_name"][4], f["tier_min"][4], f["tier_mult"][4] = "diamond", "ダイヤモンド", "1000000", "5"
	if resp, body := c.form("/loyalty/program", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %.500s", resp.StatusCode, body)
	}
	p, err := s.db.LoyaltyProgram(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ranks.Tiers) != 5 || p.Ranks.Tiers[0].Code != "diamond" || p.Ranks.Tiers[0].PointMultiplier != 5 || !p.Ranks.Tiers[1].FreeShipping || p.Ranks.Tiers[3].FreeShipping {
		t.Errorf("tiers = %+v", p.Ranks.Tiers)
	}
	if len(p.Points.Campaigns) != 1 || len(p.Points.Campaigns[0].Categories) != 2 || p.Points.Campaigns[0].Multiplier != 5 {
		t.Errorf("campaigns = %+v", p.Points.Campaigns)
	}
	_, page := c.get("/loyalty/program")
	if !strings.Contains(page, `value="diamond"`) || !strings.Contains(page, "スキンケア, 化粧水") {
		t.Errorf("the saved programme is not shown")
	}

	// Two tiers with one threshold: refused by the store, the field marked,
	// nothing saved, what was typed shown again.
	bad := programForm()
	bad["tier_min"][1] = "30000"
	resp, body := c.form("/loyalty/program", bad)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate threshold: %d", resp.StatusCode)
	}
	if !strings.Contains(body, "two tiers have the threshold 30000") || !strings.Contains(body, `class="field-error"`) || !strings.Contains(body, `aria-invalid="true"`) {
		t.Errorf("the refused field is not marked: %.300s", body[strings.Index(body, "<main"):])
	}
	if p2, _ := s.db.LoyaltyProgram(bg); len(p2.Ranks.Tiers) != 5 {
		t.Errorf("a refused programme was saved: %+v", p2.Ranks.Tiers)
	}
	for field, val := range map[string]string{"base_rate": "abc", "birthday": "99", "earn_since": "2026-13-01"} {
		bad := programForm()
		bad.Set(field, val)
		resp, body := c.form("/loyalty/program", bad)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `class="field-error"`) {
			t.Errorf("%s=%s: %d", field, val, resp.StatusCode)
		}
	}
}

func TestCouponCampaignCreateGenerateAndDownload(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("marketer")
	resp, body := c.form("/loyalty/coupons", url.Values{"name": {"春の感謝クーポン"}, "mode": {"unique"}, "discount_type": {"percent"}, "value": {"10"},
		"min_order": {"3,000"}, "starts": {"2024-04-01"}, "ends": {"2024-04-30"}, "ranks": {"gold", "platinum"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.300s", resp.StatusCode, body)
	}
	page := strings.SplitN(resp.Header.Get("Location"), "?", 2)[0]
	cs, err := s.db.CouponCampaigns(bg)
	if err != nil || len(cs) != 1 {
		t.Fatalf("campaigns = %+v %v", cs, err)
	}
	camp := cs[0]
	if camp.MinOrder != 3000 || len(camp.Ranks) != 2 || camp.EndsAt == nil || camp.EndsAt.Format("2006-01-02T15") != "2024-04-30T15" {
		t.Errorf("campaign = %+v (ends %v)", camp.Campaign, camp.EndsAt)
	}
	if resp, _ := c.form(page+"/codes", url.Values{"count": {"25"}, "prefix": {"HARU"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("generate: %d", resp.StatusCode)
	}
	_, detail := c.get(page)
	if !strings.Contains(detail, `data-testid="campaign-codes">25<`) || !strings.Contains(detail, "2024-04-30") || strings.Count(detail, "<code>HARU") != 25 {
		t.Errorf("the campaign page does not show 25 HARU codes through 2024-04-30")
	}
	resp, csvBody := c.get(page + "/codes.csv")
	if resp.StatusCode != 200 || strings.Count(csvBody, "\r\nHARU") != 25 || !strings.HasPrefix(csvBody, "\ufeffcode,status") {
		t.Errorf("codes CSV: %d %.200q", resp.StatusCode, csvBody)
	}
	// Bad input: shown again with the store's reason.
	resp, body = c.form("/loyalty/coupons", url.Values{"name": {"x"}, "mode": {"unique"}, "discount_type": {"percent"}, "value": {"150"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "percent off must be 1–100") || !strings.Contains(body, `value="150"`) {
		t.Errorf("bad percent: %d", resp.StatusCode)
	}
	if resp, _ := c.form(page+"/codes", url.Values{"count": {"0"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("zero codes: %d", resp.StatusCode)
	}
}

func TestCustomerPointsAdjustIssueAndHistory(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	id := s.anyCustomer()
	camp, err := s.db.CreateCouponCampaign(bg, loyalty.Campaign{Name: "お詫びクーポン", Mode: loyalty.Shared, SharedCode: "SORRY500", DiscountType: loyalty.AmountOff, Value: 500})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.db.PointsBalance(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	c := s.as("marketer")
	_, page := c.get("/customers/" + itoa(id))
	key := regexp.MustCompile(`name="key" value="([^"]+:points)"`).FindStringSubmatch(page)
	if key == nil || !strings.Contains(page, `data-testid="customer-points">`+formatNum(before.Points)+` pt<`) {
		t.Fatalf("the 360 lacks the points form or the balance %d", before.Points)
	}
	form := url.Values{"points": {"+1,200"}, "reason": {"配送遅延のお詫び"}, "expires": {"2030-12-31"}, "key": {key[1]}}
	for range 2 { // a double submit adjusts once
		if resp, body := c.form("/customers/"+itoa(id)+"/points", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("adjust: %d %.300s", resp.StatusCode, body)
		}
	}
	after, _ := s.db.PointsBalance(bg, id)
	if after.Points != before.Points+1200 {
		t.Errorf("balance %d → %d, want +1200", before.Points, after.Points)
	}
	resp, body := c.form("/customers/"+itoa(id)+"/points", url.Values{"points": {"-99999999"}, "reason": {"誤付与"}, "key": {"k2"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="points-form"`) {
		t.Errorf("taking more than the balance: %d", resp.StatusCode)
	}
	if resp, body := c.form("/customers/"+itoa(id)+"/points", url.Values{"points": {"100"}, "key": {"k3"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "調整の理由を入力してください") {
		t.Errorf("no reason: %d", resp.StatusCode)
	}
	if resp, body := c.form("/customers/"+itoa(id)+"/coupons", url.Values{"campaign_id": {itoa(camp.ID)}, "key": {"k4"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("issue: %d %.300s", resp.StatusCode, body)
	}
	_, page = c.get("/customers/" + itoa(id))
	for _, want := range []string{"SORRY500", "配送遅延のお詫び", formatNum(after.Points) + " pt"} {
		if !strings.Contains(page, want) {
			t.Errorf("the 360 lacks %q", want)
		}
	}
	_, hist := c.get("/customers/" + itoa(id) + "/points")
	if !strings.Contains(hist, "配送遅延のお詫び") || !strings.Contains(hist, "2030-12-31") || !strings.Contains(hist, "marketer@example.com") {
		t.Errorf("history lacks the adjustment")
	}
	// The audit log has the adjustment with its reason.
	var n int
	if err := s.db.Read.QueryRowContext(bg, `SELECT count(*) FROM audit_log WHERE action = 'points.adjust'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit entries for the adjustment: %d %v", n, err)
	}
}

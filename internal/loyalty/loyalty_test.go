package loyalty

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
)

func tokyo(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, clock.Tokyo)
}

func TestDefaultProgramMatchesTheFourRanks(t *testing.T) {
	p := DefaultProgram()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spend int64
		want  string
	}{{0, "bronze"}, {29_999, "bronze"}, {30_000, "silver"}, {99_999, "silver"}, {100_000, "gold"}, {299_999, "gold"}, {300_000, "platinum"}, {5_000_000, "platinum"}} {
		if got := p.Ranks.TierFor(tc.spend).Code; got != tc.want {
			t.Errorf("TierFor(%d) = %s, want %s", tc.spend, got, tc.want)
		}
	}
	if p.Ranks.Direction("silver", "gold") != "up" || p.Ranks.Direction("gold", "bronze") != "down" || p.Ranks.Direction("gone", "silver") != "up" {
		t.Error("directions")
	}
	if n, ok := p.Ranks.Next("gold"); !ok || n.Code != "platinum" {
		t.Error("next of gold")
	}
	if _, ok := p.Ranks.Next("platinum"); ok {
		t.Error("platinum has no next rank")
	}
}

func TestParseProgramRejectsBadRulesWithTheField(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"ranks":{"metric":"visits","period":"rolling","tiers":[{"code":"a","min":0}]}}`, "ranks.metric"},
		{`{"ranks":{"metric":"spend","period":"weekly","tiers":[{"code":"a","min":0}]}}`, "ranks.period"},
		{`{"ranks":{"metric":"spend","period":"rolling","tiers":[{"code":"a","min":10}]}}`, "ranks.tiers"},
		{`{"ranks":{"metric":"spend","period":"rolling","tiers":[{"code":"A B","min":0}]}}`, "ranks.tiers[0].code"},
		{`{"ranks":{"metric":"spend","period":"rolling","tiers":[{"code":"a","min":0},{"code":"a","min":5}]}}`, "ranks.tiers[1].code"},
		{`{"ranks":{"metric":"spend","period":"rolling","tiers":[{"code":"a","min":0,"point_multiplier":30}]}}`, "ranks.tiers[0].point_multiplier"},
		{`{"points":{"base_rate_percent":150}}`, "points.base_rate_percent"},
		{`{"points":{"campaigns":[{"name":"x","from":"2026-05-02","to":"2026-05-01","multiplier":2}]}}`, "points.campaigns[0].to"},
		{`{"points":{"campaigns":[{"name":"x","from":"2026-05-01","to":"2026-05-02","multiplier":0}]}}`, "points.campaigns[0].multiplier"},
	} {
		_, err := ParseProgram([]byte(tc.json))
		var e *errs.Error
		if !errors.As(err, &e) || e.Field != tc.field {
			t.Errorf("%s: err = %v, want field %s", tc.json, err, tc.field)
		}
	}
	if _, err := ParseProgram([]byte(`{"bogus":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
	p, err := ParseProgram([]byte(`{"enabled":true,"points":{"base_rate_percent":0.5,"earn_since":"2026-04-01"}}`))
	if err != nil || p.Points.BaseRatePercent != 0.5 || p.Points.EarnSince.String() != "2026-04-01" || len(p.Ranks.Tiers) != 4 {
		t.Fatalf("partial programme = %+v, %v", p, err)
	}
}

func TestWindows(t *testing.T) {
	now := tokyo(2026, 4, 1, 12).UTC()
	r := RankRules{Period: PeriodRolling, Months: 12}
	if from, to := r.Window(now); !from.Equal(tokyo(2025, 4, 1, 12)) || !to.Equal(now.Add(ClockSkew)) {
		t.Errorf("rolling = %v %v", from, to)
	}
	r.Period = PeriodCurrentYear
	if from, _ := r.Window(now); !from.Equal(tokyo(2026, 1, 1, 0)) {
		t.Errorf("current year from %v", from)
	}
	r.Period = PeriodPreviousYear
	if from, to := r.Window(now); !from.Equal(tokyo(2025, 1, 1, 0)) || !to.Equal(tokyo(2026, 1, 1, 0)) {
		t.Errorf("previous year = %v %v", from, to)
	}
}

func TestEarnArithmetic(t *testing.T) {
	p := DefaultProgram()
	gold, _ := p.Ranks.Tier("gold")
	bronze := p.Ranks.Lowest()
	at := tokyo(2026, 5, 10, 15).UTC()
	o := order.Order{OrderedAt: at, Status: order.Paid, Total: 10_550, Shipping: 550, Lines: []order.Line{
		{SKU: "A", Category: "食品", Amount: 4000}, {SKU: "B", Category: "スキンケア", Amount: 6000}}}
	for _, tc := range []struct {
		name     string
		tier     Tier
		birthday string
		camps    []PointCampaign
		pointsUs int64
		want     int64
	}{
		{"base 1%", bronze, "", nil, 0, 100},
		{"gold ×3", gold, "", nil, 0, 300},
		{"birthday month ×2", bronze, "1990-05-31", nil, 0, 200},
		{"other month", bronze, "1990-06-01", nil, 0, 100},
		{"points used earn nothing", bronze, "", nil, 1000, 90},
		{"category campaign on one line", bronze, "", []PointCampaign{{Name: "c", From: DayOf(at), To: DayOf(at), Multiplier: 5, Categories: []string{"スキンケア"}}}, 0, 40 + 300},
		{"highest campaign wins", bronze, "", []PointCampaign{
			{Name: "all", From: DayOf(at), To: DayOf(at), Multiplier: 2},
			{Name: "sku", From: DayOf(at), To: DayOf(at), Multiplier: 3, SKUs: []string{"a"}}}, 0, 120 + 120},
		{"campaign outside its days", bronze, "", []PointCampaign{{Name: "c", From: DayOf(at.AddDate(0, 0, 1)), To: DayOf(at.AddDate(0, 0, 3)), Multiplier: 5}}, 0, 100},
		{"all together", gold, "1990-05-01", []PointCampaign{{Name: "c", From: DayOf(at), To: DayOf(at), Multiplier: 1.5}}, 0, 900},
	} {
		p.Points.Campaigns = tc.camps
		o.PointsUsed = tc.pointsUs
		if got := p.Earn(&o, tc.tier, tc.birthday); got.Points != tc.want {
			t.Errorf("%s: %d points, want %d", tc.name, got.Points, tc.want)
		}
	}
	// Fractions are dropped once, at the end: 3 × 333 yen at 1% is 9 points, not 3 × 3.
	p.Points.Campaigns = nil
	odd := order.Order{OrderedAt: at, Total: 999, Lines: []order.Line{{Amount: 333}, {Amount: 333}, {Amount: 333}}}
	if got := p.Earn(&odd, bronze, ""); got.Points != 9 || got.Basis != 999 {
		t.Errorf("odd = %+v", got)
	}
	// Without lines, the basis earns at the rate.
	bare := order.Order{OrderedAt: at, Total: 12_345}
	if got := p.Earn(&bare, gold, ""); got.Points != 370 {
		t.Errorf("bare = %+v", got)
	}
	huge := order.Order{OrderedAt: at, Total: 9_000_000_000_000, Lines: []order.Line{{Amount: 9_000_000_000_000}}}
	if got := p.Earn(&huge, Tier{PointMultiplier: 10}, "1990-05-01"); got.Points != 1_800_000_000_000 {
		t.Errorf("huge = %+v", got)
	}
	if Rescale(100, 10_000, 6_000) != 60 || Rescale(100, 10_000, 0) != 0 {
		t.Error("rescale")
	}
}

func TestExpiryIsTheSameDateMonthsLater(t *testing.T) {
	r := PointRules{ExpiryMonths: 12}
	for _, tc := range []struct {
		earned time.Time
		valid  string
	}{
		{tokyo(2026, 4, 1, 23), "2027-04-01"},
		{tokyo(2026, 4, 1, 0), "2027-04-01"},
		{tokyo(2024, 2, 29, 10), "2025-02-28"},
	} {
		e := r.ExpiresAt(tc.earned.UTC())
		if got := ValidThrough(*e).String(); got != tc.valid {
			t.Errorf("earned %v: valid through %s, want %s", tc.earned, got, tc.valid)
		}
	}
	if AddMonths(tokyo(2026, 1, 31, 0), 1).Day() != 28 {
		t.Error("1/31 + 1 month should clamp to 2/28")
	}
	if (PointRules{}).ExpiresAt(time.Now()) != nil {
		t.Error("expiry 0 should never expire")
	}
}

func TestPlanDebitIsFIFO(t *testing.T) {
	t1, t2 := time.Unix(100, 0), time.Unix(100+3*86400, 0)
	lots := []OpenLot{{LotID: 3}, {LotID: 2, ExpiresAt: &t2, Remaining: 50}, {LotID: 1, ExpiresAt: &t1, Remaining: 30}, {LotID: 4, ExpiresAt: &t1, Remaining: 10}}
	lots[0].Remaining = 100
	SortFIFO(lots)
	if lots[0].LotID != 1 || lots[1].LotID != 4 || lots[2].LotID != 2 || lots[3].LotID != 3 {
		t.Fatalf("order = %+v", lots)
	}
	takes, short := PlanDebit(lots, 60)
	if short != 0 || len(takes) != 3 || takes[2].Points != 20 || takes[2].Lot.LotID != 2 {
		t.Fatalf("takes = %+v", takes)
	}
	if _, short := PlanDebit(lots, 500); short != 310 {
		t.Fatalf("short = %d", short)
	}
	ex := Expiring(lots)
	if len(ex) != 2 || ex[0].Points != 40 || ex[1].Points != 50 {
		t.Fatalf("expiring = %+v", ex)
	}
}

func TestGeneratedCodesAreUnguessable(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 20000 {
		c, err := GenerateCode("")
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeLength || strings.Trim(c, CodeAlphabet) != "" || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		for _, r := range c {
			counts[r]++
		}
	}
	// Every character of the alphabet is used about equally (no modulo bias):
	// 240,000 draws over 31 characters is 7,742 each; allow ±5%.
	for _, r := range CodeAlphabet {
		if n := counts[r]; n < 7355 || n > 8129 {
			t.Errorf("%c drawn %d times", r, n)
		}
	}
	for _, bad := range "01ILO" {
		if strings.ContainsRune(CodeAlphabet, bad) {
			t.Errorf("alphabet has look-alike %c", bad)
		}
	}
	if c, _ := GenerateCode("sp-"); !strings.HasPrefix(c, "SP-") {
		t.Errorf("prefix: %s", c)
	}
	if NormalizeCode(" ｗｅｌｃｏｍｅ１０ ") != "WELCOME10" {
		t.Error("normalise")
	}
}

func TestCampaignValidation(t *testing.T) {
	ok := Campaign{Name: "x", Mode: Shared, SharedCode: "abc-1", DiscountType: PercentOff, Value: 10, Ranks: []string{"Gold"}}
	if err := ok.Validate(); err != nil || ok.SharedCode != "ABC-1" || ok.Ranks[0] != "gold" {
		t.Fatalf("valid campaign: %v %+v", err, ok)
	}
	now := time.Now()
	for _, c := range []Campaign{
		{Mode: Unique, DiscountType: AmountOff, Value: 1},
		{Name: "x", Mode: "both", DiscountType: AmountOff, Value: 1},
		{Name: "x", Mode: Shared, SharedCode: "a b", DiscountType: AmountOff, Value: 1},
		{Name: "x", Mode: Unique, DiscountType: PercentOff, Value: 101},
		{Name: "x", Mode: Unique, DiscountType: AmountOff, Value: 0},
		{Name: "x", Mode: Unique, DiscountType: AmountOff, Value: 1, StartsAt: &now, EndsAt: &now},
		{Name: "x", Mode: Unique, DiscountType: AmountOff, Value: 1, ShopifyPriceRuleID: "gid://x"},
	} {
		if err := c.Validate(); errs.Code(err) != errs.Invalid {
			t.Errorf("%+v accepted: %v", c, err)
		}
	}
}

type memSync struct {
	codes  []Coupon
	synced map[int64]string
}

func (m *memSync) UnsyncedCoupons(_ context.Context, _ int64, limit int) ([]Coupon, error) {
	var out []Coupon
	for _, c := range m.codes {
		if _, ok := m.synced[c.ID]; !ok && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memSync) MarkCouponSynced(_ context.Context, id int64, remote string) error {
	m.synced[id] = remote
	return nil
}

type failWriter struct{}

func (failWriter) CreateDiscountCode(context.Context, string, string) (string, error) {
	return "", errors.New("boom")
}

func TestSyncNeedsAPriceRuleAndStopsOnFailure(t *testing.T) {
	m := &memSync{codes: []Coupon{{ID: 1, Code: "A"}}, synced: map[int64]string{}}
	if _, err := SyncDiscountCodes(context.Background(), m, failWriter{}, &Campaign{ID: 1}); errs.Code(err) != errs.Invalid {
		t.Fatalf("no price rule: %v", err)
	}
	if _, err := SyncDiscountCodes(context.Background(), m, failWriter{}, &Campaign{ID: 1, ShopifyPriceRuleID: "1"}); err == nil || len(m.synced) != 0 {
		t.Fatalf("failure not reported: %v %v", err, m.synced)
	}
}

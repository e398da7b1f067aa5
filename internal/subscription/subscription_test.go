package subscription

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

func TestParseCycleReadsCartWording(t *testing.T) {
	t.Parallel()
	good := map[string]Cycle{
		"30日": {Days, 30}, "30": {Days, 30}, "１ヶ月": {Months, 1}, "2か月ごと": {Months, 2}, "毎月": {Months, 1}, "隔月": {Months, 2},
		"2週間": {Days, 14}, "30 days": {Days, 30}, "1 month": {Months, 1}, "3 months": {Months, 3}, "monthly": {Months, 1},
		"45日ごと": {Days, 45}, "3ヵ月": {Months, 3}, "every 2 weeks": {Days, 14}, "隔週": {Days, 14}, "毎週": {Days, 7},
	}
	for in, want := range good {
		got, err := ParseCycle(in)
		if err != nil || got != want {
			t.Errorf("ParseCycle(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "sometimes", "0日", "25ヶ月", "-3"} {
		if _, err := ParseCycle(bad); errs.Code(err) != errs.Invalid {
			t.Errorf("ParseCycle(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestCycleAddKeepsMonthEnds(t *testing.T) {
	t.Parallel()
	jst := time.FixedZone("JST", 9*3600)
	m := Cycle{Months, 1}
	jan31 := time.Date(2026, 1, 31, 10, 0, 0, 0, jst)
	if got := m.Next(jan31).In(jst); got.Month() != 2 || got.Day() != 28 || got.Hour() != 10 {
		t.Errorf("1/31 + 1 month = %v", got)
	}
	if got := m.Add(jan31, 3).In(jst); got.Month() != 4 || got.Day() != 30 {
		t.Errorf("1/31 + 3 months = %v", got)
	}
	if got := (Cycle{Days, 45}).Add(jan31, -1).In(jst); got.Month() != 12 || got.Day() != 17 {
		t.Errorf("1/31 - 45 days = %v", got)
	}
	if v := MonthlyValue(3000, Cycle{Months, 2}); v != 1500 {
		t.Errorf("bimonthly ¥3000 = %v a month", v)
	}
	if v := MonthlyValue(3000, Cycle{Days, 30}); math.Abs(v-3043.75) > 0.01 {
		t.Errorf("every 30 days ¥3000 = %v a month", v)
	}
}

func TestParseStatusReadsJapanese(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Status{"有効": Active, "休止中": Paused, "スキップ": Skipped, "解約済み": Cancelled, "Canceled": Cancelled} {
		if got, err := ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseStatus("maybe"); err == nil {
		t.Error("unknown status accepted")
	}
}

func TestParseWebhookNamesTheBadField(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)
	good := `{"subscription_id":"S-1","customer":{"email":"Taro@Example.jp"},"sku":"SP-001","cycle":"1ヶ月","price":3240,
		"status":"有効","started_at":"2026-03-01T10:00:00+09:00","deliveries":1}`
	u, err := ParseWebhook("cart", "evt-1", "subscription.created", at, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if u.Kind != Created || *u.Cycle != (Cycle{Months, 1}) || *u.Status != Active || u.Buyer.Profile.Email != "taro@example.jp" || *u.Deliveries != 1 {
		t.Fatalf("update = %+v", u)
	}
	u, err = ParseWebhook("cart", "evt-2", "subscription.delivered", at, []byte(`{"subscription_id":"S-1","cycle":{"unit":"day","count":30},
		"delivery":{"number":2,"order_id":"O-9","delivered_at":"2026-04-01T10:00:00+09:00"}}`))
	if err != nil || u.Delivery.Number != 2 || u.Delivery.Amount != -1 || u.Delivery.OrderRef != "O-9" || *u.Cycle != (Cycle{Days, 30}) {
		t.Fatalf("delivered: %+v %v", u, err)
	}
	bad := []struct{ typ, data, field string }{
		{"subscription.exploded", `{"subscription_id":"S"}`, "type"},
		{"subscription.updated", `{}`, "data.subscription_id"},
		{"subscription.updated", `{"subscription_id":"S","cycle":"sometimes"}`, "data.cycle"},
		{"subscription.updated", `{"subscription_id":"S","cycle":{"unit":"year","count":1}}`, "data.cycle"},
		{"subscription.updated", `{"subscription_id":"S","status":"maybe"}`, "data.status"},
		{"subscription.updated", `{"subscription_id":"S","price":-1}`, "data.price"},
		{"subscription.updated", `{"subscription_id":"S","price":"12"}`, "data.price"},
		{"subscription.updated", `{"subscription_id":"S","customer":{"email":"not-an-address"}}`, "data.customer.email"},
		{"subscription.updated", `{"subscription_id":"S","customer":{}}`, "data.customer"},
		{"subscription.updated", `{"subscription_id":"S","colour":"blue"}`, "data"},
		{"subscription.delivered", `{"subscription_id":"S"}`, "data.delivery"},
		{"subscription.delivered", `{"subscription_id":"S","delivery":{"number":0,"delivered_at":"2026-04-01T00:00:00Z"}}`, "data.delivery.number"},
	}
	for _, b := range bad {
		_, err := ParseWebhook("cart", "e", b.typ, at, []byte(b.data))
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != b.field {
			t.Errorf("%s %s: %v, want a %s error", b.typ, b.data, err, b.field)
		}
	}
}

func TestParseShopifyContract(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)
	body := `{"admin_graphql_api_id":"gid://shopify/SubscriptionContract/77","id":77,"billing_policy":{"interval":"month","interval_count":2,"min_cycles":3,"max_cycles":null},
		"currency_code":"JPY","customer_id":4242,"admin_graphql_api_customer_id":"gid://shopify/Customer/4242","delivery_policy":{"interval":"week","interval_count":6},
		"status":"active","admin_graphql_api_origin_order_id":"gid://shopify/Order/9001","origin_order_id":9001,"revision_id":"1"}`
	u, err := ParseShopify("subscription_contracts/create", "w1", at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if u.Source != "shopify" || u.ExternalID != "77" || u.Kind != Created || *u.Cycle != (Cycle{Days, 42}) || u.OriginOrder != "9001" ||
		len(u.Buyer.Identifiers) != 1 || u.Buyer.Identifiers[0].Value != "4242" || !u.StartedAt.Equal(at) {
		t.Fatalf("update = %+v", u)
	}
	u, err = ParseShopify("subscription_contracts/update", "w2", at, []byte(strings.Replace(body, `"active"`, `"expired"`, 1)))
	if err != nil || *u.Status != Cancelled || u.Kind != CancelledK || u.StartedAt != nil {
		t.Fatalf("expired: %+v %v", u, err)
	}
	if _, err := ParseShopify("subscription_contracts/update", "w3", at, []byte(`{"id":0}`)); err == nil {
		t.Error("a contract without id accepted")
	}
}

func TestApplyDerivesStatusFromEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)
	start := at.AddDate(0, -2, 0)
	cy := Cycle{Months, 1}
	price := int64(3000)
	sku := "SP-001"
	c := Contract{ExternalID: "S"}
	u := Update{ExternalID: "S", Kind: Created, At: start, SKU: &sku, Cycle: &cy, Price: &price, StartedAt: &start}
	if err := u.Apply(&c); err != nil || c.Status != Active || c.Quantity != 1 {
		t.Fatalf("created: %+v %v", c, err)
	}
	for _, step := range []struct {
		kind ChangeKind
		want Status
	}{{SkippedOne, Skipped}, {Delivered, Active}, {PausedKind, Paused}, {Resumed, Active}, {CancelledK, Cancelled}} {
		u := Update{ExternalID: "S", Kind: step.kind, At: at}
		if err := u.Apply(&c); err != nil || c.Status != step.want {
			t.Fatalf("%s: %s %v", step.kind, c.Status, err)
		}
	}
	if c.CancelledAt == nil || !c.CancelledAt.Equal(at) {
		t.Errorf("cancelled at %v", c.CancelledAt)
	}
	u = Update{ExternalID: "S", Kind: Reactivated, At: at}
	if err := u.Apply(&c); err != nil || c.CancelledAt != nil || c.Status != Active {
		t.Errorf("reactivated: %+v", c)
	}
	bad := Contract{ExternalID: "S"}
	u = Update{ExternalID: "S", SKU: &sku, Price: &price, StartedAt: &start}
	if err := u.Apply(&bad); errs.Code(err) != errs.Invalid {
		t.Errorf("a contract without cycle: %v", err)
	}
}

func TestBuildRetentionCountsByHand(t *testing.T) {
	t.Parallel()
	// 10 contracts: 2 cancelled with 0 deliveries… written out by hand.
	cells := []RetentionCell{
		{Key: "a", Deliveries: 1, Cancelled: true, Count: 3, Revenue: 3000, Price: 3000},
		{Key: "a", Deliveries: 2, Cancelled: true, Count: 2, Revenue: 4000, Price: 2000},
		{Key: "a", Deliveries: 1, Cancelled: false, Count: 1, Revenue: 1000, Price: 1000}, // still before its 2nd
		{Key: "a", Deliveries: 4, Cancelled: false, Count: 4, Revenue: 16000, Price: 4000},
	}
	rep := BuildRetention(RetentionOptions{By: ByPlan, MaxDelivery: 5}, cells)
	row := rep.Groups[0]
	wantReached := []int64{10, 6, 4, 4, 0}
	wantOpen := []int64{0, 1, 1, 1, 5}
	for k := range wantReached {
		if row.Reached[k] != wantReached[k] || row.Open[k] != wantOpen[k] {
			t.Fatalf("reached %v open %v", row.Reached, row.Open)
		}
	}
	// Retention at 2: 6 of the 9 decided; step at 3: 4 of (4 + 2 lost).
	// At 5 only the cancelled are decided (0%), which is why Survival,
	// which counts young contracts as far as they have come, is the curve.
	if *row.Retention[1] != 0.6667 || *row.Step[2] != 0.6667 || *row.Survival[1] != 0.6667 || *row.Retention[4] != 0 {
		t.Errorf("retention %v step %v", deref(row.Retention), deref(row.Step))
	}
	// The 5th delivery is decided for nobody: the curve stops at the 4th.
	if row.Survival[4] != nil || row.AvgDeliveries != 2.4 || row.LTV != 2400 {
		t.Errorf("survival %v avg %v ltv %v", deref(row.Survival), row.AvgDeliveries, row.LTV)
	}
}

func deref(ps []*float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		if p == nil {
			out[i] = -1
		} else {
			out[i] = *p
		}
	}
	return out
}

func TestBuildMRRCountsMonthEnds(t *testing.T) {
	t.Parallel()
	ms := func(y, m, d int) int64 { return time.Date(y, time.Month(m), d, 12, 0, 0, 0, time.UTC).UnixMilli() }
	cs := []MRRContract{
		{ID: 1, Price: 3000, Cycle: Cycle{Months, 1}, Started: ms(2026, 1, 10)},
		{ID: 2, Price: 3000, Cycle: Cycle{Months, 2}, Started: ms(2026, 1, 20), Cancelled: ms(2026, 2, 15)},
		{ID: 3, Price: 6000, Cycle: Cycle{Months, 1}, Started: ms(2026, 2, 1), Pauses: [][2]int64{{ms(2026, 2, 20), ms(2026, 3, 10)}}},
	}
	rep := BuildMRR(202601, 202603, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), cs, map[int]int64{202602: 9000})
	want := []MRRMonth{
		{Month: "2026-01", SubscribersStart: 0, New: 2, SubscribersEnd: 2, MRR: 4500, NewMRR: 4500},
		{Month: "2026-02", SubscribersStart: 2, New: 1, Cancelled: 1, SubscribersEnd: 2, PausedEnd: 1, MRR: 3000, NewMRR: 6000, ChurnedMRR: 1500, ChurnRate: 0.5, Revenue: 9000},
		{Month: "2026-03", SubscribersStart: 2, SubscribersEnd: 2, MRR: 9000},
	}
	for i, m := range rep.Months {
		if m != want[i] {
			t.Errorf("month %d = %+v\n want %+v", i, m, want[i])
		}
	}
	if rep.Subscribers != 2 || rep.MRR != 9000 || rep.ARPU != 4500 {
		t.Errorf("now: %+v", rep)
	}
}

func TestFitRecoversAKnownModel(t *testing.T) {
	t.Parallel()
	// Outcomes drawn from a known logistic model: skips and complaints
	// raise the risk, deliveries lower it.
	r := rand.New(rand.NewPCG(1, 2))
	var samples []Sample
	for i := 0; i < 6000; i++ {
		o := Observation{Deliveries: 1 + r.IntN(12), Skips: r.IntN(3), Complaints: b2i(r.Float64() < 0.1), Events: r.IntN(20), Price: 3000}
		z := -1.2 + 0.6*float64(o.Skips) + 1.5*float64(o.Complaints) - 0.6*math.Log1p(float64(o.Deliveries))
		samples = append(samples, Sample{Obs: o, Cancelled: r.Float64() < sigmoid(z)})
	}
	m, err := Fit(samples, DefaultLambda, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	coef := map[string]float64{}
	for i, f := range m.Features {
		coef[f] = m.Coef[i] / m.Scale[i] // back to the feature's own units
	}
	if math.Abs(coef["skips"]-0.6) > 0.15 || math.Abs(coef["complaints"]-1.5) > 0.3 || coef["engagement"] > 0.1 || coef["engagement"] < -0.1 {
		t.Errorf("coefficients %v", coef)
	}
	if m.AUC < 0.65 {
		t.Errorf("AUC %.3f", m.AUC)
	}
	risky := m.Score(Observation{Deliveries: 1, Skips: 2, Complaints: 1, Price: 3000}, time.Now())
	safe := m.Score(Observation{Deliveries: 12, Price: 3000, Events: 10}, time.Now())
	if risky.Probability <= safe.Probability || risky.Tier != TierHigh || len(risky.Reasons) == 0 || risky.Reasons[0].Feature != "complaints" {
		t.Errorf("risky %+v safe %+v", risky, safe)
	}
	if _, err := Fit(samples[:10], DefaultLambda, time.Now()); errs.Code(err) != errs.Invalid {
		t.Errorf("tiny history: %v", err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestIsComplaint(t *testing.T) {
	t.Parallel()
	if !IsComplaint("定期便の解約方法を教えてください") || !IsComplaint("", "CANCEL please") || IsComplaint("お届け日の変更", "配送") {
		t.Error("complaint words misread")
	}
}

package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// earn gives the seeded customer points through a paid order.
func (e *env) earn(id int64, ext string, yen int) {
	e.t.Helper()
	b := storetest.Buyer(e.t, "shop", "c1", "", "")
	if _, err := e.db.ImportOrders(ctx, []order.Order{storetest.Order("shop", ext, storetest.T0.AddDate(0, 0, -1), b, "SKU-9", 1, yen)}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.EvaluatePendingRanks(ctx); err != nil {
		e.t.Fatal(err)
	}
}

func TestParallelRedemptionsOverHTTPNeverOverdraw(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()         // ¥3,000 → 30 points
		e.earn(id, "2", 97000) // → 1,000 points in all
		checkout := e.key("points:redeem")
		path := fmt.Sprintf("/api/v1/customers/%d/points/redeem", id)
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := e.call(nil, "POST", path, checkout, map[string]any{"points": 70, "order_ref": fmt.Sprintf("#%d", i)},
					map[string]string{"Idempotency-Key": fmt.Sprintf("cart-%d", i)})
				mu.Lock()
				codes[code]++
				mu.Unlock()
				if code == http.StatusConflict && body["error"].(map[string]any)["field"] != "points" {
					t.Errorf("refusal = %v", body)
				}
			}()
		}
		wg.Wait()
		if codes[http.StatusCreated] != 14 || codes[http.StatusConflict] != 16 {
			t.Fatalf("status counts = %v, want 14 × 201 and 16 × 409", codes)
		}
		_, bal := e.call(nil, "GET", fmt.Sprintf("/api/v1/customers/%d/points", id), e.key("customers:read"), nil, nil)
		if bal["points"] != float64(20) {
			t.Fatalf("balance = %v", bal)
		}
		// A retry with a used key replays; the same key for another amount is refused.
		code, body := e.call(nil, "POST", path, checkout, map[string]any{"points": 70}, map[string]string{"Idempotency-Key": "cart-3"})
		if code != http.StatusOK && code != http.StatusConflict {
			t.Fatalf("retry = %d %v", code, body)
		}
		if code == http.StatusOK && body["replayed"] != true {
			t.Fatalf("retry body = %v", body)
		}
		if code, _ := e.call(nil, "POST", path, checkout, map[string]any{"points": 5}, nil); code != http.StatusBadRequest {
			t.Fatalf("redeem without a key = %d", code)
		}
	})
}

func TestLoyaltyAPIEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()
		e.earn(id, "2", 147000) // ¥150,000 in all: gold
		staff := e.key("customers:read", "loyalty:write", "reports:read")
		reader := e.key("customers:read")
		checkout := e.key("points:redeem")
		cust := fmt.Sprintf("/api/v1/customers/%d", id)

		if code, _ := e.call(nil, "POST", cust+"/points/adjust", reader, map[string]any{"points": 10, "reason": "x"}, nil); code != http.StatusForbidden {
			t.Fatalf("adjust with customers:read = %d", code)
		}
		if code, _ := e.call(nil, "POST", cust+"/points/redeem", reader, map[string]any{"points": 10, "idempotency_key": "a"}, nil); code != http.StatusForbidden {
			t.Fatalf("redeem with customers:read = %d", code)
		}
		if code, _ := e.call(nil, "GET", cust+"/loyalty", checkout, nil, nil); code != http.StatusForbidden {
			t.Fatalf("checkout key reads the 360 = %d", code)
		}
		code, adj := e.call(nil, "POST", cust+"/points/adjust", staff, map[string]any{"points": 500, "reason": "お詫び"}, map[string]string{"Idempotency-Key": "t-1"})
		if code != http.StatusOK || adj["balance"] != float64(2000) {
			t.Fatalf("adjust = %d %v", code, adj)
		}
		if code, body := e.call(nil, "POST", cust+"/points/adjust", staff, map[string]any{"points": 5}, nil); code != http.StatusBadRequest || body["error"].(map[string]any)["field"] != "reason" {
			t.Fatalf("adjust without reason = %d %v", code, body)
		}
		code, red := e.call(nil, "POST", cust+"/points/redeem", checkout, map[string]any{"points": 300, "order_ref": "#1"}, map[string]string{"Idempotency-Key": "ck-1"})
		if code != http.StatusCreated || red["balance"] != float64(1700) {
			t.Fatalf("redeem = %d %v", code, red)
		}
		if code, back := e.call(nil, "POST", cust+"/points/redemptions/ck-1/cancel", checkout, nil, nil); code != http.StatusOK || back["status"] != "cancelled" || back["balance"] != float64(2000) {
			t.Fatalf("cancel = %d %v", code, back)
		}

		code, camp := e.call(nil, "POST", "/api/v1/loyalty/coupon-campaigns", staff, map[string]any{
			"name": "ゴールド限定15%OFF", "mode": "unique", "discount_type": "percent", "value": 15, "ranks": []string{"gold", "platinum"},
			"min_order": 5000, "shopify_price_rule_id": "507328175"}, nil)
		if code != http.StatusCreated {
			t.Fatalf("create campaign = %d %v", code, camp)
		}
		cid := int64(camp["id"].(float64))
		if code, body := e.call(nil, "POST", "/api/v1/loyalty/coupon-campaigns", staff, map[string]any{"name": "x", "mode": "shared", "discount_type": "amount", "value": 100}, nil); code != http.StatusBadRequest || body["error"].(map[string]any)["field"] != "shared_code" {
			t.Fatalf("shared campaign without a code = %d %v", code, body)
		}
		code, gen := e.call(nil, "POST", fmt.Sprintf("/api/v1/loyalty/coupon-campaigns/%d/codes", cid), staff, map[string]any{"count": 5}, nil)
		if code != http.StatusCreated || len(gen["codes"].([]any)) != 5 {
			t.Fatalf("generate = %d %v", code, gen)
		}
		code, issued := e.call(nil, "POST", cust+"/coupons", staff, map[string]any{"campaign_id": cid, "key": "journey:7:step:2"}, nil)
		if code != http.StatusCreated || issued["code"] != gen["codes"].([]any)[0] {
			t.Fatalf("issue = %d %v", code, issued)
		}
		code, verdict := e.call(nil, "POST", "/api/v1/loyalty/coupons/check", checkout, map[string]any{"code": issued["code"], "customer_id": id, "subtotal": 8000}, nil)
		if code != http.StatusOK || verdict["valid"] != true || verdict["discount"] != float64(1200) {
			t.Fatalf("check = %d %v", code, verdict)
		}
		if code, _ := e.call(nil, "POST", fmt.Sprintf("/api/v1/loyalty/coupon-campaigns/%d/shopify-sync", cid), staff, nil, nil); code != http.StatusServiceUnavailable {
			t.Fatalf("sync without Shopify = %d", code)
		}

		code, sum := e.call(nil, "GET", cust+"/loyalty", reader, nil, nil)
		if code != http.StatusOK || sum["rank"].(map[string]any)["code"] != "gold" || sum["points"] != float64(2000) || len(sum["coupons"].([]any)) != 1 || len(sum["exclusive_campaigns"].([]any)) != 1 {
			t.Fatalf("customer loyalty = %d %v", code, sum)
		}
		if code, h := e.call(nil, "GET", cust+"/points/history?limit=2", reader, nil, nil); code != http.StatusOK || len(h["entries"].([]any)) != 2 || h["next_before"] == nil {
			t.Fatalf("history = %d %v", code, h)
		}
		if code, _ := e.call(nil, "GET", "/api/v1/loyalty/points/liability", reader, nil, nil); code != http.StatusForbidden {
			t.Fatalf("liability without reports:read = %d", code)
		}
		if code, l := e.call(nil, "GET", "/api/v1/loyalty/points/liability", staff, nil, nil); code != http.StatusOK || l["outstanding"] != float64(2000) {
			t.Fatalf("liability = %d %v", code, l)
		}
		if code, rep := e.call(nil, "GET", "/api/v1/loyalty/ranks/report?from=2026-01-01&to=2026-04-01", staff, nil, nil); code != http.StatusOK || rep["upgraded"] != float64(0) || rep["new"] != float64(1) {
			t.Fatalf("rank report = %d %v", code, rep)
		}
		if code, _ := e.call(nil, "GET", "/api/v1/loyalty/ranks/report?from=yesterday", staff, nil, nil); code != http.StatusBadRequest {
			t.Fatalf("bad date = %d", code)
		}
		if code, rep := e.call(nil, "GET", "/api/v1/loyalty/coupons/report", staff, nil, nil); code != http.StatusOK || len(rep["campaigns"].([]any)) != 1 {
			t.Fatalf("coupon report = %d %v", code, rep)
		}
		code, imp := e.call(nil, "POST", "/api/v1/loyalty/points/import", staff, map[string]any{"batch": "legacy", "rows": []map[string]any{
			{"email": "taro@example.com", "points": 250}, {"email": "nobody@example.com", "points": 1}}}, nil)
		if code != http.StatusOK || imp["imported"] != float64(1) || len(imp["rejected"].([]any)) != 1 {
			t.Fatalf("import = %d %v", code, imp)
		}
		code, prog := e.call(nil, "GET", "/api/v1/loyalty/program", reader, nil, nil)
		if code != http.StatusOK || prog["enabled"] != true {
			t.Fatalf("program = %d %v", code, prog)
		}
		prog["points"].(map[string]any)["base_rate_percent"] = 2
		if code, p := e.call(nil, "PUT", "/api/v1/loyalty/program", staff, prog, nil); code != http.StatusOK || p["points"].(map[string]any)["base_rate_percent"] != float64(2) {
			t.Fatalf("put program = %d %v", code, p)
		}
		prog["ranks"].(map[string]any)["metric"] = "visits"
		if code, p := e.call(nil, "PUT", "/api/v1/loyalty/program", staff, prog, nil); code != http.StatusBadRequest || p["error"].(map[string]any)["field"] != "ranks.metric" {
			t.Fatalf("bad program = %d %v", code, p)
		}
		if code, d := e.call(nil, "POST", "/api/v1/loyalty/daily", staff, nil, nil); code != http.StatusOK || d["ranks"] == nil {
			t.Fatalf("daily = %d %v", code, d)
		}
	})
}

type recordingWriter struct {
	mu    sync.Mutex
	codes []string
}

func (w *recordingWriter) CreateDiscountCode(_ context.Context, rule, code string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.codes = append(w.codes, rule+":"+code)
	return fmt.Sprint(len(w.codes)), nil
}

func TestShopifySyncRoute(t *testing.T) {
	c := clock.NewManual(storetest.T0, true)
	db := storetest.SQLite(t, c)
	w := &recordingWriter{}
	e := &env{t: t, db: db}
	e.api = enishihttp.New(enishihttp.Config{Store: db, Clock: c, DiscountCodes: w})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	staff := e.key("loyalty:write")
	_, camp := e.call(nil, "POST", "/api/v1/loyalty/coupon-campaigns", staff, map[string]any{"name": "s", "mode": "shared", "shared_code": "SPRING",
		"discount_type": "amount", "value": 300, "shopify_price_rule_id": "42"}, nil)
	path := fmt.Sprintf("/api/v1/loyalty/coupon-campaigns/%d/shopify-sync", int64(camp["id"].(float64)))
	if code, res := e.call(nil, "POST", path, staff, nil, nil); code != http.StatusOK || res["written"] != float64(1) {
		t.Fatalf("sync = %d %v", code, res)
	}
	if code, res := e.call(nil, "POST", path, staff, nil, nil); code != http.StatusOK || res["written"] != float64(0) || len(w.codes) != 1 || w.codes[0] != "42:SPRING" {
		t.Fatalf("second sync = %d %v %v", code, res, w.codes)
	}
}

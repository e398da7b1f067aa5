package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/shopify"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// fakeShopify serves POST /admin/api/2024-01/price_rules/{id}/discount_codes.json
// as Shopify does: 201 with the discount code (the shape of go-shopify's
// discount_code.json fixture), 422 "must be unique" for a code it holds,
// 401 without the token, 404 for an unknown price rule, and a 429 with
// Retry-After before the first write (the leaky bucket).
type fakeShopify struct {
	mu        sync.Mutex
	codes     map[string]int64
	limited   bool
	requests  int
	rule      string
	nextID    int64
	sawTokens map[string]bool
}

func (f *fakeShopify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	f.sawTokens[r.Header.Get("X-Shopify-Access-Token")] = true
	if r.Header.Get("X-Shopify-Access-Token") != "shpat_test" {
		http.Error(w, `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`, http.StatusUnauthorized)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/admin/api/2024-01/price_rules/")
	rule, tail, _ := strings.Cut(rest, "/")
	if !ok || r.Method != http.MethodPost || tail != "discount_codes.json" {
		http.Error(w, `{"errors":"Not Found"}`, http.StatusNotFound)
		return
	}
	if rule != f.rule {
		http.Error(w, `{"errors":"Not Found"}`, http.StatusNotFound)
		return
	}
	if !f.limited {
		f.limited = true
		w.Header().Set("Retry-After", "0.01")
		http.Error(w, `{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`, http.StatusTooManyRequests)
		return
	}
	var in struct {
		DiscountCode struct {
			Code string `json:"code"`
		} `json:"discount_code"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.DiscountCode.Code == "" {
		http.Error(w, `{"errors":{"code":["can't be blank"]}}`, http.StatusUnprocessableEntity)
		return
	}
	if _, dup := f.codes[in.DiscountCode.Code]; dup {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"errors":{"code":["must be unique. Please try a different code."]}}`)
		return
	}
	f.nextID++
	id := 1054381138 + f.nextID
	f.codes[in.DiscountCode.Code] = id
	ruleID, _ := strconv.ParseInt(rule, 10, 64)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"discount_code": map[string]any{
		"id": id, "price_rule_id": ruleID, "code": in.DiscountCode.Code, "usage_count": 0,
		"created_at": "2018-07-05T13:04:26-04:00", "updated_at": "2018-07-05T13:04:26-04:00"}})
}

func TestSyncWritesCampaignCodesToShopifyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ctx := context.Background()
		db := open(t, clock.NewManual(storetest.T0, true))
		fake := &fakeShopify{codes: map[string]int64{}, rule: "507328175", sawTokens: map[string]bool{}}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		w, err := shopify.NewDiscountCodes(srv.URL+"/", "shpat_test")
		if err != nil {
			t.Fatal(err)
		}
		camp, err := db.CreateCouponCampaign(ctx, loyalty.Campaign{Name: "LINE友だち限定", Mode: loyalty.Unique, DiscountType: loyalty.AmountOff, Value: 500, ShopifyPriceRuleID: "507328175"})
		if err != nil {
			t.Fatal(err)
		}
		codes, err := db.GenerateCoupons(ctx, camp.ID, 12, "LINE")
		if err != nil {
			t.Fatal(err)
		}
		fake.codes[codes[5].Code] = 1 // already there (a sync that stopped before recording)
		res, err := loyalty.SyncDiscountCodes(ctx, db, w, camp)
		if err != nil || res.Written != 11 || res.Existed != 1 {
			t.Fatalf("sync = %+v, %v", res, err)
		}
		if len(fake.codes) != 12 || fake.requests != 13 {
			t.Fatalf("shopify holds %d codes after %d requests", len(fake.codes), fake.requests)
		}
		list, err := db.CampaignCoupons(ctx, camp.ID, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.SyncedAt == nil || (c.Code != codes[5].Code && c.ShopifyID != strconv.FormatInt(fake.codes[c.Code], 10)) {
				t.Fatalf("coupon %+v not recorded as synced", c)
			}
		}
		if res, err := loyalty.SyncDiscountCodes(ctx, db, w, camp); err != nil || res.Written != 0 || fake.requests != 13 {
			t.Fatalf("second sync = %+v, %v after %d requests", res, err, fake.requests)
		}
	})
}

func TestDiscountCodeErrors(t *testing.T) {
	fake := &fakeShopify{codes: map[string]int64{}, rule: "1", limited: true, sawTokens: map[string]bool{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := context.Background()
	bad := &shopify.DiscountCodes{ShopURL: srv.URL, Token: "wrong"}
	if _, err := bad.CreateDiscountCode(ctx, "1", "X"); err == nil || !strings.Contains(err.Error(), "access token") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad token err = %v", err)
	}
	good := &shopify.DiscountCodes{ShopURL: srv.URL, Token: "shpat_test"}
	if _, err := good.CreateDiscountCode(ctx, "2", "X"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown rule err = %v", err)
	}
	if _, err := good.CreateDiscountCode(ctx, "1", "X"); err != nil {
		t.Fatal(err)
	}
	if _, err := good.CreateDiscountCode(ctx, "1", "X"); !errors.Is(err, loyalty.ErrCodeExists) {
		t.Fatalf("duplicate err = %v", err)
	}
	if _, err := shopify.NewDiscountCodes("example.myshopify.com", "t"); err == nil {
		t.Fatal("URL without scheme accepted")
	}
	if _, err := shopify.NewDiscountCodes("https://example.myshopify.com", ""); err == nil {
		t.Fatal("empty token accepted")
	}
}

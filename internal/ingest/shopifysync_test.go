package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	fakeshopify "github.com/enishi-crm/enishi/internal/fake/shopify"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/shopify"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx = context.Background()

const shop = "enishi-test.myshopify.com"

// big ids: beyond 2^53, where float64 would round them.
func custID(i int) string  { return fmt.Sprint(int64(7000000000000000001) + int64(i)*2) }
func orderID(i int) string { return fmt.Sprint(int64(5000000000000000001) + int64(i)*2) }

func fakeShop(t *testing.T) *fakeshopify.Server {
	f := fakeshopify.New("shpat_test")
	t.Cleanup(f.Close)
	for i := 0; i < 5; i++ {
		f.AddJSON("products", fmt.Sprintf(`{"id":%d,"title":"緑茶 %d","product_type":"お茶","handle":"tea-%d","image":{"src":"https://cdn.example/%d.jpg"},
			"variants":[{"id":%d,"sku":"TEA-%d","title":"Default Title","price":"1200.00"},{"id":%d,"sku":"","title":"no sku","price":"1.00"}]}`,
			9000000000000000001+int64(i)*2, i, i, i, 8000000000000000001+int64(i)*2, i, 8000000000000000901+int64(i)*2))
	}
	for i := 0; i < 7; i++ {
		f.AddJSON("customers", fmt.Sprintf(`{"id":%s,"email":"c%d@example.com","first_name":"花子%d","last_name":"山田","tags":"old, wholesale",
			"email_marketing_consent":{"state":"subscribed","consent_updated_at":"2026-01-01T00:00:00+09:00"},
			"default_address":{"province_code":"JP-27","country_code":"JP","zip":"530-0001","city":"大阪市"},"created_at":"2025-01-0%dT00:00:00+09:00"}`,
			custID(i), i, i, i+1))
	}
	for i := 0; i < 9; i++ {
		f.AddJSON("orders", fmt.Sprintf(`{"id":%s,"name":"#%d","email":"c%d@example.com","created_at":"2026-03-%02dT10:00:00+09:00","financial_status":"paid",
			"currency":"JPY","total_price":"2900","total_tax":"263","total_discounts":"0","total_shipping_price_set":{"shop_money":{"amount":"500","currency_code":"JPY"}},
			"customer":{"id":%s,"email":"c%d@example.com"},"line_items":[{"id":1,"sku":"TEA-%d","title":"緑茶","price":"1200","quantity":2}]}`,
			orderID(i), 1001+i, i%7, i+1, custID(i%7), i%7, i%5))
	}
	return f
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return nil
}

func TestShopifySyncPagesThrottlesAndResumes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		svc := ingest.New(ingest.Config{Store: db})
		f := fakeShop(t)
		var sl sleeps
		c := &shopify.Client{Shop: shop, Token: "shpat_test", BaseURL: f.BaseURL(), Sleep: sl.sleep, MaxRetries: 1}
		f.Throttle(1)       // the first call is answered 429, Retry-After: 2.0
		f.SetBucket(36)     // the bucket is 36/40 full: slow down
		f.FailListsAfter(4) // products take 3 pages, customers' second page fails
		_, err := svc.SyncShopify(ctx, c, nil, 2, nil)
		if err == nil || !strings.Contains(err.Error(), "500") {
			t.Fatalf("first run = %v, want the 500", err)
		}
		if len(sl.d) < 2 || sl.d[0] != 2*time.Second || sl.d[1] != 8*time.Second {
			t.Fatalf("waits = %v, want 2s (Retry-After) then 8s (bucket 36/40 → half empty at 2/s)", sl.d)
		}
		if s, _ := db.Stats(ctx); s.Products != 5 || s.Customers != 2 {
			t.Fatalf("after the failure: %+v", s)
		}
		f.FailListsAfter(0)
		f.SetBucket(1)
		before := len(f.Requests())
		res, err := svc.SyncShopify(ctx, c, nil, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res["products"] != 0 || res["customers"] != 5 || res["orders"] != 9 {
			t.Fatalf("resumed run = %v", res)
		}
		reqs := f.Requests()[before:]
		if !strings.Contains(reqs[0], "products.json?limit=2&since_id=9000000000000000009") ||
			!strings.Contains(reqs[1], "customers.json?limit=2&since_id="+custID(1)) {
			t.Fatalf("resumed requests = %v", reqs[:2])
		}
		s, _ := db.Stats(ctx)
		if s.Products != 5 || s.Customers != 7 || s.Orders != 9 {
			t.Fatalf("stats = %+v", s)
		}
		v := customerView(t, db, identity.ExternalID("shopify", custID(1)))
		if v.Email != "c1@example.com" || v.Prefecture != "大阪府" || v.OrderCount != 2 || v.TotalSpent != 5800 || len(v.Consents) != 1 {
			t.Fatalf("customer = %+v", v.Customer)
		}
		name, _, ok, _ := db.ShopifyOrder(ctx, shop, orderID(8))
		if !ok || name != "#1009" {
			t.Fatalf("order id %s = %q", orderID(8), name)
		}
		p, err := db.Product(ctx, "TEA-3")
		if err != nil || p.Price != 1200 || p.Category != "お茶" || p.URL != "https://"+shop+"/products/tea-3" {
			t.Fatalf("product = %+v %v", p, err)
		}
		// A third run finds nothing new.
		if res, err := svc.SyncShopify(ctx, c, nil, 2, nil); err != nil || res["orders"] != 0 {
			t.Fatalf("third run = %v %v", res, err)
		}
	})
}

func customerView(t *testing.T, db *store.DB, id identity.Identifier) *customer.View {
	t.Helper()
	var cid int64
	if err := db.Read.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE kind = $1 AND source = $2 AND value = $3`,
		string(id.Kind), id.Source, id.Value).Scan(&cid); err != nil {
		t.Fatalf("no customer holds %v: %v", id, err)
	}
	v, err := db.CustomerView(ctx, cid, store.ViewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestShopifyWriteBackTagsAndDiscountCodes(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	svc := ingest.New(ingest.Config{Store: db})
	f := fakeShop(t)
	c := &shopify.Client{Shop: shop, Token: "shpat_test", BaseURL: f.BaseURL()}
	if _, err := svc.SyncShopify(ctx, c, []string{"customers"}, 250, nil); err != nil {
		t.Fatal(err)
	}
	wb := ingest.ShopifyWriteBack{Store: db, Client: c}
	cid := customerView(t, db, identity.ExternalID("shopify", custID(3))).ID
	tags, err := wb.TagCustomer(ctx, cid, []string{"VIP", "リピーター"}, []string{"OLD"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tags, ",") != "wholesale,VIP,リピーター" || f.Customer(custID(3))["tags"] != "wholesale, VIP, リピーター" {
		t.Fatalf("tags = %v, stored %v", tags, f.Customer(custID(3))["tags"])
	}
	// Segments push through the same write-back.
	var tagger segment.ShopifyTagger = wb
	if err := tagger.TagCustomers(ctx, "enishi:休眠", []string{custID(3)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tagger.TagCustomers(ctx, "VIP", nil, []string{custID(3)}); err != nil {
		t.Fatal(err)
	}
	if got := f.Customer(custID(3))["tags"]; got != "wholesale, リピーター, enishi:休眠" {
		t.Fatalf("after push: %v", got)
	}
	rule, err := c.CreatePriceRule(ctx, shopify.PriceRule{Title: "春の再購入クーポン", ValueType: "percentage", Value: "-10.0", CustomerSelection: "all",
		TargetType: "line_item", TargetSelection: "all", AllocationMethod: "across", OncePerCustomer: true, StartsAt: storetest.T0})
	if err != nil || rule.ID == "" {
		t.Fatalf("price rule = %+v %v", rule, err)
	}
	dc, err := wb.CreateCoupon(ctx, rule.ID.String(), "SPRING-7F3K")
	if err != nil || dc.Code != "SPRING-7F3K" || dc.PriceRuleID != rule.ID {
		t.Fatalf("code = %+v %v", dc, err)
	}
	if _, err := wb.CreateCoupon(ctx, rule.ID.String(), "spring-7f3k"); err == nil || !strings.Contains(err.Error(), "must be unique") {
		t.Fatalf("duplicate code = %v", err)
	}
	if _, err := (ingest.ShopifyWriteBack{Store: db, Client: &shopify.Client{Shop: shop, Token: "wrong", BaseURL: f.BaseURL()}}).TagCustomer(ctx, cid, []string{"x"}, nil); err == nil ||
		!strings.Contains(err.Error(), "access token") {
		t.Fatalf("bad token = %v", err)
	}
}

func TestNextLink(t *testing.T) {
	h := `<https://s.myshopify.com/admin/api/2024-10/orders.json?limit=2&page_info=abc>; rel="previous", <https://s.myshopify.com/admin/api/2024-10/orders.json?limit=2&page_info=def>; rel="next"`
	if got := shopify.NextLink(h); got != "https://s.myshopify.com/admin/api/2024-10/orders.json?limit=2&page_info=def" {
		t.Fatalf("next = %q", got)
	}
	if shopify.NextLink(`<https://x/a.json?page_info=abc>; rel="previous"`) != "" {
		t.Fatal("previous taken for next")
	}
}

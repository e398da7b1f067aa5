package http_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// FuzzShopifyWebhook sends signed Shopify webhooks with arbitrary topics
// and bodies through the receiver and the inbox worker: the receiver never
// answers 5xx, processing never fails as a whole (a bad payload becomes a
// dead letter), and the store stays consistent. Seeds are in
// testdata/fuzz/FuzzShopifyWebhook (including the compliance topics).
func FuzzShopifyWebhook(f *testing.F) {
	f.Add("orders/create", []byte(`{"id":1,"name":"#1","email":"a@example.com","created_at":"2026-03-01T10:00:00+09:00","financial_status":"paid","currency":"JPY","total_price":"1000","line_items":[{"sku":"A","title":"A","price":"1000","quantity":1}]}`))
	f.Add("customers/update", []byte(`{"id":2,"email":"'; DROP TABLE customers; --@example.com","first_name":"<script>","last_name":"=1+1"}`))
	f.Add("customers/redact", []byte(`{"shop_id":1,"shop_domain":"s.myshopify.com","customer":{"id":1,"email":"a@example.com","phone":"090-1234-5678"},"orders_to_redact":[1]}`))
	f.Add("customers/data_request", []byte(`{"shop_id":1,"shop_domain":"s.myshopify.com","customer":{"id":"x"},"data_request":{"id":9}}`))
	c := clock.NewManual(storetest.T0, true)
	db := storetest.SQLite(f, c)
	api := enishihttp.New(enishihttp.Config{Store: db, Clock: c})
	if err := api.Ingest().Secrets().SetSecret(ctx, ingest.SecretShopifyApp, shopifySecret); err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	n := 0
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		n++
		req, _ := http.NewRequest("POST", srv.URL+"/webhooks/shopify", bytes.NewReader(body))
		for k, v := range map[string]string{"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": shopifyHMAC(body),
			"X-Shopify-Shop-Domain": "fuzz.myshopify.com", "X-Shopify-Webhook-Id": fmt.Sprintf("fuzz-%d", n)} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("webhook %q answered %d", topic, resp.StatusCode)
		}
		for i := 0; i < 10; i++ {
			k, err := api.Ingest().ProcessOnce(ctx, "fuzz")
			if err != nil {
				t.Fatalf("processing failed as a whole: %v", err)
			}
			if k == 0 {
				break
			}
		}
		storetest.CheckIntegrity(t, db)
	})
}

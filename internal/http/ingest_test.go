package http_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// post sends a raw body with headers and returns the status, headers and
// decoded JSON answer.
func (e *env) post(path string, body []byte, hdr map[string]string) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// basic is the Authorization header Segment's libraries send: the write
// key as user name, no password.
func basic(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// drain processes the inbox until it is empty.
func (e *env) drain() {
	e.t.Helper()
	for i := 0; i < 100; i++ {
		n, err := e.api.Ingest().ProcessOnce(ctx, "test")
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("inbox did not drain")
}

func errMessage(out map[string]any) string {
	m, _ := out["error"].(map[string]any)
	s, _ := m["message"].(string)
	if f, _ := m["field"].(string); f != "" {
		s = f + ": " + s
	}
	return s
}

func customerBy(t *testing.T, db *store.DB, id identity.Identifier) *customer.View {
	t.Helper()
	var cid int64
	if err := db.Read.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE kind = $1 AND source = $2 AND value = $3`,
		string(id.Kind), id.Source, id.Value).Scan(&cid); err != nil {
		t.Fatalf("no customer holds %v: %v", id, err)
	}
	v, err := db.CustomerView(ctx, cid, store.ViewOptions{TimelineLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEventAPIFilesSegmentCallsAndStitchesAnonymousEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		key := e.key("ingest:write", "ingest:identify")
		// Before login: an anonymous product view, the way analytics-node sends a single call.
		code, _, out := e.post("/v1/track", []byte(`{"anonymousId":"anon-1","event":"Product Viewed","messageId":"m-1",
			"properties":{"sku":"TEA-01","price":1200,"name":"煎茶"},"timestamp":"2026-03-31T01:00:00Z"}`), basic(key))
		if code != 200 || out["success"] != true {
			t.Fatalf("track = %d %v", code, out)
		}
		e.drain()
		// Login, add to cart and buy, in one gzip-compressed batch as the server-side libraries send it.
		batch := `{"batch":[
		  {"type":"identify","userId":"member-7","anonymousId":"anon-1","messageId":"m-2","traits":{"email":"Hanako@Example.com","lastName":"佐藤","firstName":"花子"},
		   "context":{"campaign":{"source":"google","medium":"cpc","name":"spring"},"referrer":{"url":"https://www.google.com/"}},"timestamp":"2026-03-31T01:05:00Z"},
		  {"type":"track","userId":"member-7","anonymousId":"anon-1","event":"Product Added","messageId":"m-3","properties":{"sku":"TEA-01","price":1200,"quantity":2},"timestamp":"2026-03-31T01:06:00Z"},
		  {"type":"track","userId":"member-7","event":"Order Completed","messageId":"m-4","timestamp":"2026-03-31T01:10:00Z",
		   "properties":{"order_id":"W-100","total":2900,"shipping":500,"currency":"JPY","coupon":"SPRING","products":[{"sku":"TEA-01","name":"煎茶","price":1200,"quantity":2}]}},
		  {"type":"track","userId":"member-7","event":"Product Added","messageId":"m-3","properties":{"sku":"TEA-01"}},
		  {"type":"page","anonymousId":"anon-1","name":"Home","messageId":"m-5","properties":{"url":"https://shop.example/"}}
		],"sentAt":"2026-03-31T01:10:00Z","context":{"library":{"name":"analytics-node","version":"6.0.0"}}}`
		code, _, out = e.post("/v1/batch", gz(t, []byte(batch)), mergeHdr(basic(key), "Content-Encoding", "gzip"))
		if code != 200 || out["accepted"] != 5.0 {
			t.Fatalf("batch = %d %v", code, out)
		}
		e.drain()
		v := customerBy(t, e.db, identity.ExternalID("test", "member-7"))
		if v.Email != "hanako@example.com" || v.LastName != "佐藤" || v.OrderCount != 1 || v.TotalSpent != 2900 {
			t.Fatalf("customer = %+v", v.Customer)
		}
		if v.AcqSource != "google" || v.AcqMedium != "cpc" || v.AcqCampaign != "spring" || v.AcqChannel != "paid_search" || v.AcqReferrer != "https://www.google.com/" {
			t.Fatalf("first touch = %+v", v.Profile)
		}
		kinds := map[string]int{}
		for _, it := range v.Timeline {
			kinds[it.Kind+":"+it.Title]++
		}
		// The anonymous view before login and the page view after it are the customer's now; the
		// repeated messageId m-3 is stored once.
		want := map[string]int{"event:Product Viewed": 1, "event:Product Added": 1, "event:Page Viewed": 1, "order:W-100": 1}
		for k, n := range want {
			if kinds[k] != n {
				t.Fatalf("timeline %s = %d, want %d (all %v)", k, kinds[k], n, kinds)
			}
		}
		orders, err := e.db.CustomerOrders(ctx, v.ID, 10)
		if err != nil || len(orders) != 1 || orders[0].Source != "test" || orders[0].CouponCode != "SPRING" || orders[0].Shipping != 500 ||
			len(orders[0].Lines) != 1 || orders[0].Lines[0].Quantity != 2 || orders[0].Lines[0].UnitPrice != 1200 {
			t.Fatalf("orders = %+v %v", orders, err)
		}
		// Skew correction: the batch's sentAt equals the order's timestamp, so the order happened when it was received.
		if !orders[0].OrderedAt.Equal(storetest.T0) {
			t.Fatalf("ordered at %v, want the receipt time %v", orders[0].OrderedAt, storetest.T0)
		}
		// A retried request (same body) stores nothing new.
		before, _ := e.db.Stats(ctx)
		if code, _, _ = e.post("/v1/batch", []byte(batch), basic(key)); code != 200 {
			t.Fatalf("retry = %d", code)
		}
		e.drain()
		after, _ := e.db.Stats(ctx)
		if before != after {
			t.Fatalf("retry changed stats: %+v → %+v", before, after)
		}
		// The events keep their origin, so an unmerge would give them back.
		if n := count(t, e.db, `SELECT count(*) FROM events WHERE anonymous_id = 'anon-1' AND origin_customer_id IS NULL`); n != 0 {
			t.Fatalf("%d stitched events without origin", n)
		}
	})
}

func mergeHdr(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestEventAPIRefusesBadInputAndStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		key := e.key("ingest:write")
		big := `{"anonymousId":"a","event":"x","properties":{"pad":"` + strings.Repeat("x", 33<<10) + `"}}`
		var many []string
		for i := 0; i < 20; i++ {
			many = append(many, `{"type":"track","anonymousId":"a","event":"x","properties":{"pad":"`+strings.Repeat("y", 30<<10)+`"}}`)
		}
		huge := `{"batch":[` + strings.Join(many, ",") + `]}`
		cases := []struct {
			name, path, body string
			hdr              map[string]string
			status           int
			msg              string
		}{
			{"malformed", "/v1/track", `{"anonymousId":"a",`, nil, 400, "malformed JSON"},
			{"wrong type", "/v1/track", `{"anonymousId":{"x":1},"event":"x"}`, nil, 400, "anonymousId: must be a string or a number"},
			{"no ids", "/v1/track", `{"event":"x"}`, nil, 400, "userId: a message needs a userId or an anonymousId"},
			{"no event", "/v1/track", `{"userId":"u"}`, nil, 400, "event: required"},
			{"bad time", "/v1/page", `{"userId":"u","timestamp":"yesterday"}`, nil, 400, "timestamp"},
			{"properties not object", "/v1/track", `{"userId":"u","event":"x","properties":[1]}`, nil, 400, "properties: must be an object"},
			{"order without id", "/v1/track", `{"userId":"u","event":"Order Completed","properties":{"total":100}}`, nil, 400, "properties.order_id: required"},
			{"bad quantity", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"Order Completed","properties":{"order_id":"1","products":[{"quantity":"two"}]}}]}`, nil, 400, "batch[0].properties.products[0].quantity"},
			{"one bad in batch", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"ok"},{"type":"nope","userId":"u"}]}`, nil, 400, "batch[1].type"},
			{"message over 32 KB", "/v1/track", big, nil, 400, "at most 32 KB"},
			{"batch over 500 KB", "/v1/batch", huge, nil, 400, "500 KB"},
			{"empty batch", "/v1/batch", `{"batch":[]}`, nil, 400, "batch: is empty"},
			{"bad gzip", "/v1/track", `not gzip`, map[string]string{"Content-Encoding": "gzip"}, 400, "not gzip"},
			{"unknown call", "/v1/nope", `{"userId":"u"}`, nil, 404, "unknown call"},
		}
		for _, c := range cases {
			code, _, out := e.post(c.path, []byte(c.body), mergeHdr(basic(key), flatten(c.hdr)...))
			if code != c.status || !strings.Contains(errMessage(out), c.msg) {
				t.Errorf("%s: %d %q, want %d containing %q", c.name, code, errMessage(out), c.status, c.msg)
			}
		}
		code, _, _ := e.post("/v1/track", []byte(`{"userId":"u","event":"x"}`), basic("ek_wrong"))
		if code != 401 {
			t.Errorf("bad key = %d, want 401", code)
		}
		code, _, _ = e.post("/v1/track", []byte(`{"userId":"u","event":"x"}`), basic(e.key("customers:read")))
		if code != 403 {
			t.Errorf("key without ingest:write = %d, want 403", code)
		}
		if n := count(t, e.db, `SELECT count(*) FROM ingest_inbox`); n != 0 {
			t.Fatalf("%d requests stored", n)
		}
	})
}

func flatten(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

func TestEventAPIRateLimitsPerKey(t *testing.T) {
	c := clock.NewManual(storetest.T0, true)
	db := storetest.SQLite(t, c)
	svc := ingest.New(ingest.Config{Store: db, Clock: c, RateLimit: 1, RateBurst: 2})
	api := enishihttp.New(enishihttp.Config{Store: db, Clock: c, Ingest: svc})
	srv := httptest.NewServer(api)
	defer srv.Close()
	e := &env{t: t, db: db, srv: srv, api: api}
	a, b := e.key("ingest:write"), e.key("ingest:write")
	msg := []byte(`{"userId":"u","event":"x"}`)
	for i := 0; i < 2; i++ {
		if code, _, _ := e.post("/v1/track", msg, basic(a)); code != 200 {
			t.Fatalf("call %d = %d", i, code)
		}
	}
	code, hdr, out := e.post("/v1/track", msg, basic(a))
	if code != 429 || hdr.Get("Retry-After") != "1" || !strings.Contains(errMessage(out), "rate limit") {
		t.Fatalf("over the limit = %d %q %v", code, hdr.Get("Retry-After"), out)
	}
	if code, _, _ := e.post("/v1/track", msg, basic(b)); code != 200 {
		t.Fatalf("another key = %d", code)
	}
	c.Advance(time.Second)
	if code, _, _ := e.post("/v1/track", msg, basic(a)); code != 200 {
		t.Fatalf("after a second = %d", code)
	}
}

func TestPublishableKeyCannotIdentifyByEmail(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	victim := e.seed() // taro@example.com
	pub := e.key("ingest:write")
	code, _, _ := e.post("/v1/identify", []byte(`{"userId":"attacker","anonymousId":"x","traits":{"email":"taro@example.com","firstName":"Mallory"}}`), basic(pub))
	if code != 200 {
		t.Fatal(code)
	}
	e.drain()
	v := customerBy(t, e.db, identity.ExternalID("test", "attacker"))
	if v.ID == victim || v.Email != "" || v.FirstName != "Mallory" {
		t.Fatalf("publishable key identified by e-mail: %+v", v.Customer)
	}
}

func TestEventAPIAnswersCORSPreflight(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/v1/track", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(e.srv.URL + "/js/enishi.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !bytes.Contains(b, []byte("enishi_aid")) {
		t.Fatalf("tag = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// Shopify.

const shopifySecret = "shpss_test_secret"

func shopifyHMAC(body []byte) string {
	m := hmac.New(sha256.New, []byte(shopifySecret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (e *env) shopify(topic, id string, body []byte) (int, map[string]any) {
	e.t.Helper()
	code, _, out := e.post("/webhooks/shopify", body, map[string]string{"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": shopifyHMAC(body),
		"X-Shopify-Shop-Domain": "enishi-test.myshopify.com", "X-Shopify-Webhook-Id": id, "X-Shopify-API-Version": "2024-10"})
	return code, out
}

// fixture reads a shared Shopify fixture and returns the object under key.
func fixture(t *testing.T, path, key string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("/work/shared/fixtures/shopify/" + path)
	if err != nil {
		b, err = os.ReadFile("../../../shared/fixtures/shopify/" + path)
	}
	if err != nil {
		t.Skipf("fixture %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m[key].(map[string]any)
}

func TestShopifyWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		if err := e.api.Ingest().Secrets().SetSecret(ctx, ingest.SecretShopifyApp, shopifySecret); err != nil {
			t.Fatal(err)
		}
		o := fixture(t, "go-shopify/order.json", "order")
		// An id beyond float64's exact range must survive as it is.
		o["id"] = json.Number("5764607523034234881")
		o["cancelled_at"], o["financial_status"] = nil, "paid"
		o["customer"].(map[string]any)["id"] = json.Number("7234567890123456789")
		body, _ := json.Marshal(o)
		if code, _, _ := e.post("/webhooks/shopify", body, map[string]string{"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": shopifyHMAC(append(body, ' ')),
			"X-Shopify-Shop-Domain": "enishi-test.myshopify.com", "X-Shopify-Webhook-Id": "w-0"}); code != 401 {
			t.Fatalf("bad HMAC = %d, want 401", code)
		}
		for i := 0; i < 2; i++ { // Shopify redelivers with the same webhook id
			if code, out := e.shopify("orders/create", "w-1", body); code != 200 {
				t.Fatalf("orders/create = %d %v", code, out)
			}
		}
		if n := count(t, e.db, `SELECT count(*) FROM ingest_inbox`); n != 1 {
			t.Fatalf("inbox rows = %d, want 1 (deduplicated by webhook id)", n)
		}
		e.drain()
		v := customerBy(t, e.db, identity.ExternalID("shopify", "7234567890123456789"))
		if v.OrderCount != 1 || v.TotalSpent != 10 || v.Email != "jon@doe.ca" {
			t.Fatalf("customer = %+v", v.Customer)
		}
		name, cust, ok, err := e.db.ShopifyOrder(ctx, "enishi-test.myshopify.com", "5764607523034234881")
		if err != nil || !ok || name != "#9999" || cust != "7234567890123456789" {
			t.Fatalf("order id map = %q %q %v %v", name, cust, ok, err)
		}
		// The order is updated (cancelled), refunded, the customer changes, a cart becomes a checkout.
		o["cancelled_at"] = "2016-05-18T04:14:36-04:00"
		body, _ = json.Marshal(o)
		e.shopify("orders/cancelled", "w-2", body)
		refund := fixture(t, "shopify_python_api/refund.json", "refund")
		refund["order_id"] = json.Number("5764607523034234881")
		body, _ = json.Marshal(refund)
		e.shopify("refunds/create", "w-3", body)
		c := fixture(t, "go-shopify/customer.json", "customer")
		c["id"] = json.Number("7234567890123456789")
		c["first_name"], c["last_name"] = "Jon", "Doe"
		c["email_marketing_consent"] = map[string]any{"state": "subscribed", "consent_updated_at": "2026-03-01T00:00:00+09:00"}
		c["default_address"] = map[string]any{"province_code": "JP-13", "country_code": "JP", "zip": "1500001", "city": "渋谷区"}
		body, _ = json.Marshal(c)
		e.shopify("customers/update", "w-4", body)
		cart := `{"id":"cart-abc","token":"cart-abc","updated_at":"2026-03-31T09:00:00+09:00","line_items":[{"id":1,"sku":"TEA-01","title":"煎茶","price":"1200","quantity":1}]}`
		e.shopify("carts/update", "w-5", []byte(cart))
		checkout := `{"id":9007199254740993,"token":"ck-1","cart_token":"cart-abc","email":"jon@doe.ca","total_price":"1200","currency":"JPY",
			"customer":{"id":7234567890123456789},"updated_at":"2026-03-31T09:05:00+09:00","line_items":[{"sku":"TEA-01","title":"煎茶","price":"1200","quantity":1}]}`
		e.shopify("checkouts/create", "w-6", []byte(checkout))
		e.drain()
		if dead, _ := e.db.InboxItems(ctx, store.InboxDead, 10, 0); len(dead) != 0 {
			t.Fatalf("dead letters: %+v", dead)
		}
		v = customerBy(t, e.db, identity.ExternalID("shopify", "7234567890123456789"))
		if v.OrderCount != 0 || v.FirstName != "Jon" || v.Prefecture != "東京都" || v.PostalCode != "150-0001" {
			t.Fatalf("after cancel and update = %+v", v.Customer)
		}
		if len(v.Consents) != 1 || v.Consents[0].Channel != "email" || !v.Consents[0].Granted {
			t.Fatalf("consents = %+v", v.Consents)
		}
		titles := map[string]bool{}
		for _, it := range v.Timeline {
			titles[it.Title] = true
		}
		for _, want := range []string{"Order Refunded", "Checkout Started", "Cart Updated", "#9999"} {
			if !titles[want] {
				t.Fatalf("timeline lacks %q: %v", want, titles)
			}
		}
		// The compliance webhooks: the redact (delivered twice) erases the
		// person (privacy.Handler); shop/redact waits for the operator.
		e.shopify("customers/redact", "w-7", []byte(`{"shop_id":1,"shop_domain":"enishi-test.myshopify.com","customer":{"id":7234567890123456789,"email":"jon@doe.ca","phone":null},"orders_to_redact":[1]}`))
		e.shopify("customers/redact", "w-7", []byte(`{"shop_id":1,"shop_domain":"enishi-test.myshopify.com","customer":{"id":7234567890123456789,"email":"jon@doe.ca","phone":null},"orders_to_redact":[1]}`))
		e.shopify("shop/redact", "w-8", []byte(`{"shop_id":1,"shop_domain":"enishi-test.myshopify.com"}`))
		e.drain()
		if _, err := e.db.CustomerByIdentifier(ctx, identity.ExternalID("shopify", "7234567890123456789")); err == nil {
			t.Fatal("customers/redact left the person's identifiers")
		}
		k := e.key("customers:export")
		code, out := e.call(nil, "GET", "/api/v1/privacy-requests", k, nil, nil)
		ps, _ := out["privacy_requests"].([]any)
		if code != 200 || len(ps) != 2 {
			t.Fatalf("privacy requests = %d %v", code, out)
		}
		erase := ps[1].(map[string]any)
		ids := erase["identifiers"].([]any)
		if erase["kind"] != "erase" || erase["status"] != "done" || len(ids) != 2 || ids[1].(map[string]any)["Value"] == "jon@doe.ca" {
			t.Fatalf("erase request (masked without pii:read) = %v", erase)
		}
		if shop := ps[0].(map[string]any); shop["kind"] != "shop_erase" || shop["status"] != "pending" {
			t.Fatalf("shop/redact request = %v", shop)
		}
	})
}

func TestShopifyWebhookWithoutSecretIsRefused(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	code, out := e.shopify("orders/create", "w", []byte(`{}`))
	if code != 401 || !strings.Contains(errMessage(out), "not configured") {
		t.Fatalf("= %d %v", code, out)
	}
}

// LINE.

func lineSig(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestLineWebhookConsentsInquiriesAndAccountLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		const secret = "line-channel-secret"
		if err := e.api.Ingest().Secrets().SetSecret(ctx, ingest.SecretLineChannel, secret); err != nil {
			t.Fatal(err)
		}
		if err := e.db.SetSetting(ctx, ingest.SettingLineProvider, "provider-1"); err != nil {
			t.Fatal(err)
		}
		member := e.seed()
		k := e.key("customers:write", "customers:read")
		code, out := e.call(nil, "POST", "/api/v1/line/link-nonces", k, map[string]int64{"customer_id": member}, nil)
		if code != 201 {
			t.Fatalf("nonce = %d %v", code, out)
		}
		nonce := out["nonce"].(string)
		user := "U206d25c2ea6bd87c17655609a1c37cb8"
		events := fmt.Sprintf(`{"destination":"Ubot","events":[
		  {"type":"follow","timestamp":1774900000000,"source":{"type":"user","userId":%[1]q},"webhookEventId":"e1","follow":{"isUnblocked":false}},
		  {"type":"message","timestamp":1774900060000,"source":{"type":"user","userId":%[1]q},"webhookEventId":"e2","message":{"id":"325708","type":"text","text":"注文の配送日を教えてください"}},
		  {"type":"message","timestamp":1774900060000,"source":{"type":"group","groupId":"G1","userId":%[1]q},"webhookEventId":"e3","message":{"id":"325709","type":"text","text":"group chat"}},
		  {"type":"accountLink","timestamp":1774900120000,"source":{"type":"user","userId":%[1]q},"webhookEventId":"e4","link":{"result":"ok","nonce":%[2]q}},
		  {"type":"postback","timestamp":1774900130000,"source":{"type":"user","userId":%[1]q},"webhookEventId":"e5","postback":{"data":"coupon=spring"}}
		]}`, user, nonce)
		if code, _, _ := e.post("/webhooks/line", []byte(events), map[string]string{"X-Line-Signature": lineSig("wrong", []byte(events))}); code != 401 {
			t.Fatalf("bad signature = %d", code)
		}
		for i := 0; i < 2; i++ { // LINE redelivers
			if code, _, out := e.post("/webhooks/line", []byte(events), map[string]string{"X-Line-Signature": lineSig(secret, []byte(events))}); code != 200 {
				t.Fatalf("webhook = %d %v", code, out)
			}
		}
		e.drain()
		v, err := e.db.CustomerView(ctx, member, store.ViewOptions{})
		if err != nil {
			t.Fatal(err)
		}
		linked := false
		for _, id := range v.Identities {
			linked = linked || (id.Kind == identity.Line && id.Source == "provider-1" && id.Value == user)
		}
		if !linked || len(v.Consents) != 1 || v.Consents[0].Channel != "line" || !v.Consents[0].Granted {
			t.Fatalf("after link: identities %+v consents %+v", v.Identities, v.Consents)
		}
		inq := 0
		for _, it := range v.Timeline {
			if it.Kind == "inquiry" {
				inq++
				if it.Channel != "line" || it.Detail["body"] != "注文の配送日を教えてください" {
					t.Fatalf("inquiry = %+v", it)
				}
			}
		}
		if inq != 1 {
			t.Fatalf("inquiries = %d, want 1 (redelivery adds none, group chats are not inquiries)", inq)
		}
		unfollow := fmt.Sprintf(`{"destination":"Ubot","events":[{"type":"unfollow","timestamp":1774900200000,"source":{"type":"user","userId":%q},"webhookEventId":"e6"}]}`, user)
		e.post("/webhooks/line", []byte(unfollow), map[string]string{"X-Line-Signature": lineSig(secret, []byte(unfollow))})
		e.drain()
		v, _ = e.db.CustomerView(ctx, member, store.ViewOptions{})
		if len(v.Consents) != 1 || v.Consents[0].Granted {
			t.Fatalf("after unfollow: %+v", v.Consents)
		}
		// A used nonce cannot link another LINE user.
		other := fmt.Sprintf(`{"destination":"Ubot","events":[{"type":"accountLink","timestamp":1774900300000,"source":{"type":"user","userId":"Uother"},"webhookEventId":"e7","link":{"result":"ok","nonce":%q}}]}`, nonce)
		e.post("/webhooks/line", []byte(other), map[string]string{"X-Line-Signature": lineSig(secret, []byte(other))})
		e.drain()
		dead, _ := e.db.InboxItems(ctx, store.InboxDead, 10, 0)
		if len(dead) != 1 || !strings.Contains(dead[0].LastError, "already used") {
			t.Fatalf("reused nonce: %+v", dead)
		}
	})
}

// Generic webhooks.

func TestGenericWebhookSignedOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		const secret = "whsec_generic"
		if err := e.api.Ingest().Secrets().SetSecret(ctx, ingest.SecretGeneric("eccube"), secret); err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"id":"d-1","type":"order.created","created_at":"2026-04-01T12:00:00+09:00","data":{
		  "id":"EC-1001","ordered_at":"2026-04-01T11:59:00+09:00","status":"paid","total":5400,"shipping":400,
		  "customer":{"id":"42","email":"kenji@example.com","last_name":"田中","first_name":"健二","prefecture":"大阪府",
		    "consents":[{"channel":"email","granted":true,"at":"2026-04-01T11:59:00+09:00","wording_version":"v3"}]},
		  "lines":[{"sku":"SOAP-1","name":"石けん","quantity":2,"unit_price":2500}]}}`)
		sig := ingest.SignGeneric(secret, storetest.T0, body)
		hdr := map[string]string{"X-Enishi-Signature": sig}
		if code, _, out := e.post("/webhooks/generic/eccube", body, hdr); code != 200 || out["duplicate"] != false {
			t.Fatalf("order = %d %v", code, out)
		}
		if code, _, out := e.post("/webhooks/generic/eccube", body, hdr); code != 200 || out["duplicate"] != true {
			t.Fatalf("redelivery = %d %v", code, out)
		}
		for _, c := range []struct {
			name string
			sig  string
			body []byte
			code int
			msg  string
		}{
			{"tampered", sig, append([]byte(nil), bytes.Replace(body, []byte("5400"), []byte("1"), 1)...), 401, "does not match"},
			{"stale", ingest.SignGeneric(secret, storetest.T0.Add(-time.Hour), body), body, 401, "from enishi's clock"},
			{"missing", "", body, 401, "X-Enishi-Signature"},
			{"unknown field", "", []byte(`{"id":"d-2","type":"order.created","data":{"id":"1","bogus":1}}`), 400, "unknown field"},
			{"bad status", "", []byte(`{"id":"d-3","type":"order.created","data":{"id":"1","ordered_at":"2026-04-01T00:00:00Z","status":"lost","customer":{"id":"1"}}}`), 400, "data.status"},
			{"unknown type", "", []byte(`{"id":"d-4","type":"invoice.paid","data":{}}`), 400, "is not a type"},
		} {
			s := c.sig
			if s == "" && c.name != "missing" {
				s = ingest.SignGeneric(secret, storetest.T0, c.body)
			}
			code, _, out := e.post("/webhooks/generic/eccube", c.body, map[string]string{"X-Enishi-Signature": s})
			if code != c.code || !strings.Contains(errMessage(out), c.msg) {
				t.Errorf("%s: %d %q, want %d %q", c.name, code, errMessage(out), c.code, c.msg)
			}
		}
		e.drain()
		v := customerBy(t, e.db, identity.ExternalID("eccube", "42"))
		if v.OrderCount != 1 || v.TotalSpent != 5400 || v.Prefecture != "大阪府" || len(v.Consents) != 1 {
			t.Fatalf("customer = %+v %+v", v.Customer, v.Consents)
		}
	})
}

// Failures, status and metrics.

func TestFailedRequestsRetryThenDeadLetterAndCanBeRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		c := clock.NewManual(storetest.T0, true)
		db := open(t, c)
		svc := ingest.New(ingest.Config{Store: db, Clock: c, MaxAttempts: 3})
		failing := true
		svc.RegisterGeneric("test", ingest.GenericHandler{Process: func(context.Context, *ingest.GenericDelivery) error {
			if failing {
				return errors.New("downstream unavailable")
			}
			return nil
		}})
		api := enishihttp.New(enishihttp.Config{Store: db, Clock: c, Ingest: svc})
		srv := httptest.NewServer(api)
		defer srv.Close()
		e := &env{t: t, db: db, srv: srv, api: api}
		if err := svc.Secrets().SetSecret(ctx, ingest.SecretGeneric("cart-x"), "s"); err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"id":"x-1","type":"test.thing","data":{}}`)
		if code, _, out := e.post("/webhooks/generic/cart-x", body, map[string]string{"X-Enishi-Signature": ingest.SignGeneric("s", c.Now(), body)}); code != 200 {
			t.Fatalf("accept = %d %v", code, out)
		}
		for attempt := 1; attempt <= 3; attempt++ {
			if n, err := svc.ProcessOnce(ctx, "w"); n != 1 || err != nil {
				t.Fatalf("attempt %d: %d %v", attempt, n, err)
			}
			if n, _ := svc.ProcessOnce(ctx, "w"); n != 0 {
				t.Fatalf("attempt %d retried before its backoff", attempt)
			}
			c.Advance(time.Hour)
		}
		admin := e.key("settings:write", "reports:read", "metrics:read")
		code, out := e.call(nil, "GET", "/api/v1/ingest/failures", admin, nil, nil)
		fs, _ := out["failures"].([]any)
		if code != 200 || len(fs) != 1 {
			t.Fatalf("failures = %d %v", code, out)
		}
		f := fs[0].(map[string]any)
		if f["attempts"] != 3.0 || !strings.Contains(f["last_error"].(string), "downstream unavailable") || f["kind"] != "generic" {
			t.Fatalf("failure = %v", f)
		}
		id := fmt.Sprint(int64(f["id"].(float64)))
		code, out = e.call(nil, "GET", "/api/v1/ingest/status", admin, nil, nil)
		if code != 200 || out["dead"] != 1.0 || out["pending"] != 0.0 {
			t.Fatalf("status = %v", out)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`enishi_ingest_failed_total{kind="generic"} 3`, `enishi_ingest_dead_total{kind="generic"} 1`,
			"enishi_ingest_queue_depth 0", "enishi_ingest_dead_letters 1", "# TYPE enishi_ingest_lag_seconds gauge"} {
			if !strings.Contains(string(text), want) {
				t.Fatalf("metrics (%d) lack %q:\n%s", resp.StatusCode, want, text)
			}
		}
		if code, _ = e.call(nil, "GET", "/metrics", e.key("reports:read"), nil, nil); code != 403 {
			t.Fatalf("metrics without metrics:read = %d", code)
		}
		failing = false
		if code, out = e.call(nil, "POST", "/api/v1/ingest/failures/"+id+"/retry", admin, nil, nil); code != 200 {
			t.Fatalf("retry = %d %v", code, out)
		}
		if n, err := svc.ProcessOnce(ctx, "w"); n != 1 || err != nil {
			t.Fatalf("after retry: %d %v", n, err)
		}
		if code, out = e.call(nil, "POST", "/api/v1/ingest/failures/"+id+"/discard", admin, nil, nil); code != 409 {
			t.Fatalf("discarding a done request = %d %v", code, out)
		}
		_, out = e.call(nil, "GET", "/api/v1/ingest/status", admin, nil, nil)
		if out["dead"] != 0.0 || out["done"] != 1.0 {
			t.Fatalf("status after retry = %v", out)
		}
	})
}

func TestUserIDSourceSettingMatchesImportedCustomers(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	id := e.seed() // imported from source "shop" with customer id c1
	if err := e.db.SetSetting(ctx, ingest.SettingUserIDSource, "shop"); err != nil {
		t.Fatal(err)
	}
	code, _, _ := e.post("/v1/track", []byte(`{"userId":"c1","event":"Product Viewed","properties":{"sku":"SKU-1"}}`), basic(e.key("ingest:write")))
	if code != 200 {
		t.Fatal(code)
	}
	e.drain()
	v, err := e.db.CustomerView(ctx, id, store.ViewOptions{})
	if err != nil || v.Timeline[0].Title != "Product Viewed" {
		t.Fatalf("the event did not reach the imported customer: %+v %v", v, err)
	}
}

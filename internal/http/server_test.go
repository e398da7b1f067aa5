package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx = context.Background()

type env struct {
	t   *testing.T
	db  *store.DB
	srv *httptest.Server
	api *enishihttp.Server
}

func newEnv(t *testing.T, open storetest.Opener) *env {
	c := clock.NewManual(storetest.T0, true)
	db := open(t, c)
	api := enishihttp.New(enishihttp.Config{Store: db, Clock: c})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv, api: api}
}

// call sends a request and decodes the JSON answer.
func (e *env) call(client *http.Client, method, path, key string, body any, hdr map[string]string) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) key(scopes ...string) string {
	_, secret, err := enishihttp.CreateAPIKey(ctx, e.db, "test", scopes, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

func (e *env) seed() int64 {
	b := storetest.Buyer(e.t, "shop", "c1", "taro@example.com", "090-1234-5678")
	b.Profile.LastName, b.Profile.FirstName = "山田", "太郎"
	res, err := e.db.ImportOrders(ctx, []order.Order{storetest.Order("shop", "1001", storetest.T0.AddDate(0, 0, -3), b, "SKU-1", 2, 1500)})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.CustomerIDs[0]
}

func TestNoRouteIsOpenByMistake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		public := map[string]bool{"GET /healthz": true, "GET /readyz": true, "POST /api/v1/auth/login": true,
			// Channels: links in messages (signed tokens; no login by law for
			// unsubscribing), provider callbacks (X-Twilio-Signature), and what
			// the JS tag on the shop's site calls (a browser's own anonymous id
			// and push keys).
			"GET /u/{token}": true, "POST /u/{token}": true, "GET /t/o/{token}": true, "GET /t/c/{token}": true,
			"POST /webhooks/sms/status": true, "POST /webhooks/sms/inbound": true,
			"GET /api/v1/onsite/messages": true, "GET /api/v1/push/key": true, "POST /api/v1/push/subscriptions": true,
			// Ingestion: the JS tag and the CORS preflight grant nothing by
			// themselves; webhooks authenticate by their signatures (tested in
			// internal/http/ingest_test.go).
			"GET /js/enishi.js": true, "OPTIONS /v1/{call}": true,
			"POST /webhooks/shopify": true, "POST /webhooks/line": true, "POST /webhooks/generic/{source}": true,
			// Survey answer pages and the JS tag's survey endpoints: customers
			// answer without a login; a signed link token (or a survey that
			// allows anonymous answers) is the only authority, and pages check
			// a form token and the Origin (internal/http/survey_public.go).
			"GET /s/{token}": true, "POST /s/{token}": true, "GET /survey/{key}": true, "POST /survey/{key}": true,
			"GET /api/v1/public/surveys/{key}": true, "POST /api/v1/public/surveys/{key}/responses": true,
			"OPTIONS /api/v1/public/surveys/{key}/responses": true}
		for _, r := range e.api.Routes() {
			if r.Public {
				if !public[r.Pattern] {
					t.Errorf("route %s is public but not on the list of routes meant to be", r.Pattern)
				}
				continue
			}
			method, path := routePath(r.Pattern)
			code, _ := e.call(nil, method, path, "", "{}", nil)
			if code != http.StatusUnauthorized {
				t.Errorf("%s without credentials: %d, want 401", r.Pattern, code)
			}
			code, _ = e.call(nil, method, path, "ek_not_a_real_key", "{}", nil)
			if code != http.StatusUnauthorized {
				t.Errorf("%s with a bad key: %d, want 401", r.Pattern, code)
			}
		}
	})
}

func TestScopesAndMasking(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()
		full := e.key("customers:read", "pii:read")
		masked := e.key("customers:read")
		ingestOnly := e.key("ingest:write")

		code, v := e.call(nil, "GET", "/api/v1/customers/"+itoa(id), full, nil, nil)
		if code != 200 || v["email"] != "taro@example.com" || v["display_name"] != "山田 太郎" || v["order_count"] != 1.0 || v["total_spent"] != 3000.0 {
			t.Fatalf("360 = %d %v", code, v)
		}
		tl := v["timeline"].([]any)
		if len(tl) != 1 || tl[0].(map[string]any)["title"] != "1001" {
			t.Fatalf("timeline = %v", tl)
		}
		code, v = e.call(nil, "GET", "/api/v1/customers/"+itoa(id), masked, nil, nil)
		if code != 200 || v["email"] != "t***@example.com" || v["phone"] != "090-****-5678" || v["display_name"] != "山田 ***" {
			t.Fatalf("masked 360 = %d %v", code, v)
		}
		code, _ = e.call(nil, "GET", "/api/v1/customers/"+itoa(id), ingestOnly, nil, nil)
		if code != 403 {
			t.Fatalf("wrong scope = %d, want 403", code)
		}
		code, list := e.call(nil, "GET", "/api/v1/customers?q=やまだ", masked, nil, nil)
		if code != 200 || list["total"] != 0.0 {
			// no kana stored for this customer: kana search finds nothing
			t.Fatalf("kana search = %d %v", code, list)
		}
		code, list = e.call(nil, "GET", "/api/v1/customers?q=09012345678", full, nil, nil)
		if code != 200 || list["total"] != 1.0 {
			t.Fatalf("phone search = %d %v", code, list)
		}
		code, _ = e.call(nil, "GET", "/api/v1/customers/999", full, nil, nil)
		if code != 404 {
			t.Fatalf("missing customer = %d", code)
		}
		code, body := e.call(nil, "GET", "/api/v1/customers/abc", full, nil, nil)
		if code != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "not an id") {
			t.Fatalf("bad id = %d %v", code, body)
		}
	})
}

func TestSessionLoginCSRFAndWrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()
		if _, _, err := enishihttp.CreateUser(ctx, e.db, "support@example.com", "CS", "support", "support-password-1"); err != nil {
			t.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		code, _ := e.call(c, "POST", "/api/v1/auth/login", "", map[string]string{"email": "support@example.com", "password": "wrong-password"}, nil)
		if code != 401 {
			t.Fatalf("bad password = %d", code)
		}
		code, out := e.call(c, "POST", "/api/v1/auth/login", "", map[string]string{"email": "Support@example.com", "password": "support-password-1"}, nil)
		if code != 200 {
			t.Fatalf("login = %d %v", code, out)
		}
		csrf := out["csrf_token"].(string)
		note := map[string]string{"body": "電話で配送日の問い合わせ"}
		if code, _ = e.call(c, "POST", "/api/v1/customers/"+itoa(id)+"/notes", "", note, nil); code != 403 {
			t.Fatalf("write without CSRF = %d", code)
		}
		if code, _ = e.call(c, "POST", "/api/v1/customers/"+itoa(id)+"/notes", "", note, map[string]string{"X-CSRF-Token": csrf}); code != 201 {
			t.Fatalf("note = %d", code)
		}
		if code, _ = e.call(c, "POST", "/api/v1/customers/"+itoa(id)+"/notes", "", `{"body": 5}`, map[string]string{"X-CSRF-Token": csrf}); code != 400 {
			t.Fatalf("bad note type = %d", code)
		}
		if code, _ = e.call(c, "POST", "/api/v1/customers/"+itoa(id)+"/notes", "", `{"body": "x", "extra": 1}`, map[string]string{"X-CSRF-Token": csrf}); code != 400 {
			t.Fatalf("unknown field = %d", code)
		}
		// Support may not manage users.
		if code, _ = e.call(c, "GET", "/api/v1/users", "", nil, nil); code != 403 {
			t.Fatalf("support listing users = %d", code)
		}
		_, v := e.call(c, "GET", "/api/v1/customers/"+itoa(id), "", nil, nil)
		if tl := v["timeline"].([]any); tl[0].(map[string]any)["kind"] != "note" {
			t.Fatalf("timeline = %v", tl)
		}
		if code, _ = e.call(c, "POST", "/api/v1/auth/logout", "", nil, map[string]string{"X-CSRF-Token": csrf}); code != 200 {
			t.Fatalf("logout = %d", code)
		}
		if code, _ = e.call(c, "GET", "/api/v1/me", "", nil, nil); code != 401 {
			t.Fatalf("after logout = %d", code)
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	if _, _, err := enishihttp.CreateUser(ctx, e.db, "a@example.com", "", "admin", "right-password-1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		e.call(nil, "POST", "/api/v1/auth/login", "", map[string]string{"email": "a@example.com", "password": "nope-nope-nope"}, nil)
	}
	code, _ := e.call(nil, "POST", "/api/v1/auth/login", "", map[string]string{"email": "a@example.com", "password": "right-password-1"}, nil)
	if code != 429 {
		t.Fatalf("after 5 failures = %d, want 429", code)
	}
}

func TestMergeAndUnmergeOverAPI(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	a := e.seed()
	res, _ := e.db.ImportOrders(ctx, []order.Order{storetest.Order("pos", "P1", storetest.T0, storetest.Buyer(t, "pos", "9", "", ""), "X", 1, 100)})
	b := res.CustomerIDs[0]
	k := e.key("customers:read", "customers:write", "pii:read")
	code, out := e.call(nil, "POST", "/api/v1/customers/"+itoa(a)+"/merge", k, map[string]int64{"other": b}, nil)
	if code != 201 {
		t.Fatalf("merge = %d %v", code, out)
	}
	mid := int64(out["merge_id"].(float64))
	_, v := e.call(nil, "GET", "/api/v1/customers/"+itoa(b), k, nil, nil)
	if v["id"] != float64(a) || v["order_count"] != 2.0 {
		t.Fatalf("merged view = %v", v)
	}
	if code, _ = e.call(nil, "POST", "/api/v1/merges/"+itoa(mid)+"/unmerge", k, nil, nil); code != 200 {
		t.Fatalf("unmerge = %d", code)
	}
	if code, _ = e.call(nil, "POST", "/api/v1/merges/"+itoa(mid)+"/unmerge", k, nil, nil); code != 409 {
		t.Fatalf("second unmerge = %d", code)
	}
	_, v = e.call(nil, "GET", "/api/v1/customers/"+itoa(b), k, nil, nil)
	if v["id"] != float64(b) || v["order_count"] != 1.0 {
		t.Fatalf("after unmerge = %v", v)
	}
}

func TestDevClockRefusedWithoutFlag(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	k := e.key("settings:write")
	if code, _ := e.call(nil, "POST", "/api/v1/dev/clock", k, map[string]string{"advance": "72h"}, nil); code != 403 {
		t.Fatalf("dev clock without flag = %d", code)
	}
	c := clock.NewManual(storetest.T0, true)
	api := enishihttp.New(enishihttp.Config{Store: e.db, Clock: c, DevClock: c})
	srv := httptest.NewServer(api)
	defer srv.Close()
	e.srv = srv
	code, out := e.call(nil, "POST", "/api/v1/dev/clock", k, map[string]string{"advance": "72h"}, nil)
	if code != 200 || out["now"] != storetest.T0.Add(72*60*60*1e9).Format("2006-01-02T15:04:05Z") {
		t.Fatalf("advance = %d %v", code, out)
	}
}

func itoa(n int64) string {
	return strings.TrimSpace(strings.Replace(string(must(json.Marshal(n))), "\"", "", -1))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

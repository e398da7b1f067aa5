package http_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/engine"
	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

type fakeTagger struct{ tag string }

func (f *fakeTagger) TagCustomers(_ context.Context, tag string, add, remove []string) error {
	f.tag = tag
	return nil
}

func newEngineEnv(t *testing.T, open storetest.Opener) (*env, *fakechannel.Channel, *engine.Engine, *fakeTagger) {
	c := clock.NewManual(storetest.T0, true)
	db := open(t, c)
	ch := fakechannel.New(c)
	tg := &fakeTagger{}
	api := enishihttp.New(enishihttp.Config{Store: db, Clock: c, Dispatcher: ch, Pusher: segment.Pusher{Shopify: tg}})
	e := &env{t: t, db: db, api: api}
	e.srv = newServer(t, api)
	return e, ch, engine.New(db, c, engine.Config{Dispatcher: ch}), tg
}

func (e *env) raw(method, path, key string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestSegmentJourneyCampaignAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e, ch, eng, tg := newEngineEnv(t, open)
		cid := e.seed()
		marketer := e.key("segments:write", "journeys:write", "campaigns:send", "customers:read", "reports:read", "customers:export")
		reader := e.key("customers:read")
		full := e.key("customers:read", "customers:export", "pii:read")

		// Preview while editing: count and a masked sample.
		code, out := e.call(nil, "POST", "/api/v1/segments/preview", marketer, map[string]any{
			"condition": map[string]any{"field": "order_count", "op": ">=", "value": 1}}, nil)
		sample, _ := out["sample"].([]any)
		if code != 200 || out["count"] != 1.0 || len(sample) != 1 || strings.Contains(sample[0].(map[string]any)["email"].(string), "taro@") {
			t.Fatalf("preview: %d %v", code, out)
		}
		code, out = e.call(nil, "POST", "/api/v1/segments/preview", marketer, map[string]any{
			"condition": map[string]any{"field": "order_count", "op": "contains", "value": 1}}, nil)
		if code != 400 || out["error"].(map[string]any)["field"] != "condition.op" {
			t.Fatalf("bad condition: %d %v", code, out)
		}
		code, out = e.call(nil, "POST", "/api/v1/segments", reader, map[string]any{"name": "x", "condition": map[string]any{}}, nil)
		if code != 403 {
			t.Fatalf("create without segments:write: %d %v", code, out)
		}
		code, out = e.call(nil, "POST", "/api/v1/segments", marketer, map[string]any{"name": "購入者",
			"condition": map[string]any{"field": "order_count", "op": ">=", "value": 1}}, nil)
		if code != 201 || out["member_count"] != 1.0 {
			t.Fatalf("create: %d %v", code, out)
		}
		sid := int64(out["id"].(float64))
		path := "/api/v1/segments/" + itoa64(sid)
		if code, out = e.call(nil, "GET", path+"/count", reader, nil, nil); code != 200 || out["count"] != 1.0 {
			t.Fatalf("count: %d %v", code, out)
		}
		if code, out = e.call(nil, "GET", "/api/v1/segments/fields", reader, nil, nil); code != 200 || len(out["fields"].([]any)) != len(segment.Fields) {
			t.Fatalf("fields: %d", code)
		}
		// Export: masked for the marketer, whole for pii:read, Shift_JIS on request.
		code, hdr, body := e.raw("GET", path+"/export", marketer)
		if code != 200 || !strings.HasPrefix(string(body), "\ufeff顧客ID") || strings.Contains(string(body), "taro@example.com") || !strings.Contains(hdr.Get("Content-Disposition"), ".csv") {
			t.Fatalf("export: %d %q", code, body)
		}
		code, hdr, body = e.raw("GET", path+"/export?encoding=shift_jis", full)
		dec, _ := japanese.ShiftJIS.NewDecoder().Bytes(body)
		if code != 200 || !strings.Contains(string(dec), "taro@example.com") || !strings.Contains(string(dec), "山田") || !strings.Contains(hdr.Get("Content-Type"), "shift_jis") {
			t.Fatalf("sjis export: %d %q", code, dec)
		}
		if code, _, _ = e.raw("GET", path+"/export", reader); code != 403 {
			t.Fatalf("export without customers:export: %d", code)
		}
		code, out = e.call(nil, "POST", path+"/push", marketer, map[string]any{"target": "shopify", "ref": "enishi-buyers"}, nil)
		if code != 200 || tg.tag != "enishi-buyers" || out["result"].(map[string]any)["unreachable"] != 1.0 {
			t.Fatalf("push: %d %v", code, out)
		}
		if code, out = e.call(nil, "POST", path+"/push", marketer, map[string]any{"target": "line"}, nil); code != 503 {
			t.Fatalf("push to unconnected LINE: %d %v", code, out)
		}

		// A journey from the library, enabled.
		code, out = e.call(nil, "GET", "/api/v1/journey-templates", marketer, nil, nil)
		if code != 200 || len(out["templates"].([]any)) < 12 {
			t.Fatalf("templates: %d %v", code, out)
		}
		code, out = e.call(nil, "POST", "/api/v1/journeys", marketer, map[string]any{"template": "vip_thanks", "params": map[string]any{"segment_id": sid}}, nil)
		if code != 201 || out["status"] != "draft" || out["template"] != "vip_thanks" {
			t.Fatalf("create journey: %d %v", code, out)
		}
		jid := itoa64(int64(out["id"].(float64)))
		if code, out = e.call(nil, "POST", "/api/v1/journeys/"+jid+"/enable", marketer, nil, nil); code != 200 || out["status"] != "enabled" {
			t.Fatalf("enable: %d %v", code, out)
		}
		code, out = e.call(nil, "POST", "/api/v1/journeys", marketer, map[string]any{"name": "x", "trigger": map[string]any{"type": "event"}, "steps": []any{}}, nil)
		if code != 400 || out["error"].(map[string]any)["field"] != "trigger.event" {
			t.Fatalf("bad journey: %d %v", code, out)
		}
		if code, out = e.call(nil, "GET", "/api/v1/journeys/"+jid+"/stats", marketer, nil, nil); code != 200 || len(out["steps"].([]any)) != 2 {
			t.Fatalf("stats: %d %v", code, out)
		}

		// A campaign: preview, test send, schedule now, sent by the engine.
		code, out = e.call(nil, "POST", "/api/v1/campaigns", marketer, map[string]any{"name": "お知らせ", "segment_id": sid, "channel": "email",
			"variants": []any{map[string]any{"content": map[string]any{"subject": "新商品", "text": "{{ customer.last_name }}様"}}}}, nil)
		if code != 201 || out["status"] != "draft" {
			t.Fatalf("campaign: %d %v", code, out)
		}
		cpath := "/api/v1/campaigns/" + itoa64(int64(out["id"].(float64)))
		if code, out = e.call(nil, "GET", cpath+"/preview?customer_id="+itoa64(cid), marketer, nil, nil); code != 200 || out["variant"] != "A" || out["time_zone"] != "Asia/Tokyo" {
			t.Fatalf("preview: %d %v", code, out)
		}
		if code, out = e.call(nil, "POST", cpath+"/test", marketer, map[string]any{"customer_id": cid}, nil); code != 200 || !strings.HasPrefix(out["key"].(string), "test:") {
			t.Fatalf("test send: %d %v", code, out)
		}
		if code, out = e.call(nil, "POST", cpath+"/schedule", marketer, map[string]any{}, nil); code != 200 || out["status"] != "scheduled" {
			t.Fatalf("schedule: %d %v", code, out)
		}
		if err := eng.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if code, out = e.call(nil, "GET", cpath+"/stats", marketer, nil, nil); code != 200 || out["variants"].([]any)[0].(map[string]any)["sent"] != 1.0 {
			t.Fatalf("campaign stats: %d %v", code, out)
		}
		if len(ch.Sent()) != 2 {
			t.Fatalf("sent = %d", len(ch.Sent()))
		}
		if code, out = e.call(nil, "GET", "/api/v1/customers/"+itoa64(cid)+"/messages", reader, nil, nil); code != 200 || len(out["messages"].([]any)) != 1 {
			t.Fatalf("customer messages: %d %v", code, out)
		}
		if code, out = e.call(nil, "DELETE", path, marketer, nil, nil); code != 409 {
			t.Fatalf("delete a segment in use: %d %v", code, out)
		}
		entries, err := e.db.AuditEntries(ctx, store.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]bool{}
		for _, a := range entries {
			actions[a.Action] = true
		}
		for _, want := range []string{"segment.create", "segment.export", "segment.push", "journey.create", "journey.enabled", "campaign.create",
			"campaign.test", "campaign.schedule"} {
			if !actions[want] {
				t.Errorf("audit log has no %s (has %v)", want, actions)
			}
		}
		admin := e.key("settings:write")
		if code, out = e.call(nil, "PUT", "/api/v1/messaging/rules", admin, map[string]any{"quiet_hours": map[string]any{"start": "22:00", "end": "25:00"}, "caps": []any{}}, nil); code != 400 {
			t.Fatalf("bad rules: %d %v", code, out)
		}
		if code, out = e.call(nil, "PUT", "/api/v1/messaging/rules", admin, map[string]any{"quiet_hours": map[string]any{"start": "22:00", "end": "08:00"}, "caps": []any{}}, nil); code != 200 {
			t.Fatalf("rules: %d %v", code, out)
		}
	})
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

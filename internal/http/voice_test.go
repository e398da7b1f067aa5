package http_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// page fetches or posts an answer page and returns status and body.
func (e *env) page(method, path string, form url.Values, hdr map[string]string) (int, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); method == "GET" && !strings.HasPrefix(ct, "text/html") {
		e.t.Fatalf("%s %s: content type %s", method, path, ct)
	}
	return resp.StatusCode, string(b)
}

var formTokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

const surveyJSON = `{"title":"お肌のアンケート","status":"open","thank_you":"ありがとうございました！","questions":[
	{"id":"skin","type":"single","title":"肌質","required":true,"options":[{"value":"dry","label":"乾燥肌"},{"value":"oily","label":"脂性肌"}]},
	{"id":"nps","type":"nps","title":"友人に勧めたいですか","low_label":"勧めない","high_label":"勧めたい"},
	{"id":"comment","type":"text","title":"ご意見"}]}`

func TestSurveyAnsweredThroughItsLinkReachesProfileSegmentAndExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		a := e.seed()
		res, err := e.db.ImportCustomers(ctx, []customer.Record{storetest.Buyer(t, "shop", "", "b@example.jp", "")})
		if err != nil {
			t.Fatal(err)
		}
		b := res.CustomerIDs[0]
		marketer := e.key("campaigns:send", "reports:read", "customers:read", "pii:read")
		code, sv := e.call(nil, "POST", "/api/v1/surveys", marketer, surveyJSON, nil)
		if code != 201 {
			t.Fatalf("create: %d %v", code, sv)
		}
		sid := int64(sv["id"].(float64))
		if code, _ := e.call(nil, "POST", "/api/v1/surveys", e.key("reports:read"), surveyJSON, nil); code != 403 {
			t.Errorf("create without campaigns:send: %d", code)
		}
		code, links := e.call(nil, "POST", "/api/v1/surveys/"+itoa(sid)+"/links", marketer, map[string]any{"customer_ids": []int64{a, b}, "channel": "email"}, nil)
		if code != 200 {
			t.Fatalf("links: %d %v", code, links)
		}
		ls := links["links"].([]any)
		linkA := ls[0].(map[string]any)["url"].(string)
		pathA := strings.TrimPrefix(linkA, e.srv.URL)
		if !strings.HasPrefix(pathA, "/s/") {
			t.Fatalf("link %s", linkA)
		}
		// A segment of dry-skinned detractors, made before anyone answered.
		segKey := e.key("segments:write", "customers:read")
		code, seg := e.call(nil, "POST", "/api/v1/segments", segKey, map[string]any{"name": "乾燥肌の批判者", "condition": map[string]any{"all": []any{
			map[string]any{"field": "survey_answer", "survey_id": sid, "question": "skin", "op": "has", "value": "dry"},
			map[string]any{"field": "nps_category", "op": "=", "value": "detractor"}}}}, nil)
		if code != 201 {
			t.Fatalf("segment: %d %v", code, seg)
		}
		segID := int64(seg["id"].(float64))
		if code, out := e.call(nil, "POST", "/api/v1/segments", segKey, map[string]any{"name": "x", "condition": map[string]any{
			"field": "survey_answer", "survey_id": sid, "op": "has", "value": "dry"}}, nil); code != 400 || out["error"].(map[string]any)["field"] != "condition.question" {
			t.Errorf("survey_answer without question: %d %v", code, out)
		}

		// The answer page: Japanese, no login, a form token.
		code, html := e.page("GET", pathA, nil, nil)
		if code != 200 || !strings.Contains(html, "お肌のアンケート") || !strings.Contains(html, "乾燥肌") || !strings.Contains(html, `name="viewport"`) {
			t.Fatalf("page %d:\n%s", code, html)
		}
		m := formTokenRE.FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("no form token:\n%s", html)
		}
		form := url.Values{"form_token": {m[1]}, "q_skin": {"dry"}, "q_nps": {"4"}, "q_comment": {"=HYPERLINK(\"http://evil\")"}}
		// Another site's page cannot post it, nor can a form without the token.
		if code, _ := e.page("POST", pathA, form, map[string]string{"Origin": "https://evil.example"}); code != 403 {
			t.Errorf("cross-site post: %d", code)
		}
		noToken := url.Values{"q_skin": {"dry"}}
		if code, _ := e.page("POST", pathA, noToken, nil); code != 403 {
			t.Errorf("post without form token: %d", code)
		}
		missing := url.Values{"form_token": {m[1]}, "q_nps": {"4"}}
		if code, body := e.page("POST", pathA, missing, map[string]string{"Origin": e.srv.URL}); code != 400 || !strings.Contains(body, "「肌質」にお答えください") {
			t.Errorf("missing required answer: %d\n%s", code, body)
		}
		code, body := e.page("POST", pathA, form, map[string]string{"Origin": e.srv.URL})
		if code != 200 || !strings.Contains(body, "ありがとうございました！") {
			t.Fatalf("submit: %d\n%s", code, body)
		}
		// A forged or other-survey link finds nothing.
		if code, _ := e.page("GET", pathA+"x", nil, nil); code != 404 {
			t.Errorf("tampered link: %d", code)
		}

		// On the profile and the timeline.
		code, prof := e.call(nil, "GET", "/api/v1/customers/"+itoa(a)+"/surveys", marketer, nil, nil)
		rs := prof["responses"].([]any)
		if code != 200 || len(rs) != 1 || rs[0].(map[string]any)["answers"].([]any)[0].(map[string]any)["choices"].([]any)[0] != "dry" {
			t.Fatalf("profile responses: %d %v", code, prof)
		}
		_, v := e.call(nil, "GET", "/api/v1/customers/"+itoa(a), marketer, nil, nil)
		found := false
		for _, it := range v["timeline"].([]any) {
			found = found || it.(map[string]any)["kind"] == "survey"
		}
		if !found {
			t.Errorf("no survey on the timeline: %v", v["timeline"])
		}
		// In the segment's count, once the change feed has run (as the
		// engine does in serve).
		for {
			cs, err := e.db.ClaimChanged(ctx, 100, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) == 0 {
				break
			}
			ids := make([]int64, len(cs))
			for i, c := range cs {
				ids[i] = c.CustomerID
			}
			if _, err := e.db.RefreshSegmentsFor(ctx, ids); err != nil {
				t.Fatal(err)
			}
			if err := e.db.DoneChanged(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		code, cntSeg := e.call(nil, "GET", "/api/v1/segments/"+itoa(segID)+"/count", segKey, nil, nil)
		if code != 200 || cntSeg["count"].(float64) != 1 {
			t.Fatalf("segment count after the answer: %d %v", code, cntSeg)
		}
		// The same through the store-side preview.
		cond := map[string]any{"conditions": []map[string]any{
			{"field": "survey_answer", "survey_id": sid, "question": "skin", "value": "dry", "op": "has"},
			{"field": "nps_category", "op": "=", "value": "detractor"}}}
		code, cnt := e.call(nil, "POST", "/api/v1/segments/voice-preview", marketer, cond, nil)
		if code != 200 || cnt["count"].(float64) != 1 || cnt["customer_ids"].([]any)[0].(float64) != float64(a) {
			t.Fatalf("segment: %d %v", code, cnt)
		}
		// Results: one of two invited answered; the free text is masked
		// without pii:read.
		code, r := e.call(nil, "GET", "/api/v1/surveys/"+itoa(sid)+"/results", marketer, nil, nil)
		if code != 200 || r["response_rate"].(float64) != 0.5 || r["reached"].(float64) != 2 {
			t.Fatalf("results: %d %v", code, r)
		}
		_, r = e.call(nil, "GET", "/api/v1/surveys/"+itoa(sid)+"/results", e.key("reports:read"), nil, nil)
		text := r["questions"].([]any)[2].(map[string]any)["texts"].([]any)[0].(map[string]any)["text"]
		if text != "***" {
			t.Errorf("text for a caller without pii:read: %v", text)
		}
		// CSV export needs customers:export and escapes formulas.
		if code, _ := e.call(nil, "GET", "/api/v1/surveys/"+itoa(sid)+"/export", marketer, nil, nil); code != 403 {
			t.Errorf("export without customers:export: %d", code)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/surveys/"+itoa(sid)+"/export", nil)
		req.Header.Set("Authorization", "Bearer "+e.key("customers:export"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil || len(rows) != 2 || rows[1][2] != itoa(a) || rows[1][4] != "乾燥肌" || rows[1][6] != `'=HYPERLINK("http://evil")` {
			t.Fatalf("export: %v %v", rows, err)
		}
	})
}

func TestSurveyJSONEndpointsForTheTag(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		a := e.seed()
		marketer := e.key("campaigns:send", "reports:read")
		_, sv := e.call(nil, "POST", "/api/v1/surveys", marketer, surveyJSON, nil)
		sid, key := int64(sv["id"].(float64)), sv["public_key"].(string)
		_, links := e.call(nil, "POST", "/api/v1/surveys/"+itoa(sid)+"/links", marketer, map[string]any{"customer_ids": []int64{a}}, nil)
		token := strings.TrimPrefix(links["links"].([]any)[0].(map[string]any)["url"].(string), e.srv.URL+"/s/")
		// Without a token a survey that takes no anonymous answers stays hidden.
		if code, _ := e.call(nil, "GET", "/api/v1/public/surveys/"+key, "", nil, nil); code != 404 {
			t.Errorf("anonymous view: %d", code)
		}
		code, got := e.call(nil, "GET", "/api/v1/public/surveys/"+key+"?token="+url.QueryEscape(token), "", nil, nil)
		if code != 200 || got["title"] != "お肌のアンケート" || got["accepting"] != true {
			t.Fatalf("view: %d %v", code, got)
		}
		body := `{"token":"` + token + `","answers":{"skin":["oily"],"nps":["10"]}}`
		code, got = e.call(nil, "POST", "/api/v1/public/surveys/"+key+"/responses", "", body, map[string]string{"Content-Type": "text/plain"})
		if code != 200 || got["ok"] != true {
			t.Fatalf("answer: %d %v", code, got)
		}
		if code, _ := e.call(nil, "POST", "/api/v1/public/surveys/"+key+"/responses", "", `{"answers":{"skin":["dry"]}}`, nil); code != 403 {
			t.Errorf("anonymous answer to a survey that takes none: %d", code)
		}
		if code, _ := e.call(nil, "POST", "/api/v1/public/surveys/"+key+"/responses", "", `{"token":"forged.x","answers":{"skin":["dry"]}}`, nil); code != 401 {
			t.Errorf("forged token: %d", code)
		}
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/api/v1/public/surveys/"+key+"/responses", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
		}
		rs, err := e.db.CustomerSurveyResponses(ctx, a)
		if err != nil || len(rs) != 1 || rs[0].Channel != "onsite" {
			t.Errorf("stored: %+v %v", rs, err)
		}
	})
}

func TestSubscriptionEventsAndTriggersOnTheDevClock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		c := clock.NewManual(storetest.T0, true)
		db := open(t, c)
		api := enishihttp.New(enishihttp.Config{Store: db, Clock: c, DevClock: c})
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)
		e := &env{t: t, db: db, srv: srv, api: api}
		importer := e.key("imports:write")
		reader := e.key("customers:read", "reports:read")
		admin := e.key("settings:write")
		created := `{"source":"cart","id":"evt-1","type":"subscription.created","created_at":"2026-04-01T12:00:00+09:00","data":{
			"subscription_id":"S-1","customer":{"email":"teiki@example.jp"},"sku":"SP-001","product_name":"乳酸菌サプリ","cycle":"1ヶ月",
			"price":2916,"started_at":"2026-03-08T10:00:00+09:00","next_delivery_at":"2026-04-08T10:00:00+09:00","deliveries":1}}`
		for i := 0; i < 2; i++ { // a retry of the same event changes nothing
			code, res := e.call(nil, "POST", "/api/v1/subscriptions/events", importer, created, nil)
			if code != 200 || (i == 0 && res["inserted"].(float64) != 1) || (i == 1 && res["unchanged"].(float64) != 1) {
				t.Fatalf("event %d: %d %v", i, code, res)
			}
		}
		if code, res := e.call(nil, "POST", "/api/v1/subscriptions/events", importer, strings.Replace(created, `"1ヶ月"`, `"sometimes"`, 1), nil); code != 400 || res["error"].(map[string]any)["field"] != "data.cycle" {
			t.Errorf("bad cycle: %d %v", code, res)
		}
		due := func() []any {
			t.Helper()
			code, res := e.call(nil, "GET", "/api/v1/subscriptions/due?days=3", reader, nil, nil)
			if code != 200 {
				t.Fatalf("due: %d %v", code, res)
			}
			return res["subscriptions"].([]any)
		}
		if n := len(due()); n != 0 {
			t.Errorf("due 3 days before 4/8 at 4/1: %d", n)
		}
		// Move the dev clock four days: 4/5 is three days before 4/8.
		if code, _ := e.call(nil, "POST", "/api/v1/dev/clock", admin, map[string]string{"advance": "96h"}, nil); code != 200 {
			t.Fatalf("dev clock: %d", code)
		}
		if got := due(); len(got) != 1 || got[0].(map[string]any)["external_id"] != "S-1" {
			t.Errorf("due at 4/5: %v", got)
		}
		cancel := `{"source":"cart","id":"evt-2","type":"subscription.cancelled","created_at":"2026-04-05T12:00:00+09:00","data":{"subscription_id":"S-1","cancel_reason":"商品が余っている"}}`
		if code, _ := e.call(nil, "POST", "/api/v1/subscriptions/events", importer, cancel, nil); code != 200 {
			t.Fatalf("cancel: %d", code)
		}
		if n := len(due()); n != 0 {
			t.Errorf("a cancelled contract is due: %d", n)
		}
		e.call(nil, "POST", "/api/v1/dev/clock", admin, map[string]string{"advance": "168h"}, nil)
		code, res := e.call(nil, "GET", "/api/v1/subscriptions/cancelled?days_ago=7", reader, nil, nil)
		if code != 200 || res["count"].(float64) != 1 {
			t.Errorf("cancelled 7 days ago: %d %v", code, res)
		}
		code, res = e.call(nil, "GET", "/api/v1/reports/subscription-cancellations?from=2026-04-01", reader, nil, nil)
		if code != 200 || res["cancellations"].(float64) != 1 || res["reasons"].([]any)[0].(map[string]any)["reason"] != "商品が余っている" {
			t.Errorf("cancellation report: %d %v", code, res)
		}
		code, res = e.call(nil, "GET", "/api/v1/reports/subscription-retention?by=product", reader, nil, nil)
		if code != 200 || res["total"].(map[string]any)["subscriptions"].(float64) != 1 || res["by"] != "product" {
			t.Errorf("retention report: %d %v", code, res)
		}
		if code, _ := e.call(nil, "GET", "/api/v1/reports/subscription-retention?by=colour", reader, nil, nil); code != 400 {
			t.Errorf("bad by: %d", code)
		}
		if code, _ := e.call(nil, "GET", "/api/v1/reports/subscription-mrr?from=2026-01", reader, nil, nil); code != 200 {
			t.Errorf("mrr: %d", code)
		}
		if code, _ := e.call(nil, "GET", "/api/v1/subscriptions/due", reader, nil, nil); code != 400 {
			t.Errorf("due without days: %d", code)
		}
	})
}

func TestInquiryDeskAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()
		qid, err := e.db.AddInquiry(ctx, customer.Inquiry{CustomerID: id, Channel: "line", Subject: "解約について", Body: "電話番号は090-1234-5678です"})
		if err != nil {
			t.Fatal(err)
		}
		support := e.key("customers:read", "customers:write", "pii:read")
		analyst := e.key("customers:read")
		path := "/api/v1/inquiries/" + itoa(qid)
		if code, _ := e.call(nil, "PUT", path+"/tags", support, map[string]any{"tags": []string{"解約相談"}}, nil); code != 200 {
			t.Fatalf("tags: %d", code)
		}
		if code, res := e.call(nil, "PATCH", path, support, map[string]any{"assignee": "cs@example.jp"}, nil); code != 200 || res["assignee"] != "cs@example.jp" {
			t.Fatalf("assign: %d %v", code, res)
		}
		if code, _ := e.call(nil, "POST", path+"/replies", support, map[string]any{"body": "ご連絡ありがとうございます。", "channel": "line"}, nil); code != 201 {
			t.Fatalf("reply: %d", code)
		}
		code, res := e.call(nil, "GET", "/api/v1/inquiries?status=unresolved&tag=解約相談", analyst, nil, nil)
		list := res["inquiries"].([]any)
		if code != 200 || len(list) != 1 {
			t.Fatalf("list: %d %v", code, res)
		}
		got := list[0].(map[string]any)
		if got["status"] != "pending" || got["body"] != "***" || strings.Contains(got["customer_name"].(string), "太郎") {
			t.Errorf("masked list row %v", got)
		}
		_, res = e.call(nil, "GET", path, support, nil, nil)
		if res["body"] != "電話番号は090-1234-5678です" || len(res["replies"].([]any)) != 1 {
			t.Errorf("detail %v", res)
		}
		if code, _ := e.call(nil, "PATCH", path, analyst, map[string]any{"status": "closed"}, nil); code != 403 {
			t.Errorf("close without customers:write: %d", code)
		}
		if code, res := e.call(nil, "PATCH", path, support, map[string]any{"status": "solved"}, nil); code != 400 || res["error"].(map[string]any)["field"] != "status" {
			t.Errorf("bad status: %d %v", code, res)
		}
		_, res = e.call(nil, "GET", "/api/v1/inquiries/settings", analyst, nil, nil)
		if res["exclude_from_campaigns"] != true {
			t.Errorf("default settings %v", res)
		}
		ex, err := e.db.ExcludedFromCampaigns(ctx, []int64{id})
		if err != nil || !ex[id] {
			t.Errorf("excluded %v %v", ex, err)
		}
		if code, _ := e.call(nil, "PATCH", path, support, map[string]any{"status": "closed"}, nil); code != 200 {
			t.Errorf("close: %d", code)
		}
		if ex, _ := e.db.ExcludedFromCampaigns(ctx, []int64{id}); ex[id] {
			t.Error("still excluded after closing")
		}
		// The desk's actions are in the audit log, without what was written.
		entries, err := e.db.AuditEntries(ctx, store.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, a := range entries {
			seen[a.Action] = true
			if strings.Contains(a.Detail, "ありがとう") {
				t.Errorf("audit detail holds the reply: %+v", a)
			}
		}
		for _, want := range []string{"inquiry.tags", "inquiry.update", "inquiry.reply"} {
			if !seen[want] {
				t.Errorf("audit log lacks %s: %v", want, seen)
			}
		}
	})
}

func TestSubscriptionAndReviewWebhooksThroughTheInbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		if err := e.api.Ingest().Secrets().SetSecret(ctx, ingest.SecretGeneric("cart"), "whsec_cart"); err != nil {
			t.Fatal(err)
		}
		if err := e.api.Ingest().Secrets().SetSecret(ctx, ingest.SecretShopifyApp, shopifySecret); err != nil {
			t.Fatal(err)
		}
		send := func(body string) (int, map[string]any) {
			t.Helper()
			b := []byte(body)
			code, _, out := e.post("/webhooks/generic/cart", b, map[string]string{"X-Enishi-Signature": ingest.SignGeneric("whsec_cart", storetest.T0, b)})
			return code, out
		}
		created := `{"id":"s-1","type":"subscription.created","created_at":"2026-04-01T12:00:00+09:00","data":{"subscription_id":"S-9",
			"customer":{"id":"77","email":"kana@example.jp"},"sku":"SP-001","product_name":"乳酸菌サプリ","cycle":{"unit":"month","count":1},
			"price":2916,"started_at":"2026-03-01T10:00:00+09:00","deliveries":1}}`
		if code, out := send(created); code != 200 {
			t.Fatalf("created: %d %v", code, out)
		}
		// Refused before it is queued: a bad cycle, an unknown event type.
		if code, out := send(strings.Replace(strings.Replace(created, `"s-1"`, `"s-2"`, 1), `"month"`, `"year"`, 1)); code != 400 {
			t.Errorf("bad cycle: %d %v", code, out)
		}
		if code, _ := send(`{"id":"s-3","type":"subscription.exploded","created_at":"2026-04-01T12:00:00+09:00","data":{"subscription_id":"S-9"}}`); code != 400 {
			t.Errorf("unknown type: %d", code)
		}
		skipped := `{"id":"s-4","type":"subscription.skipped","data":{"subscription_id":"S-9"}}`
		review := `{"id":"r-1","type":"review.created","created_at":"2026-04-01T12:00:00+09:00","data":{"review_id":"RV-1","sku":"SP-001",
			"rating":5,"title":"最高","body":"続けています","reviewed_at":"2026-03-30T20:00:00+09:00","customer":{"email":"kana@example.jp"}}}`
		for _, b := range []string{skipped, review} {
			if code, out := send(b); code != 200 {
				t.Fatalf("%s: %d %v", b, code, out)
			}
		}
		// The contract's origin order came by webhook earlier: filed as #9001.
		if err := e.db.PutShopifyOrder(ctx, "enishi-test.myshopify.com", "9001", "#9001", "4242"); err != nil {
			t.Fatal(err)
		}
		origin := storetest.Order("shopify", "#9001", storetest.T0.AddDate(0, 0, -1), storetest.Buyer(t, "shopify", "4242", "", ""), "SK-005", 1, 3762)
		if _, err := e.db.ImportOrders(ctx, []order.Order{origin}); err != nil {
			t.Fatal(err)
		}
		shopifyBody := []byte(`{"id":555,"customer_id":4242,"status":"active","origin_order_id":9001,
			"delivery_policy":{"interval":"week","interval_count":4},"billing_policy":{"interval":"week","interval_count":4},"currency_code":"JPY"}`)
		if code, out := e.shopify("subscription_contracts/create", "w-1", shopifyBody); code != 200 {
			t.Fatalf("shopify: %d %v", code, out)
		}
		e.drain()
		list, total, err := e.db.ListSubscriptions(ctx, store.SubscriptionQuery{})
		if err != nil || total != 2 {
			t.Fatalf("contracts %d %v", total, err)
		}
		var kana int64
		for _, c := range list {
			switch c.ExternalID {
			case "S-9":
				kana = c.CustomerID
				if c.Skips != 1 || c.Status != "skipped" || c.Source != "cart" {
					t.Errorf("S-9 %+v", c)
				}
			case "555":
				if c.Source != "shopify" || c.Cycle.Count != 28 || c.SKU != "SK-005" || c.Price != 3762 || c.Deliveries != 1 {
					t.Errorf("shopify contract %+v", c)
				}
			}
		}
		rs, _, err := e.db.ListReviews(ctx, store.ReviewQuery{SKU: "SP-001"})
		if err != nil || len(rs) != 1 || rs[0].CustomerID != kana || kana == 0 {
			t.Errorf("reviews %+v %v", rs, err)
		}
	})
}

func TestSurveyLinkInAMessageOpensTheCustomersAnswerPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0009", "hana@example.com", true)
		code, sv := ce.call(nil, "POST", "/api/v1/surveys", ce.admin, surveyJSON, nil)
		if code != 201 {
			t.Fatalf("survey: %d %v", code, sv)
		}
		sid := int64(sv["id"].(float64))
		code, tpl := ce.call(nil, "POST", "/api/v1/templates", ce.admin, map[string]any{"name": "アンケートのお願い", "purpose": "marketing", "variants": []any{
			map[string]any{"channel": "email", "subject": "アンケートのお願い", "blocks": []any{
				map[string]any{"type": "text", "text": "{{ customer.honorific_name }}、ご意見をお聞かせください。"},
				map[string]any{"type": "button", "text": "アンケートに答える", "url": "{{ survey.url }}"}}}}}, nil)
		if code != 201 {
			t.Fatalf("template: %d %v", code, tpl)
		}
		_, err := ce.svc.Send(ctx, message.Outgoing{Key: "survey:" + itoa(sid) + ":" + itoa(cust), CustomerID: cust, Channel: message.Email,
			Purpose: message.Marketing, TemplateID: int64(tpl["id"].(float64)), Source: "campaign:7", Vars: map[string]any{"survey_id": sid}})
		if err != nil {
			t.Fatal(err)
		}
		msgs := ce.smtp.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d mails", len(msgs))
		}
		// The button links to the customer's own answer page (enishi's own
		// links are not click-tracked).
		page := regexp.MustCompile(regexp.QuoteMeta(ce.srv.URL) + `/s/[A-Za-z0-9_\-.]+`).FindString(decodedBody(t, msgs[0].Data))
		if page == "" {
			t.Fatalf("no link to the answer page in:\n%s", decodedBody(t, msgs[0].Data))
		}
		code, html := ce.page("GET", strings.TrimPrefix(page, ce.srv.URL), nil, nil)
		if code != 200 || !strings.Contains(html, "お肌のアンケート") {
			t.Fatalf("answer page %s: %d", page, code)
		}
		r, err := ce.db.SurveyResults(ctx, sid, 0)
		if err != nil || r.Reached != 1 {
			t.Errorf("the customer was not counted as reached: %+v %v", r, err)
		}
	})
}

func TestOpenInquiryKeepsTheCustomerOutOfMarketing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0010", "jiro@example.com", true)
		qid, err := ce.db.AddInquiry(ctx, customer.Inquiry{CustomerID: cust, Channel: "email", Subject: "届いた商品が違います"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ce.send("campaign:5:a", cust, message.Email, message.Marketing)
		var be *channel.BlockedError
		if !errors.As(err, &be) || be.Reason != channel.ReasonOpenInquiry {
			t.Fatalf("marketing to a customer with an open inquiry = %v", err)
		}
		// Service messages still go out; closing the inquiry lets marketing through.
		if _, err := ce.send("order:1:shipped", cust, message.Email, message.Transactional); err != nil {
			t.Fatalf("transactional: %v", err)
		}
		closed := customer.InquiryClosed
		if _, err := ce.db.UpdateInquiry(ctx, qid, &closed, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := ce.send("campaign:5:b", cust, message.Email, message.Marketing); err != nil {
			t.Fatalf("after closing: %v", err)
		}
		if n := len(ce.smtp.Messages()); n != 2 {
			t.Errorf("%d mails, want the service mail and the second campaign", n)
		}
	})
}

func TestReviewRequestLinksTheLastPurchasesReviewPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0011", "saburo@example.com", true)
		if err := ce.db.SetSetting(ctx, review.SettingRequestURL, "https://shop.example.com/products/{sku}/reviews/new?order={order_id}"); err != nil {
			t.Fatal(err)
		}
		code, tpl := ce.call(nil, "POST", "/api/v1/templates", ce.admin, map[string]any{"name": "レビュー依頼", "purpose": "marketing", "variants": []any{
			map[string]any{"channel": "email", "subject": "ご感想をお聞かせください", "blocks": []any{
				map[string]any{"type": "button", "text": "レビューを書く", "url": "{{ review_url }}"}}}}}, nil)
		if code != 201 {
			t.Fatalf("template: %d %v", code, tpl)
		}
		if _, err := ce.svc.Send(ctx, message.Outgoing{Key: "review:" + itoa(cust), CustomerID: cust, Channel: message.Email,
			Purpose: message.Marketing, TemplateID: int64(tpl["id"].(float64)), Source: "journey:1:step:review"}); err != nil {
			t.Fatal(err)
		}
		// The button is click-tracked: its signed target is the review page.
		body := decodedBody(t, ce.smtp.Messages()[0].Data)
		var targets []string
		for _, m := range regexp.MustCompile(regexp.QuoteMeta(ce.srv.URL)+`/t/c/([A-Za-z0-9_\-]+)\.`).FindAllStringSubmatch(body, -1) {
			raw, err := base64.RawURLEncoding.DecodeString(m[1])
			if err != nil {
				t.Fatal(err)
			}
			_, n := binary.Uvarint(raw) // the message id, then the target
			targets = append(targets, string(raw[n:]))
		}
		found := false
		for _, u := range targets {
			found = found || strings.HasPrefix(u, "https://shop.example.com/products/TEA-100/reviews/new?order=o-c0011")
		}
		if !found {
			t.Fatalf("no link to the review page among %v", targets)
		}
	})
}

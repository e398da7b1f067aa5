package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx0 = context.Background()

// openDB opens the database a test's CLI runs used.
func openDB(t *testing.T, db []string) *store.DB {
	t.Helper()
	var st *store.DB
	var err error
	if db[0] == "--db" {
		st, err = sqlite.Open(db[1], clock.NewManual(storetest.T0, true))
	} else {
		st, err = postgres.Open(ctx0, db[1], clock.NewManual(storetest.T0, true))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx0); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSubscriptionCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			csv := write(t, "subs.csv", "subscription_id,email,sku,product_name,plan,cycle,price,status,started_at,next_delivery_at,deliveries,cancelled_at,cancel_reason\n"+
				"S1,a@example.jp,SP-001,乳酸菌サプリ,定期便,1ヶ月,2916,有効,2025-12-01,2026-04-04,4,,\n"+
				"S2,b@example.jp,SP-001,乳酸菌サプリ,定期便,1ヶ月,2916,解約,2026-01-10,,1,2026-02-01,商品が余っている\n"+
				"S3,c@example.jp,SK-005,ジェル,初回限定,45日,3762,有効,2026-02-20,2026-04-06,2,,\n")
			code, out, errOut := run(t, nil, append([]string{"import", "subscriptions", csv}, db...)...)
			if code != ExitOK || !strings.Contains(out, "3 subscriptions imported") {
				t.Fatalf("import: %d %s %s", code, out, errOut)
			}
			code, out, _ = run(t, nil, append([]string{"report", "subscription-retention", "--by", "plan", "--deliveries", "4"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "継続率") || !strings.Contains(out, "初回限定") || !strings.Contains(out, "2回") {
				t.Fatalf("retention: %d\n%s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"report", "subscription-cancellations", "--from", "2026-01-01", "--json"}, db...)...)
			var cr map[string]any
			if code != ExitOK || json.Unmarshal([]byte(out), &cr) != nil || cr["cancellations"].(float64) != 1 {
				t.Fatalf("cancellations: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"subscriptions", "due", "--days", "3"}, db...)...)
			if code != ExitOK || !strings.Contains(out, `"external_id": "S1"`) || strings.Contains(out, "S3") {
				t.Fatalf("due: %d %s", code, out)
			}
			ev := write(t, "ev.json", `{"source":"enishi","id":"e1","type":"subscription.paused","created_at":"2026-04-01T10:00:00+09:00","data":{"subscription_id":"S3"}}`)
			code, out, errOut = run(t, nil, append([]string{"subscriptions", "event", ev}, db...)...)
			if code != ExitOK || !strings.Contains(out, "1 updated") {
				t.Fatalf("event: %d %s %s", code, out, errOut)
			}
			code, out, _ = run(t, nil, append([]string{"subscriptions", "list", "--status", "paused"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "S3") || strings.Contains(out, "S1") {
				t.Fatalf("list paused: %d %s", code, out)
			}
			code, _, errOut = run(t, nil, append([]string{"subscriptions", "risk", "--refresh"}, db...)...)
			if code != ExitFailure || !strings.Contains(errOut, "not enough subscription history") {
				t.Fatalf("risk on 3 contracts: %d %s", code, errOut)
			}
			if code, _, _ := run(t, nil, append([]string{"subscriptions", "nonsense"}, db...)...); code != ExitUsage {
				t.Fatalf("unknown subcommand: %d", code)
			}
		})
	}
}

func TestSurveyAndInquiryCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			st := openDB(t, db)
			res, err := st.ImportCustomers(ctx0, []customer.Record{storetest.Buyer(t, "shop", "", "a@example.jp", "")})
			if err != nil {
				t.Fatal(err)
			}
			cid := res.CustomerIDs[0]
			def := write(t, "survey.json", `{"title":"満足度調査","status":"open","questions":[{"id":"nps","type":"nps","title":"おすすめ度","required":true},{"id":"why","type":"text","title":"理由"}]}`)
			code, out, errOut := run(t, nil, append([]string{"survey", "create", def}, db...)...)
			if code != ExitOK || !strings.Contains(out, "survey 1 ") {
				t.Fatalf("create: %d %s %s", code, out, errOut)
			}
			code, out, _ = run(t, nil, append([]string{"survey", "link", "1", itoa(cid), "--base-url", "https://crm.example.jp"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "https://crm.example.jp/s/") {
				t.Fatalf("link: %d %s", code, out)
			}
			if _, err := st.SubmitSurveyResponse(ctx0, store.SurveySubmission{SurveyID: 1, CustomerID: cid, Channel: "link",
				Answers: map[string][]string{"nps": {"9"}, "why": {"+81 と書く"}}}); err != nil {
				t.Fatal(err)
			}
			code, out, _ = run(t, nil, append([]string{"report", "survey-results", "--survey", "1"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "NPS +100.0") || !strings.Contains(out, "response rate 100.0%") {
				t.Fatalf("results: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"survey", "export", "1"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "nps: おすすめ度") || !strings.Contains(out, "'+81 と書く") {
				t.Fatalf("export: %d %s", code, out)
			}
			if code, out, _ = run(t, nil, append([]string{"survey", "close", "1"}, db...)...); code != ExitOK || !strings.Contains(out, "closed") {
				t.Fatalf("close: %d %s", code, out)
			}

			qid, err := st.AddInquiry(ctx0, customer.Inquiry{CustomerID: cid, Channel: "email", Subject: "定期便の解約", Body: "止めたい"})
			if err != nil {
				t.Fatal(err)
			}
			q := itoa(qid)
			if code, _, e := run(t, nil, append([]string{"inquiry", "tag", q, "解約相談"}, db...)...); code != ExitOK {
				t.Fatalf("tag: %d %s", code, e)
			}
			if code, out, _ = run(t, nil, append([]string{"inquiry", "reply", q, "--body", "承知しました"}, db...)...); code != ExitOK || !strings.Contains(out, "pending") {
				t.Fatalf("reply: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"inquiry", "list", "--status", "unresolved", "--tag", "解約相談"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "定期便の解約") || !strings.Contains(out, "1 of 1") {
				t.Fatalf("list: %d %s", code, out)
			}
			if code, out, _ = run(t, nil, append([]string{"inquiry", "set", q, "--status", "closed", "--assignee", "cs@example.jp"}, db...)...); code != ExitOK || !strings.Contains(out, "closed, assignee cs@example.jp") {
				t.Fatalf("set: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"inquiry", "settings", "--exclude-from-campaigns", "false"}, db...)...)
			if code != ExitOK || !strings.Contains(out, `"exclude_from_campaigns": false`) {
				t.Fatalf("settings: %d %s", code, out)
			}
		})
	}
}

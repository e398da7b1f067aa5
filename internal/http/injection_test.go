package http_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/importer"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestHostileTextThroughImportAndAPI puts hostile strings in every text
// column of an order import and of the API's write bodies, then reads them
// back through the API: they come back verbatim, JSON never carries them
// as live HTML, searching for them is plain text, and no table was harmed.
// (TestHostileTextInMail and the UI's page tests reuse storetest.HostileStrings.)
func TestHostileTextThroughImportAndAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		cols := []string{"order_id", "customer_id", "email", "last_name", "first_name", "last_name_kana", "first_name_kana", "city", "address1", "address2",
			"acq_source", "acq_medium", "acq_campaign", "acq_referrer", "tags", "ordered_at", "channel", "shop_id", "coupon_code", "total",
			"sku", "product_name", "category", "quantity", "unit_price", "attr.note"}
		var buf bytes.Buffer
		buf.WriteString(strings.Join(cols, ",") + "\n")
		q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
		for i, h := range storetest.HostileStrings {
			row := []string{}
			for _, c := range cols {
				switch c {
				case "order_id", "customer_id", "sku":
					row = append(row, q(fmt.Sprintf("%d%s", i, h)))
				case "email":
					row = append(row, fmt.Sprintf("h%d@example.com", i))
				case "ordered_at":
					row = append(row, "2026-03-01")
				case "total", "unit_price":
					row = append(row, "1000")
				case "quantity":
					row = append(row, "1")
				case "tags":
					row = append(row, q(strings.ReplaceAll(h, ";", "")))
				default:
					row = append(row, q(h))
				}
			}
			buf.WriteString(strings.Join(row, ",") + "\n")
		}
		rep, err := importer.Run(ctx, e.db, &buf, importer.Options{Kind: importer.Orders, Format: "enishi", Encoding: "utf-8"})
		if err != nil || rep.RejectedRows != 0 || rep.Inserted != len(storetest.HostileStrings) {
			t.Fatalf("import: %+v %v", rep, err)
		}
		before, _ := e.db.Stats(ctx)
		key := e.key("customers:read", "customers:write", "pii:read")
		for i, h := range storetest.HostileStrings {
			// Find the customer by a hostile search string.
			code, list := e.call(nil, "GET", "/api/v1/customers?q="+url.QueryEscape(fmt.Sprintf("h%d@example.com", i)), key, nil, nil)
			if code != 200 || list["total"] != 1.0 {
				t.Fatalf("search %d: %d %v", i, code, list)
			}
			id := int64(list["customers"].([]any)[0].(map[string]any)["id"].(float64))
			for _, body := range []map[string]any{{"body": h}, {"subject": h, "body": h, "channel": h, "assignee": h}} {
				path := "/api/v1/customers/" + itoa(id) + "/notes"
				if _, ok := body["subject"]; ok {
					path = "/api/v1/customers/" + itoa(id) + "/inquiries"
				}
				if code, out := e.call(nil, "POST", path, key, body, nil); code != 201 {
					t.Fatalf("write %s: %d %v", path, code, out)
				}
			}
			if code, out := e.call(nil, "POST", "/api/v1/customers/"+itoa(id)+"/tags", key, map[string]any{"tags": []string{h}}, nil); code != 200 {
				t.Fatalf("tags: %d %v", code, out)
			}
			raw := get(t, e, "/api/v1/customers/"+itoa(id), key)
			if bytes.Contains(raw, []byte("<script>")) || bytes.Contains(raw, []byte("<img")) {
				t.Fatalf("JSON carries live HTML: %s", raw)
			}
			_, v := e.call(nil, "GET", "/api/v1/customers/"+itoa(id), key, nil, nil)
			for _, f := range []string{"last_name", "first_name", "city", "address1", "address2", "acq_source", "acq_campaign", "acq_referrer"} {
				if v[f] != h {
					t.Errorf("%s of customer %d = %q, want %q", f, id, v[f], h)
				}
			}
			if v["attributes"].(map[string]any)["note"] != h {
				t.Errorf("attribute = %v", v["attributes"])
			}
			var sawNote, sawInquiry, sawOrder bool
			for _, it := range v["timeline"].([]any) {
				m := it.(map[string]any)
				switch m["kind"] {
				case "note":
					sawNote = sawNote || strings.Contains(fmt.Sprint(m), h)
				case "inquiry":
					sawInquiry = sawInquiry || strings.Contains(fmt.Sprint(m), h)
				case "order":
					sawOrder = sawOrder || m["title"] == fmt.Sprintf("%d%s", i, h)
				}
			}
			if !sawNote || !sawInquiry || !sawOrder {
				t.Errorf("timeline of %d lacks verbatim text (note %v inquiry %v order %v): %v", id, sawNote, sawInquiry, sawOrder, v["timeline"])
			}
			_, orders := e.call(nil, "GET", "/api/v1/customers/"+itoa(id)+"/orders", key, nil, nil)
			o := orders["orders"].([]any)[0].(map[string]any)
			if o["coupon_code"] != h || o["shop_id"] != h || o["lines"].([]any)[0].(map[string]any)["product_name"] != h {
				t.Errorf("order = %v", o)
			}
			// Searching for the hostile text is a plain substring search.
			code, list = e.call(nil, "GET", "/api/v1/customers?q="+url.QueryEscape(h), key, nil, nil)
			if code != 200 {
				t.Fatalf("hostile search: %d %v", code, list)
			}
		}
		after, err := e.db.Stats(ctx)
		if err != nil || after.Customers != before.Customers || after.Orders != before.Orders {
			t.Fatalf("stats %+v → %+v (%v)", before, after, err)
		}
	})
}

func get(t *testing.T, e *env, path, key string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

package http_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestReportsAPIServesTheStoreReportAndGuardsCSV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		cid := e.seed()
		b := storetest.Buyer(t, "shop", "c2", "hana@example.com", "")
		if _, err := e.db.ImportOrders(ctx, []order.Order{
			storetest.Order("shop", "2001", storetest.T0.AddDate(0, 0, -200), b, "SKU-1", 1, 60000, "SKU-2", 1, 1000),
			storetest.Order("shop", "2002", storetest.T0.AddDate(0, 0, -20), b, "SKU-2", 1, 50000),
		}); err != nil {
			t.Fatal(err)
		}
		reader := e.key("reports:read")
		status, got := e.call(nil, "GET", "/api/v1/reports/rfm", reader, nil, nil)
		if status != 200 {
			t.Fatalf("rfm: %d %v", status, got)
		}
		want, err := e.db.RFM(ctx, store.RFMOptions{AsOf: analytics.DayOf(storetest.T0)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wantMap map[string]any
		raw, _ := json.Marshal(want)
		_ = json.Unmarshal(raw, &wantMap)
		gotRaw, _ := json.Marshal(got)
		wantRaw, _ := json.Marshal(wantMap)
		if string(gotRaw) != string(wantRaw) {
			t.Fatalf("API rfm = %s\nstore = %s", gotRaw, wantRaw)
		}
		if got["customers"].(float64) != 2 {
			t.Fatalf("customers = %v", got["customers"])
		}
		// Per-customer CSV lists customers: reports:read alone is not enough.
		if status, _ := e.call(nil, "GET", "/api/v1/reports/rfm?format=csv", reader, nil, nil); status != http.StatusForbidden {
			t.Fatalf("CSV without customers:export: %d", status)
		}
		exporter := e.key("reports:read", "customers:export")
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/reports/rfm?format=csv&window=90", nil)
		req.Header.Set("Authorization", "Bearer "+exporter)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(rows) != 3 ||
			rows[0][0] != "customer_id" || rows[0][7] != "segment" || rows[1][0] != itoa(cid) {
			t.Fatalf("CSV: %d %v %v", resp.StatusCode, rows, err)
		}
		for path, code := range map[string]int{
			"/api/v1/reports/nope":                         404,
			"/api/v1/reports/rfm?bogus=1":                  400,
			"/api/v1/reports/rfm?as-of=yesterday":          400,
			"/api/v1/reports/cohort?metric=profit":         400,
			"/api/v1/reports/cpm?format=csv":               400,
			"/api/v1/reports/kpi?from=2026-01-01":          200,
			"/api/v1/reports/cohort?metric=ltv":            200,
			"/api/v1/reports/basket?min-orders=1":          200,
			"/api/v1/reports/decile":                       200,
			"/api/v1/reports/rfm-movement?from=2025-12-01": 200,
			"/api/v1/reports/replenishment":                200,
			"/api/v1/reports/replenishment-due":            200,
		} {
			key := reader
			if code == 400 && path == "/api/v1/reports/cpm?format=csv" {
				key = exporter
			}
			if status, body := e.call(nil, "GET", path, key, nil, nil); status != code {
				t.Errorf("%s: %d %v, want %d", path, status, body, code)
			}
		}
		if status, _ := e.call(nil, "GET", "/api/v1/reports/rfm", e.key("customers:read"), nil, nil); status != http.StatusForbidden {
			t.Errorf("rfm without reports:read: %d", status)
		}
		status, body := e.call(nil, "GET", "/api/v1/customers/"+itoa(cid)+"/recommendations", e.key("customers:read"), nil, nil)
		if status != 200 || body["recommendations"] == nil {
			t.Errorf("recommendations: %d %v", status, body)
		}
		// Settings: read with reports:read, change with settings:write, validated.
		admin := e.key("settings:write", "reports:read")
		if status, body := e.call(nil, "PUT", "/api/v1/analytics/settings", admin, `{"cpm":{"dormant_days":0,"spend_yen":1,"tenure_days":1}}`, nil); status != 400 {
			t.Errorf("invalid CPM settings: %d %v", status, body)
		}
		if status, body := e.call(nil, "PUT", "/api/v1/analytics/settings", admin, `{"rfm":{"window_days":180}}`, nil); status != 200 {
			t.Errorf("settings: %d %v", status, body)
		}
		if _, got := e.call(nil, "GET", "/api/v1/reports/rfm", reader, nil, nil); got["window_days"].(float64) != 180 {
			t.Errorf("rfm after saving a 180-day window: %v", got["window_days"])
		}
	})
}

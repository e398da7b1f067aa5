package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReportCommandPrintsJSONCSVAndRefreshesScores(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			f := write(t, "orders.csv", "order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\n"+
				"1,C1,a@example.com,山田 太郎,2026-01-05,3000,A,2,1500\n2,C2,b@example.com,佐藤 花子,2026-03-06,80000,B,1,80000\n"+
				"3,C2,b@example.com,佐藤 花子,2026-03-20,40000,B,1,40000\n")
			if code, out, errOut := run(t, nil, append([]string{"import", "orders", f}, db...)...); code != 0 {
				t.Fatalf("import: %s %s", out, errOut)
			}
			code, out, errOut := run(t, nil, append([]string{"report", "rfm", "--json", "--as-of", "2026-04-01"}, db...)...)
			var rep map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep["customers"].(float64) != 2 {
				t.Fatalf("report rfm: %d %s %s", code, out, errOut)
			}
			if segs := rep["segments"].(map[string]any); segs["growing"].(float64) != 1 || segs["new"].(float64) != 0 {
				t.Fatalf("segments = %v", segs)
			}
			code, out, _ = run(t, nil, append([]string{"report", "rfm", "--format", "csv"}, db...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || len(lines) != 3 || lines[0] != "customer_id,recency_days,frequency,monetary,r,f,m,segment" || !strings.HasSuffix(lines[2], ",12,2,120000,5,2,5,growing") {
				t.Fatalf("csv: %d %q", code, out)
			}
			th := write(t, "th.json", `{"recency_days":[10,20,30,40],"frequency":[5,4,3,1],"monetary":[1,1,1,1]}`)
			code, out, _ = run(t, nil, append([]string{"report", "rfm", "--thresholds", th, "--format", "csv"}, db...)...)
			if code != 0 || !strings.Contains(out, ",86,1,3000,1,2,5,") {
				t.Fatalf("custom thresholds: %d %q", code, out)
			}
			if code, _, errOut := run(t, nil, append([]string{"report", "cpm", "--format", "csv"}, db...)...); code != ExitFailure || !strings.Contains(errOut, "format") {
				t.Fatalf("cpm csv: %d %s", code, errOut)
			}
			if code, _, _ := run(t, nil, append([]string{"report", "nope"}, db...)...); code != ExitUsage {
				t.Fatalf("unknown report: %d", code)
			}
			code, out, errOut = run(t, nil, append([]string{"scores", "refresh"}, db...)...)
			if code != 0 || !strings.Contains(out, "full (2 customers recomputed") {
				t.Fatalf("scores refresh: %d %q %q", code, out, errOut)
			}
			code, out, _ = run(t, nil, append([]string{"report", "cpm"}, db...)...)
			if code != 0 || !strings.Contains(out, "first_active") || !strings.Contains(out, "初回現役") {
				t.Fatalf("cpm text: %d %q", code, out)
			}
		})
	}
}

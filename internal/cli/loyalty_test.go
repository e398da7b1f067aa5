package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLoyaltyCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			cmd := func(want int, args ...string) string {
				t.Helper()
				code, out, errOut := run(t, nil, append(args, db...)...)
				if code != want {
					t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
				}
				return out + errOut
			}
			orders := write(t, "orders.csv", "order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\n"+
				"1,C1,a@example.com,山田 太郎,2026-03-05,120000,A,1,120000\n2,C2,b@example.com,佐藤 花子,2026-03-06,8000,B,1,8000\n")
			cmd(ExitOK, "import", "orders", orders)
			if out := cmd(ExitOK, "points", "balance", "1"); !strings.Contains(out, "1,200 points") || !strings.Contains(out, "valid through 2027-03-05") {
				t.Fatalf("balance: %s", out)
			}
			if out := cmd(ExitOK, "points", "adjust", "1", "-200", "--reason", "修正"); !strings.Contains(out, "by -200 points; balance 1,000") {
				t.Fatalf("adjust: %s", out)
			}
			cmd(ExitOK, "points", "adjust", "2", "500", "--reason", "お詫び", "--key", "ticket-1", "--expires", "2026-12-31")
			if out := cmd(ExitOK, "points", "adjust", "2", "500", "--reason", "お詫び", "--key", "ticket-1"); !strings.Contains(out, "already adjusted") {
				t.Fatalf("replayed adjust: %s", out)
			}
			if out := cmd(ExitFailure, "points", "adjust", "2", "-10000", "--reason", "x"); !strings.Contains(out, "cannot take 10000") {
				t.Fatalf("overdraw: %s", out)
			}
			cmd(ExitUsage, "points", "adjust", "2")
			if out := cmd(ExitOK, "points", "redeem", "2", "100", "--key", "cart-9"); !strings.Contains(out, "balance 480") {
				t.Fatalf("redeem: %s", out)
			}
			if out := cmd(ExitOK, "points", "history", "2"); !strings.Contains(out, "redeem") || !strings.Contains(out, "お詫び") {
				t.Fatalf("history: %s", out)
			}
			bal := write(t, "legacy.csv", "email,points,expires_at,note\na@example.com,300,2026-09-30,旧システム\nnobody@example.com,5,,\n")
			if out := cmd(ExitPartial, "points", "import", bal); !strings.Contains(out, "imported 1 balances, 300 points") || !strings.Contains(out, "line 3: no customer") {
				t.Fatalf("import: %s", out)
			}
			if _, err := os.Stat(strings.TrimSuffix(bal, ".csv") + ".errors.csv"); err != nil {
				t.Fatalf("errors file: %v", err)
			}
			if out := cmd(ExitPartial, "points", "import", bal); !strings.Contains(out, "imported 0 balances") || !strings.Contains(out, "1 already imported") {
				t.Fatalf("re-import: %s", out)
			}
			if out := cmd(ExitOK, "points", "liability"); !strings.Contains(out, "1,780 points held by 2 customers") || !strings.Contains(out, "2026-09") {
				t.Fatalf("liability: %s", out)
			}

			if out := cmd(ExitOK, "rank", "history", "1"); !strings.Contains(out, "bronze → gold (up, order") {
				t.Fatalf("rank history: %s", out)
			}
			if out := cmd(ExitOK, "rank", "report", "--from", "2026-01-01"); !strings.Contains(out, "gold") || !strings.Contains(out, "2 new") {
				t.Fatalf("rank report: %s", out)
			}
			if out := cmd(ExitOK, "rank", "evaluate"); !strings.Contains(out, "evaluated 1 customers: 0 up, 0 down") {
				t.Fatalf("rank evaluate: %s", out)
			}

			out := cmd(ExitOK, "coupon", "create", "--name", "春の500円OFF", "--type", "amount", "--value", "500", "--min-order", "3000", "--ends", "2026-04-30", "--shopify-price-rule", "507328175")
			if !strings.Contains(out, "created campaign 1") || !strings.Contains(out, "through 2026-04-30") {
				t.Fatalf("create: %s", out)
			}
			codes := write(t, "codes.txt", "")
			cmd(ExitOK, "coupon", "generate", "1", "10", "--out", codes, "--prefix", "HARU")
			raw, _ := os.ReadFile(codes)
			lines := strings.Fields(string(raw))
			if len(lines) != 10 || !strings.HasPrefix(lines[0], "HARU") || len(lines[0]) != 16 {
				t.Fatalf("codes: %q", raw)
			}
			cmd(ExitOK, "coupon", "create", "--name", "Welcome", "--code", "welcome10", "--type", "percent", "--value", "10")
			cmd(ExitFailure, "coupon", "create", "--name", "bad", "--type", "half", "--value", "10")
			if out := cmd(ExitOK, "coupon", "issue", "1", "2", "--key", "j1"); !strings.Contains(out, "issued "+lines[0]) {
				t.Fatalf("issue: %s", out)
			}
			if out := cmd(ExitOK, "coupon", "check", strings.ToLower(lines[0]), "--subtotal", "5000", "--customer", "2"); !strings.Contains(out, "valid: ¥500 off") {
				t.Fatalf("check: %s", out)
			}
			if out := cmd(ExitOK, "coupon", "check", "WELCOME10", "--subtotal", "1000"); !strings.Contains(out, "valid: ¥100 off") {
				t.Fatalf("check shared: %s", out)
			}
			if out := cmd(ExitOK, "coupon", "list"); !strings.Contains(out, "Welcome") || !strings.Contains(out, "春の500円OFF") {
				t.Fatalf("list: %s", out)
			}
			if out := cmd(ExitOK, "coupon", "show", "1"); !strings.Contains(out, "codes 10, issued 1") {
				t.Fatalf("show: %s", out)
			}
			if out := cmd(ExitFailure, "coupon", "sync", "1"); !strings.Contains(out, "ENISHI_SHOPIFY_URL") {
				t.Fatalf("sync without shopify: %s", out)
			}
			var posts atomic.Int64
			shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/admin/api/2024-01/price_rules/507328175/discount_codes.json" || r.Header.Get("X-Shopify-Access-Token") != "shpat_x" {
					http.Error(w, `{"errors":"Not Found"}`, http.StatusNotFound)
					return
				}
				n := posts.Add(1)
				w.WriteHeader(http.StatusCreated)
				fmt.Fprintf(w, `{"discount_code":{"id":%d,"price_rule_id":507328175,"code":"X","usage_count":0}}`, 1054381138+n)
			}))
			defer shop.Close()
			env := map[string]string{"ENISHI_SHOPIFY_URL": shop.URL, "ENISHI_SHOPIFY_TOKEN": "shpat_x"}
			code, out, errOut := run(t, env, append([]string{"coupon", "sync", "1"}, db...)...)
			if code != ExitOK || !strings.Contains(out, "wrote 10 codes") || posts.Load() != 10 || strings.Contains(out+errOut, "shpat_x") {
				t.Fatalf("sync: %d %s %s", code, out, errOut)
			}

			if out := cmd(ExitOK, "customer", "show", "1"); !strings.Contains(out, "ゴールド (gold)") || !strings.Contains(out, "points       1,300") {
				t.Fatalf("customer show: %s", out)
			}
			if out := cmd(ExitOK, "loyalty", "show"); !strings.Contains(out, "platinum") || !strings.Contains(out, "birthday month ×2") {
				t.Fatalf("loyalty show: %s", out)
			}
			out = cmd(ExitOK, "loyalty", "show", "--json")
			var prog map[string]any
			if err := json.Unmarshal([]byte(out), &prog); err != nil {
				t.Fatal(err)
			}
			prog["enabled"] = false
			b, _ := json.Marshal(prog)
			cmd(ExitOK, "loyalty", "set", write(t, "prog.json", string(b)))
			if out := cmd(ExitOK, "loyalty", "show"); !strings.Contains(out, "loyalty programme: off") {
				t.Fatalf("after set: %s", out)
			}
			if out := cmd(ExitFailure, "loyalty", "set", write(t, "bad.json", `{"ranks":{"tiers":[]}}`)); !strings.Contains(out, "ranks") {
				t.Fatalf("bad programme: %s", out)
			}
			cmd(ExitFailure, "settings", "set", "loyalty.program", `{"points":{"base_rate_percent":-1}}`)
			if out := cmd(ExitOK, "loyalty", "daily"); !strings.Contains(out, "ranks: 1 evaluated") {
				t.Fatalf("daily: %s", out)
			}
		})
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// run runs the CLI with args and returns exit code, stdout and stderr.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] },
		Clock: clock.NewManual(storetest.T0, true), Context: context.Background()})
	return code, out.String(), errb.String()
}

// dbArgs returns the database flag for each backend.
func dbArgs(t *testing.T, backend string) []string {
	if backend == "postgres" {
		return []string{"--database-url", storetest.PostgresURL(t)}
	}
	return []string{"--db", filepath.Join(t.TempDir(), "cli.db")}
}

func write(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportExitCodesAndStats(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			good := write(t, "orders.csv", "order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\n"+
				"1,C1,a@example.com,山田 太郎,2026-01-05,3000,A,2,1500\n2,C2,b@example.com,佐藤 花子,2026-01-06,800,B,1,800\n")
			code, out, errOut := run(t, nil, append([]string{"import", "orders", good}, db...)...)
			if code != ExitOK || !strings.Contains(out, "2 orders imported (2 new") {
				t.Fatalf("import: %d %q %q", code, out, errOut)
			}
			code, out, _ = run(t, nil, append([]string{"stats", "--json"}, db...)...)
			var s map[string]int
			if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s["customers"] != 2 || s["orders"] != 2 || s["line_items"] != 2 || s["products"] != 2 || s["events"] != 0 {
				t.Fatalf("stats: %d %s", code, out)
			}
			bad := write(t, "bad.csv", "order_id,customer_id,ordered_at,total\n3,C3,2026-01-07,100\n4,C4,not a date,100\n")
			code, out, errOut = run(t, nil, append([]string{"import", "orders", bad}, db...)...)
			if code != ExitPartial || !strings.Contains(errOut, "bad.csv:3: ordered_at") || !strings.Contains(out, "1 rows rejected") {
				t.Fatalf("partial import: %d %q %q", code, out, errOut)
			}
			if _, err := os.Stat(strings.TrimSuffix(bad, ".csv") + ".errors.csv"); err != nil {
				t.Fatalf("errors file: %v", err)
			}
			fatal := write(t, "fatal.csv", "order_id,total\n5,100\n")
			code, _, errOut = run(t, nil, append([]string{"import", "orders", fatal, "--format", "enishi"}, db...)...)
			if code != ExitFailure || !strings.Contains(errOut, "no column for ordered_at") {
				t.Fatalf("fatal import: %d %q", code, errOut)
			}
			code, out, _ = run(t, nil, append([]string{"customer", "show", "1", "--json"}, db...)...)
			var v map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["display_name"] != "山田 太郎" || v["order_count"] != 1.0 {
				t.Fatalf("customer show: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"customer", "search", "佐藤"}, db...)...)
			if code != 0 || !strings.Contains(out, "佐藤 花子") || !strings.Contains(out, "1 of 1") {
				t.Fatalf("search: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"customer", "merge", "1", "2"}, db...)...)
			if code != 0 || !strings.Contains(out, "merged customer 2 into 1 (merge 1") {
				t.Fatalf("merge: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"customer", "unmerge", "1"}, db...)...)
			if code != 0 {
				t.Fatalf("unmerge: %d %s", code, out)
			}
			code, out, _ = run(t, nil, append([]string{"stats", "--json"}, db...)...)
			if json.Unmarshal([]byte(out), &s) != nil || s["customers"] != 3 {
				t.Fatalf("after unmerge: %s", out)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	if code, _, _ := run(t, nil); code != ExitUsage {
		t.Fatalf("no args = %d", code)
	}
	if code, _, errOut := run(t, nil, "frobnicate"); code != ExitUsage || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown = %d %s", code, errOut)
	}
	if code, _, _ := run(t, nil, "import", "widgets", "x.csv", "--db", filepath.Join(t.TempDir(), "x.db")); code != ExitUsage {
		t.Fatalf("bad kind = %d", code)
	}
	if code, _, _ := run(t, nil, "settings", "set", "identity.manual_merge_kinds", "phone", "--db", filepath.Join(t.TempDir(), "x.db")); code != ExitFailure {
		t.Fatalf("bad setting = %d", code)
	}
}

func TestUserAndAPIKeyCommands(t *testing.T) {
	db := []string{"--db", filepath.Join(t.TempDir(), "x.db")}
	code, out, _ := run(t, nil, append([]string{"user", "create", "--role", "admin", "owner@example.com"}, db...)...)
	if code != 0 || !strings.Contains(out, "password: ") {
		t.Fatalf("user create: %d %s", code, out)
	}
	code, out, _ = run(t, nil, append([]string{"apikey", "create", "--scopes", "customers:read", "shopify"}, db...)...)
	if code != 0 || !strings.Contains(out, "key: ek_") {
		t.Fatalf("apikey create: %d %s", code, out)
	}
	if code, _, _ = run(t, nil, append([]string{"apikey", "create", "--scopes", "root", "x"}, db...)...); code != ExitFailure {
		t.Fatalf("bad scope = %d", code)
	}
}

func TestServeDemoPrintsLoginAndServes(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run([]string{"serve", "--demo", "--demo-customers", "50", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "demo.db")},
			IO{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }, Context: ctx, Ready: func(a string) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not start")
	}
	text := out.String()
	if !strings.Contains(text, "enishi is running at http://localhost:") || !strings.Contains(text, "sign in as admin@example.com with password ") {
		t.Fatalf("output: %s", text)
	}
	password := strings.TrimSpace(text[strings.LastIndex(text, "password ")+len("password "):])
	body := strings.NewReader(`{"email":"admin@example.com","password":"` + password + `"}`)
	resp, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login with printed password: %d", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
}

// The demo ships what a shop sets up first: segments with members, a
// template, a draft campaign and journeys switched on.
func TestDemoHasMarketingExamples(t *testing.T) {
	db := []string{"--db", filepath.Join(t.TempDir(), "demo.db")}
	if code, out, errOut := run(t, nil, append([]string{"demo", "--customers", "300"}, db...)...); code != 0 {
		t.Fatalf("demo: %d %s %s", code, out, errOut)
	}
	code, out, _ := run(t, nil, append([]string{"segment", "list"}, db...)...)
	if code != 0 || !strings.Contains(out, "F2候補") || !strings.Contains(out, "VIP") || !strings.Contains(out, "休眠") {
		t.Fatalf("segment list: %d %s", code, out)
	}
	code, out, _ = run(t, nil, append([]string{"journey", "list"}, db...)...)
	if code != 0 || strings.Count(out, "enabled") != 3 {
		t.Fatalf("journey list: %d %s", code, out)
	}
	code, out, _ = run(t, nil, append([]string{"campaign", "list"}, db...)...)
	if code != 0 || !strings.Contains(out, "新茶のお知らせ") {
		t.Fatalf("campaign list: %d %s", code, out)
	}
}

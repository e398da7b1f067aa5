package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

const securityOrders = "order_id,customer_id,email,phone,name,ordered_at,total,sku,quantity,unit_price,tags,email_opt_in\n" +
	"1,C1,hanako@example.com,090-1111-2222,佐藤 花子,2026-01-05,3000,A,2,1500,vip,1\n" +
	"2,C2,taro@example.com,,山田 太郎,2026-01-06,800,B,1,800,,\n"

// dumpTables reads every table of a SQLite file as sorted text rows.
func dumpTables(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sqlite.Open(path, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return storetest.DumpTables(t, db)
}

func TestBackupRestoreRoundTripComparesEveryTable(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	env := map[string]string{"USER": "ops", secret.KeyEnv: secret.GenerateKey()}
	db := []string{"--db", dbPath}
	orders := write(t, "orders.csv", securityOrders)
	if code, _, e := run(t, env, append([]string{"import", "orders", orders}, db...)...); code != 0 {
		t.Fatalf("import: %s", e)
	}
	cmds := [][]string{
		{"user", "create", "--role", "admin", "a@example.com"},
		{"apikey", "create", "--scopes", "ingest:write", "shop"},
		{"role", "create", "auditor", "--permissions", "audit:read,reports:read"},
		{"settings", "set", "retention.events_days", "400"},
		{"customer", "merge", "1", "2"},
	}
	for _, c := range cmds {
		if code, out, e := run(t, env, append(c, db...)...); code != 0 {
			t.Fatalf("%v: %d %s %s", c, code, out, e)
		}
	}
	in := strings.NewReader("smtp-password-123\n")
	var out, errb syncBuffer
	if code := Run(append([]string{"secret", "set", "smtp.password"}, db...), IO{Stdin: in, Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }, Context: context.Background()}); code != 0 {
		t.Fatalf("secret set: %s", errb.String())
	}
	backup := filepath.Join(dir, "backup.db")
	code, o, e := run(t, env, append([]string{"backup", backup}, db...)...)
	if code != 0 || !strings.Contains(o, "backed up") {
		t.Fatalf("backup: %d %s %s", code, o, e)
	}
	if code, _, e := run(t, env, append([]string{"backup", backup}, db...)...); code == 0 || !strings.Contains(e, "exists") {
		t.Fatalf("backup over an existing file: %d %s", code, e)
	}
	want := dumpTables(t, backup)
	live := dumpTables(t, dbPath)
	for tb, rows := range live {
		if tb == "audit_log" {
			continue // the backup itself is audited after the copy
		}
		if strings.Join(rows, "\n") != strings.Join(want[tb], "\n") {
			t.Errorf("backup differs from the live database in %s", tb)
		}
	}
	restored := filepath.Join(dir, "restored.db")
	if code, o, e := run(t, env, "restore", backup, "--db", restored); code != 0 || !strings.Contains(o, "2 orders") && !strings.Contains(o, "orders") {
		t.Fatalf("restore: %d %s %s", code, o, e)
	}
	got := dumpTables(t, restored)
	if len(got) != len(want) || len(want) < 20 {
		t.Fatalf("tables: %d restored, %d in backup", len(got), len(want))
	}
	for tb, rows := range want {
		g := got[tb]
		if tb == "audit_log" { // the restore adds its own entry
			if len(g) != len(rows)+1 {
				t.Errorf("audit_log: %d rows, want %d", len(g), len(rows)+1)
			}
			continue
		}
		if strings.Join(g, "\n") != strings.Join(rows, "\n") {
			t.Errorf("table %s differs after restore:\n got %v\nwant %v", tb, g, rows)
		}
	}
	// The restored database works: secrets open with the same key.
	var sout syncBuffer
	if code := Run([]string{"secret", "list", "--db", restored}, IO{Stdout: &sout, Stderr: &errb, Getenv: func(k string) string { return env[k] }, Context: context.Background()}); code != 0 || !strings.Contains(sout.String(), "smtp.password") {
		t.Fatalf("secret list after restore: %s %s", sout.String(), errb.String())
	}
	if code, _, e := run(t, env, "restore", backup, "--db", restored); code != ExitUsage || !strings.Contains(e, "--force") {
		t.Fatalf("restore over a database without --force: %d %s", code, e)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte("not a database at all, just text"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, e := run(t, env, "restore", filepath.Join(dir, "junk.db"), "--db", restored, "--force"); code == 0 {
		t.Fatalf("restored junk: %s", e)
	}
	if code, _, e := run(t, env, "backup", backup, "--database-url", "postgres://x"); code != ExitUsage || !strings.Contains(e, "pg_dump") {
		t.Fatalf("backup on postgres: %d %s", code, e)
	}
}

func TestCustomerExportEraseAndAuditCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			env := map[string]string{"USER": "dpo"}
			orders := write(t, "orders.csv", securityOrders)
			if code, _, e := run(t, env, append([]string{"import", "orders", orders}, db...)...); code != 0 {
				t.Fatalf("import: %s", e)
			}
			code, out, e := run(t, env, append([]string{"customer", "export", "1"}, db...)...)
			var pd map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &pd) != nil || !strings.Contains(out, "hanako@example.com") {
				t.Fatalf("export: %d %s %s", code, out, e)
			}
			file := filepath.Join(t.TempDir(), "p.json")
			if code, out, _ := run(t, env, append([]string{"customer", "export", "1", "--output", file}, db...)...); code != 0 || !strings.Contains(out, file) {
				t.Fatalf("export to file: %s", out)
			}
			if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("export file mode: %v %v", st, err)
			}
			if code, _, e := run(t, env, append([]string{"customer", "erase", "1"}, db...)...); code == 0 || !strings.Contains(e, "reason") {
				t.Fatalf("erase without reason: %d %s", code, e)
			}
			code, out, e = run(t, env, append([]string{"customer", "erase", "1", "--reason", "本人からの削除依頼"}, db...)...)
			if code != 0 || !strings.Contains(out, "erased customer 1") {
				t.Fatalf("erase: %d %s %s", code, out, e)
			}
			// Importing the same file again does not bring the person back.
			if code, out, e := run(t, env, append([]string{"import", "orders", orders}, db...)...); code != 0 || strings.Contains(out, "1 new customer") {
				t.Fatalf("re-import: %d %s %s", code, out, e)
			}
			_, out, _ = run(t, env, append([]string{"customer", "export", "1"}, db...)...)
			if strings.Contains(out, "hanako") || strings.Contains(out, "佐藤") || strings.Contains(out, "1111") {
				t.Fatalf("export after erase still holds personal data:\n%s", out)
			}
			code, out, _ = run(t, env, append([]string{"audit", "list", "--action", "privacy."}, db...)...)
			if code != 0 || strings.Count(out, "privacy.") != 4 || !strings.Contains(out, "cli:dpo") {
				t.Fatalf("audit list: %s", out)
			}
			code, out, _ = run(t, env, append([]string{"audit", "export"}, db...)...)
			if code != 0 || !strings.HasPrefix(out, "\ufeffid,at,actor,action") || !strings.Contains(out, "privacy.erase") {
				t.Fatalf("audit export: %s", out)
			}
		})
	}
}

func TestUserCommandsAndConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "enishi.conf")
	if err := os.WriteFile(conf, []byte("# enishi\nENISHI_DB=\""+filepath.Join(dir, "conf.db")+"\"\nENISHI_LOG_LEVEL=warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, e := run(t, nil, "--config", conf, "user", "create", "--role", "support", "s@example.com"); code != 0 || !strings.Contains(out, "password:") {
		t.Fatalf("create via config: %d %s %s", code, out, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "conf.db")); err != nil {
		t.Fatal("the config file's database was not used")
	}
	env := map[string]string{"ENISHI_CONFIG": conf}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"role", "create", "cs-lead", "--permissions", "customers:read,customers:write,pii:read"}, "role cs-lead"},
		{[]string{"user", "role", "s@example.com", "cs-lead"}, "now cs-lead"},
		{[]string{"user", "disable", "s@example.com"}, "disabled"},
		{[]string{"user", "list"}, "cs-lead\tdisabled"},
		{[]string{"user", "enable", "s@example.com"}, "enabled"},
		{[]string{"user", "signout", "s@example.com"}, "ended"},
		{[]string{"user", "totp-reset", "s@example.com"}, "removed"},
		{[]string{"role", "list"}, "cs-lead\tcustom"},
		{[]string{"audit", "list", "--action", "user."}, "user.totp_reset"},
	}
	for _, s := range steps {
		code, out, e := run(t, env, s.args...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("%v: %d %q %q", s.args, code, out, e)
		}
	}
	if code, _, e := run(t, env, "user", "role", "s@example.com", "root"); code == 0 || !strings.Contains(e, "not a role") {
		t.Fatalf("unknown role: %d %s", code, e)
	}
	if code, _, e := run(t, env, "role", "delete", "cs-lead"); code == 0 || !strings.Contains(e, "still have role") {
		t.Fatalf("delete role in use: %d %s", code, e)
	}
	bad := filepath.Join(dir, "bad.conf")
	_ = os.WriteFile(bad, []byte("DB=x\n"), 0o600)
	if code, _, e := run(t, nil, "--config", bad, "stats"); code != ExitUsage || !strings.Contains(e, "ENISHI_NAME=value") {
		t.Fatalf("bad config: %d %s", code, e)
	}
	if code, _, e := run(t, env, "settings", "set", "retention.events_days", "lots"); code == 0 || !strings.Contains(e, "whole number of days") {
		t.Fatalf("bad retention: %d %s", code, e)
	}
	if code, out, _ := run(t, env, "retention", "list"); code != 0 || !strings.Contains(out, "events") {
		t.Fatalf("retention list: %s", out)
	}
	if code, out, e := run(t, env, "secret", "set", "x"); code == 0 || !strings.Contains(e+out, "ENISHI_SECRET_KEY") && !strings.Contains(e+out, "standard input") {
		t.Fatalf("secret without key: %d %s %s", code, out, e)
	}
}

package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestPgDumpRestoreKeepsEveryTable follows docs/operations.md: pg_dump
// --format=custom of a live enishi database, pg_restore into an empty one,
// and compares every table; the restored database then takes new writes.
func TestPgDumpRestoreKeepsEveryTable(t *testing.T) {
	ctx := context.Background()
	c := clock.NewManual(storetest.T0, true)
	src := storetest.PostgresURL(t)
	db, err := postgres.Open(ctx, src, c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	box := storetest.FillEveryTable(t, db)
	want := storetest.DumpTables(t, db)

	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		pgDump = findPgBin(t, "pg_dump")
	}
	pgRestore := filepath.Join(filepath.Dir(pgDump), "pg_restore")
	u, _ := url.Parse(src)
	schema := u.Query().Get("search_path")
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	dump := filepath.Join(t.TempDir(), "enishi.dump")
	if out, err := exec.Command(pgDump, "--format=custom", "--no-owner", "--schema="+schema, "--file="+dump, u.String()).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	dbName := "restore_" + hex.EncodeToString(b[:])
	adm, err := sql.Open("pgx", os.Getenv(storetest.PostgresURLEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.Exec(`CREATE DATABASE ` + dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.Exec(`DROP DATABASE IF EXISTS ` + dbName + ` WITH (FORCE)`) })
	target := *u
	target.Path = "/" + dbName
	if out, err := exec.Command(pgRestore, "--no-owner", "--dbname="+target.String(), dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	tq := target.Query()
	tq.Set("search_path", schema)
	target.RawQuery = tq.Encode()
	restored, err := postgres.Open(ctx, target.String(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if err := restored.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	restored.SetSecretBox(box)
	storetest.CompareTables(t, want, storetest.DumpTables(t, restored))
	if v, _, err := restored.Secret(ctx, "smtp.password"); err != nil || v != "fill-secret" {
		t.Fatalf("secret after restore = %q %v", v, err)
	}
	if _, err := restored.Write.ExecContext(ctx, `DELETE FROM audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("the append-only trigger did not survive the restore: %v", err)
	}
	res, err := restored.ImportOrders(ctx, []order.Order{storetest.Order("shop", "NEW", storetest.T0, storetest.Buyer(t, "shop", "new", "", ""), "Z", 1, 1)})
	if err != nil || res.NewCustomers != 1 {
		t.Fatalf("write after restore: %+v %v", res, err)
	}
	storetest.CheckIntegrity(t, restored)
}

func findPgBin(t *testing.T, name string) string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		t.Fatalf("%s not found", name)
	}
	return matches[len(matches)-1]
}

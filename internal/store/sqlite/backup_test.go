package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestOnlineBackupAndRestoreKeepEveryTable(t *testing.T) {
	ctx := context.Background()
	c := clock.NewManual(storetest.T0, true)
	db := storetest.SQLite(t, c)
	box := storetest.FillEveryTable(t, db)
	want := storetest.DumpTables(t, db)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := sqlite.Backup(ctx, db, backup); err != nil {
		t.Fatal(err)
	}
	if v, err := sqlite.Verify(ctx, backup); err != nil || v < 700 {
		t.Fatalf("verify = %d %v", v, err)
	}
	// Writes after the backup are not in it.
	if _, err := db.ImportOrders(ctx, []order.Order{storetest.Order("shop", "AFTER", storetest.T0, storetest.Buyer(t, "shop", "z", "", ""), "Z", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "restored.db")
	if err := sqlite.Restore(ctx, backup, target); err != nil {
		t.Fatal(err)
	}
	restored, err := sqlite.Open(target, c)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	restored.SetSecretBox(box)
	storetest.CompareTables(t, want, storetest.DumpTables(t, restored))
	if v, ok, err := restored.Secret(ctx, "smtp.password"); err != nil || !ok || v != "fill-secret" {
		t.Fatalf("secret after restore = %q %v %v", v, ok, err)
	}
	// The restored database takes new writes without id clashes.
	res, err := restored.ImportOrders(ctx, []order.Order{storetest.Order("shop", "NEW", storetest.T0, storetest.Buyer(t, "shop", "new", "", ""), "Z", 1, 1)})
	if err != nil || res.NewCustomers != 1 {
		t.Fatalf("write after restore: %+v %v", res, err)
	}
	storetest.CheckIntegrity(t, restored)
}

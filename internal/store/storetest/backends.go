// Package storetest is the one behaviour suite every store backend runs
// (the River riverdrivertest model), plus helpers that open a fresh, migrated
// store of each kind for any package's tests.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

// PostgresURLEnv names the variable holding an admin URL of the test
// PostgreSQL server; `make test` starts one and sets it.
const PostgresURLEnv = "ENISHI_TEST_POSTGRES_URL"

// Opener opens a fresh, migrated, empty store that is closed and removed
// when the test ends.
type Opener func(t testing.TB, c clock.Clock) *store.DB

// SQLite opens a store in a new file under the test's temp dir.
func SQLite(t testing.TB, c clock.Clock) *store.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "enishi.db"), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.SetSecretBox(TestSecretBox)
	return db
}

// TestSecretBox seals the secrets of test stores, as ENISHI_SECRET_KEY does
// in production; tests of a store without a key set it to nil.
var TestSecretBox = func() *secret.Box {
	k, _ := secret.ParseKey(secret.GenerateKey())
	b, _ := secret.NewBox(k)
	return b
}()

// PostgresURL returns a URL for a new, empty schema on the test server, and
// drops the schema when the test ends. Without a server it fails the test if
// ENISHI_REQUIRE_POSTGRES is set, and skips it otherwise.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresURLEnv)
	if admin == "" {
		if os.Getenv("ENISHI_REQUIRE_POSTGRES") != "" {
			t.Fatalf("%s is not set; run the tests with `make test`, which starts PostgreSQL", PostgresURLEnv)
		}
		t.Skipf("PostgreSQL not available (%s not set); `make test` starts one", PostgresURLEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	adm, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Exec(`CREATE SCHEMA ` + schema); err != nil {
		adm.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = adm.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		adm.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres opens a store in a new schema on the test server.
func Postgres(t testing.TB, c clock.Clock) *store.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), PostgresURL(t), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.SetSecretBox(TestSecretBox)
	return db
}

// Backends lists the openers by backend name.
var Backends = []struct {
	Name string
	Open Opener
}{{"sqlite", SQLite}, {"postgres", Postgres}}

// Each runs fn as a subtest per backend.
func Each(t *testing.T, fn func(t *testing.T, open Opener)) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open) })
	}
}

// Package postgres is enishi's PostgreSQL backend, through pgx/v5's
// database/sql driver, for shops that run several enishi processes.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys. Arbitrary, fixed, and unlikely to clash with others.
const (
	resolutionLock = 0x656e697368690001 // "enishi" + 1
	migrationLock  = 0x656e697368690002
)

// Open connects to the database at url (postgres://…). It does not migrate.
//
// Connections plan every statement with its actual parameters
// (plan_cache_mode=force_custom_plan): a generic plan cached while a table
// was small (a sequential scan) would otherwise stay in use as an import
// grows it to millions of rows.
func Open(ctx context.Context, url string, c clock.Clock) (*store.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return store.New(db, db, Dialect{}, c), nil
}

// Dialect is PostgreSQL's part of the store.
type Dialect struct{}

// Name returns "postgres".
func (Dialect) Name() string { return "postgres" }

// NextIDs reserves n consecutive values of the table's identity sequence.
// Callers hold the resolution lock (every allocation of customer and order
// ids does), so nothing draws from the sequence between the two steps.
func (Dialect) NextIDs(ctx context.Context, tx *store.Tx, table string, n int) ([]int64, error) {
	var first int64
	err := tx.QueryRowContext(ctx, `SELECT nextval(pg_get_serial_sequence($1, 'id'))`, table).Scan(&first)
	if err != nil {
		return nil, err
	}
	if n > 1 {
		if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), $2)`, table, first+int64(n)-1); err != nil {
			return nil, err
		}
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	return ids, nil
}

// LockResolution takes a transaction-scoped advisory lock, so identity
// resolution runs one transaction at a time across every process.
func (Dialect) LockResolution(ctx context.Context, tx *store.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(resolutionLock))
	return err
}

// IsUniqueViolation reports SQLSTATE 23505.
func (Dialect) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// PrepareStatements is false: pgx caches prepared statements per connection.
func (Dialect) PrepareStatements() bool { return false }

// CopyRows loads rows with COPY … FROM STDIN (binary) on the
// transaction's own connection.
func (Dialect) CopyRows(ctx context.Context, tx *store.Tx, table string, cols []string, rows [][]any) (int64, error) {
	var n int64
	err := tx.Raw(func(dc any) error {
		conn := dc.(*stdlib.Conn).Conn()
		var err error
		n, err = conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copy into %s: %w", table, err)
	}
	return n, nil
}

// InList returns "col = ANY($start)" with the values as one array.
func (Dialect) InList(col string, start int, vals []any) (string, []any) {
	if len(vals) == 0 {
		return "FALSE", nil
	}
	var arr any
	switch vals[0].(type) {
	case string:
		a := make([]string, len(vals))
		for i, v := range vals {
			a[i] = v.(string)
		}
		arr = a
	case int64:
		a := make([]int64, len(vals))
		for i, v := range vals {
			a[i] = v.(int64)
		}
		arr = a
	default:
		return store.InParams(col, start, vals)
	}
	return fmt.Sprintf("%s = ANY($%d)", col, start), []any{arr}
}

// Analyze runs ANALYZE on the tables.
func (Dialect) Analyze(ctx context.Context, db *store.DB, tables []string) error {
	_, err := db.Write.ExecContext(ctx, "ANALYZE "+strings.Join(tables, ", "))
	return err
}

// HasCopy is true.
func (Dialect) HasCopy() bool { return true }

// MaxParams is the wire protocol's limit.
func (Dialect) MaxParams() int { return 65535 }

// Migrations returns the embedded schema.
func (Dialect) Migrations() embed.FS { return migrations }

// Rebind leaves $N placeholders as they are: they are PostgreSQL's own.
func (Dialect) Rebind(q string, args []any) (string, []any) { return q, args }

// LockMigrations holds a session advisory lock on conn until unlocked.
func (Dialect) LockMigrations(ctx context.Context, conn *sql.Conn) (func(), error) {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return nil, err
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}, nil
}

// SkipLocked lets concurrent workers pass over rows another one is claiming.
func (Dialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// JSONText uses the ->> operator of the JSONB column.
func (Dialect) JSONText(col, key string) string { return `(` + col + ` ->> ` + key + `)` }

// Package sqlite is enishi's embedded backend: modernc.org/sqlite (pure Go)
// in WAL mode, one write connection and a pool of read-only connections,
// with pragmas in the DSN so that every connection gets them.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating if needed) the database file at path. It does not
// migrate; call Migrate.
func Open(path string, c clock.Clock) (*store.DB, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") {
		return nil, errors.New("sqlite: a file path is required (the read pool needs to share the file)")
	}
	// wal_autocheckpoint: the WAL is copied back into the database every
	// 32000 pages (128 MB) instead of SQLite's 1000: index pages that every
	// import batch touches are then copied once per checkpoint rather than
	// about once per batch (a million-line import: checkpoints 1.9 s -> 1.0 s
	// of CPU at 8000 pages, more at 1000). journal_size_limit trims the
	// WAL file back to 64 MB once it has been checkpointed. Durability is
	// the WAL's either way.
	pragmas := []string{
		"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)",
		"temp_store(MEMORY)", "cache_size(-32000)", "wal_autocheckpoint(32000)", "journal_size_limit(67108864)",
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", base+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	q.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", base+"?"+q.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	return store.New(write, read, &Dialect{}, c), nil
}

// Dialect is SQLite's part of the store. Statements get ? placeholders
// (store.Positional explains why).
type Dialect struct {
	store.Positional
}

// Name returns "sqlite".
func (*Dialect) Name() string { return "sqlite" }

// NextIDs hands out ids after the table's largest. Write transactions are
// exclusive (BEGIN IMMEDIATE on the single write connection), so the ids
// cannot be taken by anyone else before the transaction ends.
func (*Dialect) NextIDs(ctx context.Context, tx *store.Tx, table string, n int) ([]int64, error) {
	next, ok := tx.Seq[table]
	if !ok {
		var maxID sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM `+table).Scan(&maxID); err != nil {
			return nil, err
		}
		next = maxID.Int64 + 1
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = next + int64(i)
	}
	tx.Seq[table] = next + int64(n)
	return ids, nil
}

// LockResolution does nothing: the write transaction is already exclusive.
func (*Dialect) LockResolution(context.Context, *store.Tx) error { return nil }

// IsUniqueViolation reports UNIQUE and PRIMARY KEY constraint failures.
func (*Dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// PrepareStatements is true: modernc's driver prepares every Exec anew.
func (*Dialect) PrepareStatements() bool { return true }

// InList returns "col IN (?, …)".
func (*Dialect) InList(col string, start int, vals []any) (string, []any) {
	return store.InParams(col, start, vals)
}

// Analyze does nothing: SQLite's planner picks the indexes these lookups
// need without statistics.
func (*Dialect) Analyze(context.Context, *store.DB, []string) error { return nil }

// HasCopy is false: SQLite's bulk path is prepared multi-row inserts.
func (*Dialect) HasCopy() bool { return false }

// CopyRows is not used (HasCopy is false).
func (*Dialect) CopyRows(context.Context, *store.Tx, string, []string, [][]any) (int64, error) {
	return 0, errors.New("sqlite: no COPY")
}

// MaxParams is SQLite's default SQLITE_MAX_VARIABLE_NUMBER.
func (*Dialect) MaxParams() int { return 32766 }

// Migrations returns the embedded schema.
func (*Dialect) Migrations() embed.FS { return migrations }

// LockMigrations does nothing: migrations run on the single write connection
// and one SQLite file is served by one process.
func (*Dialect) LockMigrations(context.Context, *sql.Conn) (func(), error) { return func() {}, nil }

// SkipLocked is empty: SQLite has one writer, whose transaction is exclusive.
func (*Dialect) SkipLocked() string { return "" }

// JSONText extracts a key with json_extract; the key is quoted in the
// path, so it may hold any character but a double quote or backslash.
func (*Dialect) JSONText(col, key string) string {
	return `json_extract(` + col + `, '$."' || ` + key + ` || '"')`
}

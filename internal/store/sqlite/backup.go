package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

// Backup writes a consistent copy of the open database to path with VACUUM
// INTO, while the server keeps running: readers go on, and writers wait
// only while the copy is taken. path must not exist.
func Backup(ctx context.Context, db *store.DB, path string) error {
	if db.Backend() != "sqlite" {
		return errs.Errorf(errs.Invalid, "enishi backup copies SQLite databases; for PostgreSQL use pg_dump (see docs/operations.md)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err == nil {
		return errs.Errorf(errs.Conflict, "%s exists; choose a new file name", path)
	}
	if _, err := db.Write.ExecContext(ctx, `VACUUM INTO $1`, abs); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

// Verify checks that path is an intact enishi SQLite database and returns
// its latest migration version.
func Verify(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return 0, fmt.Errorf("%s is not a SQLite database: %w", path, err)
	}
	if res != "ok" {
		return 0, errs.Errorf(errs.Invalid, "%s is damaged: %s", path, res)
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || !v.Valid {
		return 0, errs.Errorf(errs.Invalid, "%s is not an enishi database (no schema_migrations)", path)
	}
	return int(v.Int64), nil
}

// Restore replaces the database at target with the backup at backupPath.
// The server must be stopped. The backup is verified, copied beside the
// target and renamed over it, so target is either the old database or the
// whole backup, never a mix; the old WAL files are removed.
func Restore(ctx context.Context, backupPath, target string) error {
	if _, err := Verify(ctx, backupPath); err != nil {
		return err
	}
	if abs1, _ := filepath.Abs(backupPath); abs1 != "" {
		if abs2, _ := filepath.Abs(target); abs1 == abs2 {
			return errs.Errorf(errs.Invalid, "the backup and the database are the same file")
		}
	}
	tmp := target + ".restoring"
	if err := copyFile(backupPath, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(target + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(tmp)
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

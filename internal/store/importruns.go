package store

import (
	"context"
	"database/sql"
)

// ImportRunStore lists the record of past imports (the CLI's and the web
// UI's), for the imports page.
type ImportRunStore interface {
	// ImportRuns returns the latest runs, newest first.
	ImportRuns(ctx context.Context, limit int) ([]ImportRun, error)
}

// ImportRuns returns the latest import runs, newest first.
func (db *DB) ImportRuns(ctx context.Context, limit int) ([]ImportRun, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, kind, format, source, file_name, status, rows_read, imported, unchanged, rejected,
		actor, message, started_at, finished_at FROM import_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ImportRun{}
	for rows.Next() {
		var r ImportRun
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Kind, &r.Format, &r.Source, &r.FileName, &r.Status, &r.RowsRead, &r.Imported, &r.Unchanged, &r.Rejected,
			&r.Actor, &r.Message, &started, &finished); err != nil {
			return nil, err
		}
		r.StartedAt = fromMS(started)
		if finished.Valid {
			r.FinishedAt = fromMS(finished.Int64)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

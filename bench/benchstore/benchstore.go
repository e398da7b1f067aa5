// Package benchstore opens the store a benchmark runs on, the same way for
// every benchmark program: PostgreSQL when given a URL, else a SQLite file,
// migrated to the current schema.
package benchstore

import (
	"context"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

// Open opens PostgreSQL at url when it is set, otherwise the SQLite file
// at path, and runs the migrations.
func Open(ctx context.Context, path, url string, c clock.Clock) (*store.DB, error) {
	var db *store.DB
	var err error
	if url != "" {
		db, err = postgres.Open(ctx, url, c)
	} else {
		db, err = sqlite.Open(path, c)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

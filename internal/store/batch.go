package store

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
)

// rowShapes are the row counts of multi-row statements. Every batch is cut
// into these sizes so that each statement's text repeats and is parsed and
// prepared once per connection, not once per batch: parsing a statement
// with thousands of parameters costs as much as executing it.
var rowShapes = []int{256, 64, 16, 4, 1}

// stmtCache holds the texts of multi-row statements by shape.
type stmtCache struct {
	texts sync.Map // shape key → statement text
}

// execCached runs a statement through a statement prepared once per
// transaction, for dialects whose driver does not cache statements (SQLite:
// the single write connection is held by the transaction, so statements
// cannot be prepared on the pool beside it).
func (tx *Tx) execCached(ctx context.Context, db *DB, q string, args []any) (sql.Result, error) {
	q, args = db.Dialect.Rebind(q, args)
	if !db.Dialect.PrepareStatements() {
		return tx.Tx.ExecContext(ctx, q, args...)
	}
	st, ok := tx.stmts[q]
	if !ok {
		var err error
		if st, err = tx.Tx.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		if tx.stmts == nil {
			tx.stmts = map[string]*sql.Stmt{}
		}
		tx.stmts[q] = st
	}
	return st.ExecContext(ctx, args...)
}

// insertMany runs `head VALUES (…),(…) tail` for n rows of k parameters,
// in statements of rowShapes rows; fill appends row i's parameters. It
// returns the rows affected.
func (db *DB) insertMany(ctx context.Context, tx *Tx, head string, k int, tail string, n int, fill func(i int, args []any) []any) (int64, error) {
	var affected int64
	i := 0
	args := make([]any, 0, rowShapes[0]*k)
	for _, shape := range rowShapes {
		if shape*k > db.Dialect.MaxParams() {
			continue
		}
		for n-i >= shape {
			args = args[:0]
			for j := i; j < i+shape; j++ {
				args = fill(j, args)
			}
			res, err := tx.execCached(ctx, db, db.shapeText(head, k, tail, shape), args)
			if err != nil {
				return affected, err
			}
			if m, err := res.RowsAffected(); err == nil {
				affected += m
			}
			i += shape
		}
	}
	return affected, nil
}

// shapeText builds (once) the text of a multi-row statement.
func (db *DB) shapeText(head string, k int, tail string, rows int) string {
	key := head + "\x00" + tail + "\x00" + strconv.Itoa(k) + "\x00" + strconv.Itoa(rows)
	if q, ok := db.stmts.texts.Load(key); ok {
		return q.(string)
	}
	q := head + " VALUES " + placeholders(rows, k, 1) + " " + tail
	db.stmts.texts.Store(key, q)
	return q
}

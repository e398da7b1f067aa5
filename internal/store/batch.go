package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
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
// connection, for dialects whose driver does not cache statements (SQLite).
// The single write connection is held by the transaction, so statements
// cannot be prepared on the pool beside it; they are prepared on the
// driver connection itself and kept across transactions, since parsing a
// multi-row statement costs as much as running it.
func (tx *Tx) execCached(ctx context.Context, db *DB, q string, args []any) (sql.Result, error) {
	q, args = db.Dialect.Rebind(q, args)
	if !db.Dialect.PrepareStatements() {
		return tx.Tx.ExecContext(ctx, q, args...)
	}
	var res driver.Result
	err := tx.Raw(func(dc any) error {
		st, err := db.connStmts.get(ctx, dc, q)
		if err != nil {
			return err
		}
		// The driver copies values as it binds them: one buffer serves
		// every statement of the transaction (a 256-row statement has
		// thousands of arguments).
		if cap(tx.named) < len(args) {
			tx.named = make([]driver.NamedValue, len(args))
		}
		named := tx.named[:len(args)]
		for i, a := range args {
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return fmt.Errorf("argument %d: %w", i+1, err)
			}
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
		}
		res, err = st.ExecContext(ctx, named)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// connStmts holds the statements execCached prepared on the write
// connection. The write pool keeps one connection for the life of the
// store; should it be replaced, the statements of the old one are dropped.
type connStmts struct {
	mu   sync.Mutex
	conn any
	m    map[string]stmtExecer
}

type stmtExecer interface {
	driver.Stmt
	driver.StmtExecContext
}

func (c *connStmts) get(ctx context.Context, dc any, q string) (stmtExecer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != dc {
		c.conn, c.m = dc, map[string]stmtExecer{}
	}
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	p, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver connection %T cannot prepare statements", dc)
	}
	ds, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(stmtExecer)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("driver statement %T cannot execute with a context", ds)
	}
	c.m[q] = st
	return st, nil
}

// close finalizes the statements; call it before the connection closes.
func (c *connStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.conn, c.m = nil, nil
}

// copyThreshold is the batch size from which a dialect's bulk path (COPY)
// beats multi-row statements.
const copyThreshold = 64

var insertHead = regexp.MustCompile(`^\s*INSERT INTO (\w+) \(([^)]*)\)\s*$`)

// insertMany runs `head VALUES (…),(…) tail` for n rows of k parameters,
// in statements of rowShapes rows; fill appends row i's parameters. It
// returns the rows affected. Large batches go through the dialect's bulk
// path when it has one: straight into the table, or, when tail holds an
// ON CONFLICT clause, through a staging table and INSERT … SELECT.
func (db *DB) insertMany(ctx context.Context, tx *Tx, head string, k int, tail string, n int, fill func(i int, args []any) []any) (int64, error) {
	if n >= copyThreshold && db.Dialect.HasCopy() {
		if m := insertHead.FindStringSubmatch(head); m != nil {
			return db.copyMany(ctx, tx, m[1], splitCols(m[2]), tail, n, k, fill)
		}
	}
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

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func splitCols(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// copyMany loads rows through the dialect's bulk path.
func (db *DB) copyMany(ctx context.Context, tx *Tx, table string, cols []string, tail string, n, k int, fill func(i int, args []any) []any) (int64, error) {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = fill(i, make([]any, 0, k))
	}
	if strings.TrimSpace(tail) == "" {
		return db.Dialect.CopyRows(ctx, tx, table, cols, rows)
	}
	list := strings.Join(cols, ", ")
	stage := fmt.Sprintf("enishi_stage_%s_%x", table, fnv32(list))
	if used, ok := tx.staged[stage]; !ok {
		// One staging table per session, emptied at every commit: creating
		// and dropping it in each transaction cost more catalog work than
		// the rows it carried. Only the columns loaded, without the
		// table's constraints: the target's own apply on INSERT … SELECT.
		if _, err := tx.Tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS `+stage+` ON COMMIT DELETE ROWS AS SELECT `+list+` FROM `+table+` WITH NO DATA`); err != nil {
			return 0, fmt.Errorf("staging table for %s: %w", table, err)
		}
		if tx.staged == nil {
			tx.staged = map[string]bool{}
		}
	} else if used {
		if _, err := tx.Tx.ExecContext(ctx, `TRUNCATE `+stage); err != nil {
			return 0, err
		}
	}
	tx.staged[stage] = true
	if _, err := db.Dialect.CopyRows(ctx, tx, stage, cols, rows); err != nil {
		return 0, err
	}
	res, err := tx.Tx.ExecContext(ctx, `INSERT INTO `+table+` (`+list+`) SELECT `+list+` FROM `+stage+` `+tail)
	if err != nil {
		return 0, err
	}
	affected, _ := res.RowsAffected()
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

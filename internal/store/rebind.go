package store

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
)

// Pool is a connection pool whose statements go through the dialect's
// placeholder rewriting. Shared SQL is written with $1, $2 … (PostgreSQL's
// form); SQLite gets anonymous ? placeholders instead, because it treats
// $N as named parameters and resolves names by a linear search, which makes
// a multi-row INSERT with thousands of parameters quadratic.
type Pool struct {
	*sql.DB
	d Dialect
}

// ExecContext runs a statement.
func (p *Pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q, args = p.d.Rebind(q, args)
	return p.DB.ExecContext(ctx, q, args...)
}

// QueryContext runs a query.
func (p *Pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q, args = p.d.Rebind(q, args)
	return p.DB.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a query for one row.
func (p *Pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	q, args = p.d.Rebind(q, args)
	return p.DB.QueryRowContext(ctx, q, args...)
}

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q, args = tx.d.Rebind(q, args)
	return tx.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q, args = tx.d.Rebind(q, args)
	return tx.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a query for one row in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	q, args = tx.d.Rebind(q, args)
	return tx.Tx.QueryRowContext(ctx, q, args...)
}

// Positional rewrites $N placeholders into ? and orders the arguments to
// match (a $N used twice is passed twice). Quoted strings, quoted
// identifiers and comments are left alone. Results are cached per query.
type Positional struct {
	mu    sync.Mutex
	cache map[string]*rebound
}

type rebound struct {
	q        string
	order    []int // argument index for each ?, nil when it is 0, 1, 2 …
	maxIndex int
}

// Rebind returns q with ? placeholders and the arguments in their order.
func (p *Positional) Rebind(q string, args []any) (string, []any) {
	p.mu.Lock()
	rb, ok := p.cache[q]
	p.mu.Unlock()
	if !ok {
		rb = rewrite(q)
		p.mu.Lock()
		if p.cache == nil || len(p.cache) > 4096 {
			p.cache = map[string]*rebound{}
		}
		p.cache[q] = rb
		p.mu.Unlock()
	}
	if rb.order == nil {
		return rb.q, args
	}
	out := make([]any, len(rb.order))
	for i, j := range rb.order {
		if j < len(args) {
			out[i] = args[j]
		}
	}
	return rb.q, out
}

func rewrite(q string) *rebound {
	b := make([]byte, 0, len(q))
	var order []int
	identity := true
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			b = append(b, q[i:min(j+1, len(q))]...)
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := i
			for j < len(q) && q[j] != '\n' {
				j++
			}
			b = append(b, q[i:j]...)
			i = j - 1
		case c == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(q[i+1 : j])
			if n-1 != len(order) {
				identity = false
			}
			order = append(order, n-1)
			b = append(b, '?')
			i = j - 1
		default:
			b = append(b, c)
		}
	}
	rb := &rebound{q: string(b), order: order}
	if identity {
		rb.order = nil
	}
	return rb
}

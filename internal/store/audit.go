package store

import (
	"context"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

// AuditEntry is one row of the append-only audit log: who did what, to
// what, when and from where. Detail is a short PII-free description
// (counts, ids, setting names), never a customer's personal data.
type AuditEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
}

// AuditQuery filters the audit log. Entries come newest first.
type AuditQuery struct {
	Since, Until time.Time // optional window [Since, Until)
	Action       string    // exact action, or a prefix ending in '.' ("customer.")
	Actor        string
	BeforeID     int64 // paging: entries older than this id
	Limit        int   // default 100; 0 < Limit ≤ 10000, or -1 for all
}

// Origin says who is acting and from where. The HTTP layer puts it in the
// request context (WithOrigin); the store reads it when it audits an action
// it performs itself, such as a merge.
type Origin struct {
	Actor     string
	IP        string
	UserAgent string
	// Source says through what the action came: "api", "cli", or a
	// webhook such as "shopify". Data subject requests record it.
	Source string
}

type originKey struct{}

// WithOrigin returns a context carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the context's origin; the actor is "system" when none
// was set (imports, background jobs).
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	if o.Actor == "" {
		o.Actor = "system"
	}
	return o
}

func (db *DB) fillAudit(ctx context.Context, e *AuditEntry) error {
	if e.Action == "" {
		return errs.FieldErrorf("action", "an audit entry needs an action")
	}
	o := OriginFrom(ctx)
	if e.Actor == "" {
		e.Actor = o.Actor
	}
	if e.IP == "" {
		e.IP = o.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = o.UserAgent
	}
	if e.At.IsZero() {
		e.At = db.Clock.Now()
	}
	if len(e.UserAgent) > 200 {
		e.UserAgent = e.UserAgent[:200]
	}
	return nil
}

const auditInsert = `INSERT INTO audit_log (at, actor, action, target, detail, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)`

// AppendAudit adds an entry; empty actor, IP and user agent come from the
// context's Origin. There is no way to change or remove an entry.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) error {
	if err := db.fillAudit(ctx, &e); err != nil {
		return err
	}
	_, err := db.Write.ExecContext(ctx, auditInsert, ms(e.At), e.Actor, e.Action, e.Target, e.Detail, e.IP, e.UserAgent)
	return err
}

// auditTx adds an entry inside a transaction, so the action and its record
// commit or roll back together (merges, unmerges, erasures).
// An empty actor is taken from the context's Origin.
func (db *DB) auditTx(ctx context.Context, tx *Tx, actor, action, target, detail string) error {
	e := AuditEntry{Actor: actor, Action: action, Target: target, Detail: detail}
	if err := db.fillAudit(ctx, &e); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, auditInsert, ms(e.At), e.Actor, e.Action, e.Target, e.Detail, e.IP, e.UserAgent)
	return err
}

// AuditEntries lists entries, newest first.
func (db *DB) AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < -1 || q.Limit > 10000 {
		return nil, errs.FieldErrorf("limit", "must be between 1 and 10000")
	}
	where, args := "1 = 1", []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where += " AND " + cond + itoa(len(args))
	}
	if !q.Since.IsZero() {
		add("at >= $", ms(q.Since))
	}
	if !q.Until.IsZero() {
		add("at < $", ms(q.Until))
	}
	if q.Action != "" {
		if q.Action[len(q.Action)-1] == '.' {
			add("action LIKE $", likeEscape(q.Action)+"%")
			where += ` ESCAPE '\'`
		} else {
			add("action = $", q.Action)
		}
	}
	if q.Actor != "" {
		add("actor = $", q.Actor)
	}
	if q.BeforeID > 0 {
		add("id < $", q.BeforeID)
	}
	lim := ""
	if q.Limit > 0 {
		lim = " LIMIT " + itoa(q.Limit)
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, at, actor, action, target, detail, ip, user_agent FROM audit_log WHERE `+where+` ORDER BY id DESC`+lim, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.IP, &e.UserAgent); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

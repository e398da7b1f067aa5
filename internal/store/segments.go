package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/segment"
)

// SegmentStore keeps segments and their members (docs/segments.md).
type SegmentStore interface {
	// CreateSegment validates and stores a segment and evaluates its
	// members at once; UpdateSegment changes it and moves members in and
	// out by the difference (history and journey triggers included).
	CreateSegment(ctx context.Context, s segment.Segment) (*segment.Segment, error)
	UpdateSegment(ctx context.Context, s segment.Segment) (*segment.Segment, error)
	DeleteSegment(ctx context.Context, id int64) error
	Segment(ctx context.Context, id int64) (*segment.Segment, error)
	Segments(ctx context.Context) ([]segment.Segment, error)
	// PreviewSegment counts a condition's matches now and returns a sample.
	PreviewSegment(ctx context.Context, c segment.Condition, sample int) (*segment.Preview, error)
	// CountSegment counts the stored members.
	CountSegment(ctx context.Context, id int64) (int64, error)
	SegmentMembers(ctx context.Context, id int64, limit int, afterID int64) ([]customer.Summary, error)
	ExportSegment(ctx context.Context, id int64, withIdentifiers bool, fn func(segment.Member) error) error
	SegmentChanges(ctx context.Context, id int64, limit int, beforeID int64) ([]segment.Change, error)
	SegmentPushState(ctx context.Context, id int64, target string) (segment.PushState, error)
	SaveSegmentPush(ctx context.Context, st segment.PushState) error

	// Maintenance, driven by the engine.
	ClaimChanged(ctx context.Context, n int, lease time.Duration) ([]Changed, error)
	DoneChanged(ctx context.Context, done []Changed) error
	PendingChanges(ctx context.Context) (int64, error)
	// RefreshSegmentsFor re-evaluates every segment for the customers.
	RefreshSegmentsFor(ctx context.Context, ids []int64) ([]segment.Change, error)
	// RefreshSegmentsByDate brings time-relative segments up to today.
	RefreshSegmentsByDate(ctx context.Context) (int, error)
}

var _ SegmentStore = (*DB)(nil)

const segmentCols = `id, name, description, condition, member_count, evaluated_at, created_by, created_at, updated_at`

func scanSegment(r rowScanner) (*segment.Segment, error) {
	var s segment.Segment
	var cond string
	var evaluated sql.NullInt64
	var created, updated int64
	if err := r.Scan(&s.ID, &s.Name, &s.Description, &cond, &s.MemberCount, &evaluated, &s.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(cond), &s.Condition); err != nil {
		return nil, fmt.Errorf("segment %d: stored condition: %w", s.ID, err)
	}
	s.EvaluatedAt = fromNullMS(evaluated)
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	return &s, nil
}

// CreateSegment stores a new segment and fills its members.
func (db *DB) CreateSegment(ctx context.Context, s segment.Segment) (*segment.Segment, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	now := db.Clock.Now()
	if _, _, _, err := db.compileCondition(ctx, s.Condition, now); err != nil {
		return nil, err
	}
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		if err := db.segmentNameFree(ctx, tx, s.Name, 0); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO segments (name, description, condition, time_relative, evaluated_day, evaluated_at, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $6) RETURNING id`,
			s.Name, s.Description, s.Condition.JSON(), s.Condition.TimeRelative(), tokyoDay(now), ms(now), s.CreatedBy).Scan(&id)
		if err != nil {
			return fmt.Errorf("create segment: %w", err)
		}
		return db.evaluateSegmentFully(ctx, tx, id, s.Condition, now)
	})
	if err != nil {
		return nil, err
	}
	return db.Segment(ctx, id)
}

func (db *DB) segmentNameFree(ctx context.Context, tx *Tx, name string, self int64) error {
	var other int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM segments WHERE name = $1 AND deleted_at IS NULL AND id <> $2`, name, self).Scan(&other)
	if err == nil {
		return &errs.Error{Code: errs.Conflict, Field: "name", Message: fmt.Sprintf("segment %d is already named %q", other, name)}
	}
	if !isNoRows(err) {
		return err
	}
	return nil
}

// UpdateSegment changes a segment; members follow the new condition.
func (db *DB) UpdateSegment(ctx context.Context, s segment.Segment) (*segment.Segment, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	now := db.Clock.Now()
	if _, _, _, err := db.compileCondition(ctx, s.Condition, now); err != nil {
		return nil, err
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		if err := db.segmentNameFree(ctx, tx, s.Name, s.ID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE segments SET name = $1, description = $2, condition = $3, time_relative = $4,
			evaluated_day = $5, evaluated_at = $6, updated_at = $6 WHERE id = $7 AND deleted_at IS NULL`,
			s.Name, s.Description, s.Condition.JSON(), s.Condition.TimeRelative(), tokyoDay(now), ms(now), s.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "segment %d not found", s.ID)
		}
		return db.evaluateSegmentFully(ctx, tx, s.ID, s.Condition, now)
	})
	if err != nil {
		return nil, err
	}
	return db.Segment(ctx, s.ID)
}

// DeleteSegment removes a segment and its members; its history stays.
func (db *DB) DeleteSegment(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE segments SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL`, ms(db.Clock.Now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "segment %d not found", id)
		}
		if err := db.segmentInUse(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM segment_members WHERE segment_id = $1`, id)
		return err
	})
}

// Segment returns one segment.
func (db *DB) Segment(ctx context.Context, id int64) (*segment.Segment, error) {
	s, err := scanSegment(db.Read.QueryRowContext(ctx, `SELECT `+segmentCols+` FROM segments WHERE id = $1 AND deleted_at IS NULL`, id))
	if err != nil {
		return nil, notFound(err, "segment", id)
	}
	return s, nil
}

// Segments lists the segments by name.
func (db *DB) Segments(ctx context.Context) ([]segment.Segment, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+segmentCols+` FROM segments WHERE deleted_at IS NULL ORDER BY name, id`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSegment)
}

// collect scans every row with scan and closes rows; the result is never
// nil, so that it encodes as a JSON list.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

const summaryCols = `c.id, c.last_name, c.first_name, c.last_name_kana, c.first_name_kana, c.email, c.phone, c.prefecture,
	c.order_count, c.total_spent, c.last_order_at, c.created_at`

func scanSummaries(rows *sql.Rows) ([]customer.Summary, error) {
	defer rows.Close()
	out := []customer.Summary{}
	for rows.Next() {
		var s customer.Summary
		var p customer.Profile
		var last sql.NullInt64
		var created int64
		if err := rows.Scan(&s.ID, &p.LastName, &p.FirstName, &p.LastNameKana, &p.FirstNameKana, &s.Email, &s.Phone, &s.Prefecture,
			&s.OrderCount, &s.TotalSpent, &last, &created); err != nil {
			return nil, err
		}
		p.Email = s.Email
		s.DisplayName = p.DisplayName()
		s.NameKana = strings.TrimSpace(p.LastNameKana + " " + p.FirstNameKana)
		s.LastOrderAt = fromNullMS(last)
		s.CreatedAt = fromMS(created)
		out = append(out, s)
	}
	return out, rows.Err()
}

// PreviewSegment counts the customers a condition matches now and returns
// the newest few.
func (db *DB) PreviewSegment(ctx context.Context, c segment.Condition, sample int) (*segment.Preview, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if sample <= 0 || sample > 100 {
		sample = 20
	}
	cond, args, _, err := db.compileCondition(ctx, c, db.Clock.Now())
	if err != nil {
		return nil, err
	}
	p := &segment.Preview{}
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customers c WHERE c.status = 'active' AND `+cond, args...).Scan(&p.Count); err != nil {
		return nil, fmt.Errorf("count segment: %w", err)
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+summaryCols+` FROM customers c WHERE c.status = 'active' AND `+cond+
		` ORDER BY c.id DESC LIMIT `+itoa(sample), args...)
	if err != nil {
		return nil, fmt.Errorf("sample segment: %w", err)
	}
	if p.Sample, err = scanSummaries(rows); err != nil {
		return nil, err
	}
	return p, nil
}

// CountSegment counts a segment's members.
func (db *DB) CountSegment(ctx context.Context, id int64) (int64, error) {
	if _, err := db.Segment(ctx, id); err != nil {
		return 0, err
	}
	var n int64
	err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM segment_members WHERE segment_id = $1`, id).Scan(&n)
	return n, err
}

// SegmentMembers pages through a segment's members by customer id.
func (db *DB) SegmentMembers(ctx context.Context, id int64, limit int, afterID int64) ([]customer.Summary, error) {
	if _, err := db.Segment(ctx, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+summaryCols+` FROM segment_members m JOIN customers c ON c.id = m.customer_id
		WHERE m.segment_id = $1 AND m.customer_id > $2 ORDER BY m.customer_id LIMIT $3`, id, afterID, limit)
	if err != nil {
		return nil, err
	}
	return scanSummaries(rows)
}

// ExportSegment calls fn for every member in customer id order, reading in
// pages so that a segment of millions streams.
func (db *DB) ExportSegment(ctx context.Context, id int64, withIdentifiers bool, fn func(segment.Member) error) error {
	if _, err := db.Segment(ctx, id); err != nil {
		return err
	}
	after := int64(0)
	for {
		rows, err := db.Read.QueryContext(ctx, `SELECT c.id, c.last_name, c.first_name, c.email, c.phone, c.prefecture, c.order_count, c.total_spent,
			c.last_order_at, m.entered_at FROM segment_members m JOIN customers c ON c.id = m.customer_id
			WHERE m.segment_id = $1 AND m.customer_id > $2 ORDER BY m.customer_id LIMIT 2000`, id, after)
		if err != nil {
			return err
		}
		var page []segment.Member
		for rows.Next() {
			var m segment.Member
			var last sql.NullInt64
			var entered int64
			if err := rows.Scan(&m.CustomerID, &m.LastName, &m.FirstName, &m.Email, &m.Phone, &m.Prefecture, &m.OrderCount, &m.TotalSpent, &last, &entered); err != nil {
				rows.Close()
				return err
			}
			m.LastOrderAt = fromNullMS(last)
			m.EnteredAt = fromMS(entered)
			page = append(page, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if withIdentifiers {
			if err := db.memberIdentifiers(ctx, page); err != nil {
				return err
			}
		}
		for _, m := range page {
			if err := fn(m); err != nil {
				return err
			}
		}
		after = page[len(page)-1].CustomerID
	}
}

func (db *DB) memberIdentifiers(ctx context.Context, page []segment.Member) error {
	idx := map[int64]int{}
	ids := make([]any, len(page))
	for i, m := range page {
		idx[m.CustomerID] = i
		ids[i] = m.CustomerID
	}
	cond, args := db.Dialect.InList("customer_id", 1, ids)
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, kind, source, value FROM identities
		WHERE (kind = 'line' OR (kind = 'external' AND source = 'shopify')) AND `+cond+` ORDER BY customer_id, value`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cid int64
		var kind, source, value string
		if err := rows.Scan(&cid, &kind, &source, &value); err != nil {
			return err
		}
		m := &page[idx[cid]]
		if kind == "line" {
			m.LineUserIDs = append(m.LineUserIDs, value)
		} else {
			m.ShopifyIDs = append(m.ShopifyIDs, value)
		}
	}
	return rows.Err()
}

// SegmentChanges lists a segment's entries and exits, newest first.
func (db *DB) SegmentChanges(ctx context.Context, id int64, limit int, beforeID int64) ([]segment.Change, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if beforeID <= 0 {
		beforeID = 1<<62 - 1
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, segment_id, customer_id, entered, at FROM segment_changes
		WHERE segment_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, id, beforeID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []segment.Change{}
	for rows.Next() {
		var c segment.Change
		var at int64
		if err := rows.Scan(&c.ID, &c.SegmentID, &c.CustomerID, &c.Entered, &at); err != nil {
			return nil, err
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// SegmentPushState returns what the last push to target sent.
func (db *DB) SegmentPushState(ctx context.Context, id int64, target string) (segment.PushState, error) {
	st := segment.PushState{SegmentID: id, Target: target}
	var ids string
	err := db.Read.QueryRowContext(ctx, `SELECT ref, ids FROM segment_pushes WHERE segment_id = $1 AND target = $2`, id, target).Scan(&st.Ref, &ids)
	if isNoRows(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(ids), &st.IDs)
}

// SaveSegmentPush records what a push sent.
func (db *DB) SaveSegmentPush(ctx context.Context, st segment.PushState) error {
	ids, _ := json.Marshal(st.IDs)
	if st.IDs == nil {
		ids = []byte("[]")
	}
	_, err := db.Write.ExecContext(ctx, `INSERT INTO segment_pushes (segment_id, target, ref, ids, pushed_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (segment_id, target) DO UPDATE SET ref = excluded.ref, ids = excluded.ids, pushed_at = excluded.pushed_at`,
		st.SegmentID, st.Target, st.Ref, string(ids), ms(db.Clock.Now()))
	return err
}

// evaluateSegmentFully brings a segment's members in line with its
// condition over every customer: those who match and are not members
// enter, members who no longer match exit.
func (db *DB) evaluateSegmentFully(ctx context.Context, tx *Tx, id int64, c segment.Condition, now time.Time) error {
	cond, args, _, err := db.compileCondition(ctx, c, now)
	if err != nil {
		return err
	}
	k := len(args) + 1
	enters, err := queryIDs(ctx, tx, `SELECT c.id FROM customers c WHERE c.status = 'active' AND `+cond+
		` AND NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = $`+itoa(k)+` AND m.customer_id = c.id)`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("evaluate segment %d: %w", id, err)
	}
	exits, err := queryIDs(ctx, tx, `SELECT m.customer_id FROM segment_members m WHERE m.segment_id = $`+itoa(k)+
		` AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id AND c.status = 'active' AND `+cond+`)`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("evaluate segment %d: %w", id, err)
	}
	return db.applySegmentChanges(ctx, tx, id, enters, exits, now)
}

// queryIDs runs a query of one integer column and collects it.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// applySegmentChanges writes entries and exits: members, history, the
// member count, and the enrollments of journeys triggered by them, all in
// the caller's transaction.
func (db *DB) applySegmentChanges(ctx context.Context, tx *Tx, id int64, enters, exits []int64, now time.Time) error {
	if len(enters) == 0 && len(exits) == 0 {
		return nil
	}
	t := ms(now)
	if _, err := db.insertMany(ctx, tx, `INSERT INTO segment_members (segment_id, customer_id, entered_at)`, 3, "", len(enters),
		func(i int, args []any) []any { return append(args, id, enters[i], t) }); err != nil {
		return fmt.Errorf("segment %d: add members: %w", id, err)
	}
	err := db.chunk(len(exits), 1, func(lo, hi int) error {
		vals := make([]any, hi-lo)
		for i, v := range exits[lo:hi] {
			vals[i] = v
		}
		cond, args := db.Dialect.InList("customer_id", 2, vals)
		_, err := tx.ExecContext(ctx, `DELETE FROM segment_members WHERE segment_id = $1 AND `+cond, append([]any{id}, args...)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("segment %d: remove members: %w", id, err)
	}
	n := len(enters) + len(exits)
	if _, err := db.insertMany(ctx, tx, `INSERT INTO segment_changes (segment_id, customer_id, entered, at)`, 4, "", n,
		func(i int, args []any) []any {
			if i < len(enters) {
				return append(args, id, enters[i], true, t)
			}
			return append(args, id, exits[i-len(enters)], false, t)
		}); err != nil {
		return fmt.Errorf("segment %d: history: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE segments SET member_count = member_count + $1 WHERE id = $2`, len(enters)-len(exits), id); err != nil {
		return err
	}
	return db.enrollSegmentTriggers(ctx, tx, id, enters, exits, now)
}

type liveSegment struct {
	id   int64
	cond segment.Condition
}

func (db *DB) liveSegments(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, where string, args ...any) ([]liveSegment, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, condition FROM segments WHERE deleted_at IS NULL`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []liveSegment
	for rows.Next() {
		var s liveSegment
		var raw string
		if err := rows.Scan(&s.id, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &s.cond); err != nil {
			return nil, fmt.Errorf("segment %d: stored condition: %w", s.id, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// segmentsPerQuery bounds how many conditions one evaluation query holds.
const segmentsPerQuery = 32

// RefreshSegmentsFor re-evaluates every segment for the given customers in
// one transaction and returns the entries and exits it recorded.
func (db *DB) RefreshSegmentsFor(ctx context.Context, ids []int64) ([]segment.Change, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var changes []segment.Change
	err := db.inTx(ctx, func(tx *Tx) error {
		changes = changes[:0]
		now := db.Clock.Now()
		segs, err := db.liveSegments(ctx, tx, "")
		if err != nil || len(segs) == 0 {
			return err
		}
		vals := make([]any, len(ids))
		for i, id := range ids {
			vals[i] = id
		}
		// Current membership of these customers.
		cond, args := db.Dialect.InList("customer_id", 1, vals)
		rows, err := tx.QueryContext(ctx, `SELECT segment_id, customer_id FROM segment_members WHERE `+cond, args...)
		if err != nil {
			return err
		}
		member := map[[2]int64]bool{}
		for rows.Next() {
			var s, c int64
			if err := rows.Scan(&s, &c); err != nil {
				rows.Close()
				return err
			}
			member[[2]int64{s, c}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for lo := 0; lo < len(segs); lo += segmentsPerQuery {
			group := segs[lo:min(lo+segmentsPerQuery, len(segs))]
			cp := db.newCompiler(now)
			cols := make([]string, len(group))
			for i, s := range group {
				q, err := cp.compile(ctx, s.cond)
				if err != nil {
					// A segment whose capability went missing keeps its members.
					cols[i] = "-1"
					continue
				}
				cols[i] = "CASE WHEN c.status = 'active' AND " + q + " THEN 1 ELSE 0 END"
			}
			idCond, idArgs := db.Dialect.InList("c.id", len(cp.args)+1, vals)
			rows, err := tx.QueryContext(ctx, `SELECT c.id, `+strings.Join(cols, ", ")+` FROM customers c WHERE `+idCond, append(cp.args, idArgs...)...)
			if err != nil {
				return fmt.Errorf("evaluate segments: %w", err)
			}
			matched := map[[2]int64]int{}
			for rows.Next() {
				dest := make([]any, len(group)+1)
				var cid int64
				res := make([]int64, len(group))
				dest[0] = &cid
				for i := range group {
					dest[i+1] = &res[i]
				}
				if err := rows.Scan(dest...); err != nil {
					rows.Close()
					return err
				}
				for i, s := range group {
					matched[[2]int64{s.id, cid}] = int(res[i])
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, s := range group {
				var enters, exits []int64
				for _, cid := range ids {
					m, ok := matched[[2]int64{s.id, cid}]
					if m < 0 {
						continue
					}
					in := ok && m == 1
					was := member[[2]int64{s.id, cid}]
					switch {
					case in && !was:
						enters = append(enters, cid)
					case was && !in:
						exits = append(exits, cid)
					}
				}
				if err := db.applySegmentChanges(ctx, tx, s.id, enters, exits, now); err != nil {
					return err
				}
				changes = appendChanges(changes, s.id, enters, exits, now)
			}
		}
		return nil
	})
	return changes, err
}

func appendChanges(out []segment.Change, seg int64, enters, exits []int64, at time.Time) []segment.Change {
	for _, c := range enters {
		out = append(out, segment.Change{SegmentID: seg, CustomerID: c, Entered: true, At: at})
	}
	for _, c := range exits {
		out = append(out, segment.Change{SegmentID: seg, CustomerID: c, Entered: false, At: at})
	}
	return out
}

// RefreshSegmentsByDate flips the members of time-relative segments whose
// answer changed since they were last brought up to date: for each, only
// the customers whose dates crossed one of the condition's day boundaries
// are looked at (a segment over analytics or loyalty data is checked in
// full, since that data changes outside the change feed). It returns how
// many segments it refreshed.
func (db *DB) RefreshSegmentsByDate(ctx context.Context) (int, error) {
	now := db.Clock.Now()
	today := tokyoDay(now)
	segs, err := db.liveSegments(ctx, db.Read, ` AND time_relative = $1 AND evaluated_day < $2`, true, today)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, s := range segs {
		err := db.inTx(ctx, func(tx *Tx) error {
			var day int64
			// Claim the segment: another process may be refreshing it.
			err := tx.QueryRowContext(ctx, `SELECT evaluated_day FROM segments WHERE id = $1`+db.Dialect.SkipLocked(), s.id).Scan(&day)
			if isNoRows(err) {
				return nil
			}
			if err != nil {
				return err
			}
			if day >= today {
				return nil
			}
			cp := db.newCompiler(now)
			cond, err := cp.compile(ctx, s.cond)
			if err != nil {
				return err
			}
			if cp.full || day == 0 {
				if err := db.evaluateSegmentFully(ctx, tx, s.id, s.cond, now); err != nil {
					return err
				}
			} else if cand, cargs := cp.flipCandidates(dayFromNumber(day), dayFromNumber(today)); cand != "" {
				k := len(cp.args)
				q := `SELECT c.id, CASE WHEN c.status = 'active' AND ` + cond + ` THEN 1 ELSE 0 END,
					CASE WHEN EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = $` + itoa(k+1) + ` AND m.customer_id = c.id) THEN 1 ELSE 0 END
					FROM customers c WHERE c.id IN (` + renumber(cand, k+1) + `)`
				rows, err := tx.QueryContext(ctx, q, append(append(cp.args, s.id), cargs...)...)
				if err != nil {
					return fmt.Errorf("segment %d: date flips: %w", s.id, err)
				}
				var enters, exits []int64
				for rows.Next() {
					var cid, in, was int64
					if err := rows.Scan(&cid, &in, &was); err != nil {
						rows.Close()
						return err
					}
					if in == 1 && was == 0 {
						enters = append(enters, cid)
					} else if in == 0 && was == 1 {
						exits = append(exits, cid)
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				if err := db.applySegmentChanges(ctx, tx, s.id, enters, exits, now); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, `UPDATE segments SET evaluated_day = $1, evaluated_at = $2 WHERE id = $3`, today, ms(now), s.id)
			return err
		})
		if err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// InSegment reports whether a customer is a member of a segment (the
// channels capability's seam: on-site messages for a segment).
func (db *DB) InSegment(ctx context.Context, segmentID, customerID int64) (bool, error) {
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM segment_members WHERE segment_id = $1 AND customer_id = $2`, segmentID, customerID).Scan(&n)
	return n > 0, err
}

// Members lists a segment's member ids (the channels capability's seam:
// DM lists and LINE audiences of a segment).
func (db *DB) Members(ctx context.Context, segmentID int64) ([]int64, error) {
	if _, err := db.Segment(ctx, segmentID); err != nil {
		return nil, err
	}
	return db.readIDs(ctx, `SELECT customer_id FROM segment_members WHERE segment_id = $1 ORDER BY customer_id`, segmentID)
}

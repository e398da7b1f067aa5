package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/segment"
)

// JourneyStore keeps journeys and runs their enrollments (docs/journeys.md).
type JourneyStore interface {
	CreateJourney(ctx context.Context, j journey.Journey) (*journey.Journey, error)
	UpdateJourney(ctx context.Context, j journey.Journey) (*journey.Journey, error)
	// SetJourneyStatus enables, disables or archives a journey. Enabling a
	// segment_enter journey with include_existing enrolls the segment's
	// members of the moment, in the same transaction.
	SetJourneyStatus(ctx context.Context, id int64, status string) (*journey.Journey, error)
	Journeys(ctx context.Context) ([]journey.Journey, error)
	JourneyStats(ctx context.Context, id int64) (*journey.Stats, error)
	JourneyEnrollments(ctx context.Context, f EnrollmentFilter) ([]journey.Enrollment, error)
	// NextDue is the earliest time (store clock) some enrollment, message
	// or campaign falls due, zero when nothing waits for a time.
	NextDue(ctx context.Context) (time.Time, error)
	// RecordProductSignal notes that a product came back in stock or got
	// cheaper, for back_in_stock and price_drop journeys.
	RecordProductSignal(ctx context.Context, sku, kind string, oldPrice, newPrice int64) (int64, error)

	journey.Store
}

// EnrollmentFilter selects enrollments to list.
type EnrollmentFilter struct {
	JourneyID  int64
	CustomerID int64
	Step       string
	State      string
	Limit      int
	AfterID    int64
}

var _ JourneyStore = (*DB)(nil)

// journeyRow reads a journey.
func scanJourney(r rowScanner) (*journey.Journey, error) {
	var j journey.Journey
	var def string
	var enabled sql.NullInt64
	var created, updated int64
	if err := r.Scan(&j.ID, &j.Name, &j.Description, &j.Template, &j.Status, &def, &j.Version, &enabled, &j.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	var d journeyDef
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		return nil, fmt.Errorf("journey %d: stored definition: %w", j.ID, err)
	}
	j.Trigger, j.Steps, j.Reentry, j.Goal, j.MaxVisits = d.Trigger, d.Steps, d.Reentry, d.Goal, d.MaxVisits
	j.EnabledAt = fromNullMS(enabled)
	j.CreatedAt, j.UpdatedAt = fromMS(created), fromMS(updated)
	return &j, nil
}

// journeyDef is the stored JSON of a journey's definition.
type journeyDef struct {
	Trigger   journey.Trigger `json:"trigger"`
	Steps     []journey.Step  `json:"steps"`
	Reentry   journey.Reentry `json:"reentry"`
	Goal      *journey.Goal   `json:"goal,omitempty"`
	MaxVisits int             `json:"max_visits,omitempty"`
}

func definition(j *journey.Journey) string {
	b, _ := json.Marshal(journeyDef{Trigger: j.Trigger, Steps: j.Steps, Reentry: j.Reentry, Goal: j.Goal, MaxVisits: j.MaxVisits})
	return string(b)
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const journeyCols = `id, name, description, template, status, definition, version, enabled_at, created_by, created_at, updated_at`

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// checkJourneyRefs checks what a definition refers to exists.
func (db *DB) checkJourneyRefs(ctx context.Context, q rowQuerier, j *journey.Journey) error {
	if j.Trigger.SegmentID != 0 {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM segments WHERE id = $1 AND deleted_at IS NULL`, j.Trigger.SegmentID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errs.FieldErrorf("trigger.segment_id", "segment %d does not exist", j.Trigger.SegmentID)
		}
	}
	now := db.Clock.Now()
	for i, s := range j.Steps {
		if s.Condition != nil {
			if _, _, _, err := db.compileCondition(ctx, *s.Condition, now); err != nil {
				if e, ok := err.(*errs.Error); ok {
					e.Field = fmt.Sprintf("steps[%d].condition.%s", i, e.Field)
				}
				return err
			}
		}
	}
	return nil
}

// CreateJourney validates and stores a journey (as a draft unless its
// status says enabled).
func (db *DB) CreateJourney(ctx context.Context, j journey.Journey) (*journey.Journey, error) {
	want := j.Status
	j.Status = journey.Draft
	if err := j.Validate(); err != nil {
		return nil, err
	}
	if err := db.checkJourneyRefs(ctx, db.Read, &j); err != nil {
		return nil, err
	}
	now := ms(db.Clock.Now())
	var id int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO journeys (name, description, template, status, definition, trigger_type, segment_id, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`,
		j.Name, j.Description, j.Template, journey.Draft, definition(&j), j.Trigger.Type, nullID(j.Trigger.SegmentID), j.CreatedBy, now).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("create journey: %w", err)
	}
	if want == journey.Enabled {
		return db.SetJourneyStatus(ctx, id, journey.Enabled)
	}
	return db.Journey(ctx, id)
}

// UpdateJourney replaces a journey's definition. Steps where customers
// are now must stay, so that no enrollment is stranded.
func (db *DB) UpdateJourney(ctx context.Context, j journey.Journey) (*journey.Journey, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	if err := db.checkJourneyRefs(ctx, db.Read, &j); err != nil {
		return nil, err
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		cur, err := scanJourney(tx.QueryRowContext(ctx, `SELECT `+journeyCols+` FROM journeys WHERE id = $1`, j.ID))
		if err != nil {
			return notFound(err, "journey", j.ID)
		}
		if cur.Status == journey.Archived {
			return errs.Errorf(errs.Conflict, "journey %d is archived", j.ID)
		}
		rows, err := tx.QueryContext(ctx, `SELECT step, count(*) FROM journey_enrollments WHERE journey_id = $1 AND state <> 'ended' AND step <> '' GROUP BY step`, j.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var step string
			var n int
			if err := rows.Scan(&step, &n); err != nil {
				return err
			}
			if _, ok := j.Step(step); !ok {
				return errs.FieldErrorf("steps", "%d customers are at step %q: keep it (it may point elsewhere) or wait until they moved on", n, step)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE journeys SET name = $1, description = $2, definition = $3, trigger_type = $4, segment_id = $5,
			version = version + 1, updated_at = $6 WHERE id = $7`,
			j.Name, j.Description, definition(&j), j.Trigger.Type, nullID(j.Trigger.SegmentID), ms(db.Clock.Now()), j.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.Journey(ctx, j.ID)
}

// SetJourneyStatus changes a journey's status.
func (db *DB) SetJourneyStatus(ctx context.Context, id int64, status string) (*journey.Journey, error) {
	switch status {
	case journey.Enabled, journey.Disabled, journey.Archived:
	default:
		return nil, errs.FieldErrorf("status", "%q: use enabled, disabled or archived", status)
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		// Lock the journey's row: enabling twice at once must enroll once.
		if _, err := tx.ExecContext(ctx, `UPDATE journeys SET updated_at = updated_at WHERE id = $1`, id); err != nil {
			return err
		}
		j, err := scanJourney(tx.QueryRowContext(ctx, `SELECT `+journeyCols+` FROM journeys WHERE id = $1`, id))
		if err != nil {
			return notFound(err, "journey", id)
		}
		if j.Status == journey.Archived {
			return errs.Errorf(errs.Conflict, "journey %d is archived", id)
		}
		now := db.Clock.Now()
		switch status {
		case journey.Enabled:
			if j.Status == journey.Enabled {
				return nil
			}
			if err := db.checkJourneyRefs(ctx, tx, j); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE journeys SET status = 'enabled', enabled_at = $1, updated_at = $1,
				scan_day = CASE WHEN scan_day < $2 THEN $2 ELSE scan_day END WHERE id = $3`, ms(now), tokyoDay(now)-1, id); err != nil {
				return err
			}
			j.EnabledAt = &now
			if j.Trigger.Type == journey.TriggerSegmentEnter && j.Trigger.IncludeExisting {
				ids, err := queryIDs(ctx, tx, `SELECT customer_id FROM segment_members WHERE segment_id = $1 ORDER BY customer_id`, j.Trigger.SegmentID)
				if err != nil {
					return err
				}
				trig := journey.Context{Trigger: map[string]any{"type": "segment_member", "segment_id": j.Trigger.SegmentID}}.JSON()
				prefix := "member:" + strconv.FormatInt(j.Trigger.SegmentID, 10) + ":"
				cands := make([]journey.Candidate, len(ids))
				for i, c := range ids {
					cands[i] = journey.Candidate{CustomerID: c, Key: prefix + strconv.FormatInt(c, 10), TriggerJSON: trig}
				}
				if _, err := db.enrollTx(ctx, tx, j, cands, now); err != nil {
					return err
				}
			}
			return nil
		case journey.Archived:
			if err := db.endEnrollments(ctx, tx, id, journey.EndArchived, now); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE journeys SET status = $1, updated_at = $2 WHERE id = $3`, status, ms(now), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	db.notifyChanged()
	return db.Journey(ctx, id)
}

// endEnrollments ends every unfinished enrollment of a journey and
// cancels their queued messages.
func (db *DB) endEnrollments(ctx context.Context, tx *Tx, journeyID int64, reason string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE journey_enrollments SET state = 'ended', end_reason = $1, ended_at = $2, due_at = NULL, lease_token = 0
		WHERE journey_id = $3 AND state <> 'ended'`, reason, ms(now), journeyID)
	if err != nil {
		return err
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'cancelled' WHERE journey_id = $1 AND status = 'queued'`, journeyID); err != nil {
		return err
	}
	return db.addJourneyStats(ctx, tx, map[statKey]int64{
		{journeyID, "", journey.MetricExited}:                n,
		{journeyID, "", journey.MetricExited + ":" + reason}: n,
	})
}

// Journey returns one journey.
func (db *DB) Journey(ctx context.Context, id int64) (*journey.Journey, error) {
	j, err := scanJourney(db.Read.QueryRowContext(ctx, `SELECT `+journeyCols+` FROM journeys WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "journey", id)
	}
	return j, nil
}

// Journeys lists journeys, archived ones last.
func (db *DB) Journeys(ctx context.Context) ([]journey.Journey, error) {
	return db.journeysWhere(ctx, `status <> 'archived' ORDER BY id`)
}

// EnabledJourneys lists the enabled journeys.
func (db *DB) EnabledJourneys(ctx context.Context) ([]journey.Journey, error) {
	return db.journeysWhere(ctx, `status = 'enabled' ORDER BY id`)
}

func (db *DB) journeysWhere(ctx context.Context, where string, args ...any) ([]journey.Journey, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+journeyCols+` FROM journeys WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanJourney)
}

// segmentInUse refuses to delete a segment a journey or campaign uses.
func (db *DB) segmentInUse(ctx context.Context, tx *Tx, id int64) error {
	var jid int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM journeys WHERE segment_id = $1 AND status <> 'archived' LIMIT 1`, id).Scan(&jid)
	if err == nil {
		return errs.Errorf(errs.Conflict, "journey %d is triggered by segment %d; archive it first", jid, id)
	}
	if !isNoRows(err) {
		return err
	}
	err = tx.QueryRowContext(ctx, `SELECT id FROM campaigns WHERE segment_id = $1 AND status IN ('draft', 'scheduled', 'running', 'paused') LIMIT 1`, id).Scan(&jid)
	if err == nil {
		return errs.Errorf(errs.Conflict, "campaign %d sends to segment %d; cancel it first", jid, id)
	}
	if !isNoRows(err) {
		return err
	}
	return nil
}

// enrollSegmentTriggers enrolls, in the transaction that recorded them,
// the customers who entered or left a segment into the enabled journeys
// those changes trigger.
func (db *DB) enrollSegmentTriggers(ctx context.Context, tx *Tx, segID int64, enters, exits []int64, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+journeyCols+` FROM journeys WHERE status = 'enabled' AND segment_id = $1
		AND trigger_type IN ('segment_enter', 'segment_exit') ORDER BY id`, segID)
	if err != nil {
		return err
	}
	var js []*journey.Journey
	for rows.Next() {
		j, err := scanJourney(rows)
		if err != nil {
			rows.Close()
			return err
		}
		js = append(js, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	at := strconv.FormatInt(ms(now), 10)
	for _, j := range js {
		ids, kind := enters, "enter"
		if j.Trigger.Type == journey.TriggerSegmentExit {
			ids, kind = exits, "exit"
		}
		if len(ids) == 0 {
			continue
		}
		trig := journey.Context{Trigger: map[string]any{"type": "segment_" + kind, "segment_id": segID}}.JSON()
		cands := make([]journey.Candidate, len(ids))
		for i, c := range ids {
			cands[i] = journey.Candidate{CustomerID: c, Key: "segment:" + kind + ":" + strconv.FormatInt(c, 10) + ":" + at, TriggerJSON: trig}
		}
		if _, err := db.enrollTx(ctx, tx, j, cands, now); err != nil {
			return err
		}
	}
	return nil
}

// Enroll creates enrollments for candidates.
func (db *DB) Enroll(ctx context.Context, j *journey.Journey, cands []journey.Candidate) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *Tx) error {
		var err error
		n, err = db.enrollTx(ctx, tx, j, cands, db.Clock.Now())
		return err
	})
	return n, err
}

// enrollTx enrolls candidates under the journey's re-entry policy: a
// customer with an unfinished enrollment never gets a second one (after
// a merge the runner ends the later one), "once" refuses anyone who ever
// entered, "cooldown" anyone who entered within the cooldown. Entry keys
// make a repeated trigger a no-op.
func (db *DB) enrollTx(ctx context.Context, tx *Tx, j *journey.Journey, cands []journey.Candidate, now time.Time) (int, error) {
	if len(cands) == 0 {
		return 0, nil
	}
	// Enrollments into one journey run one at a time across processes.
	if _, err := tx.ExecContext(ctx, `UPDATE journeys SET updated_at = updated_at WHERE id = $1`, j.ID); err != nil {
		return 0, err
	}
	blocked := map[int64]bool{}
	var cutoff int64
	if j.Reentry.Policy == journey.ReentryCooldown {
		cutoff = ms(now.Add(-j.Reentry.Cooldown.Duration))
	}
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var c, entered int64
			var state string
			if err := rows.Scan(&c, &state, &entered); err != nil {
				return err
			}
			if state != journey.Ended || j.Reentry.Policy == journey.ReentryOnce || j.Reentry.Policy == journey.ReentryCooldown && entered > cutoff {
				blocked[c] = true
			}
		}
		return rows.Err()
	}
	if len(cands) > 2000 {
		rows, err := tx.QueryContext(ctx, `SELECT customer_id, state, entered_at FROM journey_enrollments WHERE journey_id = $1`, j.ID)
		if err != nil {
			return 0, err
		}
		if err := scan(rows); err != nil {
			return 0, err
		}
	} else {
		ids := make([]any, len(cands))
		for i, c := range cands {
			ids[i] = c.CustomerID
		}
		cond, args := db.Dialect.InList("customer_id", 2, ids)
		rows, err := tx.QueryContext(ctx, `SELECT customer_id, state, entered_at FROM journey_enrollments WHERE journey_id = $1 AND `+cond,
			append([]any{j.ID}, args...)...)
		if err != nil {
			return 0, err
		}
		if err := scan(rows); err != nil {
			return 0, err
		}
	}
	keep := cands[:0:0]
	for _, c := range cands {
		if c.CustomerID == 0 || blocked[c.CustomerID] {
			continue
		}
		blocked[c.CustomerID] = true
		keep = append(keep, c)
	}
	t := ms(now)
	n, err := db.insertMany(ctx, tx, `INSERT INTO journey_enrollments (journey_id, customer_id, origin_customer_id, entry_key, state, step, due_at, step_at, entered_at, context)`,
		10, `ON CONFLICT (journey_id, entry_key) DO NOTHING`, len(keep), func(i int, args []any) []any {
			c := keep[i]
			ctxJSON := "{}"
			switch {
			case c.TriggerJSON != "":
				ctxJSON = c.TriggerJSON
			case c.Trigger != nil:
				ctxJSON = journey.Context{Trigger: c.Trigger}.JSON()
			}
			return append(args, j.ID, c.CustomerID, c.CustomerID, c.Key, journey.Ready, "", t, t, t, ctxJSON)
		})
	if err != nil {
		return 0, fmt.Errorf("journey %d: enroll: %w", j.ID, err)
	}
	if n > 0 {
		if err := db.addJourneyStats(ctx, tx, map[statKey]int64{{j.ID, "", journey.MetricEntered}: n}); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

type statKey struct {
	journey int64
	step    string
	metric  string
}

// addJourneyStats adds to journey counters.
func (db *DB) addJourneyStats(ctx context.Context, tx *Tx, add map[statKey]int64) error {
	keys := make([]statKey, 0, len(add))
	for k, v := range add {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	// A fixed order keeps concurrent transactions from deadlocking.
	sort.Slice(keys, func(a, b int) bool {
		x, y := keys[a], keys[b]
		if x.journey != y.journey {
			return x.journey < y.journey
		}
		if x.step != y.step {
			return x.step < y.step
		}
		return x.metric < y.metric
	})
	for _, k := range keys {
		if _, err := tx.execCached(ctx, db, `INSERT INTO journey_stats (journey_id, step, metric, value) VALUES ($1, $2, $3, $4)
			ON CONFLICT (journey_id, step, metric) DO UPDATE SET value = journey_stats.value + excluded.value`,
			[]any{k.journey, k.step, k.metric, add[k]}); err != nil {
			return fmt.Errorf("journey stats: %w", err)
		}
	}
	return nil
}

const enrollmentCols = `e.id, e.journey_id, e.customer_id, e.entry_key, e.state, e.step, e.sub, e.due_at, e.step_at, e.entered_at, e.context,
	e.ended_at, e.end_reason, e.converted, e.revenue, e.last_error, e.lease_token`

func scanEnrollment(r rowScanner) (journey.Enrollment, error) {
	var e journey.Enrollment
	var due, ended sql.NullInt64
	var stepAt, entered int64
	var ctxJSON string
	if err := r.Scan(&e.ID, &e.JourneyID, &e.CustomerID, &e.EntryKey, &e.State, &e.Step, &e.Sub, &due, &stepAt, &entered, &ctxJSON,
		&ended, &e.EndReason, &e.Converted, &e.Revenue, &e.LastError, &e.Token); err != nil {
		return e, err
	}
	if due.Valid {
		e.DueAt = fromMS(due.Int64)
	}
	if ended.Valid {
		e.EndedAt = fromMS(ended.Int64)
	}
	e.StepAt, e.EnteredAt = fromMS(stepAt), fromMS(entered)
	if err := json.Unmarshal([]byte(ctxJSON), &e.Context); err != nil {
		return e, fmt.Errorf("enrollment %d: context: %w", e.ID, err)
	}
	return e, nil
}

func scanEnrollments(rows *sql.Rows) ([]journey.Enrollment, error) {
	return collect(rows, func(r rowScanner) (*journey.Enrollment, error) {
		e, err := scanEnrollment(r)
		return &e, err
	})
}

// ClaimEnrollments leases due enrollments of enabled journeys.
func (db *DB) ClaimEnrollments(ctx context.Context, now time.Time, n int, lease time.Duration) ([]journey.Enrollment, error) {
	var out []journey.Enrollment
	err := db.leaseRows(ctx, "journey_enrollments", `state IN ('ready', 'waiting') AND due_at <= $1`,
		`AND journey_id IN (SELECT id FROM journeys WHERE status = 'enabled') ORDER BY due_at`, ms(now), n, lease,
		func(tx *Tx, vals []any) error {
			cond, args := db.Dialect.InList("e.id", 1, vals)
			rows, err := tx.QueryContext(ctx, `SELECT `+enrollmentCols+`, j.version FROM journey_enrollments e JOIN journeys j ON j.id = e.journey_id WHERE `+cond, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			out = out[:0]
			for rows.Next() {
				var version int
				e, err := scanEnrollmentVersion(rows, &version)
				if err != nil {
					return err
				}
				e.JourneyVersion = version
				out = append(out, e)
			}
			return rows.Err()
		})
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, err
}

// leaseRows is the claim of the engine's queues (enrollments, the
// outbox): it looks for a due row outside any transaction first (an idle
// engine costs one read), then, in one transaction, selects up to n rows
// matching due (whose $1 is dueArg) and not leased, skipping rows other
// transactions hold, leases them under a fresh random token for lease
// (wall clock), and calls read with their ids to load them.
func (db *DB) leaseRows(ctx context.Context, table, due, order string, dueArg any, n int, lease time.Duration,
	read func(tx *Tx, ids []any) error) error {
	wall := time.Now().UnixMilli()
	if !db.anyRow(ctx, `SELECT 1 FROM `+table+` WHERE `+due+` AND lease_until < $2 LIMIT 1`, dueArg, wall) {
		return nil
	}
	token := rand.Int64N(1<<62) + 1
	return db.inTx(ctx, func(tx *Tx) error {
		ids, err := queryIDs(ctx, tx, `SELECT id FROM `+table+` WHERE `+due+` AND lease_until < $2 `+order+` LIMIT $3`+db.Dialect.SkipLocked(),
			dueArg, wall, n)
		if err != nil || len(ids) == 0 {
			return err
		}
		vals := make([]any, len(ids))
		for i, id := range ids {
			vals[i] = id
		}
		cond, args := db.Dialect.InList("id", 3, vals)
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET lease_until = $1, lease_token = $2 WHERE `+cond,
			append([]any{wall + lease.Milliseconds(), token}, args...)...); err != nil {
			return err
		}
		return read(tx, vals)
	})
}

func scanEnrollmentVersion(r rowScanner, version *int) (journey.Enrollment, error) {
	return scanEnrollment(scanTail{r, version})
}

// scanTail scans a row whose last column is extra.
type scanTail struct {
	r     rowScanner
	extra any
}

func (s scanTail) Scan(dest ...any) error { return s.r.Scan(append(dest, s.extra)...) }

// DuplicateEnrollments finds enrollments whose customer already has an
// earlier unfinished one in the same journey (two profiles merged).
func (db *DB) DuplicateEnrollments(ctx context.Context, es []journey.Enrollment) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(es) == 0 {
		return out, nil
	}
	vals := make([]any, len(es))
	for i, e := range es {
		vals[i] = e.ID
	}
	cond, args := db.Dialect.InList("e.id", 1, vals)
	ids, err := db.readIDs(ctx, `SELECT e.id FROM journey_enrollments e WHERE `+cond+` AND EXISTS (SELECT 1 FROM journey_enrollments o
		WHERE o.customer_id = e.customer_id AND o.journey_id = e.journey_id AND o.state <> 'ended' AND o.id < e.id)`, args...)
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

func (db *DB) readIDs(ctx context.Context, q string, args ...any) ([]int64, error) {
	return queryIDs(ctx, db.Read, q, args...)
}

// ApplyOutcomes writes executed enrollments and their side effects.
func (db *DB) ApplyOutcomes(ctx context.Context, outs []journey.Outcome) (int, error) {
	applied := 0
	var changed []int64
	err := db.inTx(ctx, func(tx *Tx) error {
		applied, changed = 0, changed[:0]
		now := db.Clock.Now()
		stats := map[statKey]int64{}
		for i := range outs {
			o := &outs[i]
			e := &o.Enrollment
			res, err := tx.execCached(ctx, db, `UPDATE journey_enrollments SET state = $1, step = $2, sub = $3, due_at = $4, step_at = $5, context = $6,
				last_error = $7, ended_at = $8, end_reason = $9, converted = $10, revenue = $11, lease_until = 0, lease_token = 0
				WHERE id = $12 AND lease_token = $13`,
				[]any{e.State, e.Step, e.Sub, msPtr(e.DueAt), ms(e.StepAt), e.Context.JSON(), e.LastError, msPtr(e.EndedAt), e.EndReason,
					e.Converted, e.Revenue, e.ID, e.Token})
			if err != nil {
				return fmt.Errorf("enrollment %d: %w", e.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // the lease was lost: another worker owns it now
			}
			applied++
			for _, s := range o.Stats {
				stats[statKey{e.JourneyID, s.Step, s.Metric}] += s.N
			}
			if o.Send != nil {
				if err := db.insertOutbox(ctx, tx, []outboxRow{{item: o.Send.Outgoing, journeyID: o.Send.JourneyID, step: o.Send.Step,
					enrollmentID: o.Send.EnrollmentID, status: "queued"}}, now); err != nil {
					return err
				}
			}
			touched, err := db.applyCustomerEdits(ctx, tx, e.CustomerID, o.AddTags, o.RemoveTags, o.Attributes, now)
			if err != nil {
				return err
			}
			if touched {
				changed = append(changed, e.CustomerID)
			}
		}
		if err := db.markChanged(ctx, tx, changed, now); err != nil {
			return err
		}
		return db.addJourneyStats(ctx, tx, stats)
	})
	if err == nil && len(changed) > 0 {
		db.notifyChanged()
	}
	return applied, err
}

// applyCustomerEdits adds and removes tags and sets custom attributes of
// a customer, reporting whether anything changed.
func (db *DB) applyCustomerEdits(ctx context.Context, tx *Tx, cid int64, add, remove []string, attrs map[string]string, now time.Time) (bool, error) {
	touched := false
	for _, t := range add {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		res, err := tx.execCached(ctx, db, `INSERT INTO customer_tags (customer_id, origin_customer_id, tag, created_at) VALUES ($1, $1, $2, $3)
			ON CONFLICT (origin_customer_id, tag) DO NOTHING`, []any{cid, t, ms(now)})
		if err != nil {
			return false, fmt.Errorf("tag customer %d: %w", cid, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			touched = true
		}
	}
	for _, t := range remove {
		res, err := tx.execCached(ctx, db, `DELETE FROM customer_tags WHERE customer_id = $1 AND tag = $2`, []any{cid, strings.TrimSpace(t)})
		if err != nil {
			return false, fmt.Errorf("untag customer %d: %w", cid, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			touched = true
		}
	}
	if len(attrs) > 0 {
		var raw string
		if err := tx.QueryRowContext(ctx, `SELECT attributes FROM customers WHERE id = $1`, cid).Scan(&raw); err != nil {
			return false, notFound(err, "customer", cid)
		}
		cur := map[string]string{}
		_ = json.Unmarshal([]byte(raw), &cur)
		changed := false
		for k, v := range attrs {
			if cur[k] != v {
				cur[k] = v
				changed = true
			}
		}
		if changed {
			if _, err := tx.ExecContext(ctx, `UPDATE customers SET attributes = $1, updated_at = $2 WHERE id = $3`, attrsJSON(cur), ms(now), cid); err != nil {
				return false, err
			}
			touched = true
		}
	}
	return touched, nil
}

// MatchCustomers evaluates a condition for the given customers.
func (db *DB) MatchCustomers(ctx context.Context, c segment.Condition, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	cond, args, _, err := db.compileCondition(ctx, c, db.Clock.Now())
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	err = db.chunk(len(vals), 1, func(lo, hi int) error {
		in, inArgs := db.Dialect.InList("c.id", len(args)+1, vals[lo:hi])
		got, err := db.readIDs(ctx, `SELECT c.id FROM customers c WHERE c.status = 'active' AND `+cond+` AND `+in, append(append([]any(nil), args...), inArgs...)...)
		for _, id := range got {
			out[id] = true
		}
		return err
	})
	return out, err
}

// Engagements returns the engagement of each enrollment's message of a step.
func (db *DB) Engagements(ctx context.Context, steps map[int64]string) (map[int64]journey.SendEngagement, error) {
	out := map[int64]journey.SendEngagement{}
	var vals []any
	for id := range steps {
		vals = append(vals, id)
	}
	if len(vals) == 0 {
		return out, nil
	}
	cond, args := db.Dialect.InList("enrollment_id", 1, vals)
	rows, err := db.Read.QueryContext(ctx, `SELECT enrollment_id, step, status, sent_at, opened_at, clicked_at FROM outbox WHERE `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var eid int64
		var step, status string
		var sent, opened, clicked sql.NullInt64
		if err := rows.Scan(&eid, &step, &status, &sent, &opened, &clicked); err != nil {
			return nil, err
		}
		if steps[eid] != step {
			continue
		}
		g := journey.SendEngagement{Sent: status == "sent", Opened: opened.Valid, Clicked: clicked.Valid}
		if sent.Valid {
			g.SentAt = fromMS(sent.Int64)
		}
		out[eid] = g // the latest visit wins
	}
	return out, rows.Err()
}

// OrdersSince sums each customer's paid orders placed after a time (the
// order that enrolled a customer, placed at their entry, does not count).
func (db *DB) OrdersSince(ctx context.Context, since map[int64]time.Time) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(since) == 0 {
		return out, nil
	}
	var vals []any
	var oldest time.Time
	for id, t := range since {
		vals = append(vals, id)
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	cond, args := db.Dialect.InList("customer_id", 2, vals)
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, ordered_at, total FROM orders WHERE status = 'paid' AND ordered_at > $1 AND `+cond,
		append([]any{ms(oldest)}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cid, at, total int64
		if err := rows.Scan(&cid, &at, &total); err != nil {
			return nil, err
		}
		if at > ms(since[cid]) {
			out[cid] += total
		}
	}
	return out, rows.Err()
}

// Signals returns the customers' events and paid orders written since
// their change time.
func (db *DB) Signals(ctx context.Context, changed []journey.Changed) ([]journey.Signal, error) {
	if len(changed) == 0 {
		return nil, nil
	}
	since := map[int64]int64{}
	vals := make([]any, len(changed))
	oldest := int64(1<<62 - 1)
	for i, c := range changed {
		since[c.CustomerID] = ms(c.Since)
		vals[i] = c.CustomerID
		oldest = min(oldest, ms(c.Since))
	}
	var out []journey.Signal
	cond, args := db.Dialect.InList("customer_id", 3, vals)
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_id, name, sku, occurred_at, received_at, properties FROM events
		WHERE received_at >= $1 AND occurred_at >= $2 AND `+cond+` ORDER BY occurred_at, id`,
		append([]any{oldest, oldest - 7*24*3600*1000}, args...)...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s journey.Signal
		var at, received int64
		var props []byte
		if err := rows.Scan(&s.ID, &s.CustomerID, &s.Name, &s.SKU, &at, &received, &props); err != nil {
			rows.Close()
			return nil, err
		}
		if received < since[s.CustomerID] {
			continue
		}
		s.At = fromMS(at)
		if len(props) > 0 {
			_ = json.Unmarshal(props, &s.Properties)
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ocond, oargs := db.Dialect.InList("customer_id", 2, vals)
	rows, err = db.Read.QueryContext(ctx, `SELECT id, customer_id, ordered_at, total FROM orders WHERE status = 'paid' AND updated_at >= $1 AND `+
		ocond+` ORDER BY ordered_at, id`, append([]any{oldest}, oargs...)...)
	if err != nil {
		return nil, err
	}
	var orders []journey.Signal
	idx := map[int64]int{}
	for rows.Next() {
		var s journey.Signal
		var at int64
		if err := rows.Scan(&s.OrderID, &s.CustomerID, &at, &s.Total); err != nil {
			rows.Close()
			return nil, err
		}
		s.Name, s.At = journey.EventOrderCompleted, fromMS(at)
		idx[s.OrderID] = len(orders)
		orders = append(orders, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(orders) == 0 {
		return out, err
	}
	ovals := make([]any, len(orders))
	for i, o := range orders {
		ovals[i] = o.OrderID
	}
	lcond, largs := db.Dialect.InList("order_id", 1, ovals)
	rows, err = db.Read.QueryContext(ctx, `SELECT order_id, sku, category FROM order_lines WHERE `+lcond+` ORDER BY order_id, line_no`, largs...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid int64
		var sku, cat string
		if err := rows.Scan(&oid, &sku, &cat); err != nil {
			rows.Close()
			return nil, err
		}
		o := &orders[idx[oid]]
		if sku != "" {
			o.SKUs = append(o.SKUs, sku)
		}
		if cat != "" {
			o.Categories = append(o.Categories, cat)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Number each order among its customer's paid orders (2 = the second
	// purchase), for the whole batch in one query.
	custs := map[int64]bool{}
	var cvals []any
	for _, o := range orders {
		if !custs[o.CustomerID] {
			custs[o.CustomerID] = true
			cvals = append(cvals, o.CustomerID)
		}
	}
	ncond, nargs := db.Dialect.InList("customer_id", 1, cvals)
	rows, err = db.Read.QueryContext(ctx, `SELECT id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at, id)
		FROM orders WHERE status = 'paid' AND `+ncond, nargs...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid int64
		var nth int
		if err := rows.Scan(&oid, &nth); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := idx[oid]; ok {
			orders[i].Nth = nth
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range orders {
		o := &orders[i]
		o.Properties = map[string]any{"order_id": o.OrderID, "total": o.Total}
	}
	return append(out, orders...), nil
}

// OrderNth numbers an order among its customer's paid orders that hold a
// SKU or category.
func (db *DB) OrderNth(ctx context.Context, orderID int64, sku, category string) (int, error) {
	col, v := "l.sku", sku
	if sku == "" {
		col, v = "l.category", category
	}
	var n int
	err := db.Read.QueryRowContext(ctx, `SELECT count(DISTINCT o.id) FROM orders o JOIN order_lines l ON l.order_id = o.id
		JOIN orders t ON t.id = $1
		WHERE o.customer_id = t.customer_id AND o.status = 'paid' AND `+col+` = $2
		AND (o.ordered_at < t.ordered_at OR (o.ordered_at = t.ordered_at AND o.id <= t.id))`, orderID, v).Scan(&n)
	return n, err
}

// OpenEnrollments returns the customers' unfinished enrollments.
func (db *DB) OpenEnrollments(ctx context.Context, customerIDs []int64) ([]journey.Enrollment, error) {
	if len(customerIDs) == 0 {
		return nil, nil
	}
	vals := make([]any, len(customerIDs))
	for i, id := range customerIDs {
		vals[i] = id
	}
	cond, args := db.Dialect.InList("e.customer_id", 1, vals)
	rows, err := db.Read.QueryContext(ctx, `SELECT `+enrollmentCols+` FROM journey_enrollments e WHERE `+cond+` AND e.state <> 'ended' ORDER BY e.id`, args...)
	if err != nil {
		return nil, err
	}
	return scanEnrollments(rows)
}

// Resume moves waiting enrollments on, if they still wait at the step.
// Their lease, if any, is broken: a worker executing the timeout at the
// same moment loses.
func (db *DB) Resume(ctx context.Context, rs []journey.Resume) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		now := ms(db.Clock.Now())
		for _, r := range rs {
			res, err := tx.execCached(ctx, db, `UPDATE journey_enrollments SET state = 'ready', sub = $1, due_at = $2, lease_token = 0, lease_until = 0
				WHERE id = $3 AND state = 'waiting' AND step = $4`, []any{r.Sub, now, r.EnrollmentID, r.Step})
			if err != nil {
				return err
			}
			m, _ := res.RowsAffected()
			n += int(m)
		}
		return nil
	})
	return n, err
}

// Convert ends enrollments at their goal, counting the conversion and
// cancelling their queued messages.
func (db *DB) Convert(ctx context.Context, cs []journey.Conversion) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		now := ms(db.Clock.Now())
		stats := map[statKey]int64{}
		for _, c := range cs {
			res, err := tx.execCached(ctx, db, `UPDATE journey_enrollments SET state = 'ended', end_reason = $1, ended_at = $2, converted = $3,
				revenue = $4, due_at = NULL, lease_token = 0, lease_until = 0 WHERE id = $5 AND state <> 'ended'`,
				[]any{journey.EndGoal, now, true, c.Revenue, c.EnrollmentID})
			if err != nil {
				return err
			}
			if m, _ := res.RowsAffected(); m == 0 {
				continue
			}
			n++
			if _, err := tx.execCached(ctx, db, `UPDATE outbox SET status = 'cancelled' WHERE enrollment_id = $1 AND status = 'queued'`, []any{c.EnrollmentID}); err != nil {
				return err
			}
			for _, k := range []statKey{{c.JourneyID, "", journey.MetricExited}, {c.JourneyID, "", journey.MetricExited + ":" + journey.EndGoal},
				{c.JourneyID, "", journey.MetricConverted}, {c.JourneyID, c.Step, journey.MetricConverted}} {
				stats[k]++
			}
			stats[statKey{c.JourneyID, "", journey.MetricRevenue}] += c.Revenue
			stats[statKey{c.JourneyID, c.Step, journey.MetricRevenue}] += c.Revenue
		}
		return db.addJourneyStats(ctx, tx, stats)
	})
	return n, err
}

// ScannedDay returns midnight of the last Tokyo day a scheduled trigger
// was scanned for.
func (db *DB) ScannedDay(ctx context.Context, journeyID int64) (time.Time, error) {
	var day int64
	if err := db.Read.QueryRowContext(ctx, `SELECT scan_day FROM journeys WHERE id = $1`, journeyID).Scan(&day); err != nil {
		return time.Time{}, notFound(err, "journey", journeyID)
	}
	return dayFromNumber(day), nil
}

// WaitingOnCondition pages through the enrollments waiting at a step.
func (db *DB) WaitingOnCondition(ctx context.Context, journeyID int64, step string, limit int, afterID int64) ([]journey.Enrollment, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+enrollmentCols+` FROM journey_enrollments e WHERE e.journey_id = $1 AND e.step = $2
		AND e.state = 'waiting' AND e.id > $3 ORDER BY e.id LIMIT $4`, journeyID, step, afterID, limit)
	if err != nil {
		return nil, err
	}
	return scanEnrollments(rows)
}

// JourneyStats assembles a journey's counters.
func (db *DB) JourneyStats(ctx context.Context, id int64) (*journey.Stats, error) {
	j, err := db.Journey(ctx, id)
	if err != nil {
		return nil, err
	}
	counters := map[[2]string]int64{}
	rows, err := db.Read.QueryContext(ctx, `SELECT step, metric, value FROM journey_stats WHERE journey_id = $1`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var step, metric string
		var v int64
		if err := rows.Scan(&step, &metric, &v); err != nil {
			rows.Close()
			return nil, err
		}
		counters[[2]string{step, metric}] = v
	}
	rows.Close()
	current := map[string]int64{}
	rows, err = db.Read.QueryContext(ctx, `SELECT step, count(*) FROM journey_enrollments WHERE journey_id = $1 AND state <> 'ended' GROUP BY step`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var step string
		var n int64
		if err := rows.Scan(&step, &n); err != nil {
			return nil, err
		}
		current[step] = n
	}
	return journey.Assemble(j, counters, current), rows.Err()
}

// JourneyEnrollments lists enrollments by journey, customer, step or state.
func (db *DB) JourneyEnrollments(ctx context.Context, f EnrollmentFilter) ([]journey.Enrollment, error) {
	where := []string{"e.id > $1"}
	args := []any{f.AfterID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", "$"+itoa(len(args)), 1))
	}
	if f.JourneyID != 0 {
		add("e.journey_id = ?", f.JourneyID)
	}
	if f.CustomerID != 0 {
		add("e.customer_id = ?", f.CustomerID)
	}
	if f.Step != "" {
		add("e.step = ?", f.Step)
	}
	if f.State != "" {
		add("e.state = ?", f.State)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+enrollmentCols+` FROM journey_enrollments e WHERE `+strings.Join(where, " AND ")+
		` ORDER BY e.id LIMIT `+itoa(f.Limit), args...)
	if err != nil {
		return nil, err
	}
	return scanEnrollments(rows)
}

// NextDue returns when the next timed piece of work falls due.
func (db *DB) NextDue(ctx context.Context) (time.Time, error) {
	var a, b, c sql.NullInt64
	err := db.Read.QueryRowContext(ctx, `SELECT
		(SELECT min(due_at) FROM journey_enrollments WHERE state IN ('ready', 'waiting') AND due_at IS NOT NULL
			AND journey_id IN (SELECT id FROM journeys WHERE status = 'enabled')),
		(SELECT min(not_before) FROM outbox WHERE status = 'queued'),
		(SELECT min(start_at) FROM campaigns WHERE status = 'scheduled')`).Scan(&a, &b, &c)
	if err != nil {
		return time.Time{}, err
	}
	var next int64
	for _, v := range []sql.NullInt64{a, b, c} {
		if v.Valid && (next == 0 || v.Int64 < next) {
			next = v.Int64
		}
	}
	if next == 0 {
		return time.Time{}, nil
	}
	return fromMS(next), nil
}

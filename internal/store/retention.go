package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

// RetentionStore deletes rows past their retention period.
type RetentionStore interface {
	// PurgeOlderThan deletes up to batch rows of a registered retention
	// task whose time column is before cutoff, and returns how many it deleted.
	PurgeOlderThan(ctx context.Context, task RetentionTask, cutoff time.Time, batch int) (int64, error)
}

// RetentionTask is "delete rows older than N days from a table": the raw
// events table is one, and every capability that keeps transient rows (the
// ingest inbox, send logs …) registers its own with RegisterRetention.
type RetentionTask struct {
	Name       string // shown in logs and `enishi retention list`
	Table      string
	TimeColumn string // BIGINT milliseconds
	KeyColumn  string // a unique column to delete by in batches; default "id"
	// Setting is the settings key holding the number of days to keep
	// ("retention.events_days"); DefaultDays applies when it is unset.
	// Zero days keeps rows forever.
	Setting     string
	DefaultDays int
	Description string
	// Filter, when set, is an SQL condition (written in code, never from
	// input) limiting which old rows may go, e.g. only processed ones.
	Filter string
}

var (
	retentionMu    sync.Mutex
	retentionTasks = []RetentionTask{
		{Name: "events", Table: "events", TimeColumn: "received_at", Setting: "retention.events_days", DefaultDays: 0,
			Description: "raw behaviour events (page views, cart events …) by the time they were received"},
		// The ingest worker also prunes processed requests after its own
		// Retention (7 days; they serve deduplication meanwhile); this task
		// makes the period a setting and shows it with the others. Pending
		// and failed requests stay.
		{Name: "inbox", Table: "ingest_inbox", TimeColumn: "received_at", Setting: "retention.inbox_days", DefaultDays: 7,
			Filter:      "status IN ('done', 'discarded')",
			Description: "processed raw webhook and event API requests (their bodies hold personal data)"},
		{Name: "subscription_webhook_events", Table: "subscription_webhook_events", TimeColumn: "applied_at",
			Setting: "retention.subscription_webhook_events_days", DefaultDays: 90,
			Description: "ids of applied subscription webhook events, kept to ignore redeliveries"},
	}
)

// RegisterRetention adds a retention task. Call it at start-up from the
// package that owns the table; registering the same name twice replaces it.
func RegisterRetention(t RetentionTask) {
	retentionMu.Lock()
	defer retentionMu.Unlock()
	if t.KeyColumn == "" {
		t.KeyColumn = "id"
	}
	for i, old := range retentionTasks {
		if old.Name == t.Name {
			retentionTasks[i] = t
			return
		}
	}
	retentionTasks = append(retentionTasks, t)
}

// RetentionTasks lists the registered retention tasks.
func RetentionTasks() []RetentionTask {
	retentionMu.Lock()
	defer retentionMu.Unlock()
	out := append([]RetentionTask(nil), retentionTasks...)
	for i := range out {
		if out[i].KeyColumn == "" {
			out[i].KeyColumn = "id"
		}
	}
	return out
}

func registeredRetention(t RetentionTask) bool {
	for _, r := range RetentionTasks() {
		if r.Table == t.Table && r.TimeColumn == t.TimeColumn && r.KeyColumn == t.KeyColumn && r.Filter == t.Filter {
			return true
		}
	}
	return false
}

// PurgeOlderThan deletes one batch. Only registered (table, column) pairs
// are accepted, as they are written into the statement.
func (db *DB) PurgeOlderThan(ctx context.Context, task RetentionTask, cutoff time.Time, batch int) (int64, error) {
	if task.KeyColumn == "" {
		task.KeyColumn = "id"
	}
	if !registeredRetention(task) {
		return 0, errs.Errorf(errs.Invalid, "retention task for %s.%s is not registered", task.Table, task.TimeColumn)
	}
	if batch <= 0 {
		batch = 5000
	}
	t, k := task.Table, task.KeyColumn
	where := task.TimeColumn + ` < $1`
	if task.Filter != "" {
		where += ` AND (` + task.Filter + `)`
	}
	res, err := db.Write.ExecContext(ctx, `DELETE FROM `+t+` WHERE `+k+` IN (SELECT `+k+` FROM `+t+` WHERE `+where+` LIMIT $2)`,
		ms(cutoff), batch)
	if err != nil {
		return 0, fmt.Errorf("retention %s: %w", task.Name, err)
	}
	return res.RowsAffected()
}

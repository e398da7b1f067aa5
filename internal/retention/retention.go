// Package retention deletes rows past their retention period: raw events,
// the ingest inbox, and whatever else a capability registers with
// store.RegisterRetention. `enishi serve` runs it once a day; `enishi
// retention run` runs it by hand. The number of days to keep comes from
// each task's setting (e.g. retention.events_days); 0 keeps rows forever.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

// Store is what retention needs.
type Store interface {
	Setting(ctx context.Context, key string) (string, bool, error)
	PurgeOlderThan(ctx context.Context, task store.RetentionTask, cutoff time.Time, batch int) (int64, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) error
}

// Result is what one task did.
type Result struct {
	Task    string    `json:"task"`
	Days    int       `json:"days"` // 0: kept forever, nothing deleted
	Cutoff  time.Time `json:"cutoff,omitzero"`
	Deleted int64     `json:"deleted"`
}

// Days returns a task's configured number of days.
func Days(ctx context.Context, st Store, t store.RetentionTask) (int, error) {
	v, ok, err := st.Setting(ctx, t.Setting)
	if err != nil || !ok {
		return t.DefaultDays, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errs.Errorf(errs.Invalid, "setting %s = %q is not a number of days", t.Setting, v)
	}
	return n, nil
}

// ValidateDays checks a value for a retention setting.
func ValidateDays(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 36500 {
		return errs.Errorf(errs.Invalid, "a retention period is a whole number of days from 0 (keep forever) to 36500")
	}
	return nil
}

// batchSize bounds each DELETE so that a large purge never holds the write
// lock for long.
const batchSize = 5000

// Run applies every registered task once, in batches, and audits what it
// deleted. It stops early when ctx is cancelled (shutdown), having deleted
// whole batches only.
func Run(ctx context.Context, st Store, now time.Time) ([]Result, error) {
	var out []Result
	for _, t := range store.RetentionTasks() {
		days, err := Days(ctx, st, t)
		if err != nil {
			return out, err
		}
		res := Result{Task: t.Name, Days: days}
		if days > 0 {
			res.Cutoff = clock.StartOfDay(now.AddDate(0, 0, -days))
			for {
				if err := ctx.Err(); err != nil {
					return append(out, res), err
				}
				n, err := st.PurgeOlderThan(ctx, t, res.Cutoff, batchSize)
				if err != nil {
					return append(out, res), err
				}
				res.Deleted += n
				if n < batchSize {
					break
				}
			}
			if res.Deleted > 0 {
				if err := st.AppendAudit(ctx, store.AuditEntry{Actor: "system", Action: "retention.purge", Target: "table:" + t.Table,
					Detail: fmt.Sprintf("deleted %d rows older than %d days", res.Deleted, days)}); err != nil {
					return append(out, res), err
				}
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// Loop runs Run now and then every interval until ctx ends. Several
// processes may run it against one database: deletes are idempotent.
func Loop(ctx context.Context, st Store, c clock.Clock, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := Run(ctx, st, c.Now())
		if err != nil && ctx.Err() == nil {
			log.Error("retention", "err", err)
		}
		for _, r := range res {
			if r.Deleted > 0 {
				log.Info("retention", "task", r.Task, "deleted", r.Deleted, "days", r.Days)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

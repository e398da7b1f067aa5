// Package engine runs what acts on the data, in the background of `enishi
// serve`: it keeps segments up to date (the change feed and the daily date
// flips), enrolls customers in journeys and walks their enrollments,
// starts campaigns, and sends the outbox. One loop per process; several
// processes on one PostgreSQL database share the work (every claim skips
// what another holds). It wakes when the store commits a change, when the
// dev clock moves, and at least every Poll.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
)

// Store is what the engine needs of storage.
type Store interface {
	journey.Store
	outbox.Store
	campaign.Store
	ClaimChanged(ctx context.Context, n int, lease time.Duration) ([]store.Changed, error)
	DoneChanged(ctx context.Context, done []store.Changed) error
	RefreshSegmentsFor(ctx context.Context, ids []int64) ([]segment.Change, error)
	RefreshSegmentsByDate(ctx context.Context) (int, error)
	ChangeNotifications() <-chan struct{}
}

// Engine is the background worker.
type Engine struct {
	st        Store
	clock     clock.Clock
	log       *slog.Logger
	Journeys  *journey.Runner
	Sender    *outbox.Worker
	Campaigns *campaign.Runner
	// Poll is the longest the loop sleeps; Lease how long claims hold.
	Poll  time.Duration
	Lease time.Duration
	wake  <-chan struct{}
	// segDay is the Tokyo day segments were last flipped for.
	segDay time.Time
}

// Config holds the engine's optional parts.
type Config struct {
	// Dispatcher sends messages; nil leaves the outbox queued (journeys
	// still run up to their sends).
	Dispatcher outbox.Dispatcher
	// Loyalty issues coupons and moves points for journey steps.
	Loyalty journey.Loyalty
	Log     *slog.Logger
	// Lease is how long (wall clock) a claim of work holds before another
	// process may take it over (default 2 minutes).
	Lease time.Duration
}

// New returns an engine over st.
func New(st Store, c clock.Clock, cfg Config) *Engine {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lease := cfg.Lease
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	e := &Engine{st: st, clock: c, log: log, Poll: time.Second, Lease: lease,
		Journeys:  journey.NewRunner(st, c, cfg.Loyalty, log),
		Sender:    outbox.NewWorker(st, cfg.Dispatcher, c, log),
		Campaigns: campaign.NewRunner(st, cfg.Dispatcher, c, log),
		wake:      st.ChangeNotifications(),
	}
	e.Journeys.Lease, e.Sender.Lease = lease, lease
	return e
}

// maxRounds bounds how many batches of one kind a Step takes before
// moving on, so that no kind of work starves the others.
const maxRounds = 20

// Step does one round of every kind of work and returns how much it did.
func (e *Engine) Step(ctx context.Context) (int, error) {
	total := 0
	add := func(n int, err error) error {
		total += n
		return err
	}
	if day := clock.StartOfDay(e.clock.Now()); !day.Equal(e.segDay) {
		// Segments flip once a Tokyo day: a segment created or changed
		// later that day is evaluated then, so none can fall behind today.
		if err := add(e.st.RefreshSegmentsByDate(ctx)); err != nil {
			return total, fmt.Errorf("segment date flips: %w", err)
		}
		e.segDay = day
	}
	for range maxRounds {
		n, err := e.changes(ctx)
		if err := add(n, err); err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	if err := add(e.Journeys.Tick(ctx)); err != nil {
		return total, err
	}
	if err := add(e.Campaigns.Run(ctx)); err != nil {
		return total, fmt.Errorf("campaigns: %w", err)
	}
	for range maxRounds {
		n, err := e.Journeys.RunDue(ctx)
		if err := add(n, err); err != nil {
			return total, fmt.Errorf("journey steps: %w", err)
		}
		if n == 0 {
			break
		}
	}
	for range maxRounds {
		n, err := e.Sender.RunDue(ctx)
		if err := add(n, err); err != nil {
			return total, fmt.Errorf("outbox: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

// changes processes one batch of the change feed: segment membership, then
// journey triggers, waits and goals, then the batch is done.
func (e *Engine) changes(ctx context.Context) (int, error) {
	cs, err := e.st.ClaimChanged(ctx, 500, e.Lease)
	if err != nil || len(cs) == 0 {
		return 0, err
	}
	ids := make([]int64, len(cs))
	jc := make([]journey.Changed, len(cs))
	for i, c := range cs {
		ids[i] = c.CustomerID
		jc[i] = journey.Changed{CustomerID: c.CustomerID, Since: c.Since}
	}
	if _, err := e.st.RefreshSegmentsFor(ctx, ids); err != nil {
		return 0, fmt.Errorf("refresh segments: %w", err)
	}
	if err := e.Journeys.OnChanges(ctx, jc); err != nil {
		return 0, fmt.Errorf("journey triggers: %w", err)
	}
	return len(cs), e.st.DoneChanged(ctx, cs)
}

// Drain steps until there is nothing left to do now (tests, and the
// `enishi engine run --once` command). It gives up after many rounds.
func (e *Engine) Drain(ctx context.Context) error {
	for range 10_000 {
		n, err := e.Step(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return errors.New("engine: work keeps coming; gave up draining")
}

// Run loops until ctx ends: it steps while there is work, then sleeps
// until a change is committed, the dev clock moves, or Poll passes.
func (e *Engine) Run(ctx context.Context) error {
	var moved func() <-chan struct{}
	if m, ok := e.clock.(interface{ Moved() <-chan struct{} }); ok {
		moved = m.Moved
	}
	backoff := time.Duration(0)
	for {
		var clockMoved <-chan struct{}
		if moved != nil {
			clockMoved = moved()
		}
		n, err := e.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			e.log.Error("engine step", "err", err)
			backoff = min(max(2*backoff, 500*time.Millisecond), 30*time.Second)
		case n > 0:
			backoff = 0
			continue
		default:
			backoff = 0
		}
		wait := e.Poll
		if backoff > 0 {
			wait = backoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-e.wake:
		case <-clockMoved:
		case <-t.C:
		}
		t.Stop()
	}
}

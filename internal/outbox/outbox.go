// Package outbox sends what journeys and campaigns decided to send: each
// message is a row of the outbox, written in the same transaction as the
// decision, with a unique key. The worker here applies the sending rules
// that cut across every sender — quiet hours (the message waits), frequency
// caps per channel per day and week — marks the row as sending (recorded
// before the provider is called), hands it to the Dispatcher, and records
// the outcome; a transient failure is retried with backoff under the same
// key, so nothing is sent twice and nothing is skipped.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
)

// Dispatcher delivers one message through its channel: it renders the
// template (or inline content in Vars["content"]) for the customer, checks
// consent and suppression, calls the provider and returns what it said.
//
// Dispatch must be idempotent per Outgoing.Key: the worker calls it again
// with the same key only when it cannot know the first call's outcome (the
// process died during the call) or the call failed transiently; a
// dispatcher that already sent under the key returns that result without
// sending again. An error wrapping message.ErrPermanent is not retried.
// A message deliberately not sent (no consent, suppressed, no address)
// returns Result.Status StatusSkipped and no error.
//
// The channels capability implements it (internal/channel); tests and
// `serve --fake-channel` use internal/fake/channel.
type Dispatcher interface {
	Dispatch(ctx context.Context, m message.Outgoing) (message.Result, error)
}

// StatusSkipped is the Result.Status of a message the dispatcher chose not
// to send (no consent, suppressed, unsubscribed, no address).
const StatusSkipped = "skipped"

// Row statuses.
const (
	Held      = "held"      // a campaign's A/B remainder, waiting for the winner
	Queued    = "queued"    // due at NotBefore
	Paused    = "paused"    // its campaign is paused
	Sending   = "sending"   // handed to the dispatcher (recorded before the call)
	Sent      = "sent"      // confirmed
	Failed    = "failed"    // failed for good
	Skipped   = "skipped"   // not sent by the channel's choice (consent, suppression)
	Capped    = "capped"    // dropped by a frequency cap
	Cancelled = "cancelled" // its campaign was cancelled, or its enrollment ended
)

// Item is one row of the outbox.
type Item struct {
	ID int64
	message.Outgoing
	JourneyID    int64
	Step         string
	EnrollmentID int64
	CampaignID   int64
	Variant      string
	Status       string
	Attempts     int
	// TimeZone is the customer's IANA zone when known (custom attribute
	// "timezone"), for quiet hours.
	TimeZone string
	// Exempt skips quiet hours and caps (test sends).
	Exempt bool
	// Token is the lease of the claim that holds the item; LeaseEnd (wall
	// clock) is when another worker may take it over.
	Token    int64
	LeaseEnd time.Time
}

// FromJourney converts a journey's outbox item.
func FromJourney(it journey.OutboxItem) Item {
	return Item{Outgoing: it.Outgoing, JourneyID: it.JourneyID, Step: it.Step, EnrollmentID: it.EnrollmentID, Status: Queued}
}

// Rules are the shop's sending rules (settings key messaging.rules).
type Rules struct {
	// QuietHours: marketing messages due between Start and End (local
	// time of the customer, Asia/Tokyo by default) wait until End.
	QuietHours *QuietHours `json:"quiet_hours"`
	// Caps limit marketing messages per customer and channel.
	Caps []Cap `json:"caps"`
}

// QuietHours is a nightly window, HH:MM to HH:MM.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Cap is "at most Max marketing messages over Channel per Per", where Per
// is "day" (the calendar day) or "week" (the last seven calendar days).
// Channel "*" counts every channel together.
type Cap struct {
	Channel string `json:"channel"`
	Per     string `json:"per"`
	Max     int    `json:"max"`
}

// RulesSetting is the settings key of the rules.
const RulesSetting = "messaging.rules"

// DefaultRules: no marketing between 21:00 and 09:00, and at most two
// e-mails a day and five a week, one LINE message a day and three a week,
// one SMS a day and two a week.
func DefaultRules() Rules {
	return Rules{
		QuietHours: &QuietHours{Start: "21:00", End: "09:00"},
		Caps: []Cap{
			{Channel: "email", Per: "day", Max: 2}, {Channel: "email", Per: "week", Max: 5},
			{Channel: "line", Per: "day", Max: 1}, {Channel: "line", Per: "week", Max: 3},
			{Channel: "sms", Per: "day", Max: 1}, {Channel: "sms", Per: "week", Max: 2},
		},
	}
}

// ParseRules reads and checks rules.
func ParseRules(b []byte) (Rules, error) {
	var r Rules
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rules{}, errs.Errorf(errs.Invalid, "messaging rules: %v", err)
	}
	return r, r.Validate()
}

// Validate checks rules.
func (r Rules) Validate() error {
	if q := r.QuietHours; q != nil {
		if _, err := journey.ParseClock(q.Start); err != nil {
			return errs.FieldErrorf("quiet_hours.start", "%v", err)
		}
		if _, err := journey.ParseClock(q.End); err != nil {
			return errs.FieldErrorf("quiet_hours.end", "%v", err)
		}
	}
	for i, c := range r.Caps {
		if c.Channel == "" || (c.Per != "day" && c.Per != "week") || c.Max < 0 {
			return errs.FieldErrorf(fmt.Sprintf("caps[%d]", i), "a cap is {channel, per: day|week, max ≥ 0}")
		}
	}
	return nil
}

// QuietUntil returns when the quiet hours holding t end, or t itself when
// t is outside them; loc is the customer's zone.
func (r Rules) QuietUntil(t time.Time, loc *time.Location) time.Time {
	q := r.QuietHours
	if q == nil || q.Start == q.End {
		return t
	}
	s, _ := journey.ParseClock(q.Start)
	e, _ := journey.ParseClock(q.End)
	lt := t.In(loc)
	mins := lt.Hour()*60 + lt.Minute()
	start, end := s.Hour*60+s.Minute, e.Hour*60+e.Minute
	var quiet bool
	if start > end { // over midnight, e.g. 21:00–09:00
		quiet = mins >= start || mins < end
	} else {
		quiet = mins >= start && mins < end
	}
	if !quiet {
		return t
	}
	d := time.Date(lt.Year(), lt.Month(), lt.Day(), e.Hour, e.Minute, 0, 0, loc)
	if !d.After(lt) {
		d = d.AddDate(0, 0, 1)
	}
	return d.UTC()
}

// Counts are a customer's marketing messages already sent (or being sent)
// over one channel.
type Counts struct {
	Day, Week int
}

// Capped reports whether one more message over channel would break a cap,
// given the counts for the channel and for every channel together.
func (r Rules) Capped(channel message.Channel, ch, all Counts) bool {
	for _, c := range r.Caps {
		var n Counts
		switch c.Channel {
		case string(channel):
			n = ch
		case "*":
			n = all
		default:
			continue
		}
		if c.Per == "day" && n.Day >= c.Max || c.Per == "week" && n.Week >= c.Max {
			return true
		}
	}
	return false
}

// Decision is what the worker does with a claimed item.
type Decision struct {
	Status    string    // Sending, Queued (deferred), Capped
	NotBefore time.Time // for Queued
}

// Result is a dispatched item's outcome.
type Result struct {
	Item       Item
	Status     string // Sent, Skipped, Failed, Queued (retry)
	ProviderID string
	Error      string
	NotBefore  time.Time // retry time
}

// Store is what the worker asks of storage.
type Store interface {
	// ClaimOutbox leases up to n items due at now: queued ones, and
	// sending ones whose lease ran out (their process died mid-call).
	ClaimOutbox(ctx context.Context, now time.Time, n int, lease time.Duration) ([]Item, error)
	// ReserveSends decides, in one transaction that serialises with every
	// other worker, what to do with each claimed item given the counts of
	// messages already sent, and records the decisions (Sending rows count
	// towards caps from then on, under a fresh lease). It returns the items
	// to dispatch, with their LeaseEnd.
	ReserveSends(ctx context.Context, items []Item, lease time.Duration, decide func(it Item, channel, all Counts) Decision) ([]Item, error)
	// FinishSends records outcomes and, for journey items, moves their
	// enrollments on.
	FinishSends(ctx context.Context, rs []Result) error
	MessagingRules(ctx context.Context) (Rules, error)
}

// Worker sends due outbox items.
type Worker struct {
	st    Store
	d     Dispatcher
	clock clock.Clock
	log   *slog.Logger
	// Batch items per claim, Parallel dispatches at once, Lease (wall
	// clock) per claim, MaxAttempts before a transient failure is final.
	Batch       int
	Parallel    int
	Lease       time.Duration
	MaxAttempts int
	// Timeout bounds one dispatch.
	Timeout time.Duration
}

// NewWorker returns a worker sending through d.
func NewWorker(st Store, d Dispatcher, c clock.Clock, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{st: st, d: d, clock: c, log: log, Batch: 500, Parallel: 16, Lease: 2 * time.Minute, MaxAttempts: 8, Timeout: 30 * time.Second}
}

// RunDue claims due items and sends them. It returns how many it claimed.
func (w *Worker) RunDue(ctx context.Context) (int, error) {
	if w.d == nil {
		return 0, nil
	}
	now := w.clock.Now()
	items, err := w.st.ClaimOutbox(ctx, now, w.Batch, w.Lease)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	rules, err := w.st.MessagingRules(ctx)
	if err != nil {
		return 0, err
	}
	send, err := w.st.ReserveSends(ctx, items, w.Lease, func(it Item, ch, all Counts) Decision {
		return decide(rules, it, ch, all, now)
	})
	if err != nil {
		return 0, err
	}
	if err := w.dispatch(ctx, send, now); err != nil {
		return 0, err
	}
	return len(items), nil
}

func decide(rules Rules, it Item, ch, all Counts, now time.Time) Decision {
	if it.Exempt || it.Purpose == message.Transactional {
		return Decision{Status: Sending}
	}
	loc := clock.Tokyo
	if it.TimeZone != "" {
		if l, err := time.LoadLocation(it.TimeZone); err == nil {
			loc = l
		}
	}
	if until := rules.QuietUntil(now, loc); until.After(now) {
		return Decision{Status: Queued, NotBefore: until}
	}
	if rules.Capped(it.Channel, ch, all) {
		return Decision{Status: Capped}
	}
	return Decision{Status: Sending}
}

// flushEvery bounds how long a confirmed send waits to be recorded: the
// results of a batch are written in small groups as they come in, so that a
// crash leaves at most the sends in flight and this short tail unrecorded
// (those are dispatched again under the same key after the lease).
const (
	flushEvery = 20 * time.Millisecond
	flushSize  = 64
)

// dispatch sends items with Parallel workers and records outcomes in small
// groups as they arrive. Outcomes are recorded even if ctx is cancelled
// meanwhile: the provider already answered.
func (w *Worker) dispatch(ctx context.Context, items []Item, now time.Time) error {
	results := make(chan Result, len(items))
	sem := make(chan struct{}, max(1, w.Parallel))
	go func() {
		var wg sync.WaitGroup
		for i := range items {
			wg.Add(1)
			sem <- struct{}{}
			go func(it Item) {
				defer wg.Done()
				defer func() { <-sem }()
				// A dispatch that could outlast the lease is not started:
				// the item stays "sending" and is dispatched by whoever
				// claims it after the lease, so two workers never send it.
				if time.Now().Add(w.timeout()).After(it.LeaseEnd) {
					return
				}
				results <- w.one(ctx, it, now)
			}(items[i])
		}
		wg.Wait()
		close(results)
	}()
	record := context.WithoutCancel(ctx)
	var pending []Result
	var firstErr error
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if err := w.st.FinishSends(record, pending); err != nil && firstErr == nil {
			firstErr = err
		}
		pending = pending[:0]
	}
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-results:
			if !ok {
				flush()
				return firstErr
			}
			pending = append(pending, r)
			if len(pending) >= flushSize {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// timeout bounds one dispatch: Timeout, and at most a quarter of the lease.
func (w *Worker) timeout() time.Duration {
	return min(w.Timeout, w.Lease/4)
}

func (w *Worker) one(ctx context.Context, it Item, now time.Time) Result {
	dctx, cancel := context.WithTimeout(ctx, w.timeout())
	defer cancel()
	res, err := w.d.Dispatch(dctx, it.Outgoing)
	switch {
	case err == nil && res.Status == StatusSkipped:
		return Result{Item: it, Status: Skipped, ProviderID: res.ProviderID}
	case err == nil:
		return Result{Item: it, Status: Sent, ProviderID: res.ProviderID}
	case message.IsPermanent(err) || it.Attempts >= w.MaxAttempts:
		w.log.Warn("message failed", "key", it.Key, "channel", it.Channel, "attempts", it.Attempts, "err", err)
		return Result{Item: it, Status: Failed, Error: err.Error()}
	}
	w.log.Info("message will be retried", "key", it.Key, "channel", it.Channel, "attempts", it.Attempts, "err", err)
	return Result{Item: it, Status: Queued, Error: err.Error(), NotBefore: now.Add(journey.Backoff(it.Attempts))}
}

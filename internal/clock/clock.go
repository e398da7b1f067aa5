// Package clock provides the one source of "now" for business logic, so that
// tests and the dev clock can move time.
package clock

import (
	"math"
	"sync"
	"time"
)

// Tokyo is the shop's time zone: dates are cut and shown in it.
var Tokyo = mustLoad("Asia/Tokyo")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// The zone database may be missing on minimal systems; Japan has no DST.
		return time.FixedZone("JST", 9*60*60)
	}
	return loc
}

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

// Real is the system clock.
type Real struct{}

// Now returns the current time in UTC.
func (Real) Now() time.Time { return time.Now().UTC() }

// Manual is a clock that starts at a given time, follows the real clock from
// there and can be moved forward. It is safe for concurrent use.
type Manual struct {
	mu     sync.Mutex
	offset time.Duration
	frozen bool
	at     time.Time
	moved  chan struct{}
}

// NewManual returns a clock offset so that it reads start now. If frozen, it
// stays at start until Advance or Set moves it.
func NewManual(start time.Time, frozen bool) *Manual {
	m := &Manual{frozen: frozen}
	m.Set(start)
	return m
}

// Now returns the clock's time in UTC.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.frozen {
		return m.at
	}
	return time.Now().UTC().Add(m.offset)
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offset += d
	m.at = m.at.Add(d)
	m.signal()
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t = t.UTC()
	m.at = t
	m.offset = time.Until(t)
	m.signal()
}

// Moved returns a channel that is closed the next time Advance or Set
// moves the clock, so that schedulers can wake at once.
func (m *Manual) Moved() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.moved == nil {
		m.moved = make(chan struct{})
	}
	return m.moved
}

// signal wakes the waiters of Moved; m.mu is held.
func (m *Manual) signal() {
	if m.moved != nil {
		close(m.moved)
		m.moved = nil
	}
}

// StartOfDay returns midnight in Asia/Tokyo of the day containing t.
func StartOfDay(t time.Time) time.Time {
	y, mo, d := t.In(Tokyo).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, Tokyo)
}

// DaysBetween counts the Tokyo calendar days from a to b (b after a is positive).
func DaysBetween(a, b time.Time) int {
	return int(math.Round(StartOfDay(b).Sub(StartOfDay(a)).Hours() / 24))
}

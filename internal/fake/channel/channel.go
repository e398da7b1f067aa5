// Package channel is an in-process fake of every message channel, for
// tests and for `enishi serve --fake-channel FILE`: it implements the
// engine's Dispatcher, records what it was asked to send, and can fail
// transiently or permanently, or skip a customer (no consent), on demand.
// Like a provider that honours idempotency keys, it sends each key once:
// a repeated key returns the first result and is counted as a duplicate
// attempt. The file variant appends every call to a JSON-lines file, so a
// test can check across crashes of the process that nothing was sent twice.
package channel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/outbox"
)

// Sent is one message the fake delivered.
type Sent struct {
	message.Outgoing
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
}

// Channel is the fake.
type Channel struct {
	clock clock.Clock

	mu        sync.Mutex
	sent      []Sent
	byKey     map[string]message.Result
	attempts  map[string]int
	transient map[int64]int
	permanent map[int64]bool
	skip      map[int64]bool
	file      *os.File
	// Delay is added to every dispatch (to widen crash windows in tests).
	Delay time.Duration
}

var _ outbox.Dispatcher = (*Channel)(nil)

// New returns an empty fake reading time from c.
func New(c clock.Clock) *Channel {
	if c == nil {
		c = clock.Real{}
	}
	return &Channel{clock: c, byKey: map[string]message.Result{}, attempts: map[string]int{},
		transient: map[int64]int{}, permanent: map[int64]bool{}, skip: map[int64]bool{}}
}

// fileLine is one line of the file: a delivery, or a repeated key.
type fileLine struct {
	Sent
	Duplicate bool `json:"duplicate,omitempty"`
}

// OpenFile returns a fake that appends each call to path (synced to disk
// before Dispatch returns) and remembers the keys already in it.
func OpenFile(path string, c clock.Clock) (*Channel, error) {
	ch := New(c)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l fileLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue // a line cut short by a crash
		}
		ch.attempts[l.Key]++
		if !l.Duplicate {
			ch.byKey[l.Key] = message.Result{ProviderID: "fake-" + l.Key, Status: "sent"}
			ch.sent = append(ch.sent, l.Sent)
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, err
	}
	// A line cut short by a crash must not swallow the next one.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte("\n")); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	ch.file = f
	return ch, nil
}

// ReadFile returns the deliveries and duplicate attempts a file recorded.
func ReadFile(path string) (sent []Sent, duplicates map[string]int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	duplicates = map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l fileLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l.Duplicate {
			duplicates[l.Key]++
		} else {
			sent = append(sent, l.Sent)
		}
	}
	return sent, duplicates, sc.Err()
}

// Close closes the file, if any.
func (c *Channel) Close() error {
	if c.file == nil {
		return nil
	}
	return c.file.Close()
}

// FailTransient makes the next n sends to a customer fail with a
// retryable error.
func (c *Channel) FailTransient(customerID int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.transient[customerID] = n
}

// FailPermanent makes every send to a customer fail for good.
func (c *Channel) FailPermanent(customerID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.permanent[customerID] = true
}

// Skip makes the channel decline to send to a customer (as a channel does
// for a customer without consent or on a suppression list).
func (c *Channel) Skip(customerID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skip[customerID] = true
}

// Dispatch sends m once per key.
func (c *Channel) Dispatch(ctx context.Context, m message.Outgoing) (message.Result, error) {
	if c.Delay > 0 {
		select {
		case <-time.After(c.Delay):
		case <-ctx.Done():
			return message.Result{}, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[m.Key]++
	if r, ok := c.byKey[m.Key]; ok {
		if err := c.write(fileLine{Sent: Sent{Outgoing: m, At: c.clock.Now(), Attempt: c.attempts[m.Key]}, Duplicate: true}); err != nil {
			return message.Result{}, err
		}
		return r, nil
	}
	switch {
	case m.Key == "":
		return message.Result{}, message.Permanent(errors.New("fake channel: message without a key"))
	case c.skip[m.CustomerID]:
		return message.Result{Status: outbox.StatusSkipped}, nil
	case c.permanent[m.CustomerID]:
		return message.Result{}, message.Permanent(fmt.Errorf("fake channel: customer %d cannot be reached", m.CustomerID))
	case c.transient[m.CustomerID] > 0:
		c.transient[m.CustomerID]--
		return message.Result{}, fmt.Errorf("fake channel: provider busy (customer %d)", m.CustomerID)
	}
	s := Sent{Outgoing: m, At: c.clock.Now(), Attempt: c.attempts[m.Key]}
	if err := c.write(fileLine{Sent: s}); err != nil {
		return message.Result{}, err
	}
	r := message.Result{ProviderID: "fake-" + m.Key, Status: "sent"}
	c.byKey[m.Key] = r
	c.sent = append(c.sent, s)
	return r, nil
}

func (c *Channel) write(l fileLine) error {
	if c.file == nil {
		return nil
	}
	b, _ := json.Marshal(l)
	if _, err := c.file.Write(append(b, '\n')); err != nil {
		return err
	}
	return c.file.Sync()
}

// Sent returns the delivered messages in order.
func (c *Channel) Sent() []Sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Sent(nil), c.sent...)
}

// SentTo returns the messages delivered to one customer, in order.
func (c *Channel) SentTo(customerID int64) []Sent {
	var out []Sent
	for _, s := range c.Sent() {
		if s.CustomerID == customerID {
			out = append(out, s)
		}
	}
	return out
}

// Attempts returns how often each key was dispatched.
func (c *Channel) Attempts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.attempts {
		out[k] = v
	}
	return out
}

// Keys returns the delivered keys, sorted.
func (c *Channel) Keys() []string {
	var out []string
	for _, s := range c.Sent() {
		out = append(out, s.Key)
	}
	sort.Strings(out)
	return out
}

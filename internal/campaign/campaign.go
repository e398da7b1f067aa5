// Package campaign holds campaigns (一斉配信): one-off or scheduled sends
// to a segment over one channel, with A/B tests of subject or content whose
// winner is picked by a significance test, throttling, send times in the
// customer's own time zone, and pause, resume and cancel that never send
// twice (every recipient is one outbox row with its own key).
package campaign

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// Statuses.
const (
	Draft     = "draft"     // being written
	Scheduled = "scheduled" // waits for SendAt
	Running   = "running"   // recipients are in the outbox
	Paused    = "paused"    // queued recipients wait for resume
	Cancelled = "cancelled" // queued recipients will never be sent
	Done      = "done"      // every recipient sent, skipped or failed
)

// Campaign is one send to a segment.
type Campaign struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Status    string          `json:"status"`
	SegmentID int64           `json:"segment_id"`
	Channel   message.Channel `json:"channel"`
	Purpose   message.Purpose `json:"purpose"`
	Variants  []Variant       `json:"variants"`
	AB        *ABTest         `json:"ab,omitempty"`
	// SendAt is when to send (Asia/Tokyo wall time); zero: when started.
	SendAt *time.Time `json:"send_at,omitempty"`
	// LocalTime sends at SendAt's wall-clock time in each customer's own
	// time zone (custom attribute "timezone", IANA name) when known.
	LocalTime bool `json:"local_time,omitempty"`
	// ThrottlePerMinute spreads sends at most this many a minute (0: as
	// fast as the channel goes).
	ThrottlePerMinute int `json:"throttle_per_minute,omitempty"`
	// Winner is the variant the A/B test chose (or "" before).
	Winner    string     `json:"winner,omitempty"`
	WinnerWhy string     `json:"winner_reason,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
}

// Variant is one version of the message.
type Variant struct {
	Name       string         `json:"name"`
	TemplateID int64          `json:"template_id,omitempty"`
	Content    *Content       `json:"content,omitempty"`
	Vars       map[string]any `json:"vars,omitempty"`
}

// Content is inline copy (subject and body) for channels that render it.
type Content struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// ABTest sends TestPercent of the segment split evenly across the
// variants, waits WaitHours, then sends the rest the winner by Metric: the
// best variant if a two-proportion z-test says it beats the runner-up at
// Confidence; otherwise the first variant (the control) unless Fallback is
// "best".
type ABTest struct {
	TestPercent int     `json:"test_percent"`
	Metric      string  `json:"metric"` // open, click or conversion
	WaitHours   int     `json:"wait_hours"`
	Confidence  float64 `json:"confidence"`
	Fallback    string  `json:"fallback,omitempty"` // control (default) or best
}

// Validate checks a campaign and fills defaults.
func (c *Campaign) Validate() error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || len(c.Name) > 200 {
		return errs.FieldErrorf("name", "a campaign needs a name of at most 200 bytes")
	}
	if c.Status == "" {
		c.Status = Draft
	}
	if c.SegmentID <= 0 {
		return errs.FieldErrorf("segment_id", "name the segment to send to")
	}
	switch c.Channel {
	case message.Email, message.LINE, message.SMS, message.Push, message.OnSite, message.DM:
	default:
		return errs.FieldErrorf("channel", "%q is not a channel (email, line, sms, push, onsite, dm)", c.Channel)
	}
	switch c.Purpose {
	case "":
		c.Purpose = message.Marketing
	case message.Marketing, message.Transactional:
	default:
		return errs.FieldErrorf("purpose", "marketing or transactional")
	}
	if len(c.Variants) == 0 {
		return errs.FieldErrorf("variants", "give the message: at least one variant with a template or content")
	}
	if len(c.Variants) > 10 {
		return errs.FieldErrorf("variants", "at most 10 variants")
	}
	names := map[string]bool{}
	for i := range c.Variants {
		v := &c.Variants[i]
		if v.Name == "" {
			v.Name = string(rune('A' + i))
		}
		if names[v.Name] || len(v.Name) > 40 {
			return errs.FieldErrorf(fmt.Sprintf("variants[%d].name", i), "each variant needs its own name")
		}
		names[v.Name] = true
		if v.TemplateID == 0 && (v.Content == nil || strings.TrimSpace(v.Content.Text) == "") {
			return errs.FieldErrorf(fmt.Sprintf("variants[%d]", i), "a variant needs a template or content")
		}
	}
	if ab := c.AB; ab != nil {
		if len(c.Variants) < 2 {
			return errs.FieldErrorf("ab", "an A/B test needs at least two variants")
		}
		if ab.TestPercent < 1 || ab.TestPercent > 100 {
			return errs.FieldErrorf("ab.test_percent", "between 1 and 100")
		}
		if ab.Metric != "open" && ab.Metric != "click" && ab.Metric != "conversion" {
			return errs.FieldErrorf("ab.metric", "open, click or conversion")
		}
		if ab.WaitHours < 1 || ab.WaitHours > 24*14 {
			return errs.FieldErrorf("ab.wait_hours", "between 1 and 336")
		}
		if ab.Confidence == 0 {
			ab.Confidence = 0.95
		}
		if ab.Confidence < 0.5 || ab.Confidence >= 1 {
			return errs.FieldErrorf("ab.confidence", "between 0.5 and 0.999")
		}
		if ab.Fallback == "" {
			ab.Fallback = "control"
		}
		if ab.Fallback != "control" && ab.Fallback != "best" {
			return errs.FieldErrorf("ab.fallback", "control or best")
		}
	} else if len(c.Variants) > 1 {
		return errs.FieldErrorf("ab", "several variants need an A/B test (ab)")
	}
	if c.ThrottlePerMinute < 0 || c.ThrottlePerMinute > 1_000_000 {
		return errs.FieldErrorf("throttle_per_minute", "between 0 (no limit) and 1,000,000")
	}
	return nil
}

// Variant returns a variant by name.
func (c *Campaign) Variant(name string) (*Variant, bool) {
	for i := range c.Variants {
		if c.Variants[i].Name == name {
			return &c.Variants[i], true
		}
	}
	return nil, false
}

// Source names the sender of a variant's messages.
func Source(id int64, variant string) string {
	return "campaign:" + strconv.FormatInt(id, 10) + ":variant:" + variant
}

// Key is the exactly-once key of a campaign's message to a customer.
func Key(id, customer int64) string {
	return "campaign:" + strconv.FormatInt(id, 10) + ":customer:" + strconv.FormatInt(customer, 10)
}

// VariantStats are a variant's counts.
type VariantStats struct {
	Variant    string `json:"variant"`
	Recipients int64  `json:"recipients"` // rows in the outbox
	Sent       int64  `json:"sent"`
	Skipped    int64  `json:"skipped"`
	Failed     int64  `json:"failed"`
	Capped     int64  `json:"capped"`
	Opened     int64  `json:"opened"`
	Clicked    int64  `json:"clicked"`
	Converted  int64  `json:"converted"`
	Revenue    int64  `json:"revenue"`
	Pending    int64  `json:"pending"` // held, queued, paused or sending
}

// Successes returns the count the metric counts.
func (v VariantStats) Successes(metric string) int64 {
	switch metric {
	case "open":
		return v.Opened
	case "click":
		return v.Clicked
	}
	return v.Converted
}

// ZTest is a two-proportion z-test of a against b: the z score and the
// one-sided p-value that a's rate is no better than b's.
func ZTest(successA, nA, successB, nB int64) (z, p float64) {
	if nA == 0 || nB == 0 {
		return 0, 1
	}
	pa, pb := float64(successA)/float64(nA), float64(successB)/float64(nB)
	pool := float64(successA+successB) / float64(nA+nB)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(nA) + 1/float64(nB)))
	if se == 0 {
		return 0, 1
	}
	z = (pa - pb) / se
	p = 0.5 * math.Erfc(z/math.Sqrt2)
	return z, p
}

// PickWinner chooses the variant to send the rest: the best by the
// metric when it beats the runner-up significantly, else the fallback.
// It returns the winner and a sentence saying why.
func (c *Campaign) PickWinner(stats []VariantStats) (string, string) {
	ab := c.AB
	if ab == nil || len(stats) == 0 {
		return c.Variants[0].Name, "no test"
	}
	rate := func(s VariantStats) float64 {
		if s.Sent == 0 {
			return 0
		}
		return float64(s.Successes(ab.Metric)) / float64(s.Sent)
	}
	best, second := -1, -1
	for i := range stats {
		switch {
		case best < 0 || rate(stats[i]) > rate(stats[best]):
			second, best = best, i
		case second < 0 || rate(stats[i]) > rate(stats[second]):
			second = i
		}
	}
	b := stats[best]
	if second >= 0 {
		s := stats[second]
		z, p := ZTest(b.Successes(ab.Metric), b.Sent, s.Successes(ab.Metric), s.Sent)
		if p < 1-ab.Confidence {
			return b.Variant, fmt.Sprintf("%s %s rate %.1f%% vs %s %.1f%%: z = %.2f, p = %.4f < %.3f",
				b.Variant, ab.Metric, 100*rate(b), s.Variant, 100*rate(s), z, p, 1-ab.Confidence)
		}
		why := fmt.Sprintf("no significant difference (%s %.1f%% vs %s %.1f%%, p = %.3f)", b.Variant, 100*rate(b), s.Variant, 100*rate(s), p)
		if ab.Fallback == "best" {
			return b.Variant, why + "; sending the best observed"
		}
		return c.Variants[0].Name, why + "; sending the control"
	}
	return b.Variant, "only variant with data"
}

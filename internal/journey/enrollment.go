package journey

import (
	"context"
	"encoding/json"
	"time"

	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
)

// Enrollment states.
const (
	// Ready: due at DueAt to execute its step (or to start, Step "").
	Ready = "ready"
	// Waiting: for an event or a condition; DueAt is the timeout, if any.
	Waiting = "waiting"
	// Sending: its step's message is in the outbox; the send worker makes
	// it Ready again with Sub set to the outcome.
	Sending = "sending"
	// Ended: done; EndReason says how.
	Ended = "ended"
)

// End reasons.
const (
	EndCompleted = "completed" // walked off the last step
	EndExit      = "exit"      // an exit step
	EndGoal      = "goal"      // reached the journey's goal (converted)
	EndHoldout   = "holdout"   // a split's holdout group
	EndLoopCap   = "loop_cap"  // passed a step more than MaxVisits times
	EndMerged    = "merged"    // the customer was merged into one already in the journey
	EndError     = "error"     // a step failed for good (see last_error)
	EndArchived  = "archived"  // the journey was archived
)

// Sub-states: what ended a wait or a send at the current step.
const (
	SubEvent     = "event"
	SubCondition = "condition"
)

// Enrollment is one customer's run through a journey.
type Enrollment struct {
	ID         int64     `json:"id"`
	JourneyID  int64     `json:"journey_id"`
	CustomerID int64     `json:"customer_id"`
	EntryKey   string    `json:"entry_key"`
	State      string    `json:"state"`
	Step       string    `json:"step"`
	Sub        string    `json:"sub,omitempty"`
	DueAt      time.Time `json:"due_at,omitzero"`
	StepAt     time.Time `json:"step_at"`
	EnteredAt  time.Time `json:"entered_at"`
	Context    Context   `json:"context"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	EndReason  string    `json:"end_reason,omitempty"`
	Converted  bool      `json:"converted"`
	Revenue    int64     `json:"revenue"`
	LastError  string    `json:"last_error,omitempty"`
	// Token is the lease a claim holds; outcomes apply only under it.
	Token int64 `json:"-"`
	// JourneyVersion is the journey's version when claimed.
	JourneyVersion int `json:"-"`
}

// Context is what an enrollment carries: the trigger's data, values steps
// produced (a coupon code), the visit count per step and the split arm.
type Context struct {
	Trigger  map[string]any `json:"trigger,omitempty"`
	Vars     map[string]any `json:"vars,omitempty"`
	Visits   map[string]int `json:"visits,omitempty"`
	Variant  string         `json:"variant,omitempty"`
	Attempts int            `json:"attempts,omitempty"`
}

// JSON encodes the context.
func (c Context) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Candidate is a customer a trigger matched.
type Candidate struct {
	CustomerID int64
	// Key makes the entry idempotent: the same trigger firing twice (a
	// redelivered event, a re-run scan) enrolls once.
	Key     string
	Trigger map[string]any
	// TriggerJSON, when set, is the enrollment's context already encoded
	// (candidates of one bulk trigger share it).
	TriggerJSON string
	// At is when the trigger happened (entry time; zero: now).
	At time.Time
}

// Stat is an increment of a journey counter. Step "" is the journey.
type Stat struct {
	Step   string
	Metric string
	N      int64
}

// Journey and step counters.
const (
	MetricEntered   = "entered"   // journey: enrollments created; step: arrivals
	MetricSent      = "sent"      // step: messages confirmed sent
	MetricFailed    = "failed"    // step: messages that failed for good
	MetricSkipped   = "skipped"   // step: messages not sent (no consent, suppressed, no address)
	MetricCapped    = "capped"    // step: messages dropped by a frequency cap
	MetricOpened    = "opened"    // step: first opens (from channel tracking)
	MetricClicked   = "clicked"   // step: first clicks
	MetricConverted = "converted" // journey and step: conversions
	MetricRevenue   = "revenue"   // journey and step: yen attributed
	MetricTimeout   = "timeout"   // step: waits that ran out
	MetricExited    = "exited"    // journey: enrollments ended (any reason); "exited:<reason>" by reason
)

// Outcome is what executing an enrollment produced: its new position and
// the side effects to write with it, in one transaction, only if the
// enrollment's lease (Token) still holds.
type Outcome struct {
	Enrollment
	Stats []Stat
	// Send is a message to put in the outbox (the enrollment is Sending).
	Send *OutboxItem
	// Tag and attribute changes.
	AddTags    []string
	RemoveTags []string
	Attributes map[string]string
}

// OutboxItem is a message handed to the send worker.
type OutboxItem struct {
	message.Outgoing
	JourneyID    int64
	Step         string
	EnrollmentID int64
}

// Signal is something a customer did that may trigger a journey, resume a
// wait or reach a goal: an event, or a paid order (as event
// EventOrderCompleted).
type Signal struct {
	ID         int64
	CustomerID int64
	Name       string
	SKU        string
	At         time.Time // when it happened
	Properties map[string]any
	// Orders only.
	OrderID    int64
	Total      int64
	SKUs       []string
	Categories []string
	// Nth is the order's number among the customer's paid orders.
	Nth int
}

// IsOrder reports whether the signal is a paid order.
func (s Signal) IsOrder() bool { return s.OrderID != 0 }

// Changed is a customer whose data changed from Since on.
type Changed struct {
	CustomerID int64
	Since      time.Time
}

// Resume moves a waiting enrollment on (an event came, a condition holds),
// if it still waits at Step.
type Resume struct {
	EnrollmentID int64
	Step         string
	Sub          string
}

// Conversion ends an enrollment at its goal.
type Conversion struct {
	EnrollmentID int64
	JourneyID    int64
	Step         string
	Revenue      int64
	At           time.Time
}

// Engagement of a sent message, for branches.
type SendEngagement struct {
	Sent    bool
	SentAt  time.Time
	Opened  bool
	Clicked bool
}

// Store is what the runner asks of storage (internal/store implements it).
type Store interface {
	Journey(ctx context.Context, id int64) (*Journey, error)
	EnabledJourneys(ctx context.Context) ([]Journey, error)

	// ClaimEnrollments leases up to n enrollments of enabled journeys due
	// at now (store clock) for lease (wall clock).
	ClaimEnrollments(ctx context.Context, now time.Time, n int, lease time.Duration) ([]Enrollment, error)
	// DuplicateEnrollments returns, of the given ones, those whose customer
	// has an earlier unfinished enrollment in the same journey (after a merge).
	DuplicateEnrollments(ctx context.Context, es []Enrollment) (map[int64]bool, error)
	// ApplyOutcomes writes outcomes in one transaction; outcomes whose
	// lease was lost are skipped. It returns how many applied.
	ApplyOutcomes(ctx context.Context, outs []Outcome) (int, error)

	// MatchCustomers evaluates a condition for customers now.
	MatchCustomers(ctx context.Context, c segment.Condition, ids []int64) (map[int64]bool, error)
	// Engagements returns, per enrollment, the engagement of its message
	// of the given step.
	Engagements(ctx context.Context, step map[int64]string) (map[int64]SendEngagement, error)
	// OrdersSince returns, per customer with any, the total of paid orders
	// placed after the given time.
	OrdersSince(ctx context.Context, since map[int64]time.Time) (map[int64]int64, error)

	// Enroll creates enrollments for candidates, honouring the journey's
	// re-entry policy, and returns how many it created.
	Enroll(ctx context.Context, j *Journey, cands []Candidate) (int, error)
	// Signals returns events and paid orders of the customers written at
	// or after their Since.
	Signals(ctx context.Context, changed []Changed) ([]Signal, error)
	// OrderNth counts the customer's paid orders up to and including the
	// order that hold sku or category.
	OrderNth(ctx context.Context, orderID int64, sku, category string) (int, error)
	// OpenEnrollments returns the unfinished enrollments of the customers.
	OpenEnrollments(ctx context.Context, customerIDs []int64) ([]Enrollment, error)
	Resume(ctx context.Context, rs []Resume) (int, error)
	Convert(ctx context.Context, cs []Conversion) (int, error)

	// ScanScheduled enrolls the customers a scheduled trigger matches on
	// the Tokyo day (and records the day as scanned); ScannedDay returns
	// the last day scanned.
	ScanScheduled(ctx context.Context, j *Journey, day time.Time) (int, error)
	ScannedDay(ctx context.Context, journeyID int64) (time.Time, error)
	// EnrollProductSignals turns unprocessed back-in-stock and price-drop
	// signals into enrollments of the journeys given.
	EnrollProductSignals(ctx context.Context, js []Journey) (int, error)
	// RecheckWaitingConditions re-evaluates wait_condition steps of
	// enabled journeys when the date changed (time-relative conditions).
	WaitingOnCondition(ctx context.Context, journeyID int64, step string, limit int, afterID int64) ([]Enrollment, error)
}

// Loyalty issues coupons and moves points for coupon and points steps.
// Both calls are idempotent by key: a retry after a crash returns the
// coupon already issued or leaves the points as they are. The loyalty
// capability's store implements it (internal/store LoyaltyStore).
type Loyalty interface {
	IssueCoupon(ctx context.Context, customerID, campaignID int64, key string) (code string, err error)
	AdjustPoints(ctx context.Context, customerID, points int64, reason, key string) error
}

// Package journey holds journeys (シナリオ): a trigger that enrolls
// customers, a graph of steps each enrollment walks through (waits,
// branches, sends, coupons, points, tags …), and the rules around them
// (re-entry, goals, loop caps). Runner executes enrollments durably and
// exactly once per step; the template library (library.go) holds the
// 鉄板シナリオ ready to switch on. docs/journeys.md describes it all.
package journey

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
)

// Journey statuses. Only enabled journeys enroll customers and run their
// enrollments; disabling pauses both, enabling again resumes.
const (
	Draft    = "draft"
	Enabled  = "enabled"
	Disabled = "disabled"
	Archived = "archived"
)

// Journey is one scenario.
type Journey struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Template is the library key the journey was made from, if any.
	Template string  `json:"template,omitempty"`
	Status   string  `json:"status"`
	Trigger  Trigger `json:"trigger"`
	Steps    []Step  `json:"steps"`
	Reentry  Reentry `json:"reentry"`
	// Goal, when set, ends an enrollment as converted as soon as the
	// customer reaches it (a purchase, or an event), wherever they are.
	Goal *Goal `json:"goal,omitempty"`
	// MaxVisits caps how many times one enrollment may pass through any
	// one step, so that loops end (default 5).
	MaxVisits int `json:"max_visits,omitempty"`

	Version   int        `json:"version"`
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// DefaultMaxVisits is the loop cap when a journey sets none.
const DefaultMaxVisits = 5

// Trigger types.
const (
	TriggerEvent          = "event"            // an event (Checkout Started, Product Viewed, any custom event)
	TriggerOrder          = "order"            // a paid order: every one, or the Nth (of a product or category)
	TriggerSegmentEnter   = "segment_enter"    // the customer entered a segment
	TriggerSegmentExit    = "segment_exit"     // the customer left a segment
	TriggerDate           = "date"             // birthday, anniversary of the first order, a date attribute (± days)
	TriggerDaysSinceOrder = "days_since_order" // N days after the last purchase, with none since
	TriggerDaysSinceEvent = "days_since_event" // N days after the last event of a name (subscription cancelled …)
	TriggerReplenishment  = "replenishment"    // a product bought is due to run out (its replenishment cycle)
	TriggerBackInStock    = "back_in_stock"    // a product the customer favorited is back in stock
	TriggerPriceDrop      = "price_drop"       // a product the customer favorited got cheaper
	TriggerPointsExpiring = "points_expiring"  // loyalty: points about to lapse
	TriggerRankChange     = "rank_change"      // loyalty: the customer's rank moved (up, down or either)
	TriggerCouponUnused   = "coupon_unused"    // a coupon issued N days ago has not been used
)

// Event names the engine understands beyond the Segment e-commerce spec.
// Loyalty writes its signals as events of these names (internal/loyalty).
const (
	EventOrderCompleted = "Order Completed" // also matched by any new paid order
	EventRankChanged    = "Rank Changed"
	EventPointsExpiring = "Points Expiring"
	EventCouponIssued   = "Coupon Issued"
	EventFavorited      = "Product Added to Wishlist"
)

// Trigger says what enrolls a customer.
type Trigger struct {
	Type string `json:"type"`
	// Event is the event name (event, days_since_event).
	Event string `json:"event,omitempty"`
	// Where narrows events to those whose properties have these values.
	Where map[string]string `json:"where,omitempty"`
	// SKU or Category narrow events and orders.
	SKU      string `json:"sku,omitempty"`
	Category string `json:"category,omitempty"`
	// Nth makes an order trigger fire on the customer's Nth paid order
	// (of the SKU or category when set); 0 fires on every order.
	Nth int `json:"nth,omitempty"`
	// SegmentID is the segment of segment_enter and segment_exit;
	// IncludeExisting enrolls its members of the moment the journey is
	// enabled.
	SegmentID       int64 `json:"segment_id,omitempty"`
	IncludeExisting bool  `json:"include_existing,omitempty"`
	// Date is what a date trigger counts from: birthday, first_order
	// (its anniversaries), signup (its anniversaries) or attribute (a
	// YYYY-MM-DD custom attribute, once; Annual makes it yearly).
	Date      string `json:"date,omitempty"`
	Attribute string `json:"attribute,omitempty"`
	Annual    bool   `json:"annual,omitempty"`
	// OffsetDays moves a date trigger: -3 fires three days before.
	OffsetDays int `json:"offset_days,omitempty"`
	// Days is N of days_since_order, days_since_event and coupon_unused.
	Days int `json:"days,omitempty"`
	// LeadDays makes a replenishment trigger fire that many days before
	// the product is due to run out.
	LeadDays int `json:"lead_days,omitempty"`
	// WithinDays limits back_in_stock and price_drop to customers who
	// favorited the product in the last N days (default 180).
	WithinDays int `json:"within_days,omitempty"`
	// Direction narrows rank_change to "up" or "down".
	Direction string `json:"direction,omitempty"`
	// At is the time of day (HH:MM, Asia/Tokyo) date-driven triggers fire
	// (default 09:00).
	At string `json:"at,omitempty"`
}

// Scheduled reports whether the trigger is found by a daily scan rather
// than by a change to one customer.
func (t Trigger) Scheduled() bool {
	switch t.Type {
	case TriggerDate, TriggerDaysSinceOrder, TriggerDaysSinceEvent, TriggerReplenishment, TriggerCouponUnused:
		return true
	}
	return false
}

// EventName is the event an event-driven trigger listens to ("" for
// others): loyalty triggers are events under the hood.
func (t Trigger) EventName() string {
	switch t.Type {
	case TriggerEvent:
		return t.Event
	case TriggerPointsExpiring:
		return EventPointsExpiring
	case TriggerRankChange:
		return EventRankChanged
	}
	return ""
}

// Re-entry policies.
const (
	ReentryOnce      = "once"       // a customer enters at most once, ever
	ReentryAfterExit = "after_exit" // again once the previous run ended (default)
	ReentryCooldown  = "cooldown"   // again once ended and Cooldown has passed since the last entry
)

// Reentry says whether a customer may enter again.
type Reentry struct {
	Policy   string   `json:"policy"`
	Cooldown Duration `json:"cooldown,omitempty"`
}

// Goal ends enrollments as converted.
type Goal struct {
	// Type "order": a paid order; "event": an event of Event.
	Type  string `json:"type"`
	Event string `json:"event,omitempty"`
}

// Step types.
const (
	StepWait          = "wait"
	StepWaitEvent     = "wait_event"
	StepWaitCondition = "wait_condition"
	StepBranch        = "branch"
	StepSplit         = "split"
	StepSend          = "send"
	StepCoupon        = "coupon"
	StepPoints        = "points"
	StepTag           = "tag"
	StepAttribute     = "attribute"
	StepWebhook       = "webhook"
	StepGoal          = "goal"
	StepExit          = "exit"
)

// Step is one node of a journey. Next names the step that follows ("" ends
// the journey); steps may share a Next (branches join) and Next may name
// an earlier step (a loop, capped by MaxVisits).
type Step struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	Next string `json:"next,omitempty"`

	// wait: Duration from arrival (or from entry when From is "entry");
	// Days moves to that Tokyo calendar day after the base, at At; Until
	// then waits for the next HH:MM; Weekdays (mon … sun) for an allowed day.
	Duration Duration `json:"duration,omitempty"`
	Days     int      `json:"days,omitempty"`
	At       string   `json:"at,omitempty"`
	Until    string   `json:"until,omitempty"`
	Weekdays []string `json:"weekdays,omitempty"`
	From     string   `json:"from,omitempty"`

	// wait_event: Event (with Where); wait_condition and branch and goal:
	// Condition. Timeout ends the wait at TimeoutNext ("" ends the journey).
	Event       string             `json:"event,omitempty"`
	Where       map[string]string  `json:"where,omitempty"`
	Condition   *segment.Condition `json:"condition,omitempty"`
	Timeout     Duration           `json:"timeout,omitempty"`
	TimeoutNext string             `json:"timeout_next,omitempty"`

	// branch: Next when the condition (or engagement) holds, Else otherwise.
	Else       string      `json:"else,omitempty"`
	Engagement *Engagement `json:"engagement,omitempty"`

	// split: weighted variants; a variant with Next "" is a holdout group
	// that leaves the journey (counted, for lift).
	Variants []Variant `json:"variants,omitempty"`

	// send (and webhook, which sends over the webhook channel).
	Channel    message.Channel `json:"channel,omitempty"`
	Purpose    message.Purpose `json:"purpose,omitempty"`
	TemplateID int64           `json:"template_id,omitempty"`
	Content    *Content        `json:"content,omitempty"`
	Vars       map[string]any  `json:"vars,omitempty"`
	URL        string          `json:"url,omitempty"`

	// coupon: the coupon campaign to issue from.
	CouponCampaignID int64 `json:"coupon_campaign_id,omitempty"`
	// points: added (negative: subtracted) with Reason.
	Points int64  `json:"points,omitempty"`
	Reason string `json:"reason,omitempty"`
	// tag.
	AddTags    []string `json:"add_tags,omitempty"`
	RemoveTags []string `json:"remove_tags,omitempty"`
	// attribute.
	Attribute string `json:"attribute,omitempty"`
	Value     string `json:"value,omitempty"`
}

// Engagement is what a branch asks of an earlier send step.
type Engagement struct {
	Step string `json:"step"`
	// Kind: opened, clicked or purchased (an order after the send).
	Kind string `json:"kind"`
}

// Variant is one arm of a split.
type Variant struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	Next   string `json:"next,omitempty"`
}

// Content is message copy kept in the journey itself (the template
// library's Japanese copy), for senders whose channel renders inline
// content; a TemplateID refers to a template of the channels capability.
type Content struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// Duration is a time span written as Go durations plus days: "90m", "72h",
// "3d", "1d12h".
type Duration struct{ time.Duration }

var durationRE = regexp.MustCompile(`^(\d+)d(.*)$`)

// ParseDuration reads a span with an optional leading day count.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var days time.Duration
	if m := durationRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 36600 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = m[2]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 72h or 3d", s)
	}
	return days + d, nil
}

// MarshalJSON writes the span as days and a Go duration.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// String formats the span ("3d", "1d12h0m0s", "90m0s").
func (d Duration) String() string {
	if d.Duration == 0 {
		return "0s"
	}
	day := 24 * time.Hour
	if d.Duration%day == 0 {
		return strconv.Itoa(int(d.Duration/day)) + "d"
	}
	if d.Duration > day {
		return strconv.Itoa(int(d.Duration/day)) + "d" + (d.Duration % day).String()
	}
	return d.Duration.String()
}

// UnmarshalJSON reads "3d", "72h" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("a duration is text such as \"3d\" or \"72h\"")
		}
		d.Duration = time.Duration(n * float64(time.Second))
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// IsZero lets omitempty drop zero durations.
func (d Duration) IsZero() bool { return d.Duration == 0 }

// Step returns the step with the given id.
func (j *Journey) Step(id string) (*Step, bool) {
	for i := range j.Steps {
		if j.Steps[i].ID == id {
			return &j.Steps[i], true
		}
	}
	return nil, false
}

// First is the id of the step an enrollment starts at.
func (j *Journey) First() string {
	if len(j.Steps) == 0 {
		return ""
	}
	return j.Steps[0].ID
}

// Visits returns the journey's loop cap.
func (j *Journey) Visits() int {
	if j.MaxVisits <= 0 {
		return DefaultMaxVisits
	}
	return j.MaxVisits
}

// Source names a step as message sources do ("journey:12:step:s3").
func Source(journeyID int64, step string) string {
	return "journey:" + strconv.FormatInt(journeyID, 10) + ":step:" + step
}

// SendKey is the exactly-once key of a step's message to one enrollment:
// a visit number makes each pass of a loop its own message.
func SendKey(journeyID, enrollmentID int64, step string, visit int) string {
	return fmt.Sprintf("journey:%d:enrollment:%d:step:%s:%d", journeyID, enrollmentID, step, visit)
}

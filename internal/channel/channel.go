// Package channel delivers messages: for each message.Outgoing it records
// the send under its exactly-once key, checks consent and the suppression
// list (特定電子メール法, APPI), renders the template with the customer's
// merge fields and tracked links, waits for the channel's shared rate
// limit, hands the message to the channel's Sender (internal/channel/<name>)
// and records what the provider said on the customer's timeline. It also
// handles what comes back: unsubscribes, opens, clicks, bounces,
// complaints, delivery receipts and opt-out keywords, and attributes
// orders to the messages that led to them.
//
// The package knows no database and no HTTP: the store implements Store,
// and internal/http translates requests into calls here.
package channel

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// Send statuses recorded in messages.status.
const (
	StatusScheduled = "scheduled" // waiting for NotBefore
	StatusSending   = "sending"   // handed to the provider, answer pending
	StatusSent      = "sent"      // the provider accepted it
	StatusDelivered = "delivered" // the provider confirmed delivery
	StatusRetry     = "retry"     // a transient failure; tried again at next_attempt_at
	StatusFailed    = "failed"    // a permanent failure
	StatusBlocked   = "blocked"   // not sent: no consent, suppressed, no address
	StatusBounced   = "bounced"   // sent, then bounced
	StatusUnknown   = "unknown"   // the process stopped mid-send; not resent to avoid a duplicate
)

// Errors callers can test for with errors.Is.
var (
	// ErrDuplicate: a message with the same key was already sent (or is
	// being sent); nothing was sent again.
	ErrDuplicate = errors.New("already sent under this key")
	// ErrBlocked: compliance stopped the send (no consent, suppressed, no
	// address). It is recorded, and it is permanent.
	ErrBlocked = errors.New("not sent")
)

// BlockedError says why a message was not sent.
type BlockedError struct{ Reason string }

func (e *BlockedError) Error() string { return "not sent: " + e.Reason }

// Is makes errors.Is(err, ErrBlocked) and message.IsPermanent(err) hold.
func (e *BlockedError) Is(target error) bool {
	return target == ErrBlocked || target == message.ErrPermanent
}

// Block reasons.
const (
	ReasonNoConsent    = "no_consent"
	ReasonOptedOut     = "opted_out"
	ReasonNoAddress    = "no_address"
	ReasonInactive     = "customer_inactive"
	ReasonSuppressed   = "suppressed:" // + suppression reason
	ReasonNotConfigred = "channel_not_configured"
	// ReasonOpenInquiry: the customer has an unresolved inquiry and the
	// shop keeps such customers out of marketing (Config.Exclusions).
	ReasonOpenInquiry = "open_inquiry"
)

// Claim is a send to record before anything is sent.
type Claim struct {
	Key        string
	CustomerID int64
	Channel    message.Channel
	Purpose    message.Purpose
	TemplateID int64
	Source     string
	Subject    string
	Vars       json.RawMessage
	Status     string    // StatusSending, or StatusScheduled with NextAt
	NextAt     time.Time // when a scheduled send is due
}

// Claimed is what the store says about a claimed key.
type Claimed struct {
	MessageID int64
	// New is true when this call recorded the key, or took over a send
	// that was scheduled or waiting for a retry and is due: either way the
	// caller now owns the send.
	New        bool
	Status     string // the row's status (before any take-over)
	Attempts   int
	ProviderID string
}

// Update is the outcome of a send.
type Update struct {
	MessageID  int64
	Status     string
	Address    string
	Subject    string
	Provider   string
	ProviderID string
	Error      string
	// Attempt adds one to the row's attempts (a provider was called).
	Attempt bool
	NextAt  time.Time // for StatusRetry
	SentAt  time.Time // for StatusSent
}

// Record is a stored send.
type Record struct {
	ID             int64           `json:"id"`
	Key            string          `json:"key"`
	CustomerID     int64           `json:"customer_id"`
	Channel        message.Channel `json:"channel"`
	Purpose        message.Purpose `json:"purpose"`
	TemplateID     int64           `json:"template_id"`
	Source         string          `json:"source"`
	Subject        string          `json:"subject"`
	Address        string          `json:"address"`
	Status         string          `json:"status"`
	Provider       string          `json:"provider"`
	ProviderID     string          `json:"provider_id"`
	Attempts       int             `json:"attempts"`
	Error          string          `json:"error,omitempty"`
	Vars           json.RawMessage `json:"vars,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	SentAt         *time.Time      `json:"sent_at,omitempty"`
	NextAttemptAt  *time.Time      `json:"next_attempt_at,omitempty"`
	DeliveredAt    *time.Time      `json:"delivered_at,omitempty"`
	OpenedAt       *time.Time      `json:"opened_at,omitempty"`
	ClickedAt      *time.Time      `json:"clicked_at,omitempty"`
	BouncedAt      *time.Time      `json:"bounced_at,omitempty"`
	UnsubscribedAt *time.Time      `json:"unsubscribed_at,omitempty"`
}

// Outgoing rebuilds the message a record was claimed for (for retries).
func (r *Record) Outgoing() message.Outgoing {
	o := message.Outgoing{Key: r.Key, CustomerID: r.CustomerID, Channel: r.Channel, Purpose: r.Purpose, TemplateID: r.TemplateID, Source: r.Source}
	if len(r.Vars) > 0 {
		_ = json.Unmarshal(r.Vars, &o.Vars)
	}
	return o
}

// Recipient is what a send needs to know about a customer.
type Recipient struct {
	Customer customer.Customer
	// Consent is the latest consent record for the channel, if any.
	Consent      *customer.Consent
	LINEUserID   string
	Push         []PushSubscription
	LastPurchase *content.Purchase
}

// PushSubscription is a browser's web push subscription.
type PushSubscription struct {
	ID          int64     `json:"id"`
	CustomerID  int64     `json:"customer_id,omitempty"`
	AnonymousID string    `json:"anonymous_id,omitempty"`
	Endpoint    string    `json:"endpoint"`
	P256dh      string    `json:"p256dh"`
	Auth        string    `json:"auth"`
	UserAgent   string    `json:"user_agent,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Suppression reasons.
const (
	SuppressUnsubscribed = "unsubscribed"
	SuppressBounced      = "bounced"
	SuppressComplained   = "complained"
	SuppressManual       = "manual"
)

// Suppression is an address no message may go to.
type Suppression struct {
	Channel   message.Channel `json:"channel"`
	Address   string          `json:"address"`
	Reason    string          `json:"reason"`
	Detail    string          `json:"detail,omitempty"`
	Actor     string          `json:"actor,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// Event kinds of message_events.
const (
	EventOpen        = "open"
	EventClick       = "click"
	EventUnsubscribe = "unsubscribe"
	EventBounce      = "bounce"
	EventComplaint   = "complaint"
	EventDelivered   = "delivered"
	EventFailed      = "failed"
	EventShown       = "shown" // an on-site message was shown
)

// Event is something that happened to a sent message.
type Event struct {
	MessageID int64
	Kind      string
	Machine   bool   // an open by a privacy proxy, not a person
	URL       string // a click's target
	Detail    string
	At        time.Time
}

// SourceStats are a campaign's, journey's or step's results.
type SourceStats struct {
	Source        string `json:"source"`
	Channel       string `json:"channel"`
	Sent          int64  `json:"sent"`
	Delivered     int64  `json:"delivered"`
	Bounced       int64  `json:"bounced"`      // hard bounces
	SoftBounced   int64  `json:"soft_bounced"` // soft bounces (retried)
	Failed        int64  `json:"failed"`
	Blocked       int64  `json:"blocked"`
	Opened        int64  `json:"opened"`
	MachineOpened int64  `json:"machine_opened"`
	Clicked       int64  `json:"clicked"`
	Unsubscribed  int64  `json:"unsubscribed"`
	Complained    int64  `json:"complained"`
	Conversions   int64  `json:"conversions"`
	Revenue       int64  `json:"revenue"`
}

// Store is what the channel service asks of storage.
type Store interface {
	// ClaimSends records each claim under its key in one transaction. A key
	// seen before is not recorded again; its row is returned with New
	// false, unless it was scheduled or waiting for a retry and is due (then
	// it is taken over: status sending, New true).
	ClaimSends(ctx context.Context, claims []Claim, now time.Time) ([]Claimed, error)
	UpdateSends(ctx context.Context, ups []Update) error
	SendRecord(ctx context.Context, id int64) (*Record, error)
	SendRecordByKey(ctx context.Context, key string) (*Record, error)
	SendRecordByProviderID(ctx context.Context, provider, providerID string) (*Record, error)
	// DueSends lists scheduled and retry sends due at now, and sends left
	// "sending" since before stale (a process stopped mid-send).
	DueSends(ctx context.Context, now, stale time.Time, limit int) ([]Record, error)

	Recipients(ctx context.Context, ch message.Channel, ids []int64) (map[int64]*Recipient, error)
	Suppressed(ctx context.Context, ch message.Channel, addresses []string) (map[string]string, error)
	Suppress(ctx context.Context, s Suppression) (bool, error)
	Unsuppress(ctx context.Context, ch message.Channel, address string) error
	Suppressions(ctx context.Context, ch message.Channel, reason string, limit, offset int) ([]Suppression, int, error)
	// CountSoftBounce adds one soft bounce for an address and returns the count.
	CountSoftBounce(ctx context.Context, ch message.Channel, address string, at time.Time) (int, error)

	RecordConsent(ctx context.Context, customerID int64, c customer.Consent) error
	// CustomersByAddress lists the active customers holding an address on
	// a channel (a phone number for SMS opt-out keywords).
	CustomersByAddress(ctx context.Context, ch message.Channel, address string) ([]int64, error)
	// AddSendEvent stores an event and sets the message's first-time column
	// (opened_at, clicked_at …); first reports whether it was the first of
	// its kind for the message.
	AddSendEvent(ctx context.Context, e Event) (first bool, err error)

	Template(ctx context.Context, id int64) (*content.Template, error)
	// TakeTokens takes up to n tokens from the named bucket (refilled at
	// perMinute, holding at most burst) and returns how many it got.
	TakeTokens(ctx context.Context, bucket string, n int, perMinute, burst float64, now time.Time) (int, error)

	Setting(ctx context.Context, key string) (string, bool, error)
	SetSetting(ctx context.Context, key, value string) error

	SendStats(ctx context.Context, sourcePrefix string) ([]SourceStats, error)

	CustomerByAnonymousID(ctx context.Context, anonymousID string) (int64, error)
	PendingOnsite(ctx context.Context, customerID int64, limit int) ([]Record, error)
	OnsiteCampaigns(ctx context.Context, activeAt time.Time) ([]OnsiteCampaign, error)
}

// invalid is a field error for a bad Outgoing.
func invalid(field, format string, args ...any) error {
	return errs.FieldErrorf(field, format, args...)
}

// OnsiteCampaign shows an on-site message (popup) to the site's visitors:
// all of them, identified ones (optionally in a segment) or anonymous ones.
type OnsiteCampaign struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	TemplateID int64      `json:"template_id"`
	Audience   string     `json:"audience"` // all | identified | anonymous
	SegmentID  int64      `json:"segment_id,omitempty"`
	Active     bool       `json:"active"`
	StartsAt   *time.Time `json:"starts_at,omitempty"`
	EndsAt     *time.Time `json:"ends_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Attribution is the message an order is credited to.
type Attribution struct {
	OrderID   int64     `json:"order_id"`
	MessageID int64     `json:"message_id"`
	Touch     string    `json:"touch"` // click | open
	TouchedAt time.Time `json:"touched_at"`
	Source    string    `json:"source"`
	Channel   string    `json:"channel"`
}

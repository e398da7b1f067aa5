// Package message is the contract between what decides to send (journeys,
// campaigns, test sends) and what delivers (the channel packages under
// internal/channel): one Outgoing message to one customer over one
// channel, identified by a key that makes every send exactly-once.
package message

import (
	"context"
	"errors"
	"time"
)

// Channel is a way to reach a customer.
type Channel string

// Channels.
const (
	Email   Channel = "email"
	LINE    Channel = "line"
	SMS     Channel = "sms"
	Push    Channel = "push"    // web push (VAPID)
	OnSite  Channel = "onsite"  // a message the JS tag shows on the shop's site
	Webhook Channel = "webhook" // a signed HTTP call to the shop's system
	DM      Channel = "dm"      // direct mail: a postal address list for a print shop
)

// Purpose separates marketing from transactional messages: consent, quiet
// hours and frequency caps apply to marketing only (特定電子メール法).
type Purpose string

// Purposes.
const (
	Marketing     Purpose = "marketing"
	Transactional Purpose = "transactional"
)

// Outgoing is one message to send.
type Outgoing struct {
	// Key is unique per (journey step or campaign, customer[, attempt
	// group]); the send is recorded under it before the provider is called
	// and a second send with the same key is refused.
	Key        string
	CustomerID int64
	Channel    Channel
	Purpose    Purpose
	TemplateID int64
	// Source names what sent it, for statistics and attribution:
	// "journey:12:step:3", "campaign:7:variant:B", "test".
	Source string
	// Vars are merge fields added to the customer's own (coupon code, …).
	Vars map[string]any
	// NotBefore delays the send (quiet hours, send time).
	NotBefore time.Time
}

// Result is what a provider said.
type Result struct {
	ProviderID string // the provider's message id
	Status     string // accepted | sent | delivered
}

// Sender delivers messages of one channel through one provider.
type Sender interface {
	Channel() Channel
	Send(ctx context.Context, m Rendered) (Result, error)
}

// Rendered is a message with its content ready for a provider.
type Rendered struct {
	Outgoing
	To      string // address on the channel: e-mail, E.164 phone, LINE user id, push subscription …
	Subject string
	Text    string
	HTML    string
	// Payload carries channel-specific content (a LINE flex message, a push
	// notification's JSON …).
	Payload []byte
	// Headers are extra e-mail headers (List-Unsubscribe is added by the
	// e-mail channel itself).
	Headers map[string]string
}

// ErrPermanent marks a failure that retrying will not fix (an invalid
// address, a blocked user); Send wraps it. Other errors are retried with
// backoff.
var ErrPermanent = errors.New("permanent delivery failure")

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return errors.Join(ErrPermanent, err) }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

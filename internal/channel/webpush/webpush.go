// Package webpush sends Web Push notifications (RFC 8030) encrypted for
// each browser (RFC 8291, aes128gcm) and signed with the shop's VAPID key
// (RFC 8292), through webpush-go.
package webpush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/enishi-crm/enishi/internal/message"
)

// GenerateKeys makes a VAPID key pair (URL-safe base64, as browsers take
// the public key in PushManager.subscribe's applicationServerKey).
func GenerateKeys() (private, public string, err error) { return wp.GenerateVAPIDKeys() }

// Sender sends notifications to every subscribed browser of a customer.
type Sender struct {
	PublicKey, PrivateKey string
	// Subject is the contact push services may use (mailto: or https:).
	Subject string
	TTL     int // seconds a push service keeps an undelivered notification (default 1 day)
	HTTP    *http.Client
	// Gone is told about subscriptions the push service says no longer
	// exist (404, 410), so they can be deleted.
	Gone func(ctx context.Context, endpoint string)
}

// Channel implements message.Sender.
func (s *Sender) Channel() message.Channel { return message.Push }

// Provider names the provider in send records.
func (s *Sender) Provider() string { return "webpush" }

// payload is what the channel service puts in Rendered.Payload.
type payload struct {
	Title         string `json:"title"`
	Body          string `json:"body"`
	URL           string `json:"url"`
	Icon          string `json:"icon"`
	Subscriptions []struct {
		Endpoint string `json:"endpoint"`
		P256dh   string `json:"p256dh"`
		Auth     string `json:"auth"`
	} `json:"subscriptions"`
}

// Notification is what the service worker receives (the push event's
// data, as JSON): enishi's snippet shows it with showNotification.
type Notification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url,omitempty"`
	Icon  string `json:"icon,omitempty"`
	Tag   string `json:"tag,omitempty"`
}

// Send implements message.Sender: one encrypted push per subscription. It
// succeeds when at least one browser's push service accepted it.
func (s *Sender) Send(ctx context.Context, r message.Rendered) (message.Result, error) {
	var p payload
	if err := json.Unmarshal(r.Payload, &p); err != nil {
		return message.Result{}, message.Permanent(fmt.Errorf("push payload: %w", err))
	}
	if len(p.Subscriptions) == 0 {
		return message.Result{}, message.Permanent(errors.New("the customer has no push subscription"))
	}
	body, _ := json.Marshal(Notification{Title: p.Title, Body: p.Body, URL: p.URL, Icon: p.Icon, Tag: r.Key})
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 86400
	}
	var hc wp.HTTPClient = http.DefaultClient
	if s.HTTP != nil {
		hc = s.HTTP
	}
	// webpush-go adds "mailto:" itself to anything that is not https:.
	subject := strings.TrimPrefix(s.Subject, "mailto:")
	accepted, gone := 0, 0
	var lastErr error
	for _, sub := range p.Subscriptions {
		resp, err := wp.SendNotificationWithContext(ctx, body, &wp.Subscription{Endpoint: sub.Endpoint, Keys: wp.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
			&wp.Options{HTTPClient: hc, Subscriber: subject, VAPIDPublicKey: s.PublicKey, VAPIDPrivateKey: s.PrivateKey, TTL: ttl, Urgency: wp.UrgencyNormal})
		if err != nil {
			lastErr = err
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			accepted++
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
			gone++
			if s.Gone != nil {
				s.Gone(ctx, sub.Endpoint)
			}
		default:
			lastErr = fmt.Errorf("push service answered %d", resp.StatusCode)
			if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				lastErr = message.Permanent(lastErr)
			}
		}
	}
	switch {
	case accepted > 0:
		return message.Result{Status: "sent", ProviderID: fmt.Sprintf("%d/%d browsers", accepted, len(p.Subscriptions))}, nil
	case gone == len(p.Subscriptions):
		return message.Result{}, message.Permanent(errors.New("every push subscription of the customer has expired"))
	}
	return message.Result{}, lastErr
}

package channel

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/tracking"
)

// badLink is the error for a link that does not verify.
var badLink = errs.Errorf(errs.NotFound, "this link is not valid (it may have been copied incompletely)")

// UnsubscribeTarget returns the send an unsubscribe token belongs to.
func (s *Service) UnsubscribeTarget(ctx context.Context, token string) (*Record, error) {
	id, _, err := s.signer.Parse(tracking.KindUnsubscribe, token)
	if err != nil {
		return nil, badLink
	}
	return s.cfg.Store.SendRecord(ctx, id)
}

// Unsubscribe opts the message's customer out of marketing on the
// message's channel at once: a consent record (method "unsubscribe",
// source the message), the address on the suppression list, and an
// unsubscribe event on the message. Repeating it changes nothing.
func (s *Service) Unsubscribe(ctx context.Context, token, via string) (*Record, error) {
	rec, err := s.UnsubscribeTarget(ctx, token)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	if cc := ConsentChannel(rec.Channel); cc != "" {
		rs, err := s.cfg.Store.Recipients(ctx, rec.Channel, []int64{rec.CustomerID})
		if err != nil {
			return nil, err
		}
		if r := rs[rec.CustomerID]; r != nil && (r.Consent == nil || r.Consent.Granted) {
			if err := s.cfg.Store.RecordConsent(ctx, r.Customer.ID, customer.Consent{Channel: cc, Granted: false, RecordedAt: now,
				Method: "unsubscribe", Source: fmt.Sprintf("message:%d (%s)", rec.ID, via)}); err != nil {
				return nil, err
			}
		}
	}
	if rec.Address != "" {
		if _, err := s.cfg.Store.Suppress(ctx, Suppression{Channel: rec.Channel, Address: rec.Address, Reason: SuppressUnsubscribed,
			Detail: fmt.Sprintf("message %d", rec.ID), Actor: "customer", CreatedAt: now}); err != nil {
			return nil, err
		}
	}
	if _, err := s.cfg.Store.AddSendEvent(ctx, Event{MessageID: rec.ID, Kind: EventUnsubscribe, Detail: via, At: now}); err != nil {
		return nil, err
	}
	return rec, nil
}

// TrackOpen records an open of the pixel's message; opens by privacy
// proxies are kept but flagged as machine opens.
func (s *Service) TrackOpen(ctx context.Context, token string, ip net.IP, userAgent string) error {
	id, _, err := s.signer.Parse(tracking.KindOpen, strings.TrimSuffix(token, ".gif"))
	if err != nil {
		return badLink
	}
	_, err = s.cfg.Store.AddSendEvent(ctx, Event{MessageID: id, Kind: EventOpen, Machine: tracking.MachineOpen(ip, userAgent), At: s.cfg.Clock.Now()})
	return err
}

// TrackClick records a click and returns the signed target to redirect
// to (ip and userAgent are accepted for symmetry with opens; clicks are
// never machine events). Only http(s) targets that were signed into the link are returned,
// so the redirect cannot be pointed anywhere else.
func (s *Service) TrackClick(ctx context.Context, token string, ip net.IP, userAgent string) (string, error) {
	id, target, err := s.signer.Parse(tracking.KindClick, token)
	if err != nil {
		return "", badLink
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", badLink
	}
	_, err = s.cfg.Store.AddSendEvent(ctx, Event{MessageID: id, Kind: EventClick, URL: target, At: s.cfg.Clock.Now()})
	if err != nil && errs.Code(err) != errs.NotFound {
		return "", err
	}
	return target, nil
}

// Bounce kinds.
const (
	BounceHard      = "hard"
	BounceSoft      = "soft"
	BounceComplaint = "complaint"
)

// Bounce is a bounce or complaint report about a sent e-mail (from a DSN,
// an ARF report or a provider's webhook).
type Bounce struct {
	Kind       string    `json:"kind"` // hard | soft | complaint
	Address    string    `json:"address"`
	MessageID  int64     `json:"message_id,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
	Status     string    `json:"status,omitempty"` // the DSN status code, e.g. 5.1.1
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// BounceResult is what a bounce did.
type BounceResult struct {
	Kind       string `json:"kind"`
	Address    string `json:"address"`
	MessageID  int64  `json:"message_id,omitempty"`
	Suppressed bool   `json:"suppressed"`
	SoftCount  int    `json:"soft_count,omitempty"`
	Retry      bool   `json:"retry"`
}

// HandleBounce applies a bounce: hard bounces and complaints suppress the
// address at once (a complaint also records an opt-out); soft bounces are
// counted, the message is retried later, and the address is suppressed
// when the count reaches the configured limit.
func (s *Service) HandleBounce(ctx context.Context, b Bounce) (*BounceResult, error) {
	switch b.Kind {
	case BounceHard, BounceSoft, BounceComplaint:
	default:
		return nil, errs.FieldErrorf("kind", "%q is not hard, soft or complaint", b.Kind)
	}
	now := s.cfg.Clock.Now()
	if b.At.IsZero() {
		b.At = now
	}
	var rec *Record
	var err error
	switch {
	case b.MessageID > 0:
		rec, err = s.cfg.Store.SendRecord(ctx, b.MessageID)
	case b.ProviderID != "":
		rec, err = s.cfg.Store.SendRecordByProviderID(ctx, "smtp", b.ProviderID)
	}
	if err != nil && errs.Code(err) != errs.NotFound {
		return nil, err
	}
	if rec != nil && rec.Channel != message.Email {
		rec = nil
	}
	addr := strings.ToLower(strings.TrimSpace(b.Address))
	if addr == "" && rec != nil {
		addr = rec.Address
	}
	if addr == "" {
		return nil, errs.FieldErrorf("address", "the bounce names no address and no known message")
	}
	res := &BounceResult{Kind: b.Kind, Address: addr}
	detail := strings.TrimSpace(b.Kind + " " + b.Status + " " + b.Reason)
	if rec != nil {
		res.MessageID = rec.ID
		kind := EventBounce
		if b.Kind == BounceComplaint {
			kind = EventComplaint
		}
		if _, err := s.cfg.Store.AddSendEvent(ctx, Event{MessageID: rec.ID, Kind: kind, Detail: detail, At: b.At}); err != nil {
			return nil, err
		}
	}
	suppress := func(reason, why string) error {
		_, err := s.cfg.Store.Suppress(ctx, Suppression{Channel: message.Email, Address: addr, Reason: reason, Detail: why, Actor: "bounce", CreatedAt: now})
		res.Suppressed = err == nil
		return err
	}
	switch b.Kind {
	case BounceHard:
		if err := suppress(SuppressBounced, detail); err != nil {
			return nil, err
		}
	case BounceComplaint:
		if err := suppress(SuppressComplained, detail); err != nil {
			return nil, err
		}
		if rec != nil {
			if err := s.cfg.Store.RecordConsent(ctx, rec.CustomerID, customer.Consent{Channel: customer.ChannelEmail, Granted: false,
				RecordedAt: now, Method: "complaint", Source: fmt.Sprintf("message:%d", rec.ID)}); err != nil {
				return nil, err
			}
		}
	case BounceSoft:
		set, err := s.Settings(ctx)
		if err != nil {
			return nil, err
		}
		n, err := s.cfg.Store.CountSoftBounce(ctx, message.Email, addr, now)
		if err != nil {
			return nil, err
		}
		res.SoftCount = n
		if n >= set.softBounceLimit() {
			if err := suppress(SuppressBounced, fmt.Sprintf("%d soft bounces, last: %s", n, detail)); err != nil {
				return nil, err
			}
		} else if rec != nil && rec.Attempts < set.maxAttempts() {
			res.Retry = true
			if err := s.cfg.Store.UpdateSends(ctx, []Update{{MessageID: rec.ID, Status: StatusRetry, Error: "soft bounce: " + detail,
				NextAt: now.Add(Backoff(rec.Attempts))}}); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// DeliveryStatus is a provider's report on a message (SMS status callback).
type DeliveryStatus struct {
	Provider   string
	ProviderID string
	Status     string // the provider's word: delivered, undelivered, failed, sent …
	ErrorCode  string
	To         string
}

// smsDeadCodes are Twilio error codes meaning the number cannot receive
// SMS at all: the address is suppressed like a hard bounce.
var smsDeadCodes = map[string]bool{"21211": true, "21614": true, "30005": true, "30006": true, "21610": true}

// HandleDeliveryStatus applies a provider's status report to the send.
func (s *Service) HandleDeliveryStatus(ctx context.Context, st DeliveryStatus) error {
	rec, err := s.cfg.Store.SendRecordByProviderID(ctx, st.Provider, st.ProviderID)
	if err != nil {
		return err
	}
	now := s.cfg.Clock.Now()
	switch st.Status {
	case "delivered", "read":
		_, err = s.cfg.Store.AddSendEvent(ctx, Event{MessageID: rec.ID, Kind: EventDelivered, At: now})
	case "undelivered", "failed":
		if _, err = s.cfg.Store.AddSendEvent(ctx, Event{MessageID: rec.ID, Kind: EventFailed, Detail: st.Status + " " + st.ErrorCode, At: now}); err != nil {
			return err
		}
		if smsDeadCodes[st.ErrorCode] && rec.Address != "" {
			_, err = s.cfg.Store.Suppress(ctx, Suppression{Channel: rec.Channel, Address: rec.Address, Reason: SuppressBounced,
				Detail: "provider error " + st.ErrorCode, Actor: st.Provider, CreatedAt: now})
		}
	}
	return err
}

// InboundSMS handles a reply: an opt-out keyword (STOP, 停止, 配信停止 …)
// records an opt-out for every customer with that number and suppresses
// it; an opt-in keyword (START, 再開) records an opt-in and lifts an
// unsubscribe suppression. It returns "opt_out", "opt_in" or "".
func (s *Service) InboundSMS(ctx context.Context, from, body string) (string, error) {
	optOut, optIn := IsOptOut(body), IsOptIn(body)
	if !optOut && !optIn {
		return "", nil
	}
	ids, err := s.cfg.Store.CustomersByAddress(ctx, message.SMS, from)
	if err != nil {
		return "", err
	}
	now := s.cfg.Clock.Now()
	for _, id := range ids {
		if err := s.cfg.Store.RecordConsent(ctx, id, customer.Consent{Channel: customer.ChannelSMS, Granted: optIn, RecordedAt: now,
			Method: "sms_keyword", Source: "reply: " + strings.TrimSpace(body)}); err != nil {
			return "", err
		}
	}
	if optOut {
		_, err = s.cfg.Store.Suppress(ctx, Suppression{Channel: message.SMS, Address: from, Reason: SuppressUnsubscribed,
			Detail: "replied " + strings.TrimSpace(body), Actor: "customer", CreatedAt: now})
		return "opt_out", err
	}
	return "opt_in", s.liftUnsubscribe(ctx, message.SMS, from)
}

// liftUnsubscribe removes an address's suppression when it is only an
// unsubscribe (bounces and manual blocks stay).
func (s *Service) liftUnsubscribe(ctx context.Context, ch message.Channel, addr string) error {
	m, err := s.cfg.Store.Suppressed(ctx, ch, []string{addr})
	if err != nil {
		return err
	}
	if m[addr] == SuppressUnsubscribed {
		return s.cfg.Store.Unsuppress(ctx, ch, addr)
	}
	return nil
}

// Variant is one arm of an A/B test with its rates.
type Variant struct {
	SourceStats
	OpenRate       float64 `json:"open_rate"`
	ClickRate      float64 `json:"click_rate"`
	ConversionRate float64 `json:"conversion_rate"`
	RevenuePerSend float64 `json:"revenue_per_send"`
}

// ABResult compares the variants of a campaign.
type ABResult struct {
	Variants []Variant `json:"variants"`
	// Winner is the variant with the best conversion rate (click rate when
	// no one converted), "" when there is no difference.
	Winner string `json:"winner"`
	Metric string `json:"metric"`
	// PValue is the two-sided p-value of the winner against the runner-up
	// (two-proportion z-test); Significant when below 0.05.
	PValue      float64 `json:"p_value"`
	Significant bool    `json:"significant"`
}

// CompareVariants computes an A/B result from per-variant statistics.
func CompareVariants(stats []SourceStats) ABResult {
	res := ABResult{Metric: "conversion_rate"}
	conv := int64(0)
	for _, st := range stats {
		v := Variant{SourceStats: st}
		sent := float64(st.Sent + st.Delivered)
		if sent > 0 {
			v.OpenRate = float64(st.Opened) / sent
			v.ClickRate = float64(st.Clicked) / sent
			v.ConversionRate = float64(st.Conversions) / sent
			v.RevenuePerSend = float64(st.Revenue) / sent
		}
		conv += st.Conversions
		res.Variants = append(res.Variants, v)
	}
	metric := func(v Variant) (float64, int64) { return v.ConversionRate, v.Conversions }
	if conv == 0 {
		res.Metric = "click_rate"
		metric = func(v Variant) (float64, int64) { return v.ClickRate, v.Clicked }
	}
	if len(res.Variants) < 2 {
		return res
	}
	best, second := -1, -1
	for i, v := range res.Variants {
		r, _ := metric(v)
		switch {
		case best < 0 || r > mustRate(metric(res.Variants[best])):
			best, second = i, best
		case second < 0 || r > mustRate(metric(res.Variants[second])):
			second = i
		}
	}
	rb, xb := metric(res.Variants[best])
	rs, xs := metric(res.Variants[second])
	if rb == rs {
		return res
	}
	res.Winner = res.Variants[best].Source
	nb, ns := float64(res.Variants[best].Sent+res.Variants[best].Delivered), float64(res.Variants[second].Sent+res.Variants[second].Delivered)
	p := float64(xb+xs) / (nb + ns)
	se := math.Sqrt(p * (1 - p) * (1/nb + 1/ns))
	if se > 0 {
		z := (rb - rs) / se
		res.PValue = math.Erfc(math.Abs(z) / math.Sqrt2)
		res.Significant = res.PValue < 0.05
	}
	return res
}

func mustRate(r float64, _ int64) float64 { return r }

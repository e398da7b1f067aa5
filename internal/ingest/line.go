package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store"
)

// SettingLineProvider names the setting holding the LINE provider id that
// LINE user ids belong to (user ids differ per provider). Unset, the
// webhook's destination (the channel's bot user id) stands in for it.
const SettingLineProvider = "line.provider_id"

// LinkNonceTTL is how long an account-link nonce may be used.
const LinkNonceTTL = 10 * time.Minute

// VerifyLineSignature checks X-Line-Signature: the base64 HMAC-SHA256 of
// the raw body keyed with the channel secret, compared in constant time.
func VerifyLineSignature(secret string, body []byte, header string) bool {
	return verifyBase64HMAC(secret, body, header)
}

type lineWebhook struct {
	Destination string      `json:"destination"`
	Events      []lineEvent `json:"events"`
}

type lineEvent struct {
	Type           string `json:"type"`
	Timestamp      int64  `json:"timestamp"`
	WebhookEventID string `json:"webhookEventId"`
	Source         struct {
		Type   string `json:"type"`
		UserID string `json:"userId"`
	} `json:"source"`
	Message *struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"message"`
	Link *struct {
		Result string `json:"result"`
		Nonce  string `json:"nonce"`
	} `json:"link"`
	Postback *struct {
		Data string `json:"data"`
	} `json:"postback"`
}

// AcceptLine verifies and stores a LINE webhook. A request without events
// (LINE's "verify" button) is answered without storing anything.
func (s *Service) AcceptLine(ctx context.Context, signature string, body []byte) error {
	secret, err := s.secrets.Secret(ctx, SecretLineChannel)
	if err != nil {
		return err
	}
	if secret == "" {
		s.Reject(KindLine)
		return errs.Errorf(errs.Unauthorized, "the LINE channel secret is not configured (enishi settings set-secret %s …)", SecretLineChannel)
	}
	if !VerifyLineSignature(secret, body, signature) {
		s.Reject(KindLine)
		return errs.Errorf(errs.Unauthorized, "X-Line-Signature does not match the body")
	}
	var w lineWebhook
	if err := decodeObject(body, &w); err != nil {
		s.Reject(KindLine)
		return err
	}
	if len(w.Events) == 0 {
		return nil
	}
	_, err = s.enqueue(ctx, store.InboxItem{Kind: KindLine, Source: w.Destination, Body: body, Items: len(w.Events)})
	return err
}

// IssueLinkNonce starts LINE account linking for a known customer: the
// shop's login page sends the user to LINE with this nonce and the link
// token from the Messaging API, and the accountLink event that comes back
// links the user's LINE id to the customer.
func (s *Service) IssueLinkNonce(ctx context.Context, customerID int64) (string, time.Time, error) {
	nonce := auth.RandomToken(24)
	exp := s.clock.Now().Add(LinkNonceTTL)
	if err := s.st.CreateLinkNonce(ctx, nonce, customerID, exp); err != nil {
		return "", time.Time{}, err
	}
	return nonce, exp, nil
}

func (s *Service) lineProvider(ctx context.Context, destination string) (string, error) {
	v, ok, err := s.st.Setting(ctx, SettingLineProvider)
	if err != nil {
		return "", err
	}
	if ok && v != "" {
		return v, nil
	}
	return destination, nil
}

// processLine applies one LINE webhook request, event by event. Each step
// is idempotent: consents are recorded when they change the state,
// inquiries once per message id, other events once per webhook event id.
func (s *Service) processLine(ctx context.Context, it store.InboxItem) error {
	var w lineWebhook
	if err := json.Unmarshal(it.Body, &w); err != nil {
		return errs.Errorf(errs.Invalid, "payload: %v", err)
	}
	provider, err := s.lineProvider(ctx, w.Destination)
	if err != nil {
		return err
	}
	for _, e := range w.Events {
		if e.Source.UserID == "" {
			continue // group and room events without a user
		}
		if err := s.lineEvent(ctx, provider, &e, it.ReceivedAt); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) lineEvent(ctx context.Context, provider string, e *lineEvent, now time.Time) error {
	id := identity.Identifier{Kind: identity.Line, Source: provider, Value: e.Source.UserID}
	at := now
	if e.Timestamp > 0 {
		at = time.UnixMilli(e.Timestamp).UTC()
	}
	person := func(consents ...customer.Consent) (int64, error) {
		res, err := s.st.ImportCustomers(ctx, []customer.Record{{Identifiers: []identity.Identifier{id}, Consents: consents, SeenAt: at}})
		if err != nil {
			return 0, err
		}
		return res.CustomerIDs[0], nil
	}
	switch e.Type {
	case "follow", "unfollow":
		_, err := person(customer.Consent{Channel: customer.ChannelLine, Granted: e.Type == "follow", RecordedAt: at, Method: e.Type, Source: "line"})
		return err
	case "message":
		if e.Message == nil || e.Source.Type != "user" {
			return nil // only one-to-one chats are inquiries
		}
		cid, err := person()
		if err != nil {
			return err
		}
		body := e.Message.Text
		if e.Message.Type != "text" {
			body = "[" + e.Message.Type + "]"
		}
		_, _, err = s.st.AddExternalInquiry(ctx, customer.Inquiry{CustomerID: cid, Channel: "line", Subject: subjectOf(body), Body: body,
			CreatedAt: at}, e.Message.ID)
		return err
	case "accountLink":
		if e.Link == nil || e.Link.Result != "ok" {
			s.log.Info("line: account link failed on LINE's side", "result", e.Link)
			return nil
		}
		cid, err := s.st.UseLinkNonce(ctx, e.Link.Nonce, e.Source.UserID)
		if err != nil {
			return err
		}
		_, err = s.st.AttachIdentifier(ctx, cid, id, nil)
		return err
	}
	if e.WebhookEventID == "" {
		return nil
	}
	props, _ := json.Marshal(map[string]any{"line_event": e.Type, "postback": e.Postback})
	_, err := s.st.ImportEvents(ctx, []event.Event{{Type: "track", Name: "LINE " + e.Type, OccurredAt: at, Source: "line",
		MessageID: e.WebhookEventID, Properties: props, Actor: customer.Record{Identifiers: []identity.Identifier{id}}}})
	return err
}

// subjectOf is an inquiry's subject: the first line of the body, shortened.
func subjectOf(body string) string {
	s, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:40]) + "…"
	}
	return s
}

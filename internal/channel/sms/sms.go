// Package sms sends SMS through a provider: a Twilio-compatible Messages
// API client, and the Provider interface a Japanese SMS provider (空電プッシュ,
// メディア4u …) implements to plug in. Status callbacks are verified with
// X-Twilio-Signature (HMAC-SHA1 over the URL and the sorted parameters,
// compared in constant time).
package sms

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/message"
)

// Provider sends one SMS and returns the provider's message id. Errors
// wrap message.ErrPermanent when retrying cannot help.
type Provider interface {
	Name() string
	SendSMS(ctx context.Context, to, body string) (id string, err error)
}

// Sender adapts a Provider to message.Sender.
type Sender struct {
	Via Provider
}

// Channel implements message.Sender.
func (s *Sender) Channel() message.Channel { return message.SMS }

// Provider names the provider in send records.
func (s *Sender) Provider() string { return s.Via.Name() }

// Send implements message.Sender.
func (s *Sender) Send(ctx context.Context, r message.Rendered) (message.Result, error) {
	if !strings.HasPrefix(r.To, "+") {
		return message.Result{}, message.Permanent(fmt.Errorf("%q is not an E.164 phone number", r.To))
	}
	id, err := s.Via.SendSMS(ctx, r.To, r.Text)
	if err != nil {
		return message.Result{}, err
	}
	return message.Result{ProviderID: id, Status: "accepted"}, nil
}

// Twilio is a client of the Twilio (or a compatible) Messages API:
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP basic auth.
type Twilio struct {
	Base                string // https://api.twilio.com
	AccountSID          string
	AuthToken           string
	From                string // a sender number or alphanumeric sender id
	MessagingServiceSID string // instead of From
	StatusCallback      string // where Twilio posts delivery status
	HTTP                *http.Client
}

// Name implements Provider.
func (t *Twilio) Name() string { return "twilio" }

// twilioError is the API's error body.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func (e *twilioError) Error() string {
	return fmt.Sprintf("twilio %d (code %d): %s", e.Status, e.Code, e.Message)
}

// SendSMS implements Provider.
func (t *Twilio) SendSMS(ctx context.Context, to, body string) (string, error) {
	base := t.Base
	if base == "" {
		base = "https://api.twilio.com"
	}
	form := url.Values{"To": {to}, "Body": {body}}
	if t.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.MessagingServiceSID)
	} else {
		form.Set("From", t.From)
	}
	if t.StatusCallback != "" {
		form.Set("StatusCallback", t.StatusCallback)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimRight(base, "/")+"/2010-04-01/Accounts/"+url.PathEscape(t.AccountSID)+"/Messages.json", strings.NewReader(form.Encode()))
	if err != nil {
		return "", message.Permanent(err)
	}
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := t.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("twilio: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		te := &twilioError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, te)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized {
			return "", te
		}
		return "", message.Permanent(te)
	}
	var m struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.SID == "" {
		return "", fmt.Errorf("twilio: unexpected answer %q", data)
	}
	return m.SID, nil
}

// Signature computes X-Twilio-Signature for a request: base64 of
// HMAC-SHA1(authToken, fullURL + each POST parameter name and value,
// sorted by name).
func Signature(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned for a callback whose signature does not verify.
var ErrBadSignature = errors.New("X-Twilio-Signature does not match")

// Verify checks a callback's X-Twilio-Signature in constant time.
func Verify(authToken, fullURL string, params url.Values, signature string) error {
	if authToken == "" || signature == "" {
		return ErrBadSignature
	}
	want := Signature(authToken, fullURL, params)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

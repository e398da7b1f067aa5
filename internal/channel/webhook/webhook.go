// Package webhook posts messages to the shop's own system as signed JSON:
// X-Enishi-Signature is "t=UNIX,v1=HEX" where HEX is HMAC-SHA256 of
// "UNIX.BODY" under the shared secret; receivers verify it in constant
// time and refuse old timestamps (Verify does both).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/message"
)

// Sender posts messages to one URL.
type Sender struct {
	URL    string
	Secret string
	HTTP   *http.Client
	Now    func() time.Time
}

// Channel implements message.Sender.
func (s *Sender) Channel() message.Channel { return message.Webhook }

// Provider names the provider in send records.
func (s *Sender) Provider() string { return "webhook" }

// Sign returns the signature header value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned by Verify for a signature that does not match
// or is older than the tolerance.
var ErrBadSignature = errors.New("webhook signature does not verify")

// Verify checks a signature header against body, in constant time, and
// that it was made within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	want := Sign(secret, t, body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return ErrBadSignature
	}
	return nil
}

// Send implements message.Sender: POST r.Payload. 2xx is success; 408,
// 429 and 5xx are retried; other answers are permanent.
func (s *Sender) Send(ctx context.Context, r message.Rendered) (message.Result, error) {
	if s.URL == "" {
		return message.Result{}, message.Permanent(errors.New("no webhook URL is configured (settings webhook.url)"))
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(r.Payload))
	if err != nil {
		return message.Result{}, message.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "enishi-webhook/1")
	req.Header.Set("X-Enishi-Delivery", r.Key)
	req.Header.Set("X-Enishi-Signature", Sign(s.Secret, now(), r.Payload))
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return message.Result{}, fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return message.Result{Status: "delivered", ProviderID: resp.Header.Get("X-Request-Id")}, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return message.Result{}, fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return message.Result{}, message.Permanent(fmt.Errorf("webhook answered %d", resp.StatusCode))
}

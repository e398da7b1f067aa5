// Package line sends LINE messages through the Messaging API: push to one
// user, multicast to up to 500, narrowcast to an uploaded audience, with an
// X-Line-Retry-Key on every send so that a retry after a timeout or a 5xx
// is never delivered twice; it watches the monthly quota and uploads
// audiences for segment sends. Spec: fixtures/line/messaging-api.yml and
// manage-audience.yml.
package line

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/message"
)

// MaxMulticast is the most user ids one multicast call takes.
const MaxMulticast = 500

// MaxAudienceUpload is the most ids one audience upload call takes.
const MaxAudienceUpload = 10000

// Client calls the Messaging API.
type Client struct {
	Base  string // https://api.line.me
	Token string // channel access token
	HTTP  *http.Client

	mu        sync.Mutex
	quota     Quota
	quotaRead time.Time
	now       func() time.Time
}

// New returns a client; base defaults to https://api.line.me.
func New(base, token string, hc *http.Client) *Client {
	if base == "" {
		base = "https://api.line.me"
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: hc, now: time.Now}
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("LINE API %d: %s", e.Status, e.Message)
	for _, d := range e.Details {
		s += fmt.Sprintf("; %s: %s", d.Property, d.Message)
	}
	return s
}

// RetryKey derives the X-Line-Retry-Key (a UUID) from a send's key, so
// every attempt of one send carries the same retry key.
func RetryKey(key string) string {
	h := sha256.Sum256([]byte("enishi-line:" + key))
	h[6] = (h[6] & 0x0f) | 0x40 // version 4 layout
	h[8] = (h[8] & 0x3f) | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// do calls the API. A 409 on a request with a retry key means LINE already
// accepted it: success. 429 and 5xx are transient; other 4xx permanent.
func (c *Client) do(ctx context.Context, method, path string, body any, retryKey string, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return message.Permanent(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return message.Permanent(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if retryKey != "" {
		req.Header.Set("X-Line-Retry-Key", retryKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("LINE API: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusConflict && retryKey != "" {
		return nil // accepted by an earlier attempt with the same retry key
	}
	if resp.StatusCode >= 300 {
		ae := &APIError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, ae)
		if ae.Message == "" {
			ae.Message = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized {
			return ae
		}
		return message.Permanent(ae)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("LINE API answer: %w", err)
		}
	}
	return nil
}

// PushResult is the answer to a push.
type PushResult struct {
	SentMessages []struct {
		ID string `json:"id"`
	} `json:"sentMessages"`
}

// Push sends messages (1 to 5) to one user.
func (c *Client) Push(ctx context.Context, to string, messages json.RawMessage, retryKey string) (PushResult, error) {
	var res PushResult
	err := c.do(ctx, http.MethodPost, "/v2/bot/message/push", map[string]any{"to": to, "messages": messages}, retryKey, &res)
	if err == nil {
		c.consumed(1)
	}
	return res, err
}

// Multicast sends the same messages to many users, MaxMulticast per call;
// call i carries retry key i of the derived keys, so a repeated Multicast
// with the same retryKey sends nothing twice.
func (c *Client) Multicast(ctx context.Context, to []string, messages json.RawMessage, retryKey string) error {
	for i := 0; i < len(to); i += MaxMulticast {
		chunk := to[i:min(i+MaxMulticast, len(to))]
		if err := c.do(ctx, http.MethodPost, "/v2/bot/message/multicast", map[string]any{"to": chunk, "messages": messages},
			RetryKey(fmt.Sprintf("%s#%d", retryKey, i/MaxMulticast)), nil); err != nil {
			return fmt.Errorf("multicast to users %d–%d: %w", i+1, i+len(chunk), err)
		}
		c.consumed(len(chunk))
	}
	return nil
}

// Narrowcast sends messages to an audience.
func (c *Client) Narrowcast(ctx context.Context, audienceGroupID int64, messages json.RawMessage, retryKey string) error {
	body := map[string]any{"messages": messages, "recipient": map[string]any{"type": "audience", "audienceGroupId": audienceGroupID}}
	return c.do(ctx, http.MethodPost, "/v2/bot/message/narrowcast", body, retryKey, nil)
}

// Quota is the month's message quota and what was used.
type Quota struct {
	Type  string `json:"type"`  // none | limited
	Value int64  `json:"value"` // the month's target limit when limited
	Used  int64  `json:"used"`  // totalUsage
}

// Remaining is how many more messages may go this month (-1: no limit).
func (q Quota) Remaining() int64 {
	if q.Type != "limited" {
		return -1
	}
	return max(q.Value-q.Used, 0)
}

// Quota reads the quota and consumption (GET /v2/bot/message/quota and
// /quota/consumption).
func (c *Client) Quota(ctx context.Context) (Quota, error) {
	var q Quota
	if err := c.do(ctx, http.MethodGet, "/v2/bot/message/quota", nil, "", &q); err != nil {
		return q, err
	}
	var used struct {
		TotalUsage int64 `json:"totalUsage"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2/bot/message/quota/consumption", nil, "", &used); err != nil {
		return q, err
	}
	q.Used = used.TotalUsage
	c.mu.Lock()
	c.quota, c.quotaRead = q, c.now()
	c.mu.Unlock()
	return q, nil
}

func (c *Client) consumed(n int) {
	c.mu.Lock()
	c.quota.Used += int64(n)
	c.mu.Unlock()
}

// ErrQuota is returned when the month's quota would be exceeded.
var ErrQuota = errors.New("the LINE monthly message quota is used up")

// checkQuota refuses a send of n messages that would exceed the quota,
// reading the quota at most every five minutes.
func (c *Client) checkQuota(ctx context.Context, n int) error {
	c.mu.Lock()
	q, fresh := c.quota, c.now().Sub(c.quotaRead) < 5*time.Minute
	c.mu.Unlock()
	if !fresh {
		var err error
		if q, err = c.Quota(ctx); err != nil {
			return err
		}
	}
	if r := q.Remaining(); r >= 0 && r < int64(n) {
		return fmt.Errorf("%w (%d of %d used)", ErrQuota, q.Used, q.Value)
	}
	return nil
}

// CreateAudience uploads user ids as a new audience (for a segment send)
// and returns its id; ids beyond the first call's limit are added in
// further calls.
func (c *Client) CreateAudience(ctx context.Context, description string, userIDs []string) (int64, error) {
	if description == "" || len(description) > 120 {
		return 0, message.Permanent(errors.New("an audience needs a description of 1 to 120 characters"))
	}
	aud := func(ids []string) []map[string]string {
		out := make([]map[string]string, len(ids))
		for i, id := range ids {
			out[i] = map[string]string{"id": id}
		}
		return out
	}
	first := userIDs[:min(len(userIDs), MaxAudienceUpload)]
	var res struct {
		AudienceGroupID int64 `json:"audienceGroupId"`
	}
	if err := c.do(ctx, http.MethodPost, "/v2/bot/audienceGroup/upload", map[string]any{"description": description, "isIfaAudience": false,
		"audiences": aud(first)}, "", &res); err != nil {
		return 0, err
	}
	for i := len(first); i < len(userIDs); i += MaxAudienceUpload {
		chunk := userIDs[i:min(i+MaxAudienceUpload, len(userIDs))]
		if err := c.do(ctx, http.MethodPut, "/v2/bot/audienceGroup/upload", map[string]any{"audienceGroupId": res.AudienceGroupID,
			"audiences": aud(chunk)}, "", nil); err != nil {
			return res.AudienceGroupID, fmt.Errorf("add users %d–%d to audience %d: %w", i+1, i+len(chunk), res.AudienceGroupID, err)
		}
	}
	return res.AudienceGroupID, nil
}

// Sender sends LINE messages for the channel service.
type Sender struct {
	Client *Client
}

// Channel implements message.Sender.
func (s *Sender) Channel() message.Channel { return message.LINE }

// Provider names the provider in send records.
func (s *Sender) Provider() string { return "line" }

// Send pushes r.Payload (a JSON array of message objects) to r.To, with a
// retry key derived from r.Key.
func (s *Sender) Send(ctx context.Context, r message.Rendered) (message.Result, error) {
	if len(r.Payload) == 0 {
		return message.Result{}, message.Permanent(errors.New("no LINE messages to send"))
	}
	if err := s.Client.checkQuota(ctx, 1); err != nil {
		return message.Result{}, err
	}
	res, err := s.Client.Push(ctx, r.To, r.Payload, RetryKey(r.Key))
	if err != nil {
		return message.Result{}, err
	}
	id := ""
	if len(res.SentMessages) > 0 {
		id = res.SentMessages[0].ID
	}
	return message.Result{ProviderID: id, Status: "sent"}, nil
}

// SendGroup multicasts identical content to many users (channel.GroupSender).
func (s *Sender) SendGroup(ctx context.Context, to []string, r message.Rendered, retryKey string) error {
	if err := s.Client.checkQuota(ctx, len(to)); err != nil {
		return err
	}
	return s.Client.Multicast(ctx, to, r.Payload, retryKey)
}

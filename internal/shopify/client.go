// Package shopify is a small client of a shop's Admin REST API: paged
// lists (Link-header pagination) for backfills, and the write-backs enishi
// makes (customer tags for segments, discount codes for coupons). It
// handles Shopify's rate limits: 429 answers are retried after their
// Retry-After, and requests slow down as the leaky bucket reported in
// X-Shopify-Shop-Api-Call-Limit fills.
package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

// DefaultVersion is the Admin API version enishi speaks.
const DefaultVersion = "2024-10"

// Client calls one shop's Admin API.
type Client struct {
	Shop    string // the shop's domain, example.myshopify.com
	Token   string // an Admin API access token (X-Shopify-Access-Token)
	Version string // default DefaultVersion
	// BaseURL replaces https://{Shop}/admin/api/{Version} (tests, proxies).
	BaseURL string
	HTTP    *http.Client
	// Sleep waits between retries; tests replace it to record the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxRetries bounds retries of one request after 429 or 5xx (default 8).
	MaxRetries int
}

func (c *Client) base() string {
	if c.BaseURL != "" {
		return strings.TrimSuffix(c.BaseURL, "/")
	}
	v := c.Version
	if v == "" {
		v = DefaultVersion
	}
	return "https://" + c.Shop + "/admin/api/" + v
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Error is an answer other than 2xx.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return fmt.Sprintf("shopify: HTTP %d: %s", e.Status, e.Body) }

// do sends a request (path relative to the API base, or a full URL from a
// Link header) and returns the answer's headers and body.
func (c *Client) do(ctx context.Context, method, path string, in any) (http.Header, []byte, error) {
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.base() + "/" + strings.TrimPrefix(path, "/")
	}
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return nil, nil, err
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	retries := c.MaxRetries
	if retries <= 0 {
		retries = 8
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("X-Shopify-Access-Token", c.Token)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil || attempt >= retries {
				return nil, nil, fmt.Errorf("shopify %s %s: %w", method, redact(u), err)
			}
			if err := c.sleep(ctx, backoff(attempt)); err != nil {
				return nil, nil, err
			}
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests && attempt < retries:
			if err := c.sleep(ctx, retryAfter(resp.Header.Get("Retry-After"))); err != nil {
				return nil, nil, err
			}
			continue
		case resp.StatusCode >= 500 && attempt < retries:
			if err := c.sleep(ctx, backoff(attempt)); err != nil {
				return nil, nil, err
			}
			continue
		case resp.StatusCode/100 != 2:
			e := &Error{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				return nil, nil, &errs.Error{Code: errs.Unauthorized, Message: "Shopify refused the access token (check the token and the app's scopes)", Err: e}
			}
			if resp.StatusCode == http.StatusNotFound {
				return nil, nil, &errs.Error{Code: errs.NotFound, Message: "Shopify has no " + redact(u), Err: e}
			}
			return nil, nil, e
		}
		if err := c.pace(ctx, resp.Header.Get("X-Shopify-Shop-Api-Call-Limit")); err != nil {
			return nil, nil, err
		}
		return resp.Header, body, nil
	}
}

// pace slows down as the leaky bucket fills: Shopify's REST bucket holds
// 40 calls (80 on Plus) and leaks 2 a second (4 on Plus). Above 80% full,
// wait until it is half empty.
func (c *Client) pace(ctx context.Context, header string) error {
	used, size, ok := strings.Cut(header, "/")
	if !ok {
		return nil
	}
	u, err1 := strconv.Atoi(strings.TrimSpace(used))
	n, err2 := strconv.Atoi(strings.TrimSpace(size))
	if err1 != nil || err2 != nil || n <= 0 || u*5 < n*4 {
		return nil
	}
	leak := 2.0
	if n >= 80 {
		leak = 4
	}
	wait := time.Duration(float64(u-n/2) / leak * float64(time.Second))
	return c.sleep(ctx, wait)
}

func retryAfter(h string) time.Duration {
	if f, err := strconv.ParseFloat(strings.TrimSpace(h), 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second))
	}
	return 2 * time.Second
}

func backoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 5)
	return d
}

// redact drops the query (page_info cursors are long and say nothing).
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

var linkNext = regexp.MustCompile(`<([^>]+)>;\s*rel="?next"?`)

// NextLink returns the rel="next" URL of a Link header, or "".
func NextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		if m := linkNext.FindStringSubmatch(part); m != nil {
			return m[1]
		}
	}
	return ""
}

// List pages through a list endpoint (orders, customers, products …),
// calling fn with each page's items as raw JSON (numbers kept exact), until
// the last page or fn's error.
func (c *Client) List(ctx context.Context, resource string, params url.Values, fn func(items []json.RawMessage) error) error {
	next := resource + ".json"
	if len(params) > 0 {
		next += "?" + params.Encode()
	}
	for next != "" {
		hdr, body, err := c.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return err
		}
		var page map[string][]json.RawMessage
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("shopify %s: %w", resource, err)
		}
		if err := fn(page[resource]); err != nil {
			return err
		}
		next = NextLink(hdr.Get("Link"))
	}
	return nil
}

// customerTags reads a customer's tags.
func (c *Client) customerTags(ctx context.Context, id string) ([]string, error) {
	_, body, err := c.do(ctx, http.MethodGet, "customers/"+url.PathEscape(id)+".json", nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Customer struct {
			Tags string `json:"tags"`
		} `json:"customer"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return SplitTags(out.Customer.Tags), nil
}

// SplitTags splits Shopify's comma-separated tags.
func SplitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// SetCustomerTags adds and removes tags on a Shopify customer (read,
// change, write back), leaving its other tags alone. Tags are compared
// case-insensitively, as Shopify does.
func (c *Client) SetCustomerTags(ctx context.Context, customerID string, add, remove []string) ([]string, error) {
	cur, err := c.customerTags(ctx, customerID)
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, t := range remove {
		drop[strings.ToLower(strings.TrimSpace(t))] = true
	}
	have := map[string]bool{}
	var next []string
	for _, t := range cur {
		if !drop[strings.ToLower(t)] {
			next = append(next, t)
			have[strings.ToLower(t)] = true
		}
	}
	for _, t := range add {
		t = strings.TrimSpace(t)
		if t != "" && !have[strings.ToLower(t)] {
			next = append(next, t)
			have[strings.ToLower(t)] = true
		}
	}
	in := map[string]any{"customer": map[string]any{"id": json.Number(customerID), "tags": strings.Join(next, ", ")}}
	if _, _, err := c.do(ctx, http.MethodPut, "customers/"+url.PathEscape(customerID)+".json", in); err != nil {
		return nil, err
	}
	return next, nil
}

// PriceRule is the discount a set of codes gives (Shopify price rules).
type PriceRule struct {
	ID                json.Number `json:"id,omitempty"`
	Title             string      `json:"title"`
	ValueType         string      `json:"value_type"`         // percentage | fixed_amount
	Value             string      `json:"value"`              // negative: "-10.0"
	CustomerSelection string      `json:"customer_selection"` // all
	TargetType        string      `json:"target_type"`        // line_item | shipping_line
	TargetSelection   string      `json:"target_selection"`   // all
	AllocationMethod  string      `json:"allocation_method"`  // across | each
	OncePerCustomer   bool        `json:"once_per_customer"`
	UsageLimit        *int        `json:"usage_limit,omitempty"`
	StartsAt          time.Time   `json:"starts_at"`
	EndsAt            *time.Time  `json:"ends_at,omitempty"`
}

// CreatePriceRule creates a price rule and returns it with its id.
func (c *Client) CreatePriceRule(ctx context.Context, r PriceRule) (PriceRule, error) {
	_, body, err := c.do(ctx, http.MethodPost, "price_rules.json", map[string]any{"price_rule": r})
	if err != nil {
		return PriceRule{}, err
	}
	var out struct {
		PriceRule PriceRule `json:"price_rule"`
	}
	err = decode(body, &out)
	return out.PriceRule, err
}

// DiscountCode is a code customers type at checkout.
type DiscountCode struct {
	ID          json.Number `json:"id"`
	PriceRuleID json.Number `json:"price_rule_id"`
	Code        string      `json:"code"`
	UsageCount  int         `json:"usage_count"`
}

// CreateDiscountCode adds a code to a price rule.
func (c *Client) CreateDiscountCode(ctx context.Context, priceRuleID, code string) (DiscountCode, error) {
	_, body, err := c.do(ctx, http.MethodPost, "price_rules/"+url.PathEscape(priceRuleID)+"/discount_codes.json",
		map[string]any{"discount_code": map[string]string{"code": code}})
	if err != nil {
		return DiscountCode{}, err
	}
	var out struct {
		DiscountCode DiscountCode `json:"discount_code"`
	}
	err = decode(body, &out)
	return out.DiscountCode, err
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v)
}

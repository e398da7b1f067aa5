// Package shopify talks to a shop's Shopify Admin REST API. This file
// writes coupon codes as discount codes of a price rule; it implements
// loyalty.DiscountCodeWriter. (The order and customer client of the ingest
// capability can take this over: anything with CreateDiscountCode plugs in.)
package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/loyalty"
)

// DefaultAPIVersion is the Admin API version the requests name.
const DefaultAPIVersion = "2024-01"

// DiscountCodes creates discount codes through the Admin REST API:
// POST /admin/api/{version}/price_rules/{price_rule_id}/discount_codes.json.
type DiscountCodes struct {
	// ShopURL is the shop's address, https://{shop}.myshopify.com.
	ShopURL string
	// Token is an Admin API access token with write_discounts (sent as
	// X-Shopify-Access-Token; never logged).
	Token      string
	APIVersion string       // DefaultAPIVersion when empty
	HTTP       *http.Client // a client with a 30-second timeout when nil
	// MaxRetries bounds waits on 429 (rate limited) answers; default 5.
	MaxRetries int
}

var _ loyalty.DiscountCodeWriter = (*DiscountCodes)(nil)

// NewDiscountCodes checks the shop URL and returns a writer.
func NewDiscountCodes(shopURL, token string) (*DiscountCodes, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(shopURL), "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("shopify: %q is not a shop URL such as https://example.myshopify.com", shopURL)
	}
	if strings.TrimSpace(token) == "" {
		return nil, fmt.Errorf("shopify: an Admin API access token is required")
	}
	return &DiscountCodes{ShopURL: u.String(), Token: token}, nil
}

type discountCode struct {
	DiscountCode struct {
		ID          int64  `json:"id,omitempty"`
		PriceRuleID int64  `json:"price_rule_id,omitempty"`
		Code        string `json:"code"`
	} `json:"discount_code"`
}

// CreateDiscountCode creates code under the price rule and returns its id.
// A code Shopify already holds returns loyalty.ErrCodeExists.
func (d *DiscountCodes) CreateDiscountCode(ctx context.Context, priceRuleID, code string) (string, error) {
	var body discountCode
	body.DiscountCode.Code = code
	raw, _ := json.Marshal(body)
	version := d.APIVersion
	if version == "" {
		version = DefaultAPIVersion
	}
	endpoint := d.ShopURL + "/admin/api/" + version + "/price_rules/" + url.PathEscape(priceRuleID) + "/discount_codes.json"
	client := d.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	retries := d.MaxRetries
	if retries <= 0 {
		retries = 5
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(raw))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Shopify-Access-Token", d.Token)
		resp, err := client.Do(req)
		if err != nil {
			return "", fmt.Errorf("shopify: %w", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
			var out discountCode
			if err := json.Unmarshal(b, &out); err != nil || out.DiscountCode.ID == 0 {
				return "", fmt.Errorf("shopify: unexpected answer to discount code %s: %.200s", code, b)
			}
			return strconv.FormatInt(out.DiscountCode.ID, 10), nil
		case resp.StatusCode == http.StatusUnprocessableEntity && strings.Contains(string(b), "unique"):
			return "", loyalty.ErrCodeExists
		case resp.StatusCode == http.StatusTooManyRequests && attempt < retries:
			wait := time.Second
			if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil && s >= 0 {
				wait = time.Duration(s * float64(time.Second))
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(wait):
			}
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return "", fmt.Errorf("shopify: %s: check the access token and its write_discounts scope", resp.Status)
		case resp.StatusCode == http.StatusNotFound:
			return "", fmt.Errorf("shopify: price rule %s not found", priceRuleID)
		default:
			return "", fmt.Errorf("shopify: %s: %.200s", resp.Status, b)
		}
	}
}

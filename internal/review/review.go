// Package review holds product reviews (レビュー) written by customers: how
// they are read from review apps' exports and webhooks, and the link a
// review request (レビュー依頼) sends the customer to.
package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
)

// Review is one product review.
type Review struct {
	ID           int64     `json:"id"`
	Source       string    `json:"source"`      // the review app or shop system
	ExternalID   string    `json:"external_id"` // the review's id there
	CustomerID   int64     `json:"customer_id,omitempty"`
	SKU          string    `json:"sku"`
	ProductName  string    `json:"product_name"`
	Rating       int       `json:"rating"` // 1–5
	Title        string    `json:"title"`
	Body         string    `json:"body"`
	ReviewerName string    `json:"reviewer_name"` // as shown on the review (ニックネーム)
	ReviewedAt   time.Time `json:"reviewed_at"`

	// Reviewer identifies the customer who wrote it (identity resolution);
	// a review without identifiers is kept for the product only.
	Reviewer customer.Record `json:"-"`
}

// Limits on a review's text.
const (
	MaxTitle = 200
	MaxBody  = 10000
)

// Validate checks a review's fields.
func (r *Review) Validate() error {
	switch {
	case strings.TrimSpace(r.ExternalID) == "":
		return errs.FieldErrorf("review_id", "required")
	case r.SKU == "" && r.ProductName == "":
		return errs.FieldErrorf("sku", "a review needs the product's sku or product_name")
	case r.Rating < 1 || r.Rating > 5:
		return errs.FieldErrorf("rating", "%d is not a rating from 1 to 5", r.Rating)
	case r.ReviewedAt.IsZero():
		return errs.FieldErrorf("reviewed_at", "required")
	case utf8.RuneCountInString(r.Title) > MaxTitle:
		return errs.FieldErrorf("title", "at most %d characters", MaxTitle)
	case utf8.RuneCountInString(r.Body) > MaxBody:
		return errs.FieldErrorf("body", "at most %d characters", MaxBody)
	}
	return nil
}

// Hash fingerprints what is stored of a review, so importing it again is
// recognised as no change.
func (r *Review) Hash() int64 {
	h := fnv.New64a()
	for _, s := range []string{r.SKU, r.ProductName, strconv.Itoa(r.Rating), r.Title, r.Body, r.ReviewerName, r.ReviewedAt.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64() >> 1)
}

// ParseRating reads a rating as review apps export it: "4", "4.0", "★★★★☆",
// "星4", "4/5".
func ParseRating(s string) (int, error) {
	t := strings.TrimSpace(jtext.NFKC(s))
	if n := strings.Count(t, "★"); n > 0 && strings.Trim(t, "★☆") == "" {
		return n, nil
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "星"), "評価")
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/5"), "点")
	if i := strings.IndexByte(t, '.'); i >= 0 && strings.Trim(t[i+1:], "0") == "" {
		t = t[:i]
	}
	n, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil || n < 1 || n > 5 {
		return 0, errs.Errorf(errs.Invalid, "%q is not a rating from 1 to 5", s)
	}
	return n, nil
}

// WebhookTypes are the review event types of the generic webhook.
var WebhookTypes = []string{"review.created", "review.updated"}

// WebhookData is the data of a review event.
type WebhookData struct {
	ReviewID     string        `json:"review_id"`
	SKU          string        `json:"sku"`
	ProductName  string        `json:"product_name"`
	Rating       int           `json:"rating"`
	Title        string        `json:"title"`
	Body         string        `json:"body"`
	ReviewerName string        `json:"reviewer_name"`
	ReviewedAt   time.Time     `json:"reviewed_at"`
	Customer     *customer.Ref `json:"customer"`
}

// ParseWebhook reads a review.created or review.updated event.
func ParseWebhook(source, typ string, data []byte) (*Review, error) {
	if typ != "review.created" && typ != "review.updated" {
		return nil, errs.FieldErrorf("type", "%q is not a review event (review.created, review.updated)", typ)
	}
	var d WebhookData
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var typErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typErr):
			return nil, errs.FieldErrorf("data."+typErr.Field, "must be %s", typErr.Type.String())
		case errors.Is(err, io.EOF):
			return nil, errs.FieldErrorf("data", "required: an object")
		}
		return nil, errs.FieldErrorf("data", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	r := &Review{Source: source, ExternalID: strings.TrimSpace(d.ReviewID), SKU: jtext.NFKC(strings.TrimSpace(d.SKU)), ProductName: jtext.Clean(d.ProductName),
		Rating: d.Rating, Title: strings.TrimSpace(d.Title), Body: strings.TrimSpace(d.Body), ReviewerName: jtext.Clean(d.ReviewerName), ReviewedAt: d.ReviewedAt.UTC()}
	if d.Customer != nil {
		rec, err := d.Customer.Record(source, "data.customer")
		if err != nil {
			return nil, err
		}
		r.Reviewer = rec
	}
	if err := r.Validate(); err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Field != "" {
			e.Field = "data." + e.Field
		}
		return nil, err
	}
	return r, nil
}

// SettingRequestURL is the settings key of the review page address a
// review request links to: a URL template with {sku} and {order_id}, e.g.
// https://shop.example.jp/products/{sku}/reviews/new?order={order_id}.
const SettingRequestURL = "reviews.request_url"

// RequestURL fills a review page template for a product and order, each
// value escaped for its place in the URL.
func RequestURL(tmpl, sku, orderID string) (string, error) {
	if tmpl == "" {
		return "", errs.Errorf(errs.Invalid, "no review page is set (setting %s, e.g. https://shop.example.jp/products/{sku}/reviews/new)", SettingRequestURL)
	}
	out := strings.NewReplacer("{sku}", url.PathEscape(sku), "{order_id}", url.QueryEscape(orderID)).Replace(tmpl)
	u, err := url.Parse(out)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errs.Errorf(errs.Invalid, "the review page %q is not an http(s) URL", tmpl)
	}
	return out, nil
}

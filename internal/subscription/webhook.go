package subscription

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/jtext"
)

// WebhookTypes are the subscription event types of the generic webhook
// (POST /webhooks/generic/{source}, family "subscription"); docs/
// subscriptions.md documents their data.
var WebhookTypes = map[string]ChangeKind{
	"subscription.created":   Created,
	"subscription.updated":   Updated,
	"subscription.skipped":   SkippedOne,
	"subscription.paused":    PausedKind,
	"subscription.resumed":   Resumed,
	"subscription.cancelled": CancelledK,
	"subscription.delivered": Delivered,
}

// WebhookDelivery is the delivery a subscription.delivered event reports.
type WebhookDelivery struct {
	Number      int       `json:"number"`
	OrderID     string    `json:"order_id"` // the order's id in the source, linking the delivery to it
	DeliveredAt time.Time `json:"delivered_at"`
	Amount      *int64    `json:"amount"`
}

// WebhookData is the data of a subscription event. Only subscription_id is
// always required; a contract enishi does not know yet also needs the
// customer, a sku or product_name, cycle, price and started_at. Fields left
// out keep their stored values.
type WebhookData struct {
	SubscriptionID string        `json:"subscription_id"`
	Customer       *customer.Ref `json:"customer"`
	SKU            *string       `json:"sku"`
	ProductName    *string       `json:"product_name"`
	Plan           *string       `json:"plan"`
	// Cycle is "1 month", "30 days", "隔月" … or {"unit":"month","count":1}.
	Cycle          json.RawMessage  `json:"cycle"`
	Quantity       *int64           `json:"quantity"`
	Price          *int64           `json:"price"`
	Status         *string          `json:"status"`
	StartedAt      *time.Time       `json:"started_at"`
	NextDeliveryAt *time.Time       `json:"next_delivery_at"`
	Deliveries     *int             `json:"deliveries"`
	Skips          *int             `json:"skips"`
	CancelledAt    *time.Time       `json:"cancelled_at"`
	CancelReason   *string          `json:"cancel_reason"`
	Delivery       *WebhookDelivery `json:"delivery"`
}

// ParseWebhook reads a subscription event of the generic webhook into an
// Update. source is the webhook's source; eventID its delivery id (the same
// on every retry); at its created_at.
func ParseWebhook(source, eventID, typ string, at time.Time, data []byte) (*Update, error) {
	kind, ok := WebhookTypes[typ]
	if !ok {
		return nil, errs.FieldErrorf("type", "%q is not a subscription event (subscription.created, updated, skipped, paused, resumed, cancelled, delivered)", typ)
	}
	var d WebhookData
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, jsonError("data", err)
	}
	u := &Update{Source: source, ExternalID: strings.TrimSpace(d.SubscriptionID), Kind: kind, At: at, EventID: eventID,
		SKU: d.SKU, ProductName: d.ProductName, Plan: d.Plan, Quantity: d.Quantity, Price: d.Price,
		StartedAt: d.StartedAt, NextDeliveryAt: d.NextDeliveryAt, Deliveries: d.Deliveries, Skips: d.Skips,
		CancelledAt: d.CancelledAt, CancelReason: d.CancelReason}
	if u.ExternalID == "" {
		return nil, errs.FieldErrorf("data.subscription_id", "required")
	}
	if d.SKU != nil {
		s := jtext.NFKC(*d.SKU)
		u.SKU = &s
	}
	if len(d.Cycle) > 0 && string(d.Cycle) != "null" {
		c, err := parseCycleJSON(d.Cycle)
		if err != nil {
			return nil, err
		}
		u.Cycle = &c
	}
	if d.Status != nil {
		st, err := ParseStatus(*d.Status)
		if err != nil {
			return nil, &errs.Error{Code: errs.Invalid, Field: "data.status", Message: errs.Message(err)}
		}
		u.Status = &st
	}
	for _, n := range []struct {
		f string
		v *int
	}{{"data.deliveries", d.Deliveries}, {"data.skips", d.Skips}} {
		if n.v != nil && (*n.v < 0 || *n.v > 10000) {
			return nil, errs.FieldErrorf(n.f, "must be from 0 to 10000")
		}
	}
	if d.Price != nil && *d.Price < 0 {
		return nil, errs.FieldErrorf("data.price", "must not be negative")
	}
	if d.Quantity != nil && *d.Quantity < 1 {
		return nil, errs.FieldErrorf("data.quantity", "must be at least 1")
	}
	if d.Customer != nil {
		rec, err := d.Customer.Record(source, "data.customer")
		if err != nil {
			return nil, err
		}
		u.Buyer = rec
	}
	if kind == Delivered {
		if d.Delivery == nil {
			return nil, errs.FieldErrorf("data.delivery", "a subscription.delivered event needs the delivery (number, delivered_at, order_id)")
		}
		if d.Delivery.Number < 1 || d.Delivery.Number > 10000 {
			return nil, errs.FieldErrorf("data.delivery.number", "must be from 1 to 10000")
		}
		if d.Delivery.DeliveredAt.IsZero() {
			return nil, errs.FieldErrorf("data.delivery.delivered_at", "required")
		}
		del := &Delivery{Number: d.Delivery.Number, DeliveredAt: d.Delivery.DeliveredAt.UTC(), OrderRef: strings.TrimSpace(d.Delivery.OrderID)}
		if d.Delivery.Amount != nil {
			del.Amount = *d.Delivery.Amount
		} else {
			del.Amount = -1 // the contract's price, or the linked order's total
		}
		u.Delivery = del
	}
	return u, nil
}

func parseCycleJSON(raw json.RawMessage) (Cycle, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		c, err := ParseCycle(s)
		if err != nil {
			return c, &errs.Error{Code: errs.Invalid, Field: "data.cycle", Message: errs.Message(err)}
		}
		return c, nil
	}
	var c Cycle
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, errs.FieldErrorf("data.cycle", `must be a text such as "1 month" or {"unit":"month","count":1}`)
	}
	if c.Unit == "week" {
		c = Cycle{Days, 7 * c.Count}
	}
	if !c.Valid() {
		return c, errs.FieldErrorf("data.cycle", "unit is day or month, count 1–730 days or 1–24 months")
	}
	return c, nil
}

func jsonError(field string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errs.Errorf(errs.Invalid, "%s: malformed JSON at byte %d", field, syn.Offset)
	case errors.As(err, &typ):
		return errs.FieldErrorf(field+"."+typ.Field, "must be %s", typ.Type.String())
	case errors.Is(err, io.EOF):
		return errs.FieldErrorf(field, "required: an object")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return errs.FieldErrorf(field, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return errs.FieldErrorf(field, "malformed: %v", err)
}

// ShopifyContract is the body of Shopify's subscription_contracts/create
// and subscription_contracts/update webhooks (the fields enishi reads).
type ShopifyContract struct {
	ID             int64  `json:"id"`
	CustomerID     int64  `json:"customer_id"`
	Status         string `json:"status"` // active, paused, cancelled, expired, failed
	OriginOrderID  int64  `json:"origin_order_id"`
	DeliveryPolicy struct {
		Interval      string `json:"interval"` // day, week, month, year
		IntervalCount int    `json:"interval_count"`
	} `json:"delivery_policy"`
	BillingPolicy struct {
		Interval      string `json:"interval"`
		IntervalCount int    `json:"interval_count"`
	} `json:"billing_policy"`
	CurrencyCode string `json:"currency_code"`
}

// ShopifyTopics are the Shopify webhook topics ParseShopify reads.
var ShopifyTopics = []string{"subscription_contracts/create", "subscription_contracts/update"}

// ParseShopify reads a Shopify subscription contract webhook into an
// Update for the contract (source "shopify", the contract id as its
// number, the Shopify customer as the subscriber). Shopify's payload
// carries no product or price: the store takes them from the origin order
// (Update.OriginOrder, its first delivery) when it knows it.
func ParseShopify(topic, webhookID string, at time.Time, body []byte) (*Update, error) {
	var c ShopifyContract
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, jsonError("body", err)
	}
	if c.ID == 0 {
		return nil, errs.FieldErrorf("id", "required")
	}
	u := &Update{Source: "shopify", ExternalID: strconv.FormatInt(c.ID, 10), At: at, EventID: webhookID, Kind: Updated}
	if topic == "subscription_contracts/create" {
		u.Kind = Created
		started := at
		u.StartedAt = &started
	} else if topic != "subscription_contracts/update" {
		return nil, errs.Errorf(errs.Invalid, "unhandled Shopify topic %q", topic)
	}
	if c.CustomerID != 0 {
		u.Buyer.Identifiers = []identity.Identifier{identity.ExternalID("shopify", strconv.FormatInt(c.CustomerID, 10))}
	}
	pol := c.DeliveryPolicy
	if pol.Interval == "" {
		pol = c.BillingPolicy
	}
	if pol.Interval != "" {
		n := max(pol.IntervalCount, 1)
		var cy Cycle
		switch strings.ToLower(pol.Interval) {
		case "day":
			cy = Cycle{Days, n}
		case "week":
			cy = Cycle{Days, 7 * n}
		case "month":
			cy = Cycle{Months, n}
		case "year":
			cy = Cycle{Months, 12 * n}
		default:
			return nil, errs.FieldErrorf("delivery_policy.interval", "%q is not day, week, month or year", pol.Interval)
		}
		if !cy.Valid() {
			return nil, errs.FieldErrorf("delivery_policy.interval_count", "out of range")
		}
		u.Cycle = &cy
	}
	var st Status
	switch strings.ToLower(c.Status) {
	case "active":
		st = Active
	case "paused":
		st = Paused
	case "cancelled", "expired", "failed":
		st = Cancelled
		if u.Kind == Updated {
			u.Kind = CancelledK
		}
	case "":
	default:
		return nil, errs.FieldErrorf("status", "%q is not a Shopify contract status", c.Status)
	}
	if st != "" {
		u.Status = &st
	}
	if c.OriginOrderID != 0 {
		u.OriginOrder = strconv.FormatInt(c.OriginOrderID, 10)
	}
	return u, nil
}

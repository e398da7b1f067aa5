// Package voiceingest turns incoming subscription and review events — the
// generic webhook's subscription.* and review.* types and Shopify's
// subscription contract webhooks — into store writes. The ingest service
// registers Validate (before answering the request) and Process (in its
// inbox worker) from here; POST /api/v1/subscriptions/events and
// POST /api/v1/reviews/events call the same functions directly.
package voiceingest

import (
	"context"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// Sink is the part of the store the events are written to.
type Sink interface {
	ImportSubscriptions(ctx context.Context, ups []subscription.Update) (store.BatchResult, error)
	ImportReviews(ctx context.Context, rs []review.Review) (store.BatchResult, error)
}

// Families are the generic webhook type families handled here.
var Families = []string{"subscription", "review"}

// Validate checks a generic webhook event of the subscription or review
// family without writing anything.
func Validate(source, id, typ string, at time.Time, data []byte) error {
	if at.IsZero() {
		at = time.Unix(0, 0) // the inbox fills in the time of receipt
	}
	_, _, err := parse(source, id, typ, at, data)
	return err
}

// Process applies a generic webhook event. It is idempotent: a
// subscription event is applied once per (source, id), a review is
// upserted by its id.
func Process(ctx context.Context, st Sink, source, id, typ string, at time.Time, data []byte) (store.BatchResult, error) {
	u, r, err := parse(source, id, typ, at, data)
	if err != nil {
		return store.BatchResult{}, err
	}
	if u != nil {
		return st.ImportSubscriptions(ctx, []subscription.Update{*u})
	}
	return st.ImportReviews(ctx, []review.Review{*r})
}

func parse(source, id, typ string, at time.Time, data []byte) (*subscription.Update, *review.Review, error) {
	if strings.TrimSpace(id) == "" {
		return nil, nil, errs.FieldErrorf("id", "required: the event's id, the same on every retry")
	}
	if at.IsZero() {
		return nil, nil, errs.FieldErrorf("created_at", "required")
	}
	family, _, _ := strings.Cut(typ, ".")
	switch family {
	case "subscription":
		u, err := subscription.ParseWebhook(source, id, typ, at, data)
		return u, nil, err
	case "review":
		r, err := review.ParseWebhook(source, typ, data)
		return nil, r, err
	}
	return nil, nil, errs.FieldErrorf("type", "%q is not a subscription.* or review.* event", typ)
}

// ShopifyOrders finds the name (#1001) Shopify orders are filed under
// from their numeric id; the store is one.
type ShopifyOrders interface {
	ShopifyOrder(ctx context.Context, shop, orderID string) (name, customerID string, ok bool, err error)
}

// ProcessShopify applies a Shopify subscription_contracts/create or
// subscription_contracts/update webhook of shop (X-Shopify-Topic,
// X-Shopify-Webhook-Id, the time it was received, the body). The
// contract's origin order, named by its numeric id, is found by the name
// enishi filed it under, so that its product and price fill the contract.
func ProcessShopify(ctx context.Context, st Sink, orders ShopifyOrders, shop, topic, webhookID string, at time.Time, body []byte) (store.BatchResult, error) {
	u, err := subscription.ParseShopify(topic, webhookID, at, body)
	if err != nil {
		return store.BatchResult{}, err
	}
	if u.OriginOrder != "" && orders != nil {
		name, _, ok, err := orders.ShopifyOrder(ctx, shop, u.OriginOrder)
		if err != nil {
			return store.BatchResult{}, err
		}
		if ok {
			u.OriginOrder = name
		}
	}
	return st.ImportSubscriptions(ctx, []subscription.Update{*u})
}

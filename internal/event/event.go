// Package event holds behaviour events: what a person did on the shop's site
// or app (page and product views, cart changes, favorites, searches) and any
// custom event a shop sends.
package event

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
)

// Standard event names (the Segment e-commerce spec's names).
const (
	PageViewed      = "Page Viewed"
	ProductViewed   = "Product Viewed"
	ProductAdded    = "Product Added"
	ProductRemoved  = "Product Removed"
	CartViewed      = "Cart Viewed"
	CheckoutStarted = "Checkout Started"
	OrderCompleted  = "Order Completed"
	ProductFavorite = "Product Added to Wishlist"
	ProductsSearch  = "Products Searched"
)

// aliases maps short snake_case names used in CSV files to standard names.
var aliases = map[string]string{
	"page": PageViewed, "page_view": PageViewed, "page_viewed": PageViewed,
	"product_view": ProductViewed, "product_viewed": ProductViewed, "view": ProductViewed,
	"add_to_cart": ProductAdded, "product_added": ProductAdded, "cart_add": ProductAdded,
	"remove_from_cart": ProductRemoved, "product_removed": ProductRemoved, "cart_remove": ProductRemoved,
	"cart_viewed": CartViewed, "cart_view": CartViewed,
	"checkout_started": CheckoutStarted, "checkout": CheckoutStarted,
	"order_completed": OrderCompleted,
	"favorite":        ProductFavorite, "wishlist": ProductFavorite, "product_favorited": ProductFavorite,
	"search": ProductsSearch, "products_searched": ProductsSearch,
}

// NormalizeName maps a CSV-style short name (add_to_cart) to its standard
// name; other names are kept as given.
func NormalizeName(s string) string {
	s = strings.TrimSpace(s)
	if std, ok := aliases[strings.ToLower(s)]; ok {
		return std
	}
	return s
}

// Event is one thing a person did.
type Event struct {
	ID          int64           `json:"id"`
	CustomerID  int64           `json:"customer_id,omitempty"`
	AnonymousID string          `json:"anonymous_id,omitempty"`
	Type        string          `json:"type"` // track | page | identify
	Name        string          `json:"name"`
	OccurredAt  time.Time       `json:"occurred_at"`
	ReceivedAt  time.Time       `json:"received_at"`
	Source      string          `json:"source"`
	MessageID   string          `json:"message_id"` // unique per source; retries with the same id are ignored
	SKU         string          `json:"sku,omitempty"`
	Properties  json.RawMessage `json:"properties,omitempty"`

	// Actor identifies the person, for identity resolution.
	Actor customer.Record `json:"-"`
}

package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store"
)

// Shopify's mandatory compliance webhook topics handled here. The webhook
// receiver verifies X-Shopify-Hmac-Sha256 (in constant time) and then calls
// HandleShopify with the topic header and the raw body.
const (
	ShopifyDataRequest = "customers/data_request"
	ShopifyRedact      = "customers/redact"
	ShopifyShopRedact  = "shop/redact"
)

// ShopifySource is the identifier source of Shopify customer ids (the same
// as the Shopify import preset's).
const ShopifySource = "shopify"

// ShopifyPayload is the body of customers/data_request and customers/redact.
type ShopifyPayload struct {
	ShopID     json.Number `json:"shop_id"`
	ShopDomain string      `json:"shop_domain"`
	Customer   struct {
		ID    json.Number `json:"id"`
		Email string      `json:"email"`
		Phone string      `json:"phone"`
	} `json:"customer"`
	OrdersRequested []json.Number `json:"orders_requested"`
	OrdersToRedact  []json.Number `json:"orders_to_redact"`
	DataRequest     struct {
		ID json.Number `json:"id"`
	} `json:"data_request"`
}

// ShopifyResult says what a compliance webhook did.
type ShopifyResult struct {
	Topic      string `json:"topic"`
	CustomerID int64  `json:"customer_id"` // 0 when enishi holds nothing on the person
	Action     string `json:"action"`      // exported | erased | not_found | ignored
}

// ParseShopify decodes and checks a compliance webhook body.
func ParseShopify(body []byte) (*ShopifyPayload, error) {
	var p ShopifyPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, errs.Errorf(errs.Invalid, "shopify webhook: malformed JSON: %v", err)
	}
	if p.ShopDomain == "" && p.ShopID == "" {
		return nil, errs.FieldErrorf("shop_domain", "missing")
	}
	return &p, nil
}

// identifiers lists what the payload says about the person, strongest first.
func (p *ShopifyPayload) identifiers() []identity.Identifier {
	var out []identity.Identifier
	if id := p.Customer.ID.String(); id != "" {
		if _, err := strconv.ParseInt(id, 10, 64); err == nil {
			out = append(out, identity.ExternalID(ShopifySource, id))
		}
	}
	if e, err := identity.EmailID(p.Customer.Email); err == nil && p.Customer.Email != "" {
		out = append(out, e)
	}
	if ph, err := identity.PhoneID(p.Customer.Phone); err == nil && p.Customer.Phone != "" {
		out = append(out, ph)
	}
	return out
}

// HandleShopify answers a compliance webhook: customers/data_request is
// recorded as an export request (staff then hand the export to the shop
// owner, who answers the customer), customers/redact erases the person,
// shop/redact is acknowledged and left to the operator (it asks to delete
// the whole shop's data, see docs/security.md). A person enishi does not
// know is reported as not_found, which is not an error: Shopify sends these
// for every customer of the shop.
func HandleShopify(ctx context.Context, svc Service, topic string, body []byte) (*ShopifyResult, error) {
	res := &ShopifyResult{Topic: topic}
	if topic == ShopifyShopRedact {
		res.Action = "ignored"
		return res, nil
	}
	if topic != ShopifyDataRequest && topic != ShopifyRedact {
		return nil, errs.Errorf(errs.Invalid, "shopify webhook: topic %q is not a compliance topic", topic)
	}
	p, err := ParseShopify(body)
	if err != nil {
		return nil, err
	}
	o := store.OriginFrom(ctx)
	if o.Source == "" {
		o.Source = "shopify"
	}
	if o.Actor == "system" {
		o.Actor = "shopify:" + p.ShopDomain
	}
	ctx = store.WithOrigin(ctx, o)
	cid, err := svc.Find(ctx, p.identifiers()...)
	if errs.Code(err) == errs.NotFound {
		res.Action = "not_found"
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	res.CustomerID = cid
	if topic == ShopifyDataRequest {
		if _, err := svc.Export(ctx, cid); err != nil {
			return nil, err
		}
		res.Action = "exported"
		return res, nil
	}
	reason := fmt.Sprintf("Shopify customers/redact from %s", p.ShopDomain)
	if _, err := svc.Erase(ctx, cid, reason); err != nil {
		if errs.Code(err) == errs.Conflict { // already erased: Shopify retries
			res.Action = "erased"
			return res, nil
		}
		return nil, err
	}
	res.Action = "erased"
	return res, nil
}

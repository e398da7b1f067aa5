package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/voiceingest"
)

// ShopifySource is the source name of Shopify's orders and customer ids,
// the same as the Shopify CSV import's, so that both describe one order.
const ShopifySource = "shopify"

// ShopifyTopics are the webhook topics enishi subscribes to.
var ShopifyTopics = []string{
	"orders/create", "orders/updated", "orders/cancelled", "refunds/create",
	"customers/create", "customers/update", "checkouts/create", "checkouts/update", "carts/create", "carts/update",
	"customers/data_request", "customers/redact", "shop/redact",
	"subscription_contracts/create", "subscription_contracts/update",
}

func knownShopifyTopic(t string) bool {
	for _, x := range ShopifyTopics {
		if x == t {
			return true
		}
	}
	return false
}

// ShopifyWebhook is a webhook request's headers.
type ShopifyWebhook struct {
	HMAC      string // X-Shopify-Hmac-Sha256
	Topic     string // X-Shopify-Topic
	Shop      string // X-Shopify-Shop-Domain
	WebhookID string // X-Shopify-Webhook-Id (also X-Shopify-Event-Id)
}

// VerifyShopifyHMAC checks X-Shopify-Hmac-Sha256: the base64 HMAC-SHA256
// of the raw body keyed with the app's client secret, compared in
// constant time.
func VerifyShopifyHMAC(secret string, body []byte, header string) bool {
	return verifyBase64HMAC(secret, body, header)
}

// verifyBase64HMAC checks a header holding the base64 HMAC-SHA256 of body
// keyed with secret (Shopify's and LINE's scheme), in constant time.
func verifyBase64HMAC(secret string, body []byte, header string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil || secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// AcceptShopify verifies and stores a Shopify webhook. It reports whether
// the request was new (false for a redelivery or a topic enishi ignores).
func (s *Service) AcceptShopify(ctx context.Context, h ShopifyWebhook, body []byte) (bool, error) {
	secret, err := s.secrets.Secret(ctx, SecretShopifyApp)
	if err != nil {
		return false, err
	}
	if secret == "" {
		s.Reject(KindShopify)
		return false, errs.Errorf(errs.Unauthorized, "the Shopify app secret is not configured (enishi settings set-secret %s …)", SecretShopifyApp)
	}
	if !VerifyShopifyHMAC(secret, body, h.HMAC) {
		s.Reject(KindShopify)
		return false, errs.Errorf(errs.Unauthorized, "X-Shopify-Hmac-Sha256 does not match the body")
	}
	if h.Topic == "" || h.Shop == "" {
		s.Reject(KindShopify)
		return false, errs.Errorf(errs.Invalid, "X-Shopify-Topic and X-Shopify-Shop-Domain are required")
	}
	if !knownShopifyTopic(h.Topic) {
		s.log.Info("shopify: ignoring a webhook topic enishi does not handle", "topic", h.Topic)
		return false, nil
	}
	var probe map[string]json.RawMessage
	if err := decodeObject(body, &probe); err != nil {
		s.Reject(KindShopify)
		return false, err
	}
	n, err := s.enqueue(ctx, store.InboxItem{Kind: KindShopify, Source: h.Shop, Topic: h.Topic, DedupeKey: h.WebhookID, Body: body})
	return n > 0, err
}

// Shopify REST resource shapes (the parts enishi reads). Ids are int64
// that exceed float64 precision, so they are decoded as json.Number; money
// is a decimal string.

type shopifyAddress struct {
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Address1     string `json:"address1"`
	Address2     string `json:"address2"`
	City         string `json:"city"`
	Province     string `json:"province"`
	ProvinceCode string `json:"province_code"`
	Zip          string `json:"zip"`
	Phone        string `json:"phone"`
	CountryCode  string `json:"country_code"`
}

type shopifyConsent struct {
	State            string `json:"state"`
	ConsentUpdatedAt string `json:"consent_updated_at"`
}

type shopifyCustomer struct {
	ID                    json.Number     `json:"id"`
	Email                 string          `json:"email"`
	Phone                 string          `json:"phone"`
	FirstName             string          `json:"first_name"`
	LastName              string          `json:"last_name"`
	Tags                  string          `json:"tags"`
	CreatedAt             string          `json:"created_at"`
	AcceptsMarketing      *bool           `json:"accepts_marketing"`
	EmailMarketingConsent *shopifyConsent `json:"email_marketing_consent"`
	SMSMarketingConsent   *shopifyConsent `json:"sms_marketing_consent"`
	DefaultAddress        *shopifyAddress `json:"default_address"`
}

type shopifyLine struct {
	ID        json.Number `json:"id"`
	SKU       string      `json:"sku"`
	Title     string      `json:"title"`
	Name      string      `json:"name"`
	Quantity  any         `json:"quantity"`
	Price     any         `json:"price"`
	ProductID json.Number `json:"product_id"`
	VariantID json.Number `json:"variant_id"`
}

type shopifyMoneySet struct {
	ShopMoney struct {
		Amount any `json:"amount"`
	} `json:"shop_money"`
}

type shopifyOrder struct {
	ID                    json.Number      `json:"id"`
	Name                  string           `json:"name"`
	Email                 string           `json:"email"`
	Phone                 string           `json:"phone"`
	CreatedAt             string           `json:"created_at"`
	ProcessedAt           string           `json:"processed_at"`
	CancelledAt           string           `json:"cancelled_at"`
	FinancialStatus       string           `json:"financial_status"`
	Currency              string           `json:"currency"`
	TotalPrice            any              `json:"total_price"`
	TotalDiscounts        any              `json:"total_discounts"`
	TotalTax              any              `json:"total_tax"`
	TotalShippingPriceSet *shopifyMoneySet `json:"total_shipping_price_set"`
	ShippingLines         []struct {
		Price any `json:"price"`
	} `json:"shipping_lines"`
	DiscountCodes []struct {
		Code string `json:"code"`
	} `json:"discount_codes"`
	LineItems             []shopifyLine    `json:"line_items"`
	Customer              *shopifyCustomer `json:"customer"`
	BillingAddress        *shopifyAddress  `json:"billing_address"`
	BuyerAcceptsMarketing bool             `json:"buyer_accepts_marketing"`
}

type shopifyCheckout struct {
	ID          json.Number      `json:"id"`
	Token       string           `json:"token"`
	CartToken   string           `json:"cart_token"`
	Email       string           `json:"email"`
	Phone       string           `json:"phone"`
	Currency    string           `json:"currency"`
	TotalPrice  any              `json:"total_price"`
	URL         string           `json:"abandoned_checkout_url"`
	CreatedAt   string           `json:"created_at"`
	UpdatedAt   string           `json:"updated_at"`
	CompletedAt string           `json:"completed_at"`
	LineItems   []shopifyLine    `json:"line_items"`
	Customer    *shopifyCustomer `json:"customer"`
}

type shopifyCart struct {
	ID        any           `json:"id"`
	Token     string        `json:"token"`
	CreatedAt string        `json:"created_at"`
	UpdatedAt string        `json:"updated_at"`
	LineItems []shopifyLine `json:"line_items"`
}

type shopifyRefund struct {
	ID              json.Number `json:"id"`
	OrderID         json.Number `json:"order_id"`
	CreatedAt       string      `json:"created_at"`
	Note            string      `json:"note"`
	RefundLineItems []struct {
		Quantity any         `json:"quantity"`
		LineItem shopifyLine `json:"line_item"`
		Subtotal any         `json:"subtotal"`
	} `json:"refund_line_items"`
	Transactions []struct {
		Amount any    `json:"amount"`
		Kind   string `json:"kind"`
		Status string `json:"status"`
	} `json:"transactions"`
}

type shopifyProduct struct {
	ID          json.Number `json:"id"`
	Title       string      `json:"title"`
	ProductType string      `json:"product_type"`
	Handle      string      `json:"handle"`
	Image       *struct {
		Src string `json:"src"`
	} `json:"image"`
	Variants []struct {
		ID    json.Number `json:"id"`
		SKU   string      `json:"sku"`
		Title string      `json:"title"`
		Price any         `json:"price"`
	} `json:"variants"`
}

type shopifyPrivacy struct {
	ShopDomain string `json:"shop_domain"`
	Customer   *struct {
		ID    json.Number `json:"id"`
		Email string      `json:"email"`
		Phone string      `json:"phone"`
	} `json:"customer"`
	DataRequest *struct {
		ID json.Number `json:"id"`
	} `json:"data_request"`
}

// decodeNumbers decodes JSON keeping numbers exact (json.Number).
func decodeNumbers(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errs.Errorf(errs.Invalid, "payload: %v", err)
	}
	return nil
}

func shopifyTime(s string, def time.Time) time.Time {
	if s == "" {
		return def
	}
	if t, err := order.ParseTime(s); err == nil {
		return t
	}
	return def
}

// shopifyPerson builds a customer record from a Shopify customer and the
// order's contact details.
func shopifyPerson(c *shopifyCustomer, email, phone string, addr *shopifyAddress, at time.Time) customer.Record {
	var r customer.Record
	if c != nil {
		if id := c.ID.String(); id != "" && id != "0" {
			r.Identifiers = append(r.Identifiers, identity.ExternalID(ShopifySource, id))
		}
		if email == "" {
			email = c.Email
		}
		if phone == "" {
			phone = c.Phone
		}
		r.Profile.LastName, r.Profile.FirstName = c.LastName, c.FirstName
		if addr == nil {
			addr = c.DefaultAddress
		}
		r.Consents = append(r.Consents, shopifyConsents(c, at)...)
		for _, t := range strings.Split(c.Tags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				r.Tags = append(r.Tags, t)
			}
		}
	}
	if email != "" {
		if id, err := identity.EmailID(email); err == nil {
			r.Identifiers = append(r.Identifiers, id)
			r.Profile.Email = id.Value
		}
	}
	if phone == "" && addr != nil {
		phone = addr.Phone
	}
	if phone != "" {
		if id, err := identity.PhoneID(phone); err == nil {
			r.Identifiers = append(r.Identifiers, id)
			r.Profile.Phone = id.Value
		}
	}
	if addr != nil {
		if r.Profile.LastName == "" && r.Profile.FirstName == "" {
			r.Profile.LastName, r.Profile.FirstName = addr.LastName, addr.FirstName
		}
		if addr.CountryCode == "" || addr.CountryCode == "JP" {
			if p, ok := customer.PrefectureFromLatin(addr.ProvinceCode); ok {
				r.Profile.Prefecture = p
			} else if p, ok := customer.PrefectureFromLatin(addr.Province); ok {
				r.Profile.Prefecture = p
			} else if p, err := customer.NormalizePrefecture(addr.Province); err == nil {
				r.Profile.Prefecture = p
			}
			if z, err := customer.NormalizePostalCode(addr.Zip); err == nil {
				r.Profile.PostalCode = z
			}
		}
		r.Profile.City, r.Profile.Address1, r.Profile.Address2 = addr.City, addr.Address1, addr.Address2
	}
	r.SeenAt = at
	if c != nil {
		r.SeenAt = shopifyTime(c.CreatedAt, at)
	}
	return r
}

// shopifyConsents reads Shopify's marketing consent states: subscribed is
// an opt-in, unsubscribed an opt-out; other states record nothing.
func shopifyConsents(c *shopifyCustomer, at time.Time) []customer.Consent {
	var out []customer.Consent
	add := func(ch string, cs *shopifyConsent) {
		if cs == nil {
			return
		}
		var granted bool
		switch cs.State {
		case "subscribed":
			granted = true
		case "unsubscribed":
		default:
			return
		}
		out = append(out, customer.Consent{Channel: ch, Granted: granted, RecordedAt: shopifyTime(cs.ConsentUpdatedAt, at), Method: "webhook", Source: ShopifySource})
	}
	add(customer.ChannelEmail, c.EmailMarketingConsent)
	add(customer.ChannelSMS, c.SMSMarketingConsent)
	if c.EmailMarketingConsent == nil && c.AcceptsMarketing != nil && *c.AcceptsMarketing {
		out = append(out, customer.Consent{Channel: customer.ChannelEmail, Granted: true, RecordedAt: at, Method: "webhook", Source: ShopifySource})
	}
	return out
}

func shopifyStatus(o *shopifyOrder) order.Status {
	if o.CancelledAt != "" {
		return order.Cancelled
	}
	switch o.FinancialStatus {
	case "refunded":
		return order.Refunded
	case "voided":
		return order.Cancelled
	case "pending", "authorized":
		return order.Pending
	}
	return order.Paid
}

// shopifyOrderOf converts a Shopify order.
func shopifyOrderOf(shop string, so *shopifyOrder, now time.Time) (order.Order, error) {
	o := order.Order{Source: ShopifySource, ExternalID: strings.TrimSpace(so.Name), ShopID: shop, Channel: order.ChannelOwnEC,
		Status: shopifyStatus(so), Currency: strings.ToUpper(so.Currency)}
	if o.ExternalID == "" {
		o.ExternalID = so.ID.String()
	}
	if o.ExternalID == "" {
		return o, errs.FieldErrorf("order.id", "required")
	}
	if o.Currency == "" {
		o.Currency = "JPY"
	}
	o.OrderedAt = shopifyTime(so.ProcessedAt, shopifyTime(so.CreatedAt, now))
	var err error
	if o.Total, err = amount("total_price", so.TotalPrice); err != nil {
		return o, err
	}
	if o.Discount, err = amount("total_discounts", so.TotalDiscounts); err != nil {
		return o, err
	}
	if o.Tax, err = amount("total_tax", so.TotalTax); err != nil {
		return o, err
	}
	if so.TotalShippingPriceSet != nil {
		if o.Shipping, err = amount("total_shipping_price_set", so.TotalShippingPriceSet.ShopMoney.Amount); err != nil {
			return o, err
		}
	} else {
		for i, l := range so.ShippingLines {
			v, err := amount(fmt.Sprintf("shipping_lines[%d].price", i), l.Price)
			if err != nil {
				return o, err
			}
			o.Shipping += v
		}
	}
	if len(so.DiscountCodes) > 0 {
		o.CouponCode = so.DiscountCodes[0].Code
	}
	lines, err := shopifyLines(so.LineItems)
	if err != nil {
		return o, err
	}
	o.Lines = lines
	o.Buyer = shopifyPerson(so.Customer, so.Email, so.Phone, so.BillingAddress, o.OrderedAt)
	if so.BuyerAcceptsMarketing && o.Buyer.Profile.Email != "" {
		o.Buyer.Consents = append(o.Buyer.Consents, customer.Consent{Channel: customer.ChannelEmail, Granted: true, RecordedAt: o.OrderedAt,
			Method: "checkout", Source: ShopifySource})
	}
	if o.Buyer.Empty() {
		return o, errs.Errorf(errs.Invalid, "order %s names no customer (no customer id, e-mail or phone)", o.ExternalID)
	}
	return o, nil
}

func shopifyLines(items []shopifyLine) ([]order.Line, error) {
	var out []order.Line
	for i, li := range items {
		path := fmt.Sprintf("line_items[%d]", i)
		l := order.Line{LineNo: i + 1, SKU: strings.TrimSpace(li.SKU), ProductName: li.Name}
		if l.ProductName == "" {
			l.ProductName = li.Title
		}
		var err error
		if l.Quantity, err = quantity(path+".quantity", li.Quantity); err != nil {
			return nil, err
		}
		if l.UnitPrice, err = amount(path+".price", li.Price); err != nil {
			return nil, err
		}
		l.Amount = l.Quantity * l.UnitPrice
		out = append(out, l)
	}
	return out, nil
}

func lineProps(items []shopifyLine) []map[string]any {
	out := []map[string]any{}
	for _, li := range items {
		q, _ := quantity("", li.Quantity)
		p, _ := amount("", li.Price)
		name := li.Name
		if name == "" {
			name = li.Title
		}
		out = append(out, map[string]any{"sku": li.SKU, "name": name, "price": p, "quantity": q, "variant_id": li.VariantID.String(), "product_id": li.ProductID.String()})
	}
	return out
}

func cartAnonymousID(token string) string { return "shopify-cart:" + token }

// processShopify applies one webhook.
func (s *Service) processShopify(ctx context.Context, it store.InboxItem) error {
	shop := it.Source
	now := it.ReceivedAt
	switch it.Topic {
	case "orders/create", "orders/updated", "orders/cancelled":
		var so shopifyOrder
		if err := decodeNumbers(it.Body, &so); err != nil {
			return err
		}
		return s.importShopifyOrders(ctx, shop, []shopifyOrder{so}, now)
	case "customers/create", "customers/update":
		var c shopifyCustomer
		if err := decodeNumbers(it.Body, &c); err != nil {
			return err
		}
		return s.importShopifyCustomers(ctx, []shopifyCustomer{c}, now)
	case "refunds/create":
		var r shopifyRefund
		if err := decodeNumbers(it.Body, &r); err != nil {
			return err
		}
		return s.shopifyRefund(ctx, shop, &r, now)
	case "checkouts/create", "checkouts/update":
		var c shopifyCheckout
		if err := decodeNumbers(it.Body, &c); err != nil {
			return err
		}
		return s.shopifyCheckout(ctx, it.Topic, &c, now)
	case "carts/create", "carts/update":
		var c shopifyCart
		if err := decodeNumbers(it.Body, &c); err != nil {
			return err
		}
		if c.Token == "" {
			c.Token = str(c.ID)
		}
		if c.Token == "" {
			return errs.FieldErrorf("token", "a cart needs a token")
		}
		at := shopifyTime(c.UpdatedAt, now)
		props, _ := json.Marshal(map[string]any{"cart_token": c.Token, "products": lineProps(c.LineItems)})
		_, err := s.st.ImportEvents(ctx, []event.Event{{Type: "track", Name: "Cart Updated", OccurredAt: at, Source: ShopifySource,
			MessageID: "cart-" + c.Token + "-" + strconv.FormatInt(at.UnixMilli(), 10), AnonymousID: cartAnonymousID(c.Token), Properties: props,
			Actor: customer.Record{Identifiers: []identity.Identifier{{Kind: identity.Anonymous, Value: cartAnonymousID(c.Token), Weak: true}}}}})
		return err
	case "customers/data_request", "customers/redact", "shop/redact":
		return s.shopifyPrivacy(ctx, it)
	case "subscription_contracts/create", "subscription_contracts/update":
		_, err := voiceingest.ProcessShopify(ctx, s.st, s.st, shop, it.Topic, it.DedupeKey, now, it.Body)
		return err
	}
	return errs.Errorf(errs.Invalid, "unhandled Shopify topic %q", it.Topic)
}

func (s *Service) importShopifyOrders(ctx context.Context, shop string, sos []shopifyOrder, now time.Time) error {
	orders := make([]order.Order, 0, len(sos))
	for i := range sos {
		o, err := shopifyOrderOf(shop, &sos[i], now)
		if err != nil {
			return err
		}
		orders = append(orders, o)
	}
	if len(orders) == 0 {
		return nil
	}
	if _, err := s.st.ImportOrders(ctx, orders); err != nil {
		return err
	}
	for i := range sos {
		cust := ""
		if sos[i].Customer != nil {
			cust = sos[i].Customer.ID.String()
		}
		if err := s.st.PutShopifyOrder(ctx, shop, sos[i].ID.String(), orders[i].ExternalID, cust); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) importShopifyCustomers(ctx context.Context, cs []shopifyCustomer, now time.Time) error {
	recs := make([]customer.Record, 0, len(cs))
	for i := range cs {
		r := shopifyPerson(&cs[i], "", "", nil, now)
		if r.Empty() {
			return errs.Errorf(errs.Invalid, "customer %s has no id, e-mail or phone", cs[i].ID)
		}
		r.Overwrite = true // Shopify's customer record is a master
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil
	}
	_, err := s.st.ImportCustomers(ctx, recs)
	return err
}

func (s *Service) shopifyRefund(ctx context.Context, shop string, r *shopifyRefund, now time.Time) error {
	at := shopifyTime(r.CreatedAt, now)
	var total int64
	for i, t := range r.Transactions {
		if t.Kind == "refund" && (t.Status == "success" || t.Status == "") {
			v, err := amount(fmt.Sprintf("transactions[%d].amount", i), t.Amount)
			if err != nil {
				return err
			}
			total += v
		}
	}
	var lines []shopifyLine
	for _, rl := range r.RefundLineItems {
		l := rl.LineItem
		l.Quantity = rl.Quantity
		lines = append(lines, l)
	}
	name, cust, _, err := s.st.ShopifyOrder(ctx, shop, r.OrderID.String())
	if err != nil {
		return err
	}
	props, _ := json.Marshal(map[string]any{"order_id": r.OrderID.String(), "order_name": name, "refund_id": r.ID.String(),
		"amount": total, "note": r.Note, "products": lineProps(lines)})
	ev := event.Event{Type: "track", Name: "Order Refunded", OccurredAt: at, Source: ShopifySource, MessageID: "refund-" + r.ID.String(), Properties: props}
	if cust != "" {
		ev.Actor.Identifiers = []identity.Identifier{identity.ExternalID(ShopifySource, cust)}
	}
	_, err = s.st.ImportEvents(ctx, []event.Event{ev})
	return err
}

func (s *Service) shopifyCheckout(ctx context.Context, topic string, c *shopifyCheckout, now time.Time) error {
	at := shopifyTime(c.UpdatedAt, shopifyTime(c.CreatedAt, now))
	name := event.CheckoutStarted
	if topic == "checkouts/update" {
		name = "Checkout Updated"
	}
	total, err := amount("total_price", c.TotalPrice)
	if err != nil {
		return err
	}
	props, _ := json.Marshal(map[string]any{"checkout_id": c.ID.String(), "token": c.Token, "cart_token": c.CartToken, "total": total,
		"currency": c.Currency, "url": c.URL, "completed": c.CompletedAt != "", "products": lineProps(c.LineItems)})
	actor := shopifyPerson(c.Customer, c.Email, c.Phone, nil, at)
	actor.Tags, actor.Consents = nil, nil
	var anon string
	if c.CartToken != "" {
		anon = cartAnonymousID(c.CartToken)
		actor.Identifiers = append(actor.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: anon, Weak: true})
	}
	ev := event.Event{Type: "track", Name: name, OccurredAt: at, Source: ShopifySource, AnonymousID: anon,
		MessageID: "checkout-" + c.Token + "-" + strconv.FormatInt(at.UnixMilli(), 10), Properties: props, Actor: actor}
	if _, err := s.st.ImportEvents(ctx, []event.Event{ev}); err != nil {
		return err
	}
	if anon != "" {
		_, err = s.st.StitchAnonymous(ctx, []string{anon})
	}
	return err
}

func (s *Service) shopifyPrivacy(ctx context.Context, it store.InboxItem) error {
	var p shopifyPrivacy
	if err := decodeNumbers(it.Body, &p); err != nil {
		return err
	}
	req := store.PrivacyRequest{Source: ShopifySource, Shop: it.Source, Payload: json.RawMessage(it.Body), Ref: it.DedupeKey}
	if req.Ref == "" {
		req.Ref = "inbox-" + strconv.FormatInt(it.ID, 10)
	}
	switch it.Topic {
	case "customers/data_request":
		req.Kind = "export"
	case "customers/redact":
		req.Kind = "erase"
	default:
		req.Kind = "shop_erase"
	}
	if p.Customer != nil {
		if id := p.Customer.ID.String(); id != "" {
			req.Identifiers = append(req.Identifiers, identity.ExternalID(ShopifySource, id))
		}
		if id, err := identity.EmailID(p.Customer.Email); err == nil && p.Customer.Email != "" {
			req.Identifiers = append(req.Identifiers, id)
		}
		if id, err := identity.PhoneID(p.Customer.Phone); err == nil && p.Customer.Phone != "" {
			req.Identifiers = append(req.Identifiers, id)
		}
	}
	if req.Identifiers == nil {
		req.Identifiers = []identity.Identifier{}
	}
	return s.privacy.HandlePrivacyRequest(ctx, req)
}

// shopifyProducts converts a Shopify product into one product per variant
// with a SKU.
func shopifyProducts(sp *shopifyProduct, shopURL string) ([]product.Product, error) {
	var out []product.Product
	for i, v := range sp.Variants {
		if strings.TrimSpace(v.SKU) == "" {
			continue
		}
		price, err := amount(fmt.Sprintf("variants[%d].price", i), v.Price)
		if err != nil {
			return nil, err
		}
		name := sp.Title
		if v.Title != "" && v.Title != "Default Title" {
			name += " " + v.Title
		}
		p := product.Product{SKU: strings.TrimSpace(v.SKU), Name: name, Category: sp.ProductType, Price: price}
		if sp.Handle != "" && shopURL != "" {
			p.URL = shopURL + "/products/" + sp.Handle
		}
		if sp.Image != nil {
			p.ImageURL = sp.Image.Src
		}
		out = append(out, p)
	}
	return out, nil
}

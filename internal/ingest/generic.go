package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/voiceingest"
)

// The generic webhook (POST /webhooks/generic/{source}) is enishi's own
// format for shops and carts without a native integration. docs/
// integrations/generic.md documents it; the header is
//
//	X-Enishi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//
// keyed with the source's secret, and t must be within SignatureTolerance
// of enishi's clock (replays of old deliveries are refused).

// SignatureTolerance is how far a generic webhook's timestamp may be from now.
const SignatureTolerance = 5 * time.Minute

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// ValidSourceName reports whether s may name a generic webhook source.
func ValidSourceName(s string) bool { return sourceName.MatchString(s) }

// SignGeneric returns the X-Enishi-Signature header for a body at time t.
func SignGeneric(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyGeneric checks an X-Enishi-Signature header in constant time.
func VerifyGeneric(secret string, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 || secret == "" {
		return errs.Errorf(errs.Unauthorized, "X-Enishi-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256>")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	ok := false
	for _, s := range sigs { // several v1 values while a secret is rotated
		ok = hmac.Equal(s, want) || ok
	}
	if !ok {
		return errs.Errorf(errs.Unauthorized, "X-Enishi-Signature does not match the body")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return errs.Errorf(errs.Unauthorized, "X-Enishi-Signature timestamp is %s from enishi's clock (at most %s)", d.Round(time.Second), SignatureTolerance)
	}
	return nil
}

// GenericDelivery is one generic webhook request.
type GenericDelivery struct {
	ID        string          `json:"id"`   // unique per source; redeliveries reuse it
	Type      string          `json:"type"` // order.created, customer.updated, cart.updated …
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
	Source    string          `json:"-"`
}

// GenericHandler handles one family of generic webhook types (the part of
// the type before the dot: "order", "customer", "cart", "subscription").
// Validate runs before the request is answered (an error is a 400);
// Process runs in the inbox worker and must be idempotent.
type GenericHandler struct {
	Validate func(d *GenericDelivery) error
	Process  func(ctx context.Context, d *GenericDelivery) error
}

// RegisterGeneric adds a handler for a type family (e.g. "subscription"),
// replacing any before it. Call it before serving.
func (s *Service) RegisterGeneric(family string, h GenericHandler) { s.generic[family] = h }

func (s *Service) genericHandler(typ string) (GenericHandler, bool) {
	family, _, _ := strings.Cut(typ, ".")
	h, ok := s.generic[family]
	return h, ok
}

func parseGeneric(source string, body []byte) (*GenericDelivery, error) {
	var d GenericDelivery
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, jsonError(err)
	}
	d.Source = source
	if strings.TrimSpace(d.ID) == "" {
		return nil, errs.FieldErrorf("id", "required: a delivery id, the same on every retry")
	}
	if d.Type == "" {
		return nil, errs.FieldErrorf("type", "required (order.created, customer.updated, cart.updated …)")
	}
	if isNull(d.Data) || d.Data[0] != '{' {
		return nil, errs.FieldErrorf("data", "required: an object")
	}
	return &d, nil
}

// jsonError turns a decoding error into a message naming the field.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errs.Errorf(errs.Invalid, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return errs.FieldErrorf(typ.Field, "must be %s", typ.Type.String())
	case errors.Is(err, io.EOF):
		return errs.Errorf(errs.Invalid, "empty request body")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return errs.Errorf(errs.Invalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return e
	}
	return errs.Errorf(errs.Invalid, "malformed JSON: %v", err)
}

// AcceptGeneric verifies, validates and stores a generic webhook.
func (s *Service) AcceptGeneric(ctx context.Context, source, signature string, body []byte) (bool, error) {
	if !ValidSourceName(source) {
		s.Reject(KindGeneric)
		return false, errs.Errorf(errs.NotFound, "unknown source %q", source)
	}
	secret, err := s.secrets.Secret(ctx, SecretGeneric(source))
	if err != nil {
		return false, err
	}
	if secret == "" {
		s.Reject(KindGeneric)
		return false, errs.Errorf(errs.Unauthorized, "no secret is configured for source %q (enishi settings set-secret %s …)", source, SecretGeneric(source))
	}
	if err := VerifyGeneric(secret, signature, body, s.clock.Now()); err != nil {
		s.Reject(KindGeneric)
		return false, err
	}
	d, err := parseGeneric(source, body)
	if err != nil {
		s.Reject(KindGeneric)
		return false, err
	}
	h, ok := s.genericHandler(d.Type)
	if !ok {
		s.Reject(KindGeneric)
		return false, errs.FieldErrorf("type", "%q is not a type enishi handles (order.*, customer.*, cart.*, subscription.*, review.*)", d.Type)
	}
	if h.Validate != nil {
		if err := h.Validate(d); err != nil {
			s.Reject(KindGeneric)
			return false, err
		}
	}
	n, err := s.enqueue(ctx, store.InboxItem{Kind: KindGeneric, Source: source, Topic: d.Type, DedupeKey: d.ID, Body: body})
	return n > 0, err
}

func (s *Service) processGeneric(ctx context.Context, it store.InboxItem) error {
	d, err := parseGeneric(it.Source, it.Body)
	if err != nil {
		return err
	}
	h, ok := s.genericHandler(d.Type)
	if !ok || h.Process == nil {
		return errs.Errorf(errs.Invalid, "no handler for type %q", d.Type)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = it.ReceivedAt
	}
	return h.Process(ctx, d)
}

// Generic payload shapes.

// GenericConsent is a consent in a generic customer.
type GenericConsent struct {
	Channel        string    `json:"channel"`
	Granted        bool      `json:"granted"`
	At             time.Time `json:"at"`
	WordingVersion string    `json:"wording_version"`
}

// GenericCustomer is a customer in the generic format.
type GenericCustomer struct {
	ID            string            `json:"id"`
	Email         string            `json:"email"`
	Phone         string            `json:"phone"`
	LastName      string            `json:"last_name"`
	FirstName     string            `json:"first_name"`
	LastNameKana  string            `json:"last_name_kana"`
	FirstNameKana string            `json:"first_name_kana"`
	Birthday      string            `json:"birthday"`
	Gender        string            `json:"gender"`
	PostalCode    string            `json:"postal_code"`
	Prefecture    string            `json:"prefecture"`
	City          string            `json:"city"`
	Address1      string            `json:"address1"`
	Address2      string            `json:"address2"`
	Tags          []string          `json:"tags"`
	Consents      []GenericConsent  `json:"consents"`
	Attributes    map[string]string `json:"attributes"`
	CreatedAt     time.Time         `json:"created_at"`
}

// GenericLine is an order or cart line.
type GenericLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Category  string `json:"category"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Amount    *int64 `json:"amount"`
}

// GenericOrder is an order in the generic format.
type GenericOrder struct {
	ID         string          `json:"id"`
	OrderedAt  time.Time       `json:"ordered_at"`
	Status     string          `json:"status"`
	Channel    string          `json:"channel"`
	Currency   string          `json:"currency"`
	Total      *int64          `json:"total"`
	Discount   int64           `json:"discount"`
	Shipping   int64           `json:"shipping"`
	Tax        int64           `json:"tax"`
	PointsUsed int64           `json:"points_used"`
	CouponCode string          `json:"coupon_code"`
	Customer   GenericCustomer `json:"customer"`
	Lines      []GenericLine   `json:"lines"`
}

// GenericCart is a cart in the generic format.
type GenericCart struct {
	ID          string           `json:"id"`
	AnonymousID string           `json:"anonymous_id"`
	Customer    *GenericCustomer `json:"customer"`
	UpdatedAt   time.Time        `json:"updated_at"`
	Total       int64            `json:"total"`
	URL         string           `json:"url"`
	Lines       []GenericLine    `json:"lines"`
}

func strictDecode(data json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		err = jsonError(err)
		var e *errs.Error
		if errors.As(err, &e) && e.Field != "" {
			e.Field = "data." + e.Field
		}
		return err
	}
	return nil
}

// record converts a generic customer.
func (c *GenericCustomer) record(source string, at time.Time) (customer.Record, error) {
	var r customer.Record
	if c.ID != "" {
		r.Identifiers = append(r.Identifiers, identity.ExternalID(source, c.ID))
	}
	if c.Email != "" {
		id, err := identity.EmailID(c.Email)
		if err != nil {
			return r, &errs.Error{Code: errs.Invalid, Field: "customer.email", Message: errs.Message(err)}
		}
		r.Identifiers = append(r.Identifiers, id)
		r.Profile.Email = id.Value
	}
	if c.Phone != "" {
		id, err := identity.PhoneID(c.Phone)
		if err != nil {
			return r, &errs.Error{Code: errs.Invalid, Field: "customer.phone", Message: errs.Message(err)}
		}
		r.Identifiers = append(r.Identifiers, id)
		r.Profile.Phone = id.Value
	}
	if r.Empty() {
		return r, errs.FieldErrorf("customer", "needs an id, email or phone")
	}
	p := &r.Profile
	p.LastName, p.FirstName, p.LastNameKana, p.FirstNameKana = c.LastName, c.FirstName, c.LastNameKana, c.FirstNameKana
	p.City, p.Address1, p.Address2 = c.City, c.Address1, c.Address2
	var err error
	if c.Birthday != "" {
		if p.Birthday, err = customer.NormalizeBirthday(c.Birthday); err != nil {
			return r, &errs.Error{Code: errs.Invalid, Field: "customer.birthday", Message: errs.Message(err)}
		}
	}
	if c.Gender != "" {
		if p.Gender, err = customer.NormalizeGender(c.Gender); err != nil {
			return r, &errs.Error{Code: errs.Invalid, Field: "customer.gender", Message: errs.Message(err)}
		}
	}
	if c.PostalCode != "" {
		if p.PostalCode, err = customer.NormalizePostalCode(c.PostalCode); err != nil {
			return r, &errs.Error{Code: errs.Invalid, Field: "customer.postal_code", Message: errs.Message(err)}
		}
	}
	if c.Prefecture != "" {
		if p.Prefecture, err = customer.NormalizePrefecture(c.Prefecture); err != nil {
			return r, &errs.Error{Code: errs.Invalid, Field: "customer.prefecture", Message: errs.Message(err)}
		}
	}
	for i, cs := range c.Consents {
		ok := false
		for _, ch := range customer.ConsentChannels {
			ok = ok || ch == cs.Channel
		}
		if !ok {
			return r, errs.FieldErrorf("customer.consents["+strconv.Itoa(i)+"].channel", "%q is not one of %s", cs.Channel, strings.Join(customer.ConsentChannels, ", "))
		}
		when := cs.At
		if when.IsZero() {
			when = at
		}
		r.Consents = append(r.Consents, customer.Consent{Channel: cs.Channel, Granted: cs.Granted, RecordedAt: when, Method: "webhook",
			Source: source, WordingVersion: cs.WordingVersion})
	}
	r.Tags, r.Attributes = c.Tags, c.Attributes
	r.SeenAt = c.CreatedAt
	if r.SeenAt.IsZero() {
		r.SeenAt = at
	}
	return r, nil
}

func genericLines(ls []GenericLine) ([]order.Line, error) {
	var out []order.Line
	for i, l := range ls {
		if l.Quantity <= 0 {
			return nil, errs.FieldErrorf("lines["+strconv.Itoa(i)+"].quantity", "must be a whole number above 0")
		}
		ol := order.Line{LineNo: i + 1, SKU: l.SKU, ProductName: l.Name, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			Amount: l.Quantity * l.UnitPrice}
		if l.Amount != nil {
			ol.Amount = *l.Amount
		}
		out = append(out, ol)
	}
	return out, nil
}

func genericOrder(d *GenericDelivery) (order.Order, error) {
	var g GenericOrder
	if err := strictDecode(d.Data, &g); err != nil {
		return order.Order{}, err
	}
	if strings.TrimSpace(g.ID) == "" {
		return order.Order{}, errs.FieldErrorf("data.id", "required: the order number")
	}
	if g.OrderedAt.IsZero() {
		return order.Order{}, errs.FieldErrorf("data.ordered_at", "required (RFC 3339)")
	}
	st, err := order.ParseStatus(g.Status)
	if err != nil {
		return order.Order{}, &errs.Error{Code: errs.Invalid, Field: "data.status", Message: errs.Message(err)}
	}
	if strings.HasSuffix(d.Type, ".cancelled") {
		st = order.Cancelled
	}
	buyer, err := g.Customer.record(d.Source, g.OrderedAt)
	if err != nil {
		return order.Order{}, prefixField(err, "data.")
	}
	lines, err := genericLines(g.Lines)
	if err != nil {
		return order.Order{}, prefixField(err, "data.")
	}
	o := order.Order{Source: d.Source, ExternalID: strings.TrimSpace(g.ID), OrderedAt: g.OrderedAt.UTC(), Status: st,
		Channel: order.NormalizeChannel(g.Channel), Currency: strings.ToUpper(g.Currency), Discount: g.Discount, Shipping: g.Shipping, Tax: g.Tax,
		PointsUsed: g.PointsUsed, CouponCode: g.CouponCode, Lines: lines, Buyer: buyer}
	if o.Channel == "" {
		o.Channel = order.ChannelOwnEC
	}
	if o.Currency == "" {
		o.Currency = "JPY"
	}
	if g.Total != nil {
		o.Total = *g.Total
	} else {
		for _, l := range lines {
			o.Total += l.Amount
		}
		o.Total += o.Shipping + o.Tax - o.Discount - o.PointsUsed
	}
	return o, nil
}

func prefixField(err error, prefix string) error {
	var e *errs.Error
	if errors.As(err, &e) && e.Field != "" {
		c := *e
		c.Field = prefix + e.Field
		return &c
	}
	return err
}

func genericCustomer(d *GenericDelivery) (customer.Record, error) {
	var g GenericCustomer
	if err := strictDecode(d.Data, &g); err != nil {
		return customer.Record{}, err
	}
	r, err := g.record(d.Source, d.CreatedAt)
	if err != nil {
		return r, prefixField(err, "data.")
	}
	r.Overwrite = true // the shop's own customer master
	return r, nil
}

func genericCart(d *GenericDelivery) (event.Event, error) {
	var g GenericCart
	if err := strictDecode(d.Data, &g); err != nil {
		return event.Event{}, err
	}
	if g.ID == "" {
		return event.Event{}, errs.FieldErrorf("data.id", "required: the cart's id")
	}
	at := g.UpdatedAt
	if at.IsZero() {
		at = d.CreatedAt
	}
	var actor customer.Record
	if g.Customer != nil {
		var err error
		if actor, err = g.Customer.record(d.Source, at); err != nil {
			return event.Event{}, prefixField(err, "data.")
		}
		actor.Consents, actor.Tags = nil, nil
	}
	if g.AnonymousID != "" {
		actor.Identifiers = append(actor.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: g.AnonymousID, Weak: true})
	}
	lines, err := genericLines(g.Lines)
	if err != nil {
		return event.Event{}, prefixField(err, "data.")
	}
	props, _ := json.Marshal(map[string]any{"cart_id": g.ID, "total": g.Total, "url": g.URL, "products": lines})
	return event.Event{Type: "track", Name: "Cart Updated", OccurredAt: at, Source: d.Source, MessageID: "cart-" + d.ID,
		AnonymousID: g.AnonymousID, Properties: props, Actor: actor}, nil
}

// registerGenericDefaults registers the order, customer and cart families,
// and the subscription and review families of internal/voiceingest.
func (s *Service) registerGenericDefaults() {
	for _, family := range voiceingest.Families {
		s.RegisterGeneric(family, GenericHandler{
			Validate: func(d *GenericDelivery) error {
				return voiceingest.Validate(d.Source, d.ID, d.Type, d.CreatedAt, d.Data)
			},
			Process: func(ctx context.Context, d *GenericDelivery) error {
				_, err := voiceingest.Process(ctx, s.st, d.Source, d.ID, d.Type, d.CreatedAt, d.Data)
				return err
			},
		})
	}
	s.RegisterGeneric("order", GenericHandler{
		Validate: func(d *GenericDelivery) error { _, err := genericOrder(d); return err },
		Process: func(ctx context.Context, d *GenericDelivery) error {
			o, err := genericOrder(d)
			if err != nil {
				return err
			}
			_, err = s.st.ImportOrders(ctx, []order.Order{o})
			return err
		},
	})
	s.RegisterGeneric("customer", GenericHandler{
		Validate: func(d *GenericDelivery) error { _, err := genericCustomer(d); return err },
		Process: func(ctx context.Context, d *GenericDelivery) error {
			r, err := genericCustomer(d)
			if err != nil {
				return err
			}
			_, err = s.st.ImportCustomers(ctx, []customer.Record{r})
			return err
		},
	})
	s.RegisterGeneric("cart", GenericHandler{
		Validate: func(d *GenericDelivery) error { _, err := genericCart(d); return err },
		Process: func(ctx context.Context, d *GenericDelivery) error {
			e, err := genericCart(d)
			if err != nil {
				return err
			}
			if _, err := s.st.ImportEvents(ctx, []event.Event{e}); err != nil {
				return err
			}
			if e.AnonymousID != "" && len(e.Actor.Identifiers) > 1 {
				_, err = s.st.StitchAnonymous(ctx, []string{e.AnonymousID})
			}
			return err
		},
	})
}

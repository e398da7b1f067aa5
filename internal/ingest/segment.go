package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

// Limits of the event API, the Segment HTTP tracking API's.
const (
	MaxMessageBytes = 32 << 10  // one message
	MaxBatchBytes   = 500 << 10 // one request
)

// Segment call types.
var segmentTypes = map[string]bool{"identify": true, "track": true, "page": true, "screen": true, "group": true, "alias": true}

// Message is one validated Segment call.
type Message struct {
	Type              string
	UserID            string
	AnonymousID       string
	PreviousID        string // alias
	Event             string // track: the event name; page/screen: the page name
	Category          string // page
	Properties        map[string]any
	PropertiesRaw     json.RawMessage
	Traits            map[string]any
	Context           map[string]any
	MessageID         string
	Timestamp         time.Time
	OriginalTimestamp time.Time
	SentAt            time.Time
}

// rawMessage is a Segment call as sent; every field is checked by hand so
// that a wrong type is reported with its path.
type rawMessage struct {
	Type              json.RawMessage `json:"type"`
	UserID            json.RawMessage `json:"userId"`
	AnonymousID       json.RawMessage `json:"anonymousId"`
	PreviousID        json.RawMessage `json:"previousId"`
	GroupID           json.RawMessage `json:"groupId"`
	Event             json.RawMessage `json:"event"`
	Name              json.RawMessage `json:"name"`
	Category          json.RawMessage `json:"category"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	Context           json.RawMessage `json:"context"`
	Integrations      json.RawMessage `json:"integrations"`
	MessageID         json.RawMessage `json:"messageId"`
	Timestamp         json.RawMessage `json:"timestamp"`
	OriginalTimestamp json.RawMessage `json:"originalTimestamp"`
	SentAt            json.RawMessage `json:"sentAt"`
}

type rawBatch struct {
	Batch   json.RawMessage `json:"batch"`
	SentAt  json.RawMessage `json:"sentAt"`
	Context json.RawMessage `json:"context"`
}

func invalid(path, format string, args ...any) error {
	return &errs.Error{Code: errs.Invalid, Field: path, Message: fmt.Sprintf(format, args...)}
}

// ParseSegment validates a request body of the event API. call is the
// path's last element: identify, track, page, screen, group, alias or batch.
// It returns every message, or an Invalid error naming the first problem.
func ParseSegment(call string, body []byte) ([]Message, error) {
	if len(body) > MaxBatchBytes {
		return nil, errs.Errorf(errs.Invalid, "the request body is %d bytes; a request may be at most 500 KB (%d bytes)", len(body), MaxBatchBytes)
	}
	if call != "batch" && call != "import" {
		if !segmentTypes[call] {
			return nil, errs.Errorf(errs.NotFound, "unknown call %q", call)
		}
		if len(body) > MaxMessageBytes {
			return nil, errs.Errorf(errs.Invalid, "the message is %d bytes; a message may be at most 32 KB (%d bytes)", len(body), MaxMessageBytes)
		}
		m, err := parseMessage("", call, body, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		return []Message{m}, nil
	}
	var b rawBatch
	if err := decodeObject(body, &b); err != nil {
		return nil, err
	}
	if isNull(b.Batch) {
		return nil, invalid("batch", "required: an array of messages")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b.Batch, &items); err != nil {
		return nil, invalid("batch", "must be an array of messages")
	}
	if len(items) == 0 {
		return nil, invalid("batch", "is empty")
	}
	sentAt, err := optTime("sentAt", b.SentAt)
	if err != nil {
		return nil, err
	}
	ctx, err := optObject("context", b.Context)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(items))
	for i, raw := range items {
		path := "batch[" + strconv.Itoa(i) + "]"
		if len(raw) > MaxMessageBytes {
			return nil, errs.Errorf(errs.Invalid, "%s is %d bytes; a message may be at most 32 KB (%d bytes)", path, len(raw), MaxMessageBytes)
		}
		m, err := parseMessage(path+".", "", raw, sentAt, ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// decodeObject decodes a JSON object, reporting malformed JSON clearly.
func decodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return errs.Errorf(errs.Invalid, "empty request body")
	}
	if body[0] != '{' {
		return errs.Errorf(errs.Invalid, "the body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var syn *json.SyntaxError
		if ok := asSyntax(err, &syn); ok {
			return errs.Errorf(errs.Invalid, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
		}
		return errs.Errorf(errs.Invalid, "malformed JSON: %v", err)
	}
	return nil
}

func asSyntax(err error, out **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*out = s
	}
	return ok
}

func parseMessage(prefix, call string, raw []byte, batchSentAt time.Time, batchCtx map[string]any) (Message, error) {
	var r rawMessage
	if err := decodeObject(raw, &r); err != nil {
		if prefix != "" {
			return Message{}, errs.Errorf(errs.Invalid, "%s: %s", strings.TrimSuffix(prefix, "."), errs.Message(err))
		}
		return Message{}, err
	}
	var m Message
	var err error
	typ, err := optString(prefix+"type", r.Type)
	if err != nil {
		return m, err
	}
	switch {
	case call != "":
		m.Type = call
	case typ == "":
		return m, invalid(prefix+"type", "required (identify, track, page, screen, group or alias)")
	case !segmentTypes[typ]:
		return m, invalid(prefix+"type", "%q is not identify, track, page, screen, group or alias", typ)
	default:
		m.Type = typ
	}
	if m.UserID, err = optID(prefix+"userId", r.UserID); err != nil {
		return m, err
	}
	if m.AnonymousID, err = optID(prefix+"anonymousId", r.AnonymousID); err != nil {
		return m, err
	}
	if m.Type == "alias" {
		if m.PreviousID, err = optID(prefix+"previousId", r.PreviousID); err != nil {
			return m, err
		}
		if m.UserID == "" || m.PreviousID == "" {
			return m, invalid(prefix+"previousId", "alias needs both userId and previousId")
		}
	} else if m.UserID == "" && m.AnonymousID == "" {
		return m, invalid(prefix+"userId", "a message needs a userId or an anonymousId")
	}
	if m.MessageID, err = optID(prefix+"messageId", r.MessageID); err != nil {
		return m, err
	}
	if m.MessageID == "" {
		// Segment assigns one; ours is derived from the content, so that a
		// retried request still deduplicates.
		sum := sha256.Sum256(raw)
		m.MessageID = "auto-" + hex.EncodeToString(sum[:16])
	}
	if len(m.MessageID) > 200 {
		return m, invalid(prefix+"messageId", "longer than 200 characters")
	}
	switch m.Type {
	case "track":
		if m.Event, err = optString(prefix+"event", r.Event); err != nil {
			return m, err
		}
		if strings.TrimSpace(m.Event) == "" {
			return m, invalid(prefix+"event", "required for track: the event's name")
		}
	case "page", "screen":
		if m.Event, err = optString(prefix+"name", r.Name); err != nil {
			return m, err
		}
		if m.Category, err = optString(prefix+"category", r.Category); err != nil {
			return m, err
		}
	}
	if m.Properties, err = optObject(prefix+"properties", r.Properties); err != nil {
		return m, err
	}
	if m.Properties != nil {
		m.PropertiesRaw = compact(r.Properties)
	}
	if m.Traits, err = optObject(prefix+"traits", r.Traits); err != nil {
		return m, err
	}
	if m.Context, err = optObject(prefix+"context", r.Context); err != nil {
		return m, err
	}
	if m.Context == nil {
		m.Context = batchCtx
	}
	if _, err = optObject(prefix+"integrations", r.Integrations); err != nil {
		return m, err
	}
	if m.Timestamp, err = optTime(prefix+"timestamp", r.Timestamp); err != nil {
		return m, err
	}
	if m.OriginalTimestamp, err = optTime(prefix+"originalTimestamp", r.OriginalTimestamp); err != nil {
		return m, err
	}
	if m.SentAt, err = optTime(prefix+"sentAt", r.SentAt); err != nil {
		return m, err
	}
	if m.SentAt.IsZero() {
		m.SentAt = batchSentAt
	}
	if m.Type == "track" && m.Event == event.OrderCompleted {
		if _, err := orderFromProperties(prefix+"properties", m.Properties); err != nil {
			return m, err
		}
	}
	return m, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func optString(path string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(path, "must be a string")
	}
	return s, nil
}

// optID reads an id, which Segment accepts as a string or a number.
func optID(path string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		s, err := optString(path, raw)
		return strings.TrimSpace(s), err
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", invalid(path, "must be a string or a number")
	}
	return n.String(), nil
}

func optObject(path string, raw json.RawMessage) (map[string]any, error) {
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid(path, "must be an object")
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, invalid(path, "must be an object")
	}
	return m, nil
}

// timeLayouts are the ISO 8601 forms libraries send.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func optTime(path string, raw json.RawMessage) (time.Time, error) {
	s, err := optString(path, raw)
	if err != nil || s == "" {
		if err != nil {
			err = invalid(path, "must be an ISO 8601 date-time string")
		}
		return time.Time{}, err
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid(path, "%q is not an ISO 8601 date-time", s)
}

// OccurredAt is when the call happened, as Segment computes its timestamp:
// the client's time corrected for its clock skew, receivedAt − (sentAt −
// originalTimestamp), when the client said when it sent the call; the
// client's time as given otherwise; receivedAt when it gave none.
func (m *Message) OccurredAt(receivedAt time.Time) time.Time {
	orig := m.OriginalTimestamp
	if orig.IsZero() {
		orig = m.Timestamp
	}
	switch {
	case orig.IsZero():
		return receivedAt
	case !m.SentAt.IsZero():
		return receivedAt.Add(-m.SentAt.Sub(orig))
	}
	return orig
}

// str reads a string-ish value from decoded JSON (numbers become text).
func str(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// amount reads a money value (a number or a numeric string) in whole units
// of the currency, rounding fractions (enishi keeps yen, which has none).
func amount(path string, v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
	default:
		return 0, invalid(path, "must be a number")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return 0, invalid(path, "%q is not a number", s)
	}
	return int64(math.Round(f)), nil
}

// quantity reads a positive whole quantity; absent means 1.
func quantity(path string, v any) (int64, error) {
	if v == nil {
		return 1, nil
	}
	n, err := amount(path, v)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, invalid(path, "must be a whole number above 0")
	}
	return n, nil
}

// orderFromProperties reads the Segment e-commerce spec's Order Completed
// properties into an order (without buyer, time or source).
func orderFromProperties(path string, p map[string]any) (order.Order, error) {
	var o order.Order
	o.ExternalID = str(p["order_id"])
	if o.ExternalID == "" {
		o.ExternalID = str(p["checkout_id"])
	}
	if o.ExternalID == "" {
		return o, invalid(path+".order_id", "required for Order Completed")
	}
	o.Status, o.Channel = order.Paid, order.ChannelOwnEC
	o.Currency = strings.ToUpper(str(p["currency"]))
	if o.Currency == "" {
		o.Currency = "JPY"
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"shipping", &o.Shipping}, {"tax", &o.Tax}, {"discount", &o.Discount}} {
		if *f.dst, err = amount(path+"."+f.name, p[f.name]); err != nil {
			return o, err
		}
	}
	o.CouponCode = str(p["coupon"])
	if raw, ok := p["products"]; ok && raw != nil {
		items, ok := raw.([]any)
		if !ok {
			return o, invalid(path+".products", "must be an array of products")
		}
		for i, it := range items {
			ip := fmt.Sprintf("%s.products[%d]", path, i)
			pr, ok := it.(map[string]any)
			if !ok {
				return o, invalid(ip, "must be an object")
			}
			l := order.Line{LineNo: i + 1, SKU: str(pr["sku"]), ProductName: str(pr["name"]), Category: str(pr["category"])}
			if l.SKU == "" {
				l.SKU = str(pr["product_id"])
			}
			if l.Quantity, err = quantity(ip+".quantity", pr["quantity"]); err != nil {
				return o, err
			}
			if l.UnitPrice, err = amount(ip+".price", pr["price"]); err != nil {
				return o, err
			}
			l.Amount = l.UnitPrice * l.Quantity
			o.Lines = append(o.Lines, l)
		}
	}
	total, hasTotal := p["total"]
	if !hasTotal || total == nil {
		total, hasTotal = p["revenue"]
	}
	if hasTotal && total != nil {
		if o.Total, err = amount(path+".total", total); err != nil {
			return o, err
		}
	} else {
		for _, l := range o.Lines {
			o.Total += l.Amount
		}
		o.Total += o.Shipping + o.Tax - o.Discount
	}
	return o, nil
}

// Translation of validated messages into store records.

// segmentSource says how a Segment source's calls are filed.
type segmentSource struct {
	name       string // events.source and orders.source
	userSource string // the identity source userId values belong to
	trusted    bool   // traits' e-mail and phone identify people
}

// batchPlan is what a set of messages asks of the store.
type batchPlan struct {
	customers []customer.Record
	events    []event.Event
	orders    []order.Order
	stitch    []string
}

func (src segmentSource) actor(m *Message, traits map[string]any, at time.Time) customer.Record {
	var r customer.Record
	if m.UserID != "" {
		r.Identifiers = append(r.Identifiers, identity.ExternalID(src.userSource, m.UserID))
	}
	if m.AnonymousID != "" {
		r.Identifiers = append(r.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: m.AnonymousID, Weak: true})
	}
	if traits == nil {
		traits, _ = m.Context["traits"].(map[string]any)
	}
	r.Profile = profileFromTraits(traits, src.trusted)
	if src.trusted && r.Profile.Email != "" {
		if id, err := identity.EmailID(r.Profile.Email); err == nil {
			r.Identifiers = append(r.Identifiers, id)
			r.Profile.Email = id.Value
		} else {
			r.Profile.Email = ""
		}
	}
	if src.trusted && r.Profile.Phone != "" {
		if id, err := identity.PhoneID(r.Profile.Phone); err == nil {
			r.Identifiers = append(r.Identifiers, id)
			r.Profile.Phone = id.Value
		} else {
			r.Profile.Phone = ""
		}
	}
	firstTouch(&r.Profile, m.Context)
	r.SeenAt = at
	return r
}

// profileFromTraits reads Segment's reserved traits. E-mail and phone are
// read only from trusted sources (server-side keys).
func profileFromTraits(t map[string]any, trusted bool) customer.Profile {
	var p customer.Profile
	if t == nil {
		return p
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			if v := str(t[k]); v != "" {
				return v
			}
		}
		return ""
	}
	p.LastName, p.FirstName = get("lastName", "last_name"), get("firstName", "first_name")
	if p.LastName == "" && p.FirstName == "" {
		p.LastName, p.FirstName = customer.SplitName(get("name"))
	}
	p.LastNameKana, p.FirstNameKana = get("lastNameKana", "last_name_kana"), get("firstNameKana", "first_name_kana")
	if trusted {
		p.Email, p.Phone = get("email"), get("phone")
	}
	if g, err := customer.NormalizeGender(get("gender")); err == nil {
		p.Gender = g
	}
	if b, err := customer.NormalizeBirthday(get("birthday")); err == nil {
		p.Birthday = b
	}
	if a, ok := t["address"].(map[string]any); ok {
		if pc, err := customer.NormalizePostalCode(str(a["postalCode"]) + str(a["postal_code"])); err == nil {
			p.PostalCode = pc
		}
		if pref, ok := customer.PrefectureFromLatin(str(a["state"])); ok {
			p.Prefecture = pref
		} else if pref, err := customer.NormalizePrefecture(str(a["state"])); err == nil {
			p.Prefecture = pref
		}
		p.City, p.Address1 = str(a["city"]), str(a["street"])
	}
	return p
}

// firstTouch reads the acquisition Segment puts in context.campaign (UTM
// parameters) and context.page.referrer. The JS tag sends the first touch it
// kept from the visitor's first page view.
func firstTouch(p *customer.Profile, ctx map[string]any) {
	if ctx == nil {
		return
	}
	c, _ := ctx["campaign"].(map[string]any)
	page, _ := ctx["page"].(map[string]any)
	p.AcqSource, p.AcqMedium, p.AcqCampaign = str(c["source"]), str(c["medium"]), str(c["name"])
	p.AcqReferrer = str(ctx["referrer"])
	if p.AcqReferrer == "" {
		p.AcqReferrer = str(page["referrer"])
	}
	if r, ok := ctx["referrer"].(map[string]any); ok {
		p.AcqReferrer = str(r["url"])
	}
	if p.AcqSource != "" || p.AcqMedium != "" || p.AcqCampaign != "" || p.AcqReferrer != "" {
		p.AcqChannel = acquisitionChannel(p.AcqSource, p.AcqMedium, p.AcqReferrer)
	}
}

// acquisitionChannel classifies a first touch the way analytics tools
// group traffic.
func acquisitionChannel(source, medium, referrer string) string {
	m := strings.ToLower(medium)
	s := strings.ToLower(source)
	switch {
	case m == "cpc" || m == "ppc" || m == "paid" || m == "paidsearch" || m == "paid_search":
		return "paid_search"
	case m == "email" || m == "mail" || m == "newsletter":
		return "email"
	case m == "line" || s == "line":
		return "line"
	case m == "social" || m == "sns" || m == "paid_social" || s == "instagram" || s == "facebook" || s == "x" || s == "twitter" || s == "tiktok":
		return "social"
	case m == "affiliate":
		return "affiliate"
	case m == "display" || m == "banner":
		return "display"
	case m != "":
		return m
	case s != "":
		return "referral"
	case referrer != "":
		for _, se := range []string{"google.", "yahoo.", "bing.", "duckduckgo."} {
			if strings.Contains(referrer, se) {
				return "organic_search"
			}
		}
		return "referral"
	}
	return ""
}

// plan turns validated messages into store records.
func (src segmentSource) plan(msgs []Message, receivedAt time.Time, p *batchPlan) {
	for i := range msgs {
		m := &msgs[i]
		at := m.OccurredAt(receivedAt)
		switch m.Type {
		case "identify":
			rec := src.actor(m, m.Traits, at)
			rec.Overwrite = src.trusted
			p.customers = append(p.customers, rec)
			if m.UserID != "" && m.AnonymousID != "" {
				p.stitch = append(p.stitch, m.AnonymousID)
			}
			continue
		case "alias":
			rec := customer.Record{Identifiers: []identity.Identifier{
				identity.ExternalID(src.userSource, m.UserID),
				{Kind: identity.Anonymous, Value: m.PreviousID, Weak: true},
			}, SeenAt: at}
			p.customers = append(p.customers, rec)
			p.stitch = append(p.stitch, m.PreviousID)
			continue
		}
		actor := src.actor(m, nil, at)
		if m.UserID != "" && m.AnonymousID != "" {
			p.stitch = append(p.stitch, m.AnonymousID)
		}
		if m.Type == "track" && m.Event == event.OrderCompleted {
			o, err := orderFromProperties("properties", m.Properties)
			if err == nil { // validated when accepted
				o.Source, o.OrderedAt, o.Buyer = src.name, at, actor
				p.orders = append(p.orders, o)
				continue
			}
		}
		e := event.Event{Type: m.Type, Name: m.Event, OccurredAt: at, Source: src.name, MessageID: m.MessageID,
			AnonymousID: m.AnonymousID, Properties: m.PropertiesRaw, Actor: actor}
		switch m.Type {
		case "page", "screen":
			props := m.Properties
			if props == nil {
				props = map[string]any{}
			}
			if m.Event != "" {
				props["name"] = m.Event
			}
			if m.Category != "" {
				props["category"] = m.Category
			}
			e.Properties, _ = json.Marshal(props)
			e.Name = event.PageViewed
			if m.Type == "screen" {
				e.Name = "Screen Viewed"
			}
		case "group":
			e.Name = "Group"
			e.Properties, _ = json.Marshal(m.Traits)
		}
		if m.Properties != nil {
			e.SKU = str(m.Properties["sku"])
			if e.SKU == "" && strings.HasPrefix(m.Event, "Product") {
				e.SKU = str(m.Properties["product_id"])
			}
		}
		p.events = append(p.events, e)
	}
}

// Caller is who sent an event API request.
type Caller struct {
	// Source names the write key's source: the key's name, lower-cased
	// (see SourceName). Events and orders are filed under it.
	Source string
	// Trusted callers (keys with the ingest:identify scope, used from a
	// server) may identify people by the e-mail and phone in traits. A
	// publishable key in a web page must not: anyone can read it.
	Trusted bool
}

// SourceName turns an API key's name into a source name: lower case,
// spaces as hyphens.
func SourceName(keyName string) string {
	s := strings.ToLower(strings.TrimSpace(keyName))
	s = strings.Join(strings.Fields(s), "-")
	if s == "" {
		return "api"
	}
	return s
}

// AcceptSegment validates an event API request and stores it in the inbox.
// call is identify, track, page, screen, group, alias or batch. It returns
// the number of messages accepted.
func (s *Service) AcceptSegment(ctx context.Context, c Caller, call string, body []byte) (int, error) {
	kind := KindSegmentPublic
	if c.Trusted {
		kind = KindSegment
	}
	msgs, err := ParseSegment(call, body)
	if err != nil {
		s.Reject(kind)
		return 0, err
	}
	if call == "import" {
		call = "batch"
	}
	if _, err := s.enqueue(ctx, store.InboxItem{Kind: kind, Source: c.Source, Topic: call, Body: body, Items: len(msgs), Priority: 1}); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

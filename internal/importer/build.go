package importer

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// builder turns rows into domain records. It caches normalizations that
// repeat across rows (a repeat buyer's e-mail and phone).
type builder struct {
	kind   Kind
	source string
	now    time.Time
	phones map[string]phoneResult
	cells  []string // scratch for personCells
}

type phoneResult struct {
	e164 string
	err  error
}

func (b *builder) phone(s string) (string, error) {
	if r, ok := b.phones[s]; ok {
		return r.e164, r.err
	}
	e, err := identity.NormalizePhone(s)
	if len(b.phones) > 100000 {
		clear(b.phones)
	}
	// A copy: s points into its row's text, which the key would keep alive.
	b.phones[strings.Clone(s)] = phoneResult{e, err}
	return e, err
}

// buyerFields are the fields person reads (besides attr.* columns).
var buyerFields = []Field{FCustomerID, FEmail, FPhone, FLineUserID, FAnonymousID, FLastName, FFirstName, FName,
	FLastNameKana, FFirstNameKana, FNameKana, FBirthday, FGender, FPostalCode, FPrefecture, FCity, FAddress1, FAddress2,
	FAcqChannel, FAcqSource, FAcqMedium, FAcqCampaign, FAcqReferrer, FConsentAt, FEmailOptIn, FSMSOptIn, FLineOptIn,
	FDMOptIn, FPushOptIn, FConsentWording, FTags}

// personCells returns the raw cells person reads from a row, or nil when
// the row's values do not all come from its cells (a layout's Transform
// overrode some).
func personCells(r *Row, buf []string) []string {
	if r.over != nil {
		return nil
	}
	if r.b.personCols == nil {
		cols := []int{}
		for _, f := range buyerFields {
			if i := r.b.idx[f]; i >= 0 {
				cols = append(cols, i)
			}
		}
		for _, i := range r.b.attrs {
			cols = append(cols, i)
		}
		r.b.personCols = cols
	}
	buf = buf[:0]
	for _, i := range r.b.personCols {
		v := ""
		if i < len(r.rec) {
			v = r.rec[i]
		}
		buf = append(buf, v)
	}
	return buf
}

// person reads the customer columns of a row.
func (b *builder) person(r *Row, errsOut *[]fieldError) customer.Record {
	var rec customer.Record
	bad := func(f Field, err error) { *errsOut = append(*errsOut, ferr(b.kind, f, err)) }
	if v := r.Get(FCustomerID); v != "" {
		rec.Identifiers = append(rec.Identifiers, identity.ExternalID(b.source, v))
	}
	if v := r.Get(FEmail); v != "" {
		if id, err := identity.EmailID(v); err != nil {
			bad(FEmail, err)
		} else {
			rec.Identifiers = append(rec.Identifiers, id)
			rec.Profile.Email = id.Value
		}
	}
	if v := r.Get(FPhone); v != "" {
		if p, err := b.phone(v); err != nil {
			bad(FPhone, err)
		} else {
			rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Phone, Value: p})
			rec.Profile.Phone = p
		}
	}
	if v := r.Get(FLineUserID); v != "" {
		rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Line, Source: b.source, Value: v})
	}
	if v := r.Get(FAnonymousID); v != "" {
		rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: v, Weak: true})
	}
	p := &rec.Profile
	p.LastName, p.FirstName = jtext.Clean(r.Get(FLastName)), jtext.Clean(r.Get(FFirstName))
	if p.LastName == "" && p.FirstName == "" {
		p.LastName, p.FirstName = customer.SplitName(jtext.Clean(r.Get(FName)))
	}
	p.LastNameKana, p.FirstNameKana = jtext.Clean(r.Get(FLastNameKana)), jtext.Clean(r.Get(FFirstNameKana))
	if p.LastNameKana == "" && p.FirstNameKana == "" {
		p.LastNameKana, p.FirstNameKana = customer.SplitName(jtext.Clean(r.Get(FNameKana)))
	}
	var err error
	if p.Birthday, err = customer.NormalizeBirthday(r.Get(FBirthday)); err != nil {
		bad(FBirthday, err)
	}
	if p.Gender, err = customer.NormalizeGender(r.Get(FGender)); err != nil {
		bad(FGender, err)
	}
	if p.PostalCode, err = customer.NormalizePostalCode(r.Get(FPostalCode)); err != nil {
		bad(FPostalCode, err)
	}
	if p.Prefecture, err = customer.NormalizePrefecture(r.Get(FPrefecture)); err != nil {
		bad(FPrefecture, err)
	}
	p.City, p.Address1, p.Address2 = jtext.Clean(r.Get(FCity)), jtext.Clean(r.Get(FAddress1)), jtext.Clean(r.Get(FAddress2))
	p.AcqChannel, p.AcqSource, p.AcqMedium = r.Get(FAcqChannel), r.Get(FAcqSource), r.Get(FAcqMedium)
	p.AcqCampaign, p.AcqReferrer = r.Get(FAcqCampaign), r.Get(FAcqReferrer)

	var consentAt time.Time
	if v := r.Get(FConsentAt); v != "" {
		if consentAt, err = order.ParseTime(v); err != nil {
			bad(FConsentAt, err)
		}
	}
	for _, c := range []struct {
		f  Field
		ch string
	}{{FEmailOptIn, customer.ChannelEmail}, {FSMSOptIn, customer.ChannelSMS}, {FLineOptIn, customer.ChannelLine}, {FDMOptIn, customer.ChannelDM}, {FPushOptIn, customer.ChannelPush}} {
		v := r.Get(c.f)
		if v == "" {
			continue
		}
		granted, err := parseBool(v)
		if err != nil {
			bad(c.f, err)
			continue
		}
		rec.Consents = append(rec.Consents, customer.Consent{Channel: c.ch, Granted: granted, RecordedAt: consentAt,
			Method: "import", Source: b.source, WordingVersion: r.Get(FConsentWording)})
	}
	if v := r.Get(FTags); v != "" {
		for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '|' || r == '、' }) {
			if t = strings.TrimSpace(t); t != "" {
				rec.Tags = append(rec.Tags, t)
			}
		}
	}
	rec.Attributes = r.attrs()
	return rec
}

// parseBool reads the ways exports say yes and no.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(jtext.NFKC(strings.TrimSpace(s))) {
	case "1", "true", "yes", "y", "on", "はい", "希望する", "受け取る", "許可", "同意", "subscribed", "opted_in", "○":
		return true, nil
	case "0", "false", "no", "n", "off", "いいえ", "希望しない", "受け取らない", "拒否", "unsubscribed", "not_subscribed", "opted_out", "×":
		return false, nil
	}
	return false, errs.Errorf(errs.Invalid, "%q is not yes or no (use 1/0, true/false, はい/いいえ)", s)
}

// orderGroup collects the rows of one order.
type orderGroup struct {
	id       string
	rows     []*rawRow
	bad      []int // indexes into rows with errors
	o        order.Order
	firstSet map[Field]string // order-level values as first seen
	// person holds the buyer cells of the last row whose buyer was read
	// without errors: a row repeating them adds nothing to the buyer.
	person []string
}

type rawRow struct {
	line   int
	rec    []string
	errors []fieldError
}

// orderFields are the order-level fields that every line of an order must
// agree on (empty cells inherit from the first line that has a value).
var orderFields = []Field{FOrderedAt, FStatus, FChannel, FShopID, FCurrency, FTotal, FDiscount, FShipping, FTax, FPointsUsed, FCouponCode,
	FCustomerID, FEmail, FPhone, FSubscriptionID, FDeliveryNumber}

// addOrderRow folds one row into its order's group. Errors already on raw
// (from the layout's Transform) count as the row's own.
func (b *builder) addOrderRow(g *orderGroup, r *Row, raw *rawRow) {
	fe := raw.errors
	if g.firstSet == nil {
		g.firstSet = map[Field]string{}
	}
	for _, f := range orderFields {
		v := r.Get(f)
		if v == "" {
			continue
		}
		if first, ok := g.firstSet[f]; ok {
			if first != v {
				fe = append(fe, fieldError{field: FieldName(Orders, f), msg: "differs from an earlier line of order " + g.id + " (" + first + ")"})
			}
			continue
		}
		g.firstSet[f] = v
		switch f {
		case FOrderedAt:
			t, err := order.ParseTime(v)
			if err != nil {
				fe = append(fe, ferr(Orders, f, err))
			}
			g.o.OrderedAt = t
		case FStatus:
			st, err := order.ParseStatus(v)
			if err != nil {
				fe = append(fe, ferr(Orders, f, err))
			}
			g.o.Status = st
		case FChannel:
			g.o.Channel = order.NormalizeChannel(v)
		case FShopID:
			g.o.ShopID = v
		case FCurrency:
			g.o.Currency = strings.ToUpper(v)
		case FCouponCode:
			g.o.CouponCode = v
		case FSubscriptionID:
			g.o.SubscriptionID = jtext.NFKC(v)
		case FDeliveryNumber:
			n, err := order.ParseQuantity(v)
			if err != nil || n > 10000 {
				fe = append(fe, fieldError{field: "delivery_number", msg: "\"" + v + "\" is not a delivery number (1, 2, 3 …)"})
			}
			g.o.DeliveryNumber = int(n)
		case FTotal, FDiscount, FShipping, FTax, FPointsUsed:
			n, err := order.ParseYen(v)
			if err != nil {
				fe = append(fe, ferr(Orders, f, err))
			}
			switch f {
			case FTotal:
				g.o.Total = n
			case FDiscount:
				g.o.Discount = abs(n)
			case FShipping:
				g.o.Shipping = n
			case FTax:
				g.o.Tax = n
			case FPointsUsed:
				g.o.PointsUsed = abs(n)
			}
		}
	}
	// The buyer: every row may add details (later exports repeat them).
	// Most rows repeat the cells of a row read before without errors;
	// reading them again would add nothing and find nothing, so they are
	// skipped.
	cells := personCells(r, b.cells)
	b.cells = cells
	if cells == nil || g.person == nil || !slices.Equal(cells, g.person) {
		n := len(fe)
		buyer := b.person(r, &fe)
		g.person = nil
		if cells != nil && len(fe) == n {
			g.person = slices.Clone(cells)
		}
		if len(g.rows) == 0 {
			g.o.Buyer = buyer
		} else {
			g.o.Buyer.Profile.Fill(buyer.Profile)
			g.o.Buyer.Consents = append(g.o.Buyer.Consents, buyer.Consents...)
			g.o.Buyer.Tags = append(g.o.Buyer.Tags, buyer.Tags...)
			for _, id := range buyer.Identifiers {
				if !hasIdentifier(g.o.Buyer.Identifiers, id) {
					g.o.Buyer.Identifiers = append(g.o.Buyer.Identifiers, id)
				}
			}
		}
	}
	if l, lerrs := lineOf(r); len(lerrs) > 0 {
		fe = append(fe, lerrs...)
	} else if l != nil {
		l.LineNo = len(g.o.Lines) + 1
		g.o.Lines = append(g.o.Lines, *l)
	}
	raw.errors = fe
	if len(fe) > 0 {
		g.bad = append(g.bad, len(g.rows))
	}
	g.rows = append(g.rows, raw)
}

func hasIdentifier(ids []identity.Identifier, id identity.Identifier) bool {
	for _, x := range ids {
		if x.Key() == id.Key() {
			return true
		}
	}
	return false
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// lineOf reads a row's line item; a row without line columns is an
// order-level row and yields nil.
func lineOf(r *Row) (*order.Line, []fieldError) {
	sku, name, qty, price, amount := r.Get(FSKU), jtext.Clean(r.Get(FProductName)), r.Get(FQuantity), r.Get(FUnitPrice), r.Get(FAmount)
	if sku == "" && name == "" && qty == "" && price == "" && amount == "" {
		return nil, nil
	}
	var fe []fieldError
	l := &order.Line{SKU: jtext.NFKC(sku), ProductName: name, Category: jtext.Clean(r.Get(FCategory)), Quantity: 1}
	if sku == "" && name == "" {
		fe = append(fe, fieldError{field: "sku", msg: "a line needs a sku or a product_name"})
	}
	var err error
	if qty != "" {
		if l.Quantity, err = order.ParseQuantity(qty); err != nil {
			fe = append(fe, ferr(Orders, FQuantity, err))
		}
	}
	if price != "" {
		if l.UnitPrice, err = order.ParseYen(price); err != nil {
			fe = append(fe, ferr(Orders, FUnitPrice, err))
		}
	}
	if amount != "" {
		if l.Amount, err = order.ParseYen(amount); err != nil {
			fe = append(fe, ferr(Orders, FAmount, err))
		}
		if price == "" && l.Quantity > 0 {
			l.UnitPrice = l.Amount / l.Quantity
		}
	} else {
		if price == "" {
			fe = append(fe, fieldError{field: "unit_price", msg: "a line needs a unit_price or an amount"})
		}
		l.Amount = l.Quantity * l.UnitPrice
	}
	return l, fe
}

// finishOrder checks the order as a whole once all its rows are in.
func (b *builder) finishOrder(g *orderGroup, defaultChannel string) {
	o := &g.o
	o.Source, o.ExternalID = b.source, g.id
	if o.Status == "" {
		o.Status = order.Paid
	}
	if o.Currency == "" {
		o.Currency = "JPY"
	}
	if o.Channel == "" {
		o.Channel = defaultChannel
	}
	var whole []fieldError
	if _, ok := g.firstSet[FOrderedAt]; !ok {
		whole = append(whole, fieldError{field: "ordered_at", msg: "order " + g.id + " has no order date"})
	}
	if _, ok := g.firstSet[FTotal]; !ok {
		if len(o.Lines) == 0 {
			whole = append(whole, fieldError{field: "total", msg: "order " + g.id + " has neither a total nor lines"})
		}
		for _, l := range o.Lines {
			o.Total += l.Amount
		}
		o.Total += o.Shipping - o.Discount - o.PointsUsed
	}
	if o.Buyer.Empty() && len(g.bad) == 0 {
		whole = append(whole, fieldError{field: "customer_id", msg: "order " + g.id + " names no customer (customer_id, email or phone)"})
	}
	if len(whole) > 0 {
		g.rows[0].errors = append(g.rows[0].errors, whole...)
		g.bad = append([]int{0}, g.bad...)
	}
}

func (b *builder) customerRecord(r *Row) (customer.Record, []fieldError) {
	var fe []fieldError
	rec := b.person(r, &fe)
	rec.Overwrite = true
	if v := r.Get(FCustomerCreatedAt); v != "" {
		t, err := order.ParseTime(v)
		if err != nil {
			fe = append(fe, ferr(Customers, FCustomerCreatedAt, err))
		}
		rec.SeenAt = t
	}
	if len(fe) == 0 && rec.Empty() {
		fe = append(fe, fieldError{field: "customer_id", msg: "a customer needs a customer_id, email, phone or line_user_id"})
	}
	return rec, fe
}

func (b *builder) productOf(r *Row) (product.Product, []fieldError) {
	var fe []fieldError
	p := product.Product{SKU: jtext.NFKC(r.Get(FSKU)), Name: jtext.Clean(r.Get(FProductName)), Category: jtext.Clean(r.Get(FCategory)),
		URL: r.Get(FURL), ImageURL: r.Get(FImageURL)}
	if p.SKU == "" {
		fe = append(fe, fieldError{field: "sku", msg: "empty"})
	}
	if v := r.Get(FPrice); v != "" {
		n, err := order.ParseYen(v)
		if err != nil {
			fe = append(fe, ferr(Products, FPrice, err))
		}
		p.Price = n
	}
	if v := r.Get(FReplenishmentDays); v != "" {
		n, err := order.ParseQuantity(v)
		if err != nil || n > 3650 {
			fe = append(fe, fieldError{field: "replenishment_days", msg: "\"" + v + "\" is not a number of days (1–3650)"})
		}
		p.ReplenishmentDays = int(n)
	}
	return p, fe
}

func (b *builder) eventOf(r *Row) (event.Event, []fieldError) {
	var fe []fieldError
	e := event.Event{Source: b.source, MessageID: r.Get(FEventID), Name: event.NormalizeName(r.Get(FEventName)),
		SKU: jtext.NFKC(r.Get(FSKU)), AnonymousID: r.Get(FAnonymousID), Type: strings.ToLower(r.Get(FEventType))}
	e.Actor = b.person(r, &fe)
	if e.Name == "" {
		fe = append(fe, fieldError{field: "event", msg: "empty"})
	}
	t, err := order.ParseTime(r.Get(FOccurredAt))
	if err != nil {
		fe = append(fe, ferr(Events, FOccurredAt, err))
	}
	e.OccurredAt = t
	if e.Type == "" {
		e.Type = "track"
		if e.Name == event.PageViewed {
			e.Type = "page"
		}
	}
	props := map[string]any{}
	if v := r.Get(FProperties); v != "" {
		if err := json.Unmarshal([]byte(v), &props); err != nil {
			fe = append(fe, fieldError{field: "properties", msg: "not a JSON object: " + err.Error()})
		}
	}
	if u := r.Get(FURL); u != "" {
		props["url"] = u
	}
	if len(props) > 0 {
		e.Properties, _ = json.Marshal(props)
	}
	if e.Actor.Empty() && len(fe) == 0 {
		fe = append(fe, fieldError{field: "customer_id", msg: "an event needs a customer_id, email, phone or anonymous_id"})
	}
	if e.MessageID == "" && len(fe) == 0 {
		// Without an id, the row's content is its identity: importing the
		// same file again must not add the event twice.
		e.MessageID = "row:" + contentKey(r.rec)
	}
	return e, fe
}

// subscriptionOf reads a contract row: the contract's whole state as the
// cart exports it.
func (b *builder) subscriptionOf(r *Row) (subscription.Update, []fieldError) {
	var fe []fieldError
	bad := func(f Field, err error) { fe = append(fe, ferr(Subscriptions, f, err)) }
	u := subscription.Update{Source: b.source, ExternalID: jtext.NFKC(r.Get(FSubscriptionID))}
	u.Buyer = b.person(r, &fe)
	text := func(f Field) *string { v := jtext.Clean(r.Get(f)); return &v }
	sku := jtext.NFKC(r.Get(FSKU))
	u.SKU, u.ProductName, u.Plan, u.CancelReason = &sku, text(FProductName), text(FPlan), text(FCancelReason)
	if v := r.Get(FCycle); v != "" {
		c, err := subscription.ParseCycle(v)
		if err != nil {
			bad(FCycle, err)
		}
		u.Cycle = &c
	}
	q, price := int64(1), int64(0)
	if v := r.Get(FQuantity); v != "" {
		n, err := order.ParseQuantity(v)
		if err != nil {
			bad(FQuantity, err)
		}
		q = n
	}
	if v := r.Get(FPrice); v != "" {
		n, err := order.ParseYen(v)
		if err != nil {
			bad(FPrice, err)
		}
		price = n
	}
	u.Quantity, u.Price = &q, &price
	times := []struct {
		f   Field
		dst **time.Time
	}{{FStartedAt, &u.StartedAt}, {FNextDeliveryAt, &u.NextDeliveryAt}, {FCancelledAt, &u.CancelledAt}}
	for _, t := range times {
		if v := r.Get(t.f); v != "" {
			at, err := order.ParseTime(v)
			if err != nil {
				bad(t.f, err)
				continue
			}
			*t.dst = &at
		}
	}
	if v := r.Get(FUpdatedAt); v != "" {
		at, err := order.ParseTime(v)
		if err != nil {
			bad(FUpdatedAt, err)
		}
		u.At = at
	}
	for _, n := range []struct {
		f   Field
		dst **int
	}{{FDeliveries, &u.Deliveries}, {FSkips, &u.Skips}} {
		v := r.Get(n.f)
		if v == "" {
			v = "0"
		}
		k, err := strconv.Atoi(strings.TrimSpace(jtext.NFKC(strings.TrimSuffix(v, "回"))))
		if err != nil || k < 0 || k > 10000 {
			fe = append(fe, fieldError{field: FieldName(Subscriptions, n.f), msg: "\"" + v + "\" is not a count (0, 1, 2 …)"})
		}
		*n.dst = &k
	}
	st := subscription.Active
	if v := r.Get(FStatus); v != "" {
		s, err := subscription.ParseStatus(v)
		if err != nil {
			bad(FStatus, err)
		}
		st = s
	} else if u.CancelledAt != nil {
		st = subscription.Cancelled
	}
	u.Status = &st
	if len(fe) == 0 {
		if u.Buyer.Empty() {
			fe = append(fe, fieldError{field: "customer_id", msg: "a subscription needs a customer_id, email, phone or line_user_id"})
		} else if err := u.Apply(&subscription.Contract{ExternalID: u.ExternalID}); err != nil {
			fe = append(fe, transformErrors(err)...)
		}
	}
	return u, fe
}

// reviewOf reads a review row.
func (b *builder) reviewOf(r *Row) (review.Review, []fieldError) {
	var fe []fieldError
	v := review.Review{Source: b.source, ExternalID: r.Get(FReviewID), SKU: jtext.NFKC(r.Get(FSKU)), ProductName: jtext.Clean(r.Get(FProductName)),
		Title: strings.TrimSpace(r.Get(FTitle)), Body: strings.TrimSpace(r.Get(FBody)), ReviewerName: jtext.Clean(r.Get(FReviewerName))}
	v.Reviewer = b.person(r, &fe)
	n, err := review.ParseRating(r.Get(FRating))
	if err != nil {
		fe = append(fe, ferr(Reviews, FRating, err))
	}
	v.Rating = n
	if v.ReviewedAt, err = order.ParseTime(r.Get(FReviewedAt)); err != nil {
		fe = append(fe, ferr(Reviews, FReviewedAt, err))
	}
	if v.ExternalID == "" {
		// Without an id, the row's content is its identity (as for events).
		v.ExternalID = "row:" + contentKey(r.rec)
	}
	if len(fe) == 0 {
		if err := v.Validate(); err != nil {
			fe = append(fe, transformErrors(err)...)
		}
	}
	return v, fe
}

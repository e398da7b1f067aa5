// Package order holds orders and their line items as a shop's systems report
// them, and the rules for reading their fields.
package order

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/jtext"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
)

// Status of an order. Only Paid orders count in aggregates and reports.
type Status string

// Order statuses.
const (
	Pending   Status = "pending" // placed, not yet paid (代引き, 振込待ち)
	Paid      Status = "paid"
	Cancelled Status = "cancelled"
	Refunded  Status = "refunded"
)

// statusWords maps the ways exports name statuses to ours.
var statusWords = map[string]Status{
	"pending": Pending, "unpaid": Pending, "authorized": Pending, "新規受付": Pending, "未処理": Pending,
	"決済処理中": Pending, "購入処理中": Pending, "入金待ち": Pending, "新規受付中": Pending,
	"paid": Paid, "completed": Paid, "complete": Paid, "fulfilled": Paid, "shipped": Paid, "closed": Paid,
	"partially_refunded": Paid, "partially_paid": Paid, "入金済み": Paid, "発送済み": Paid,
	"対応中": Paid, "配送": Paid, "発送済": Paid, "完了": Paid, "出荷済": Paid, "出荷済み": Paid,
	"cancelled": Cancelled, "canceled": Cancelled, "voided": Cancelled, "注文取消し": Cancelled,
	"キャンセル": Cancelled, "注文キャンセル": Cancelled, "取消": Cancelled,
	"refunded": Refunded, "returned": Refunded, "返品": Refunded, "返送": Refunded, "返金": Refunded, "返金済み": Refunded,
}

// ParseStatus reads a status; empty means paid (most exports list only
// completed orders).
func ParseStatus(s string) (Status, error) {
	k := strings.ToLower(strings.TrimSpace(jtext.NFKC(s)))
	if k == "" {
		return Paid, nil
	}
	if st, ok := statusWords[k]; ok {
		return st, nil
	}
	return "", errs.Errorf(errs.Invalid, "%q is not an order status (use paid, pending, cancelled or refunded)", s)
}

// Sales channels (販売チャネル). Other values are kept as given, lower-cased.
const (
	ChannelOwnEC   = "own_ec"
	ChannelRakuten = "rakuten"
	ChannelAmazon  = "amazon"
	ChannelYahoo   = "yahoo"
	ChannelPOS     = "pos"
)

// NormalizeChannel lower-cases a channel name and maps common aliases.
func NormalizeChannel(s string) string {
	c := strings.ToLower(strings.TrimSpace(jtext.NFKC(s)))
	switch c {
	case "", "ec", "web", "online", "own", "自社ec", "自社", "shopify", "ec-cube", "makeshop", "futureshop", "base", "stores":
		if c == "" {
			return ""
		}
		return ChannelOwnEC
	case "楽天", "楽天市場":
		return ChannelRakuten
	case "アマゾン":
		return ChannelAmazon
	case "yahoo!", "yahoo!ショッピング", "ヤフー":
		return ChannelYahoo
	case "store", "shop", "店舗", "実店舗":
		return ChannelPOS
	}
	return strings.ReplaceAll(c, " ", "_")
}

// Line is one line item.
type Line struct {
	LineNo      int    `json:"line_no"`
	SKU         string `json:"sku"`
	ProductName string `json:"product_name"`
	Category    string `json:"category"`
	Quantity    int64  `json:"quantity"`
	UnitPrice   int64  `json:"unit_price"`
	Amount      int64  `json:"amount"` // quantity × unit price unless the source says otherwise
}

// Order is one order with its lines and the buyer as the source knows them.
type Order struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`      // the system the order came from (enishi, shopify, rakuten …)
	ExternalID string    `json:"external_id"` // the order number in that system
	CustomerID int64     `json:"customer_id"`
	OrderedAt  time.Time `json:"ordered_at"`
	Status     Status    `json:"status"`
	Channel    string    `json:"channel"`
	ShopID     string    `json:"shop_id"`
	Currency   string    `json:"currency"`
	Total      int64     `json:"total"`
	Discount   int64     `json:"discount"`
	Shipping   int64     `json:"shipping"`
	Tax        int64     `json:"tax"`
	PointsUsed int64     `json:"points_used"`
	CouponCode string    `json:"coupon_code"`
	Lines      []Line    `json:"lines"`
	// SubscriptionID is the number (in Source) of the subscription contract
	// this order delivers (定期受注番号); DeliveryNumber which delivery it is
	// (定期回数, 0 when the source does not say: the next one).
	SubscriptionID string `json:"subscription_id,omitempty"`
	DeliveryNumber int    `json:"delivery_number,omitempty"`

	// Buyer is who placed the order, for identity resolution; not stored as such.
	Buyer customer.Record `json:"-"`
}

// Hash is a fingerprint of the order's stored content, so that importing the
// same order again is recognised as no change.
func (o *Order) Hash() int64 {
	h := fnv.New64a()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	i := func(n int64) { w(strconv.FormatInt(n, 10)) }
	w(o.OrderedAt.UTC().Format(time.RFC3339Nano))
	w(string(o.Status))
	w(o.Channel)
	w(o.ShopID)
	w(o.Currency)
	i(o.Total)
	i(o.Discount)
	i(o.Shipping)
	i(o.Tax)
	i(o.PointsUsed)
	w(o.CouponCode)
	for _, l := range o.Lines {
		i(int64(l.LineNo))
		w(l.SKU)
		w(l.ProductName)
		w(l.Category)
		i(l.Quantity)
		i(l.UnitPrice)
		i(l.Amount)
	}
	if o.SubscriptionID != "" { // only when set, so that other orders' hashes stay as they were
		w("subscription")
		w(o.SubscriptionID)
		i(int64(o.DeliveryNumber))
	}
	return int64(h.Sum64() >> 1)
}

// ParseTime reads RFC 3339, "YYYY-MM-DD HH:MM:SS" and "YYYY-MM-DD" (also with
// slashes, as Japanese exports write them); times without a zone are
// Asia/Tokyo.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(jtext.NFKC(s))
	if s == "" {
		return time.Time{}, errs.Errorf(errs.Invalid, "empty date")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, clock.Tokyo); err == nil {
			return t.UTC(), nil
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 -07:00", "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errs.Errorf(errs.Invalid, "%q is not a date and time (use 2006-01-02 15:04:05, 2006-01-02 or RFC 3339)", s)
}

var localLayouts = []string{
	"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", "2006-01-02T15:04:05",
	"2006/01/02 15:04:05", "2006/1/2 15:04:05", "2006/01/02 15:04", "2006/1/2 15:04", "2006/01/02", "2006/1/2",
	"20060102", "20060102150405", "2006-01-02 15:04:05.000",
}

// ParseYen reads an amount of yen: digits with optional sign, thousands
// separators, a yen sign or 円, full-width digits. Decimal fractions are
// refused unless they are zero, since yen has no minor unit.
func ParseYen(s string) (int64, error) {
	t := strings.TrimSpace(jtext.NFKC(s))
	t = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(t, "¥"), "\\"), "円")
	t = strings.ReplaceAll(t, ",", "")
	if t == "" {
		return 0, errs.Errorf(errs.Invalid, "empty amount")
	}
	if i := strings.IndexByte(t, '.'); i >= 0 {
		if strings.Trim(t[i+1:], "0") != "" {
			return 0, errs.Errorf(errs.Invalid, "%q has a fraction of a yen", s)
		}
		t = t[:i]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, errs.Errorf(errs.Invalid, "%q is not an amount of yen", s)
	}
	return n, nil
}

// ParseQuantity reads a positive whole quantity.
func ParseQuantity(s string) (int64, error) {
	t := strings.TrimSpace(jtext.NFKC(s))
	n, err := strconv.ParseInt(strings.ReplaceAll(t, ",", ""), 10, 64)
	if err != nil || n <= 0 {
		return 0, errs.Errorf(errs.Invalid, "%q is not a quantity (a whole number above 0)", s)
	}
	return n, nil
}

package loyalty

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/order"
)

// CodeMode says how a campaign's codes are made.
type CodeMode string

// Code modes.
const (
	// Unique campaigns have one generated code per coupon (一人一コード):
	// unguessable, each usable by the customer it is issued to.
	Unique CodeMode = "unique"
	// Shared campaigns have one code everyone types (共通コード).
	Shared CodeMode = "shared"
)

// DiscountType says what a coupon takes off.
type DiscountType string

// Discount types.
const (
	AmountOff  DiscountType = "amount"  // Value yen off (円引き)
	PercentOff DiscountType = "percent" // Value percent off (%OFF)
)

// Campaign is a coupon campaign (クーポン施策).
type Campaign struct {
	ID           int64        `json:"id"`
	Name         string       `json:"name"`
	Mode         CodeMode     `json:"mode"`
	SharedCode   string       `json:"shared_code,omitempty"` // the code of a shared campaign
	DiscountType DiscountType `json:"discount_type"`
	Value        int64        `json:"value"`
	// MinOrder is the smallest subtotal (yen) the coupon applies to.
	MinOrder int64      `json:"min_order"`
	StartsAt *time.Time `json:"starts_at,omitempty"`
	EndsAt   *time.Time `json:"ends_at,omitempty"` // first instant it no longer applies
	// PerCustomerLimit and TotalLimit cap redemptions (0: no limit).
	PerCustomerLimit int `json:"per_customer_limit"`
	TotalLimit       int `json:"total_limit"`
	// SKUs and Categories scope the discount to matching lines (all lines
	// when both are empty).
	SKUs       []string `json:"skus"`
	Categories []string `json:"categories"`
	// Ranks, when set, make the campaign exclusive to customers holding one
	// of these rank codes (ランク限定クーポン).
	Ranks []string `json:"ranks"`
	// ShopifyPriceRuleID is the Shopify price rule the codes are written
	// to as discount codes (empty: not synced).
	ShopifyPriceRuleID string    `json:"shopify_price_rule_id,omitempty"`
	CreatedBy          string    `json:"created_by,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
}

// Validate checks a campaign and normalises its codes and lists.
func (c *Campaign) Validate() error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return errs.FieldErrorf("name", "required")
	}
	switch c.Mode {
	case Unique:
		if c.SharedCode != "" {
			return errs.FieldErrorf("shared_code", "only for shared campaigns")
		}
	case Shared:
		c.SharedCode = NormalizeCode(c.SharedCode)
		if err := checkCode(c.SharedCode); err != nil {
			return err
		}
	default:
		return errs.FieldErrorf("mode", "%q is not unique or shared", c.Mode)
	}
	switch c.DiscountType {
	case AmountOff:
		if c.Value <= 0 {
			return errs.FieldErrorf("value", "yen off must be above 0")
		}
	case PercentOff:
		if c.Value <= 0 || c.Value > 100 {
			return errs.FieldErrorf("value", "percent off must be 1–100")
		}
	default:
		return errs.FieldErrorf("discount_type", "%q is not amount or percent", c.DiscountType)
	}
	if c.MinOrder < 0 {
		return errs.FieldErrorf("min_order", "must not be negative")
	}
	if c.StartsAt != nil && c.EndsAt != nil && !c.EndsAt.After(*c.StartsAt) {
		return errs.FieldErrorf("ends_at", "must be after starts_at")
	}
	if c.PerCustomerLimit < 0 || c.TotalLimit < 0 {
		return errs.FieldErrorf("limits", "must not be negative (0 means no limit)")
	}
	c.SKUs, c.Categories, c.Ranks = cleanList(c.SKUs), cleanList(c.Categories), cleanList(c.Ranks)
	for i, r := range c.Ranks {
		c.Ranks[i] = strings.ToLower(r)
	}
	c.ShopifyPriceRuleID = strings.TrimSpace(c.ShopifyPriceRuleID)
	for _, r := range c.ShopifyPriceRuleID {
		if r < '0' || r > '9' {
			return errs.FieldErrorf("shopify_price_rule_id", "must be the numeric id of a Shopify price rule")
		}
	}
	return nil
}

func cleanList(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !hasFold(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Active reports whether the campaign applies at t.
func (c *Campaign) Active(t time.Time) bool {
	return (c.StartsAt == nil || !t.Before(*c.StartsAt)) && (c.EndsAt == nil || t.Before(*c.EndsAt))
}

// CodeAlphabet is the characters of generated codes: upper-case letters
// and digits without the look-alikes 0/O, 1/I/L, so a code read aloud or
// copied from paper survives. 31 characters.
const CodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// CodeLength is the length of generated codes: 31^12 ≈ 2^59, so codes
// cannot be guessed even with millions issued.
const CodeLength = 12

// GenerateCode returns a code of CodeLength characters from CodeAlphabet,
// drawn from crypto/rand without modulo bias, after prefix (normalised).
func GenerateCode(prefix string) (string, error) {
	const limit = 256 - 256%len(CodeAlphabet) // accept bytes below this
	b := make([]byte, 0, CodeLength)
	buf := make([]byte, CodeLength*2)
	for len(b) < CodeLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate coupon code: %w", err)
		}
		for _, x := range buf {
			if int(x) < limit && len(b) < CodeLength {
				b = append(b, CodeAlphabet[int(x)%len(CodeAlphabet)])
			}
		}
	}
	return NormalizeCode(prefix) + string(b), nil
}

// CheckPrefix validates a prefix for generated codes.
func CheckPrefix(p string) error {
	p = NormalizeCode(p)
	if len(p) > 12 {
		return errs.FieldErrorf("prefix", "at most 12 characters")
	}
	return codeChars("prefix", p)
}

// codeChars checks that a code (or prefix) holds only letters, digits, -
// and _, which every shop system accepts.
func codeChars(field, s string) error {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errs.FieldErrorf(field, "letters, digits, - and _ only")
		}
	}
	return nil
}

// NormalizeCode makes codes comparable: full-width to half-width, trimmed,
// upper-case (codes are case-insensitive, as Shopify's are).
func NormalizeCode(s string) string { return strings.ToUpper(strings.TrimSpace(jtext.NFKC(s))) }

func checkCode(code string) error {
	if len(code) < 3 || len(code) > 64 {
		return errs.FieldErrorf("shared_code", "must be 3–64 characters")
	}
	return codeChars("shared_code", code)
}

// Coupon is one code of a campaign, or one customer's issue of a shared
// code. A coupon with a customer has been issued (配布) to them.
type Coupon struct {
	ID           int64      `json:"id"`
	CampaignID   int64      `json:"campaign_id"`
	CampaignName string     `json:"campaign_name,omitempty"`
	Code         string     `json:"code"`
	CustomerID   int64      `json:"customer_id,omitempty"`
	IssuedAt     *time.Time `json:"issued_at,omitempty"`
	IssuedBy     string     `json:"issued_by,omitempty"`
	Redemptions  int        `json:"redemptions"`
	EndsAt       *time.Time `json:"ends_at,omitempty"`
	// Status is unused, used or expired (for issued coupons), available
	// (generated, not issued).
	Status    string     `json:"status"`
	ShopifyID string     `json:"shopify_id,omitempty"`
	SyncedAt  *time.Time `json:"synced_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// Coupon statuses.
const (
	CouponAvailable = "available"
	CouponUnused    = "unused"
	CouponUsed      = "used"
	CouponExpired   = "expired"
)

// StatusAt works out a coupon's status at now.
func (c *Coupon) StatusAt(now time.Time) string {
	switch {
	case c.Redemptions > 0:
		return CouponUsed
	case c.EndsAt != nil && !now.Before(*c.EndsAt):
		return CouponExpired
	case c.CustomerID == 0:
		return CouponAvailable
	}
	return CouponUnused
}

// IssueRequest gives a coupon of a campaign to a customer: for a unique
// campaign a code of its own (generated if none is left), for a shared one
// the shared code, recorded as issued to them. Key, if set, makes the call
// idempotent (a journey step retried issues once).
type IssueRequest struct {
	CampaignID int64  `json:"campaign_id"`
	CustomerID int64  `json:"customer_id"`
	Key        string `json:"key,omitempty"`
	Actor      string `json:"-"`
}

// Cart is what a coupon is checked against at checkout.
type Cart struct {
	Code       string       `json:"code"`
	CustomerID int64        `json:"customer_id,omitempty"`
	Subtotal   int64        `json:"subtotal"` // goods, yen, before the coupon
	Lines      []order.Line `json:"lines,omitempty"`
}

// Usage is how often a campaign has been redeemed.
type Usage struct {
	Total       int // by anyone
	ByCustomer  int // by the cart's customer
	IssuedTo    int64
	CustomerRnk string // the customer's rank code
}

// Verdict is whether a code applies to a cart and what it takes off.
type Verdict struct {
	Valid      bool   `json:"valid"`
	Reason     string `json:"reason,omitempty"` // why not: one of the Reason* codes
	Message    string `json:"message,omitempty"`
	CampaignID int64  `json:"campaign_id,omitempty"`
	Discount   int64  `json:"discount"`
}

// Reasons a coupon does not apply.
const (
	ReasonUnknownCode   = "unknown_code"
	ReasonNotStarted    = "not_started"
	ReasonEnded         = "ended"
	ReasonBelowMinimum  = "below_minimum"
	ReasonNoEligible    = "no_eligible_items"
	ReasonCustomerLimit = "customer_limit"
	ReasonTotalLimit    = "total_limit"
	ReasonRankRequired  = "rank_required"
	ReasonNotYours      = "issued_to_another_customer"
	ReasonNeedsCustomer = "customer_required"
)

// Check decides whether the campaign's coupon applies to a cart at now.
func (c *Campaign) Check(cart Cart, u Usage, now time.Time) Verdict {
	no := func(reason, format string, args ...any) Verdict {
		return Verdict{Reason: reason, Message: fmt.Sprintf(format, args...), CampaignID: c.ID}
	}
	switch {
	case c.StartsAt != nil && now.Before(*c.StartsAt):
		return no(ReasonNotStarted, "the coupon can be used from %s", c.StartsAt.Format(time.RFC3339))
	case c.EndsAt != nil && !now.Before(*c.EndsAt):
		return no(ReasonEnded, "the coupon ended %s", c.EndsAt.Format(time.RFC3339))
	case u.IssuedTo != 0 && cart.CustomerID != u.IssuedTo:
		return no(ReasonNotYours, "the code was issued to another customer")
	case (c.PerCustomerLimit > 0 || len(c.Ranks) > 0) && cart.CustomerID == 0:
		return no(ReasonNeedsCustomer, "the coupon is for signed-in members")
	case len(c.Ranks) > 0 && !hasFold(c.Ranks, u.CustomerRnk):
		return no(ReasonRankRequired, "the coupon is for %s members", strings.Join(c.Ranks, ", "))
	case c.TotalLimit > 0 && u.Total >= c.TotalLimit:
		return no(ReasonTotalLimit, "the coupon has been used up")
	case c.PerCustomerLimit > 0 && u.ByCustomer >= c.PerCustomerLimit:
		return no(ReasonCustomerLimit, "the coupon can be used %d times per customer", c.PerCustomerLimit)
	case cart.Subtotal < c.MinOrder:
		return no(ReasonBelowMinimum, "the coupon needs an order of ¥%d or more", c.MinOrder)
	}
	d := c.DiscountFor(cart)
	if d <= 0 {
		return no(ReasonNoEligible, "no item in the cart is covered by the coupon")
	}
	return Verdict{Valid: true, CampaignID: c.ID, Discount: d}
}

// DiscountFor is the yen the coupon takes off a cart: percent of the lines
// in scope (rounded down), or the amount, never more than those lines.
func (c *Campaign) DiscountFor(cart Cart) int64 {
	eligible := cart.Subtotal
	if len(c.SKUs) > 0 || len(c.Categories) > 0 {
		eligible = 0
		for _, l := range cart.Lines {
			if hasFold(c.SKUs, l.SKU) || (l.Category != "" && hasFold(c.Categories, l.Category)) {
				eligible += l.Amount
			}
		}
	}
	if eligible <= 0 {
		return 0
	}
	if c.DiscountType == PercentOff {
		return eligible * c.Value / 100
	}
	return min(c.Value, eligible)
}

// Redemption statuses of a coupon, following its order's status.
const (
	CouponRedemptionApplied = "applied" // paid order
	CouponRedemptionPending = "pending" // order not paid yet
	CouponRedemptionVoid    = "void"    // order cancelled or refunded
)

// RedemptionStatus maps an order's status to its coupon redemption's.
func RedemptionStatus(s order.Status) string {
	switch s {
	case order.Paid:
		return CouponRedemptionApplied
	case order.Pending:
		return CouponRedemptionPending
	}
	return CouponRedemptionVoid
}

// CampaignStats are a campaign's numbers (クーポン利用率・売上).
type CampaignStats struct {
	Campaign
	Codes       int     `json:"codes"`           // codes made (unique) or 1 (shared)
	Issued      int     `json:"issued"`          // coupons issued to customers
	Redeemed    int     `json:"redeemed"`        // issued coupons used at least once
	Redemptions int     `json:"redemptions"`     // paid orders carrying the code
	Rate        float64 `json:"redemption_rate"` // Redeemed / Issued (0 when none issued)
	Revenue     int64   `json:"revenue"`         // total of those orders, yen
	Discount    int64   `json:"discount"`        // what they took off, yen
	Synced      int     `json:"synced"`          // codes written to Shopify
}

// SetRate fills Rate from Redeemed and Issued.
func (s *CampaignStats) SetRate() {
	if s.Issued > 0 {
		s.Rate = float64(s.Redeemed) / float64(s.Issued)
	}
}

// UnusedCoupon is an issued coupon not used yet whose campaign ends soon.
type UnusedCoupon struct {
	Coupon
	DaysLeft int `json:"days_left"`
}

// DiscountCodeWriter writes coupon codes to a shop system as discount codes
// (Shopify: POST /admin/api/2024-01/price_rules/{id}/discount_codes.json).
// It returns the remote id of the code. A code the remote already holds
// returns ErrCodeExists, so that a sync interrupted after the write and
// before recording it can be run again.
type DiscountCodeWriter interface {
	CreateDiscountCode(ctx context.Context, priceRuleID, code string) (remoteID string, err error)
}

// ErrCodeExists is returned by a DiscountCodeWriter for a code already there.
var ErrCodeExists = errors.New("discount code already exists")

// CodeSyncStore is what SyncDiscountCodes needs of the store.
type CodeSyncStore interface {
	UnsyncedCoupons(ctx context.Context, campaignID int64, limit int) ([]Coupon, error)
	MarkCouponSynced(ctx context.Context, couponID int64, remoteID string) error
}

// SyncResult is what a sync wrote.
type SyncResult struct {
	Written int `json:"written"`
	Existed int `json:"existed"`
}

// SyncDiscountCodes writes every code of campaign c not written yet, one by
// one, recording each as soon as it is written, so a failure stops the run
// and the next run carries on where it stopped.
func SyncDiscountCodes(ctx context.Context, st CodeSyncStore, w DiscountCodeWriter, c *Campaign) (SyncResult, error) {
	var res SyncResult
	if c.ShopifyPriceRuleID == "" {
		return res, errs.Errorf(errs.Invalid, "campaign %d has no Shopify price rule id; set shopify_price_rule_id first", c.ID)
	}
	for {
		batch, err := st.UnsyncedCoupons(ctx, c.ID, 100)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			return res, nil
		}
		for _, cp := range batch {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			id, err := w.CreateDiscountCode(ctx, c.ShopifyPriceRuleID, cp.Code)
			switch {
			case errors.Is(err, ErrCodeExists):
				res.Existed++
			case err != nil:
				return res, fmt.Errorf("write code %d of campaign %d: %w", cp.ID, c.ID, err)
			default:
				res.Written++
			}
			if err := st.MarkCouponSynced(ctx, cp.ID, id); err != nil {
				return res, err
			}
		}
	}
}

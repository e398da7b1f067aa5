package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

const couponCampaignCols = `id, name, mode, discount_type, value, min_order, starts_at, ends_at, per_customer_limit, total_limit,
	skus, categories, ranks, shopify_price_rule_id, created_by, created_at`

func scanCouponCampaign(r rowScanner) (*loyalty.Campaign, error) {
	var c loyalty.Campaign
	var mode, dt, skus, cats, ranks string
	var starts, ends sql.NullInt64
	var created int64
	if err := r.Scan(&c.ID, &c.Name, &mode, &dt, &c.Value, &c.MinOrder, &starts, &ends, &c.PerCustomerLimit, &c.TotalLimit,
		&skus, &cats, &ranks, &c.ShopifyPriceRuleID, &c.CreatedBy, &created); err != nil {
		return nil, err
	}
	c.Mode, c.DiscountType, c.StartsAt, c.EndsAt, c.CreatedAt = loyalty.CodeMode(mode), loyalty.DiscountType(dt), fromNullMS(starts), fromNullMS(ends), fromMS(created)
	for _, f := range []struct {
		raw string
		dst *[]string
	}{{skus, &c.SKUs}, {cats, &c.Categories}, {ranks, &c.Ranks}} {
		if err := json.Unmarshal([]byte(f.raw), f.dst); err != nil {
			return nil, fmt.Errorf("campaign %d: %w", c.ID, err)
		}
	}
	return &c, nil
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// CreateCouponCampaign validates and stores a campaign; a shared campaign's
// code is stored with it and must not be in use by any other code.
func (db *DB) CreateCouponCampaign(ctx context.Context, c loyalty.Campaign) (*loyalty.Campaign, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	now := db.Clock.Now()
	c.CreatedAt = now.Truncate(time.Millisecond)
	err := db.inTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO coupon_campaigns (name, mode, discount_type, value, min_order, starts_at, ends_at,
			per_customer_limit, total_limit, skus, categories, ranks, shopify_price_rule_id, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id`,
			c.Name, string(c.Mode), string(c.DiscountType), c.Value, c.MinOrder, timePtrMS(c.StartsAt), timePtrMS(c.EndsAt),
			c.PerCustomerLimit, c.TotalLimit, jsonList(c.SKUs), jsonList(c.Categories), jsonList(c.Ranks), c.ShopifyPriceRuleID, c.CreatedBy, ms(now)).Scan(&c.ID); err != nil {
			return fmt.Errorf("create campaign: %w", err)
		}
		if c.Mode == loyalty.Shared {
			if _, err := tx.ExecContext(ctx, `INSERT INTO coupons (campaign_id, code, created_at) VALUES ($1, $2, $3)`, c.ID, c.SharedCode, ms(now)); err != nil {
				if db.Dialect.IsUniqueViolation(err) {
					return &errs.Error{Code: errs.Conflict, Field: "shared_code", Message: fmt.Sprintf("the code %s is already in use", c.SharedCode)}
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (db *DB) couponCampaign(ctx context.Context, q querier, id int64) (*loyalty.Campaign, error) {
	c, err := scanCouponCampaign(q.QueryRowContext(ctx, `SELECT `+couponCampaignCols+` FROM coupon_campaigns WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "coupon campaign", id)
	}
	if c.Mode == loyalty.Shared {
		if err := q.QueryRowContext(ctx, `SELECT code FROM coupons WHERE campaign_id = $1 AND issue_of IS NULL ORDER BY id LIMIT 1`, id).Scan(&c.SharedCode); err != nil {
			return nil, fmt.Errorf("campaign %d: shared code: %w", id, err)
		}
	}
	return c, nil
}

// CouponCampaign returns a campaign with its numbers.
func (db *DB) CouponCampaign(ctx context.Context, id int64) (*loyalty.CampaignStats, error) {
	c, err := db.couponCampaign(ctx, db.Read, id)
	if err != nil {
		return nil, err
	}
	stats, err := db.couponCampaignStats(ctx, []*loyalty.Campaign{c})
	if err != nil {
		return nil, err
	}
	return &stats[0], nil
}

// CouponCampaigns lists every campaign with its numbers, newest first.
func (db *DB) CouponCampaigns(ctx context.Context) ([]loyalty.CampaignStats, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+couponCampaignCols+` FROM coupon_campaigns ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	var cs []*loyalty.Campaign
	for rows.Next() {
		c, err := scanCouponCampaign(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Mode == loyalty.Shared {
			if err := db.Read.QueryRowContext(ctx, `SELECT code FROM coupons WHERE campaign_id = $1 AND issue_of IS NULL ORDER BY id LIMIT 1`, c.ID).Scan(&c.SharedCode); err != nil {
				return nil, err
			}
		}
	}
	return db.couponCampaignStats(ctx, cs)
}

// unusedCond is true for an issued coupon c without a redemption that
// counts: by its own row, or for a shared code by its campaign and customer.
const redeemedCond = `EXISTS (SELECT 1 FROM coupon_redemptions r WHERE r.status <> 'void' AND (r.coupon_id = c.id
	OR (c.issue_of IS NOT NULL AND r.campaign_id = c.campaign_id AND r.customer_id = c.customer_id)))`

// campaignStats adds the numbers of the campaigns (codes, issued, redeemed,
// redemption rate, revenue, discount, synced).
func (db *DB) couponCampaignStats(ctx context.Context, cs []*loyalty.Campaign) ([]loyalty.CampaignStats, error) {
	out := make([]loyalty.CampaignStats, len(cs))
	idx := map[int64]int{}
	for i, c := range cs {
		out[i].Campaign = *c
		idx[c.ID] = i
	}
	if len(cs) == 0 {
		return out, nil
	}
	scan := func(q string, fn func(s *loyalty.CampaignStats, a, b, c int64)) error {
		rows, err := db.Read.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, a, b, c int64
			if err := rows.Scan(&id, &a, &b, &c); err != nil {
				return err
			}
			if i, ok := idx[id]; ok {
				fn(&out[i], a, b, c)
			}
		}
		return rows.Err()
	}
	err := scan(`SELECT campaign_id, sum(CASE WHEN issue_of IS NULL THEN 1 ELSE 0 END), sum(CASE WHEN customer_id IS NOT NULL THEN 1 ELSE 0 END),
		sum(CASE WHEN synced_at IS NOT NULL THEN 1 ELSE 0 END) FROM coupons GROUP BY campaign_id`,
		func(s *loyalty.CampaignStats, a, b, c int64) { s.Codes, s.Issued, s.Synced = int(a), int(b), int(c) })
	if err != nil {
		return nil, err
	}
	err = scan(`SELECT campaign_id, count(*), 0, 0 FROM coupons c WHERE c.customer_id IS NOT NULL AND `+redeemedCond+` GROUP BY campaign_id`,
		func(s *loyalty.CampaignStats, a, _, _ int64) { s.Redeemed = int(a) })
	if err != nil {
		return nil, err
	}
	err = scan(`SELECT campaign_id, count(*), coalesce(sum(revenue), 0), coalesce(sum(discount), 0) FROM coupon_redemptions
		WHERE status = 'applied' GROUP BY campaign_id`,
		func(s *loyalty.CampaignStats, a, b, c int64) { s.Redemptions, s.Revenue, s.Discount = int(a), b, c })
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].SetRate()
	}
	return out, nil
}

// maxGenerate bounds one generation call.
const maxGenerate = 100_000

// GenerateCoupons makes n new unguessable codes for a unique campaign and
// returns them.
func (db *DB) GenerateCoupons(ctx context.Context, campaignID int64, n int, prefix string) ([]loyalty.Coupon, error) {
	if n < 1 || n > maxGenerate {
		return nil, errs.FieldErrorf("count", "must be 1–%d", maxGenerate)
	}
	if err := loyalty.CheckPrefix(prefix); err != nil {
		return nil, err
	}
	var out []loyalty.Coupon
	err := db.inTx(ctx, func(tx *Tx) error {
		c, err := db.couponCampaign(ctx, tx, campaignID)
		if err != nil {
			return err
		}
		if c.Mode != loyalty.Unique {
			return errs.Errorf(errs.Invalid, "campaign %d has one shared code; codes are generated for unique campaigns", campaignID)
		}
		out, err = db.newCodes(ctx, tx, campaignID, n, prefix)
		return err
	})
	return out, err
}

// newCodes inserts n fresh codes, drawing again for the (astronomically
// rare) code already taken.
func (db *DB) newCodes(ctx context.Context, tx *Tx, campaignID int64, n int, prefix string) ([]loyalty.Coupon, error) {
	now := db.Clock.Now()
	out := make([]loyalty.Coupon, 0, n)
	for attempts := 0; len(out) < n; attempts++ {
		if attempts > 10 {
			return nil, fmt.Errorf("could not find free coupon codes")
		}
		need := n - len(out)
		codes := map[string]bool{}
		for len(codes) < need {
			code, err := loyalty.GenerateCode(prefix)
			if err != nil {
				return nil, err
			}
			codes[code] = true
		}
		list := sortedKeysOf(codes)
		err := db.chunk(len(list), 3, func(lo, hi int) error {
			args := make([]any, 0, 3*(hi-lo))
			for _, code := range list[lo:hi] {
				args = append(args, campaignID, code, ms(now))
			}
			rows, err := tx.QueryContext(ctx, `INSERT INTO coupons (campaign_id, code, created_at) VALUES `+placeholders(hi-lo, 3, 1)+
				` ON CONFLICT (code) WHERE issue_of IS NULL DO NOTHING RETURNING id, code`, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				cp := loyalty.Coupon{CampaignID: campaignID, CreatedAt: now.Truncate(time.Millisecond), Status: loyalty.CouponAvailable}
				if err := rows.Scan(&cp.ID, &cp.Code); err != nil {
					return err
				}
				out = append(out, cp)
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("write coupon codes: %w", err)
		}
	}
	return out, nil
}

const couponSelect = `SELECT c.id, c.campaign_id, k.name, c.code, c.customer_id, c.issued_at, c.issued_by, c.shopify_id, c.synced_at, c.created_at, k.ends_at,
	(SELECT count(*) FROM coupon_redemptions r WHERE r.status <> 'void' AND (r.coupon_id = c.id
		OR (c.issue_of IS NOT NULL AND r.campaign_id = c.campaign_id AND r.customer_id = c.customer_id)))
	FROM coupons c JOIN coupon_campaigns k ON k.id = c.campaign_id `

func (db *DB) scanCoupons(ctx context.Context, q querier, where string, args ...any) ([]loyalty.Coupon, error) {
	rows, err := q.QueryContext(ctx, couponSelect+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := db.Clock.Now()
	out := []loyalty.Coupon{}
	for rows.Next() {
		var c loyalty.Coupon
		var cust, issued, synced, ends sql.NullInt64
		var created int64
		if err := rows.Scan(&c.ID, &c.CampaignID, &c.CampaignName, &c.Code, &cust, &issued, &c.IssuedBy, &c.ShopifyID, &synced, &created, &ends, &c.Redemptions); err != nil {
			return nil, err
		}
		c.CustomerID, c.IssuedAt, c.SyncedAt, c.CreatedAt, c.EndsAt = cust.Int64, fromNullMS(issued), fromNullMS(synced), fromMS(created), fromNullMS(ends)
		c.Status = c.StatusAt(now)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CampaignCoupons lists a campaign's codes and issues, oldest first.
func (db *DB) CampaignCoupons(ctx context.Context, campaignID int64, limit, offset int) ([]loyalty.Coupon, error) {
	if _, err := db.couponCampaign(ctx, db.Read, campaignID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 10_000 {
		limit = 1000
	}
	return db.scanCoupons(ctx, db.Read, `WHERE c.campaign_id = $1 ORDER BY c.id LIMIT $2 OFFSET $3`, campaignID, limit, max(0, offset))
}

// CustomerCoupons lists the coupons issued to a customer, newest first.
func (db *DB) CustomerCoupons(ctx context.Context, customerID int64) ([]loyalty.Coupon, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	return db.scanCoupons(ctx, db.Read, `WHERE c.customer_id = $1 ORDER BY c.issued_at DESC, c.id DESC`, cid)
}

// IssueCoupon gives a customer a coupon of a campaign: for a unique
// campaign an unissued code (a new one when none is left), for a shared
// campaign its code, recorded as issued to them (issuing a shared code
// twice returns the first issue). A campaign that has ended, or is
// exclusive to ranks the customer does not hold, is refused. It fires the
// Coupon Issued trigger.
func (db *DB) IssueCoupon(ctx context.Context, r loyalty.IssueRequest) (*loyalty.Coupon, error) {
	r.Key = strings.TrimSpace(r.Key)
	if len(r.Key) > 200 {
		return nil, errs.FieldErrorf("key", "at most 200 characters")
	}
	var couponID int64
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := activeCustomerID(ctx, tx, r.CustomerID)
		if err != nil {
			return err
		}
		c, err := db.couponCampaign(ctx, tx, r.CampaignID)
		if err != nil {
			return err
		}
		if r.Key != "" {
			var camp, owner sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT id, campaign_id, customer_id FROM coupons WHERE issue_key = $1`, r.Key).Scan(&couponID, &camp, &owner)
			switch {
			case err == nil:
				if camp.Int64 != c.ID || owner.Int64 != cid {
					return errs.Errorf(errs.Conflict, "issue key %q was used for another coupon", r.Key)
				}
				return nil
			case !isNoRows(err):
				return err
			}
		}
		now := db.Clock.Now()
		if c.EndsAt != nil && !now.Before(*c.EndsAt) {
			return errs.Errorf(errs.Conflict, "campaign %d ended %s", c.ID, c.EndsAt.Format(time.RFC3339))
		}
		if len(c.Ranks) > 0 {
			prog, err := loadProgram(ctx, tx)
			if err != nil {
				return err
			}
			ranks, err := db.currentRanks(ctx, tx, []any{cid})
			if err != nil {
				return err
			}
			if rank := prog.Ranks.Current(ranks[cid]).Code; !containsString(c.Ranks, rank) {
				return errs.Errorf(errs.Conflict, "campaign %d is for %s members; customer %d is %s", c.ID, strings.Join(c.Ranks, ", "), cid, rank)
			}
		}
		set := []any{cid, ms(now), r.Actor, r.Key}
		if c.Mode == loyalty.Shared {
			var master int64
			if err := tx.QueryRowContext(ctx, `SELECT id FROM coupons WHERE campaign_id = $1 AND issue_of IS NULL ORDER BY id LIMIT 1`, c.ID).Scan(&master); err != nil {
				return err
			}
			err := tx.QueryRowContext(ctx, `SELECT id FROM coupons WHERE issue_of = $1 AND customer_id = $2 ORDER BY id LIMIT 1`, master, cid).Scan(&couponID)
			if err == nil {
				return nil
			}
			if !isNoRows(err) {
				return err
			}
			if err := tx.QueryRowContext(ctx, `INSERT INTO coupons (campaign_id, code, issue_of, customer_id, origin_customer_id, issued_at, issued_by, issue_key, created_at)
				VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $5) RETURNING id`, c.ID, c.SharedCode, master, cid, ms(now), r.Actor, r.Key).Scan(&couponID); err != nil {
				return err
			}
		} else {
			for attempt := 0; couponID == 0; attempt++ {
				var free int64
				err := tx.QueryRowContext(ctx, `SELECT id FROM coupons WHERE campaign_id = $1 AND issue_of IS NULL AND customer_id IS NULL ORDER BY id LIMIT 1`, c.ID).Scan(&free)
				if isNoRows(err) || attempt >= 5 {
					fresh, err := db.newCodes(ctx, tx, c.ID, 1, "")
					if err != nil {
						return err
					}
					free = fresh[0].ID
				} else if err != nil {
					return err
				}
				res, err := tx.ExecContext(ctx, `UPDATE coupons SET customer_id = $1, origin_customer_id = $1, issued_at = $2, issued_by = $3, issue_key = $4
					WHERE id = $5 AND customer_id IS NULL`, append(set, free)...)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					couponID = free
				}
			}
		}
		var code string
		if err := tx.QueryRowContext(ctx, `SELECT code FROM coupons WHERE id = $1`, couponID).Scan(&code); err != nil {
			return err
		}
		props := map[string]any{"campaign_id": c.ID, "campaign": c.Name, "code": code}
		if c.EndsAt != nil {
			props["ends_at"] = c.EndsAt.Format(time.RFC3339)
		}
		_, err = db.insertLoyaltyEvents(ctx, tx, []loyaltyEvent{{customer: cid, name: loyalty.EventCouponIssued, at: now,
			messageID: fmt.Sprintf("coupon-issued:%d", couponID), props: props}})
		return err
	})
	if err != nil {
		if db.Dialect.IsUniqueViolation(err) {
			return nil, errs.Errorf(errs.Conflict, "issue key %q is already in use; retry", r.Key)
		}
		return nil, err
	}
	cs, err := db.scanCoupons(ctx, db.Write, `WHERE c.id = $1`, couponID)
	if err != nil {
		return nil, err
	}
	return &cs[0], nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// codeRow is a code as found by lookup.
type codeRow struct {
	id, campaign int64
	code         string
	customer     int64 // issued to (unique codes)
	shared       bool
}

// lookupCodes finds the code rows of normalised codes.
func (db *DB) lookupCodes(ctx context.Context, q querier, codes []any) (map[string]codeRow, error) {
	out := map[string]codeRow{}
	err := db.chunk(len(codes), 1, func(lo, hi int) error {
		rows, err := q.QueryContext(ctx, `SELECT c.id, c.campaign_id, c.code, c.customer_id, k.mode FROM coupons c
			JOIN coupon_campaigns k ON k.id = c.campaign_id WHERE c.issue_of IS NULL AND c.code IN (`+list(hi-lo, 1)+`)`, codes[lo:hi]...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r codeRow
			var cust sql.NullInt64
			var mode string
			if err := rows.Scan(&r.id, &r.campaign, &r.code, &cust, &mode); err != nil {
				return err
			}
			r.customer, r.shared = cust.Int64, mode == string(loyalty.Shared)
			out[r.code] = r
		}
		return rows.Err()
	})
	return out, err
}

// CheckCoupon says whether a code applies to a cart now and what it takes
// off (for checkout integrations; nothing is recorded).
func (db *DB) CheckCoupon(ctx context.Context, cart loyalty.Cart) (loyalty.Verdict, error) {
	code := loyalty.NormalizeCode(cart.Code)
	if code == "" {
		return loyalty.Verdict{}, errs.FieldErrorf("code", "required")
	}
	found, err := db.lookupCodes(ctx, db.Read, []any{code})
	if err != nil {
		return loyalty.Verdict{}, err
	}
	row, ok := found[code]
	if !ok {
		return loyalty.Verdict{Reason: loyalty.ReasonUnknownCode, Message: "no such coupon code"}, nil
	}
	c, err := db.couponCampaign(ctx, db.Read, row.campaign)
	if err != nil {
		return loyalty.Verdict{}, err
	}
	u := loyalty.Usage{IssuedTo: row.customer}
	if cart.CustomerID != 0 {
		if cart.CustomerID, err = canonical(ctx, db.Read, cart.CustomerID); err != nil {
			return loyalty.Verdict{}, err
		}
		prog, err := loadProgram(ctx, db.Read)
		if err != nil {
			return loyalty.Verdict{}, err
		}
		ranks, err := db.currentRanks(ctx, db.Read, []any{cart.CustomerID})
		if err != nil {
			return loyalty.Verdict{}, err
		}
		u.CustomerRnk = prog.Ranks.Current(ranks[cart.CustomerID]).Code
	}
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN customer_id = $2 THEN 1 ELSE 0 END), 0)
		FROM coupon_redemptions WHERE campaign_id = $1 AND status <> 'void'`, c.ID, cart.CustomerID).Scan(&u.Total, &u.ByCustomer); err != nil {
		return loyalty.Verdict{}, err
	}
	if !row.shared {
		// A unique code works once.
		var used int
		if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM coupon_redemptions WHERE coupon_id = $1 AND status <> 'void'`, row.id).Scan(&used); err != nil {
			return loyalty.Verdict{}, err
		}
		if used > 0 {
			return loyalty.Verdict{Reason: loyalty.ReasonCustomerLimit, Message: "the code has been used", CampaignID: c.ID}, nil
		}
	}
	return c.Check(cart, u, db.Clock.Now()), nil
}

// UnusedCoupons lists issued coupons not used yet whose campaign ends
// within the coming days: the unused-coupon reminder query.
func (db *DB) UnusedCoupons(ctx context.Context, withinDays int) ([]loyalty.UnusedCoupon, error) {
	if withinDays <= 0 {
		withinDays = 7
	}
	now := db.Clock.Now()
	cs, err := db.scanCoupons(ctx, db.Read, `JOIN customers cu ON cu.id = c.customer_id AND cu.status = 'active'
		WHERE c.customer_id IS NOT NULL AND k.ends_at > $1 AND k.ends_at <= $2 AND NOT `+redeemedCond+` ORDER BY k.ends_at, c.id`,
		ms(now), ms(now.AddDate(0, 0, withinDays)))
	if err != nil {
		return nil, err
	}
	out := make([]loyalty.UnusedCoupon, len(cs))
	for i, c := range cs {
		out[i] = loyalty.UnusedCoupon{Coupon: c, DaysLeft: max(0, int(c.EndsAt.Sub(now).Hours()/24))}
	}
	return out, nil
}

// RemindUnusedCoupons fires the unused-coupon trigger (a Coupon Unused
// event, once per coupon) for coupons within the programme's reminder days.
func (db *DB) RemindUnusedCoupons(ctx context.Context) (int, error) {
	prog, err := loadProgram(ctx, db.Read)
	if err != nil {
		return 0, err
	}
	if prog.Coupons.ReminderDays <= 0 {
		return 0, nil
	}
	unused, err := db.UnusedCoupons(ctx, prog.Coupons.ReminderDays)
	if err != nil {
		return 0, err
	}
	now := db.Clock.Now()
	total := 0
	for lo := 0; lo < len(unused); lo += 1000 {
		var evs []loyaltyEvent
		for _, u := range unused[lo:min(lo+1000, len(unused))] {
			evs = append(evs, loyaltyEvent{customer: u.CustomerID, name: loyalty.EventCouponUnused, at: now, messageID: fmt.Sprintf("coupon-unused:%d", u.ID),
				props: map[string]any{"campaign_id": u.CampaignID, "campaign": u.CampaignName, "code": u.Code, "ends_at": u.EndsAt.Format(time.RFC3339), "days_left": u.DaysLeft}})
		}
		err := db.inTx(ctx, func(tx *Tx) error {
			n, err := db.insertLoyaltyEvents(ctx, tx, evs)
			total += n
			return err
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// UnsyncedCoupons lists codes of a campaign not yet written to Shopify.
func (db *DB) UnsyncedCoupons(ctx context.Context, campaignID int64, limit int) ([]loyalty.Coupon, error) {
	if limit <= 0 {
		limit = 100
	}
	return db.scanCoupons(ctx, db.Read, `WHERE c.campaign_id = $1 AND c.issue_of IS NULL AND c.synced_at IS NULL ORDER BY c.id LIMIT $2`, campaignID, limit)
}

// MarkCouponSynced records that a code was written to Shopify.
func (db *DB) MarkCouponSynced(ctx context.Context, couponID int64, remoteID string) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE coupons SET shopify_id = $1, synced_at = $2 WHERE id = $3`, remoteID, ms(db.Clock.Now()), couponID)
	return err
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// LoyaltyStore is the loyalty programme's storage: the points ledger, ranks
// and coupons (docs/loyalty.md). Order imports feed it through
// ordersLoyalty, inside ImportOrders' transaction.
type LoyaltyStore interface {
	// Programme (settings key loyalty.program; the default when unset).
	LoyaltyProgram(ctx context.Context) (loyalty.Program, error)
	SetLoyaltyProgram(ctx context.Context, p loyalty.Program) error
	CustomerLoyalty(ctx context.Context, customerID int64) (*loyalty.CustomerSummary, error)
	// LoyaltyDaily evaluates every rank, expires lapsed points and fires
	// the expiring-soon and unused-coupon triggers. Safe to run repeatedly.
	LoyaltyDaily(ctx context.Context) (loyalty.DailyResult, error)

	// Points.
	PointsBalance(ctx context.Context, customerID int64) (*loyalty.Balance, error)
	PointsHistory(ctx context.Context, customerID int64, limit int, beforeID int64) ([]loyalty.Entry, error)
	AdjustPoints(ctx context.Context, a loyalty.Adjustment) (loyalty.AdjustResult, error)
	RedeemPoints(ctx context.Context, r loyalty.RedeemRequest) (*loyalty.Redemption, error)
	CancelRedemption(ctx context.Context, customerID int64, key, actor string) (*loyalty.Redemption, error)
	ImportPointBalances(ctx context.Context, batch string, rows []loyalty.BalanceRow, dryRun bool) (loyalty.BalanceImportResult, error)
	ExpirePoints(ctx context.Context) (loyalty.ExpiryResult, error)
	ExpiringPoints(ctx context.Context, withinDays int) ([]loyalty.CustomerExpiring, error)
	PointsLiability(ctx context.Context) (*loyalty.Liability, error)

	// Ranks.
	EvaluateRanks(ctx context.Context, customerIDs []int64) (loyalty.RankRun, error)
	EvaluatePendingRanks(ctx context.Context) (loyalty.RankRun, error)
	RankHistory(ctx context.Context, customerID int64) ([]loyalty.RankChange, error)
	RankReport(ctx context.Context, from, to time.Time) (*loyalty.RankReport, error)

	// Coupons.
	CreateCouponCampaign(ctx context.Context, c loyalty.Campaign) (*loyalty.Campaign, error)
	CouponCampaign(ctx context.Context, id int64) (*loyalty.CampaignStats, error)
	CouponCampaigns(ctx context.Context) ([]loyalty.CampaignStats, error)
	GenerateCoupons(ctx context.Context, campaignID int64, n int, prefix string) ([]loyalty.Coupon, error)
	CampaignCoupons(ctx context.Context, campaignID int64, limit, offset int) ([]loyalty.Coupon, error)
	IssueCoupon(ctx context.Context, r loyalty.IssueRequest) (*loyalty.Coupon, error)
	CustomerCoupons(ctx context.Context, customerID int64) ([]loyalty.Coupon, error)
	CheckCoupon(ctx context.Context, cart loyalty.Cart) (loyalty.Verdict, error)
	UnusedCoupons(ctx context.Context, withinDays int) ([]loyalty.UnusedCoupon, error)
	RemindUnusedCoupons(ctx context.Context) (int, error)
	UnsyncedCoupons(ctx context.Context, campaignID int64, limit int) ([]loyalty.Coupon, error)
	MarkCouponSynced(ctx context.Context, couponID int64, remoteID string) error
}

var _ LoyaltyStore = (*DB)(nil)

// LoyaltyProgram returns the shop's programme, the default when none is set.
func (db *DB) LoyaltyProgram(ctx context.Context) (loyalty.Program, error) {
	return loadProgram(ctx, db.Read)
}

func loadProgram(ctx context.Context, q querier) (loyalty.Program, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, loyalty.ProgramSetting).Scan(&raw)
	if isNoRows(err) {
		return loyalty.DefaultProgram(), nil
	}
	if err != nil {
		return loyalty.Program{}, fmt.Errorf("read loyalty programme: %w", err)
	}
	p, err := loyalty.ParseProgram([]byte(raw))
	if err != nil {
		return loyalty.Program{}, fmt.Errorf("stored loyalty programme is invalid (fix it with enishi loyalty set): %w", err)
	}
	return p, nil
}

// SetLoyaltyProgram validates and stores the programme.
func (db *DB) SetLoyaltyProgram(ctx context.Context, p loyalty.Program) error {
	if err := p.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return db.saveProgram(ctx, raw, p.Ranks.Lowest().Code)
}

// setLoyaltyProgramJSON stores a programme given as JSON (SetSetting).
func (db *DB) setLoyaltyProgramJSON(ctx context.Context, value string) error {
	p, err := loyalty.ParseProgram([]byte(value))
	if err != nil {
		return err
	}
	return db.SetLoyaltyProgram(ctx, p)
}

// lowestRankSetting holds the code of the programme's lowest tier, so that
// SQL (segments' rank field) can give customers without a stored rank the
// tier they hold.
const lowestRankSetting = "loyalty.lowest_rank"

// rankSQL is an expression for customer c's rank code: the stored rank, or
// the programme's lowest tier.
func rankSQL(customerID string) string {
	return "COALESCE((SELECT m.rank FROM loyalty_members m WHERE m.customer_id = " + customerID + "), " +
		"(SELECT s.value FROM settings s WHERE s.key = '" + lowestRankSetting + "'), '" + loyalty.DefaultProgram().Ranks.Lowest().Code + "')"
}

func (db *DB) saveProgram(ctx context.Context, raw []byte, lowest string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		for _, kv := range [][2]string{{loyalty.ProgramSetting, string(raw)}, {lowestRankSetting, lowest}} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, kv[0], kv[1], ms(db.Clock.Now())); err != nil {
				return err
			}
		}
		return nil
	})
}

// activeCustomerID follows merges to the customer holding id's data and
// refuses customers that are erased.
func activeCustomerID(ctx context.Context, q querier, id int64) (int64, error) {
	cid, err := canonical(ctx, q, id)
	if err != nil {
		return 0, err
	}
	var status string
	if err := q.QueryRowContext(ctx, `SELECT status FROM customers WHERE id = $1`, cid).Scan(&status); err != nil {
		return 0, notFound(err, "customer", id)
	}
	if status != "active" {
		return 0, errs.Errorf(errs.Conflict, "customer %d is %s", id, status)
	}
	return cid, nil
}

// loyaltyEvent is a trigger written into the events table.
type loyaltyEvent struct {
	customer  int64
	name      string
	messageID string
	at        time.Time
	props     map[string]any
}

// insertLoyaltyEvents adds trigger events, ignoring any already there (by
// message id), and returns how many were new.
func (db *DB) insertLoyaltyEvents(ctx context.Context, tx *Tx, evs []loyaltyEvent) (int, error) {
	now := ms(db.Clock.Now())
	n, err := db.insertMany(ctx, tx, `INSERT INTO events (customer_id, origin_customer_id, anonymous_id, type, name, occurred_at, received_at, source, message_id, sku, properties)`,
		11, `ON CONFLICT (source, message_id) DO NOTHING`, len(evs), func(i int, args []any) []any {
			e := &evs[i]
			props, _ := json.Marshal(e.props)
			return append(args, e.customer, e.customer, "", "track", e.name, ms(e.at), now, loyalty.EventSource, e.messageID, "", string(props))
		})
	if err != nil {
		return 0, fmt.Errorf("write loyalty events: %w", err)
	}
	return int(n), nil
}

// int64s turns ids into statement arguments, sorted and without repeats.
func int64s(ids []int64) []any {
	s := append([]int64(nil), ids...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	out := make([]any, 0, len(s))
	for i, id := range s {
		if i == 0 || id != s[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// timePtrMS stores an optional time.
func timePtrMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// LoyaltyDaily runs the daily loyalty work: ranks, expiry, reminders.
func (db *DB) LoyaltyDaily(ctx context.Context) (loyalty.DailyResult, error) {
	res := loyalty.DailyResult{Started: db.Clock.Now()}
	if _, err := db.EvaluatePendingRanks(ctx); err != nil {
		return res, fmt.Errorf("evaluate queued ranks: %w", err)
	}
	var err error
	if res.Ranks, err = db.EvaluateRanks(ctx, nil); err != nil {
		return res, fmt.Errorf("evaluate ranks: %w", err)
	}
	res.Ranks.Changes = nil
	if res.Expiry, err = db.ExpirePoints(ctx); err != nil {
		return res, fmt.Errorf("expire points: %w", err)
	}
	if res.Unused, err = db.RemindUnusedCoupons(ctx); err != nil {
		return res, fmt.Errorf("coupon reminders: %w", err)
	}
	return res, nil
}

// CustomerLoyalty assembles a customer's loyalty summary for the 360: rank
// and what the next one needs, points and when they lapse, recent ledger
// entries, coupons, and the campaigns their rank unlocks.
func (db *DB) CustomerLoyalty(ctx context.Context, customerID int64) (*loyalty.CustomerSummary, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	prog, err := loadProgram(ctx, db.Read)
	if err != nil {
		return nil, err
	}
	now := db.Clock.Now()
	s := &loyalty.CustomerSummary{CustomerID: cid, Enabled: prog.Enabled, Metric: prog.Ranks.Metric}
	var rank string
	var since sql.NullInt64
	err = db.Read.QueryRowContext(ctx, `SELECT rank, rank_since FROM loyalty_members WHERE customer_id = $1`, cid).Scan(&rank, &since)
	if err != nil && !isNoRows(err) {
		return nil, err
	}
	s.Rank, s.RankSince = prog.Ranks.Current(rank), fromNullMS(since)
	s.WindowFrom, s.WindowTo = prog.Ranks.Window(now)
	m, err := db.periodMetrics(ctx, db.Read, []any{cid}, s.WindowFrom, s.WindowTo)
	if err != nil {
		return nil, err
	}
	s.Value = prog.Ranks.Value(m[cid][0], m[cid][1])
	if next, ok := prog.Ranks.Next(s.Rank.Code); ok {
		s.NextRank, s.ToNext = &next, max(0, next.Min-s.Value)
	}
	bal, err := db.PointsBalance(ctx, cid)
	if err != nil {
		return nil, err
	}
	s.Points, s.Expiring = bal.Points, bal.Expiring
	if s.Recent, err = db.PointsHistory(ctx, cid, 10, 0); err != nil {
		return nil, err
	}
	if s.Coupons, err = db.CustomerCoupons(ctx, cid); err != nil {
		return nil, err
	}
	if s.RankHistory, err = db.rankChanges(ctx, cid, 10); err != nil {
		return nil, err
	}
	s.Exclusive = []loyalty.CampaignRef{}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+couponCampaignCols+` FROM coupon_campaigns WHERE ranks <> '[]' AND (ends_at IS NULL OR ends_at > $1) ORDER BY id`, ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCouponCampaign(rows)
		if err != nil {
			return nil, err
		}
		if containsString(c.Ranks, s.Rank.Code) {
			s.Exclusive = append(s.Exclusive, loyalty.CampaignRef{ID: c.ID, Name: c.Name})
		}
	}
	return s, rows.Err()
}

// JourneyLoyalty carries out journeys' loyalty steps (journey.Loyalty):
// issuing a coupon and giving or taking points, both idempotent by the
// step's key.
type JourneyLoyalty struct{ DB *DB }

var _ journey.Loyalty = JourneyLoyalty{}

// IssueCoupon issues a coupon of the campaign and returns its code.
func (l JourneyLoyalty) IssueCoupon(ctx context.Context, customerID, campaignID int64, key string) (string, error) {
	c, err := l.DB.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: campaignID, CustomerID: customerID, Key: key, Actor: "journey"})
	if err != nil {
		return "", err
	}
	return c.Code, nil
}

// AdjustPoints gives (or, negative, takes) points with a reason.
func (l JourneyLoyalty) AdjustPoints(ctx context.Context, customerID, points int64, reason, key string) error {
	_, err := l.DB.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: customerID, Points: points, Reason: reason, Key: key, Actor: "journey"})
	return err
}

// PointsAndRank gives a message's loyalty merge fields: the customer's
// usable points and the name of their rank (the lowest tier for a customer
// without a stored one). With the programme disabled the rank is "".
// It implements channel.Loyalty.
func (db *DB) PointsAndRank(ctx context.Context, customerID int64) (int64, string, error) {
	b, err := db.PointsBalance(ctx, customerID)
	if err != nil {
		return 0, "", err
	}
	prog, err := loadProgram(ctx, db.Read)
	if err != nil || !prog.Enabled {
		return b.Points, "", err
	}
	ranks, err := db.currentRanks(ctx, db.Read, []any{b.CustomerID})
	if err != nil {
		return 0, "", err
	}
	return b.Points, prog.Ranks.Current(ranks[b.CustomerID]).Name, nil
}

package loyalty

import "time"

// Loyalty writes its journey triggers as ordinary behaviour events into the
// events table, filed under the customer, with EventSource as their source
// and a message id that makes each trigger fire once. Journeys consume them
// as they consume any event (by name); they also appear on the customer's
// timeline. docs/loyalty.md lists their properties.
const (
	// EventSource is the source of every loyalty event.
	EventSource = "loyalty"
	// EventRankChanged fires when a customer moves up or down a rank.
	// Message id rank-change:<rank change id>. Properties: from, to (rank
	// codes), from_name, to_name (their names: ゴールド), direction
	// (up|down), value, metric, reason (order|daily).
	EventRankChanged = "Rank Changed"
	// EventPointsExpiring fires once per customer and expiry day when points
	// will lapse within points.expiring_soon_days. Message id
	// points-expiring:<customer id>:<valid through>. Properties: points,
	// valid_through (YYYY-MM-DD), balance.
	EventPointsExpiring = "Points Expiring"
	// EventCouponIssued fires when a coupon is issued to a customer. Message
	// id coupon-issued:<coupon id>. Properties: campaign_id, campaign, code,
	// ends_at.
	EventCouponIssued = "Coupon Issued"
	// EventCouponUnused fires once per issued coupon still unused when its
	// campaign ends within coupons.reminder_days. Message id
	// coupon-unused:<coupon id>. Properties: campaign_id, campaign, code,
	// ends_at, days_left.
	EventCouponUnused = "Coupon Unused"
)

// DailyResult is what the daily loyalty run did.
type DailyResult struct {
	Ranks   RankRun      `json:"ranks"`
	Expiry  ExpiryResult `json:"expiry"`
	Unused  int          `json:"coupon_unused_events"`
	Started time.Time    `json:"started"`
}

// RankRun is what a rank evaluation did.
type RankRun struct {
	Evaluated int          `json:"evaluated"`
	Changes   []RankChange `json:"changes,omitempty"`
	Up        int          `json:"up"`
	Down      int          `json:"down"`
}

// Count tallies a change.
func (r *RankRun) Count(c RankChange) {
	if c.Direction == "up" {
		r.Up++
	} else {
		r.Down++
	}
}

// CustomerSummary is a customer's loyalty at a glance: the 360's loyalty
// section (GET /api/v1/customers/{id}/loyalty).
type CustomerSummary struct {
	CustomerID int64 `json:"customer_id"`
	Enabled    bool  `json:"enabled"`
	Rank       Tier  `json:"rank"`
	// RankSince is when the customer reached the rank (nil for the lowest
	// tier reached by default).
	RankSince *time.Time `json:"rank_since,omitempty"`
	// Value is the customer's metric over the rank window: yen or orders.
	Metric     Metric    `json:"metric"`
	Value      int64     `json:"value"`
	WindowFrom time.Time `json:"window_from"`
	WindowTo   time.Time `json:"window_to"`
	// NextRank and ToNext say what the next rank needs, when there is one.
	NextRank *Tier `json:"next_rank,omitempty"`
	ToNext   int64 `json:"to_next,omitempty"`

	Points   int64            `json:"points"`
	Expiring []ExpiringAmount `json:"expiring"`
	Recent   []Entry          `json:"recent_entries"`

	Coupons []Coupon `json:"coupons"`
	// Exclusive lists the campaigns open to the customer's rank only.
	Exclusive   []CampaignRef `json:"exclusive_campaigns"`
	RankHistory []RankChange  `json:"rank_history"`
}

// CampaignRef names a campaign.
type CampaignRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

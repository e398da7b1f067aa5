package loyalty

import (
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
)

// ClockSkew is how far ahead of enishi's clock an order may be stamped and
// still count in a window that ends now: a shop platform's clock running a
// little ahead must not keep a just-placed order out of the rank.
const ClockSkew = time.Hour

// Window returns the span [from, to) of orders a rank is measured over at
// now. Windows ending now reach ClockSkew past it.
func (r RankRules) Window(now time.Time) (from, to time.Time) {
	local := now.In(clock.Tokyo)
	jan1 := time.Date(local.Year(), 1, 1, 0, 0, 0, 0, clock.Tokyo)
	switch r.Period {
	case PeriodCurrentYear:
		return jan1.UTC(), now.Add(ClockSkew)
	case PeriodPreviousYear:
		return jan1.AddDate(-1, 0, 0).UTC(), jan1.UTC()
	}
	months := r.Months
	if months <= 0 {
		months = 12
	}
	return now.AddDate(0, -months, 0), now.Add(ClockSkew)
}

// Value picks the metric's value from a spend and an order count.
func (r RankRules) Value(spend, orders int64) int64 {
	if r.Metric == MetricOrders {
		return orders
	}
	return spend
}

// TierFor returns the highest tier whose threshold value reaches.
func (r RankRules) TierFor(value int64) Tier {
	for _, t := range r.Tiers {
		if value >= t.Min {
			return t
		}
	}
	return r.Lowest()
}

// Lowest is the tier every customer starts in. A customer with no rank
// recorded is in it.
func (r RankRules) Lowest() Tier { return r.Tiers[len(r.Tiers)-1] }

// Tier returns the tier with code; a code no longer in the programme is
// reported as not found.
func (r RankRules) Tier(code string) (Tier, bool) {
	for _, t := range r.Tiers {
		if t.Code == code {
			return t, true
		}
	}
	return Tier{}, false
}

// Current returns the tier for a stored rank code, the lowest tier when the
// code is empty or no longer exists.
func (r RankRules) Current(code string) Tier {
	if t, ok := r.Tier(code); ok {
		return t
	}
	return r.Lowest()
}

// Next returns the tier above code, if any.
func (r RankRules) Next(code string) (Tier, bool) {
	for i, t := range r.Tiers {
		if t.Code == code {
			if i == 0 {
				return Tier{}, false
			}
			return r.Tiers[i-1], true
		}
	}
	return Tier{}, false
}

// Direction is "up" when to ranks above from and "down" otherwise. A code
// no longer in the programme counts as the lowest tier.
func (r RankRules) Direction(from, to string) string {
	if r.Current(to).Min > r.Current(from).Min {
		return "up"
	}
	return "down"
}

// RankChange is one move of a customer between ranks (ランクアップ/ダウン).
type RankChange struct {
	ID         int64     `json:"id"`
	CustomerID int64     `json:"customer_id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Direction  string    `json:"direction"` // up | down
	Value      int64     `json:"value"`     // the metric's value that decided it
	Reason     string    `json:"reason"`    // order | daily | manual
	ChangedAt  time.Time `json:"changed_at"`
}

// Rank reasons.
const (
	ReasonOrder = "order" // evaluated when the customer's orders were imported
	ReasonDaily = "daily" // the daily evaluation (periods move on)
)

// RankCount is how many customers hold a rank.
type RankCount struct {
	Rank      string  `json:"rank"`
	Name      string  `json:"name"`
	Customers int64   `json:"customers"`
	Share     float64 `json:"share"` // of all active customers, 0–1
}

// RankReport is the rank distribution at To and the movement between the
// ranks customers held at From and at To.
type RankReport struct {
	From         time.Time   `json:"from"`
	To           time.Time   `json:"to"`
	Distribution []RankCount `json:"distribution"`
	// Movement counts customers by (rank at From, rank at To); From is "new"
	// for customers who joined after From.
	Movement   []RankMove `json:"movement"`
	Upgraded   int64      `json:"upgraded"`
	Downgraded int64      `json:"downgraded"`
	Unchanged  int64      `json:"unchanged"`
	New        int64      `json:"new"`
}

// RankMove is one cell of the movement matrix.
type RankMove struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Customers int64  `json:"customers"`
}

// NewRank is the From of customers who were not customers yet.
const NewRank = "new"

// Tally builds the report's totals from per-customer (rank at From, rank at
// To) pairs counted in moves, and the distribution at To.
func (r RankRules) Tally(rep *RankReport, moves map[[2]string]int64) {
	dist := map[string]int64{}
	var total int64
	for k, n := range moves {
		dist[k[1]] += n
		total += n
		switch {
		case k[0] == NewRank:
			rep.New += n
		case k[0] == k[1]:
			rep.Unchanged += n
		case r.Direction(k[0], k[1]) == "up":
			rep.Upgraded += n
		default:
			rep.Downgraded += n
		}
	}
	rep.Distribution = make([]RankCount, 0, len(r.Tiers))
	for _, t := range r.Tiers {
		rc := RankCount{Rank: t.Code, Name: t.Name, Customers: dist[t.Code]}
		if total > 0 {
			rc.Share = float64(rc.Customers) / float64(total)
		}
		rep.Distribution = append(rep.Distribution, rc)
	}
	order := map[string]int{NewRank: -1}
	for i, t := range r.Tiers {
		order[t.Code] = len(r.Tiers) - i // lowest first
	}
	rep.Movement = make([]RankMove, 0, len(moves))
	for k, n := range moves {
		if n > 0 {
			rep.Movement = append(rep.Movement, RankMove{From: k[0], To: k[1], Customers: n})
		}
	}
	sortMoves(rep.Movement, order)
}

func sortMoves(m []RankMove, order map[string]int) {
	sort.Slice(m, func(i, j int) bool {
		if order[m[i].From] != order[m[j].From] {
			return order[m[i].From] < order[m[j].From]
		}
		return order[m[i].To] < order[m[j].To]
	})
}

package review

import (
	"math"
	"time"
)

// ProductRating is one product's reviews in a period.
type ProductRating struct {
	SKU          string   `json:"sku"`
	ProductName  string   `json:"product_name"`
	Reviews      int64    `json:"reviews"`
	Average      float64  `json:"average"`
	Distribution [5]int64 `json:"distribution"` // reviews rated 1 … 5
	Reviewers    int64    `json:"reviewers"`    // distinct customers among them
}

// RatingsReport is the average rating per product.
type RatingsReport struct {
	From     string          `json:"from,omitempty"`
	To       string          `json:"to,omitempty"`
	Reviews  int64           `json:"reviews"`
	Average  float64         `json:"average"`
	Products []ProductRating `json:"products"`
}

// Finish computes averages and rounds them.
func (r *RatingsReport) Finish() {
	var sum, n int64
	for i := range r.Products {
		p := &r.Products[i]
		var s int64
		p.Reviews = 0
		for k, c := range p.Distribution {
			s += int64(k+1) * c
			p.Reviews += c
		}
		if p.Reviews > 0 {
			p.Average = math.Round(float64(s)/float64(p.Reviews)*100) / 100
		}
		sum += s
		n += p.Reviews
	}
	r.Reviews = n
	if n > 0 {
		r.Average = math.Round(float64(sum)/float64(n)*100) / 100
	}
	if r.Products == nil {
		r.Products = []ProductRating{}
	}
}

// RepeatGroup is one side of the reviewers comparison.
type RepeatGroup struct {
	Customers  int64   `json:"customers"`
	Repeaters  int64   `json:"repeaters"`   // with two paid orders or more
	RepeatRate float64 `json:"repeat_rate"` // Repeaters / Customers
	AvgOrders  float64 `json:"avg_orders"`
	AvgSpent   float64 `json:"avg_spent"`
}

// Finish computes the rates.
func (g *RepeatGroup) Finish(orders, spent int64) {
	if g.Customers == 0 {
		return
	}
	n := float64(g.Customers)
	g.RepeatRate = math.Round(float64(g.Repeaters)/n*10000) / 10000
	g.AvgOrders = math.Round(float64(orders)/n*100) / 100
	g.AvgSpent = math.Round(float64(spent)/n*10) / 10
}

// RepeatReport compares the repeat rate of buyers who wrote a review with
// those who did not, among customers whose first paid order is in the
// period. ReorderedAfterReview is the share of reviewers who ordered again
// after their first review.
type RepeatReport struct {
	From                 string      `json:"from"`
	To                   string      `json:"to"`
	Reviewers            RepeatGroup `json:"reviewers"`
	NonReviewers         RepeatGroup `json:"non_reviewers"`
	ReorderedAfterReview float64     `json:"reordered_after_review"`
	// Lift is the reviewers' repeat rate over the others' (0 when undefined).
	Lift float64 `json:"lift"`
}

// DateLabel formats a time as a Tokyo date.
func DateLabel(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(time.FixedZone("JST", 9*3600)).Format("2006-01-02")
}

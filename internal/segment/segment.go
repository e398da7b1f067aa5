package segment

import (
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
)

// Segment is a stored, named condition whose members enishi keeps up to
// date: a new order or event re-evaluates that customer at once, and
// conditions that depend on the date are re-checked when the Tokyo date
// changes.
type Segment struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Condition   Condition `json:"condition"`
	MemberCount int64     `json:"member_count"`
	// EvaluatedAt is when membership was last brought up to date with the
	// date (the daily flip of time-relative conditions).
	EvaluatedAt *time.Time `json:"evaluated_at,omitempty"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Validate checks a segment before it is stored.
func (s *Segment) Validate() error {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" {
		return errs.FieldErrorf("name", "a segment needs a name")
	}
	if len(s.Name) > 200 {
		return errs.FieldErrorf("name", "at most 200 bytes")
	}
	if len(s.Description) > 2000 {
		return errs.FieldErrorf("description", "at most 2000 bytes")
	}
	return s.Condition.Validate()
}

// Change is one entry or exit of a customer, kept as history: journeys are
// triggered by them and reports count them.
type Change struct {
	ID         int64     `json:"id"`
	SegmentID  int64     `json:"segment_id"`
	CustomerID int64     `json:"customer_id"`
	Entered    bool      `json:"entered"` // false: exited
	At         time.Time `json:"at"`
}

// Preview is the live count and a sample of a condition while it is edited.
type Preview struct {
	Count  int64              `json:"count"`
	Sample []customer.Summary `json:"sample"`
}

// Member is one row of a segment export.
type Member struct {
	CustomerID  int64      `json:"customer_id"`
	LastName    string     `json:"last_name"`
	FirstName   string     `json:"first_name"`
	Email       string     `json:"email"`
	Phone       string     `json:"phone"`
	Prefecture  string     `json:"prefecture"`
	OrderCount  int64      `json:"order_count"`
	TotalSpent  int64      `json:"total_spent"`
	LastOrderAt *time.Time `json:"last_order_at,omitempty"`
	EnteredAt   time.Time  `json:"entered_at"`
	// Identifiers of the member in other systems, for pushes: Shopify
	// customer ids (external ids of source "shopify") and LINE user ids.
	ShopifyIDs  []string `json:"-"`
	LineUserIDs []string `json:"-"`
}

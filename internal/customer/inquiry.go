package customer

import (
	"strings"
	"time"
)

// InquiryReply is a staff reply to an inquiry (or a later message of the
// customer's, channel telling which).
type InquiryReply struct {
	ID        int64     `json:"id"`
	InquiryID int64     `json:"inquiry_id"`
	Author    string    `json:"author"`
	Body      string    `json:"body"`
	Channel   string    `json:"channel,omitempty"` // email, line, phone …: how it was sent
	CreatedAt time.Time `json:"created_at"`
}

// InquiryDetail is an inquiry with its tags, replies and customer.
type InquiryDetail struct {
	Inquiry
	CustomerName string         `json:"customer_name"`
	Tags         []string       `json:"tags"`
	ClosedAt     *time.Time     `json:"closed_at,omitempty"`
	Replies      []InquiryReply `json:"replies,omitempty"`
}

// Mask hides personal data from callers without pii:read: the customer's
// given name and what the customer wrote.
func (d *InquiryDetail) Mask() {
	if i := strings.IndexByte(d.CustomerName, ' '); i > 0 {
		d.CustomerName = d.CustomerName[:i] + " " + masked
	} else {
		d.CustomerName = maskAll(d.CustomerName)
	}
	d.Body = maskAll(d.Body)
}

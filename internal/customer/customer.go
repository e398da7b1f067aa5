// Package customer holds the customer profile (顧客), what is recorded about a
// person (consents, tags, notes, inquiries) and the 360 view assembled from it.
package customer

import (
	"time"

	"github.com/enishi-crm/enishi/internal/identity"
)

// Status of a customer row.
type Status string

// Statuses. A merged customer points at the customer that absorbed it.
const (
	Active Status = "active"
	Merged Status = "merged"
	// Erased customers had their personal data erased on request (APPI);
	// the row stays, empty, so their orders still count in reports.
	Erased Status = "erased"
)

// Profile is what a shop knows about who a person is. Empty strings mean
// unknown. Email is normalized; Phone is E.164; Birthday is YYYY-MM-DD.
type Profile struct {
	LastName      string `json:"last_name"`
	FirstName     string `json:"first_name"`
	LastNameKana  string `json:"last_name_kana"`
	FirstNameKana string `json:"first_name_kana"`
	Email         string `json:"email"`
	Phone         string `json:"phone"`
	Birthday      string `json:"birthday"`
	Gender        string `json:"gender"` // male | female | other | ""
	PostalCode    string `json:"postal_code"`
	Prefecture    string `json:"prefecture"`
	City          string `json:"city"`
	Address1      string `json:"address1"`
	Address2      string `json:"address2"`
	// First-touch acquisition (初回流入).
	AcqChannel  string `json:"acq_channel"`
	AcqSource   string `json:"acq_source"`
	AcqMedium   string `json:"acq_medium"`
	AcqCampaign string `json:"acq_campaign"`
	AcqReferrer string `json:"acq_referrer"`
}

// fields lists pointers to every profile field with its name, in column order.
func (p *Profile) fields() []struct {
	name string
	ptr  *string
} {
	return []struct {
		name string
		ptr  *string
	}{
		{"last_name", &p.LastName}, {"first_name", &p.FirstName},
		{"last_name_kana", &p.LastNameKana}, {"first_name_kana", &p.FirstNameKana},
		{"email", &p.Email}, {"phone", &p.Phone}, {"birthday", &p.Birthday}, {"gender", &p.Gender},
		{"postal_code", &p.PostalCode}, {"prefecture", &p.Prefecture}, {"city", &p.City},
		{"address1", &p.Address1}, {"address2", &p.Address2},
		{"acq_channel", &p.AcqChannel}, {"acq_source", &p.AcqSource}, {"acq_medium", &p.AcqMedium},
		{"acq_campaign", &p.AcqCampaign}, {"acq_referrer", &p.AcqReferrer},
	}
}

// FieldNames lists the profile's field names in a fixed order.
func FieldNames() []string {
	var p Profile
	fs := p.fields()
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

// Values returns the profile's field values in FieldNames order.
func (p *Profile) Values() []string {
	fs := p.fields()
	v := make([]string, len(fs))
	for i, f := range fs {
		v[i] = *f.ptr
	}
	return v
}

// Pointers returns pointers to the fields in FieldNames order (for scanning).
func (p *Profile) Pointers() []any {
	fs := p.fields()
	v := make([]any, len(fs))
	for i, f := range fs {
		v[i] = f.ptr
	}
	return v
}

// Fill copies the fields of o into p where p has none, and reports whether
// anything changed. First-touch acquisition is only set as a whole.
func (p *Profile) Fill(o Profile) bool {
	changed := false
	pf, of := p.fields(), o.fields()
	for i := range pf {
		if isAcq(pf[i].name) {
			continue
		}
		if *pf[i].ptr == "" && *of[i].ptr != "" {
			*pf[i].ptr = *of[i].ptr
			changed = true
		}
	}
	return p.fillFirstTouch(o) || changed
}

// fillFirstTouch copies o's acquisition fields as a whole when p has none.
func (p *Profile) fillFirstTouch(o Profile) bool {
	if p.hasFirstTouch() || !o.hasFirstTouch() {
		return false
	}
	p.AcqChannel, p.AcqSource, p.AcqMedium, p.AcqCampaign, p.AcqReferrer = o.AcqChannel, o.AcqSource, o.AcqMedium, o.AcqCampaign, o.AcqReferrer
	return true
}

func (p *Profile) hasFirstTouch() bool {
	return p.AcqChannel != "" || p.AcqSource != "" || p.AcqMedium != "" || p.AcqCampaign != "" || p.AcqReferrer != ""
}

// Overwrite copies every non-empty field of o into p (an authoritative
// source, such as a customer master import, wins over what is known) and
// reports whether anything changed. First touch is still never overwritten.
func (p *Profile) Overwrite(o Profile) bool {
	changed := false
	pf, of := p.fields(), o.fields()
	for i := range pf {
		if isAcq(pf[i].name) {
			continue
		}
		if v := *of[i].ptr; v != "" && *pf[i].ptr != v {
			*pf[i].ptr = v
			changed = true
		}
	}
	return p.fillFirstTouch(o) || changed
}

func isAcq(name string) bool { return len(name) > 4 && name[:4] == "acq_" }

// DisplayName is the name as shown: 姓 名, or the e-mail address when unknown.
func (p Profile) DisplayName() string {
	switch {
	case p.LastName != "" && p.FirstName != "":
		return p.LastName + " " + p.FirstName
	case p.LastName != "" || p.FirstName != "":
		return p.LastName + p.FirstName
	default:
		return p.Email
	}
}

// Aggregates summarise a customer's paid orders. Cancelled and refunded
// orders never count.
type Aggregates struct {
	OrderCount   int64      `json:"order_count"`
	TotalSpent   int64      `json:"total_spent"`
	FirstOrderAt *time.Time `json:"first_order_at"`
	LastOrderAt  *time.Time `json:"last_order_at"`
}

// AOV is the average order value in yen (0 without orders).
func (a Aggregates) AOV() int64 {
	if a.OrderCount == 0 {
		return 0
	}
	return a.TotalSpent / a.OrderCount
}

// Customer is one person as stored.
type Customer struct {
	ID         int64             `json:"id"`
	Status     Status            `json:"status"`
	MergedInto int64             `json:"merged_into,omitempty"`
	Profile                      // embedded: its fields appear at the top level in JSON
	Attributes map[string]string `json:"attributes"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Aggregates
}

// Record is an incoming fact about a person from an import, an event or a
// webhook: how to recognise them and what they told us.
type Record struct {
	Identifiers []identity.Identifier
	Profile     Profile
	// Overwrite makes non-empty profile fields win over stored ones
	// (a customer master); otherwise they only fill gaps (an order's buyer).
	Overwrite  bool
	SeenAt     time.Time // when the source first knew the person, if it says
	Consents   []Consent
	Tags       []string
	Attributes map[string]string
}

// Empty reports whether the record carries no way to recognise anyone.
func (r Record) Empty() bool { return len(r.Identifiers) == 0 }

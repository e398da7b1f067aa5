package customer

import (
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/jtext"
)

// Ref names a customer in a webhook payload (subscriptions, reviews): by
// the source's own customer id, e-mail or phone, with a name if known.
type Ref struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	LastName  string `json:"last_name"`
	FirstName string `json:"first_name"`
}

// Record turns the reference into a record for identity resolution;
// field prefixes the names of fields in errors ("data.customer").
func (r *Ref) Record(source, field string) (Record, error) {
	var rec Record
	if v := strings.TrimSpace(r.ID); v != "" {
		rec.Identifiers = append(rec.Identifiers, identity.ExternalID(source, v))
	}
	if v := strings.TrimSpace(r.Email); v != "" {
		id, err := identity.EmailID(v)
		if err != nil {
			return rec, &errs.Error{Code: errs.Invalid, Field: field + ".email", Message: errs.Message(err)}
		}
		rec.Identifiers = append(rec.Identifiers, id)
		rec.Profile.Email = id.Value
	}
	if v := strings.TrimSpace(r.Phone); v != "" {
		id, err := identity.PhoneID(v)
		if err != nil {
			return rec, &errs.Error{Code: errs.Invalid, Field: field + ".phone", Message: errs.Message(err)}
		}
		rec.Identifiers = append(rec.Identifiers, id)
		rec.Profile.Phone = id.Value
	}
	rec.Profile.LastName, rec.Profile.FirstName = jtext.Clean(r.LastName), jtext.Clean(r.FirstName)
	if rec.Empty() {
		return rec, errs.FieldErrorf(field, "name the customer by id, email or phone")
	}
	return rec, nil
}

package customer

import (
	"strings"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/identity"
)

// Masking hides personal data from staff whose role may not see it
// (analysts): 山田 ***, t***@example.com, 090-****-5678. The family name,
// prefecture and birth year stay, as analyses group by them.
const masked = "***"

// MaskEmail keeps the first character and the domain.
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		return maskAll(e)
	}
	_, n := utf8.DecodeRuneInString(e)
	return e[:n] + masked + e[at:]
}

// MaskPhone keeps the first three and the last four digits, in national
// format: 090-****-5678.
func MaskPhone(e164 string) string {
	if e164 == "" {
		return ""
	}
	d := identity.NationalPhone(e164)
	if len(d) < 8 {
		return maskAll(d)
	}
	return d[:3] + "-****-" + d[len(d)-4:]
}

func maskAll(s string) string {
	if s == "" {
		return ""
	}
	return masked
}

// Mask hides the personal fields of a profile.
func (p *Profile) Mask() {
	p.FirstName, p.FirstNameKana = maskAll(p.FirstName), maskAll(p.FirstNameKana)
	if p.FirstName == "" && p.LastName != "" {
		p.LastName = maskAll(p.LastName)
	}
	p.Email = MaskEmail(p.Email)
	p.Phone = MaskPhone(p.Phone)
	if len(p.Birthday) == 10 {
		p.Birthday = p.Birthday[:4] + "-**-**"
	}
	if len(p.PostalCode) == 8 {
		p.PostalCode = p.PostalCode[:3] + "-****"
	}
	p.Address1, p.Address2 = maskAll(p.Address1), maskAll(p.Address2)
	p.AcqReferrer = maskAll(p.AcqReferrer)
}

// MaskIdentifier hides an identifier's value.
func MaskIdentifier(id identity.Identifier) string {
	switch id.Kind {
	case identity.Email:
		return MaskEmail(id.Value)
	case identity.Phone:
		return MaskPhone(id.Value)
	}
	if len(id.Value) <= 4 {
		return masked
	}
	return id.Value[:2] + masked
}

// Mask hides personal data in a customer 360.
func (v *View) Mask() {
	v.Profile.Mask()
	v.DisplayName = v.Profile.DisplayName()
	for k := range v.Attributes {
		v.Attributes[k] = masked
	}
	for i := range v.Identities {
		v.Identities[i].Value = MaskIdentifier(v.Identities[i].Identifier)
	}
	for i := range v.Merges {
		v.Merges[i].Via.Value = MaskIdentifier(v.Merges[i].Via)
	}
	for i := range v.MergeCandidates {
		v.MergeCandidates[i].Via.Value = MaskIdentifier(v.MergeCandidates[i].Via)
	}
	for i := range v.Timeline {
		it := &v.Timeline[i]
		switch it.Kind {
		case "note":
			it.Title = masked
		case "inquiry", "review":
			it.Detail["body"] = masked
		}
	}
}

// Mask hides personal data in a list row.
func (s *Summary) Mask() {
	p := Profile{Email: s.Email, Phone: s.Phone}
	p.Mask()
	s.Email, s.Phone = p.Email, p.Phone
	if i := strings.IndexByte(s.DisplayName, ' '); i > 0 {
		s.DisplayName = s.DisplayName[:i] + " " + masked
	} else if s.DisplayName != "" {
		s.DisplayName = masked
	}
	if i := strings.IndexByte(s.NameKana, ' '); i > 0 {
		s.NameKana = s.NameKana[:i] + " " + masked
	} else {
		s.NameKana = maskAll(s.NameKana)
	}
}

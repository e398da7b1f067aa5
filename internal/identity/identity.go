// Package identity normalizes the identifiers a customer is known by and
// decides how an incoming record is matched to existing customers (名寄せ).
//
// It holds no state and does no I/O: the store looks identifiers up and asks
// Plan what to do, then carries the plan out in one transaction.
package identity

import (
	"strings"
	"unicode"

	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/nyaruka/phonenumbers"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Kind is the type of an identifier. Auto-merge is configured per kind.
type Kind string

// Identifier kinds.
const (
	Email     Kind = "email"     // normalized e-mail address, global
	Phone     Kind = "phone"     // E.164 phone number, global
	External  Kind = "external"  // a source system's customer id (Source says which system)
	Line      Kind = "line"      // LINE user id; Source is the LINE provider id
	Anonymous Kind = "anonymous" // a browser's anonymous id from the JS tag or event API
)

// Kinds lists every kind, in matching priority order.
var Kinds = []Kind{External, Line, Email, Phone, Anonymous}

// ParseKind validates a kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", errs.Errorf(errs.Invalid, "unknown identifier kind %q (want one of email, phone, external, line, anonymous)", s)
}

// Identifier is one normalized way to recognise a person.
//
// Weak identifiers (masked mall relay addresses, anonymous browser ids) are
// kept and can find a customer, but never cause two customers to merge.
type Identifier struct {
	Kind   Kind
	Source string
	Value  string
	Weak   bool
}

// Key returns a string that is equal for equal identifiers.
func (id Identifier) Key() string {
	return string(id.Kind) + "\x00" + id.Source + "\x00" + id.Value
}

// priority orders kinds for choosing the customer a record belongs to when
// its identifiers point at several.
func (id Identifier) priority() int {
	for i, k := range Kinds {
		if k == id.Kind {
			return i
		}
	}
	return len(Kinds)
}

// NormalizeEmail applies NFKC, trims and lower-cases an address and checks
// that it has the shape local@domain.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(jtext.NFKC(s)))
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || !strings.Contains(e[at+1:], ".") || strings.HasSuffix(e, ".") {
		return "", errs.Errorf(errs.Invalid, "%q is not an e-mail address", s)
	}
	for _, r := range e {
		if unicode.IsSpace(r) || r == ',' || r == ';' || r == '<' || r == '>' || r > unicode.MaxASCII && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "", errs.Errorf(errs.Invalid, "%q is not an e-mail address", s)
		}
	}
	return e, nil
}

// maskedEmailDomains are mall relay domains: addresses there are masked per
// order or per shop and say nothing about who the person is elsewhere.
var maskedEmailDomains = []string{
	"fw.rakuten.ne.jp",         // 楽天 relay (pc.fw.rakuten.ne.jp and others)
	"marketplace.amazon.co.jp", // Amazon.co.jp buyer-seller messaging
	"marketplace.amazon.com",
	"yahoo-shopping.jp", // Yahoo!ショッピング masked addresses
}

// IsMaskedEmail reports whether a normalized address is a mall relay address.
func IsMaskedEmail(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := email[at+1:]
	for _, d := range maskedEmailDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// NormalizePhone returns a phone number in E.164 form. Numbers without a
// country code are read as Japanese; full-width digits and hyphens are fine.
func NormalizePhone(s string) (string, error) {
	p := strings.TrimSpace(jtext.NFKC(s))
	p = strings.NewReplacer("ー", "-", "−", "-", "‐", "-", "―", "-").Replace(p)
	if p == "" {
		return "", errs.Errorf(errs.Invalid, "empty phone number")
	}
	if e, ok := fastJapanesePhone(p); ok {
		return e, nil
	}
	num, err := phonenumbers.Parse(p, "JP")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", errs.Errorf(errs.Invalid, "%q is not a phone number", s)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// fastJapanesePhone handles the common case of a domestic number written
// with digits, hyphens and spaces only (09012345678, 03-1234-5678): a 0 and
// 9 or 10 more digits becomes +81 and the digits after the 0. It gives the
// same answer as the library (a test holds it to that) at a fraction of the
// cost, which matters when an import reads a million rows.
func fastJapanesePhone(p string) (string, bool) {
	var d [16]byte
	n := 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return "", false
			}
			d[n] = c
			n++
		case c == '-' || c == ' ':
		default:
			return "", false
		}
	}
	if (n != 10 && n != 11) || d[0] != '0' || d[1] == '0' {
		return "", false
	}
	return "+81" + string(d[1:n]), true
}

// NationalPhone formats an E.164 number the way it is written at home
// (for Japan: 09012345678 without hyphens), for search.
func NationalPhone(e164 string) string {
	if rest, ok := strings.CutPrefix(e164, "+81"); ok && len(rest) >= 9 && len(rest) <= 10 && rest[0] != '0' {
		return "0" + rest // the common case, without the library's formatting machinery
	}
	num, err := phonenumbers.Parse(e164, "JP")
	if err != nil {
		return strings.TrimPrefix(e164, "+")
	}
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phonenumbers.Format(num, phonenumbers.NATIONAL))
}

// EmailID returns the identifier for an address, weak when it is masked.
func EmailID(s string) (Identifier, error) {
	e, err := NormalizeEmail(s)
	if err != nil {
		return Identifier{}, err
	}
	return Identifier{Kind: Email, Value: e, Weak: IsMaskedEmail(e)}, nil
}

// PhoneID returns the identifier for a phone number.
func PhoneID(s string) (Identifier, error) {
	p, err := NormalizePhone(s)
	if err != nil {
		return Identifier{}, err
	}
	return Identifier{Kind: Phone, Value: p}, nil
}

// ExternalID returns the identifier for a source system's own customer id.
func ExternalID(source, id string) Identifier {
	return Identifier{Kind: External, Source: source, Value: strings.TrimSpace(jtext.NFKC(id))}
}

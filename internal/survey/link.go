package survey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A survey link carries a token naming the survey and the customer it was
// made for, signed so that nobody can make a link for another customer or
// survey: answers given through it attach to that customer, with no login.
// The answer page's form carries a second, short-lived token (FormToken)
// bound to the link, which a POST must echo.

// ErrBadToken is returned for a token this Signer did not make.
var ErrBadToken = errors.New("survey: invalid or tampered link")

// Signer makes and checks survey tokens with an HMAC-SHA256 key.
type Signer struct{ key []byte }

// NewSigner returns a signer; the key must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("survey: the link signing key must be at least 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

const macLen = 16 // 128 bits

func (s *Signer) mac(purpose string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(purpose))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write(p)
	}
	return h.Sum(nil)[:macLen]
}

// Token returns the link token for a customer and survey.
func (s *Signer) Token(surveyID, customerID int64) string {
	buf := binary.AppendUvarint(nil, uint64(surveyID))
	buf = binary.AppendUvarint(buf, uint64(customerID))
	return base64.RawURLEncoding.EncodeToString(buf) + "." + base64.RawURLEncoding.EncodeToString(s.mac("survey-link", buf))
}

// Parse checks a link token (in constant time) and returns what it names.
func (s *Signer) Parse(token string) (surveyID, customerID int64, err error) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 200 {
		return 0, 0, ErrBadToken
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac("survey-link", raw)) {
		return 0, 0, ErrBadToken
	}
	sv, n := binary.Uvarint(raw)
	if n <= 0 {
		return 0, 0, ErrBadToken
	}
	cu, m := binary.Uvarint(raw[n:])
	if m <= 0 || n+m != len(raw) || sv == 0 || cu == 0 || sv > 1<<62 || cu > 1<<62 {
		return 0, 0, ErrBadToken
	}
	return int64(sv), int64(cu), nil
}

// FormTTL is how long an answer page's form stays valid.
const FormTTL = 24 * time.Hour

// FormToken returns the token an answer page's form carries: bound to the
// page's link (or public key) and the time it was rendered.
func (s *Signer) FormToken(link string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return ts + "." + base64.RawURLEncoding.EncodeToString(s.mac("survey-form", []byte(link), []byte(ts)))
}

// CheckForm verifies a form token for link at now.
func (s *Signer) CheckForm(link, token string, now time.Time) error {
	ts, sig, ok := strings.Cut(token, ".")
	sec, err := strconv.ParseInt(ts, 10, 64)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || err2 != nil || !hmac.Equal(mac, s.mac("survey-form", []byte(link), []byte(ts))) {
		return ErrBadToken
	}
	if age := now.Sub(time.Unix(sec, 0)); age < -time.Minute || age > FormTTL {
		return errors.New("survey: the form has expired; reload the page")
	}
	return nil
}

// Inviter records that a customer was sent or shown a survey.
type Inviter interface {
	InviteToSurvey(ctx context.Context, surveyID, customerID int64, channel string) error
}

// PagePath is the path of a customer's answer page for a link token.
func PagePath(token string) string { return "/s/" + token }

// Link returns the address of a customer's answer page (for a message's
// merge field or a QR code) and records the invitation, which the
// response rate counts. baseURL is enishi's public address.
func Link(ctx context.Context, inv Inviter, sg *Signer, baseURL string, surveyID, customerID int64, channel string) (string, error) {
	if err := inv.InviteToSurvey(ctx, surveyID, customerID, channel); err != nil {
		return "", err
	}
	return strings.TrimRight(baseURL, "/") + PagePath(sg.Token(surveyID, customerID)), nil
}

// LinkStore is where a Linker reads the signing key and records
// invitations; store.Store is one.
type LinkStore interface {
	Inviter
	SurveyLinkKey(ctx context.Context) ([]byte, error)
}

// Linker makes customers' survey links, reading the signing key from the
// store on first use. It is safe for concurrent use.
type Linker struct {
	Store LinkStore
	mu    sync.Mutex
	sg    *Signer
}

// Signer returns the signer of the store's key.
func (l *Linker) Signer(ctx context.Context) (*Signer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sg != nil {
		return l.sg, nil
	}
	key, err := l.Store.SurveyLinkKey(ctx)
	if err != nil {
		return nil, err
	}
	sg, err := NewSigner(key)
	if err != nil {
		return nil, err
	}
	l.sg = sg
	return sg, nil
}

// SurveyURL returns a customer's answer page for a survey and records the
// invitation (the survey.url merge field of messages).
func (l *Linker) SurveyURL(ctx context.Context, baseURL string, surveyID, customerID int64, channel string) (string, error) {
	sg, err := l.Signer(ctx)
	if err != nil {
		return "", err
	}
	return Link(ctx, l.Store, sg, baseURL, surveyID, customerID, channel)
}

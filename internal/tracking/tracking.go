// Package tracking makes and checks the links a message carries: the open
// pixel, click redirects and the one-click unsubscribe link, each signed so
// that no one can forge a link to another message or customer, or turn the
// redirect into an open redirect. It also appends UTM parameters, tells
// machine opens (Apple Mail Privacy Protection) from people, and decides
// which message an order is attributed to.
package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Link kinds, part of what is signed.
const (
	KindOpen        = 'o'
	KindClick       = 'c'
	KindUnsubscribe = 'u'
)

// ErrBadToken is returned for a token that was not made by this Signer.
var ErrBadToken = errors.New("tracking: invalid or tampered link")

// Signer makes and checks tokens with an HMAC-SHA256 key.
type Signer struct {
	key []byte
}

// NewSigner returns a signer; the key must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("tracking: the link signing key must be at least 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// macLen is the truncated MAC length: 128 bits.
const macLen = 16

// Token encodes kind, message id and an optional payload (a click's
// target URL) with a MAC over all of them: base64url(payload) "." mac.
func (s *Signer) Token(kind byte, messageID int64, payload string) string {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload))
	buf = append(buf, kind)
	buf = binary.AppendUvarint(buf, uint64(messageID))
	buf = append(buf, payload...)
	return base64.RawURLEncoding.EncodeToString(buf[1:]) + "." + base64.RawURLEncoding.EncodeToString(s.mac(buf))
}

func (s *Signer) mac(b []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write(b)
	return h.Sum(nil)[:macLen]
}

// Parse checks a token of the given kind and returns its message id and
// payload. The comparison is constant-time.
func (s *Signer) Parse(kind byte, token string) (int64, string, error) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return 0, "", ErrBadToken
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(mac) != macLen {
		return 0, "", ErrBadToken
	}
	signed := append([]byte{kind}, raw...)
	if !hmac.Equal(mac, s.mac(signed)) {
		return 0, "", ErrBadToken
	}
	id, n := binary.Uvarint(raw)
	if n <= 0 || id == 0 {
		return 0, "", ErrBadToken
	}
	return int64(id), string(raw[n:]), nil
}

// Links builds a message's tracking URLs under the server's public base URL.
type Links struct {
	Base   string // e.g. https://crm.example.com (no trailing slash)
	Signer *Signer
}

// Open is the open pixel's URL.
func (l Links) Open(messageID int64) string {
	return l.Base + "/t/o/" + l.Signer.Token(KindOpen, messageID, "") + ".gif"
}

// Click is the redirect URL for target.
func (l Links) Click(messageID int64, target string) string {
	return l.Base + "/t/c/" + l.Signer.Token(KindClick, messageID, target)
}

// Unsubscribe is the one-click unsubscribe URL (page and RFC 8058 POST).
func (l Links) Unsubscribe(messageID int64) string {
	return l.Base + "/u/" + l.Signer.Token(KindUnsubscribe, messageID, "")
}

// UTM are the parameters appended to the shop's links.
type UTM struct {
	Source, Medium, Campaign, Content string
}

// AddUTM appends the UTM parameters to u, keeping any the link already has.
func AddUTM(u string, p UTM) string {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return u
	}
	q := pu.Query()
	set := func(k, v string) {
		if v != "" && q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	set("utm_source", p.Source)
	set("utm_medium", p.Medium)
	set("utm_campaign", p.Campaign)
	set("utm_content", p.Content)
	pu.RawQuery = q.Encode()
	return pu.String()
}

// Rewriter turns the links of a rendered message into tracked links.
type Rewriter struct {
	Links     Links
	MessageID int64
	UTM       UTM
	// UTMHosts limits UTM parameters to the shop's own hosts; empty means
	// every link gets them.
	UTMHosts []string
	// Skip lists URL prefixes left alone (the unsubscribe link).
	Skip []string
	// TextTrusted, when set, picks the URLs of plain text that are
	// tracked: a URL a customer typed into their name or address must not
	// come out as a link on the shop's domain.
	TextTrusted func(url string) bool
}

var (
	hrefRe = regexp.MustCompile(`(?i)(<a\s[^>]*?href=")(https?://[^"]+)(")`)
	urlRe  = regexp.MustCompile(`https?://[^\s<>"'「」（）()]+`)
)

func (r *Rewriter) target(raw string) string {
	for _, p := range r.Skip {
		if strings.HasPrefix(raw, p) {
			return raw
		}
	}
	if strings.HasPrefix(raw, r.Links.Base+"/") {
		return raw
	}
	t := raw
	if r.utmFor(raw) {
		t = AddUTM(raw, r.UTM)
	}
	return r.Links.Click(r.MessageID, t)
}

func (r *Rewriter) utmFor(raw string) bool {
	if len(r.UTMHosts) == 0 {
		return true
	}
	return onHost(raw, r.UTMHosts)
}

// onHost says whether raw is a URL on one of hosts or their subdomains.
func onHost(raw string, hosts []string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range hosts {
		h = strings.ToLower(h)
		if h != "" && (host == h || strings.HasSuffix(host, "."+h)) {
			return true
		}
	}
	return false
}

// HTML rewrites the href of every http(s) link in an HTML document. The
// hrefs are HTML-escaped in the document, so they are unescaped before
// signing and the click URL (only URL-safe characters) needs no escaping.
func (r *Rewriter) HTML(doc string) string {
	return hrefRe.ReplaceAllStringFunc(doc, func(m string) string {
		p := hrefRe.FindStringSubmatch(m)
		raw := strings.ReplaceAll(p[2], "&amp;", "&")
		return p[1] + strings.ReplaceAll(r.target(raw), "&", "&amp;") + p[3]
	})
}

// Text rewrites the http(s) URLs of plain text (those TextTrusted picks).
func (r *Rewriter) Text(s string) string {
	return urlRe.ReplaceAllStringFunc(s, func(u string) string {
		if r.TextTrusted != nil && !r.TextTrusted(u) {
			return u
		}
		return r.target(u)
	})
}

// Trusted is a TextTrusted for a message: a URL on one of hosts (or their
// subdomains), or one the template spells out (exactly, or followed by a
// path, query or fragment).
func Trusted(hosts, literal []string) func(string) bool {
	return func(raw string) bool {
		for _, l := range literal {
			if raw == l || (strings.HasPrefix(raw, l) && (strings.HasSuffix(l, "/") || strings.ContainsRune("/?#", rune(raw[len(l)])))) {
				return true
			}
		}
		return onHost(raw, hosts)
	}
}

// PixelHTML is the open pixel's image tag.
func PixelHTML(openURL string) string {
	return `<img src="` + openURL + `" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`
}

// AddPixel inserts the pixel before </body> (or at the end).
func AddPixel(doc, openURL string) string {
	px := PixelHTML(openURL)
	if i := strings.LastIndex(strings.ToLower(doc), "</body>"); i >= 0 {
		return doc[:i] + px + doc[i:]
	}
	return doc + px
}

// appleProxy is the network Apple Mail Privacy Protection fetches images
// from (Apple's 17.0.0.0/8).
var appleProxy = &net.IPNet{IP: net.IPv4(17, 0, 0, 0), Mask: net.CIDRMask(8, 32)}

// MachineOpen reports whether an open was made by a privacy proxy rather
// than a person reading: Apple MPP prefetches every image from Apple's
// network with a bare "Mozilla/5.0" user agent; Gmail's and Yahoo's image
// proxies fetch once for caching.
func MachineOpen(ip net.IP, userAgent string) bool {
	if ip != nil && appleProxy.Contains(ip) {
		return true
	}
	ua := strings.TrimSpace(userAgent)
	if ua == "Mozilla/5.0" {
		return true
	}
	l := strings.ToLower(ua)
	return strings.Contains(l, "googleimageproxy") || strings.Contains(l, "yahoomailproxy")
}

// Touch is a customer's interaction with a message.
type Touch struct {
	MessageID int64
	Kind      string // "click" | "open"
	At        time.Time
}

// Windows are how long after a touch an order is credited to it.
type Windows struct {
	Click time.Duration
	Open  time.Duration
}

// DefaultWindows: 5 days after a click, 1 day after an open.
var DefaultWindows = Windows{Click: 5 * 24 * time.Hour, Open: 24 * time.Hour}

// Attribute picks the message an order placed at orderAt is credited to:
// the latest touch before the order that is within its window (last
// touch). It reports false when no touch qualifies.
func Attribute(touches []Touch, orderAt time.Time, w Windows) (Touch, bool) {
	var best Touch
	found := false
	for _, t := range touches {
		if t.At.After(orderAt) {
			continue
		}
		win := w.Open
		if t.Kind == "click" {
			win = w.Click
		}
		if orderAt.Sub(t.At) > win {
			continue
		}
		if !found || t.At.After(best.At) || (t.At.Equal(best.At) && t.Kind == "click" && best.Kind != "click") {
			best, found = t, true
		}
	}
	return best, found
}

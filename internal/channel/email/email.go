// Package email sends e-mail over SMTP (587 with STARTTLS, 465 with
// implicit TLS, AUTH) through go-mail, with pooled connections reused
// across messages, DKIM signatures, HTML and text parts, Japanese headers
// MIME-encoded as UTF-8, and List-Unsubscribe with RFC 8058 one-click on
// every marketing mail. It also parses bounce reports (RFC 3464 DSNs and
// RFC 5965 complaint reports) and checks a domain's SPF, DKIM and DMARC
// records.
package email

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/enishi-crm/enishi/internal/message"
)

// Config configures the SMTP sender.
type Config struct {
	Host     string
	Port     int    // default 587
	Security string // starttls (default) | tls (implicit, port 465) | none (a local relay)
	Username string
	Password string
	// TLSConfig overrides certificate checks (tests trust their fake's CA).
	TLSConfig *tls.Config
	HELO      string

	FromName    string
	FromAddress string
	ReplyTo     string
	// ReturnPath is the envelope sender that receives bounces.
	ReturnPath string

	DKIMDomain   string
	DKIMSelector string
	DKIMKeyPEM   string

	// Connections is how many SMTP connections are kept open and reused
	// (default 4).
	Connections int
	Timeout     time.Duration
}

// Sender sends e-mail through a pool of SMTP connections.
type Sender struct {
	cfg    Config
	dial   *gomail.Client // holds the connection settings; dials pooled connections
	dkim   *dkim.SignOptions
	domain string

	slots chan struct{}       // one per connection that may exist
	idle  chan *gosmtp.Client // connected clients waiting for work
}

// New returns a sender; nothing connects until the first message.
func New(cfg Config) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("email: the SMTP host is not set (settings email.host)")
	}
	if _, err := mail.ParseAddress(cfg.FromAddress); err != nil {
		return nil, fmt.Errorf("email: the from address %q is not valid (settings email.from_address)", cfg.FromAddress)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.Security == "tls" {
			cfg.Port = 465
		}
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ReturnPath == "" {
		cfg.ReturnPath = cfg.FromAddress
	}
	s := &Sender{cfg: cfg, slots: make(chan struct{}, cfg.Connections), idle: make(chan *gosmtp.Client, cfg.Connections)}
	s.domain = cfg.FromAddress[strings.LastIndex(cfg.FromAddress, "@")+1:]
	opts, err := ClientOptions(cfg)
	if err != nil {
		return nil, err
	}
	if s.dial, err = gomail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	if cfg.DKIMKeyPEM != "" {
		key, err := gomail.PrivKeyFromPEM([]byte(cfg.DKIMKeyPEM))
		if err != nil {
			return nil, fmt.Errorf("email: DKIM key: %w", err)
		}
		if cfg.DKIMDomain == "" || cfg.DKIMSelector == "" {
			return nil, errors.New("email: DKIM needs a domain and a selector (settings email.dkim_domain, email.dkim_selector)")
		}
		// RFC 8058 §4: List-Unsubscribe and List-Unsubscribe-Post must be
		// covered by the signature for one-click to be honoured.
		s.dkim = &dkim.SignOptions{Domain: cfg.DKIMDomain, Selector: cfg.DKIMSelector, Signer: key, Hash: crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
			HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type",
				"List-Unsubscribe", "List-Unsubscribe-Post"}}
	}
	return s, nil
}

// ClientOptions are the go-mail options for cfg (port, TLS, AUTH).
func ClientOptions(cfg Config) ([]gomail.Option, error) {
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithoutNoop()}
	switch cfg.Security {
	case "", "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("email: security %q is not starttls, tls or none", cfg.Security)
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.Username != "" {
		// The strongest mechanism the server offers; PLAIN and LOGIN only over TLS.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	return opts, nil
}

// Channel implements message.Sender.
func (s *Sender) Channel() message.Channel { return message.Email }

// Provider names the provider in send records.
func (s *Sender) Provider() string { return "smtp" }

// Msg makes the MIME message for a rendered e-mail. Marketing mail
// without a List-Unsubscribe header is refused: every marketing mail must
// offer one-click unsubscribe.
func (s *Sender) Msg(r message.Rendered) (*gomail.Msg, string, error) {
	if r.Purpose == message.Marketing && (r.Headers["List-Unsubscribe"] == "" || r.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click") {
		return nil, "", message.Permanent(errors.New("a marketing e-mail needs List-Unsubscribe and List-Unsubscribe-Post headers"))
	}
	m := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingQP))
	if err := m.FromFormat(s.cfg.FromName, s.cfg.FromAddress); err != nil {
		return nil, "", message.Permanent(fmt.Errorf("from address: %w", err))
	}
	if err := m.To(r.To); err != nil {
		return nil, "", message.Permanent(fmt.Errorf("recipient %q: %w", r.To, err))
	}
	if err := m.EnvelopeFrom(s.cfg.ReturnPath); err != nil {
		return nil, "", message.Permanent(fmt.Errorf("return path: %w", err))
	}
	if s.cfg.ReplyTo != "" {
		if err := m.ReplyTo(s.cfg.ReplyTo); err != nil {
			return nil, "", message.Permanent(fmt.Errorf("reply-to: %w", err))
		}
	}
	m.Subject(r.Subject)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	id := fmt.Sprintf("enishi.%s.%s@%s", sanitizeKey(r.Key), hex.EncodeToString(rnd[:]), s.domain)
	m.SetMessageIDWithValue(id)
	m.SetDate()
	for k, v := range r.Headers {
		m.SetGenHeader(gomail.Header(k), v)
	}
	if r.Purpose == message.Marketing {
		m.SetGenHeader("Precedence", "bulk")
	}
	text := r.Text
	if text == "" {
		text = " "
	}
	m.SetBodyString(gomail.TypeTextPlain, text)
	if r.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	}
	return m, "<" + id + ">", nil
}

// Build makes the message as sent: MIME, then DKIM-signed.
func (s *Sender) Build(r message.Rendered) (raw []byte, messageID string, err error) {
	m, id, err := s.Msg(r)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return nil, "", message.Permanent(fmt.Errorf("write message: %w", err))
	}
	if s.dkim == nil {
		return buf.Bytes(), id, nil
	}
	var out bytes.Buffer
	out.Grow(buf.Len() + 1024)
	if err := dkim.Sign(&out, &buf, s.dkim); err != nil {
		return nil, "", fmt.Errorf("DKIM sign: %w", err)
	}
	return out.Bytes(), id, nil
}

// sanitizeKey keeps a send key's safe characters for the Message-ID.
func sanitizeKey(k string) string {
	var b strings.Builder
	for _, c := range k {
		if b.Len() >= 64 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteRune(c)
		case c == ':' || c == '_' || c == '.':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// Send implements message.Sender: the message goes out on a pooled
// connection. SMTP 4xx answers and connection failures are transient; 5xx
// answers are permanent (message.ErrPermanent).
func (s *Sender) Send(ctx context.Context, r message.Rendered) (message.Result, error) {
	raw, id, err := s.Build(r)
	if err != nil {
		return message.Result{}, err
	}
	if err := s.SendRaw(ctx, s.cfg.ReturnPath, r.To, raw); err != nil {
		return message.Result{}, err
	}
	return message.Result{ProviderID: id, Status: "sent"}, nil
}

// SendRaw sends a finished message to one recipient on a pooled connection.
func (s *Sender) SendRaw(ctx context.Context, from, to string, raw []byte) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	err = c.Mail(from)
	if err == nil {
		err = c.Rcpt(to)
	}
	if err == nil {
		var w interface {
			Write([]byte) (int, error)
			Close() error
		}
		if w, err = c.Data(); err == nil {
			_, err = w.Write(raw)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err == nil {
		s.release(c, true)
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 && te.Code < 600 {
		// The server answered: the connection is fine for the next message
		// once the transaction is reset.
		s.release(c, c.Reset() == nil)
		if te.Code < 500 {
			return fmt.Errorf("smtp %d: %s", te.Code, te.Msg)
		}
		return message.Permanent(fmt.Errorf("smtp %d: %s", te.Code, te.Msg))
	}
	s.release(c, false)
	return fmt.Errorf("smtp connection: %w", err)
}

// acquire returns a connected client: an idle one, or a new one while the
// pool has room.
func (s *Sender) acquire(ctx context.Context) (*gosmtp.Client, error) {
	select {
	case c := <-s.idle:
		return c, nil
	default:
	}
	select {
	case c := <-s.idle:
		return c, nil
	case s.slots <- struct{}{}:
		c, err := s.dial.DialToSMTPClientWithContext(ctx)
		if err != nil {
			// Refused connections, TLS and AUTH failures are transient for
			// the message: fixing the server or the settings lets it go.
			<-s.slots
			return nil, fmt.Errorf("smtp connect %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release returns a client to the pool, or closes it.
func (s *Sender) release(c *gosmtp.Client, ok bool) {
	if ok {
		s.idle <- c
		return
	}
	_ = c.Close()
	<-s.slots
}

// Close closes the pooled connections.
func (s *Sender) Close() error {
	for {
		select {
		case c := <-s.idle:
			_ = c.Quit()
			_ = c.Close()
			<-s.slots
		default:
			return nil
		}
	}
}

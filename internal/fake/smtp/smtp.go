// Package smtp is an in-process SMTP server for tests, benchmarks and
// demos: it speaks real SMTP (go-smtp) with STARTTLS or implicit TLS and
// AUTH PLAIN, records every message it accepts, and can be told to answer
// the next messages with a temporary (4xx) or permanent (5xx) failure.
package smtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Options shape a server.
type Options struct {
	// TLS: "" (plain, STARTTLS offered), "implicit" (TLS from the first
	// byte, like port 465).
	TLS string
	// Username and Password, when set, make AUTH PLAIN required.
	Username, Password string
	// Discard counts messages without keeping them (benchmarks).
	Discard bool
}

// Server is a running fake SMTP server.
type Server struct {
	Addr   string
	Host   string
	Port   int
	Config *tls.Config // trusts the server's certificate (for clients)

	srv  *gosmtp.Server
	ln   net.Listener
	opts Options

	mu       sync.Mutex
	msgs     []Message
	failures []error
	peers    map[string]bool
	count    atomic.Int64
	conns    atomic.Int64
}

// Start starts a server on 127.0.0.1 and a free port.
func Start(opts Options) (*Server, error) {
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, peers: map[string]bool{}, Config: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	be := gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		// STARTTLS starts a new session on the same TCP connection.
		s.mu.Lock()
		if a := c.Conn().RemoteAddr().String(); !s.peers[a] {
			s.peers[a] = true
			s.conns.Add(1)
		}
		s.mu.Unlock()
		return &session{s: s, authed: opts.Username == ""}, nil
	})
	srv := gosmtp.NewServer(be)
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = false
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	var ln net.Listener
	if opts.TLS == "implicit" {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	s.srv, s.ln = srv, ln
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Messages returns the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is how many messages were accepted.
func (s *Server) Count() int64 { return s.count.Load() }

// Connections is how many TCP connections clients opened.
func (s *Server) Connections() int64 { return s.conns.Load() }

// FailNext makes the next accepted DATA commands fail with the given SMTP
// codes (e.g. 451 temporary, 550 permanent), one per message.
func (s *Server) FailNext(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range codes {
		s.failures = append(s.failures, &gosmtp.SMTPError{Code: c, EnhancedCode: gosmtp.EnhancedCode{c / 100, 0, 0}, Message: "injected failure"})
	}
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return errors.New("invalid username or password")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if !ss.authed {
		return gosmtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if !ss.authed {
		return gosmtp.ErrAuthRequired
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var data []byte
	var err error
	if ss.s.opts.Discard {
		_, err = io.Copy(io.Discard, r)
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if len(ss.s.failures) > 0 {
		f := ss.s.failures[0]
		ss.s.failures = ss.s.failures[1:]
		return f
	}
	if !ss.s.opts.Discard {
		ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data})
	}
	ss.s.count.Add(1)
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "enishi fake smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool, nil
}

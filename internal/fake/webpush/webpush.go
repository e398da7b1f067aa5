// Package webpush is an in-process fake push service (what Chrome's FCM or
// Mozilla's autopush are to a browser): it hands out subscriptions with
// real browser keys, checks each push's VAPID JWT (ES256 against the
// k= public key), decrypts the aes128gcm payload as a browser would
// (RFC 8291) and records the notifications. Subscriptions can be expired
// so that pushes to them answer 410 Gone.
package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// Push is one decrypted notification.
type Push struct {
	Endpoint string
	Data     []byte
	TTL      string
	Subject  string // the VAPID JWT's sub claim
}

type sub struct {
	key  *ecdh.PrivateKey
	auth []byte
	gone bool
}

// Server is a running fake push service.
type Server struct {
	*httptest.Server

	mu     sync.Mutex
	subs   map[string]*sub
	pushes []Push
	next   int
}

// Start starts a fake push service.
func Start() *Server {
	s := &Server{subs: map[string]*sub{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.push))
	return s
}

// Subscribe makes a browser subscription: its endpoint and the p256dh
// and auth keys (URL-safe base64), as PushSubscription.toJSON gives them.
func (s *Server) Subscribe() (endpoint, p256dh, auth string) {
	key, _ := ecdh.P256().GenerateKey(rand.Reader)
	a := make([]byte, 16)
	_, _ = rand.Read(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	endpoint = fmt.Sprintf("%s/push/%d", s.URL, s.next)
	s.subs[endpoint] = &sub{key: key, auth: a}
	return endpoint, base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(a)
}

// Expire makes pushes to an endpoint answer 410 Gone.
func (s *Server) Expire(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.subs[endpoint]; x != nil {
		x.gone = true
	}
}

// Pushes returns the decrypted notifications.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	endpoint := s.URL + r.URL.Path
	s.mu.Lock()
	x := s.subs[endpoint]
	s.mu.Unlock()
	if x == nil || r.Method != http.MethodPost {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if x.gone {
		http.Error(w, "subscription expired", http.StatusGone)
		return
	}
	subject, err := checkVAPID(r.Header.Get("Authorization"), s.URL)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		http.Error(w, "Content-Encoding aes128gcm and TTL are required", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	data, err := decrypt(x, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.pushes = append(s.pushes, Push{Endpoint: endpoint, Data: data, TTL: r.Header.Get("TTL"), Subject: subject})
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

// checkVAPID verifies "vapid t=JWT, k=KEY": an ES256 JWT for this
// audience, signed by KEY.
func checkVAPID(h, audience string) (string, error) {
	if !strings.HasPrefix(h, "vapid ") {
		return "", errors.New("missing VAPID authorization")
	}
	var tok, k string
	for _, part := range strings.Split(strings.TrimPrefix(h, "vapid "), ",") {
		name, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			tok = v
		case "k":
			k = v
		}
	}
	pub, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil || len(pub) != 65 {
		return "", errors.New("bad VAPID public key")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", errors.New("bad VAPID JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return "", errors.New("bad VAPID JWT signature")
	}
	x, y := elliptic.Unmarshal(elliptic.P256(), pub) //nolint:staticcheck // the raw point format VAPID uses
	if x == nil {
		return "", errors.New("bad VAPID public key point")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "", errors.New("VAPID JWT signature does not verify")
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		Aud string `json:"aud"`
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(claims, &c); err != nil || c.Aud != audience || c.Exp == 0 {
		return "", fmt.Errorf("VAPID claims: aud %q, want %q", c.Aud, audience)
	}
	return c.Sub, nil
}

// decrypt opens an aes128gcm body (RFC 8188) with the browser's keys (RFC 8291).
func decrypt(x *sub, body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body too short")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || rs < 18 {
		return nil, errors.New("bad aes128gcm header")
	}
	asPub := body[21 : 21+idlen]
	ct := body[21+idlen:]
	peer, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, fmt.Errorf("application server key: %w", err)
	}
	secret, err := x.key.ECDH(peer)
	if err != nil {
		return nil, err
	}
	uaPub := x.key.PublicKey().Bytes()
	info := append(append([]byte("WebPush: info\x00"), uaPub...), asPub...)
	ikm := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, x.auth, info), ikm); err != nil {
		return nil, err
	}
	prk := hkdf.Extract(sha256.New, ikm, salt)
	cek, nonce := make([]byte, 16), make([]byte, 12)
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, prk, []byte("Content-Encoding: aes128gcm\x00")), cek); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(hkdf.Expand(sha256.New, prk, []byte("Content-Encoding: nonce\x00")), nonce); err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("missing last-record padding delimiter")
	}
	return plain[:i], nil
}

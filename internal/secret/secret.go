// Package secret encrypts small secrets at rest (SMTP passwords, LINE
// channel secrets, Shopify tokens, TOTP seeds) with AES-256-GCM under a key
// that never enters the database: it comes from ENISHI_SECRET_KEY or the
// file named by ENISHI_SECRET_KEY_FILE. A previous key (…_PREVIOUS) can be
// given while secrets are re-encrypted under a new one (`enishi secret rotate`).
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Environment variables that supply keys.
const (
	KeyEnv             = "ENISHI_SECRET_KEY"
	KeyFileEnv         = "ENISHI_SECRET_KEY_FILE"
	PreviousKeyEnv     = "ENISHI_SECRET_KEY_PREVIOUS"
	PreviousKeyFileEnv = "ENISHI_SECRET_KEY_PREVIOUS_FILE"
)

// ErrNoKey is returned when a secret is read or written without a key.
var ErrNoKey = errs.Errorf(errs.Unavailable,
	"no secret key is configured: set %s (or %s) to a key from `enishi secret keygen`; see docs/security.md", KeyEnv, KeyFileEnv)

// Box seals and opens secrets. Ciphertexts are "v1:KEYID:BASE64(nonce|sealed)";
// KEYID names the key (the first 8 hex digits of its SHA-256), so a box with a
// previous key can still open what that key sealed.
type Box struct {
	cur  key
	prev []key
}

type key struct {
	id   string
	aead cipher.AEAD
}

func newKey(raw []byte) (key, error) {
	if len(raw) != 32 {
		return key{}, fmt.Errorf("a secret key is 32 bytes (64 hex digits or 44 base64 characters), got %d bytes", len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(raw)
	return key{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// NewBox returns a box sealing with current and also opening with previous.
func NewBox(current []byte, previous ...[]byte) (*Box, error) {
	k, err := newKey(current)
	if err != nil {
		return nil, err
	}
	b := &Box{cur: k}
	for _, p := range previous {
		pk, err := newKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
		b.prev = append(b.prev, pk)
	}
	return b, nil
}

// ParseKey decodes a key written as 64 hex digits or standard/URL base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("a secret key must be 32 bytes written as 64 hex digits or base64 (make one with `enishi secret keygen`)")
}

// GenerateKey returns a new random key, base64 encoded.
func GenerateKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// FromEnv builds a box from the environment: the key itself or a file
// holding it, and optionally a previous key. It returns nil, nil when no
// key is configured; secrets then cannot be stored (ErrNoKey).
func FromEnv(getenv func(string) string) (*Box, error) {
	cur, err := keyFrom(getenv, KeyEnv, KeyFileEnv)
	if err != nil || cur == nil {
		return nil, err
	}
	prev, err := keyFrom(getenv, PreviousKeyEnv, PreviousKeyFileEnv)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		return NewBox(cur, prev)
	}
	return NewBox(cur)
}

func keyFrom(getenv func(string) string, env, fileEnv string) ([]byte, error) {
	v := getenv(env)
	if v == "" {
		if path := getenv(fileEnv); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fileEnv, err)
			}
			v = string(b)
		}
	}
	if v == "" {
		return nil, nil
	}
	k, err := ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return k, nil
}

// Seal encrypts plaintext. name is bound to the ciphertext as additional
// data, so a ciphertext copied to another secret's row does not open.
func (b *Box) Seal(name, plaintext string) (string, error) {
	if b == nil {
		return "", ErrNoKey
	}
	nonce := make([]byte, b.cur.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.cur.aead.Seal(nonce, nonce, []byte(plaintext), []byte(name))
	return "v1:" + b.cur.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a ciphertext made by Seal for the same name.
func (b *Box) Open(name, ciphertext string) (string, error) {
	if b == nil {
		return "", ErrNoKey
	}
	parts := strings.SplitN(ciphertext, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", errs.Errorf(errs.Internal, "secret %s: unknown ciphertext format", name)
	}
	var k *key
	for _, c := range append([]key{b.cur}, b.prev...) {
		if c.id == parts[1] {
			k = &c
			break
		}
	}
	if k == nil {
		return "", errs.Errorf(errs.Unavailable, "secret %s was sealed with key %s, which is not configured (set %s to it)", name, parts[1], PreviousKeyEnv)
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < k.aead.NonceSize() {
		return "", errs.Errorf(errs.Internal, "secret %s: damaged ciphertext", name)
	}
	n := k.aead.NonceSize()
	pt, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return "", errs.Errorf(errs.Internal, "secret %s: ciphertext does not authenticate (wrong key or tampered)", name)
	}
	return string(pt), nil
}

// Current reports whether a ciphertext is sealed with the current key.
func (b *Box) Current(ciphertext string) bool {
	return b != nil && strings.HasPrefix(ciphertext, "v1:"+b.cur.id+":")
}

// KeyID names the current key (safe to print).
func (b *Box) KeyID() string {
	if b == nil {
		return ""
	}
	return b.cur.id
}

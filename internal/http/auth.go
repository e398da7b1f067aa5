package http

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "enishi_session"

// sessionTTL is how long a session lasts without activity.
const sessionTTL = 12 * time.Hour

// Principal is who is calling: a staff user (session) or an API key.
type Principal struct {
	UserID int64  `json:"user_id,omitempty"`
	Email  string `json:"email,omitempty"`
	Role   string `json:"role,omitempty"`
	KeyID  int64  `json:"key_id,omitempty"`
	// KeyName is the API key's name (the event API files data under it).
	KeyName string `json:"key_name,omitempty"`
	// Scopes of an API key; nil for users (their role decides).
	Scopes []auth.Permission `json:"scopes,omitempty"`
	// CSRF is the token a session must echo in X-CSRF-Token on writes.
	CSRF string `json:"csrf_token,omitempty"`
}

// Can reports whether the principal has permission p.
func (p *Principal) Can(perm auth.Permission) bool {
	if p == nil {
		return false
	}
	if p.KeyID != 0 {
		for _, s := range p.Scopes {
			if s == perm {
				return true
			}
		}
		return false
	}
	return auth.RoleAllows(p.Role, perm)
}

// Actor names the principal in audit trails and merge history.
func (p *Principal) Actor() string {
	if p == nil {
		return "anonymous"
	}
	if p.KeyID != 0 {
		return "api-key:" + itoa64(p.KeyID)
	}
	return p.Email
}

type principalKey struct{}

// PrincipalFrom returns the caller of a request handled by Handle.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// WithPrincipal stores a principal in a context.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func (s *Server) authenticated(perm auth.Permission, h HandlerFunc, onError ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Authenticate(r)
		if err != nil {
			onError(w, r, err)
			return
		}
		if perm != "" && !p.Can(perm) {
			onError(w, r, errs.Errorf(errs.Forbidden, "this needs the %s permission", perm))
			return
		}
		if err := h(w, r.WithContext(WithPrincipal(r.Context(), p))); err != nil {
			onError(w, r, err)
		}
	})
}

// Authenticate finds the principal of a request: an API key (Bearer, or
// HTTP Basic with the key as user name as Segment does) or a session
// cookie. Writes with a session need the CSRF token.
func (s *Server) Authenticate(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if key := apiKeyFrom(r); key != "" {
		k, err := s.cfg.Store.APIKeyByHash(ctx, auth.HashToken(key))
		if err != nil || k.RevokedAt != nil {
			return nil, errs.Errorf(errs.Unauthorized, "invalid or revoked API key")
		}
		s.touchKey(ctx, k.ID)
		scopes := make([]auth.Permission, len(k.Scopes))
		for i, sc := range k.Scopes {
			scopes[i] = auth.Permission(sc)
		}
		return &Principal{KeyID: k.ID, KeyName: k.Name, Scopes: scopes}, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, errs.Errorf(errs.Unauthorized, "sign in or send an API key")
	}
	p, err := s.SessionPrincipal(ctx, c.Value)
	if err != nil {
		return nil, err
	}
	if unsafeMethod(r.Method) {
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.FormValue("csrf_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
			return nil, errs.Errorf(errs.Forbidden, "missing or wrong CSRF token")
		}
	}
	return p, nil
}

// SessionPrincipal resolves a session token to its user.
func (s *Server) SessionPrincipal(ctx context.Context, token string) (*Principal, error) {
	hash := auth.HashToken(token)
	sess, err := s.cfg.Store.SessionByHash(ctx, hash)
	now := s.cfg.Clock.Now()
	if err != nil || now.After(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > sessionTTL {
		return nil, errs.Errorf(errs.Unauthorized, "your session has ended; sign in again")
	}
	u, err := s.cfg.Store.UserByID(ctx, sess.UserID)
	if err != nil || u.DisabledAt != nil {
		return nil, errs.Errorf(errs.Unauthorized, "your account is disabled")
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		_ = s.cfg.Store.TouchSession(ctx, hash, now)
	}
	return &Principal{UserID: u.ID, Email: u.Email, Role: u.Role, CSRF: CSRFToken(token)}, nil
}

// Logout ends the request's session (if any) and clears its cookie.
func (s *Server) Logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := s.cfg.Store.DeleteSession(r.Context(), auth.HashToken(c.Value)); err != nil {
			return err
		}
	}
	s.ClearSessionCookie(w)
	return nil
}

// CSRFToken derives a session's CSRF token from its (secret) session token.
func CSRFToken(sessionToken string) string { return auth.HashToken("csrf:" + sessionToken)[:32] }

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func apiKeyFrom(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	if user, _, ok := r.BasicAuth(); ok {
		return user
	}
	return ""
}

// touchKey records a key's use at most once a minute.
func (s *Server) touchKey(ctx context.Context, id int64) {
	now := s.cfg.Clock.Now()
	s.keyTouchMu.Lock()
	last := s.keyTouched[id]
	if now.Sub(last) < time.Minute {
		s.keyTouchMu.Unlock()
		return
	}
	s.keyTouched[id] = now
	s.keyTouchMu.Unlock()
	_ = s.cfg.Store.TouchAPIKey(ctx, id, now)
}

// Login checks credentials and opens a session, returning its token.
func (s *Server) Login(ctx context.Context, email, password, ip, userAgent string) (string, *store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	now := s.cfg.Clock.Now()
	if !s.limits.allow(email, ip, now) {
		return "", nil, errs.Errorf(errs.RateLimited, "too many failed sign-ins; wait 15 minutes")
	}
	u, err := s.cfg.Store.UserByEmail(ctx, email)
	if err != nil || u.DisabledAt != nil || !auth.CheckPassword(u.PasswordHash, password) {
		if err != nil {
			auth.CheckPassword(dummyHash, password) // same work whether or not the user exists
		}
		s.limits.fail(email, ip, now)
		return "", nil, errs.Errorf(errs.Unauthorized, "wrong e-mail or password")
	}
	s.limits.reset(email)
	token := auth.RandomToken(32)
	err = s.cfg.Store.CreateSession(ctx, store.Session{TokenHash: auth.HashToken(token), UserID: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(30 * 24 * time.Hour), LastSeenAt: now, IP: ip, UserAgent: truncate(userAgent, 200)})
	if err != nil {
		return "", nil, err
	}
	return token, u, nil
}

var dummyHash, _ = auth.HashPassword("timing-equaliser-password")

// SetSessionCookie sets the session cookie.
func (s *Server) SetSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int((30 * 24 * time.Hour).Seconds())})
}

// ClearSessionCookie removes the session cookie.
func (s *Server) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// loginLimiter throttles failed sign-ins per account and per address.
type loginLimiter struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

const (
	loginWindow     = 15 * time.Minute
	maxFailsAccount = 5
	maxFailsIP      = 20
)

func newLoginLimiter() *loginLimiter { return &loginLimiter{failures: map[string][]time.Time{}} }

func (l *loginLimiter) recent(key string, now time.Time) int {
	fs := l.failures[key]
	kept := fs[:0]
	for _, t := range fs {
		if now.Sub(t) < loginWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(l.failures, key)
	} else {
		l.failures[key] = kept
	}
	return len(kept)
}

func (l *loginLimiter) allow(email, ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recent("u:"+email, now) < maxFailsAccount && l.recent("ip:"+ip, now) < maxFailsIP
}

func (l *loginLimiter) fail(email, ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures["u:"+email] = append(l.failures["u:"+email], now)
	l.failures["ip:"+ip] = append(l.failures["ip:"+ip], now)
}

func (l *loginLimiter) reset(email string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, "u:"+email)
}

package http

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"slices"
	"strings"
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
	// Permissions are what the caller may do: a user's role's permissions
	// (built-in or custom, read on every request) or a key's scopes.
	Permissions []auth.Permission `json:"permissions"`
	// CSRF is the token a session must echo in X-CSRF-Token on writes.
	CSRF string `json:"csrf_token,omitempty"`
	// TOTPEnabled tells a UI whether the user has a second factor.
	TOTPEnabled bool `json:"totp_enabled,omitempty"`
}

// Can reports whether the principal has permission p. It is the one
// permission check: routes (Handle), masking and in-handler checks all
// call it.
func (p *Principal) Can(perm auth.Permission) bool {
	return p != nil && slices.Contains(p.Permissions, perm)
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
		ctx := WithPrincipal(r.Context(), p)
		ctx = store.WithOrigin(ctx, store.Origin{Actor: p.Actor(), IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 200), Source: "api"})
		if err := h(w, r.WithContext(ctx)); err != nil {
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
		return &Principal{KeyID: k.ID, KeyName: k.Name, Permissions: scopes}, nil
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
	now := s.sessions.Now()
	if err != nil || now.After(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > sessionTTL {
		return nil, errs.Errorf(errs.Unauthorized, "your session has ended; sign in again")
	}
	u, err := s.cfg.Store.UserByID(ctx, sess.UserID)
	if err != nil || u.DisabledAt != nil {
		return nil, errs.Errorf(errs.Unauthorized, "your account is disabled")
	}
	perms, err := RolePermissions(ctx, s.cfg.Store, u.Role)
	if err != nil {
		return nil, err
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		_ = s.cfg.Store.TouchSession(ctx, hash, now)
	}
	return &Principal{UserID: u.ID, Email: u.Email, Role: u.Role, Permissions: perms, CSRF: CSRFToken(token), TOTPEnabled: u.TOTPEnabled}, nil
}

// RolePermissions returns what a role allows: a built-in role's entry in
// auth.Roles, or a custom role's stored permissions. A role that no longer
// exists allows nothing.
func RolePermissions(ctx context.Context, st store.Store, role string) ([]auth.Permission, error) {
	if perms, ok := auth.Roles[role]; ok {
		return perms, nil
	}
	r, err := st.Role(ctx, role)
	if errs.Code(err) == errs.NotFound {
		return []auth.Permission{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]auth.Permission, 0, len(r.Permissions))
	for _, p := range r.Permissions {
		if slices.Contains(auth.AllPermissions, auth.Permission(p)) {
			out = append(out, auth.Permission(p))
		}
	}
	return out, nil
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

// Login throttling: failed sign-ins are counted in the store, so every
// process serving the database sees the same counts.
const (
	loginWindow     = 15 * time.Minute
	maxFailsAccount = 5
	maxFailsIP      = 20
)

// ErrTOTPRequired is returned by Login when the password is right and the
// account has a second factor but no code was given.
var ErrTOTPRequired = &errs.Error{Code: errs.Unauthorized, Field: "totp", Message: "enter the 6-digit code from your authenticator app"}

// Login checks credentials (and the TOTP code when the user has a second
// factor) and opens a session, returning its token.
func (s *Server) Login(ctx context.Context, email, password, totp, ip, userAgent string) (string, *store.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	now := s.sessions.Now()
	userKey, ipKey := "u:"+email, "ip:"+ip
	for key, max := range map[string]int{userKey: maxFailsAccount, ipKey: maxFailsIP} {
		n, err := s.cfg.Store.LoginFailures(ctx, key, now.Add(-loginWindow))
		if err != nil {
			return "", nil, err
		}
		if n >= max {
			return "", nil, errs.Errorf(errs.RateLimited, "too many failed sign-ins; wait 15 minutes")
		}
	}
	fail := func(err error) (string, *store.User, error) {
		if ferr := s.cfg.Store.RecordLoginFailure(ctx, []string{userKey, ipKey}, now); ferr != nil {
			return "", nil, ferr
		}
		return "", nil, err
	}
	u, err := s.cfg.Store.UserByEmail(ctx, email)
	if err != nil || u.DisabledAt != nil || !auth.CheckPassword(u.PasswordHash, password) {
		if err != nil {
			auth.CheckPassword(dummyHash, password) // same work whether or not the user exists
		}
		return fail(errs.Errorf(errs.Unauthorized, "wrong e-mail or password"))
	}
	if u.TOTPEnabled {
		if strings.TrimSpace(totp) == "" {
			return "", nil, ErrTOTPRequired
		}
		if err := s.checkTOTP(ctx, u, totp); err != nil {
			return fail(err)
		}
	}
	if err := s.cfg.Store.ClearLoginFailures(ctx, userKey); err != nil {
		return "", nil, err
	}
	token, err := s.openSession(ctx, u.ID, ip, userAgent)
	if err != nil {
		return "", nil, err
	}
	return token, u, nil
}

// checkTOTP verifies a code against the user's enabled (or pending) seed;
// each code works once.
func (s *Server) checkTOTP(ctx context.Context, u *store.User, code string) error {
	seed, err := s.cfg.Store.OpenValue(store.TOTPSecretName(u.ID), u.TOTPSecret)
	if err != nil {
		return err
	}
	step, ok := auth.VerifyTOTP(seed, code, s.sessions.Now(), u.TOTPLastStep)
	if ok {
		if ok, err = s.cfg.Store.UseTOTPStep(ctx, u.ID, step); err != nil {
			return err
		}
	}
	if !ok {
		return &errs.Error{Code: errs.Unauthorized, Field: "totp", Message: "wrong or already used code"}
	}
	return nil
}

func (s *Server) openSession(ctx context.Context, userID int64, ip, userAgent string) (string, error) {
	now := s.sessions.Now()
	token := auth.RandomToken(32)
	err := s.cfg.Store.CreateSession(ctx, store.Session{TokenHash: auth.HashToken(token), UserID: userID, CreatedAt: now,
		ExpiresAt: now.Add(30 * 24 * time.Hour), LastSeenAt: now, IP: ip, UserAgent: truncate(userAgent, 200)})
	return token, err
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

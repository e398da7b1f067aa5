package ui

import (
	"crypto/subtle"
	"net"
	"net/http"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

// loginCSRFCookie holds the token the sign-in form echoes (double submit):
// there is no session yet to derive one from, and without it another site
// could sign a browser into an account of its choosing.
const loginCSRFCookie = "enishi_login_csrf"

type loginPage struct {
	*base
	Email     string
	Next      string
	LoginCSRF string
	NeedTOTP  bool // the account has a second factor: ask for its code
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) error {
	return u.showLogin(w, r, http.StatusOK, "", "")
}

func (u *UI) showLogin(w http.ResponseWriter, r *http.Request, status int, email, errKey string) error {
	return u.showLoginPage(w, r, status, email, errKey, false)
}

func (u *UI) showLoginPage(w http.ResponseWriter, r *http.Request, status int, email, errKey string, totp bool) error {
	token := auth.RandomToken(24)
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: token, Path: "/login", HttpOnly: true, Secure: u.cfg.SecureCookies,
		SameSite: http.SameSiteStrictMode, MaxAge: int(time.Hour.Seconds())})
	b := u.newBase(r, "", "login.title")
	if errKey != "" {
		b.Error = b.T(errKey)
	}
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	return u.render(w, r, status, "login", &loginPage{base: b, Email: email, Next: enishihttp.LocalRedirectTarget(next), LoginCSRF: token, NeedTOTP: totp})
}

// login checks the credentials through the server's Login (the same
// throttling and session as the API) and sets the session cookie.
func (u *UI) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errs.Errorf(errs.Invalid, "unreadable form")
	}
	email := r.PostFormValue("email")
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf_token"))) != 1 {
		return u.showLogin(w, r, http.StatusForbidden, email, "login.expired")
	}
	_, _, err = u.api.SignIn(w, r, email, r.PostFormValue("password"), r.PostFormValue("totp"))
	switch {
	case err == nil:
	case err == enishihttp.ErrTOTPRequired:
		key := "login.totp"
		if r.PostFormValue("totp") != "" {
			key = "login.totp_wrong"
		}
		return u.showLoginPage(w, r, http.StatusUnauthorized, email, key, true)
	case errs.Code(err) == errs.Unauthorized:
		if r.PostFormValue("totp") != "" {
			return u.showLoginPage(w, r, http.StatusUnauthorized, email, "login.totp_wrong", true)
		}
		return u.showLogin(w, r, http.StatusUnauthorized, email, "login.wrong")
	case errs.Code(err) == errs.RateLimited:
		return u.showLogin(w, r, http.StatusTooManyRequests, email, "login.throttled")
	default:
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	http.Redirect(w, r, enishihttp.LocalRedirectTarget(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// remoteIP is the client's address, for sign-in throttling and sessions.
func remoteIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// logout ends the session (the form carries the CSRF token).
func (u *UI) logout(w http.ResponseWriter, r *http.Request) error {
	if err := u.api.Logout(w, r); err != nil {
		return err
	}
	if err := u.api.Audit(r, "auth.logout", "", ""); err != nil {
		return err
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

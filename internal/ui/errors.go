package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

func asErr(err error, target **errs.Error) bool { return errors.As(err, target) }

// errorPage is the data of the error page.
type errorPage struct {
	*base
	Status  int
	Heading string
	Detail  string
}

// fail is the UI's ErrorFunc: signed-out people go to the sign-in page,
// everything else gets a page in their language (or, for htmx requests, a
// message swapped into the page's alert area).
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	code := errs.Code(err)
	status := enishihttp.StatusCode(code)
	htmx := r.Header.Get("HX-Request") == "true"
	if code == errs.Unauthorized {
		to := "/login"
		if r.Method == http.MethodGet && r.URL.Path != "/" {
			to += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		if htmx {
			// htmx follows HX-Redirect with a full page load.
			w.Header().Set("HX-Redirect", to)
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if status == http.StatusInternalServerError {
		u.cfg.Log.Error("ui: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	// Permission failures happen before the handler knows the user: look
	// them up again so the page keeps its menu.
	if enishihttp.PrincipalFrom(r.Context()) == nil {
		if c, cerr := r.Cookie(enishihttp.SessionCookie); cerr == nil {
			if p, perr := u.api.SessionPrincipal(r.Context(), c.Value); perr == nil {
				r = r.WithContext(enishihttp.WithPrincipal(r.Context(), p))
			}
		}
	}
	b := u.newBase(r, "", "error.title")
	pg := &errorPage{base: b, Status: status, Heading: b.T(errorHeading(code)), Detail: errs.Message(err)}
	if status == http.StatusInternalServerError {
		pg.Detail = "" // internal details stay in the log
	}
	if htmx {
		w.Header().Set("HX-Retarget", "#alerts")
		w.Header().Set("HX-Reswap", "innerHTML")
		if ferr := u.fragment(w, "error", "alert", pg); ferr != nil {
			u.cfg.Log.Error("ui: render error", "err", ferr)
		}
		return
	}
	if rerr := u.render(w, r, status, "error", pg); rerr != nil {
		u.cfg.Log.Error("ui: render error page", "err", rerr)
		http.Error(w, http.StatusText(status), status)
	}
}

func errorHeading(code string) string {
	switch code {
	case errs.Forbidden:
		return "error.forbidden"
	case errs.NotFound:
		return "error.not_found"
	case errs.Invalid, errs.Conflict, errs.TooLarge:
		return "error.invalid"
	case errs.RateLimited:
		return "error.rate_limited"
	}
	return "error.internal"
}

// isValidation reports errors a person can fix by changing what they typed.
func isValidation(err error) bool {
	switch errs.Code(err) {
	case errs.Invalid, errs.Conflict, errs.NotFound:
		return true
	}
	return false
}

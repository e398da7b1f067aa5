// Package http serves enishi's JSON API (and mounts the web UI): routing,
// authentication, permission checks and error mapping live here; handlers
// only translate between HTTP and store or domain calls.
package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/metrics"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/privacy"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/survey"
)

// Config holds a server's dependencies.
type Config struct {
	Store store.Store
	Clock clock.Clock
	// DevClock, when set (serve --dev-clock), can be moved through
	// POST /api/v1/dev/clock. It must be the clock the store reads.
	DevClock *clock.Manual
	Log      *slog.Logger
	// SecureCookies marks session cookies Secure (serving over TLS).
	SecureCookies bool
	// DiscountCodes writes coupon codes to Shopify (nil: not configured).
	DiscountCodes loyalty.DiscountCodeWriter
	// Dispatcher sends campaign test messages (nil: test sends fail with
	// a clear error until a channel is configured).
	Dispatcher outbox.Dispatcher
	// Pusher pushes segments to Shopify and LINE.
	Pusher segment.Pusher

	// Channels sends messages and handles unsubscribes, tracking and
	// provider callbacks; nil leaves those routes answering 503.
	Channels *channel.Service
	// ReloadChannels rebuilds the senders after the settings changed.
	ReloadChannels func(ctx context.Context) error
	// Secrets gives provider secrets (Twilio auth token for callback
	// signatures, the DKIM key for DNS records).
	Secrets channel.Secrets
	// Resolver reads DNS for the e-mail domain check (default: the system's).
	Resolver email.Resolver
	// LINEQuota reads the LINE quota; nil without LINE.
	LINEQuota func(ctx context.Context) (any, error)
	// Segments answers segment membership (DM export, LINE audiences).
	Segments channel.Segments
	// Metrics is the registry served at /metrics; New makes one if nil.
	Metrics *metrics.Registry
	// Ingest accepts events and webhooks; New makes one (without running
	// its workers) if nil.
	Ingest *ingest.Service
	// PublicURL is the address customers reach enishi at (survey links in
	// messages); empty: taken from each request.
	PublicURL string
}

// Route describes one registered route, for documentation and the test
// that proves no route is open by mistake.
type Route struct {
	Pattern    string
	Permission auth.Permission // empty for public routes
	Public     bool
}

// Server is the HTTP handler of enishi.
type Server struct {
	cfg     Config
	engine  *content.Engine
	mux     *http.ServeMux
	routes  []Route
	latency *metrics.Histogram

	keyTouchMu sync.Mutex
	keyTouched map[int64]time.Time

	surveys *survey.Linker

	// sessions is the clock of sign-in sessions: the store's clock, but
	// the wall clock when the store's is a dev clock, so that moving it a
	// day to watch a journey does not sign everyone out.
	sessions clock.Clock
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil && cfg.Ingest != nil {
		cfg.Metrics = cfg.Ingest.Metrics()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	if cfg.Ingest == nil {
		cfg.Ingest = ingest.New(ingest.Config{Store: cfg.Store, Clock: cfg.Clock, Log: cfg.Log, Metrics: cfg.Metrics, Privacy: privacy.NewHandler(cfg.Store)})
	}
	s := &Server{surveys: &survey.Linker{Store: cfg.Store}, cfg: cfg, mux: http.NewServeMux(), keyTouched: map[int64]time.Time{}, engine: content.NewEngine(), sessions: cfg.Clock}
	if cfg.DevClock != nil {
		s.sessions = clock.Real{}
	}
	s.latency = cfg.Metrics.NewHistogram("enishi_http_request_duration_seconds",
		"Time to serve an HTTP request, by route pattern and status class.", metrics.LatencyBuckets, "route", "code")
	s.routesCore()
	return s
}

// Routes lists every registered route.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Mux exposes the router so that other packages (the UI) can add handlers.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// ServeHTTP serves a request with logging, latency metrics, security
// headers and panic recovery. Logs carry the method, route and status, never
// query strings or bodies (which may hold personal data).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: 200}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", p)
			if !rw.wrote {
				writeError(rw, r, s.cfg.Log, errors.New("panic"))
			} else {
				rw.status = http.StatusInternalServerError
			}
		}
		route := r.Pattern // set by the mux on a match
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.latency.Observe(d.Seconds(), route, strconv.Itoa(rw.status/100)+"xx")
		s.cfg.Log.Debug("request", "route", route, "status", rw.status, "ms", d.Milliseconds())
	}()
	s.mux.ServeHTTP(rw, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader passes the first status on; a handler that fails after it
// began its answer cannot change the status any more.
func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.status, w.wrote = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// HandlerFunc is a route's handler; a returned error is written by the
// route's ErrorFunc.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ErrorFunc writes an error answer: JSON for the API (the default), an HTML
// page or a redirect to the sign-in page for the web UI.
type ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)

// Handle registers a handler that requires permission p (through a session
// or an API key scope).
func (s *Server) Handle(pattern string, p auth.Permission, h func(w http.ResponseWriter, r *http.Request) error) {
	s.HandleWith(pattern, p, h, nil)
}

// HandleWith is Handle with errors — including failed authentication and
// missing permissions — written by onError (nil: JSON). The web UI registers
// its pages with it, so pages and API share one permission check.
func (s *Server) HandleWith(pattern string, p auth.Permission, h HandlerFunc, onError ErrorFunc) {
	if onError == nil {
		onError = s.Error
	}
	s.routes = append(s.routes, Route{Pattern: pattern, Permission: p})
	s.mux.Handle(pattern, s.authenticated(p, h, onError))
}

// Public registers a handler anyone may call.
func (s *Server) Public(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
	s.PublicWith(pattern, h, nil)
}

// PublicWith is Public with errors written by onError (nil: JSON).
func (s *Server) PublicWith(pattern string, h HandlerFunc, onError ErrorFunc) {
	if onError == nil {
		onError = s.Error
	}
	s.routes = append(s.routes, Route{Pattern: pattern, Public: true})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			onError(w, r, err)
		}
	})
}

// Error writes err as a JSON error response with the status its code maps to.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.cfg.Log, err)
}

// StatusCode maps an error code to an HTTP status. This is the one place.
func StatusCode(code string) int {
	switch code {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Conflict:
		return http.StatusConflict
	case errs.Unauthorized:
		return http.StatusUnauthorized
	case errs.Forbidden:
		return http.StatusForbidden
	case errs.RateLimited:
		return http.StatusTooManyRequests
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := errs.Code(err)
	if errors.Is(err, context.Canceled) {
		return
	}
	status := StatusCode(code)
	if status == http.StatusInternalServerError {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var e *errs.Error
	body := map[string]any{"code": code, "message": errs.Message(err)}
	if errors.As(err, &e) && e.Field != "" {
		body["field"] = e.Field
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// JSON writes v with status 200.
func JSON(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}

// maxJSONBody bounds request bodies of the JSON API.
const maxJSONBody = 1 << 20

// decodeJSON reads a JSON request body into v, refusing unknown fields,
// trailing data and oversized bodies with a clear message.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return errs.Errorf(errs.TooLarge, "request body over %d bytes", maxJSONBody)
		case errors.As(err, &syn):
			return errs.Errorf(errs.Invalid, "malformed JSON at byte %d", syn.Offset)
		case errors.As(err, &typ):
			return &errs.Error{Code: errs.Invalid, Field: typ.Field, Message: "must be " + typ.Type.String()}
		case errors.Is(err, io.EOF):
			return errs.Errorf(errs.Invalid, "empty request body")
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errs.Errorf(errs.Invalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errs.Errorf(errs.Invalid, "malformed JSON: %v", err)
	}
	if dec.More() {
		return errs.Errorf(errs.Invalid, "trailing data after the JSON body")
	}
	return nil
}

// pathID reads an int64 path parameter.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.Errorf(errs.Invalid, "%s %q is not an id", name, v)
	}
	return id, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errs.FieldErrorf(name, "%q is not a whole number", v)
	}
	return n, nil
}

// LocalRedirectTarget returns next when it is a path on this site, and "/"
// otherwise: every redirect taken from user input (a login form's "next")
// goes through it, so that enishi is never an open redirect.
func LocalRedirectTarget(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) || strings.ContainsAny(next, "\r\n\t") {
		return "/"
	}
	return next
}

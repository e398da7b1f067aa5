// Package ingest is enishi's real-time ingestion: the Segment-compatible
// event API, the Shopify, LINE and generic webhooks, and the durable inbox
// they all go through.
//
// Every accepted request is validated, then written to the inbox table
// (store.IngestStore) before it is answered; workers claim inbox rows,
// translate them into the store's imports (ImportEvents, ImportOrders,
// ImportCustomers: identity resolution and idempotent upserts), and mark
// them done. Processing is idempotent — events by (source, message id),
// orders by (source, order id), inquiries by channel message id — so a row
// processed again after a crash stores nothing twice. Failures are retried
// with exponential backoff and end in the dead-letter list.
//
// The package knows no HTTP: internal/http reads requests and calls the
// Accept* methods, and serves the JS tag from Tag.
package ingest

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/metrics"
	"github.com/enishi-crm/enishi/internal/store"
)

// Inbox kinds.
const (
	KindSegment       = "segment"        // event API, trusted (server-side) key
	KindSegmentPublic = "segment-public" // event API, publishable (browser) key
	KindShopify       = "shopify"
	KindLine          = "line"
	KindGeneric       = "generic"
)

// Config holds a Service's dependencies and tuning.
type Config struct {
	Store   store.Store
	Clock   clock.Clock
	Log     *slog.Logger
	Metrics *metrics.Registry
	// Secrets reads integration secrets; default SettingsSecrets.
	Secrets Secrets
	// Privacy acts on platforms' privacy requests; default RecordPrivacy.
	Privacy PrivacyHandler
	// Workers is the number of inbox workers Run starts (default 1; more
	// only help on PostgreSQL).
	Workers int
	// Lease is how long a claimed inbox row is reserved for its worker
	// (default 60 s); a worker that dies frees its rows when it ends.
	Lease time.Duration
	// Poll is how often idle workers look for rows other processes wrote
	// (default 250 ms); rows written by this process wake them at once.
	Poll time.Duration
	// ClaimBatch is the most inbox rows processed together (default 16).
	// Larger batches store events faster; smaller ones bound how long a
	// webhook waits behind the batch in hand.
	ClaimBatch int
	// MaxAttempts before a row moves to the dead-letter list (default 8).
	MaxAttempts int
	// RateLimit is the sustained requests per second allowed per API key
	// on the event API (default 500), with bursts of RateBurst (default
	// twice the rate).
	RateLimit float64
	RateBurst float64
	// Retention is how long done rows are kept, for deduplicating
	// redeliveries (default 7 days).
	Retention time.Duration
}

// Service accepts, stores and processes incoming data.
type Service struct {
	cfg     Config
	st      store.Store
	clock   clock.Clock
	log     *slog.Logger
	secrets Secrets
	privacy PrivacyHandler
	limiter *limiter
	wake    chan struct{}
	generic map[string]GenericHandler

	accepted  *metrics.Counter
	processed *metrics.Counter
	failed    *metrics.Counter
	dead      *metrics.Counter
	rejected  *metrics.Counter
	lastLag   *metrics.Gauge
}

// New returns a service; call Run to start its workers.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	if cfg.Secrets == nil {
		cfg.Secrets = SettingsSecrets{Store: cfg.Store}
	}
	if cfg.Privacy == nil {
		cfg.Privacy = RecordPrivacy{Store: cfg.Store}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.ClaimBatch <= 0 {
		cfg.ClaimBatch = 16
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 500
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 2 * cfg.RateLimit
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	s := &Service{cfg: cfg, st: cfg.Store, clock: cfg.Clock, log: cfg.Log, secrets: cfg.Secrets, privacy: cfg.Privacy,
		limiter: newLimiter(cfg.RateLimit, cfg.RateBurst), wake: make(chan struct{}, 1), generic: map[string]GenericHandler{}}
	m := cfg.Metrics
	s.accepted = m.NewCounter("enishi_ingest_accepted_total", "Messages accepted into the inbox, by kind.", "kind")
	s.rejected = m.NewCounter("enishi_ingest_rejected_total", "Requests refused (bad input, signature or key, rate limit), by kind.", "kind")
	s.processed = m.NewCounter("enishi_ingest_processed_total", "Messages processed from the inbox, by kind.", "kind")
	s.failed = m.NewCounter("enishi_ingest_failed_total", "Failed processing attempts of inbox requests, by kind.", "kind")
	s.dead = m.NewCounter("enishi_ingest_dead_total", "Inbox requests moved to the dead-letter list, by kind.", "kind")
	s.lastLag = m.NewGauge("enishi_ingest_last_lag_seconds", "Time from receipt to processing of the last processed request.")
	m.NewGaugeFunc("enishi_ingest_queue_depth", "Requests waiting in the inbox.", func() (float64, bool) {
		st, err := s.statusForMetrics()
		return float64(st.Pending), err == nil
	})
	m.NewGaugeFunc("enishi_ingest_queue_messages", "Messages in the requests waiting in the inbox.", func() (float64, bool) {
		st, err := s.statusForMetrics()
		return float64(st.PendingItems), err == nil
	})
	m.NewGaugeFunc("enishi_ingest_lag_seconds", "Age of the oldest request waiting in the inbox (0 when empty).", func() (float64, bool) {
		st, err := s.statusForMetrics()
		return st.LagSeconds, err == nil
	})
	m.NewGaugeFunc("enishi_ingest_dead_letters", "Requests in the dead-letter list.", func() (float64, bool) {
		st, err := s.statusForMetrics()
		return float64(st.Dead), err == nil
	})
	s.registerGenericDefaults()
	return s
}

// Status is the inbox's state for GET /api/v1/ingest/status.
type Status struct {
	store.InboxStatus
	// LagSeconds is the age of the oldest waiting request: how far
	// processing is behind (0 when nothing waits).
	LagSeconds float64   `json:"lag_seconds"`
	Now        time.Time `json:"now"`
}

// Status sums up the inbox.
func (s *Service) Status(ctx context.Context) (Status, error) {
	st, err := s.st.InboxStatus(ctx)
	if err != nil {
		return Status{}, err
	}
	now := s.clock.Now()
	out := Status{InboxStatus: st, Now: now}
	if st.OldestPendingAt != nil {
		out.LagSeconds = math.Max(0, now.Sub(*st.OldestPendingAt).Seconds())
	}
	return out, nil
}

// statusForMetrics reads the status once per scrape (the gauges share it).
func (s *Service) statusForMetrics() (Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Status(ctx)
}

// Failures lists the dead-letter list, newest first.
func (s *Service) Failures(ctx context.Context, limit, offset int) ([]store.InboxItem, error) {
	return s.st.InboxItems(ctx, store.InboxDead, limit, offset)
}

// Retry puts a dead-letter row back in the queue.
func (s *Service) Retry(ctx context.Context, id int64) error {
	if err := s.st.RetryInbox(ctx, id); err != nil {
		return err
	}
	s.notify()
	return nil
}

// Discard gives up on a dead-letter row.
func (s *Service) Discard(ctx context.Context, id int64) error { return s.st.DiscardInbox(ctx, id) }

// enqueue writes accepted requests to the inbox and wakes the workers. It
// returns the number of new (not redelivered) requests.
func (s *Service) enqueue(ctx context.Context, items ...store.InboxItem) (int, error) {
	now := s.clock.Now()
	for i := range items {
		items[i].ReceivedAt = now
	}
	ids, err := s.st.EnqueueInbox(ctx, items)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, id := range ids {
		if id != 0 {
			n++
			s.accepted.Add(float64(max(items[i].Items, 1)), items[i].Kind)
		}
	}
	s.notify()
	return n, nil
}

func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Reject counts a refused request (the HTTP layer calls it).
func (s *Service) Reject(kind string) { s.rejected.Inc(kind) }

// Allow applies the per-key rate limit of the event API. When it refuses,
// it returns how long to wait.
func (s *Service) Allow(key string) (bool, time.Duration) {
	return s.limiter.allow(key, s.clock.Now())
}

// limiter is a token bucket per key.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) > 10000 { // forget idle keys rather than grow without bound
			l.buckets = map[string]*bucket{}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// Secrets reads integration secrets by name (shopify.app_secret,
// line.channel_secret, generic.<source>.secret, shopify.token.<shop>). It
// is the one place secrets are read, so that encrypting them at rest is a
// change to the implementation alone.
type Secrets interface {
	// Secret returns the secret, or "" when it is not configured.
	Secret(ctx context.Context, name string) (string, error)
	SetSecret(ctx context.Context, name, value string) error
}

// SettingsSecrets keeps secrets in the store's encrypted secrets
// (store.SetSecret: AES-GCM under ENISHI_SECRET_KEY, docs/security.md).
type SettingsSecrets struct{ Store store.Store }

// Secret reads a secret; "" when it is not set.
func (s SettingsSecrets) Secret(ctx context.Context, name string) (string, error) {
	v, _, err := s.Store.Secret(ctx, name)
	return v, err
}

// SetSecret stores a secret, encrypted.
func (s SettingsSecrets) SetSecret(ctx context.Context, name, value string) error {
	if strings.TrimSpace(value) == "" {
		return errs.FieldErrorf("value", "a secret cannot be empty")
	}
	return s.Store.SetSecret(ctx, name, value)
}

// Secret names.
const (
	SecretShopifyApp  = "shopify.app_secret"
	SecretLineChannel = "line.channel_secret"
)

// SecretGeneric names a generic webhook source's signing secret.
func SecretGeneric(source string) string { return "generic." + source + ".secret" }

// SecretShopifyToken names a shop's Admin API access token.
func SecretShopifyToken(shop string) string { return "shopify.token." + shop }

// Secrets returns the service's secret accessor.
func (s *Service) Secrets() Secrets { return s.secrets }

// PrivacyHandler acts on a platform's privacy request (Shopify's mandatory
// customers/data_request, customers/redact and shop/redact). The security
// capability implements export and erasure; until it is wired in,
// RecordPrivacy records each request for a person to act on.
type PrivacyHandler interface {
	HandlePrivacyRequest(ctx context.Context, req store.PrivacyRequest) error
}

// RecordPrivacy records privacy requests as pending in privacy_requests
// (listed by GET /api/v1/privacy-requests).
type RecordPrivacy struct{ Store store.Store }

// HandlePrivacyRequest records the request.
func (p RecordPrivacy) HandlePrivacyRequest(ctx context.Context, req store.PrivacyRequest) error {
	_, err := p.Store.AddPrivacyRequest(ctx, req)
	return err
}

// PrivacyRequests lists recorded privacy requests.
func (s *Service) PrivacyRequests(ctx context.Context, status string, limit int) ([]store.PrivacyRequest, error) {
	return s.st.PrivacyRequests(ctx, status, limit)
}

//go:embed tag/enishi.js
var tagJS []byte

// Tag returns the JS tag served at /js/enishi.js.
func Tag() []byte { return tagJS }

// SecretNamesHelp lists the secret names, for error messages.
const SecretNamesHelp = "shopify.app_secret, line.channel_secret, generic.<source>.secret, shopify.token.<shop>"

// ValidSecretName reports whether name is one of the integration secrets.
func ValidSecretName(name string) bool {
	switch {
	case name == SecretShopifyApp || name == SecretLineChannel:
		return true
	case strings.HasPrefix(name, "generic.") && strings.HasSuffix(name, ".secret"):
		return ValidSourceName(strings.TrimSuffix(strings.TrimPrefix(name, "generic."), ".secret"))
	case strings.HasPrefix(name, "shopify.token."):
		return validShopDomain(strings.TrimPrefix(name, "shopify.token."))
	}
	return false
}

// validShopDomain accepts a shop's host name (example.myshopify.com, or a
// test server's host:port).
func validShopDomain(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// Metrics returns the registry the service's metrics are in.
func (s *Service) Metrics() *metrics.Registry { return s.cfg.Metrics }

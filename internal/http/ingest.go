package http

import (
	"compress/gzip"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/metrics"
)

// maxWebhookBody bounds webhook bodies (a large Shopify order is well
// under it).
const maxWebhookBody = 5 << 20

// routesIngest registers the event API, the webhooks, the JS tag and the
// inbox's monitoring. The event API authenticates with API keys (scope
// ingest:write); webhooks are public routes that authenticate by their
// signatures.
func (s *Server) routesIngest() {
	s.Handle("POST /v1/{call}", auth.IngestWrite, s.ingestEvents)
	s.Public("OPTIONS /v1/{call}", s.ingestPreflight)
	s.Public("GET /js/enishi.js", s.ingestTag)
	s.Public("POST /webhooks/shopify", s.shopifyWebhook)
	s.Public("POST /webhooks/line", s.lineWebhook)
	s.Public("POST /webhooks/generic/{source}", s.genericWebhook)

	s.Handle("GET /api/v1/ingest/status", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.cfg.Ingest.Status(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, st)
	})
	s.Handle("GET /api/v1/ingest/failures", auth.SettingsWrite, s.ingestFailures)
	s.Handle("GET /api/v1/ingest/failures/{id}", auth.SettingsWrite, s.ingestFailure)
	s.Handle("POST /api/v1/ingest/failures/{id}/retry", auth.SettingsWrite, s.ingestRetry(true))
	s.Handle("POST /api/v1/ingest/failures/{id}/discard", auth.SettingsWrite, s.ingestRetry(false))
	s.Handle("PUT /api/v1/ingest/secrets/{name}", auth.SettingsWrite, s.setIngestSecret)
	s.Handle("POST /api/v1/line/link-nonces", auth.CustomersWrite, s.lineLinkNonce)
	s.Handle("GET /api/v1/privacy-requests", auth.CustomersExport, s.privacyRequests)
	s.Handle("GET /metrics", auth.MetricsRead, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", metrics.ContentType)
		return s.cfg.Metrics.WriteText(w)
	})
}

// Metrics returns the registry served at /metrics, for other capabilities
// to add their metrics to.
func (s *Server) Metrics() *metrics.Registry { return s.cfg.Metrics }

// Ingest returns the ingestion service (its workers are started by serve).
func (s *Server) Ingest() *ingest.Service { return s.cfg.Ingest }

// readBody reads a request body, inflating Content-Encoding: gzip, and
// refuses bodies over limit bytes (after inflating) with a 400 naming the
// limit.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = r.Body
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, errs.Errorf(errs.Invalid, "Content-Encoding is gzip but the body is not gzip data")
		}
		defer gz.Close()
		rd = gz
	default:
		return nil, errs.Errorf(errs.Invalid, "Content-Encoding %q is not supported (send gzip or nothing)", r.Header.Get("Content-Encoding"))
	}
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errs.Errorf(errs.Invalid, "the gzip body is corrupt")
		}
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errs.Errorf(errs.Invalid, "the request body is over %d KB; a request may be at most %d bytes", limit>>10, limit)
	}
	return b, nil
}

func corsHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
	h.Set("Access-Control-Max-Age", "86400")
}

// ingestPreflight answers browsers' CORS preflight for the JS tag, which
// posts from the shop's own domain. It grants nothing by itself: the POST
// still needs a write key.
func (s *Server) ingestPreflight(w http.ResponseWriter, r *http.Request) error {
	corsHeaders(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) ingestTag(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, err := w.Write(ingest.Tag())
	return err
}

// ingestEvents is the Segment-compatible event API: /v1/identify, track,
// page, screen, group, alias, batch (and import, Segment's old name for
// batch). It answers as Segment does: 200 {"success": true}.
func (s *Server) ingestEvents(w http.ResponseWriter, r *http.Request) error {
	corsHeaders(w)
	p := PrincipalFrom(r.Context())
	limitKey := "user:" + itoa64(p.UserID)
	if p.KeyID != 0 {
		limitKey = "key:" + itoa64(p.KeyID)
	}
	if ok, wait := s.cfg.Ingest.Allow(limitKey); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.cfg.Ingest.Reject(ingest.KindSegment)
		return errs.Errorf(errs.RateLimited, "this key is over its rate limit; retry after %d s", max(secs, 1))
	}
	body, err := readBody(r, ingest.MaxBatchBytes)
	if err != nil {
		s.cfg.Ingest.Reject(ingest.KindSegment)
		return err
	}
	name := p.KeyName
	if p.KeyID == 0 {
		name = "api"
	}
	caller := ingest.Caller{Source: ingest.SourceName(name), Trusted: p.Can(auth.IngestIdentify)}
	n, err := s.cfg.Ingest.AcceptSegment(r.Context(), caller, r.PathValue("call"), body)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"success": true, "accepted": n})
}

func (s *Server) shopifyWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, maxWebhookBody)
	if err != nil {
		return err
	}
	id := r.Header.Get("X-Shopify-Webhook-Id")
	if id == "" {
		id = r.Header.Get("X-Shopify-Event-Id")
	}
	_, err = s.cfg.Ingest.AcceptShopify(r.Context(), ingest.ShopifyWebhook{HMAC: r.Header.Get("X-Shopify-Hmac-Sha256"),
		Topic: r.Header.Get("X-Shopify-Topic"), Shop: r.Header.Get("X-Shopify-Shop-Domain"), WebhookID: id}, body)
	if err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) lineWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, maxWebhookBody)
	if err != nil {
		return err
	}
	if err := s.cfg.Ingest.AcceptLine(r.Context(), r.Header.Get("X-Line-Signature"), body); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) genericWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, maxWebhookBody)
	if err != nil {
		return err
	}
	isNew, err := s.cfg.Ingest.AcceptGeneric(r.Context(), r.PathValue("source"), r.Header.Get("X-Enishi-Signature"), body)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"ok": true, "duplicate": !isNew})
}

func (s *Server) ingestFailures(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0)
	if err != nil {
		return err
	}
	items, err := s.cfg.Ingest.Failures(r.Context(), limit, offset)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"failures": items})
}

// ingestFailure shows one dead-letter row with its body, which holds
// personal data: callers without pii:read get it left out.
func (s *Server) ingestFailure(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	it, err := s.cfg.Store.InboxItem(r.Context(), id)
	if err != nil {
		return err
	}
	out := map[string]any{"item": it}
	if PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		out["body"] = string(it.Body)
	}
	return JSON(w, out)
}

func (s *Server) ingestRetry(retry bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if retry {
			err = s.cfg.Ingest.Retry(r.Context(), id)
		} else {
			err = s.cfg.Ingest.Discard(r.Context(), id)
		}
		if err != nil {
			return err
		}
		return JSON(w, map[string]bool{"ok": true})
	}
}

// setIngestSecret stores an integration secret (it is never read back).
func (s *Server) setIngestSecret(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !ingest.ValidSecretName(name) {
		return errs.FieldErrorf("name", "%q is not an integration secret (%s)", name, ingest.SecretNamesHelp)
	}
	var in struct {
		Value string `json:"value"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.cfg.Ingest.Secrets().SetSecret(r.Context(), name, in.Value); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) lineLinkNonce(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		CustomerID int64 `json:"customer_id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.CustomerID <= 0 {
		return errs.FieldErrorf("customer_id", "the id of the customer who is linking their LINE account")
	}
	nonce, exp, err := s.cfg.Ingest.IssueLinkNonce(r.Context(), in.CustomerID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"nonce": nonce, "expires_at": exp})
	return nil
}

func (s *Server) privacyRequests(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	ps, err := s.cfg.Ingest.PrivacyRequests(r.Context(), r.URL.Query().Get("status"), limit)
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range ps {
			for j := range ps[i].Identifiers {
				ps[i].Identifiers[j].Value = customer.MaskIdentifier(ps[i].Identifiers[j])
			}
			ps[i].Payload = nil
		}
	}
	return JSON(w, map[string]any{"privacy_requests": ps})
}

// Package privacy answers data subject requests under APPI (個人情報保護法:
// 開示 disclosure and 利用停止・消去 erasure) and platforms' privacy
// requests (Shopify's mandatory customers/data_request and customers/redact
// webhooks, which the ingest capability receives and hands to Handler).
// The CLI (`enishi customer export|erase`), the API
// (/api/v1/customers/{id}/personal-data, /erase) and Handler all go
// through the same store calls, so each request is recorded and audited
// the same way.
//
// Erasure keeps anonymised order facts (reports stay consistent) and
// suppresses the person's identifiers: a record that carries one later is
// filed under the erased, empty customer without its personal data (orders,
// customer records) or not stored at all (events). See docs/security.md.
package privacy

import (
	"context"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store"
)

// Service is what a caller needs to answer a data subject request. Who
// asks (actor, IP, and source such as "api", "cli" or "shopify") is read
// from the context's store.Origin.
type Service interface {
	// Export returns everything held on the person customerID names and
	// records the request.
	Export(ctx context.Context, customerID int64) (*store.PersonalData, error)
	// Erase erases the person's personal data (see the package comment)
	// and records the request with its reason.
	Erase(ctx context.Context, customerID int64, reason string) (*store.Erasure, error)
	// Find returns the person holding the first of ids that is known, or a
	// NotFound error.
	Find(ctx context.Context, ids ...identity.Identifier) (int64, error)
}

// New returns the Service over a store.
func New(st store.Store) Service { return &service{st: st} }

type service struct{ st store.Store }

func (s *service) Export(ctx context.Context, customerID int64) (*store.PersonalData, error) {
	pd, err := s.st.PersonalData(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return pd, s.recordExport(ctx, pd, 0)
}

// recordExport records an export (completing request id when not 0) and
// adds the request to the export itself.
func (s *service) recordExport(ctx context.Context, pd *store.PersonalData, id int64) error {
	req := store.PrivacyRequest{ID: id, Kind: "export", CustomerID: pd.CustomerID, Message: "exported"}
	id, err := s.st.RecordPrivacyRequest(ctx, req)
	if err != nil {
		return err
	}
	o := store.OriginFrom(ctx)
	pd.PrivacyRequests = append(pd.PrivacyRequests, store.PrivacyRequest{ID: id, Kind: "export", CustomerID: pd.CustomerID,
		Source: o.Source, Actor: o.Actor, Status: "done", CreatedAt: pd.ExportedAt})
	return nil
}

func (s *service) Erase(ctx context.Context, customerID int64, reason string) (*store.Erasure, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, errs.FieldErrorf("reason", "say why the data is erased (e.g. 本人からの削除依頼 received 2026-04-01)")
	}
	return s.st.EraseCustomer(ctx, customerID, store.PrivacyRequest{Reason: reason})
}

func (s *service) Find(ctx context.Context, ids ...identity.Identifier) (int64, error) {
	for _, id := range ids {
		c, err := s.st.CustomerByIdentifier(ctx, id)
		if err == nil {
			return c, nil
		}
		if errs.Code(err) != errs.NotFound {
			return 0, err
		}
	}
	return 0, errs.Errorf(errs.NotFound, "no customer holds these identifiers")
}

// Handler answers platforms' privacy requests; it implements the ingest
// capability's PrivacyHandler, which calls it for Shopify's compliance
// webhooks after checking their signature. Each request is recorded once
// per (source, ref), so a redelivered webhook is answered again harmlessly:
//   - export (customers/data_request): the person's data is gathered and
//     the request marked done; staff hand `enishi customer export ID` to
//     the shop owner, who answers the customer;
//   - erase (customers/redact): the person is erased (see EraseCustomer);
//   - shop_erase (shop/redact): left pending for the operator, who deletes
//     the shop's database or erases customers as the shop decides.
//
// A person enishi holds nothing on is marked done with a message saying so.
type Handler struct {
	st  store.Store
	svc *service
}

// NewHandler returns the Handler over a store.
func NewHandler(st store.Store) *Handler { return &Handler{st: st, svc: &service{st: st}} }

// HandlePrivacyRequest records and answers one request.
func (h *Handler) HandlePrivacyRequest(ctx context.Context, req store.PrivacyRequest) error {
	id, err := h.st.AddPrivacyRequest(ctx, req)
	if err != nil {
		return err
	}
	o := store.OriginFrom(ctx)
	o.Source = req.Source
	if o.Actor == "" || o.Actor == "system" {
		o.Actor = req.Source
		if req.Shop != "" {
			o.Actor += ":" + req.Shop
		}
	}
	ctx = store.WithOrigin(ctx, o)
	if req.Kind == "shop_erase" {
		return h.st.SetPrivacyRequestStatus(ctx, id, "pending", "the shop uninstalled the app: delete its data by hand (docs/security.md)")
	}
	cid, err := h.svc.Find(ctx, req.Identifiers...)
	if errs.Code(err) == errs.NotFound {
		return h.st.SetPrivacyRequestStatus(ctx, id, "done", "enishi holds no data on this person")
	}
	if err != nil {
		return err
	}
	switch req.Kind {
	case "export":
		pd, err := h.st.PersonalData(ctx, cid)
		if err != nil {
			return err
		}
		return h.svc.recordExport(ctx, pd, id)
	case "erase":
		reason := "erasure requested by " + o.Actor
		_, err := h.st.EraseCustomer(ctx, cid, store.PrivacyRequest{ID: id, Reason: reason})
		if errs.Code(err) == errs.Conflict { // erased already
			return h.st.SetPrivacyRequestStatus(ctx, id, "done", "already erased")
		}
		return err
	}
	return h.st.SetPrivacyRequestStatus(ctx, id, "failed", "unknown kind "+req.Kind)
}

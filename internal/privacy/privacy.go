// Package privacy answers data subject requests under APPI (個人情報保護法:
// 開示 disclosure and 利用停止・消去 erasure) and Shopify's mandatory GDPR
// webhooks. The CLI (`enishi customer export|erase`), the API
// (/api/v1/customers/{id}/personal-data, /erase) and webhook receivers all
// go through Service, so each request is recorded and audited the same way.
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
	id, err := s.st.RecordPrivacyRequest(ctx, store.PrivacyRequest{Kind: "export", CustomerID: pd.CustomerID})
	if err != nil {
		return nil, err
	}
	// The export shows its own request too.
	pd.PrivacyRequests = append(pd.PrivacyRequests, store.PrivacyRequest{ID: id, Kind: "export", CustomerID: pd.CustomerID,
		Source: store.OriginFrom(ctx).Source, Actor: store.OriginFrom(ctx).Actor, Status: "done", CreatedAt: pd.ExportedAt})
	return pd, nil
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

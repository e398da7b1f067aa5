package privacy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/privacy"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx = context.Background()

func seed(t *testing.T, db *store.DB) int64 {
	b := storetest.Buyer(t, "shopify", "191167", "john@example.com", "090-6251-1990")
	b.Profile.LastName = "ジョン"
	res, err := db.ImportOrders(ctx, []order.Order{storetest.Order("shopify", "#1001", storetest.T0.AddDate(0, 0, -3), b, "SKU-1", 1, 4800)})
	if err != nil {
		t.Fatal(err)
	}
	return res.CustomerIDs[0]
}

// TestHandlerAnswersPlatformRequests drives the handler the ingest
// capability calls for Shopify's compliance webhooks.
func TestHandlerAnswersPlatformRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		id := seed(t, db)
		h := privacy.NewHandler(db)
		email, _ := identity.EmailID("JOHN@example.com")
		shopifyID := identity.ExternalID("shopify", "191167")
		req := func(ref, kind string, ids ...identity.Identifier) store.PrivacyRequest {
			return store.PrivacyRequest{Source: "shopify", Ref: ref, Kind: kind, Shop: "enishi-test.myshopify.com", Identifiers: ids, Payload: json.RawMessage(`{}`)}
		}
		if err := h.HandlePrivacyRequest(ctx, req("w1", "export", shopifyID, email)); err != nil {
			t.Fatal(err)
		}
		if err := h.HandlePrivacyRequest(ctx, req("w2", "erase", identity.ExternalID("shopify", "5"))); err != nil {
			t.Fatal(err)
		}
		if err := h.HandlePrivacyRequest(ctx, req("w3", "erase", email)); err != nil {
			t.Fatal(err)
		}
		if err := h.HandlePrivacyRequest(ctx, req("w3", "erase", email)); err != nil { // redelivery
			t.Fatal(err)
		}
		if err := h.HandlePrivacyRequest(ctx, req("w4", "shop_erase")); err != nil {
			t.Fatal(err)
		}
		all, err := db.PrivacyRequests(ctx, "", 10)
		if err != nil || len(all) != 4 {
			t.Fatalf("requests = %+v %v", all, err)
		}
		byRef := map[string]store.PrivacyRequest{}
		for _, r := range all {
			byRef[r.Ref] = r
		}
		if r := byRef["w1"]; r.Status != "done" || r.CustomerID != id || r.Actor != "shopify:enishi-test.myshopify.com" || r.HandledAt == nil {
			t.Fatalf("export request = %+v", r)
		}
		if r := byRef["w2"]; r.Status != "done" || r.CustomerID != 0 || !strings.Contains(r.Message, "no data") {
			t.Fatalf("unknown person = %+v", r)
		}
		if r := byRef["w3"]; r.Status != "done" || r.CustomerID != id || !strings.Contains(r.Reason, "shopify") {
			t.Fatalf("erase request = %+v", r)
		}
		if r := byRef["w4"]; r.Status != "pending" {
			t.Fatalf("shop erase = %+v", r)
		}
		c, _ := db.Customer(ctx, id)
		if c.Status != customer.Erased || c.Email != "" || c.OrderCount != 1 {
			t.Fatalf("customer after redact = %+v", c)
		}
		mine, _ := db.CustomerPrivacyRequests(ctx, id)
		if len(mine) != 2 {
			t.Fatalf("customer's requests = %+v", mine)
		}
		audit, _ := db.AuditEntries(ctx, store.AuditQuery{Action: "privacy."})
		if len(audit) != 2 || audit[0].Actor != "shopify:enishi-test.myshopify.com" {
			t.Fatalf("audit = %+v", audit)
		}
	})
}

func TestEraseNeedsAReasonAndExportRecords(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	id := seed(t, db)
	svc := privacy.New(db)
	if _, err := svc.Erase(ctx, id, "  "); errs.Code(err) != errs.Invalid {
		t.Fatalf("erase without reason: %v", err)
	}
	octx := store.WithOrigin(ctx, store.Origin{Actor: "dpo@example.com", Source: "cli"})
	pd, err := svc.Export(octx, id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pd)
	if !strings.Contains(string(b), "john@example.com") || len(pd.PrivacyRequests) != 1 || pd.PrivacyRequests[0].Actor != "dpo@example.com" {
		t.Fatalf("export = %s", b)
	}
	audit, _ := db.AuditEntries(ctx, store.AuditQuery{Action: "privacy.export"})
	if len(audit) != 1 || audit[0].Actor != "dpo@example.com" {
		t.Fatalf("audit = %+v", audit)
	}
}

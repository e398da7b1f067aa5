package privacy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/privacy"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx = context.Background()

func seed(t *testing.T, db *store.DB) int64 {
	b := storetest.Buyer(t, privacy.ShopifySource, "191167", "john@example.com", "090-6251-1990")
	b.Profile.LastName = "ジョン"
	res, err := db.ImportOrders(ctx, []order.Order{storetest.Order("shopify", "#1001", storetest.T0.AddDate(0, 0, -3), b, "SKU-1", 1, 4800)})
	if err != nil {
		t.Fatal(err)
	}
	return res.CustomerIDs[0]
}

func TestShopifyComplianceWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		id := seed(t, db)
		svc := privacy.New(db)
		req := `{"shop_id":954889,"shop_domain":"enishi-test.myshopify.com","orders_requested":[299938],
			"customer":{"id":191167,"email":"john@example.com","phone":"090-6251-1990"},"data_request":{"id":9999}}`
		res, err := privacy.HandleShopify(ctx, svc, privacy.ShopifyDataRequest, []byte(req))
		if err != nil || res.Action != "exported" || res.CustomerID != id {
			t.Fatalf("data_request = %+v %v", res, err)
		}
		// Unknown people are acknowledged, not errors.
		res, err = privacy.HandleShopify(ctx, svc, privacy.ShopifyRedact, []byte(`{"shop_domain":"s","customer":{"id":5,"email":"nobody@example.com"}}`))
		if err != nil || res.Action != "not_found" {
			t.Fatalf("unknown person = %+v %v", res, err)
		}
		// The e-mail alone is enough to find the person.
		redact := `{"shop_id":954889,"shop_domain":"enishi-test.myshopify.com","customer":{"email":"JOHN@example.com"},"orders_to_redact":[299938]}`
		res, err = privacy.HandleShopify(ctx, svc, privacy.ShopifyRedact, []byte(redact))
		if err != nil || res.Action != "erased" || res.CustomerID != id {
			t.Fatalf("redact = %+v %v", res, err)
		}
		// Shopify retries: a second delivery is acknowledged.
		if res, err = privacy.HandleShopify(ctx, svc, privacy.ShopifyRedact, []byte(strings.Replace(redact, `"email":"JOHN@example.com"`, `"id":191167`, 1))); err != nil || res.Action != "not_found" {
			t.Fatalf("retry = %+v %v", res, err)
		}
		reqs, err := db.PrivacyRequests(ctx, id)
		if err != nil || len(reqs) != 2 || reqs[0].Kind != "export" || reqs[0].Source != "shopify" || reqs[1].Kind != "erase" ||
			reqs[1].Actor != "shopify:enishi-test.myshopify.com" || !strings.Contains(reqs[1].Reason, "customers/redact") {
			t.Fatalf("requests = %+v %v", reqs, err)
		}
		c, _ := db.Customer(ctx, id)
		if c.Status != customer.Erased || c.Email != "" || c.OrderCount != 1 {
			t.Fatalf("customer after redact = %+v", c)
		}
		if _, err := privacy.HandleShopify(ctx, svc, "orders/create", []byte(req)); errs.Code(err) != errs.Invalid {
			t.Fatalf("other topic: %v", err)
		}
		if res, err := privacy.HandleShopify(ctx, svc, privacy.ShopifyShopRedact, []byte(`{"shop_domain":"s"}`)); err != nil || res.Action != "ignored" {
			t.Fatalf("shop/redact = %+v %v", res, err)
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

// FuzzShopifyWebhook feeds arbitrary bodies to the compliance handler: it
// never panics, and a body it accepts names a topic outcome.
func FuzzShopifyWebhook(f *testing.F) {
	f.Add(privacy.ShopifyRedact, []byte(`{"shop_domain":"s.myshopify.com","customer":{"id":1,"email":"a@example.com","phone":"090-1234-5678"}}`))
	f.Add(privacy.ShopifyDataRequest, []byte(`{"shop_id":1,"customer":{"id":"not-a-number"},"data_request":{"id":2}}`))
	f.Add(privacy.ShopifyRedact, []byte(`{"shop_domain":"'; DROP TABLE customers; --","customer":{"email":"<script>@x"}}`))
	db := storetest.SQLite(f, clock.NewManual(storetest.T0, true))
	svc := privacy.New(db)
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		res, err := privacy.HandleShopify(ctx, svc, topic, body)
		if err == nil && res.Action == "" {
			t.Fatalf("accepted without an outcome: %+v", res)
		}
		if err != nil && errs.Code(err) == errs.Internal {
			t.Fatalf("internal error on input: %v", err)
		}
	})
}

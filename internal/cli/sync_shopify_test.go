package cli

import (
	"strings"
	"testing"

	fakeshopify "github.com/enishi-crm/enishi/internal/fake/shopify"
	"github.com/enishi-crm/enishi/internal/secret"
)

func TestSyncShopifyCommandStoresTokenAndCursor(t *testing.T) {
	f := fakeshopify.New("shpat_cli")
	defer f.Close()
	f.AddJSON("customers", `{"id":9007199254740993,"email":"a@example.com","first_name":"太郎","last_name":"山田"}`)
	f.AddJSON("orders", `{"id":9007199254740995,"name":"#1001","email":"a@example.com","created_at":"2026-03-01T10:00:00+09:00","financial_status":"paid",
		"currency":"JPY","total_price":"1000","customer":{"id":9007199254740993},"line_items":[{"sku":"A","title":"A","price":"1000","quantity":1}]}`)
	db := dbArgs(t, "sqlite")
	key := map[string]string{secret.KeyEnv: secret.GenerateKey()} // the token is stored encrypted
	args := append([]string{"sync", "shopify", "--shop", "s.myshopify.com", "--api-base", f.BaseURL()}, db...)
	code, _, errOut := run(t, key, args...)
	if code != ExitFailure || !strings.Contains(errOut, "no Admin API token") {
		t.Fatalf("without a token: %d %q", code, errOut)
	}
	code, out, errOut := run(t, key, append(args, "--token", "shpat_cli")...)
	if code != ExitOK || !strings.Contains(out, "customers 1") || !strings.Contains(out, "orders    1") {
		t.Fatalf("sync: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, key, args...) // the stored token; nothing new after the cursor
	if code != ExitOK || !strings.Contains(out, "orders    0") {
		t.Fatalf("second sync: %d %q", code, out)
	}
	code, out, _ = run(t, key, append([]string{"settings", "get", "shopify.sync.s.myshopify.com.orders.since_id"}, db...)...)
	if code != ExitOK || strings.TrimSpace(out) != "9007199254740995" {
		t.Fatalf("cursor: %d %q", code, out)
	}
	if code, _, _ = run(t, key, append([]string{"settings", "get", "secret.shopify.token.s.myshopify.com"}, db...)...); code != ExitUsage {
		t.Fatalf("reading a secret: %d", code)
	}
}

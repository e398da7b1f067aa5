package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/enishi-crm/enishi/internal/ingest"
)

// cmdSync backfills data from a platform's API.
func cmdSync(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "shopify" {
		return usagef("usage: enishi sync shopify --shop SHOP.myshopify.com [--token TOKEN] [--resources products,customers,orders]")
	}
	fs := newFlags(env, "sync shopify", "sync shopify --shop SHOP.myshopify.com [--token TOKEN] [flags]")
	db := addDBFlags(fs, env)
	shop := fs.String("shop", "", "the shop's domain, e.g. example.myshopify.com")
	token := fs.String("token", env.Getenv("ENISHI_SHOPIFY_TOKEN"), "Admin API access token (env ENISHI_SHOPIFY_TOKEN); stored for later runs and write-back. Omit to use the stored one")
	resources := fs.String("resources", strings.Join(ingest.ShopifyResources, ","), "what to sync, in order")
	pageSize := fs.Int("page-size", 250, "items per page (at most 250)")
	apiBase := fs.String("api-base", "", "Admin API base URL instead of https://SHOP/admin/api/VERSION (a proxy or a test server)")
	restart := fs.Bool("restart", false, "forget the stored cursors and sync everything again (imports are idempotent)")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *shop == "" {
		return usagef("--shop is required")
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := ingest.New(ingest.Config{Store: st, Clock: env.Clock, Log: env.Log})
	if *token != "" {
		if err := svc.Secrets().SetSecret(ctx, ingest.SecretShopifyToken(*shop), *token); err != nil {
			return err
		}
	}
	c, err := svc.ShopifyClient(ctx, *shop)
	if err != nil {
		return err
	}
	c.BaseURL = *apiBase
	var list []string
	for _, r := range strings.Split(*resources, ",") {
		if r = strings.TrimSpace(r); r != "" {
			list = append(list, r)
		}
	}
	if *restart {
		if err := svc.ResetShopifyCursors(ctx, *shop, list); err != nil {
			return err
		}
	}
	res, err := svc.SyncShopify(ctx, c, list, *pageSize, func(p ingest.SyncProgress) {
		fmt.Fprintf(env.Stderr, "%s: %d synced (through id %s)\n", p.Resource, p.Total, p.Cursor)
	})
	for _, r := range list {
		fmt.Fprintf(env.Stdout, "%-9s %d\n", r, res[r])
	}
	if err != nil {
		return fmt.Errorf("%w (run the same command again to resume)", err)
	}
	return nil
}

package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/shopify"
	"github.com/enishi-crm/enishi/internal/store"
)

// ShopifyResources are what `enishi sync shopify` backfills, in order:
// products first (order lines name them), then customers, then orders.
var ShopifyResources = []string{"products", "customers", "orders"}

// SyncProgress reports a synced page.
type SyncProgress struct {
	Resource string
	Items    int    // items in this page
	Total    int    // items so far in this run
	Cursor   string // the last id done, stored for resuming
}

// SyncResult counts a sync run per resource.
type SyncResult map[string]int

// shopifyCursorKey is the settings key of a resource's resume cursor: the
// largest id synced. Pages are asked for in id order (since_id), so a run
// cut short resumes after the last page it finished.
func shopifyCursorKey(shop, resource string) string {
	return "shopify.sync." + shop + "." + resource + ".since_id"
}

// SyncShopify backfills the shop's products, customers and orders (or
// those named) through the Admin API, page by page, each page in its own
// import and its cursor stored after it. Run again, it continues after the
// last finished page; webhooks keep the data current from then on.
func (s *Service) SyncShopify(ctx context.Context, c *shopify.Client, resources []string, pageSize int, progress func(SyncProgress)) (SyncResult, error) {
	if len(resources) == 0 {
		resources = ShopifyResources
	}
	if pageSize <= 0 || pageSize > 250 {
		pageSize = 250
	}
	res := SyncResult{}
	for _, r := range resources {
		known := false
		for _, x := range ShopifyResources {
			known = known || x == r
		}
		if !known {
			return res, errs.Errorf(errs.Invalid, "%q is not a resource to sync (%s)", r, strings.Join(ShopifyResources, ", "))
		}
	}
	shopURL := "https://" + c.Shop
	for _, r := range resources {
		key := shopifyCursorKey(c.Shop, r)
		since, _, err := s.st.Setting(ctx, key)
		if err != nil {
			return res, err
		}
		params := url.Values{"limit": {strconv.Itoa(pageSize)}}
		if since != "" {
			params.Set("since_id", since)
		}
		if r == "orders" {
			params.Set("status", "any")
		}
		err = c.List(ctx, r, params, func(items []json.RawMessage) error {
			if len(items) == 0 {
				return nil
			}
			last, err := s.syncPage(ctx, c.Shop, shopURL, r, items)
			if err != nil {
				return fmt.Errorf("sync %s after id %s: %w", r, since, err)
			}
			if err := s.st.SetSetting(ctx, key, last); err != nil {
				return err
			}
			since = last
			res[r] += len(items)
			if progress != nil {
				progress(SyncProgress{Resource: r, Items: len(items), Total: res[r], Cursor: last})
			}
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// syncPage imports one page and returns its largest id.
func (s *Service) syncPage(ctx context.Context, shop, shopURL, resource string, items []json.RawMessage) (string, error) {
	var last int64
	note := func(id json.Number) error {
		n, err := strconv.ParseInt(id.String(), 10, 64)
		if err != nil {
			return errs.Errorf(errs.Invalid, "%s id %q is not an integer", resource, id)
		}
		last = max(last, n)
		return nil
	}
	now := s.clock.Now()
	switch resource {
	case "orders":
		os := make([]shopifyOrder, len(items))
		for i, raw := range items {
			if err := decodeNumbers(raw, &os[i]); err != nil {
				return "", err
			}
			if err := note(os[i].ID); err != nil {
				return "", err
			}
		}
		if err := s.importShopifyOrders(ctx, shop, os, now); err != nil {
			return "", err
		}
	case "customers":
		cs := make([]shopifyCustomer, len(items))
		for i, raw := range items {
			if err := decodeNumbers(raw, &cs[i]); err != nil {
				return "", err
			}
			if err := note(cs[i].ID); err != nil {
				return "", err
			}
		}
		if err := s.importShopifyCustomers(ctx, cs, now); err != nil {
			return "", err
		}
	case "products":
		var ps []product.Product
		for _, raw := range items {
			var p shopifyProduct
			if err := decodeNumbers(raw, &p); err != nil {
				return "", err
			}
			if err := note(p.ID); err != nil {
				return "", err
			}
			more, err := shopifyProducts(&p, shopURL)
			if err != nil {
				return "", err
			}
			ps = append(ps, more...)
		}
		if len(ps) > 0 {
			if _, err := s.st.ImportProducts(ctx, ps); err != nil {
				return "", err
			}
		}
	}
	return strconv.FormatInt(last, 10), nil
}

// ShopifyClient builds an Admin API client for a shop with its stored
// access token (set by `enishi sync shopify --token` or the secrets API).
func (s *Service) ShopifyClient(ctx context.Context, shop string) (*shopify.Client, error) {
	tok, err := s.secrets.Secret(ctx, SecretShopifyToken(shop))
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, errs.Errorf(errs.Invalid, "no Admin API token is stored for %s (enishi sync shopify --shop %s --token …)", shop, shop)
	}
	return &shopify.Client{Shop: shop, Token: tok}, nil
}

// ShopifyWriteBack writes enishi's decisions back to Shopify: segment
// membership as customer tags, coupons as discount codes. The segment and
// loyalty capabilities call it.
type ShopifyWriteBack struct {
	Store  store.Store
	Client *shopify.Client
}

// ShopifyCustomerID returns the Shopify customer id of an enishi customer
// (its external identifier from Shopify), or NotFound.
func (w ShopifyWriteBack) ShopifyCustomerID(ctx context.Context, customerID int64) (string, error) {
	v, err := w.Store.CustomerView(ctx, customerID, store.ViewOptions{TimelineLimit: 1})
	if err != nil {
		return "", err
	}
	for _, id := range v.Identities {
		if id.Kind == identity.External && id.Source == ShopifySource {
			return id.Value, nil
		}
	}
	return "", errs.Errorf(errs.NotFound, "customer %d has no Shopify customer id", customerID)
}

// TagCustomer adds and removes tags on the customer's Shopify record and
// returns its tags after the change.
func (w ShopifyWriteBack) TagCustomer(ctx context.Context, customerID int64, add, remove []string) ([]string, error) {
	sid, err := w.ShopifyCustomerID(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return w.Client.SetCustomerTags(ctx, sid, add, remove)
}

// TagCustomers adds tag to the Shopify customers add and removes it from
// those in remove (Shopify customer ids), one customer at a time; the
// other tags of each stay. It makes ShopifyWriteBack a segment.ShopifyTagger,
// for pushing segments. A push cut short is simply pushed again: adding a
// tag a customer has, or removing one it has not, changes nothing.
func (w ShopifyWriteBack) TagCustomers(ctx context.Context, tag string, add, remove []string) error {
	for _, id := range add {
		if _, err := w.Client.SetCustomerTags(ctx, id, []string{tag}, nil); err != nil {
			return fmt.Errorf("tag Shopify customer %s: %w", id, err)
		}
	}
	for _, id := range remove {
		if _, err := w.Client.SetCustomerTags(ctx, id, nil, []string{tag}); err != nil {
			return fmt.Errorf("untag Shopify customer %s: %w", id, err)
		}
	}
	return nil
}

// CreateCoupon makes a discount code under a price rule.
func (w ShopifyWriteBack) CreateCoupon(ctx context.Context, priceRuleID, code string) (shopify.DiscountCode, error) {
	return w.Client.CreateDiscountCode(ctx, priceRuleID, code)
}

// ResetShopifyCursors forgets where earlier syncs of the resources ended.
func (s *Service) ResetShopifyCursors(ctx context.Context, shop string, resources []string) error {
	if len(resources) == 0 {
		resources = ShopifyResources
	}
	for _, r := range resources {
		if err := s.st.SetSetting(ctx, shopifyCursorKey(shop, r), ""); err != nil {
			return err
		}
	}
	return nil
}

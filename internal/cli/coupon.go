package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/shopify"
)

const couponSynopsis = `coupon create --name NAME --type amount|percent --value N [--code SHARED_CODE] [--min-order YEN]
                     [--starts YYYY-MM-DD] [--ends YYYY-MM-DD] [--per-customer N] [--limit N]
                     [--skus A,B] [--categories A,B] [--ranks gold,platinum] [--shopify-price-rule ID]
       enishi coupon generate CAMPAIGN_ID COUNT [--prefix P] [--out FILE]
       enishi coupon list [--json]
       enishi coupon show CAMPAIGN_ID [--codes N] [--json]
       enishi coupon issue CAMPAIGN_ID CUSTOMER_ID [--key KEY]
       enishi coupon check CODE --subtotal YEN [--customer ID]
       enishi coupon unused [--days N] | remind
       enishi coupon sync CAMPAIGN_ID   (Shopify: ENISHI_SHOPIFY_URL, ENISHI_SHOPIFY_TOKEN)`

func cmdCoupon(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", couponSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "coupon", couponSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "campaign name")
	typ := fs.String("type", "", "amount (yen off) or percent")
	value := fs.Int64("value", 0, "yen or percent off")
	code := fs.String("code", "", "a shared code everyone types (without it, the campaign has unique generated codes)")
	minOrder := fs.Int64("min-order", 0, "smallest subtotal in yen")
	starts := fs.String("starts", "", "first day (YYYY-MM-DD, Tokyo)")
	ends := fs.String("ends", "", "last day (YYYY-MM-DD, Tokyo)")
	perCustomer := fs.Int("per-customer", 0, "uses per customer (0: no limit)")
	limit := fs.Int("limit", 0, "uses in total (0: no limit)")
	skus := fs.String("skus", "", "comma-separated SKUs the discount applies to")
	categories := fs.String("categories", "", "comma-separated categories the discount applies to")
	ranks := fs.String("ranks", "", "comma-separated rank codes the campaign is exclusive to")
	priceRule := fs.String("shopify-price-rule", "", "Shopify price rule id the codes are written to")
	prefix := fs.String("prefix", "", "prefix of generated codes")
	out := fs.String("out", "", "file to write generated codes to (default: stdout)")
	codes := fs.Int("codes", 20, "codes to list with show")
	key := fs.String("key", "", "idempotency key for issue")
	subtotal := fs.Int64("subtotal", 0, "cart subtotal in yen, for check")
	customerID := fs.Int64("customer", 0, "customer id, for check")
	days := fs.Int("days", 7, "how many days ahead unused lists look")
	actor := fs.String("actor", "cli", "who is acting")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	need := map[string]int{"create": 0, "generate": 2, "list": 0, "report": 0, "show": 1, "issue": 2, "check": 1, "unused": 0, "remind": 0, "sync": 1}
	if n, ok := need[sub]; !ok {
		return usagef("unknown coupon subcommand %q", sub)
	} else if len(pos) != n {
		return usagef("usage: enishi %s", couponSynopsis)
	}
	ids := make([]int64, 0, 2)
	if sub != "check" {
		for _, p := range pos {
			id, err := parseInt64(p, "a number")
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	}
	var writer loyalty.DiscountCodeWriter
	if sub == "sync" {
		if writer, err = shopifyWriter(env); err != nil {
			return err
		}
		if writer == nil {
			return errs.Errorf(errs.Invalid, "set ENISHI_SHOPIFY_URL (https://SHOP.myshopify.com) and ENISHI_SHOPIFY_TOKEN (an Admin API token with write_discounts)")
		}
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "create":
		c := loyalty.Campaign{Name: *name, Mode: loyalty.Unique, SharedCode: *code, DiscountType: loyalty.DiscountType(*typ), Value: *value,
			MinOrder: *minOrder, PerCustomerLimit: *perCustomer, TotalLimit: *limit, SKUs: splitList(*skus), Categories: splitList(*categories),
			Ranks: splitList(*ranks), ShopifyPriceRuleID: *priceRule, CreatedBy: *actor}
		if *code != "" {
			c.Mode = loyalty.Shared
		}
		if c.StartsAt, err = dayFlag("starts", *starts, false); err != nil {
			return err
		}
		if c.EndsAt, err = dayFlag("ends", *ends, true); err != nil {
			return err
		}
		made, err := st.CreateCouponCampaign(ctx, c)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, made)
		}
		fmt.Fprintf(env.Stdout, "created campaign %d %q (%s)\n", made.ID, made.Name, describeCampaign(made))
		if made.Mode == loyalty.Unique {
			fmt.Fprintf(env.Stdout, "make codes with `enishi coupon generate %d COUNT`\n", made.ID)
		}
	case "generate":
		cs, err := st.GenerateCoupons(ctx, ids[0], int(ids[1]), *prefix)
		if err != nil {
			return err
		}
		w := env.Stdout
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if err := writeCodes(w, cs); err != nil {
			return err
		}
		if *out != "" {
			fmt.Fprintf(env.Stdout, "wrote %d codes of campaign %d to %s\n", len(cs), ids[0], *out)
		}
	case "list", "report":
		cs, err := st.CouponCampaigns(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, cs)
		}
		fmt.Fprintf(env.Stdout, "%-4s %s %7s %7s %8s %6s %12s %10s\n", "id", padRight("campaign", 24), "codes", "issued", "redeemed", "rate", "revenue", "discount")
		for _, c := range cs {
			fmt.Fprintf(env.Stdout, "%-4d %s %7d %7d %8d %5.1f%% %12s %10s\n", c.ID, padRight(c.Name, 24), c.Codes, c.Issued, c.Redemptions, c.Rate*100,
				"¥"+group(int(c.Revenue)), "¥"+group(int(c.Discount)))
		}
	case "show":
		c, err := st.CouponCampaign(ctx, ids[0])
		if err != nil {
			return err
		}
		list, err := st.CampaignCoupons(ctx, ids[0], *codes, 0)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"campaign": c, "coupons": list})
		}
		fmt.Fprintf(env.Stdout, "campaign %d %q: %s\n", c.ID, c.Name, describeCampaign(&c.Campaign))
		fmt.Fprintf(env.Stdout, "  codes %d, issued %d, redeemed %d (%.1f%%), %d paid orders, revenue ¥%s, discount ¥%s, on Shopify %d\n",
			c.Codes, c.Issued, c.Redeemed, c.Rate*100, c.Redemptions, group(int(c.Revenue)), group(int(c.Discount)), c.Synced)
		for _, cp := range list {
			who := "-"
			if cp.CustomerID != 0 {
				who = fmt.Sprint(cp.CustomerID)
			}
			fmt.Fprintf(env.Stdout, "  %s\t%s\tcustomer %s\n", cp.Code, cp.Status, who)
		}
	case "issue":
		cp, err := st.IssueCoupon(ctx, loyalty.IssueRequest{CampaignID: ids[0], CustomerID: ids[1], Key: *key, Actor: *actor})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, cp)
		}
		fmt.Fprintf(env.Stdout, "issued %s (%s) to customer %d\n", cp.Code, cp.CampaignName, cp.CustomerID)
	case "check":
		v, err := st.CheckCoupon(ctx, loyalty.Cart{Code: pos[0], CustomerID: *customerID, Subtotal: *subtotal})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, v)
		}
		if v.Valid {
			fmt.Fprintf(env.Stdout, "valid: ¥%s off\n", group(int(v.Discount)))
		} else {
			fmt.Fprintf(env.Stdout, "not valid (%s): %s\n", v.Reason, v.Message)
		}
	case "unused":
		list, err := st.UnusedCoupons(ctx, *days)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, u := range list {
			fmt.Fprintf(env.Stdout, "%d\t%s\t%s\t%d days left\n", u.CustomerID, u.Code, u.CampaignName, u.DaysLeft)
		}
	case "remind":
		n, err := st.RemindUnusedCoupons(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%d unused-coupon triggers fired\n", n)
	case "sync":
		c, err := st.CouponCampaign(ctx, ids[0])
		if err != nil {
			return err
		}
		res, err := loyalty.SyncDiscountCodes(ctx, st, writer, &c.Campaign)
		fmt.Fprintf(env.Stdout, "wrote %d codes to Shopify price rule %s (%d were there already)\n", res.Written, c.ShopifyPriceRuleID, res.Existed)
		if err != nil {
			return fmt.Errorf("%w (run it again to carry on)", err)
		}
	}
	return nil
}

// shopifyWriter builds the Shopify discount code writer from the
// environment; nil when it is not configured.
func shopifyWriter(env *Env) (loyalty.DiscountCodeWriter, error) {
	u, token := env.Getenv("ENISHI_SHOPIFY_URL"), env.Getenv("ENISHI_SHOPIFY_TOKEN")
	if u == "" && token == "" {
		return nil, nil
	}
	w, err := shopify.NewDiscountCodes(u, token)
	if err != nil {
		return nil, errs.Errorf(errs.Invalid, "%v", err)
	}
	return w, nil
}

func writeCodes(w io.Writer, cs []loyalty.Coupon) error {
	for _, c := range cs {
		if _, err := fmt.Fprintln(w, c.Code); err != nil {
			return err
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// dayFlag reads a YYYY-MM-DD flag: its start, or with end its end (the
// first instant after it).
func dayFlag(name, v string, end bool) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	d, err := loyalty.ParseDay(v)
	if err != nil {
		return nil, usagef("--%s: %v", name, err)
	}
	t := d.UTC()
	if end {
		t = d.End().UTC()
	}
	return &t, nil
}

func describeCampaign(c *loyalty.Campaign) string {
	var parts []string
	if c.DiscountType == loyalty.PercentOff {
		parts = append(parts, fmt.Sprintf("%d%% off", c.Value))
	} else {
		parts = append(parts, fmt.Sprintf("¥%s off", group(int(c.Value))))
	}
	if c.Mode == loyalty.Shared {
		parts = append(parts, "shared code "+c.SharedCode)
	} else {
		parts = append(parts, "unique codes")
	}
	if c.MinOrder > 0 {
		parts = append(parts, "orders from ¥"+group(int(c.MinOrder)))
	}
	if c.StartsAt != nil {
		parts = append(parts, "from "+c.StartsAt.In(clock.Tokyo).Format("2006-01-02"))
	}
	if c.EndsAt != nil {
		parts = append(parts, "through "+loyalty.ValidThrough(*c.EndsAt).String())
	}
	if c.PerCustomerLimit > 0 {
		parts = append(parts, fmt.Sprintf("%d per customer", c.PerCustomerLimit))
	}
	if c.TotalLimit > 0 {
		parts = append(parts, fmt.Sprintf("%d in total", c.TotalLimit))
	}
	if len(c.SKUs)+len(c.Categories) > 0 {
		parts = append(parts, "on "+strings.Join(append(append([]string{}, c.SKUs...), c.Categories...), ", "))
	}
	if len(c.Ranks) > 0 {
		parts = append(parts, "for "+strings.Join(c.Ranks, ", "))
	}
	if c.ShopifyPriceRuleID != "" {
		parts = append(parts, "Shopify price rule "+c.ShopifyPriceRuleID)
	}
	return strings.Join(parts, ", ")
}

// padRight cuts or pads s to w terminal columns, counting East Asian wide
// characters (kanji, kana, full-width forms) as two.
func padRight(s string, w int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		rw := 1
		if r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 || r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6) {
			rw = 2
		}
		if n+rw > w {
			break
		}
		b.WriteRune(r)
		n += rw
	}
	return b.String() + strings.Repeat(" ", w-n)
}

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/demo"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/store"
)

func cmdDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "demo [--customers N] [--seed S]")
	db := addDBFlags(fs, env)
	customers := fs.Int("customers", demo.DefaultCustomers, "people to generate")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same data")
	force := fs.Bool("force", false, "generate even if the database already has customers")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *customers <= 0 {
		return usagef("--customers must be above 0")
	}
	c := env.Clock
	if c == nil {
		c = clock.Real{}
	}
	st, err := db.open(ctx, env, c)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	if s.Customers > 0 && !*force {
		return usagef("the database already has %d customers; demo data goes into an empty database (or pass --force)", s.Customers)
	}
	return generateDemo(ctx, env, st, *customers, *seed, c.Now())
}

// generateDemo fills st with demo data ending at now and prints a summary.
func generateDemo(ctx context.Context, env *Env, st *store.DB, customers int, seed int64, now time.Time) error {
	start := time.Now()
	opt := demo.Options{Customers: customers, Seed: seed, Now: now}
	if env.IsTerminal {
		opt.Progress = func(done, total int) {
			fmt.Fprintf(env.Stderr, "\rgenerating %s / %s people ", group(done), group(total))
		}
	}
	if err := demoCoupons(ctx, st); err != nil {
		return err
	}
	res, err := demo.Generate(ctx, st, opt)
	if env.IsTerminal {
		fmt.Fprint(env.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if _, err := st.EvaluatePendingRanks(ctx); err != nil {
		return err
	}
	if err := demoMarketing(ctx, st); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "demo data: %s customers, %s orders (%s lines), %s products, %s events; %s subscriptions, %s reviews, %s survey answers, %s inquiries in %.1fs\n",
		group(res.Customers), group(res.Orders), group(res.LineItems), group(res.Products), group(res.Events),
		group(res.Subscriptions), group(res.Reviews), group(res.SurveyResponses), group(res.Inquiries), time.Since(start).Seconds())
	return nil
}

// demoCoupons creates the coupon campaigns whose codes the demo's orders
// carry, so that their redemptions are recorded as the orders arrive.
func demoCoupons(ctx context.Context, st *store.DB) error {
	for _, c := range []loyalty.Campaign{
		{Name: "初回購入10%OFF", Mode: loyalty.Shared, SharedCode: "WELCOME10", DiscountType: loyalty.PercentOff, Value: 10, PerCustomerLimit: 1, CreatedBy: "demo"},
		{Name: "リピート感謝500円OFF", Mode: loyalty.Shared, SharedCode: "THANKS500", DiscountType: loyalty.AmountOff, Value: 500, CreatedBy: "demo"},
	} {
		if _, err := st.CreateCouponCampaign(ctx, c); err != nil && errs.Code(err) != errs.Conflict {
			return fmt.Errorf("demo coupons: %w", err)
		}
	}
	return nil
}

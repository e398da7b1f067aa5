package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/store"
)

const rankSynopsis = `rank evaluate [CUSTOMER_ID…] [--json]
       enishi rank report [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]
       enishi rank history CUSTOMER_ID [--json]`

func cmdRank(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", rankSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "rank", rankSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	fromFlag := fs.String("from", "", "start of the movement period (default: a month before --to)")
	toFlag := fs.String("to", "", "end of the period, inclusive (default: now)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	var ids []int64
	for _, p := range pos {
		id, err := parseInt64(p, "a customer id")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	switch {
	case sub == "history" && len(ids) != 1, sub == "report" && len(ids) != 0:
		return usagef("usage: enishi %s", rankSynopsis)
	case sub != "evaluate" && sub != "history" && sub != "report":
		return usagef("unknown rank subcommand %q", sub)
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "evaluate":
		run, err := st.EvaluateRanks(ctx, ids)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, run)
		}
		for _, c := range run.Changes {
			fmt.Fprintf(env.Stdout, "%d\t%s → %s (%s)\n", c.CustomerID, c.From, c.To, c.Direction)
		}
		fmt.Fprintf(env.Stdout, "evaluated %s customers: %d up, %d down\n", group(run.Evaluated), run.Up, run.Down)
	case "history":
		h, err := st.RankHistory(ctx, ids[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, h)
		}
		for _, c := range h {
			fmt.Fprintf(env.Stdout, "%s  %s → %s (%s, %s, value %s)\n", c.ChangedAt.In(clock.Tokyo).Format("2006-01-02 15:04"), c.From, c.To, c.Direction, c.Reason, group(int(c.Value)))
		}
	case "report":
		to := st.Clock.Now()
		if t, err := dayFlag("to", *toFlag, true); err != nil {
			return err
		} else if t != nil {
			to = t.Add(-time.Millisecond)
		}
		from := to.AddDate(0, -1, 0)
		if t, err := dayFlag("from", *fromFlag, false); err != nil {
			return err
		} else if t != nil {
			from = *t
		}
		rep, err := st.RankReport(ctx, from, to)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, rep)
		}
		printRankReport(env.Stdout, rep)
	}
	return nil
}

func printRankReport(w io.Writer, rep *loyalty.RankReport) {
	fmt.Fprintf(w, "会員ランク分布 at %s\n", rep.To.In(clock.Tokyo).Format("2006-01-02 15:04"))
	for _, d := range rep.Distribution {
		fmt.Fprintf(w, "  %-10s %s %10s  %5.1f%%\n", d.Rank, padRight(d.Name, 10), group(int(d.Customers)), d.Share*100)
	}
	fmt.Fprintf(w, "movement since %s: %s up, %s down, %s unchanged, %s new\n", rep.From.In(clock.Tokyo).Format("2006-01-02"),
		group(int(rep.Upgraded)), group(int(rep.Downgraded)), group(int(rep.Unchanged)), group(int(rep.New)))
	for _, m := range rep.Movement {
		if m.From != m.To {
			fmt.Fprintf(w, "  %-10s → %-10s %10s\n", m.From, m.To, group(int(m.Customers)))
		}
	}
}

const loyaltySynopsis = `loyalty show [--json]
       enishi loyalty set FILE|-    (the programme as JSON; see docs/loyalty.md)
       enishi loyalty daily [--json]`

// cmdLoyalty shows or replaces the programme and runs the daily work.
func cmdLoyalty(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", loyaltySynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "loyalty", loyaltySynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case sub == "set" && len(pos) != 1, sub != "set" && len(pos) != 0:
		return usagef("usage: enishi %s", loyaltySynopsis)
	case sub != "show" && sub != "set" && sub != "daily":
		return usagef("unknown loyalty subcommand %q", sub)
	}
	var prog loyalty.Program
	if sub == "set" {
		var raw []byte
		if pos[0] == "-" {
			raw, err = io.ReadAll(env.Stdin)
		} else {
			raw, err = os.ReadFile(pos[0])
		}
		if err != nil {
			return err
		}
		if prog, err = loyalty.ParseProgram(raw); err != nil {
			return err
		}
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "set":
		if err := st.SetLoyaltyProgram(ctx, prog); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "loyalty programme saved")
		fallthrough
	case "show":
		p, err := st.LoyaltyProgram(ctx)
		if err != nil {
			return err
		}
		if *asJSON || sub == "set" {
			return printJSON(env.Stdout, p)
		}
		printProgram(env.Stdout, &p)
	case "daily":
		res, err := st.LoyaltyDaily(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, res)
		}
		fmt.Fprintf(env.Stdout, "ranks: %s evaluated, %d up, %d down; points: %s expired in %d lots, %d expiring-soon triggers; %d unused-coupon triggers\n",
			group(res.Ranks.Evaluated), res.Ranks.Up, res.Ranks.Down, group(int(res.Expiry.Points)), res.Expiry.Lots, res.Expiry.ExpiringSoonEvents, res.Unused)
	}
	return nil
}

func printProgram(w io.Writer, p *loyalty.Program) {
	state := "on"
	if !p.Enabled {
		state = "off (orders earn nothing and ranks are not evaluated on import)"
	}
	fmt.Fprintf(w, "loyalty programme: %s\n", state)
	period := string(p.Ranks.Period)
	if p.Ranks.Period == loyalty.PeriodRolling {
		period = fmt.Sprintf("last %d months", p.Ranks.Months)
	}
	fmt.Fprintf(w, "会員ランク by %s over %s:\n", p.Ranks.Metric, period)
	for _, t := range p.Ranks.Tiers {
		extra := ""
		if t.FreeShipping {
			extra = ", free shipping"
		}
		fmt.Fprintf(w, "  %-10s %s from %10s  points ×%g%s\n", t.Code, padRight(t.Name, 10), group(int(t.Min)), t.PointMultiplier, extra)
	}
	expiry := "never expire"
	if p.Points.ExpiryMonths > 0 {
		expiry = fmt.Sprintf("valid %d months", p.Points.ExpiryMonths)
	}
	fmt.Fprintf(w, "ポイント: %g%% of what is paid for goods, %s, birthday month ×%g", p.Points.BaseRatePercent, expiry, p.Points.BirthdayMultiplier)
	if p.Points.EarnSince != nil {
		fmt.Fprintf(w, ", orders from %s", p.Points.EarnSince)
	}
	fmt.Fprintln(w)
	for _, c := range p.Points.Campaigns {
		fmt.Fprintf(w, "  campaign %q ×%g %s–%s %v %v\n", c.Name, c.Multiplier, c.From, c.To, c.SKUs, c.Categories)
	}
	raw, _ := json.Marshal(p.Coupons)
	fmt.Fprintf(w, "coupons: %s\n", raw)
}

// evaluateQueuedRanks evaluates the ranks an order import queued and says
// what moved.
func evaluateQueuedRanks(ctx context.Context, env *Env, st store.Store, print bool) error {
	run, err := st.EvaluatePendingRanks(ctx)
	if err != nil {
		return fmt.Errorf("evaluate ranks: %w", err)
	}
	if print && run.Evaluated > 0 {
		fmt.Fprintf(env.Stdout, "ranks: %s customers evaluated, %s up, %s down\n", group(run.Evaluated), group(run.Up), group(run.Down))
	}
	return nil
}

// loyaltyDailyAt is when serve runs the daily loyalty work, Tokyo time.
const loyaltyDailyAt = 3 * time.Hour

// rankQueueEvery is how often serve evaluates the ranks order imports queued.
const rankQueueEvery = 10 * time.Second

// runLoyalty evaluates queued ranks every few seconds and, when daily is
// set, runs the daily loyalty work (ranks, expiry, reminders) at 03:00
// Asia/Tokyo, until ctx ends. Both are safe to repeat, so several processes
// on one PostgreSQL database may all run them.
func runLoyalty(ctx context.Context, log *slog.Logger, st store.Store, c clock.Clock, daily bool) {
	nextDaily := func() time.Time {
		now := c.Now()
		next := clock.StartOfDay(now).Add(loyaltyDailyAt)
		if !next.After(now) {
			next = clock.StartOfDay(now.Add(24 * time.Hour)).Add(loyaltyDailyAt)
		}
		return next
	}
	due := nextDaily()
	tick := time.NewTicker(rankQueueEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !daily || c.Now().Before(due) {
			if run, err := st.EvaluatePendingRanks(ctx); err != nil {
				log.Error("evaluate queued ranks", "err", err)
			} else if run.Evaluated > 0 {
				log.Debug("evaluated queued ranks", "customers", run.Evaluated, "up", run.Up, "down", run.Down)
			}
			continue
		}
		due = nextDaily()
		res, err := st.LoyaltyDaily(ctx)
		if err != nil {
			log.Error("loyalty daily run", "err", err)
			continue
		}
		log.Info("loyalty daily run", "ranks_evaluated", res.Ranks.Evaluated, "ranks_up", res.Ranks.Up, "ranks_down", res.Ranks.Down,
			"points_expired", res.Expiry.Points, "expiring_soon", res.Expiry.ExpiringSoonEvents, "coupon_reminders", res.Unused)
	}
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/reports"
)

const reportSynopsis = `report NAME [--PARAM VALUE …] [--json | --format csv]

Reports (docs/analytics.md explains each):`

func cmdReport(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		var b strings.Builder
		for _, r := range reports.All {
			fmt.Fprintf(&b, "\n  %-18s %s (--%s)", r.Name, r.Summary, strings.Join(r.Params, ", --"))
		}
		return usagef("usage: enishi %s%s", reportSynopsis, b.String())
	}
	name := args[0]
	rep, err := reports.Find(name)
	if err != nil {
		return usagef("%v", err)
	}
	fs := newFlags(env, "report "+name, "report "+name+" [--"+strings.Join(rep.Params, " V] [--")+" V] [--json | --format csv]")
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON (the API's response)")
	format := fs.String("format", "", "csv: one row per customer (rfm, predict)")
	vals := map[string]*string{}
	for _, p := range rep.Params {
		vals[p] = fs.String(p, "", paramHelp[p])
	}
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	params := reports.Params{}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := vals[f.Name]; ok {
			params[f.Name] = *v
		}
	})
	if t := params["thresholds"]; t != "" && t != analytics.MethodQuintile {
		raw, err := os.ReadFile(t)
		if err != nil {
			return usagef("--thresholds: give quintile or a JSON file: %v", err)
		}
		params["thresholds"] = string(raw)
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	var c clock.Clock = clock.Real{}
	if env.Clock != nil {
		c = env.Clock
	}
	run := reports.Runner{Store: st, Clock: c}
	switch *format {
	case "csv":
		_, err := run.Run(ctx, name, params, env.Stdout)
		return err
	case "", "json":
	default:
		return usagef("--format is csv (or use --json)")
	}
	out, err := run.Run(ctx, name, params, nil)
	if err != nil {
		return err
	}
	if *asJSON || *format == "json" {
		return printJSON(env.Stdout, out)
	}
	printReport(env, out)
	return nil
}

var paramHelp = map[string]string{
	"as-of":           "date YYYY-MM-DD (default today, Asia/Tokyo)",
	"window":          "days counted for frequency and monetary (default: saved, 365)",
	"thresholds":      "quintile, or a JSON file of cut points (default: saved)",
	"from":            "first date YYYY-MM-DD",
	"to":              "last date YYYY-MM-DD (default today)",
	"metric":          "repeat_rate | revenue | ltv",
	"months":          "months since the first order to show (default 12)",
	"f2-days":         "a second purchase within this many days counts for F2 (default 90)",
	"min-orders":      "pairs bought together in at least this many orders (default 2)",
	"limit":           "rows to list",
	"calibration-end": "last date of the history the models are fitted on (default today)",
	"unit":            "week | day (default week)",
	"horizon":         "months of expected purchases and CLV (default 12)",
	"discount":        "monthly discount rate for CLV, e.g. 0.01 (default 0)",
	"save":            "true: store the model and every customer's prediction (calibration must end today)",
	"min-intervals":   "repeat purchases needed before a learned cycle is used (default 5)",
	"lead":            "list customers due within this many days (default 7)",
	"overdue":         "… or overdue by at most this many days (default 30)",
	"by":              "cohort (start month) | product | plan | none (default cohort)",
	"sku":             "only this product",
	"plan":            "only this plan or offer",
	"deliveries":      "show retention up to this delivery (default 12)",
	"survey":          "the survey's id (enishi survey list)",
	"texts":           "free-text answers to list per question (default 20)",
}

// printReport prints the main figures of a report as a table; --json has everything.
func printReport(env *Env, out any) {
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	switch r := out.(type) {
	case *analytics.RFMReport:
		fmt.Fprintf(tw, "RFM as of %s, window %d days: %s customers (%s prospects)\n\n", r.AsOf, r.WindowDays, group(int(r.Customers)), group(int(r.Prospects)))
		for _, s := range r.SegmentOrder {
			fmt.Fprintf(tw, "%s\t%s\t%.1f%%\n", s, group(int(r.Segments[s])), pct(r.Segments[s], r.Customers))
		}
		fmt.Fprintln(tw, "\nR\\F\t1\t2\t3\t4\t5")
		for i := 4; i >= 0; i-- {
			fmt.Fprintf(tw, "%d", i+1)
			for j := 0; j < 5; j++ {
				fmt.Fprintf(tw, "\t%s", group(int(r.GridRF[i][j])))
			}
			fmt.Fprintln(tw)
		}
	case *analytics.CPMReport:
		fmt.Fprintf(tw, "CPM as of %s: %s customers\n\n", r.AsOf, group(int(r.Customers)))
		for _, g := range r.Groups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f%%\t¥%s\n", g.Group, g.Label, group(int(g.Customers)), g.Share*100, group(int(g.Revenue)))
		}
	case *analytics.DecileReport:
		fmt.Fprintf(tw, "deciles as of %s, window %d days: %s customers, ¥%s\n\n", r.AsOf, r.WindowDays, group(int(r.Customers)), group(int(r.Revenue)))
		for _, d := range r.Deciles {
			fmt.Fprintf(tw, "%d\t%s\t¥%s\t%.1f%%\t%.1f%%\n", d.Decile, group(int(d.Customers)), group(int(d.Revenue)), d.Share*100, d.CumulativeShare*100)
		}
	case *analytics.KPIReport:
		fmt.Fprintf(tw, "KPI %s … %s\n\nrevenue\t¥%s\norders\t%s\ncustomers\t%s\nAOV\t¥%.0f\nrepeat rate\t%.1f%%\nF2 (%d days)\t%.1f%% (%s)\nchurn rate\t%.1f%%\nhistorical LTV\t¥%.0f\n",
			r.From, r.To, group(int(r.Revenue)), group(int(r.Orders)), group(int(r.Customers)), r.AOV, r.RepeatRate*100,
			r.F2.Days, r.F2.Rate*100, r.F2.BandLabel, r.ChurnRate*100, r.HistoricalLTV)
		for _, ch := range analytics.SortedKeys(r.Channels) {
			k := r.Channels[ch]
			fmt.Fprintf(tw, "  %s\t¥%s\t%s orders\t%s customers\n", ch, group(int(k.Revenue)), group(int(k.Orders)), group(int(k.Customers)))
		}
	case *analytics.PredictReport:
		fmt.Fprintf(tw, "BG/NBD (%s, calibration to %s): r=%.4f α=%.4f a=%.4f b=%.4f LL=%.1f\nGamma-Gamma: p=%.4f q=%.4f v=%.4f LL=%.1f\ncustomers\t%s\nexpected purchases (%d months)\t%.1f\nCLV\t¥%.0f\nmean P(alive)\t%.3f\n",
			r.Unit, r.CalibrationEnd, r.BGNBD.R, r.BGNBD.Alpha, r.BGNBD.A, r.BGNBD.B, r.BGNBDLogLik, r.GammaGamma.P, r.GammaGamma.Q, r.GammaGamma.V,
			r.GammaGammaLogLik, group(int(r.Customers)), r.HorizonMonths, r.ExpectedPurchases, r.CLV, r.MeanPAlive)
	default:
		if printVoiceReport(env, tw, out) {
			return
		}
		tw.Flush()
		_ = printJSON(env.Stdout, out)
	}
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) * 100 / float64(b)
}

func cmdScores(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "scores", "scores refresh [--refit] [--unit week|day] | scores show ID | scores recommend ID")
	db := addDBFlags(fs, env)
	refit := fs.Bool("refit", false, "also refit the BG/NBD and Gamma-Gamma models and the product statistics")
	unit := fs.String("unit", "week", "model time unit for --refit: week | day")
	limit := fs.Int("limit", 10, "recommendations to list")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("usage: enishi scores refresh [--refit] | scores show ID | scores recommend ID")
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch {
	case pos[0] == "refresh" && len(pos) == 1:
		res, err := st.RefreshScores(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "scores as of %s: %s (%s customers recomputed, %s rescored)\n", res.AsOf, res.Mode, group(res.Recomputed), group(int(res.Rescored)))
		if *refit {
			u, err := analytics.ParseUnit(*unit)
			if err != nil {
				return err
			}
			if err := st.RefreshProductStats(ctx); err != nil {
				return err
			}
			var c clock.Clock = clock.Real{}
			if env.Clock != nil {
				c = env.Clock
			}
			rep, err := st.Predict(ctx, analytics.PredictOptions{CalibrationEnd: analytics.DayOf(c.Now()), Unit: u, Save: true}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "models refitted on %s customers: r=%.4f α=%.4f a=%.4f b=%.4f (LL %.1f); p=%.4f q=%.4f v=%.4f\n",
				group(int(rep.Customers)), rep.BGNBD.R, rep.BGNBD.Alpha, rep.BGNBD.A, rep.BGNBD.B, rep.BGNBDLogLik, rep.GammaGamma.P, rep.GammaGamma.Q, rep.GammaGamma.V)
		}
	case (pos[0] == "show" || pos[0] == "recommend") && len(pos) == 2:
		var id int64
		if _, err := fmt.Sscan(pos[1], &id); err != nil {
			return usagef("%q is not a customer id", pos[1])
		}
		if pos[0] == "show" {
			sc, err := st.CustomerScores(ctx, id)
			if err != nil {
				return err
			}
			return printJSON(env.Stdout, sc)
		}
		recs, err := st.Recommendations(ctx, id, *limit)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, map[string]any{"customer_id": id, "recommendations": recs})
	default:
		return usagef("usage: enishi scores refresh [--refit] | scores show ID | scores recommend ID")
	}
	return nil
}

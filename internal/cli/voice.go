package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/reports"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
	"github.com/enishi-crm/enishi/internal/survey"
	"github.com/enishi-crm/enishi/internal/voiceingest"
)

// ids reads positional ids.
func ids(pos []string) ([]int64, error) {
	out := make([]int64, len(pos))
	for i, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return nil, usagef("%q is not an id", p)
		}
		out[i] = id
	}
	return out, nil
}

func dateStr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.In(clock.Tokyo).Format("2006-01-02")
}

const subscriptionsSynopsis = `subscriptions list [--status S] [--customer ID] [--sku SKU] [--risk high|medium|low] [--json]
       enishi subscriptions show ID [--json]
       enishi subscriptions due --days N | cancelled --days N | at-delivery N   (journey trigger queries)
       enishi subscriptions risk [--refresh]
       enishi subscriptions event FILE.json   (a subscription.* or review.* event, as the generic webhook's body plus "source")`

func cmdSubscriptions(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", subscriptionsSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "subscriptions", subscriptionsSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	status := fs.String("status", "", "active, paused, skipped, cancelled or live")
	cust := fs.Int64("customer", 0, "a customer's contracts")
	sku := fs.String("sku", "", "one product's contracts")
	risk := fs.String("risk", "", "live contracts of a risk tier, riskiest first")
	limit := fs.Int("limit", 50, "rows to list")
	days := fs.Int("days", -1, "days before the next delivery (due) or since the cancellation (cancelled)")
	refresh := fs.Bool("refresh", false, "refit the model and rescore every live contract")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		list, total, err := st.ListSubscriptions(ctx, store.SubscriptionQuery{Status: *status, CustomerID: *cust, SKU: *sku, RiskTier: *risk, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"subscriptions": list, "total": total})
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNUMBER\tCUSTOMER\tPRODUCT\tPLAN\tCYCLE\tSTATUS\tDELIVERIES\tNEXT\tRISK")
		for _, c := range list {
			r := "-"
			if c.Risk != nil {
				r = fmt.Sprintf("%.0f%% %s", c.Risk.Probability*100, c.Risk.Tier)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.ID, c.ExternalID, c.CustomerID, firstOf(c.ProductName, c.SKU), c.Plan, c.Cycle,
				c.Status, c.Deliveries, dateStr(c.NextDeliveryAt), r)
		}
		tw.Flush()
		fmt.Fprintf(env.Stdout, "%s of %s contracts\n", group(len(list)), group(total))
	case "show":
		n, err := ids(pos)
		if err != nil || len(n) != 1 {
			return usagef("usage: enishi subscriptions show ID")
		}
		d, err := st.Subscription(ctx, n[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, d)
		}
		fmt.Fprintf(env.Stdout, "%s (%s) customer %d: %s %s, every %s, ¥%s, %s\nstarted %s, %d deliveries, %d skips, next %s\n",
			d.ExternalID, d.Source, d.CustomerID, firstOf(d.ProductName, d.SKU), d.Plan, d.Cycle, group(int(d.Price)), d.Status,
			dateStr(&d.StartedAt), d.Deliveries, d.Skips, dateStr(d.NextDeliveryAt))
		if d.CancelledAt != nil {
			fmt.Fprintf(env.Stdout, "cancelled %s: %s\n", dateStr(d.CancelledAt), firstOf(d.CancelReason, subscription.NoReason))
		}
		if d.Risk != nil {
			fmt.Fprintf(env.Stdout, "risk of cancelling before the next delivery: %.0f%% (%s)\n", d.Risk.Probability*100, d.Risk.Tier)
			for _, r := range d.Risk.Reasons {
				fmt.Fprintf(env.Stdout, "  %s\n", r.Label)
			}
		}
		for _, h := range d.History {
			fmt.Fprintf(env.Stdout, "  %s  %-11s %d  %s\n", h.At.In(clock.Tokyo).Format("2006-01-02 15:04"), h.Kind, h.DeliveryNumber, h.Reason)
		}
	case "due", "cancelled", "at-delivery":
		var hits []store.SubscriptionHit
		switch sub {
		case "due", "cancelled":
			if *days < 0 {
				return usagef("usage: enishi subscriptions %s --days N", sub)
			}
			if sub == "due" {
				hits, err = st.SubscriptionsDue(ctx, *days)
			} else {
				hits, err = st.SubscriptionsCancelledDaysAgo(ctx, *days)
			}
		default:
			if len(pos) != 1 {
				return usagef("usage: enishi subscriptions at-delivery N")
			}
			n, perr := strconv.Atoi(pos[0])
			if perr != nil {
				return usagef("%q is not a number of deliveries", pos[0])
			}
			hits, err = st.SubscriptionsAtDelivery(ctx, n)
		}
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, map[string]any{"subscriptions": hits, "count": len(hits)})
	case "risk":
		if *refresh {
			res, err := st.RefreshSubscriptionRisk(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(env.Stdout, res)
			}
			fmt.Fprintf(env.Stdout, "fitted on %s deliveries (%s followed by a cancellation, base rate %.1f%%), AUC %.3f\nscored %s live contracts: %s high, %s medium, %s low\n",
				group(res.Model.Samples), group(res.Model.Cancellations), res.Model.BaseRate*100, res.Model.AUC, group(res.Scored), group(res.High), group(res.Medium), group(res.Low))
			printModel(env, res.Model)
			return nil
		}
		m, err := st.SubscriptionRiskModel(ctx)
		if err != nil {
			return err
		}
		if m == nil {
			return usagef("no model yet: run enishi subscriptions risk --refresh")
		}
		if *asJSON {
			return printJSON(env.Stdout, m)
		}
		printModel(env, m)
	case "event":
		if len(pos) != 1 {
			return usagef("usage: enishi subscriptions event FILE.json")
		}
		raw, err := readInput(env, pos[0])
		if err != nil {
			return err
		}
		var in struct {
			Source    string          `json:"source"`
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			CreatedAt time.Time       `json:"created_at"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		if in.Source == "" {
			return usagef("the event needs a \"source\" (the system it comes from)")
		}
		res, err := voiceingest.Process(ctx, st, in.Source, in.ID, in.Type, in.CreatedAt, in.Data)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: %d new, %d updated, %d unchanged\n", in.Type, res.Inserted, res.Updated, res.Unchanged)
	default:
		return usagef("unknown subscriptions subcommand %q\nusage: enishi %s", sub, subscriptionsSynopsis)
	}
	return nil
}

func printModel(env *Env, m *subscription.Model) {
	fmt.Fprintf(env.Stdout, "model fitted %s: intercept %.3f\n", m.FittedAt.In(clock.Tokyo).Format("2006-01-02 15:04"), m.Intercept)
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tMEAN\tCOEF (per SD)")
	for i, f := range m.Features {
		fmt.Fprintf(tw, "%s\t%.3f\t%+.3f\n", f, m.Mean[i], m.Coef[i])
	}
	tw.Flush()
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readInput reads a file, or stdin for "-".
func readInput(env *Env, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(env.Stdin)
	}
	return os.ReadFile(path)
}

const surveySynopsis = `survey create FILE.json | update ID FILE.json | list | show ID
       enishi survey open ID | close ID
       enishi survey results ID [--json]
       enishi survey export ID [-o FILE.csv]
       enishi survey link ID CUSTOMER_ID… [--base-url URL] [--channel email]`

func cmdSurvey(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", surveySynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "survey", surveySynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	out := fs.String("o", "", "write the CSV here (default stdout)")
	base := fs.String("base-url", envOr(env, "ENISHI_PUBLIC_URL", "http://localhost:8080"), "enishi's public address for links (env ENISHI_PUBLIC_URL)")
	channel := fs.String("channel", "", "how the link is sent (email, line …), for the response rate")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	one := func() (int64, error) {
		n, err := ids(pos[:min(len(pos), 1)])
		if err != nil || len(n) != 1 {
			return 0, usagef("usage: enishi %s", surveySynopsis)
		}
		return n[0], nil
	}
	switch sub {
	case "create", "update":
		file := ""
		var id int64
		switch {
		case sub == "create" && len(pos) == 1:
			file = pos[0]
		case sub == "update" && len(pos) == 2:
			if id, err = one(); err != nil {
				return err
			}
			file = pos[1]
		default:
			return usagef("usage: enishi %s", surveySynopsis)
		}
		raw, err := readInput(env, file)
		if err != nil {
			return err
		}
		var sv survey.Survey
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sv); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		var got *survey.Survey
		if sub == "create" {
			sv.CreatedBy = "cli"
			got, err = st.CreateSurvey(ctx, sv)
		} else {
			sv.ID = id
			got, err = st.UpdateSurvey(ctx, sv)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, got)
		}
		fmt.Fprintf(env.Stdout, "survey %d %q (%s), %d questions, public key %s\n", got.ID, got.Title, got.Status, len(got.Questions), got.PublicKey)
	case "list":
		list, err := st.ListSurveys(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"surveys": list})
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTITLE\tSTATUS\tINVITED\tRESPONSES")
		for _, s := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\n", s.ID, s.Title, s.Status, s.Invited, s.Responses)
		}
		tw.Flush()
	case "show":
		id, err := one()
		if err != nil {
			return err
		}
		sv, err := st.Survey(ctx, id)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, sv)
	case "open", "close":
		id, err := one()
		if err != nil {
			return err
		}
		sv, err := st.Survey(ctx, id)
		if err != nil {
			return err
		}
		sv.Status = survey.Open
		if sub == "close" {
			sv.Status = survey.Closed
		}
		if _, err := st.UpdateSurvey(ctx, *sv); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "survey %d is %s\n", id, sv.Status)
	case "results":
		id, err := one()
		if err != nil {
			return err
		}
		r, err := st.SurveyResults(ctx, id, 20)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, r)
		}
		printSurveyResults(env, r)
	case "export":
		id, err := one()
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
		return reports.WriteSurveyCSV(ctx, st, id, w)
	case "link":
		n, err := ids(pos)
		if err != nil || len(n) < 2 {
			return usagef("usage: enishi survey link ID CUSTOMER_ID…")
		}
		key, err := st.SurveyLinkKey(ctx)
		if err != nil {
			return err
		}
		sg, err := survey.NewSigner(key)
		if err != nil {
			return err
		}
		if _, err := st.Survey(ctx, n[0]); err != nil {
			return err
		}
		for _, cid := range n[1:] {
			u, err := survey.Link(ctx, st, sg, *base, n[0], cid, *channel)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%d\t%s\n", cid, u)
		}
	default:
		return usagef("unknown survey subcommand %q\nusage: enishi %s", sub, surveySynopsis)
	}
	return nil
}

func printSurveyResults(env *Env, r *survey.Results) {
	fmt.Fprintf(env.Stdout, "%s: %s responses (%s through customers' links, %s anonymous); %s reached, response rate %.1f%%\n",
		r.Title, group(int(r.Responses)), group(int(r.Identified)), group(int(r.Anonymous)), group(int(r.Reached)), r.ResponseRate*100)
	for _, q := range r.Questions {
		fmt.Fprintf(env.Stdout, "\n%s [%s] — %s answered\n", q.Title, q.Type, group(int(q.Answered)))
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		for _, o := range q.Options {
			fmt.Fprintf(tw, "  %s\t%s\t%.1f%%\n", o.Label, group(int(o.Count)), o.Share*100)
		}
		tw.Flush()
		if q.Mean != nil {
			fmt.Fprintf(env.Stdout, "  mean %.2f", *q.Mean)
			if q.NPS != nil {
				fmt.Fprintf(env.Stdout, ", NPS %+.1f (%d promoters, %d passives, %d detractors)", *q.NPS, q.Promoters, q.Passives, q.Detractors)
			}
			fmt.Fprintln(env.Stdout)
		}
		for _, t := range q.Texts {
			fmt.Fprintf(env.Stdout, "  「%s」\n", t.Text)
		}
	}
}

const inquirySynopsis = `inquiry list [--status open|pending|closed|unresolved] [--assignee EMAIL|-] [--tag TAG] [--json]
       enishi inquiry show ID
       enishi inquiry set ID [--status S] [--assignee EMAIL]
       enishi inquiry reply ID --body TEXT [--channel email] [--keep-status]
       enishi inquiry tag ID TAG…
       enishi inquiry settings [--exclude-from-campaigns true|false]`

func cmdInquiry(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", inquirySynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "inquiry", inquirySynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	status := fs.String("status", "", "status")
	assignee := fs.String("assignee", "", "assignee (- for unassigned when listing)")
	tag := fs.String("tag", "", "only inquiries with this tag")
	body := fs.String("body", "", "the reply")
	channel := fs.String("channel", "", "how the reply was sent")
	keep := fs.Bool("keep-status", false, "leave the status as it is (a reply otherwise makes an open inquiry pending)")
	exclude := fs.String("exclude-from-campaigns", "", "true: keep customers with an unresolved inquiry out of campaigns")
	actor := fs.String("actor", "cli", "who replies")
	limit := fs.Int("limit", 50, "rows to list")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	var id int64
	if sub != "list" && sub != "settings" {
		n, err := ids(pos[:min(len(pos), 1)])
		if err != nil || len(n) != 1 {
			return usagef("usage: enishi %s", inquirySynopsis)
		}
		id = n[0]
	}
	set := func(name string) bool { return flagSet(fs, name) }
	switch sub {
	case "list":
		list, total, err := st.ListInquiries(ctx, store.InquiryQuery{Status: *status, Assignee: *assignee, Tag: *tag, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"inquiries": list, "total": total})
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDATE\tCUSTOMER\tCHANNEL\tSTATUS\tASSIGNEE\tTAGS\tSUBJECT")
		for _, q := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.CreatedAt.In(clock.Tokyo).Format("2006-01-02"), q.CustomerName, q.Channel,
				q.Status, firstOf(q.Assignee, "-"), strings.Join(q.Tags, ","), q.Subject)
		}
		tw.Flush()
		fmt.Fprintf(env.Stdout, "%s of %s inquiries\n", group(len(list)), group(total))
		return nil
	case "show":
		d, err := st.Inquiry(ctx, id)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, d)
	case "set":
		var sp, ap *string
		if set("status") {
			sp = status
		}
		if set("assignee") {
			ap = assignee
		}
		d, err := st.UpdateInquiry(ctx, id, sp, ap)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "inquiry %d: %s, assignee %s\n", d.ID, d.Status, firstOf(d.Assignee, "-"))
		return nil
	case "reply":
		if _, err := st.AddInquiryReply(ctx, customer.InquiryReply{InquiryID: id, Author: *actor, Body: *body, Channel: *channel}, *keep); err != nil {
			return err
		}
		d, err := st.Inquiry(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "replied to inquiry %d (now %s)\n", id, d.Status)
		return nil
	case "tag":
		if err := st.SetInquiryTags(ctx, id, pos[1:]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "inquiry %d tagged %s\n", id, strings.Join(pos[1:], ", "))
		return nil
	case "settings":
		s, err := st.InquirySettings(ctx)
		if err != nil {
			return err
		}
		if *exclude != "" {
			b, err := strconv.ParseBool(*exclude)
			if err != nil {
				return usagef("--exclude-from-campaigns is true or false")
			}
			s.ExcludeFromCampaigns = b
			if err := st.SetInquirySettings(ctx, s); err != nil {
				return err
			}
		}
		return printJSON(env.Stdout, s)
	}
	return usagef("unknown inquiry subcommand %q\nusage: enishi %s", sub, inquirySynopsis)
}

const reviewsSynopsis = `reviews list [--sku SKU] [--customer ID] [--max-rating N] [--json]`

func cmdReviews(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return usagef("usage: enishi %s\n(import them with enishi import reviews FILE; reports: enishi report review-ratings, review-repeat)", reviewsSynopsis)
	}
	fs := newFlags(env, "reviews", reviewsSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	sku := fs.String("sku", "", "one product's reviews")
	cust := fs.Int64("customer", 0, "one customer's reviews")
	maxRating := fs.Int("max-rating", 0, "only ratings up to this (finding unhappy customers)")
	limit := fs.Int("limit", 50, "rows to list")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	list, total, err := st.ListReviews(ctx, store.ReviewQuery{SKU: *sku, CustomerID: *cust, MaxRating: *maxRating, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, map[string]any{"reviews": list, "total": total})
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tSKU\tRATING\tCUSTOMER\tTITLE")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.ReviewedAt.In(clock.Tokyo).Format("2006-01-02"), r.SKU, strings.Repeat("★", r.Rating), r.CustomerID, r.Title)
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%s of %s reviews\n", group(len(list)), group(total))
	return nil
}

// printVoiceReport prints the subscription and review reports as tables;
// it reports whether it knew the report.
func printVoiceReport(env *Env, tw *tabwriter.Writer, out any) bool {
	pct := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", *p*100)
	}
	switch r := out.(type) {
	case *subscription.RetentionReport:
		fmt.Fprintf(tw, "継続率 (retention by delivery), by %s: %s subscriptions, %.2f deliveries on average, LTV ¥%.0f (expected ¥%.0f)\n\n",
			r.By, group(int(r.Total.Subscriptions)), r.Total.AvgDeliveries, r.Total.LTV, r.Total.ExpectedLTV)
		fmt.Fprint(tw, "GROUP\tSUBS")
		for k := 2; k <= r.MaxDelivery; k++ {
			fmt.Fprintf(tw, "\t%d回", k)
		}
		fmt.Fprintln(tw)
		for _, row := range append([]subscription.RetentionRow{r.Total}, r.Groups...) {
			fmt.Fprintf(tw, "%s\t%s", firstOf(firstOf(row.Label, row.Key), "(all)"), group(int(row.Subscriptions)))
			for k := 2; k <= r.MaxDelivery; k++ {
				fmt.Fprintf(tw, "\t%s", pct(row.Retention[k-1]))
			}
			fmt.Fprintln(tw)
		}
	case *subscription.CancellationReport:
		fmt.Fprintf(tw, "cancellations %s … %s: %s (after %.2f deliveries on average)\n\n", r.From, r.To, group(int(r.Cancellations)), r.AvgDeliveries)
		for _, x := range r.Reasons {
			fmt.Fprintf(tw, "%s\t%s\t%.1f%%\n", x.Reason, group(int(x.Count)), x.Share*100)
		}
		fmt.Fprintln(tw, "\nDELIVERIES\tCANCELLED\tSHARE")
		for _, x := range r.ByDelivery {
			fmt.Fprintf(tw, "%d\t%s\t%.1f%%\n", x.Deliveries, group(int(x.Count)), x.Share*100)
		}
		fmt.Fprintf(tw, "\nskip rate %.1f%% (%s skips, %s deliveries); %.1f%% of %s subscribers skipped, %.1f%% paused; %s paused now\n",
			r.SkipRate*100, group(int(r.Skips)), group(int(r.Deliveries)), r.SkipperRate*100, group(int(r.Subscribers)), r.PauseRate*100, group(int(r.PausedNow)))
	case *subscription.MRRReport:
		fmt.Fprintf(tw, "MRR ¥%s, %s subscribers (%s paused), ARPU ¥%.0f\n\n", group(int(r.MRR)), group(int(r.Subscribers)), group(int(r.Paused)), r.ARPU)
		fmt.Fprintln(tw, "MONTH\tSTART\tNEW\tCANCELLED\tEND\tPAUSED\tMRR\tCHURN\tREVENUE")
		for _, m := range r.Months {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t¥%s\t%.1f%%\t¥%s\n", m.Month, group(int(m.SubscribersStart)), group(int(m.New)), group(int(m.Cancelled)),
				group(int(m.SubscribersEnd)), group(int(m.PausedEnd)), group(int(m.MRR)), m.ChurnRate*100, group(int(m.Revenue)))
		}
	case *review.RatingsReport:
		fmt.Fprintf(tw, "%s reviews, average %.2f\n\nSKU\tPRODUCT\tREVIEWS\tAVERAGE\n", group(int(r.Reviews)), r.Average)
		for _, p := range r.Products {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\n", p.SKU, p.ProductName, group(int(p.Reviews)), p.Average)
		}
	case *review.RepeatReport:
		fmt.Fprintf(tw, "first orders %s … %s\n\n\tCUSTOMERS\tREPEAT RATE\tORDERS\n", r.From, r.To)
		fmt.Fprintf(tw, "reviewers\t%s\t%.1f%%\t%.2f\n", group(int(r.Reviewers.Customers)), r.Reviewers.RepeatRate*100, r.Reviewers.AvgOrders)
		fmt.Fprintf(tw, "non-reviewers\t%s\t%.1f%%\t%.2f\n", group(int(r.NonReviewers.Customers)), r.NonReviewers.RepeatRate*100, r.NonReviewers.AvgOrders)
		fmt.Fprintf(tw, "\nlift %.2f×; %.1f%% of reviewers ordered again after reviewing\n", r.Lift, r.ReorderedAfterReview*100)
	case *survey.Results:
		tw.Flush()
		printSurveyResults(env, r)
	default:
		return false
	}
	return true
}

// riskInterval is how often a running server checks whether the
// cancellation-risk scores are a day old.
const riskInterval = time.Hour

// maintainSubscriptionRisk refits the cancellation-risk model and rescores
// live contracts once a day while serving (a shop without enough history
// yet is skipped quietly).
func maintainSubscriptionRisk(ctx context.Context, env *Env, st *store.DB, c clock.Clock) {
	t := time.NewTicker(riskInterval)
	defer t.Stop()
	for {
		m, err := st.SubscriptionRiskModel(ctx)
		if err == nil && (m == nil || c.Now().Sub(m.FittedAt) >= 24*time.Hour) {
			_, err = st.RefreshSubscriptionRisk(ctx)
		}
		if err != nil && ctx.Err() == nil && errs.Code(err) != errs.Invalid {
			env.Log.Error("subscription risk", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/privacy"
	"github.com/enishi-crm/enishi/internal/retention"
	"github.com/enishi-crm/enishi/internal/store"
)

const customerSynopsis = `customer show ID [--json] [--timeline N]
       enishi customer search QUERY [--limit N] [--json]
       enishi customer merge WINNER_ID LOSER_ID
       enishi customer unmerge MERGE_ID
       enishi customer merges ID
       enishi customer candidates [--status pending|approved|rejected]
       enishi customer approve CANDIDATE_ID | reject CANDIDATE_ID
       enishi customer export ID [--output FILE]           (all data held on the person, JSON)
       enishi customer erase ID --reason TEXT              (erase personal data; irreversible)`

func cmdCustomer(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", customerSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "customer", customerSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 20, "rows to list")
	timeline := fs.Int("timeline", 20, "timeline entries to show")
	status := fs.String("status", "pending", "merge candidates to list")
	actor := fs.String("actor", "", "who is acting, for the merge history and audit log (default cli:$USER)")
	output := fs.String("output", "", "export: write the JSON to this file (created with mode 0600)")
	reason := fs.String("reason", "", "erase: why (the request received, e.g. 本人からの削除依頼 2026-04-01)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(pos))
	if sub != "search" {
		for _, p := range pos {
			id, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				return usagef("%q is not an id", p)
			}
			ids = append(ids, id)
		}
	}
	need := map[string]int{"show": 1, "merge": 2, "unmerge": 1, "merges": 1, "candidates": 0, "approve": 1, "reject": 1, "export": 1, "erase": 1}
	if n, ok := need[sub]; ok && len(ids) != n {
		return usagef("usage: enishi %s", customerSynopsis)
	} else if !ok && sub != "search" {
		return usagef("unknown customer subcommand %q", sub)
	}
	if *actor == "" {
		*actor = store.OriginFrom(ctx).Actor
	} else {
		o := store.OriginFrom(ctx)
		o.Actor = *actor
		ctx = store.WithOrigin(ctx, o)
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "export":
		pd, err := privacy.New(st).Export(ctx, ids[0])
		if err != nil {
			return err
		}
		if *output == "" {
			return printJSON(env.Stdout, pd)
		}
		f, err := os.OpenFile(*output, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if err := printJSON(f, pd); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "wrote everything held on customer %d to %s (request recorded)\n", pd.CustomerID, *output)
	case "erase":
		e, err := privacy.New(st).Erase(ctx, ids[0], *reason)
		if err != nil {
			return err
		}
		var deleted int64
		for _, n := range e.Deleted {
			deleted += n
		}
		fmt.Fprintf(env.Stdout, "erased customer %d (%d profile(s)): %d rows deleted, order facts kept anonymised, %d identifier(s) suppressed (request %d)\n",
			e.CustomerID, len(e.Profiles), deleted, e.Suppressed, e.RequestID)
	case "show":
		v, err := st.CustomerView(ctx, ids[0], store.ViewOptions{TimelineLimit: *timeline})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, v)
		}
		printView(env, v)
		sum, err := st.CustomerLoyalty(ctx, v.ID)
		if err != nil {
			return err
		}
		printLoyalty(env, sum)
	case "search":
		list, total, err := st.SearchCustomers(ctx, customer.Query{Q: strings.Join(pos, " "), Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"customers": list, "total": total})
		}
		for _, c := range list {
			fmt.Fprintf(env.Stdout, "%d\t%s\t%s\t%s\t%d orders\t¥%s\n", c.ID, c.DisplayName, c.Email, c.Phone, c.OrderCount, group(int(c.TotalSpent)))
		}
		fmt.Fprintf(env.Stdout, "%d of %d\n", len(list), total)
	case "merge":
		id, err := st.MergeCustomers(ctx, ids[0], ids[1], *actor)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "merged customer %d into %d (merge %d; undo with `enishi customer unmerge %d`)\n", ids[1], ids[0], id, id)
	case "unmerge":
		if err := st.Unmerge(ctx, ids[0], *actor); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "merge %d undone\n", ids[0])
	case "merges":
		ms, err := st.Merges(ctx, ids[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, ms)
		}
		for _, m := range ms {
			undone := ""
			if m.UndoneAt != nil {
				undone = " (undone " + m.UndoneAt.In(clock.Tokyo).Format("2006-01-02 15:04") + " by " + m.UndoneBy + ")"
			}
			fmt.Fprintf(env.Stdout, "merge %d: %d ← %d via %s %s (%s, by %s, %s)%s\n", m.ID, m.WinnerID, m.LoserID, m.Via.Kind, m.Via.Value,
				m.Reason, m.Actor, m.CreatedAt.In(clock.Tokyo).Format("2006-01-02 15:04"), undone)
		}
	case "candidates":
		cs, err := st.MergeCandidates(ctx, *status, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, cs)
		}
		for _, c := range cs {
			fmt.Fprintf(env.Stdout, "%d\t%d ↔ %d\tvia %s %s\t%s\n", c.ID, c.A, c.B, c.Via.Kind, c.Via.Value, c.Status)
		}
	case "approve", "reject":
		if err := st.DecideMergeCandidate(ctx, ids[0], sub == "approve", *actor); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "candidate %d %sd\n", ids[0], strings.TrimSuffix(sub, "e"))
	}
	return nil
}

func printView(env *Env, v *customer.View) {
	w := env.Stdout
	fmt.Fprintf(w, "#%d %s", v.ID, v.DisplayName)
	if k := strings.TrimSpace(v.LastNameKana + " " + v.FirstNameKana); k != "" {
		fmt.Fprintf(w, " (%s)", k)
	}
	fmt.Fprintln(w)
	for _, f := range [][2]string{{"email", v.Email}, {"phone", v.Phone}, {"birthday", v.Birthday}, {"gender", v.Gender},
		{"address", strings.TrimSpace(v.PostalCode + " " + v.Prefecture + v.City + v.Address1 + " " + v.Address2)}, {"first touch", strings.Trim(v.AcqChannel+"/"+v.AcqSource+"/"+v.AcqCampaign, "/")}} {
		if strings.TrimSpace(f[1]) != "" {
			fmt.Fprintf(w, "  %-12s %s\n", f[0], f[1])
		}
	}
	fmt.Fprintf(w, "  %-12s %d orders, ¥%s spent, AOV ¥%s", "orders", v.OrderCount, group(int(v.TotalSpent)), group(int(v.AOV)))
	if v.DaysSinceLastOrder != nil {
		fmt.Fprintf(w, ", last order %d days ago", *v.DaysSinceLastOrder)
	}
	fmt.Fprintln(w)
	for _, id := range v.Identities {
		src := ""
		if id.Source != "" {
			src = "[" + id.Source + "] "
		}
		fmt.Fprintf(w, "  %-12s %s%s\n", string(id.Kind), src, id.Value)
	}
	for _, c := range v.Consents {
		state := "opted out"
		if c.Granted {
			state = "opted in"
		}
		fmt.Fprintf(w, "  consent      %s: %s (%s, %s)\n", c.Channel, state, c.Method, c.RecordedAt.In(clock.Tokyo).Format("2006-01-02"))
	}
	if len(v.Tags) > 0 {
		fmt.Fprintf(w, "  tags         %s\n", strings.Join(v.Tags, ", "))
	}
	if len(v.Timeline) > 0 {
		fmt.Fprintln(w, "timeline:")
	}
	for _, it := range v.Timeline {
		amount := ""
		if it.Amount != nil {
			amount = " ¥" + group(int(*it.Amount))
		}
		fmt.Fprintf(w, "  %s  %-8s %s%s\n", it.At.In(clock.Tokyo).Format("2006-01-02 15:04"), it.Kind, it.Title, amount)
	}
}

// validateSetting checks values of settings the code reads.
func validateSetting(key, value string) error {
	for _, t := range store.RetentionTasks() {
		if key == t.Setting {
			return retention.ValidateDays(value)
		}
	}
	switch key {
	case loyalty.ProgramSetting:
		_, err := loyalty.ParseProgram([]byte(value))
		return err
	case outbox.RulesSetting:
		_, err := outbox.ParseRules([]byte(value))
		return err
	case channel.SettingsKey:
		var set channel.Settings
		dec := json.NewDecoder(strings.NewReader(value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&set); err != nil {
			return errs.Errorf(errs.Invalid, "%s must be the channel settings as JSON: %v", key, err)
		}
		return set.Check()
	case "identity.manual_merge_kinds":
		var kinds []string
		if err := json.Unmarshal([]byte(value), &kinds); err != nil {
			return errs.Errorf(errs.Invalid, `%s must be a JSON array such as ["phone"]`, key)
		}
		for _, k := range kinds {
			if _, err := identity.ParseKind(k); err != nil {
				return err
			}
		}
	case store.SettingRFM:
		_, err := analytics.ParseRFMConfig(value)
		return err
	case store.SettingCPM:
		_, err := analytics.ParseCPMConfig(value)
		return err
	}
	return nil
}

// printLoyalty prints the 360's loyalty lines: rank, points, coupons.
func printLoyalty(env *Env, s *loyalty.CustomerSummary) {
	w := env.Stdout
	fmt.Fprintf(w, "loyalty:\n  rank         %s (%s), %s %s in the rank period", s.Rank.Name, s.Rank.Code, group(int(s.Value)), s.Metric)
	if s.NextRank != nil {
		fmt.Fprintf(w, "; %s more for %s", group(int(s.ToNext)), s.NextRank.Name)
	}
	fmt.Fprintf(w, "\n  points       %s", group(int(s.Points)))
	if len(s.Expiring) > 0 {
		fmt.Fprintf(w, " (%s valid through %s)", group(int(s.Expiring[0].Points)), s.Expiring[0].ValidThrough)
	}
	fmt.Fprintln(w)
	for _, c := range s.Coupons {
		fmt.Fprintf(w, "  coupon       %s %s (%s)\n", c.Code, c.CampaignName, c.Status)
	}
}

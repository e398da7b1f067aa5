package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/store"
)

const journeySynopsis = `journey list [--json]
       enishi journey show ID [--json]
       enishi journey templates
       enishi journey create --template KEY [--coupon-code CODE | --coupon-campaign ID] [--segment ID] [--channel email|line|sms] [--name NAME]
       enishi journey create --file JOURNEY.json
       enishi journey update ID --file JOURNEY.json
       enishi journey enable ID | disable ID | archive ID
       enishi journey stats ID [--json]
       enishi journey enrollments ID [--step STEP] [--state STATE] [--limit N]
       enishi journey signal SKU --kind back_in_stock|price_drop [--old-price N --new-price N]`

func cmdJourney(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", journeySynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "journey", journeySynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	tmpl := fs.String("template", "", "start from a template of the library (journey templates lists them)")
	file := fs.String("file", "", "journey definition as JSON (@FILE style paths accepted)")
	var p journey.TemplateParams
	fs.StringVar(&p.CouponCode, "coupon-code", "", "shared coupon code for templates that offer one")
	fs.Int64Var(&p.CouponCampaignID, "coupon-campaign", 0, "loyalty coupon campaign issuing personal codes")
	fs.Int64Var(&p.SegmentID, "segment", 0, "segment for templates triggered by one")
	channel := fs.String("channel", "email", "channel of the template's messages")
	fs.StringVar(&p.Name, "name", "", "name of the new journey")
	step := fs.String("step", "", "enrollments at this step")
	state := fs.String("state", "", "enrollments in this state (ready, waiting, sending, ended)")
	limit := fs.Int("limit", 100, "rows to list")
	kind := fs.String("kind", "", "signal kind: back_in_stock or price_drop")
	oldPrice := fs.Int64("old-price", 0, "price before (price_drop)")
	newPrice := fs.Int64("new-price", 0, "price now (price_drop)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	p.Channel = message.Channel(*channel)
	need := map[string]int{"list": 0, "show": 1, "templates": 0, "create": 0, "update": 1, "enable": 1, "disable": 1, "archive": 1,
		"stats": 1, "enrollments": 1, "signal": 1}
	n, ok := need[sub]
	if !ok {
		return usagef("unknown journey subcommand %q", sub)
	}
	if len(pos) != n {
		return usagef("usage: enishi %s", journeySynopsis)
	}
	if sub == "templates" {
		for _, t := range journey.Templates() {
			needs := ""
			if len(t.Needs) > 0 {
				needs = "  [needs " + strings.Join(t.Needs, ", ") + "]"
			}
			fmt.Fprintf(env.Stdout, "%-20s %s%s\n    %s\n", t.Key, t.Name, needs, t.Description)
		}
		return nil
	}
	var id int64
	if n == 1 && sub != "signal" {
		if id, err = parseID(pos[0]); err != nil {
			return err
		}
	}
	readDef := func() (journey.Journey, error) {
		if *file == "" {
			return journey.Journey{}, usagef("give --file JOURNEY.json")
		}
		raw, err := readArg(env, "@"+strings.TrimPrefix(*file, "@"))
		if err != nil {
			return journey.Journey{}, err
		}
		var j journey.Journey
		if err := json.Unmarshal(raw, &j); err != nil {
			return journey.Journey{}, usagef("%s: %v", *file, err)
		}
		return j, nil
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		list, err := st.Journeys(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, j := range list {
			fmt.Fprintf(env.Stdout, "%d\t%-9s %s\t(%s)\n", j.ID, j.Status, j.Name, j.Trigger.Type)
		}
	case "show":
		j, err := st.Journey(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, j)
		}
		printJourney(env, j)
	case "create":
		var j journey.Journey
		switch {
		case *tmpl != "":
			if j, err = journey.FromTemplate(*tmpl, p); err != nil {
				return err
			}
		default:
			if j, err = readDef(); err != nil {
				return err
			}
		}
		j.CreatedBy = "cli"
		created, err := st.CreateJourney(ctx, j)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created journey %d (%s), %s; enable it with: enishi journey enable %d\n", created.ID, created.Name, created.Status, created.ID)
	case "update":
		j, err := readDef()
		if err != nil {
			return err
		}
		j.ID = id
		updated, err := st.UpdateJourney(ctx, j)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "updated journey %d (version %d)\n", updated.ID, updated.Version)
	case "enable", "disable", "archive":
		status := map[string]string{"enable": journey.Enabled, "disable": journey.Disabled, "archive": journey.Archived}[sub]
		j, err := st.SetJourneyStatus(ctx, id, status)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "journey %d (%s) is %s\n", j.ID, j.Name, j.Status)
	case "stats":
		s, err := st.JourneyStats(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, s)
		}
		fmt.Fprintf(env.Stdout, "entered %d, active %d, converted %d (¥%s), exited %d\n", s.Entered, s.Active, s.Converted, group(int(s.Revenue)), s.Exited)
		reasons := make([]string, 0, len(s.Exits))
		for r, n := range s.Exits {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(reasons)
		if len(reasons) > 0 {
			fmt.Fprintf(env.Stdout, "exits: %s\n", strings.Join(reasons, ", "))
		}
		fmt.Fprintf(env.Stdout, "%-12s %-14s %7s %7s %7s %7s %7s %7s %9s\n", "step", "type", "now", "entered", "sent", "opened", "clicked", "conv", "revenue")
		for _, x := range s.Steps {
			fmt.Fprintf(env.Stdout, "%-12s %-14s %7d %7d %7d %7d %7d %7d %9d\n", x.Step, x.Type, x.Current, x.Entered, x.Sent, x.Opened, x.Clicked, x.Converted, x.Revenue)
		}
	case "enrollments":
		list, err := st.JourneyEnrollments(ctx, store.EnrollmentFilter{JourneyID: id, Step: *step, State: *state, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, e := range list {
			due := ""
			if !e.DueAt.IsZero() {
				due = " due " + e.DueAt.In(clock.Tokyo).Format("2006-01-02 15:04")
			}
			fmt.Fprintf(env.Stdout, "%d\t#%d\t%s\t%s%s %s\n", e.ID, e.CustomerID, e.Step, e.State, due, e.EndReason)
		}
	case "signal":
		sid, err := st.RecordProductSignal(ctx, pos[0], *kind, *oldPrice, *newPrice)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "recorded signal %d (%s %s)\n", sid, *kind, pos[0])
	}
	return nil
}

func printJourney(env *Env, j *journey.Journey) {
	fmt.Fprintf(env.Stdout, "journey %d: %s (%s, version %d)\n", j.ID, j.Name, j.Status, j.Version)
	if j.Description != "" {
		fmt.Fprintf(env.Stdout, "%s\n", j.Description)
	}
	t, _ := json.Marshal(j.Trigger)
	fmt.Fprintf(env.Stdout, "trigger: %s\nre-entry: %s\n", t, j.Reentry.Policy)
	if j.Goal != nil {
		fmt.Fprintf(env.Stdout, "goal: %s %s\n", j.Goal.Type, j.Goal.Event)
	}
	fmt.Fprintln(env.Stdout, "steps:")
	for _, s := range j.Steps {
		next := s.Next
		if next == "" {
			next = "(end)"
		}
		detail := ""
		switch s.Type {
		case journey.StepSend:
			if s.Content != nil {
				detail = string(s.Channel) + " 「" + s.Content.Subject + "」"
			} else {
				detail = fmt.Sprintf("%s template %d", s.Channel, s.TemplateID)
			}
		case journey.StepWait:
			w, _ := json.Marshal(map[string]any{"duration": s.Duration, "days": s.Days, "at": s.At, "until": s.Until, "from": s.From})
			detail = string(w)
		case journey.StepWaitEvent:
			detail = s.Event + " timeout " + s.Timeout.String() + " → " + s.TimeoutNext
		case journey.StepBranch:
			detail = "else → " + s.Else
		}
		fmt.Fprintf(env.Stdout, "  %-10s %-14s → %-10s %s\n", s.ID, s.Type, next, detail)
	}
}

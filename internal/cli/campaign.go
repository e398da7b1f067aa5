package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/clock"
)

const campaignSynopsis = `campaign list [--json]
       enishi campaign show ID [--json]
       enishi campaign create --file CAMPAIGN.json
       enishi campaign schedule ID [--at "2026-04-02 10:00"]   (Asia/Tokyo; default now)
       enishi campaign pause ID | resume ID | cancel ID
       enishi campaign stats ID [--json]
       enishi campaign preview ID --customer ID`

func cmdCampaign(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", campaignSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "campaign", campaignSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	file := fs.String("file", "", "campaign definition as JSON (docs/campaigns.md)")
	atFlag := fs.String("at", "", `send time, "YYYY-MM-DD HH:MM" in Asia/Tokyo or RFC 3339`)
	customerID := fs.Int64("customer", 0, "customer to preview for")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	need := map[string]int{"list": 0, "show": 1, "create": 0, "schedule": 1, "pause": 1, "resume": 1, "cancel": 1, "stats": 1, "preview": 1}
	n, ok := need[sub]
	if !ok {
		return usagef("unknown campaign subcommand %q", sub)
	}
	if len(pos) != n {
		return usagef("usage: enishi %s", campaignSynopsis)
	}
	var id int64
	if n == 1 {
		if id, err = parseID(pos[0]); err != nil {
			return err
		}
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	show := func(c *campaign.Campaign) error {
		if *asJSON {
			return printJSON(env.Stdout, c)
		}
		at := "now"
		if c.SendAt != nil {
			at = c.SendAt.In(clock.Tokyo).Format("2006-01-02 15:04")
		}
		fmt.Fprintf(env.Stdout, "campaign %d: %s (%s) → segment %d over %s at %s\n", c.ID, c.Name, c.Status, c.SegmentID, c.Channel, at)
		if c.Winner != "" {
			fmt.Fprintf(env.Stdout, "A/B winner: %s (%s)\n", c.Winner, c.WinnerWhy)
		}
		return nil
	}
	switch sub {
	case "list":
		list, err := st.Campaigns(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, c := range list {
			fmt.Fprintf(env.Stdout, "%d\t%-9s %s\n", c.ID, c.Status, c.Name)
		}
	case "show":
		c, err := st.Campaign(ctx, id)
		if err != nil {
			return err
		}
		return show(c)
	case "create":
		if *file == "" {
			return usagef("give --file CAMPAIGN.json")
		}
		raw, err := readArg(env, "@"+strings.TrimPrefix(*file, "@"))
		if err != nil {
			return err
		}
		var c campaign.Campaign
		if err := json.Unmarshal(raw, &c); err != nil {
			return usagef("%s: %v", *file, err)
		}
		c.CreatedBy = "cli"
		created, err := st.CreateCampaign(ctx, c)
		if err != nil {
			return err
		}
		return show(created)
	case "schedule":
		var at time.Time
		if *atFlag != "" {
			if at, err = time.ParseInLocation("2006-01-02 15:04", *atFlag, clock.Tokyo); err != nil {
				if at, err = time.Parse(time.RFC3339, *atFlag); err != nil {
					return usagef(`--at %q: use "YYYY-MM-DD HH:MM" (Asia/Tokyo) or RFC 3339`, *atFlag)
				}
			}
		}
		c, err := st.ScheduleCampaign(ctx, id, at)
		if err != nil {
			return err
		}
		return show(c)
	case "pause", "resume", "cancel":
		var c *campaign.Campaign
		switch sub {
		case "pause":
			c, err = st.PauseCampaign(ctx, id)
		case "resume":
			c, err = st.ResumeCampaign(ctx, id)
		default:
			c, err = st.CancelCampaign(ctx, id)
		}
		if err != nil {
			return err
		}
		return show(c)
	case "stats":
		c, err := st.Campaign(ctx, id)
		if err != nil {
			return err
		}
		vs, err := st.CampaignStats(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"campaign": c, "variants": vs})
		}
		if err := show(c); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%-8s %9s %9s %9s %9s %9s %9s %11s\n", "variant", "recipients", "sent", "pending", "opened", "clicked", "conv", "revenue")
		for _, v := range vs {
			fmt.Fprintf(env.Stdout, "%-8s %9d %9d %9d %9d %9d %9d %11d\n", v.Variant, v.Recipients, v.Sent, v.Pending, v.Opened, v.Clicked, v.Converted, v.Revenue)
		}
	case "preview":
		if *customerID <= 0 {
			return usagef("give --customer ID")
		}
		c, err := st.Campaign(ctx, id)
		if err != nil {
			return err
		}
		rc, err := st.CampaignRecipient(ctx, *customerID)
		if err != nil {
			return err
		}
		rules, err := st.MessagingRules(ctx)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, campaign.PreviewFor(c, rc, rules, st.Clock.Now()))
	}
	return nil
}

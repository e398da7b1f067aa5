package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/dm"
	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/channel/providers"
	"github.com/enishi-crm/enishi/internal/channel/webpush"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/survey"
)

// secretsFor is where the channels read secrets: the environment
// (ENISHI_SECRET_…) first, then the integration secrets `settings
// set-secret` stores (which the security capability encrypts at rest).
func secretsFor(env *Env, st store.Store) channel.Secrets {
	out := channel.MultiSecrets{channel.EnvSecrets{Getenv: env.Getenv}}
	if st != nil {
		out = append(out, channel.SecretFunc(ingest.SettingsSecrets{Store: st}.Secret))
	}
	return out
}

// channels starts the channel service over st with the senders the
// settings and secrets allow; reload rebuilds them.
type channels struct {
	svc    *channel.Service
	set    *providers.Set
	reload func(ctx context.Context) error
}

// channelConfig wires the channel service to every capability that
// supplies merge fields or exclusions.
func channelConfig(env *Env, st *store.DB, c clock.Clock, sec channel.Secrets) channel.Config {
	return channel.Config{Store: st, Clock: c, Secrets: sec, Log: env.Log, Recommender: st, Loyalty: st,
		Segments: st, Surveys: &survey.Linker{Store: st}, Reviews: st, Exclusions: st}
}

func startChannels(ctx context.Context, env *Env, st *store.DB, c clock.Clock) (*channels, error) {
	sec := secretsFor(env, st)
	svc, err := channel.New(ctx, channelConfig(env, st, c, sec))
	if err != nil {
		return nil, err
	}
	ch := &channels{svc: svc}
	ch.reload = func(ctx context.Context) error {
		set, err := channel.LoadSettings(ctx, st)
		if err != nil {
			return err
		}
		ps, err := providers.Build(ctx, set, sec, providers.Options{PushGone: func(ctx context.Context, endpoint string) {
			_ = st.DeletePushSubscription(ctx, endpoint)
		}})
		if err != nil {
			return err
		}
		old := ch.set
		ch.set = ps
		var aud channel.AudienceUploader
		if ps.LINE != nil {
			aud = ps.LINE
		}
		svc.SetSenders(ps.Senders, aud)
		if old != nil {
			_ = old.Close()
		}
		return nil
	}
	if err := ch.reload(ctx); err != nil {
		env.Log.Warn("channels are not ready; fix the settings and secrets", "err", err)
	}
	return ch, nil
}

func (ch *channels) close() {
	if ch.set != nil {
		_ = ch.set.Close()
	}
}

func cmdEmail(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("email needs a subcommand: dkim-key, dns-records, check-domain, bounce")
	}
	fs := newFlags(env, "email", "email dkim-key [--out FILE] | dns-records DOMAIN | check-domain DOMAIN | bounce FILE|-")
	db := addDBFlags(fs, env)
	out := fs.String("out", "", "dkim-key: write the private key (PEM) to this file instead of stdout")
	selector := fs.String("selector", "", "DKIM selector (default: settings email.dkim_selector, or enishi)")
	spf := fs.String("spf-include", "", "dns-records: the SMTP relay's SPF include domain (e.g. _spf.example.net)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	sel := func(set *channel.Settings) string {
		switch {
		case *selector != "":
			return *selector
		case set != nil && set.Email.DKIMSelector != "":
			return set.Email.DKIMSelector
		}
		return "enishi"
	}
	// settings reads the channel settings and the DKIM record of the
	// configured key ("" without one).
	settings := func() (*channel.Settings, string, error) {
		st, err := db.open(ctx, env, nil)
		if err != nil {
			return nil, "", err
		}
		defer st.Close()
		set, err := channel.LoadSettings(ctx, st)
		if err != nil {
			return nil, "", err
		}
		key, ok, err := secretsFor(env, st).Secret(ctx, channel.SecretDKIMKey)
		if err != nil || !ok {
			return set, "", err
		}
		rec, err := email.DKIMRecord(key)
		return set, rec, err
	}
	switch args[0] {
	case "dkim-key":
		key, rec, err := email.GenerateDKIMKey()
		if err != nil {
			return err
		}
		if *out != "" {
			if err := os.WriteFile(*out, []byte(key), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "private key written to %s (mode 0600)\n", *out)
		} else {
			fmt.Fprint(env.Stdout, key)
		}
		fmt.Fprintf(env.Stdout, "\nGive enishi the key (`enishi settings set-secret %s - < FILE`, or the variable %s),\nand publish this TXT record at %s._domainkey.YOUR-DOMAIN:\n\n%s\n",
			channel.SecretDKIMKey, channel.EnvName(channel.SecretDKIMKey), sel(nil), rec)
		return nil
	case "dns-records":
		if len(pos) != 1 {
			return usagef("usage: enishi email dns-records DOMAIN")
		}
		set, rec, err := settings()
		if err != nil {
			return err
		}
		recs := email.Records(pos[0], sel(set), rec, *spf, "")
		if *asJSON {
			return printJSON(env.Stdout, recs)
		}
		for _, r := range recs {
			fmt.Fprintf(env.Stdout, "%s  %s\n  %s\n  (%s)\n\n", r.Name, r.Type, r.Value, r.Note)
		}
		if rec == "" {
			fmt.Fprintf(env.Stdout, "No DKIM key is configured yet: run `enishi email dkim-key`, then `enishi settings set-secret %s - < dkim.pem`.\n", channel.SecretDKIMKey)
		}
		return nil
	case "check-domain":
		if len(pos) != 1 {
			return usagef("usage: enishi email check-domain DOMAIN")
		}
		set, rec, err := settings()
		if err != nil {
			return err
		}
		var res email.Resolver = net.DefaultResolver
		if env.Resolver != nil {
			res = env.Resolver
		}
		checks := email.CheckDomain(ctx, res, pos[0], sel(set), rec)
		if *asJSON {
			if err := printJSON(env.Stdout, checks); err != nil {
				return err
			}
		} else {
			for _, c := range checks {
				mark := "OK  "
				if !c.OK {
					mark = "FAIL"
				}
				fmt.Fprintf(env.Stdout, "%s %-5s %s\n", mark, strings.ToUpper(c.Kind), c.Name)
				if c.Found != "" {
					fmt.Fprintf(env.Stdout, "     found: %s\n", c.Found)
				}
				if c.Advice != "" {
					fmt.Fprintf(env.Stdout, "     %s\n", c.Advice)
				}
			}
		}
		for _, c := range checks {
			if !c.OK {
				return errs.Errorf(errs.Invalid, "%s is not ready to send: fix the records marked FAIL", pos[0])
			}
		}
		return nil
	case "bounce":
		// Pipe bounces here from the MTA (Postfix: a transport to
		// `enishi email bounce -` for the return-path address).
		if len(pos) != 1 {
			return usagef("usage: enishi email bounce FILE|-")
		}
		var r io.Reader = env.Stdin
		if pos[0] != "-" {
			f, err := os.Open(pos[0])
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		reps, err := email.ParseReport(r)
		if err != nil {
			return errs.Errorf(errs.Invalid, "%v", err)
		}
		st, err := db.open(ctx, env, nil)
		if err != nil {
			return err
		}
		defer st.Close()
		svc, err := channel.New(ctx, channel.Config{Store: st, Secrets: secretsFor(env, st), Log: env.Log})
		if err != nil {
			return err
		}
		for _, rep := range reps {
			res, err := svc.HandleBounce(ctx, channel.Bounce{Kind: rep.Kind, Address: rep.Address, ProviderID: rep.MessageID, Status: rep.Status, Reason: rep.Diagnosis})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s %s: suppressed=%v soft_count=%d retry=%v\n", res.Kind, res.Address, res.Suppressed, res.SoftCount, res.Retry)
		}
		return nil
	}
	return usagef("unknown email subcommand %q", args[0])
}

func cmdTemplate(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("template needs a subcommand: list, show, save, check, preview")
	}
	fs := newFlags(env, "template", "template list | show ID | save FILE.json [--id ID] | check FILE.json | preview ID [--customer N] [--channel C]")
	db := addDBFlags(fs, env)
	id := fs.Int64("id", 0, "save: update this template")
	cust := fs.Int64("customer", 0, "preview: render for this customer (default: the sample customer)")
	ch := fs.String("channel", "email", "preview: channel variant")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	eng := content.NewEngine()
	set, err := channel.LoadSettings(ctx, st)
	if err != nil {
		return err
	}
	readFile := func() (*content.Template, error) {
		if len(pos) != 1 {
			return nil, usagef("give the template's JSON file")
		}
		b, err := os.ReadFile(pos[0])
		if err != nil {
			return nil, err
		}
		var t content.Template
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, errs.Errorf(errs.Invalid, "%s: %v", pos[0], err)
		}
		if _, err := eng.Check(&t, set.Shop); err != nil {
			return nil, err
		}
		return &t, nil
	}
	switch args[0] {
	case "list":
		ts, err := st.Templates(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			var chans []string
			for _, c := range t.Channels() {
				chans = append(chans, string(c))
			}
			fmt.Fprintf(env.Stdout, "%5d  %-30s %-13s v%d  %s\n", t.ID, t.Name, t.Purpose, t.Version, strings.Join(chans, ","))
		}
		return nil
	case "show":
		tid, err := onePositiveID(pos)
		if err != nil {
			return err
		}
		t, err := st.Template(ctx, tid)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, t)
	case "check":
		if _, err := readFile(); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "ok: every variant renders for the sample customer")
		return nil
	case "save":
		t, err := readFile()
		if err != nil {
			return err
		}
		t.ID, t.UpdatedBy = *id, "cli"
		if _, err := st.SaveTemplate(ctx, t); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "saved template %d (version %d)\n", t.ID, t.Version)
		return nil
	case "preview":
		tid, err := onePositiveID(pos)
		if err != nil {
			return err
		}
		if *cust != 0 {
			svc, err := channel.New(ctx, channelConfig(env, st, nil, secretsFor(env, st)))
			if err != nil {
				return err
			}
			o, err := svc.Preview(ctx, tid, *cust, message.Channel(*ch), nil)
			if err != nil {
				return err
			}
			return printJSON(env.Stdout, o)
		}
		t, err := st.Template(ctx, tid)
		if err != nil {
			return err
		}
		c, err := eng.Compile(t)
		if err != nil {
			return err
		}
		d := content.SampleData(set.Shop)
		o, err := c.Render(message.Channel(*ch), &d)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, o)
	}
	return usagef("unknown template subcommand %q", args[0])
}

func onePositiveID(pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("give one id")
	}
	n, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("%q is not an id", pos[0])
	}
	return n, nil
}

func cmdMessage(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("message needs a subcommand: send, test, stats, run-due, suppress, unsuppress, suppressions, dm-export, attribution-rebuild, push-keys")
	}
	fs := newFlags(env, "message", "message send|test|stats|run-due|suppress|unsuppress|suppressions|dm-export|attribution-rebuild|push-keys [flags]")
	db := addDBFlags(fs, env)
	tpl := fs.Int64("template", 0, "template id")
	cust := fs.Int64("customer", 0, "customer id")
	chName := fs.String("channel", "email", "channel: email, line, sms, push, onsite, webhook, dm")
	key := fs.String("key", "", "send: the exactly-once key")
	purpose := fs.String("purpose", "marketing", "send: marketing or transactional")
	source := fs.String("source", "", "send: what sent it (campaign:7, journey:3:step:1); stats: source prefix; dm-export: the mailing's name")
	to := fs.String("to", "", "test: the address to send the test to")
	reason := fs.String("reason", "manual", "suppress: unsubscribed, bounced, complained or manual")
	customers := fs.String("customers", "", "dm-export: file of customer ids, one a line (- for stdin)")
	sjis := fs.Bool("sjis", false, "dm-export: write Shift_JIS (CP932) for print shops' tools")
	outFile := fs.String("out", "", "dm-export: output file (default stdout)")
	since := fs.String("since", "", "attribution-rebuild: orders placed since (YYYY-MM-DD, Asia/Tokyo)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	ch := message.Channel(*chName)
	needService := func() (*channels, error) {
		c, err := startChannels(ctx, env, st, nil)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	switch args[0] {
	case "send":
		c, err := needService()
		if err != nil {
			return err
		}
		defer c.close()
		if *source == "" {
			*source = "cli"
		}
		out := c.svc.SendBatch(ctx, []message.Outgoing{{Key: *key, CustomerID: *cust, Channel: ch, Purpose: message.Purpose(*purpose), TemplateID: *tpl, Source: *source}})[0]
		fmt.Fprintf(env.Stdout, "message %d: %s %s\n", out.MessageID, out.Status, out.Result.ProviderID)
		return out.Err
	case "test":
		c, err := needService()
		if err != nil {
			return err
		}
		defer c.close()
		res, err := c.svc.TestSend(ctx, *tpl, *cust, ch, *to)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "test sent to %s (%s)\n", *to, res.ProviderID)
		return nil
	case "stats":
		stats, err := st.SendStats(ctx, *source)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, stats)
		}
		fmt.Fprintf(env.Stdout, "%-32s %-7s %7s %7s %7s %7s %7s %7s %7s %11s\n", "source", "channel", "sent", "bounced", "opened", "clicked", "unsub", "blocked", "conv", "revenue")
		for _, s := range stats {
			fmt.Fprintf(env.Stdout, "%-32s %-7s %7d %7d %7d %7d %7d %7d %7d %11s\n", s.Source, s.Channel, s.Sent, s.Bounced, s.Opened, s.Clicked, s.Unsubscribed, s.Blocked, s.Conversions, group(int(s.Revenue)))
		}
		return nil
	case "run-due":
		c, err := needService()
		if err != nil {
			return err
		}
		defer c.close()
		n, err := c.svc.RunDue(ctx, 1000)
		fmt.Fprintf(env.Stdout, "%d due sends handled\n", n)
		return err
	case "suppress", "unsuppress":
		if len(pos) != 1 {
			return usagef("usage: enishi message %s --channel email ADDRESS", args[0])
		}
		if args[0] == "unsuppress" {
			return st.Unsuppress(ctx, ch, pos[0])
		}
		_, err := st.Suppress(ctx, channel.Suppression{Channel: ch, Address: pos[0], Reason: *reason, Actor: "cli"})
		return err
	case "suppressions":
		list, total, err := st.Suppressions(ctx, ch, "", 1000, 0)
		if err != nil {
			return err
		}
		for _, s := range list {
			fmt.Fprintf(env.Stdout, "%s  %-12s %s  %s\n", s.CreatedAt.In(clock.Tokyo).Format("2006-01-02 15:04"), s.Reason, s.Address, s.Detail)
		}
		fmt.Fprintf(env.Stdout, "%d suppressed\n", total)
		return nil
	case "dm-export":
		ids, err := readIDs(env, *customers)
		if err != nil {
			return err
		}
		c, err := needService()
		if err != nil {
			return err
		}
		defer c.close()
		rows, outs, err := c.svc.ExportDM(ctx, ids, *tpl, *source)
		if err != nil {
			return err
		}
		var w io.Writer = env.Stdout
		if *outFile != "" {
			f, err := os.Create(*outFile)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if err := dm.WriteCSV(w, rows, *sjis); err != nil {
			return err
		}
		skipped := 0
		for _, o := range outs {
			if o.Err != nil {
				skipped++
			}
		}
		fmt.Fprintf(env.Stderr, "%d addresses exported, %d skipped (no address, opted out, or already in this mailing)\n", len(rows), skipped)
		return nil
	case "attribution-rebuild":
		t, err := time.ParseInLocation("2006-01-02", *since, clock.Tokyo)
		if err != nil {
			return usagef("--since must be a date such as 2026-04-01")
		}
		n, err := st.ReattributeOrders(ctx, t)
		fmt.Fprintf(env.Stdout, "%d orders re-attributed\n", n)
		return err
	case "push-keys":
		priv, pub, err := webpush.GenerateKeys()
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "public key (settings push.vapid_public_key): %s\nprivate key (set %s): %s\n", pub, channel.EnvName(channel.SecretVAPIDPrivateKey), priv)
		return nil
	}
	return usagef("unknown message subcommand %q", args[0])
}

func readIDs(env *Env, path string) ([]int64, error) {
	if path == "" {
		return nil, usagef("--customers FILE is required (customer ids, one a line; - for stdin)")
	}
	var r io.Reader = env.Stdin
	if path != "-" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		r = strings.NewReader(string(b))
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n, err := strconv.ParseInt(line, 10, 64)
		if err != nil || n <= 0 {
			return nil, errs.Errorf(errs.Invalid, "line %d: %q is not a customer id", i+1, line)
		}
		ids = append(ids, n)
	}
	if len(ids) == 0 {
		return nil, errors.New("no customer ids given")
	}
	return ids, nil
}

package campaign

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/outbox"
)

// Recipient is a member of the campaign's segment when it starts.
type Recipient struct {
	CustomerID int64
	TimeZone   string // IANA zone from the custom attribute "timezone", if any
}

// Store is what campaigns ask of storage.
type Store interface {
	Campaign(ctx context.Context, id int64) (*Campaign, error)
	// DueCampaigns lists scheduled campaigns whose recipients should be
	// put in the outbox at now; RunningCampaigns those in flight.
	DueCampaigns(ctx context.Context, now time.Time) ([]Campaign, error)
	RunningCampaigns(ctx context.Context) ([]Campaign, error)
	SegmentRecipients(ctx context.Context, segmentID int64) ([]Recipient, error)
	// StartCampaign moves a scheduled campaign to running and writes its
	// outbox rows, in one transaction; it fails with a conflict if the
	// campaign is no longer scheduled (another process started it).
	StartCampaign(ctx context.Context, id int64, items []outbox.Item) error
	CampaignStats(ctx context.Context, id int64) ([]VariantStats, error)
	// ChooseWinner records the winner and releases the held rows with it,
	// spread by the throttle from now.
	ChooseWinner(ctx context.Context, c *Campaign, winner, why string, now time.Time) error
	// FinishCampaign marks a running campaign done when nothing is pending.
	FinishCampaign(ctx context.Context, id int64) (bool, error)
}

// Runner starts due campaigns, picks A/B winners and finishes campaigns.
type Runner struct {
	st    Store
	d     outbox.Dispatcher
	clock clock.Clock
	log   *slog.Logger
}

// NewRunner returns a runner; d sends test messages.
func NewRunner(st Store, d outbox.Dispatcher, c clock.Clock, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{st: st, d: d, clock: c, log: log}
}

// localLead is how long before SendAt a local-time campaign starts: the
// zones east of Japan (up to UTC+14) reach the wall-clock time first.
const localLead = 6 * time.Hour

// MaterializeAt is when a scheduled campaign's recipients go in the outbox.
func (c *Campaign) MaterializeAt() time.Time {
	if c.SendAt == nil {
		return time.Time{}
	}
	if c.LocalTime {
		return c.SendAt.Add(-localLead)
	}
	return *c.SendAt
}

// Run does what is due: starts campaigns, picks winners, finishes. It
// returns how many campaigns it acted on.
func (r *Runner) Run(ctx context.Context) (int, error) {
	now := r.clock.Now()
	n := 0
	due, err := r.st.DueCampaigns(ctx, now)
	if err != nil {
		return 0, err
	}
	for i := range due {
		if err := r.start(ctx, &due[i], now); err != nil {
			if errs.Code(err) == errs.Conflict {
				continue
			}
			return n, fmt.Errorf("start campaign %d: %w", due[i].ID, err)
		}
		n++
	}
	running, err := r.st.RunningCampaigns(ctx)
	if err != nil {
		return n, err
	}
	for i := range running {
		c := &running[i]
		if c.AB != nil && c.Winner == "" && c.StartedAt != nil && !now.Before(c.StartedAt.Add(time.Duration(c.AB.WaitHours)*time.Hour)) {
			stats, err := r.st.CampaignStats(ctx, c.ID)
			if err != nil {
				return n, err
			}
			winner, why := c.PickWinner(testStats(c, stats))
			if err := r.st.ChooseWinner(ctx, c, winner, why, now); err != nil {
				return n, err
			}
			r.log.Info("campaign A/B winner", "campaign", c.ID, "winner", winner, "why", why)
			n++
			continue
		}
		done, err := r.st.FinishCampaign(ctx, c.ID)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}

// testStats orders stats by the campaign's variants.
func testStats(c *Campaign, stats []VariantStats) []VariantStats {
	by := map[string]VariantStats{}
	for _, s := range stats {
		by[s.Variant] = s
	}
	out := make([]VariantStats, len(c.Variants))
	for i, v := range c.Variants {
		out[i] = by[v.Name]
		out[i].Variant = v.Name
	}
	return out
}

// start puts a due campaign's recipients in the outbox.
func (r *Runner) start(ctx context.Context, c *Campaign, now time.Time) error {
	recips, err := r.st.SegmentRecipients(ctx, c.SegmentID)
	if err != nil {
		return err
	}
	items := Plan(c, recips, now)
	return r.st.StartCampaign(ctx, c.ID, items)
}

// Plan builds the outbox rows of a campaign starting at now: one per
// recipient, its variant (A/B test share split evenly, the rest held for
// the winner), and its send time (SendAt, in the customer's zone for
// local-time campaigns, spread by the throttle).
func Plan(c *Campaign, recips []Recipient, now time.Time) []outbox.Item {
	items := make([]outbox.Item, len(recips))
	for i, rc := range recips {
		at := now
		if c.SendAt != nil && c.SendAt.After(now) {
			at = *c.SendAt
		}
		if c.LocalTime && c.SendAt != nil && rc.TimeZone != "" {
			if loc, err := time.LoadLocation(rc.TimeZone); err == nil {
				w := c.SendAt.In(clock.Tokyo)
				at = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, loc).UTC()
				if at.Before(now) {
					at = now
				}
			}
		}
		variant, status := c.Variants[0].Name, outbox.Queued
		if c.AB != nil {
			b := bucket(c.ID, rc.CustomerID)
			if b < c.AB.TestPercent*100 {
				variant = c.Variants[b%len(c.Variants)].Name
			} else {
				variant, status = "", outbox.Held
			}
		}
		items[i] = outbox.Item{
			Outgoing: message.Outgoing{Key: Key(c.ID, rc.CustomerID), CustomerID: rc.CustomerID, Channel: c.Channel,
				Purpose: c.Purpose, Source: Source(c.ID, variant), NotBefore: at},
			CampaignID: c.ID, Variant: variant, Status: status, TimeZone: rc.TimeZone,
		}
		if v, ok := c.Variant(variant); ok {
			items[i].TemplateID = v.TemplateID
		}
	}
	if c.ThrottlePerMinute > 0 {
		Throttle(items, c.ThrottlePerMinute)
	}
	return items
}

// Throttle spreads items (in send-time order) so that at most perMinute
// are due in any minute after the first.
func Throttle(items []outbox.Item, perMinute int) {
	if len(items) == 0 {
		return
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].NotBefore.Before(items[j].NotBefore) })
	start := items[0].NotBefore
	for i := range items {
		slot := start.Add(time.Duration(i/perMinute) * time.Minute)
		if slot.After(items[i].NotBefore) {
			items[i].NotBefore = slot
		}
	}
}

// bucket places a customer in 0…9999 for the A/B split, deterministically.
func bucket(campaign, customer int64) int {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(campaign, 10) + ":" + strconv.FormatInt(customer, 10)))
	return int(h.Sum64() % 10000)
}

// Preview is what a campaign would send one customer.
type Preview struct {
	CustomerID int64           `json:"customer_id"`
	Key        string          `json:"key"`
	Variant    string          `json:"variant"` // "" while held for the A/B winner
	Held       bool            `json:"held_for_winner"`
	Channel    message.Channel `json:"channel"`
	Purpose    message.Purpose `json:"purpose"`
	TemplateID int64           `json:"template_id,omitempty"`
	Content    *Content        `json:"content,omitempty"`
	Vars       map[string]any  `json:"vars,omitempty"`
	// SendAt is when the message is due, and GoesOutAt when it would go
	// out after quiet hours.
	SendAt    time.Time `json:"send_at"`
	GoesOutAt time.Time `json:"goes_out_at"`
	TimeZone  string    `json:"time_zone"`
}

// PreviewFor says what the campaign sends rc and when.
func PreviewFor(c *Campaign, rc Recipient, rules outbox.Rules, now time.Time) Preview {
	it := Plan(&Campaign{ID: c.ID, Channel: c.Channel, Purpose: c.Purpose, Variants: c.Variants, AB: c.AB, SendAt: c.SendAt, LocalTime: c.LocalTime}, []Recipient{rc}, now)[0]
	p := Preview{CustomerID: rc.CustomerID, Key: it.Key, Variant: it.Variant, Held: it.Status == outbox.Held, Channel: c.Channel,
		Purpose: c.Purpose, SendAt: it.NotBefore, TimeZone: rc.TimeZone}
	if p.Held && c.Winner != "" {
		p.Variant, p.Held = c.Winner, false
	}
	if p.TimeZone == "" {
		p.TimeZone = "Asia/Tokyo"
	}
	if v, ok := c.Variant(p.Variant); ok {
		p.TemplateID, p.Content, p.Vars = v.TemplateID, v.Content, VariantVars(c, v)
	}
	p.GoesOutAt = p.SendAt
	if c.Purpose == message.Marketing {
		loc := clock.Tokyo
		if l, err := time.LoadLocation(p.TimeZone); err == nil {
			loc = l
		}
		p.GoesOutAt = rules.QuietUntil(p.SendAt, loc)
	}
	return p
}

// VariantVars are the merge fields a variant's messages carry.
func VariantVars(c *Campaign, v *Variant) map[string]any {
	vars := map[string]any{"campaign": map[string]any{"id": c.ID, "name": c.Name, "variant": v.Name}}
	for k, x := range v.Vars {
		vars[k] = x
	}
	if v.Content != nil {
		vars["content"] = map[string]any{"subject": v.Content.Subject, "text": v.Content.Text, "html": v.Content.HTML}
	}
	return vars
}

// TestSend sends a variant to one customer now, outside quiet hours and
// caps, under a fresh key (source "test"). It returns the key.
func (r *Runner) TestSend(ctx context.Context, c *Campaign, variant string, customerID int64) (string, message.Result, error) {
	if r.d == nil {
		return "", message.Result{}, errs.Errorf(errs.Unavailable, "no channel is configured to send with")
	}
	if variant == "" {
		variant = c.Variants[0].Name
	}
	v, ok := c.Variant(variant)
	if !ok {
		return "", message.Result{}, errs.FieldErrorf("variant", "campaign %d has no variant %q", c.ID, variant)
	}
	key := "test:campaign:" + strconv.FormatInt(c.ID, 10) + ":" + auth.RandomToken(9)
	res, err := r.d.Dispatch(ctx, message.Outgoing{Key: key, CustomerID: customerID, Channel: c.Channel, Purpose: c.Purpose,
		TemplateID: v.TemplateID, Source: "test", Vars: VariantVars(c, v), NotBefore: r.clock.Now()})
	return key, res, err
}

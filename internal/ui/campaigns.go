package ui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
)

// campaignRow is one line of the campaign list: the campaign and its
// variants' counts summed.
type campaignRow struct {
	C       campaign.Campaign
	Segment string
	Total   campaign.VariantStats
}

type campaignsPage struct {
	*base
	Campaigns []campaignRow
}

func (u *UI) campaigns(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	list, err := u.cfg.Store.Campaigns(ctx)
	if err != nil {
		return err
	}
	names, err := u.segmentNames(r)
	if err != nil {
		return err
	}
	pg := &campaignsPage{base: u.newBase(r, "campaigns", "campaigns.title")}
	for _, c := range list {
		st, err := u.cfg.Store.CampaignStats(ctx, c.ID)
		if err != nil {
			return err
		}
		pg.Campaigns = append(pg.Campaigns, campaignRow{C: c, Segment: names[c.SegmentID], Total: sumStats(st)})
	}
	return u.render(w, r, http.StatusOK, "campaigns", pg)
}

func sumStats(st []campaign.VariantStats) campaign.VariantStats {
	var t campaign.VariantStats
	for _, s := range st {
		t.Recipients += s.Recipients
		t.Sent += s.Sent
		t.Skipped += s.Skipped
		t.Failed += s.Failed
		t.Capped += s.Capped
		t.Opened += s.Opened
		t.Clicked += s.Clicked
		t.Converted += s.Converted
		t.Revenue += s.Revenue
		t.Pending += s.Pending
	}
	return t
}

func (u *UI) segmentNames(r *http.Request) (map[int64]string, error) {
	segs, err := u.cfg.Store.Segments(r.Context())
	if err != nil {
		return nil, err
	}
	m := map[int64]string{}
	for _, s := range segs {
		m[s.ID] = s.Name
	}
	return m, nil
}

// campaignVariantSlots is how many variants the editor offers (A/B/C).
const campaignVariantSlots = 3

// campaignPage shows a campaign: the editor while it is a draft (or
// scheduled), the preview as a chosen customer, the test send, and the
// results by variant.
type campaignPage struct {
	*base
	C         *campaign.Campaign // nil for a new campaign
	Form      *campaign.Campaign // what the editor shows
	Slots     []campaign.Variant
	Segments  []segment.Segment
	Templates []content.Template
	Channels  []message.Channel
	Stats     []campaign.VariantStats
	Total     campaign.VariantStats
	SegName   string
	// PreviewCustomer and PreviewVariant choose whose message the preview
	// frames show.
	PreviewCustomer int64
	PreviewVariant  string
	SendAtLocal     string // the editor's datetime-local value
}

// Editable reports whether the campaign may still be changed.
func (p *campaignPage) Editable() bool {
	return p.C == nil || p.C.Status == campaign.Draft || p.C.Status == campaign.Scheduled
}

// Rate is n of d as a percentage ("—" when d is 0).
func (p *campaignPage) Rate(n, d int64) string {
	if d == 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(n)*100/float64(d), 'f', 1, 64) + "%"
}

var campaignChannels = []message.Channel{message.Email, message.LINE, message.SMS, message.Push, message.OnSite}

func (u *UI) newCampaign(w http.ResponseWriter, r *http.Request) error {
	f := &campaign.Campaign{Channel: message.Email, Purpose: message.Marketing,
		AB: &campaign.ABTest{TestPercent: 20, Metric: "open", WaitHours: 4}}
	if id, err := strconv.ParseInt(r.URL.Query().Get("segment"), 10, 64); err == nil {
		f.SegmentID = id
	}
	return u.showCampaign(w, r, http.StatusOK, nil, f, "")
}

func (u *UI) campaignFromPath(r *http.Request) (*campaign.Campaign, error) {
	id, err := pathInt(r, "id")
	if err != nil {
		return nil, err
	}
	return u.cfg.Store.Campaign(r.Context(), id)
}

func (u *UI) campaignShow(w http.ResponseWriter, r *http.Request) error {
	c, err := u.campaignFromPath(r)
	if err != nil {
		return err
	}
	return u.showCampaign(w, r, http.StatusOK, c, nil, "")
}

func (u *UI) showCampaign(w http.ResponseWriter, r *http.Request, status int, c, form *campaign.Campaign, msg string) error {
	ctx := r.Context()
	title, args := "campaigns.new", []any{}
	if c != nil {
		title, args = "campaigns.show", []any{c.Name}
	}
	pg := &campaignPage{base: u.newBase(r, "campaigns", title, args...), C: c, Form: form, Channels: campaignChannels}
	pg.Error = msg
	if pg.Form == nil {
		pg.Form = c
	}
	var err error
	if pg.Segments, err = u.cfg.Store.Segments(ctx); err != nil {
		return err
	}
	for _, s := range pg.Segments {
		if s.ID == pg.Form.SegmentID {
			pg.SegName = s.Name
		}
	}
	if pg.Can(string(auth.CampaignsSend)) {
		if pg.Templates, err = u.cfg.Store.Templates(ctx); err != nil {
			return err
		}
	}
	pg.Slots = make([]campaign.Variant, campaignVariantSlots)
	copy(pg.Slots, pg.Form.Variants)
	if pg.Form.AB == nil {
		pg.Form.AB = &campaign.ABTest{TestPercent: 20, Metric: "open", WaitHours: 4}
	}
	if pg.Form.SendAt != nil {
		pg.SendAtLocal = pg.Form.SendAt.In(clock.Tokyo).Format("2006-01-02T15:04")
	}
	if c != nil {
		if pg.Stats, err = u.cfg.Store.CampaignStats(ctx, c.ID); err != nil {
			return err
		}
		pg.Total = sumStats(pg.Stats)
		pg.PreviewVariant = r.URL.Query().Get("variant")
		if _, ok := c.Variant(pg.PreviewVariant); !ok && len(c.Variants) > 0 {
			pg.PreviewVariant = c.Variants[0].Name
		}
		pg.PreviewCustomer, _ = strconv.ParseInt(r.URL.Query().Get("customer"), 10, 64)
		if pg.PreviewCustomer <= 0 {
			// The segment's first member, to start with.
			if m, err := u.cfg.Store.SegmentMembers(ctx, c.SegmentID, 1, 0); err == nil && len(m) > 0 {
				pg.PreviewCustomer = m[0].ID
			}
		}
	}
	return u.render(w, r, status, "campaign", pg)
}

// campaignFromForm reads the editor.
func campaignFromForm(r *http.Request) (*campaign.Campaign, error) {
	f := r.PostForm
	c := &campaign.Campaign{Name: f.Get("name"), Channel: message.Channel(f.Get("channel")), Purpose: message.Purpose(f.Get("purpose")),
		LocalTime: f.Get("local_time") == "on"}
	var err error
	num := func(k string) int64 {
		if err != nil || strings.TrimSpace(f.Get(k)) == "" {
			return 0
		}
		n, e := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(f.Get(k)), ",", ""), 10, 64)
		if e != nil {
			err = errs.FieldErrorf(k, "%q is not a whole number", f.Get(k))
		}
		return n
	}
	c.SegmentID = num("segment_id")
	c.ThrottlePerMinute = int(num("throttle"))
	for i := range campaignVariantSlots {
		p := "v" + strconv.Itoa(i) + "."
		v := campaign.Variant{TemplateID: num(p + "template_id")}
		subject, text := strings.TrimSpace(f.Get(p+"subject")), strings.ReplaceAll(f.Get(p+"text"), "\r\n", "\n")
		if v.TemplateID == 0 && strings.TrimSpace(text) == "" && subject == "" {
			continue
		}
		if v.TemplateID == 0 {
			v.Content = &campaign.Content{Subject: subject, Text: text}
		}
		c.Variants = append(c.Variants, v)
	}
	if len(c.Variants) > 1 {
		c.AB = &campaign.ABTest{TestPercent: int(num("ab_percent")), Metric: f.Get("ab_metric"), WaitHours: int(num("ab_hours"))}
	}
	if s := strings.TrimSpace(f.Get("send_at")); s != "" {
		at, perr := time.ParseInLocation("2006-01-02T15:04", s, clock.Tokyo)
		if perr != nil {
			return c, errs.FieldErrorf("send_at", "%q is not a date and time", s)
		}
		at = at.UTC()
		c.SendAt = &at
	}
	return c, err
}

// saveCampaign creates (POST /campaigns) or changes (POST /campaigns/{id})
// a campaign; "schedule" in the form queues it as well.
func (u *UI) saveCampaign(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errs.Errorf(errs.Invalid, "unreadable form: %v", err)
	}
	var cur *campaign.Campaign
	if r.PathValue("id") != "" {
		var err error
		if cur, err = u.campaignFromPath(r); err != nil {
			return err
		}
	}
	form, err := campaignFromForm(r)
	if err == nil {
		var saved *campaign.Campaign
		if cur == nil {
			form.CreatedBy = principal(r).Actor()
			saved, err = u.cfg.Store.CreateCampaign(r.Context(), *form)
		} else {
			form.ID = cur.ID
			saved, err = u.cfg.Store.UpdateCampaign(r.Context(), *form)
		}
		if err == nil {
			action := "campaign.create"
			if cur != nil {
				action = "campaign.update"
			}
			if err := u.api.Audit(r, action, "campaign:"+strconv.FormatInt(saved.ID, 10), saved.Status); err != nil {
				return err
			}
			return redirect(w, r, "/campaigns/"+strconv.FormatInt(saved.ID, 10), "campaign_saved")
		}
	}
	if !isValidation(err) {
		return err
	}
	return u.showCampaign(w, r, http.StatusUnprocessableEntity, cur, form, u.localeFor(r).errorText(err))
}

// scheduleCampaign queues a draft: now, or at the chosen time.
func (u *UI) scheduleCampaign(w http.ResponseWriter, r *http.Request) error {
	c, err := u.campaignFromPath(r)
	if err != nil {
		return err
	}
	var at time.Time
	if s := strings.TrimSpace(r.PostFormValue("send_at")); s != "" && r.PostFormValue("when") != "now" {
		if at, err = time.ParseInLocation("2006-01-02T15:04", s, clock.Tokyo); err != nil {
			return errs.FieldErrorf("send_at", "%q is not a date and time", s)
		}
	}
	sc, err := u.cfg.Store.ScheduleCampaign(r.Context(), c.ID, at)
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showCampaign(w, r, http.StatusUnprocessableEntity, c, nil, u.localeFor(r).errorText(err))
	}
	detail := ""
	if sc.SendAt != nil {
		detail = sc.SendAt.Format(time.RFC3339)
	}
	if err := u.api.Audit(r, "campaign.schedule", "campaign:"+strconv.FormatInt(c.ID, 10), detail); err != nil {
		return err
	}
	return redirect(w, r, "/campaigns/"+strconv.FormatInt(c.ID, 10), "campaign_scheduled")
}

// moveCampaign pauses, resumes or cancels a campaign in flight.
func (u *UI) moveCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	verb := r.PathValue("verb")
	var c *campaign.Campaign
	switch verb {
	case "pause":
		c, err = u.cfg.Store.PauseCampaign(r.Context(), id)
	case "resume":
		c, err = u.cfg.Store.ResumeCampaign(r.Context(), id)
	case "cancel":
		c, err = u.cfg.Store.CancelCampaign(r.Context(), id)
	default:
		return errs.Errorf(errs.NotFound, "no campaign action %q", verb)
	}
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "campaign."+verb, "campaign:"+strconv.FormatInt(id, 10), c.Status); err != nil {
		return err
	}
	return redirect(w, r, "/campaigns/"+strconv.FormatInt(id, 10), "campaign_"+verb)
}

// testCampaign sends one variant now to a chosen customer (a staff
// member's own profile), with real links, outside quiet hours and caps.
func (u *UI) testCampaign(w http.ResponseWriter, r *http.Request) error {
	c, err := u.campaignFromPath(r)
	if err != nil {
		return err
	}
	cid, _ := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("customer_id")), 10, 64)
	fail := func(err error) error {
		if !isValidation(err) && errs.Code(err) != errs.Unavailable {
			return err
		}
		return u.showCampaign(w, r, http.StatusUnprocessableEntity, c, nil, u.localeFor(r).errorText(err))
	}
	if cid <= 0 {
		return fail(errs.FieldErrorf("customer_id", "name the customer to send the test to"))
	}
	if _, err := u.cfg.Store.CampaignRecipient(r.Context(), cid); err != nil {
		return fail(err)
	}
	_, res, err := campaign.NewRunner(u.cfg.Store, u.api.Dispatcher(), u.cfg.Clock, u.cfg.Log).TestSend(r.Context(), c, r.PostFormValue("variant"), cid)
	if err != nil {
		return fail(err)
	}
	if err := u.api.Audit(r, "campaign.test", "campaign:"+strconv.FormatInt(c.ID, 10), "customer "+strconv.FormatInt(cid, 10)); err != nil {
		return err
	}
	ok := "campaign_test_sent"
	if res.Status == "skipped" {
		ok = "campaign_test_skipped"
	}
	return redirect(w, r, "/campaigns/"+strconv.FormatInt(c.ID, 10)+"?customer="+strconv.FormatInt(cid, 10), ok)
}

// campaignPreview renders a variant for a customer, for the preview
// frames (desktop and mobile widths are the frames' own).
func (u *UI) campaignPreview(w http.ResponseWriter, r *http.Request) error {
	c, err := u.campaignFromPath(r)
	if err != nil {
		return err
	}
	loc := u.localeFor(r)
	svc := u.api.Channels()
	if svc == nil {
		return writePreviewError(w, loc.T("campaigns.no_channels"))
	}
	cid, _ := strconv.ParseInt(r.URL.Query().Get("customer"), 10, 64)
	if cid <= 0 {
		return writePreviewError(w, loc.T("campaigns.choose_customer"))
	}
	v, ok := c.Variant(r.URL.Query().Get("variant"))
	if !ok {
		v = &c.Variants[0]
	}
	vars := campaign.VariantVars(c, v)
	var out *content.Output
	if v.TemplateID > 0 {
		out, err = svc.Preview(r.Context(), v.TemplateID, cid, c.Channel, vars)
	} else {
		out, err = svc.PreviewInline(r.Context(), cid, c.Channel, c.Purpose, vars)
	}
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return writePreviewError(w, loc.errorText(err))
	}
	return writePreview(w, out)
}

package channel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/tracking"
)

// Recommender supplies recommended products (analytics). Until the
// analytics capability is wired in, recommendations are empty.
type Recommender interface {
	Recommend(ctx context.Context, customerID int64, n int) ([]content.Product, error)
}

// RecommenderFunc adapts a function to Recommender.
type RecommenderFunc func(ctx context.Context, customerID int64, n int) ([]content.Product, error)

// Recommend implements Recommender.
func (f RecommenderFunc) Recommend(ctx context.Context, customerID int64, n int) ([]content.Product, error) {
	return f(ctx, customerID, n)
}

// Loyalty supplies the points balance and the rank's name (the store's
// PointsAndRank). Without it they are 0 and "".
type Loyalty interface {
	PointsAndRank(ctx context.Context, customerID int64) (balance int64, rank string, err error)
}

// Surveys makes customers' survey links for the survey.url merge field
// (internal/survey.Linker); nil leaves it empty.
type Surveys interface {
	SurveyURL(ctx context.Context, baseURL string, surveyID, customerID int64, channel string) (string, error)
}

// Reviews gives the shop's review page for a product a customer bought
// (store: the setting reviews.request_url), for the review_url merge
// field; "" when none is set.
type Reviews interface {
	ReviewURL(ctx context.Context, sku, orderRef string) (string, error)
}

// Exclusions leaves customers out of marketing for a reason of the shop's
// (store.InquiryStore: an open or pending inquiry, when the setting is on);
// nil leaves nobody out.
type Exclusions interface {
	ExcludedFromCampaigns(ctx context.Context, customerIDs []int64) (map[int64]bool, error)
}

// Config holds a Service's dependencies.
type Config struct {
	Store   Store
	Clock   clock.Clock
	Senders []message.Sender
	Secrets Secrets
	Engine  *content.Engine
	// LinkKey signs tracking and unsubscribe links (≥ 32 bytes). Without
	// it, the secret tracking.link_key is used, or a key generated once
	// and kept in the settings table (see docs/channels/README.md).
	LinkKey     []byte
	Recommender Recommender
	Loyalty     Loyalty
	Surveys     Surveys
	Reviews     Reviews
	Exclusions  Exclusions
	Log         *slog.Logger
	// Workers bounds concurrent provider calls in one batch (default 8).
	Workers int
	// Sleep waits between immediate retries and for the rate limit
	// (default: a timer; tests pass a no-op or a fake).
	Sleep func(ctx context.Context, d time.Duration) error
	// ImmediateRetries is how many times a transient failure is retried at
	// once (with backoff) before the send is scheduled for later (default 2).
	ImmediateRetries int
	// Segments answers segment membership (on-site campaigns, audiences);
	// nil until the segments capability is wired in.
	Segments Segments
	// Audiences uploads LINE audiences; nil without LINE.
	Audiences AudienceUploader
}

// Segments is the seam to the segments capability.
type Segments interface {
	InSegment(ctx context.Context, segmentID, customerID int64) (bool, error)
	Members(ctx context.Context, segmentID int64) ([]int64, error)
}

// AudienceUploader creates a LINE audience from user ids (line.Client).
type AudienceUploader interface {
	CreateAudience(ctx context.Context, description string, userIDs []string) (int64, error)
}

// Service sends messages and handles what comes back.
type Service struct {
	cfg     Config
	signer  *tracking.Signer
	smu     sync.RWMutex
	senders map[message.Channel]message.Sender

	mu        sync.Mutex
	templates map[int64]*cachedTemplate
}

type cachedTemplate struct {
	version int
	updated time.Time
	c       *content.Compiled
}

const linkKeySetting = "channels.link_key"

// New returns a service.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Engine == nil {
		cfg.Engine = content.NewEngine()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.ImmediateRetries == 0 {
		cfg.ImmediateRetries = 2
	}
	s := &Service{cfg: cfg, senders: map[message.Channel]message.Sender{}, templates: map[int64]*cachedTemplate{}}
	for _, snd := range cfg.Senders {
		s.senders[snd.Channel()] = snd
	}
	key := cfg.LinkKey
	if key == nil {
		var err error
		if key, err = s.linkKey(ctx); err != nil {
			return nil, err
		}
	}
	signer, err := tracking.NewSigner(key)
	if err != nil {
		return nil, err
	}
	s.signer = signer
	return s, nil
}

// linkKey returns the secret link key, or the one kept in settings, made
// on first use.
func (s *Service) linkKey(ctx context.Context) ([]byte, error) {
	if s.cfg.Secrets != nil {
		v, ok, err := s.cfg.Secrets.Secret(ctx, SecretTrackingLinkKey)
		if err != nil {
			return nil, err
		}
		if ok {
			return []byte(v), nil
		}
	}
	v, ok, err := s.cfg.Store.Setting(ctx, linkKeySetting)
	if err != nil {
		return nil, err
	}
	if ok {
		return hex.DecodeString(v)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.SetSetting(ctx, linkKeySetting, hex.EncodeToString(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// Signer is the service's link signer (for the HTTP layer's handlers).
func (s *Service) Signer() *tracking.Signer { return s.signer }

// HasSender reports whether a channel can send.
func (s *Service) HasSender(ch message.Channel) bool { _, ok := s.sender(ch); return ok }

func (s *Service) sender(ch message.Channel) (message.Sender, bool) {
	s.smu.RLock()
	defer s.smu.RUnlock()
	snd, ok := s.senders[ch]
	return snd, ok
}

// SetSenders replaces the senders (after the settings changed).
func (s *Service) SetSenders(senders []message.Sender, audiences AudienceUploader) {
	m := map[message.Channel]message.Sender{}
	for _, snd := range senders {
		m[snd.Channel()] = snd
	}
	s.smu.Lock()
	s.senders, s.cfg.Audiences = m, audiences
	s.smu.Unlock()
}

// Settings loads the channel settings.
func (s *Service) Settings(ctx context.Context) (*Settings, error) {
	return LoadSettings(ctx, s.cfg.Store)
}

// SaveSettings validates and stores settings.
func (s *Service) SaveSettings(ctx context.Context, set *Settings) error {
	if err := set.Check(); err != nil {
		return err
	}
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return s.cfg.Store.SetSetting(ctx, SettingsKey, string(b))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Outcome is the result of one message of a batch.
type Outcome struct {
	Key       string         `json:"key"`
	MessageID int64          `json:"message_id"`
	Status    string         `json:"status"`
	Result    message.Result `json:"result"`
	Err       error          `json:"-"`
}

// Send sends one message: recorded under its key, checked, rendered,
// rate-limited, sent and recorded. A key already used returns
// ErrDuplicate; a compliance stop returns a *BlockedError (ErrBlocked); a
// transient provider failure is scheduled for retry and returned (not
// permanent); a permanent one is recorded and returned wrapping
// message.ErrPermanent.
func (s *Service) Send(ctx context.Context, o message.Outgoing) (message.Result, error) {
	out := s.SendBatch(ctx, []message.Outgoing{o})
	return out[0].Result, out[0].Err
}

// validate checks an Outgoing's fields.
func validate(o *message.Outgoing) error {
	if strings.TrimSpace(o.Key) == "" {
		return invalid("key", "required: an exactly-once key such as journey:12:step:3:customer:45")
	}
	if len(o.Key) > 200 {
		return invalid("key", "at most 200 characters")
	}
	if o.CustomerID <= 0 {
		return invalid("customer_id", "required")
	}
	if !knownChannel(o.Channel) {
		return invalid("channel", "%q is not a channel", o.Channel)
	}
	if o.Purpose == "" {
		o.Purpose = message.Marketing
	}
	if o.Purpose != message.Marketing && o.Purpose != message.Transactional {
		return invalid("purpose", "marketing or transactional")
	}
	if o.TemplateID < 0 || (o.TemplateID == 0 && o.Vars["content"] == nil) {
		return invalid("template_id", "required (or inline content in vars.content)")
	}
	return nil
}

func knownChannel(ch message.Channel) bool {
	switch ch {
	case message.Email, message.LINE, message.SMS, message.Push, message.OnSite, message.Webhook, message.DM:
		return true
	}
	return false
}

// job is one message in flight through a batch.
type job struct {
	i         int
	o         message.Outgoing
	recipient *Recipient
	tpl       *content.Compiled
	claim     Claimed
	rendered  message.Rendered
	blocked   string
	err       error
	result    message.Result
	upd       Update
}

// SendBatch sends many messages: one transaction records them all, the
// customers are read at once, and the provider calls run concurrently
// within the channel's rate limit. Each message has its own Outcome.
func (s *Service) SendBatch(ctx context.Context, batch []message.Outgoing) []Outcome {
	out := make([]Outcome, len(batch))
	now := s.cfg.Clock.Now()
	var claims []Claim
	var idx []int
	for i := range batch {
		o := batch[i]
		out[i].Key = o.Key
		if err := validate(&o); err != nil {
			out[i].Err, out[i].Status = err, ""
			continue
		}
		batch[i] = o
		vars, err := json.Marshal(o.Vars)
		if err != nil {
			out[i].Err = invalid("vars", "not JSON-encodable: %v", err)
			continue
		}
		c := Claim{Key: o.Key, CustomerID: o.CustomerID, Channel: o.Channel, Purpose: o.Purpose, TemplateID: o.TemplateID,
			Source: o.Source, Vars: vars, Status: StatusSending}
		if o.NotBefore.After(now) {
			c.Status, c.NextAt = StatusScheduled, o.NotBefore
		}
		claims = append(claims, c)
		idx = append(idx, i)
	}
	if len(claims) == 0 {
		return out
	}
	claimed, err := s.cfg.Store.ClaimSends(ctx, claims, now)
	if err != nil {
		for _, i := range idx {
			out[i].Err = fmt.Errorf("record send: %w", err)
		}
		return out
	}
	var jobs []*job
	for j, i := range idx {
		c := claimed[j]
		out[i].MessageID, out[i].Status = c.MessageID, c.Status
		switch {
		case !c.New:
			out[i].Err = fmt.Errorf("message %s: %w (status %s)", batch[i].Key, ErrDuplicate, c.Status)
			out[i].Result = message.Result{ProviderID: c.ProviderID, Status: c.Status}
		case claims[j].Status == StatusScheduled && c.Status != StatusRetry && c.Status != StatusScheduled:
			out[i].Status = StatusScheduled
		default:
			jobs = append(jobs, &job{i: i, o: batch[i], claim: c})
		}
	}
	s.run(ctx, jobs)
	for _, j := range jobs {
		out[j.i].Status, out[j.i].Result, out[j.i].Err = j.upd.Status, j.result, j.err
	}
	return out
}

// run prepares, sends and records jobs (all claimed by this process).
func (s *Service) run(ctx context.Context, jobs []*job) {
	if len(jobs) == 0 {
		return
	}
	now := s.cfg.Clock.Now()
	set, err := s.Settings(ctx)
	if err == nil {
		err = s.prepare(ctx, set, jobs, now)
	}
	if err != nil {
		// Nothing was sent: leave the sends for a retry.
		for _, j := range jobs {
			j.err = err
			j.upd = Update{MessageID: j.claim.MessageID, Status: StatusRetry, Error: err.Error(), NextAt: now.Add(time.Minute)}
		}
		s.record(ctx, jobs)
		return
	}
	byChannel := map[message.Channel][]*job{}
	for _, j := range jobs {
		if j.upd.Status == "" {
			byChannel[j.o.Channel] = append(byChannel[j.o.Channel], j)
		}
	}
	for ch, js := range byChannel {
		s.deliver(ctx, set, ch, js)
	}
	s.record(ctx, jobs)
}

// record writes every job's outcome in one transaction.
func (s *Service) record(ctx context.Context, jobs []*job) {
	ups := make([]Update, 0, len(jobs))
	for _, j := range jobs {
		if j.upd.MessageID != 0 {
			ups = append(ups, j.upd)
		}
	}
	// Outcomes are recorded even when the caller's context ends: a send
	// the provider accepted must not be left looking unsent.
	rctx := context.WithoutCancel(ctx)
	if err := s.cfg.Store.UpdateSends(rctx, ups); err != nil {
		s.cfg.Log.Error("record send outcomes", "count", len(ups), "err", err)
		for _, j := range jobs {
			if j.err == nil {
				j.err = fmt.Errorf("sent, but recording the outcome failed: %w", err)
			}
		}
	}
}

// prepare checks compliance and renders every job; jobs that must not be
// sent get their final Update.
func (s *Service) prepare(ctx context.Context, set *Settings, jobs []*job, now time.Time) error {
	byChannel := map[message.Channel][]int64{}
	for _, j := range jobs {
		byChannel[j.o.Channel] = append(byChannel[j.o.Channel], j.o.CustomerID)
	}
	recips := map[message.Channel]map[int64]*Recipient{}
	for ch, ids := range byChannel {
		r, err := s.cfg.Store.Recipients(ctx, ch, ids)
		if err != nil {
			return fmt.Errorf("load recipients: %w", err)
		}
		recips[ch] = r
	}
	addrs := map[message.Channel][]string{}
	for _, j := range jobs {
		r := recips[j.o.Channel][j.o.CustomerID]
		if r == nil {
			j.block(ReasonInactive, now)
			continue
		}
		j.rendered.To = address(set, j.o.Channel, r)
		if j.rendered.To != "" {
			addrs[j.o.Channel] = append(addrs[j.o.Channel], j.rendered.To)
		}
	}
	if s.cfg.Exclusions != nil {
		var marketing []int64
		for _, j := range jobs {
			if j.upd.Status == "" && j.o.Purpose == message.Marketing {
				marketing = append(marketing, j.o.CustomerID)
			}
		}
		if len(marketing) > 0 {
			ex, err := s.cfg.Exclusions.ExcludedFromCampaigns(ctx, marketing)
			if err != nil {
				return fmt.Errorf("check campaign exclusions: %w", err)
			}
			for _, j := range jobs {
				if j.upd.Status == "" && j.o.Purpose == message.Marketing && ex[j.o.CustomerID] {
					j.block(ReasonOpenInquiry, now)
				}
			}
		}
	}
	compiled := map[int64]*content.Compiled{}
	templates := func(id int64) (*content.Compiled, error) {
		if c, ok := compiled[id]; ok {
			return c, nil
		}
		c, err := s.compiled(ctx, id)
		if err != nil {
			return nil, err
		}
		compiled[id] = c
		return c, nil
	}
	supp := map[message.Channel]map[string]string{}
	for ch, a := range addrs {
		m, err := s.cfg.Store.Suppressed(ctx, ch, a)
		if err != nil {
			return fmt.Errorf("check suppression list: %w", err)
		}
		supp[ch] = m
	}
	for _, j := range jobs {
		if j.upd.Status != "" {
			continue
		}
		r := recips[j.o.Channel][j.o.CustomerID]
		if reason := Eligibility(j.o.Channel, j.o.Purpose, r.Consent, j.rendered.To, supp[j.o.Channel][j.rendered.To]); reason != "" {
			j.block(reason, now)
			j.upd.Address = j.rendered.To
			continue
		}
		if _, ok := s.sender(j.o.Channel); !ok {
			j.block(ReasonNotConfigred, now)
			continue
		}
		if j.o.Purpose == message.Marketing && (j.o.Channel == message.Email || j.o.Channel == message.SMS) {
			if missing := set.FooterReady(); len(missing) > 0 {
				j.fail(fmt.Errorf("marketing %s cannot be sent until the sender's details are set: %s", j.o.Channel, strings.Join(missing, ", ")), now)
				continue
			}
		}
		// Rendering happens in deliver's workers, in parallel; the
		// template is compiled (or taken from the cache) once per batch.
		var c *content.Compiled
		var err error
		if j.o.TemplateID == 0 {
			var t *content.Template
			if t, err = inline(j.o.Channel, j.o.Purpose, j.o.Vars); err == nil {
				c, err = s.compileInline(t)
			}
		} else {
			c, err = templates(j.o.TemplateID)
		}
		if err != nil {
			j.fail(fmt.Errorf("template %d: %w", j.o.TemplateID, err), now)
			continue
		}
		j.recipient, j.tpl = r, c
	}
	return nil
}

func (j *job) block(reason string, now time.Time) {
	j.blocked = reason
	j.err = &BlockedError{Reason: reason}
	j.upd = Update{MessageID: j.claim.MessageID, Status: StatusBlocked, Error: reason}
}

func (j *job) fail(err error, now time.Time) {
	j.err = message.Permanent(err)
	j.upd = Update{MessageID: j.claim.MessageID, Status: StatusFailed, Error: err.Error(), Address: j.rendered.To}
}

// address is the customer's address on a channel ("" when they have none).
func address(set *Settings, ch message.Channel, r *Recipient) string {
	c := &r.Customer
	switch ch {
	case message.Email:
		return c.Email
	case message.SMS:
		return c.Phone
	case message.LINE:
		return r.LINEUserID
	case message.Push:
		if len(r.Push) == 0 {
			return ""
		}
		return "push:" + strconv.Itoa(len(r.Push))
	case message.OnSite:
		return "onsite"
	case message.Webhook:
		return set.Webhook.URL
	case message.DM:
		if c.PostalCode == "" || c.Prefecture == "" || c.Address1 == "" {
			return ""
		}
		return strings.TrimSpace("〒" + c.PostalCode + " " + c.Prefecture + c.City + c.Address1 + " " + c.Address2)
	}
	return ""
}

// compiled returns the template, compiled once per version.
func (s *Service) compiled(ctx context.Context, id int64) (*content.Compiled, error) {
	t, err := s.cfg.Store.Template(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ct := s.templates[id]
	s.mu.Unlock()
	if ct != nil && ct.version == t.Version && ct.updated.Equal(t.UpdatedAt) {
		return ct.c, nil
	}
	c, err := s.cfg.Engine.Compile(t)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.templates[id] = &cachedTemplate{version: t.Version, updated: t.UpdatedAt, c: c}
	s.mu.Unlock()
	return c, nil
}

// mergeData assembles a customer's merge fields.
func (s *Service) mergeData(ctx context.Context, set *Settings, r *Recipient, vars map[string]any, now time.Time, tpl *content.Compiled) (content.Data, error) {
	c := &r.Customer
	d := content.Data{CustomerID: c.ID, LastName: c.LastName, FirstName: c.FirstName, Email: c.Email, Prefecture: c.Prefecture,
		OrderCount: c.OrderCount, TotalSpent: c.TotalSpent, LastPurchase: r.LastPurchase, Shop: set.Shop, Vars: vars}
	if c.LastOrderAt != nil {
		days := clock.DaysBetween(*c.LastOrderAt, now)
		d.DaysSinceLastPurchase = &days
	}
	if s.cfg.Recommender != nil && tpl.NeedsRecommendations {
		recs, err := s.cfg.Recommender.Recommend(ctx, c.ID, 6)
		if err != nil {
			return d, fmt.Errorf("recommendations: %w", err)
		}
		d.Recommended = recs
	}
	if s.cfg.Loyalty != nil && tpl.NeedsPoints {
		bal, rank, err := s.cfg.Loyalty.PointsAndRank(ctx, c.ID)
		if err != nil {
			return d, fmt.Errorf("points: %w", err)
		}
		d.PointsBalance, d.Rank = bal, rank
	}
	if code, ok := vars["coupon_code"].(string); ok {
		d.CouponCode = code
	}
	if s.cfg.Reviews != nil && tpl.NeedsReview && r.LastPurchase != nil {
		u, err := s.cfg.Reviews.ReviewURL(ctx, r.LastPurchase.SKU, r.LastPurchase.OrderRef)
		if err != nil {
			return d, fmt.Errorf("review link: %w", err)
		}
		d.ReviewURL = u
	}
	if s.cfg.Surveys != nil && tpl.NeedsSurvey && set.BaseURL != "" {
		if id, ok := surveyID(vars["survey_id"]); ok {
			u, err := s.cfg.Surveys.SurveyURL(ctx, set.BaseURL, id, c.ID, "message")
			if err != nil {
				return d, fmt.Errorf("survey link: %w", err)
			}
			d.SurveyURL = u
		}
	}
	return d, nil
}

// surveyID reads vars.survey_id (a number, or a number in a string).
func surveyID(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, x > 0
	case int:
		return int64(x), x > 0
	case float64:
		return int64(x), x > 0 && x == float64(int64(x))
	case json.Number:
		n, err := x.Int64()
		return n, err == nil && n > 0
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil && n > 0
	}
	return 0, false
}

// render fills j.rendered: content, tracked links, compliance headers.
func (s *Service) render(ctx context.Context, set *Settings, j *job, r *Recipient, now time.Time) error {
	c := j.tpl
	d, err := s.mergeData(ctx, set, r, j.o.Vars, now, c)
	if err != nil {
		return err
	}
	links := tracking.Links{Base: set.BaseURL, Signer: s.signer}
	id := j.claim.MessageID
	unsub := ""
	if set.BaseURL != "" && id > 0 {
		unsub = links.Unsubscribe(id)
	}
	d.UnsubscribeURL = unsub
	d.Footer = j.o.Purpose == message.Marketing
	outp, err := c.Render(j.o.Channel, &d)
	if err != nil {
		return err
	}
	j.rendered.Outgoing = j.o
	return s.finish(set, &j.rendered, outp, r, id, unsub)
}

// shopHosts are the shop's own hosts: its site, the hosts given UTM tags,
// and enishi's public address.
func shopHosts(set *Settings) []string {
	hosts := append([]string(nil), set.UTMHosts...)
	for _, raw := range []string{set.Shop.URL, set.BaseURL} {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	return hosts
}

// finish turns rendered content into what the channel's Sender takes.
func (s *Service) finish(set *Settings, rd *message.Rendered, outp *content.Output, r *Recipient, id int64, unsub string) error {
	var rw *tracking.Rewriter
	if set.BaseURL != "" && id > 0 {
		rw = &tracking.Rewriter{Links: tracking.Links{Base: set.BaseURL, Signer: s.signer}, MessageID: id, UTMHosts: set.UTMHosts,
			UTM:  tracking.UTM{Source: "enishi", Medium: string(rd.Channel), Campaign: utmCampaign(rd.Source), Content: strconv.FormatInt(rd.TemplateID, 10)},
			Skip: []string{set.BaseURL + "/u/"}, TextTrusted: tracking.Trusted(shopHosts(set), outp.TemplateURLs)}
	}
	text := func(t string) string {
		if rw == nil {
			return t
		}
		return rw.Text(t)
	}
	rd.Subject = outp.Subject
	switch rd.Channel {
	case message.Email:
		rd.HTML, rd.Text = outp.HTML, outp.Text
		if rw != nil {
			rd.HTML = tracking.AddPixel(rw.HTML(rd.HTML), rw.Links.Open(id))
			rd.Text = rw.Text(rd.Text)
		}
		rd.Headers = map[string]string{}
		if unsub != "" {
			rd.Headers["List-Unsubscribe"] = "<" + unsub + ">"
			rd.Headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
		}
	case message.SMS:
		rd.Text = text(outp.Text)
		if rd.Purpose == message.Marketing {
			rd.Text += "\n" + set.Shop.Name + " 配信停止はSTOPと返信"
		}
	case message.LINE:
		msgs := make([]content.LINEMessage, len(outp.LINE))
		for i, m := range outp.LINE {
			m.Text = text(m.Text)
			msgs[i] = m
		}
		b, err := json.Marshal(msgs)
		if err != nil {
			return err
		}
		rd.Payload = b
		rd.Text = outp.Text
	case message.Push:
		b, err := json.Marshal(map[string]any{"title": outp.Subject, "body": outp.Text, "url": text(outp.URL), "icon": outp.ImageURL,
			"subscriptions": r.Push})
		if err != nil {
			return err
		}
		rd.Payload, rd.Text = b, outp.Text
	case message.OnSite:
		rd.Text, rd.HTML = text(outp.Text), outp.HTML
		b, err := json.Marshal(map[string]any{"title": outp.Subject, "text": rd.Text, "html": outp.HTML, "url": text(outp.URL), "image_url": outp.ImageURL})
		if err != nil {
			return err
		}
		rd.Payload = b
	case message.Webhook:
		b, err := json.Marshal(map[string]any{"message_id": id, "key": rd.Key, "customer_id": rd.CustomerID, "source": rd.Source,
			"purpose": rd.Purpose, "template_id": rd.TemplateID, "data": outp.Payload})
		if err != nil {
			return err
		}
		rd.Payload = b
	case message.DM:
		rd.Text = outp.Text
	}
	return nil
}

// utmCampaign names a source for utm_campaign: "journey:12:step:3" →
// "journey-12-step-3".
func utmCampaign(source string) string {
	if source == "" {
		return "enishi"
	}
	return strings.ReplaceAll(source, ":", "-")
}

// deliver sends a channel's prepared jobs within its rate limit.
func (s *Service) deliver(ctx context.Context, set *Settings, ch message.Channel, jobs []*job) {
	snd, _ := s.sender(ch)
	now := s.cfg.Clock.Now()
	if err := s.wait(ctx, set, ch, len(jobs)); err != nil {
		for _, j := range jobs {
			j.err = err
			j.upd = Update{MessageID: j.claim.MessageID, Status: StatusRetry, Error: err.Error(), NextAt: now.Add(time.Minute), Address: j.rendered.To}
		}
		return
	}
	render := func(j *job) bool {
		if err := s.render(ctx, set, j, j.recipient, now); err != nil {
			j.fail(fmt.Errorf("render template %d: %w", j.o.TemplateID, err), now)
			return false
		}
		return true
	}
	if g, ok := snd.(GroupSender); ok && len(jobs) > 1 {
		// Render all first: identical content goes out in one call.
		var ok []*job
		s.parallel(jobs, func(j *job) {
			render(j)
		})
		for _, j := range jobs {
			if j.upd.Status == "" {
				ok = append(ok, j)
			}
		}
		rest := s.sendGroups(ctx, set, g, ok)
		s.parallel(rest, func(j *job) { s.sendOne(ctx, set, snd, j) })
		return
	}
	s.parallel(jobs, func(j *job) {
		if render(j) {
			s.sendOne(ctx, set, snd, j)
		}
	})
}

// parallel runs fn for every job on the service's workers.
func (s *Service) parallel(jobs []*job, fn func(*job)) {
	work := make(chan *job)
	var wg sync.WaitGroup
	for w := 0; w < min(s.cfg.Workers, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				fn(j)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
}

// sendOne calls the provider, retrying transient failures a few times
// at once, and sets the job's outcome.
func (s *Service) sendOne(ctx context.Context, set *Settings, snd message.Sender, j *job) {
	var res message.Result
	var err error
	for attempt := 0; ; attempt++ {
		res, err = snd.Send(ctx, j.rendered)
		if err == nil || message.IsPermanent(err) || attempt >= s.cfg.ImmediateRetries || ctx.Err() != nil {
			break
		}
		if s.cfg.Sleep(ctx, time.Duration(250<<(2*attempt))*time.Millisecond) != nil {
			break
		}
	}
	s.outcome(set, j, provider(snd), res, err)
}

// outcome sets a job's Update from a provider's answer.
func (s *Service) outcome(set *Settings, j *job, prov string, res message.Result, err error) {
	now := s.cfg.Clock.Now()
	j.result = res
	u := Update{MessageID: j.claim.MessageID, Address: j.rendered.To, Subject: j.rendered.Subject, Provider: prov, Attempt: true}
	switch {
	case err == nil:
		u.Status, u.ProviderID, u.SentAt = StatusSent, res.ProviderID, now
		if res.Status == StatusDelivered {
			u.Status = StatusDelivered
		}
	case message.IsPermanent(err):
		u.Status, u.Error = StatusFailed, err.Error()
		j.err = err
	default:
		attempts := j.claim.Attempts + 1
		if attempts >= set.maxAttempts() {
			u.Status, u.Error = StatusFailed, fmt.Sprintf("gave up after %d attempts: %v", attempts, err)
			j.err = message.Permanent(err)
		} else {
			u.Status, u.Error, u.NextAt = StatusRetry, err.Error(), now.Add(Backoff(attempts))
			j.err = err
		}
	}
	j.upd = u
}

// Backoff is the wait before retry number n (1-based) of a transient
// failure: 1, 5, 30 minutes, then 2 and 6 hours.
func Backoff(n int) time.Duration {
	steps := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}
	if n < 1 {
		n = 1
	}
	if n > len(steps) {
		n = len(steps)
	}
	return steps[n-1]
}

// ProviderNamer is implemented by senders that name their provider
// ("smtp", "twilio" …) for the message record.
type ProviderNamer interface{ Provider() string }

func provider(snd message.Sender) string {
	if p, ok := snd.(ProviderNamer); ok {
		return p.Provider()
	}
	return string(snd.Channel())
}

// GroupSender is implemented by senders that can deliver the same content
// to many recipients in one call (LINE multicast).
type GroupSender interface {
	message.Sender
	// SendGroup sends r's content to every address of to; retryKey makes
	// a repeated call idempotent.
	SendGroup(ctx context.Context, to []string, r message.Rendered, retryKey string) error
}

// sendGroups sends jobs whose rendered content is identical in groups and
// returns the jobs left for one-by-one sending.
func (s *Service) sendGroups(ctx context.Context, set *Settings, g GroupSender, jobs []*job) []*job {
	groups := map[string][]*job{}
	var order []string
	for _, j := range jobs {
		k := string(j.rendered.Payload) + "\x00" + j.rendered.Text + "\x00" + j.rendered.Subject
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], j)
	}
	var rest []*job
	for _, k := range order {
		js := groups[k]
		if len(js) < 2 {
			rest = append(rest, js...)
			continue
		}
		to := make([]string, len(js))
		keys := make([]string, len(js))
		for i, j := range js {
			to[i], keys[i] = j.rendered.To, j.o.Key
		}
		err := g.SendGroup(ctx, to, js[0].rendered, strings.Join(keys, "\n"))
		for _, j := range js {
			s.outcome(set, j, provider(g), message.Result{Status: StatusSent}, err)
		}
	}
	return rest
}

// wait takes n tokens from the channel's shared bucket, sleeping while the
// bucket refills.
func (s *Service) wait(ctx context.Context, set *Settings, ch message.Channel, n int) error {
	rate := set.RatePerMinute(ch)
	if rate <= 0 {
		return nil
	}
	burst := max(rate/6, 1) // ten seconds' worth
	need := n
	for need > 0 {
		got, err := s.cfg.Store.TakeTokens(ctx, "channel:"+string(ch), min(need, int(burst)), rate, burst, s.cfg.Clock.Now())
		if err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		need -= got
		if need > 0 {
			wait := time.Duration(float64(time.Minute) / rate * float64(min(need, int(burst))))
			if err := s.cfg.Sleep(ctx, max(wait, 10*time.Millisecond)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunDue sends what is due: scheduled sends whose time came, retries of
// transient failures, and settles sends a stopped process left "sending"
// (resent only through providers that de-duplicate, LINE; marked unknown
// otherwise, so that no one gets a message twice). It returns how many
// sends it handled.
func (s *Service) RunDue(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 500
	}
	now := s.cfg.Clock.Now()
	recs, err := s.cfg.Store.DueSends(ctx, now, now.Add(-10*time.Minute), limit)
	if err != nil {
		return 0, err
	}
	var batch []message.Outgoing
	var stale []Update
	for _, r := range recs {
		if r.Status == StatusSending {
			if r.Channel != message.LINE {
				stale = append(stale, Update{MessageID: r.ID, Status: StatusUnknown, Error: "the sending process stopped before the provider answered; not resent to avoid a duplicate"})
				continue
			}
		}
		batch = append(batch, r.Outgoing())
	}
	if len(stale) > 0 {
		if err := s.cfg.Store.UpdateSends(ctx, stale); err != nil {
			return 0, err
		}
	}
	if len(batch) > 0 {
		s.SendBatch(ctx, batch)
	}
	return len(recs), nil
}

// Work runs RunDue every interval until ctx ends (serve starts it).
func (s *Service) Work(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.RunDue(ctx, 500); err != nil && !errors.Is(err, context.Canceled) {
			s.cfg.Log.Error("due sends", "err", err)
		} else if n == 500 {
			continue // more are due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Preview renders a template's variant for a customer as it would be sent
// (without tracking), ignoring consent.
func (s *Service) Preview(ctx context.Context, templateID, customerID int64, ch message.Channel, vars map[string]any) (*content.Output, error) {
	c, err := s.compiled(ctx, templateID)
	if err != nil {
		return nil, err
	}
	return s.previewFor(ctx, c, customerID, ch, vars)
}

// previewFor renders a compiled template for a customer as it would be
// sent, without tracking (the unsubscribe link goes to a preview page).
func (s *Service) previewFor(ctx context.Context, c *content.Compiled, customerID int64, ch message.Channel, vars map[string]any) (*content.Output, error) {
	set, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := s.cfg.Store.Recipients(ctx, ch, []int64{customerID})
	if err != nil {
		return nil, err
	}
	r := rs[customerID]
	if r == nil {
		return nil, errs.Errorf(errs.NotFound, "customer %d not found", customerID)
	}
	d, err := s.mergeData(ctx, set, r, vars, s.cfg.Clock.Now(), c)
	if err != nil {
		return nil, err
	}
	d.Footer = c.Template.Purpose == message.Marketing
	if set.BaseURL != "" {
		d.UnsubscribeURL = set.BaseURL + "/u/preview"
	}
	return c.Render(ch, &d)
}

// TestSend sends a template, rendered for a customer (or the sample
// customer when customerID is 0), to a staff address. It is not recorded
// as a send to the customer, carries no tracking, and its subject is
// marked [テスト].
func (s *Service) TestSend(ctx context.Context, templateID, customerID int64, ch message.Channel, to string) (message.Result, error) {
	snd, ok := s.sender(ch)
	if !ok {
		return message.Result{}, errs.Errorf(errs.Invalid, "the %s channel is not configured", ch)
	}
	if strings.TrimSpace(to) == "" {
		return message.Result{}, errs.FieldErrorf("to", "required: the address to send the test to")
	}
	set, err := s.Settings(ctx)
	if err != nil {
		return message.Result{}, err
	}
	c, err := s.compiled(ctx, templateID)
	if err != nil {
		return message.Result{}, err
	}
	var d content.Data
	r := &Recipient{}
	if customerID > 0 {
		rs, err := s.cfg.Store.Recipients(ctx, ch, []int64{customerID})
		if err != nil {
			return message.Result{}, err
		}
		if r = rs[customerID]; r == nil {
			return message.Result{}, errs.Errorf(errs.NotFound, "customer %d not found", customerID)
		}
		if d, err = s.mergeData(ctx, set, r, nil, s.cfg.Clock.Now(), c); err != nil {
			return message.Result{}, err
		}
	} else {
		d = content.SampleData(set.Shop)
	}
	d.Footer = c.Template.Purpose == message.Marketing
	d.UnsubscribeURL = strings.TrimRight(set.BaseURL, "/") + "/u/test"
	outp, err := c.Render(ch, &d)
	if err != nil {
		return message.Result{}, err
	}
	rd := message.Rendered{Outgoing: message.Outgoing{Key: "test:" + hex.EncodeToString(randBytes(8)), CustomerID: customerID, Channel: ch,
		Purpose: message.Transactional, TemplateID: templateID, Source: "test"}, To: to}
	if err := s.finish(set, &rd, outp, r, 0, ""); err != nil {
		return message.Result{}, err
	}
	rd.Subject = "[テスト] " + rd.Subject
	return snd.Send(ctx, rd)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

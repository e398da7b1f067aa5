package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
)

// journeyRow is one line of the journey list.
type journeyRow struct {
	J     journey.Journey
	Stats *journey.Stats
}

type journeysPage struct {
	*base
	Journeys []journeyRow
}

// journeys lists the journeys with their status and counters.
func (u *UI) journeys(w http.ResponseWriter, r *http.Request) error {
	list, err := u.cfg.Store.Journeys(r.Context())
	if err != nil {
		return err
	}
	pg := &journeysPage{base: u.newBase(r, "journeys", "journeys.title")}
	for _, j := range list {
		if j.Status == journey.Archived && r.URL.Query().Get("archived") == "" {
			continue
		}
		st, err := u.cfg.Store.JourneyStats(r.Context(), j.ID)
		if err != nil {
			return err
		}
		pg.Journeys = append(pg.Journeys, journeyRow{J: j, Stats: st})
	}
	return u.render(w, r, http.StatusOK, "journeys", pg)
}

// galleryPage is the template library to start a journey from.
type galleryPage struct {
	*base
	Templates []journey.TemplateInfo
	Segments  []segment.Segment
	Channels  []message.Channel
	Form      map[string]string // what was typed, on a refused form
}

// NeedsCoupon and NeedsSegment say which parameters a template asks for.
func (p *galleryPage) NeedsCoupon(t journey.TemplateInfo) bool {
	return contains(t.Needs, "coupon_campaign_id or coupon_code")
}

// NeedsSegment reports whether the template is triggered by a segment.
func (p *galleryPage) NeedsSegment(t journey.TemplateInfo) bool {
	return contains(t.Needs, "segment_id")
}

// journeyChannels are the channels a journey's sends may use from the gallery.
var journeyChannels = []message.Channel{message.Email, message.LINE, message.SMS}

func (u *UI) journeyGallery(w http.ResponseWriter, r *http.Request) error {
	return u.showGallery(w, r, http.StatusOK, nil)
}

func (u *UI) showGallery(w http.ResponseWriter, r *http.Request, status int, form map[string]string) error {
	segs, err := u.cfg.Store.Segments(r.Context())
	if err != nil {
		return err
	}
	pg := &galleryPage{base: u.newBase(r, "journeys", "journeys.new"), Templates: journey.Templates(), Segments: segs, Channels: journeyChannels, Form: form}
	if form != nil {
		pg.Error = form["error"]
	}
	return u.render(w, r, status, "journey_gallery", pg)
}

// createJourney makes a draft journey from a template of the library.
func (u *UI) createJourney(w http.ResponseWriter, r *http.Request) error {
	key := r.PostFormValue("template")
	p := journey.TemplateParams{Name: strings.TrimSpace(r.PostFormValue("name")), Channel: message.Channel(r.PostFormValue("channel")),
		CouponCode: strings.TrimSpace(r.PostFormValue("coupon_code"))}
	p.CouponCampaignID, _ = strconv.ParseInt(r.PostFormValue("coupon_campaign_id"), 10, 64)
	p.SegmentID, _ = strconv.ParseInt(r.PostFormValue("segment_id"), 10, 64)
	j, err := journey.FromTemplate(key, p)
	var created *journey.Journey
	if err == nil {
		j.CreatedBy = principal(r).Actor()
		created, err = u.cfg.Store.CreateJourney(r.Context(), j)
	}
	if err != nil {
		if !isValidation(err) {
			return err
		}
		form := map[string]string{"template": key, "name": p.Name, "coupon_code": p.CouponCode, "error": u.localeFor(r).errorText(err)}
		return u.showGallery(w, r, http.StatusUnprocessableEntity, form)
	}
	if err := u.api.Audit(r, "journey.create", "journey:"+strconv.FormatInt(created.ID, 10), created.Name); err != nil {
		return err
	}
	return redirect(w, r, "/journeys/"+strconv.FormatInt(created.ID, 10), "journey_created")
}

// journeyPage is the flow of one journey with its counters.
type journeyPage struct {
	*base
	J         *journey.Journey
	Stats     *journey.Stats
	byStep    map[string]journey.StepStats
	Segments  map[int64]string
	Templates []content.Template
	StepTypes []string
	JSON      string // the definition, for the JSON editor
	// Open is the step whose edit form is open after a refused change.
	Open string
}

// StepStats returns a step's counters.
func (p *journeyPage) StepStats(id string) journey.StepStats { return p.byStep[id] }

// StepName is a step's name, or its id.
func (p *journeyPage) StepName(id string) string {
	if id == "" {
		return p.T("journeys.end")
	}
	if s, ok := p.J.Step(id); ok && s.Name != "" {
		return s.Name
	}
	return id
}

// Linear reports whether step i simply flows into step i+1 (the arrow
// between their boxes is the whole story).
func (p *journeyPage) Linear(i int) bool {
	s := p.J.Steps[i]
	return i+1 < len(p.J.Steps) && s.Next == p.J.Steps[i+1].ID && s.Else == "" && s.TimeoutNext == "" && len(s.Variants) == 0
}

// Summary is a one-line description of a step's settings.
func (p *journeyPage) Summary(s journey.Step) string {
	var parts []string
	switch s.Type {
	case journey.StepWait:
		if s.Duration.Duration > 0 {
			parts = append(parts, p.T("journeys.wait_duration", s.Duration.String()))
		}
		if s.Days > 0 {
			parts = append(parts, p.T("journeys.wait_days", s.Days))
		}
		if s.At != "" {
			parts = append(parts, p.T("journeys.wait_at", s.At))
		}
		if s.Until != "" {
			parts = append(parts, p.T("journeys.wait_until", s.Until))
		}
		if s.From == "entry" {
			parts = append(parts, p.T("journeys.from_entry"))
		}
	case journey.StepWaitEvent:
		parts = append(parts, p.T("journeys.wait_event", s.Event))
		if s.Timeout.Duration > 0 {
			parts = append(parts, p.T("journeys.timeout", s.Timeout.String()))
		}
	case journey.StepWaitCondition, journey.StepBranch, journey.StepGoal:
		if s.Condition != nil {
			parts = append(parts, s.Condition.JSON())
		}
		if s.Engagement != nil {
			parts = append(parts, p.T("journeys.engagement", s.Engagement.Step, s.Engagement.Kind))
		}
	case journey.StepSend, journey.StepWebhook:
		parts = append(parts, p.Label("channel.", s.Channel))
		if s.Content != nil && s.Content.Subject != "" {
			parts = append(parts, "「"+s.Content.Subject+"」")
		}
		if s.TemplateID > 0 {
			parts = append(parts, p.T("journeys.template_no", s.TemplateID))
		}
	case journey.StepCoupon:
		parts = append(parts, p.T("journeys.coupon_campaign", s.CouponCampaignID))
	case journey.StepPoints:
		parts = append(parts, p.T("journeys.points", s.Points, s.Reason))
	case journey.StepTag:
		if len(s.AddTags) > 0 {
			parts = append(parts, "+"+strings.Join(s.AddTags, ", +"))
		}
		if len(s.RemoveTags) > 0 {
			parts = append(parts, "−"+strings.Join(s.RemoveTags, ", −"))
		}
	case journey.StepAttribute:
		parts = append(parts, s.Attribute+" = "+s.Value)
	}
	return strings.Join(parts, " · ")
}

// TriggerSummary describes what enrolls customers.
func (p *journeyPage) TriggerSummary() string {
	t := p.J.Trigger
	s := p.Label("trigger.", t.Type)
	switch t.Type {
	case journey.TriggerEvent, journey.TriggerDaysSinceEvent:
		s += ": " + t.Event
	case journey.TriggerSegmentEnter, journey.TriggerSegmentExit:
		s += ": " + p.Segments[t.SegmentID]
	case journey.TriggerOrder:
		if t.Nth > 0 {
			s += ": " + p.T("journeys.nth_order", t.Nth)
		}
	case journey.TriggerDate:
		s += ": " + p.Label("trigger_date.", t.Date) + " " + t.At
	}
	if t.Days > 0 {
		s += " · " + p.T("journeys.days_n", t.Days)
	}
	return s
}

// journeyStepTypes are the step types the add-step form offers.
var journeyStepTypes = []string{journey.StepWait, journey.StepSend, journey.StepBranch, journey.StepWaitEvent, journey.StepSplit,
	journey.StepCoupon, journey.StepPoints, journey.StepTag, journey.StepGoal, journey.StepExit}

func (u *UI) journeyShow(w http.ResponseWriter, r *http.Request) error {
	j, err := u.journeyFromPath(r)
	if err != nil {
		return err
	}
	return u.showJourney(w, r, http.StatusOK, j, "", "")
}

func (u *UI) journeyFromPath(r *http.Request) (*journey.Journey, error) {
	id, err := pathInt(r, "id")
	if err != nil {
		return nil, err
	}
	return u.cfg.Store.Journey(r.Context(), id)
}

func (u *UI) showJourney(w http.ResponseWriter, r *http.Request, status int, j *journey.Journey, open, msg string) error {
	ctx := r.Context()
	st, err := u.cfg.Store.JourneyStats(ctx, j.ID)
	if err != nil {
		return err
	}
	pg := &journeyPage{base: u.newBase(r, "journeys", "journeys.show", j.Name), J: j, Stats: st, byStep: map[string]journey.StepStats{},
		Segments: map[int64]string{}, StepTypes: journeyStepTypes, Open: open}
	pg.Error = msg
	for _, s := range st.Steps {
		pg.byStep[s.Step] = s
	}
	segs, err := u.cfg.Store.Segments(ctx)
	if err != nil {
		return err
	}
	for _, s := range segs {
		pg.Segments[s.ID] = s.Name
	}
	if pg.Can("journeys:write") && pg.Can("campaigns:send") {
		if pg.Templates, err = u.cfg.Store.Templates(ctx); err != nil {
			return err
		}
	}
	def := struct {
		Trigger   journey.Trigger `json:"trigger"`
		Steps     []journey.Step  `json:"steps"`
		Reentry   journey.Reentry `json:"reentry"`
		Goal      *journey.Goal   `json:"goal,omitempty"`
		MaxVisits int             `json:"max_visits,omitempty"`
	}{j.Trigger, j.Steps, j.Reentry, j.Goal, j.MaxVisits}
	b, _ := json.MarshalIndent(def, "", "  ")
	pg.JSON = string(b)
	return u.render(w, r, status, "journey", pg)
}

// journeyStatus enables (starts or resumes), disables (pauses) or
// archives a journey.
func (u *UI) journeyStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	status := r.PostFormValue("status")
	j, err := u.cfg.Store.SetJourneyStatus(r.Context(), id, status)
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "journey."+status, "journey:"+strconv.FormatInt(id, 10), j.Name); err != nil {
		return err
	}
	return redirect(w, r, "/journeys/"+strconv.FormatInt(id, 10), "journey_"+status)
}

// saveJourney stores a changed journey, or shows it again with the reason
// the change was refused (the step's form left open).
func (u *UI) saveJourney(w http.ResponseWriter, r *http.Request, cur, next *journey.Journey, open string) error {
	next.ID = cur.ID
	saved, err := u.cfg.Store.UpdateJourney(r.Context(), *next)
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showJourney(w, r, http.StatusUnprocessableEntity, cur, open, u.localeFor(r).errorText(err))
	}
	if err := u.api.Audit(r, "journey.update", "journey:"+strconv.FormatInt(saved.ID, 10), "version "+strconv.Itoa(saved.Version)); err != nil {
		return err
	}
	return redirect(w, r, "/journeys/"+strconv.FormatInt(saved.ID, 10)+"#step-"+open, "journey_saved")
}

// copyJourney is a deep copy of a journey to change.
func copyJourney(j *journey.Journey) *journey.Journey {
	b, _ := json.Marshal(j)
	var c journey.Journey
	_ = json.Unmarshal(b, &c)
	return &c
}

// editJourneyStep changes one step's settings from its form: the fields
// the step's type shows; anything else stays as it was.
func (u *UI) editJourneyStep(w http.ResponseWriter, r *http.Request) error {
	cur, err := u.journeyFromPath(r)
	if err != nil {
		return err
	}
	next := copyJourney(cur)
	id := r.PathValue("step")
	s, ok := next.Step(id)
	if !ok {
		return errs.Errorf(errs.NotFound, "journey %d has no step %q", cur.ID, id)
	}
	if err := r.ParseForm(); err != nil {
		return errs.Errorf(errs.Invalid, "unreadable form: %v", err)
	}
	if err := applyStepForm(s, r.PostForm); err != nil {
		return u.showJourney(w, r, http.StatusUnprocessableEntity, cur, id, u.localeFor(r).errorText(err))
	}
	return u.saveJourney(w, r, cur, next, id)
}

// applyStepForm copies a step form's fields into s.
func applyStepForm(s *journey.Step, f map[string][]string) error {
	has := func(k string) bool { _, ok := f[k]; return ok }
	get := func(k string) string {
		if v := f[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	dur := func(k string) (journey.Duration, error) {
		d, err := journey.ParseDuration(get(k))
		if err != nil {
			return journey.Duration{}, errs.FieldErrorf(k, "%v", err)
		}
		return journey.Duration{Duration: d}, nil
	}
	num := func(k string) (int64, error) {
		v := strings.ReplaceAll(get(k), ",", "")
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errs.FieldErrorf(k, "%q is not a whole number", v)
		}
		return n, nil
	}
	for k, dst := range map[string]*string{"name": &s.Name, "next": &s.Next, "else": &s.Else, "timeout_next": &s.TimeoutNext,
		"at": &s.At, "from": &s.From, "event": &s.Event, "reason": &s.Reason} {
		if has(k) {
			*dst = get(k)
		}
	}
	for k, dst := range map[string]*journey.Duration{"duration": &s.Duration, "timeout": &s.Timeout} {
		if has(k) {
			d, err := dur(k)
			if err != nil {
				return err
			}
			*dst = d
		}
	}
	for k, dst := range map[string]*int64{"template_id": &s.TemplateID, "coupon_campaign_id": &s.CouponCampaignID, "points": &s.Points} {
		if has(k) {
			n, err := num(k)
			if err != nil {
				return err
			}
			*dst = n
		}
	}
	if has("days") {
		n, err := num("days")
		if err != nil {
			return err
		}
		s.Days = int(n)
	}
	if has("condition") {
		src := get("condition")
		if src == "" {
			s.Condition = nil
		} else {
			c, err := segment.Parse([]byte(src))
			if err != nil {
				return err
			}
			s.Condition = &c
		}
	}
	if has("channel") {
		s.Channel = message.Channel(get("channel"))
	}
	if has("subject") || has("text") {
		if s.TemplateID > 0 {
			s.Content = nil
		} else {
			txt := ""
			if v := f["text"]; len(v) > 0 {
				txt = strings.ReplaceAll(v[0], "\r\n", "\n")
			}
			s.Content = &journey.Content{Subject: get("subject"), Text: txt}
		}
	}
	if has("add_tags") {
		s.AddTags = splitList(get("add_tags"))
	}
	if has("remove_tags") {
		s.RemoveTags = splitList(get("remove_tags"))
	}
	if has("variants") {
		// One variant a line: name weight next ("" next: a holdout).
		s.Variants = nil
		for i, line := range strings.Split(get("variants"), "\n") {
			fs := strings.Fields(line)
			if len(fs) == 0 {
				continue
			}
			if len(fs) < 2 {
				return errs.FieldErrorf(fmt.Sprintf("variants[%d]", i), "write a variant as: name weight next-step")
			}
			w, err := strconv.Atoi(fs[1])
			if err != nil {
				return errs.FieldErrorf(fmt.Sprintf("variants[%d].weight", i), "%q is not a whole number", fs[1])
			}
			v := journey.Variant{Name: fs[0], Weight: w}
			if len(fs) > 2 {
				v.Next = fs[2]
			}
			s.Variants = append(s.Variants, v)
		}
	}
	return nil
}

// addJourneyStep inserts a new step after another (or first), taking over
// where that step led.
func (u *UI) addJourneyStep(w http.ResponseWriter, r *http.Request) error {
	cur, err := u.journeyFromPath(r)
	if err != nil {
		return err
	}
	next := copyJourney(cur)
	typ, after := r.PostFormValue("type"), r.PostFormValue("after")
	id := strings.TrimSpace(r.PostFormValue("id"))
	if id == "" {
		for n := len(next.Steps) + 1; ; n++ {
			if _, taken := next.Step(typ + strconv.Itoa(n)); !taken {
				id = typ + strconv.Itoa(n)
				break
			}
		}
		id = strings.ReplaceAll(id, "_", "-")
	}
	s := journey.Step{ID: id, Type: typ}
	// Sensible starting settings, edited on the flow afterwards.
	switch typ {
	case journey.StepWait:
		s.Duration = journey.Duration{Duration: 24 * time.Hour}
	case journey.StepSend:
		s.Channel, s.Content = message.Email, &journey.Content{Subject: u.localeFor(r).T("journeys.new_subject"), Text: "{{ customer.last_name }}様\n\n"}
	case journey.StepBranch:
		s.Condition = &segment.Condition{Field: "order_count", Op: ">=", Value: json.RawMessage("1")}
	case journey.StepWaitEvent:
		s.Event, s.Timeout = "Order Completed", journey.Duration{Duration: 72 * time.Hour}
	case journey.StepSplit:
		s.Variants = []journey.Variant{{Name: "A", Weight: 50}, {Name: "B", Weight: 50}}
	case journey.StepPoints:
		s.Points, s.Reason = 100, "journey"
	case journey.StepTag:
		s.AddTags = []string{"journey"}
	case journey.StepGoal:
		s.Condition = &segment.Condition{Field: "order_count", Op: ">=", Value: json.RawMessage("1")}
	}
	pos := 0
	if after != "" {
		prev, ok := next.Step(after)
		if !ok {
			return errs.Errorf(errs.NotFound, "journey %d has no step %q", cur.ID, after)
		}
		if typ != journey.StepExit {
			s.Next = prev.Next
		}
		prev.Next = id
		for i := range next.Steps {
			if next.Steps[i].ID == after {
				pos = i + 1
			}
		}
	} else if len(next.Steps) > 0 && typ != journey.StepExit {
		s.Next = next.Steps[0].ID
	}
	if typ == journey.StepSplit {
		for i := range s.Variants {
			s.Variants[i].Next = s.Next
		}
	}
	next.Steps = append(next.Steps[:pos], append([]journey.Step{s}, next.Steps[pos:]...)...)
	return u.saveJourney(w, r, cur, next, id)
}

// deleteJourneyStep removes a step; what led to it now leads where it led.
func (u *UI) deleteJourneyStep(w http.ResponseWriter, r *http.Request) error {
	cur, err := u.journeyFromPath(r)
	if err != nil {
		return err
	}
	next := copyJourney(cur)
	id := r.PathValue("step")
	gone, ok := next.Step(id)
	if !ok {
		return errs.Errorf(errs.NotFound, "journey %d has no step %q", cur.ID, id)
	}
	to := gone.Next
	var steps []journey.Step
	for _, s := range next.Steps {
		if s.ID == id {
			continue
		}
		for _, p := range []*string{&s.Next, &s.Else, &s.TimeoutNext} {
			if *p == id {
				*p = to
			}
		}
		for i := range s.Variants {
			if s.Variants[i].Next == id {
				s.Variants[i].Next = to
			}
		}
		steps = append(steps, s)
	}
	next.Steps = steps
	return u.saveJourney(w, r, cur, next, "")
}

// journeyDefinition replaces the whole definition from the JSON editor.
func (u *UI) journeyDefinition(w http.ResponseWriter, r *http.Request) error {
	cur, err := u.journeyFromPath(r)
	if err != nil {
		return err
	}
	next := copyJourney(cur)
	var def struct {
		Trigger   journey.Trigger `json:"trigger"`
		Steps     []journey.Step  `json:"steps"`
		Reentry   journey.Reentry `json:"reentry"`
		Goal      *journey.Goal   `json:"goal"`
		MaxVisits int             `json:"max_visits"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(r.PostFormValue("definition"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		return u.showJourney(w, r, http.StatusUnprocessableEntity, cur, "json", u.localeFor(r).T("journeys.bad_json", err.Error()))
	}
	next.Trigger, next.Steps, next.Reentry, next.Goal, next.MaxVisits = def.Trigger, def.Steps, def.Reentry, def.Goal, def.MaxVisits
	if name := strings.TrimSpace(r.PostFormValue("name")); name != "" {
		next.Name = name
	}
	return u.saveJourney(w, r, cur, next, "json")
}

package journey

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
)

// Limits that keep a journey reviewable.
const (
	MaxSteps    = 100
	MaxVariants = 10
)

var stepIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Validate checks a journey's definition and fills defaults. Problems are
// invalid-input errors naming the field ("steps[2].next").
func (j *Journey) Validate() error {
	j.Name = strings.TrimSpace(j.Name)
	if j.Name == "" {
		return errs.FieldErrorf("name", "a journey needs a name")
	}
	if len(j.Name) > 200 {
		return errs.FieldErrorf("name", "at most 200 bytes")
	}
	if j.Status == "" {
		j.Status = Draft
	}
	if err := j.Trigger.validate(); err != nil {
		return err
	}
	switch j.Reentry.Policy {
	case "":
		j.Reentry.Policy = ReentryAfterExit
	case ReentryOnce, ReentryAfterExit:
	case ReentryCooldown:
		if j.Reentry.Cooldown.Duration <= 0 {
			return errs.FieldErrorf("reentry.cooldown", "the cooldown policy needs a cooldown such as \"30d\"")
		}
	default:
		return errs.FieldErrorf("reentry.policy", "%q is not a re-entry policy (once, after_exit, cooldown)", j.Reentry.Policy)
	}
	if j.Goal != nil {
		switch j.Goal.Type {
		case "order":
		case "event":
			if strings.TrimSpace(j.Goal.Event) == "" {
				return errs.FieldErrorf("goal.event", "an event goal names the event")
			}
		default:
			return errs.FieldErrorf("goal.type", "%q is not a goal (order or event)", j.Goal.Type)
		}
	}
	if j.MaxVisits < 0 || j.MaxVisits > 100 {
		return errs.FieldErrorf("max_visits", "between 1 and 100")
	}
	if len(j.Steps) == 0 {
		return errs.FieldErrorf("steps", "a journey needs at least one step")
	}
	if len(j.Steps) > MaxSteps {
		return errs.FieldErrorf("steps", "at most %d steps", MaxSteps)
	}
	ids := map[string]bool{}
	for i := range j.Steps {
		s := &j.Steps[i]
		if !stepIDRE.MatchString(s.ID) {
			return errs.FieldErrorf(fmt.Sprintf("steps[%d].id", i), "step ids are 1 to 40 of a-z, 0-9, _ and -, starting with a letter or digit")
		}
		if ids[s.ID] {
			return errs.FieldErrorf(fmt.Sprintf("steps[%d].id", i), "step id %q is used twice", s.ID)
		}
		ids[s.ID] = true
	}
	for i := range j.Steps {
		if err := j.Steps[i].validate(fmt.Sprintf("steps[%d]", i), ids, j); err != nil {
			return err
		}
	}
	return nil
}

func (t *Trigger) validate() error {
	at := func() error {
		if t.At == "" {
			t.At = "09:00"
		}
		if _, err := ParseClock(t.At); err != nil {
			return errs.FieldErrorf("trigger.at", "%v", err)
		}
		return nil
	}
	switch t.Type {
	case TriggerEvent:
		if strings.TrimSpace(t.Event) == "" {
			return errs.FieldErrorf("trigger.event", "an event trigger names the event")
		}
	case TriggerOrder:
		if t.Nth < 0 || t.Nth > 1000 {
			return errs.FieldErrorf("trigger.nth", "between 0 (every order) and 1000")
		}
		if t.SKU != "" && t.Category != "" {
			return errs.FieldErrorf("trigger.category", "give sku or category, not both")
		}
	case TriggerSegmentEnter, TriggerSegmentExit:
		if t.SegmentID <= 0 {
			return errs.FieldErrorf("trigger.segment_id", "name the segment")
		}
	case TriggerDate:
		switch t.Date {
		case "birthday", "first_order", "signup":
		case "attribute":
			if !segment.ValidAttributeName(t.Attribute) {
				return errs.FieldErrorf("trigger.attribute", "name the date attribute (letters, digits, _ - .)")
			}
		default:
			return errs.FieldErrorf("trigger.date", "%q is not a date (birthday, first_order, signup, attribute)", t.Date)
		}
		if t.OffsetDays < -366 || t.OffsetDays > 366 {
			return errs.FieldErrorf("trigger.offset_days", "between -366 and 366")
		}
		return at()
	case TriggerDaysSinceOrder, TriggerCouponUnused:
		if t.Days < 1 || t.Days > 3650 {
			return errs.FieldErrorf("trigger.days", "between 1 and 3650")
		}
		return at()
	case TriggerDaysSinceEvent:
		if strings.TrimSpace(t.Event) == "" {
			return errs.FieldErrorf("trigger.event", "name the event to count days from")
		}
		if t.Days < 1 || t.Days > 3650 {
			return errs.FieldErrorf("trigger.days", "between 1 and 3650")
		}
		return at()
	case TriggerReplenishment:
		if t.LeadDays < 0 || t.LeadDays > 365 {
			return errs.FieldErrorf("trigger.lead_days", "between 0 and 365")
		}
		return at()
	case TriggerBackInStock, TriggerPriceDrop:
		if t.WithinDays == 0 {
			t.WithinDays = 180
		}
		if t.WithinDays < 1 || t.WithinDays > 3650 {
			return errs.FieldErrorf("trigger.within_days", "between 1 and 3650")
		}
	case TriggerPointsExpiring:
	case TriggerRankChange:
		if t.Direction != "" && t.Direction != "up" && t.Direction != "down" {
			return errs.FieldErrorf("trigger.direction", "up, down or empty for either")
		}
	case "":
		return errs.FieldErrorf("trigger.type", "a journey needs a trigger")
	default:
		return errs.FieldErrorf("trigger.type", "%q is not a trigger type", t.Type)
	}
	return nil
}

func (s *Step) validate(path string, ids map[string]bool, j *Journey) error {
	target := func(field, id string) error {
		if id != "" && !ids[id] {
			return errs.FieldErrorf(path+"."+field, "no step %q", id)
		}
		return nil
	}
	if err := target("next", s.Next); err != nil {
		return err
	}
	if err := target("else", s.Else); err != nil {
		return err
	}
	if err := target("timeout_next", s.TimeoutNext); err != nil {
		return err
	}
	cond := func(need bool) error {
		if s.Condition == nil {
			if need {
				return errs.FieldErrorf(path+".condition", "%s needs a condition", s.Type)
			}
			return nil
		}
		if err := s.Condition.Validate(); err != nil {
			if e, ok := err.(*errs.Error); ok {
				e.Field = path + "." + e.Field
			}
			return err
		}
		return nil
	}
	switch s.Type {
	case StepWait:
		if s.Duration.Duration == 0 && s.Days == 0 && s.Until == "" && len(s.Weekdays) == 0 && s.At == "" {
			return errs.FieldErrorf(path, "a wait needs duration, days, at, until or weekdays")
		}
		if s.Days < 0 || s.Days > 3650 {
			return errs.FieldErrorf(path+".days", "between 0 and 3650")
		}
		for _, c := range []struct{ f, v string }{{"at", s.At}, {"until", s.Until}} {
			if c.v != "" {
				if _, err := ParseClock(c.v); err != nil {
					return errs.FieldErrorf(path+"."+c.f, "%v", err)
				}
			}
		}
		for _, w := range s.Weekdays {
			if _, ok := weekdayNames[strings.ToLower(w)]; !ok {
				return errs.FieldErrorf(path+".weekdays", "%q is not a weekday (mon … sun)", w)
			}
		}
		if s.From != "" && s.From != "step" && s.From != "entry" {
			return errs.FieldErrorf(path+".from", "step (default) or entry")
		}
	case StepWaitEvent:
		if strings.TrimSpace(s.Event) == "" {
			return errs.FieldErrorf(path+".event", "wait_event names the event")
		}
	case StepWaitCondition:
		if err := cond(true); err != nil {
			return err
		}
	case StepBranch:
		if (s.Condition == nil) == (s.Engagement == nil) {
			return errs.FieldErrorf(path, "a branch needs a condition or an engagement, one of them")
		}
		if err := cond(false); err != nil {
			return err
		}
		if e := s.Engagement; e != nil {
			src, ok := j.Step(e.Step)
			if !ok || (src.Type != StepSend) {
				return errs.FieldErrorf(path+".engagement.step", "name a send step")
			}
			if e.Kind != "opened" && e.Kind != "clicked" && e.Kind != "purchased" {
				return errs.FieldErrorf(path+".engagement.kind", "opened, clicked or purchased")
			}
		}
	case StepSplit:
		if len(s.Variants) < 2 || len(s.Variants) > MaxVariants {
			return errs.FieldErrorf(path+".variants", "a split has 2 to %d variants", MaxVariants)
		}
		names := map[string]bool{}
		for i, v := range s.Variants {
			p := fmt.Sprintf("%s.variants[%d]", path, i)
			if v.Name == "" || names[v.Name] || len(v.Name) > 40 {
				return errs.FieldErrorf(p+".name", "each variant needs its own name")
			}
			names[v.Name] = true
			if v.Weight < 1 || v.Weight > 10000 {
				return errs.FieldErrorf(p+".weight", "between 1 and 10000")
			}
			if err := target(fmt.Sprintf("variants[%d].next", i), v.Next); err != nil {
				return err
			}
		}
	case StepSend:
		switch s.Channel {
		case message.Email, message.LINE, message.SMS, message.Push, message.OnSite, message.DM:
		case "":
			return errs.FieldErrorf(path+".channel", "a send names its channel")
		default:
			return errs.FieldErrorf(path+".channel", "%q is not a channel (email, line, sms, push, onsite, dm)", s.Channel)
		}
		if err := validPurpose(path, &s.Purpose); err != nil {
			return err
		}
		if s.TemplateID == 0 && (s.Content == nil || strings.TrimSpace(s.Content.Text) == "") {
			return errs.FieldErrorf(path+".template_id", "a send needs a template or content")
		}
	case StepWebhook:
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return errs.FieldErrorf(path+".url", "a webhook needs an http(s) URL")
		}
	case StepCoupon:
		if s.CouponCampaignID <= 0 {
			return errs.FieldErrorf(path+".coupon_campaign_id", "name the coupon campaign to issue from")
		}
	case StepPoints:
		if s.Points == 0 || s.Points > 1_000_000 || s.Points < -1_000_000 {
			return errs.FieldErrorf(path+".points", "a non-zero number of points (±1,000,000 at most)")
		}
	case StepTag:
		if len(s.AddTags)+len(s.RemoveTags) == 0 {
			return errs.FieldErrorf(path, "a tag step adds or removes at least one tag")
		}
		for _, t := range append(append([]string(nil), s.AddTags...), s.RemoveTags...) {
			if strings.TrimSpace(t) == "" || len(t) > 100 {
				return errs.FieldErrorf(path, "tags are 1 to 100 bytes")
			}
		}
	case StepAttribute:
		if !segment.ValidAttributeName(s.Attribute) {
			return errs.FieldErrorf(path+".attribute", "attribute names are letters, digits, _ - and .")
		}
		if len(s.Value) > 1000 {
			return errs.FieldErrorf(path+".value", "at most 1000 bytes")
		}
	case StepGoal:
		if err := cond(false); err != nil {
			return err
		}
	case StepExit:
	case "":
		return errs.FieldErrorf(path+".type", "give the step's type")
	default:
		return errs.FieldErrorf(path+".type", "%q is not a step type", s.Type)
	}
	if s.Timeout.Duration < 0 {
		return errs.FieldErrorf(path+".timeout", "must be positive")
	}
	return nil
}

func validPurpose(path string, p *message.Purpose) error {
	switch *p {
	case "":
		*p = message.Marketing
	case message.Marketing, message.Transactional:
	default:
		return errs.FieldErrorf(path+".purpose", "marketing or transactional")
	}
	return nil
}

// Clock is a time of day.
type Clock struct{ Hour, Minute int }

// ParseClock reads HH:MM.
func ParseClock(s string) (Clock, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return Clock{}, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return Clock{t.Hour(), t.Minute()}, nil
}

package journey

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/segment"
)

func jst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, clock.Tokyo)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestWakeAtKeepsToTokyoCalendar(t *testing.T) {
	t.Parallel()
	cases := []struct {
		step             Step
		arrived, entered string
		want             string
	}{
		{Step{Duration: Duration{time.Hour}}, "2026-04-01 12:00", "2026-04-01 12:00", "2026-04-01 13:00"},
		{Step{Days: 3, At: "10:00", From: "entry"}, "2026-04-02 09:05", "2026-04-01 23:30", "2026-04-04 10:00"},
		{Step{Days: 1}, "2026-04-01 15:20", "2026-04-01 15:20", "2026-04-02 15:20"},
		{Step{Until: "10:00"}, "2026-04-01 09:00", "2026-04-01 09:00", "2026-04-01 10:00"},
		{Step{Until: "10:00"}, "2026-04-01 11:00", "2026-04-01 11:00", "2026-04-02 10:00"},
		{Step{Duration: Duration{2 * time.Hour}, Until: "09:00"}, "2026-04-01 23:00", "2026-04-01 23:00", "2026-04-02 09:00"},
		// 2026-04-04 is a Saturday: on to Monday.
		{Step{Until: "10:00", Weekdays: []string{"mon", "tue", "wed", "thu", "fri"}}, "2026-04-04 12:00", "2026-04-04 12:00", "2026-04-06 10:00"},
		{Step{At: "10:00"}, "2026-04-01 12:00", "2026-04-01 12:00", "2026-04-01 10:00"},
	}
	for _, c := range cases {
		got := c.step.WakeAt(jst(c.arrived), jst(c.entered))
		if !got.Equal(jst(c.want)) {
			t.Errorf("%+v from %s: %s, want %s", c.step, c.arrived, got.In(clock.Tokyo).Format("2006-01-02 15:04"), c.want)
		}
	}
}

func TestDurationReadsDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{`"3d"`: 72 * time.Hour, `"1d12h"`: 36 * time.Hour, `"90m"`: 90 * time.Minute, `60`: time.Minute} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Duration != want {
			t.Errorf("%s = %v, %v", in, d.Duration, err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"-1h"`), &d); err == nil {
		t.Error("negative duration accepted")
	}
	b, _ := json.Marshal(Duration{72 * time.Hour})
	if string(b) != `"3d"` {
		t.Errorf("marshal = %s", b)
	}
}

func TestValidateNamesTheFaultyField(t *testing.T) {
	t.Parallel()
	base := func() Journey {
		return Journey{Name: "j", Trigger: Trigger{Type: TriggerEvent, Event: "X"}, Steps: []Step{
			{ID: "a", Type: StepWait, Duration: Duration{time.Hour}, Next: "b"},
			{ID: "b", Type: StepSend, Channel: "email", Content: &Content{Text: "hi"}},
		}}
	}
	cases := []struct {
		edit  func(j *Journey)
		field string
	}{
		{func(j *Journey) { j.Name = "" }, "name"},
		{func(j *Journey) { j.Trigger = Trigger{} }, "trigger.type"},
		{func(j *Journey) { j.Trigger = Trigger{Type: TriggerDate, Date: "nameday"} }, "trigger.date"},
		{func(j *Journey) { j.Steps[0].Next = "zz" }, "steps[0].next"},
		{func(j *Journey) { j.Steps[1].ID = "a" }, "steps[1].id"},
		{func(j *Journey) { j.Steps[1].Channel = "fax" }, "steps[1].channel"},
		{func(j *Journey) { j.Steps[1].Content = nil }, "steps[1].template_id"},
		{func(j *Journey) { j.Steps[0] = Step{ID: "a", Type: StepWait, Next: "b"} }, "steps[0]"},
		{func(j *Journey) {
			j.Steps[0] = Step{ID: "a", Type: StepSplit, Variants: []Variant{{Name: "x", Weight: 1}}}
		}, "steps[0].variants"},
		{func(j *Journey) {
			j.Steps[0] = Step{ID: "a", Type: StepBranch, Engagement: &Engagement{Step: "a", Kind: "opened"}}
		}, "steps[0].engagement.step"},
		{func(j *Journey) { j.Reentry = Reentry{Policy: ReentryCooldown} }, "reentry.cooldown"},
		{func(j *Journey) { j.Steps[0] = Step{ID: "a", Type: StepBranch, Condition: &badCond} }, "steps[0].condition.field"},
	}
	for i, c := range cases {
		j := base()
		c.edit(&j)
		err := j.Validate()
		e, ok := err.(*errs.Error)
		if !ok || e.Field != c.field {
			t.Errorf("case %d: %v, want field %s", i, err, c.field)
		}
	}
	j := base()
	if err := j.Validate(); err != nil || j.Reentry.Policy != ReentryAfterExit || j.Status != Draft {
		t.Fatalf("valid journey: %v %+v", err, j)
	}
}

func TestEveryTemplateBuildsAValidJourney(t *testing.T) {
	t.Parallel()
	for _, info := range Templates() {
		p := TemplateParams{CouponCode: "THANKS10", SegmentID: 1}
		j, err := FromTemplate(info.Key, p)
		if err != nil {
			t.Errorf("%s: %v", info.Key, err)
			continue
		}
		if j.Template != info.Key || j.Trigger.Type != info.Trigger || j.Name == "" {
			t.Errorf("%s: %+v", info.Key, j)
		}
		for _, s := range j.Steps {
			if s.Type == StepSend && (s.Content == nil || !strings.Contains(s.Content.Text, "様")) {
				t.Errorf("%s step %s: no Japanese copy", info.Key, s.ID)
			}
		}
		p.CouponCampaignID = 9
		if _, err := FromTemplate(info.Key, p); err != nil {
			t.Errorf("%s with a coupon campaign: %v", info.Key, err)
		}
	}
	if _, err := FromTemplate("f2_followup", TemplateParams{}); errs.Code(err) != errs.Invalid {
		t.Errorf("f2 without a coupon: %v", err)
	}
	if _, err := FromTemplate("nope", TemplateParams{}); errs.Code(err) != errs.NotFound {
		t.Errorf("unknown template: %v", err)
	}
}

func TestSplitIsDeterministicAndWeighted(t *testing.T) {
	t.Parallel()
	s := &Step{ID: "s", Variants: []Variant{{Name: "A", Weight: 45, Next: "x"}, {Name: "B", Weight: 45, Next: "y"}, {Name: "hold", Weight: 10}}}
	counts := map[string]int{}
	for id := int64(1); id <= 20000; id++ {
		v := pickVariant(id, 1, s)
		if pickVariant(id, 1, s).Name != v.Name {
			t.Fatal("not deterministic")
		}
		counts[v.Name]++
	}
	if counts["hold"] < 1700 || counts["hold"] > 2300 || counts["A"] < 8500 || counts["B"] < 8500 {
		t.Fatalf("split = %v", counts)
	}
}

var badCond = segment.Condition{Field: "nope", Op: "="}

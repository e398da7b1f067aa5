package journey

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/segment"
)

// OnChanges reacts to customers whose data changed: it enrolls them in
// journeys their new events and orders trigger, resumes their waits for
// an event or a condition, and ends as converted the enrollments whose
// goal they reached. Everything it writes is idempotent (entry keys,
// guarded state changes), so the change feed may hand a customer over
// again after a crash.
func (r *Runner) OnChanges(ctx context.Context, changed []Changed) error {
	if len(changed) == 0 {
		return nil
	}
	now := r.clock.Now()
	js, err := r.st.EnabledJourneys(ctx)
	if err != nil || len(js) == 0 {
		// Without an enabled journey no trigger, wait or goal can act
		// (enrollments of disabled journeys are left alone below too).
		return err
	}
	sigs, err := r.st.Signals(ctx, changed)
	if err != nil {
		return fmt.Errorf("journey signals: %w", err)
	}
	byID := map[int64]*Journey{}
	for i := range js {
		j := &js[i]
		byID[j.ID] = j
		if len(sigs) == 0 {
			continue
		}
		cands, err := r.matchTrigger(ctx, j, sigs, now)
		if err != nil {
			return err
		}
		if len(cands) > 0 {
			if _, err := r.st.Enroll(ctx, j, cands); err != nil {
				return fmt.Errorf("journey %d: enroll: %w", j.ID, err)
			}
		}
	}
	ids := make([]int64, len(changed))
	for i, c := range changed {
		ids[i] = c.CustomerID
	}
	open, err := r.st.OpenEnrollments(ctx, ids)
	if err != nil {
		return err
	}
	bySig := map[int64][]Signal{}
	for _, s := range sigs {
		bySig[s.CustomerID] = append(bySig[s.CustomerID], s)
	}
	var resumes []Resume
	var convs []Conversion
	type key struct {
		journey int64
		step    string
	}
	waitConds := map[key][]Enrollment{}
	for _, e := range open {
		j := byID[e.JourneyID]
		if j == nil {
			continue
		}
		if g := j.Goal; g != nil {
			if at, revenue, ok := goalReached(g, bySig[e.CustomerID], e); ok {
				convs = append(convs, Conversion{EnrollmentID: e.ID, JourneyID: j.ID, Step: e.Step, Revenue: revenue, At: at})
				continue
			}
		}
		if e.State != Waiting {
			continue
		}
		s, ok := j.Step(e.Step)
		if !ok {
			continue
		}
		switch s.Type {
		case StepWaitEvent:
			for _, sig := range bySig[e.CustomerID] {
				if !sig.At.Before(e.StepAt) && MatchSignal(sig, s.Event, s.Where, "") {
					resumes = append(resumes, Resume{EnrollmentID: e.ID, Step: e.Step, Sub: SubEvent})
					break
				}
			}
		case StepWaitCondition:
			k := key{j.ID, s.ID}
			waitConds[k] = append(waitConds[k], e)
		}
	}
	for k, es := range waitConds {
		s, _ := byID[k.journey].Step(k.step)
		rs, err := r.conditionResumes(ctx, *s.Condition, es)
		if err != nil {
			return err
		}
		resumes = append(resumes, rs...)
	}
	if len(convs) > 0 {
		if _, err := r.st.Convert(ctx, convs); err != nil {
			return err
		}
	}
	if len(resumes) > 0 {
		if _, err := r.st.Resume(ctx, resumes); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) conditionResumes(ctx context.Context, c segment.Condition, es []Enrollment) ([]Resume, error) {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.CustomerID
	}
	match, err := r.st.MatchCustomers(ctx, c, ids)
	if err != nil {
		return nil, err
	}
	var out []Resume
	for _, e := range es {
		if match[e.CustomerID] {
			out = append(out, Resume{EnrollmentID: e.ID, Step: e.Step, Sub: SubCondition})
		}
	}
	return out, nil
}

// goalReached looks for the goal among a customer's new signals after the
// enrollment began (the order or event that enrolled them does not count).
func goalReached(g *Goal, sigs []Signal, e Enrollment) (time.Time, int64, bool) {
	for _, s := range sigs {
		if s.At.Before(e.EnteredAt) {
			continue
		}
		if s.IsOrder() && fmt.Sprint(e.Context.Trigger["order_id"]) == strconv.FormatInt(s.OrderID, 10) ||
			!s.IsOrder() && fmt.Sprint(e.Context.Trigger["event_id"]) == strconv.FormatInt(s.ID, 10) {
			continue
		}
		switch {
		case g.Type == "order" && s.IsOrder():
			return s.At, s.Total, true
		case g.Type == "event" && !s.IsOrder() && s.Name == g.Event:
			return s.At, 0, true
		}
	}
	return time.Time{}, 0, false
}

// matchTrigger returns the candidates the signals make for a journey with
// an event-driven trigger.
func (r *Runner) matchTrigger(ctx context.Context, j *Journey, sigs []Signal, now time.Time) ([]Candidate, error) {
	t := j.Trigger
	oldest := now.Add(-r.TriggerWindow)
	if j.EnabledAt != nil && j.EnabledAt.Add(-5*time.Minute).After(oldest) {
		oldest = j.EnabledAt.Add(-5 * time.Minute)
	}
	var out []Candidate
	for _, s := range sigs {
		if s.At.Before(oldest) || s.At.After(now.Add(time.Hour)) {
			continue
		}
		switch t.Type {
		case TriggerOrder:
			if !s.IsOrder() {
				continue
			}
			if t.SKU != "" || t.Category != "" {
				if !hasAny(s.SKUs, t.SKU) && !hasAny(s.Categories, t.Category) {
					continue
				}
				if t.Nth > 0 {
					n, err := r.st.OrderNth(ctx, s.OrderID, t.SKU, t.Category)
					if err != nil {
						return nil, err
					}
					if n != t.Nth {
						continue
					}
				}
			} else if t.Nth > 0 && s.Nth != t.Nth {
				continue
			}
			out = append(out, Candidate{CustomerID: s.CustomerID, Key: "order:" + strconv.FormatInt(s.OrderID, 10), At: s.At,
				Trigger: map[string]any{"type": "order", "order_id": s.OrderID, "total": s.Total, "skus": s.SKUs, "nth": s.Nth}})
		default:
			name := t.EventName()
			if name == "" || s.IsOrder() && name != EventOrderCompleted {
				continue
			}
			if !MatchSignal(s, name, t.Where, t.SKU) {
				continue
			}
			if t.Type == TriggerRankChange && t.Direction != "" && fmt.Sprint(s.Properties["direction"]) != t.Direction {
				continue
			}
			key := "event:" + strconv.FormatInt(s.ID, 10)
			if s.IsOrder() {
				key = "order:" + strconv.FormatInt(s.OrderID, 10)
			}
			trig := map[string]any{"type": "event", "event": s.Name, "event_id": s.ID}
			if s.SKU != "" {
				trig["sku"] = s.SKU
			}
			if len(s.Properties) > 0 {
				trig["properties"] = s.Properties
			}
			out = append(out, Candidate{CustomerID: s.CustomerID, Key: key, At: s.At, Trigger: trig})
		}
	}
	return out, nil
}

func hasAny(list []string, v string) bool {
	if v == "" {
		return false
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// maxCatchUpDays bounds how many missed days a scheduled trigger scans
// after downtime (a birthday coupon a week late is still welcome; a month
// late is not).
const maxCatchUpDays = 7

// RunScheduled runs the daily scans of date-driven triggers (birthdays,
// days since the last purchase, replenishment, unused coupons …) for every
// day whose trigger time has come and that was not scanned yet. It
// returns how many customers it enrolled.
func (r *Runner) RunScheduled(ctx context.Context, js []Journey) (int, error) {
	now := r.clock.Now()
	total := 0
	for i := range js {
		j := &js[i]
		if !j.Trigger.Scheduled() {
			continue
		}
		r.mu.Lock()
		known, ok := r.scanned[j.ID]
		r.mu.Unlock()
		if ok && now.Before(ClockOn(known.AddDate(0, 0, 1).Add(12*time.Hour), j.Trigger.At)) {
			continue // the next day to scan has not come yet
		}
		last, err := r.st.ScannedDay(ctx, j.ID)
		if err != nil {
			return total, err
		}
		today := clock.StartOfDay(now)
		day := clock.StartOfDay(last.AddDate(0, 0, 1).Add(12 * time.Hour))
		if oldest := today.AddDate(0, 0, -maxCatchUpDays); day.Before(oldest) {
			day = oldest
		}
		for ; !day.After(today); day = clock.StartOfDay(day.AddDate(0, 0, 1).Add(12 * time.Hour)) {
			if now.Before(ClockOn(day, j.Trigger.At)) {
				break
			}
			n, err := r.st.ScanScheduled(ctx, j, day)
			if err != nil {
				return total, fmt.Errorf("journey %d: scan %s: %w", j.ID, day.Format("2006-01-02"), err)
			}
			total += n
			last = day
		}
		r.mu.Lock()
		r.scanned[j.ID] = clock.StartOfDay(last.Add(12 * time.Hour))
		r.mu.Unlock()
	}
	return total, nil
}

// RunProductSignals enrolls the customers who favorited products that came
// back in stock or got cheaper.
func (r *Runner) RunProductSignals(ctx context.Context, js []Journey) (int, error) {
	var want []Journey
	for _, j := range js {
		if j.Trigger.Type == TriggerBackInStock || j.Trigger.Type == TriggerPriceDrop {
			want = append(want, j)
		}
	}
	return r.st.EnrollProductSignals(ctx, want)
}

// RecheckConditions re-evaluates, once per Tokyo day, the customers waiting
// at wait_condition steps: conditions over dates ("no order for 30 days")
// come true by the passing of time alone.
func (r *Runner) RecheckConditions(ctx context.Context, js []Journey) (int, error) {
	now := r.clock.Now()
	day := clock.StartOfDay(now).Unix()
	r.mu.Lock()
	if r.condDay == day {
		r.mu.Unlock()
		return 0, nil
	}
	r.mu.Unlock()
	resumed := 0
	for _, j := range js {
		for _, s := range j.Steps {
			if s.Type != StepWaitCondition || !s.Condition.TimeRelative() {
				continue
			}
			after := int64(0)
			for {
				es, err := r.st.WaitingOnCondition(ctx, j.ID, s.ID, 1000, after)
				if err != nil {
					return resumed, err
				}
				if len(es) == 0 {
					break
				}
				rs, err := r.conditionResumes(ctx, *s.Condition, es)
				if err != nil {
					return resumed, err
				}
				n, err := r.st.Resume(ctx, rs)
				if err != nil {
					return resumed, err
				}
				resumed += n
				after = es[len(es)-1].ID
			}
		}
	}
	r.mu.Lock()
	r.condDay = day
	r.mu.Unlock()
	return resumed, nil
}

// Tick runs the time-driven work of journeys: product signals, the daily
// scans of scheduled triggers, and the daily recheck of waiting
// conditions. It returns how many enrollments it created or resumed.
func (r *Runner) Tick(ctx context.Context) (int, error) {
	js, err := r.st.EnabledJourneys(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	n, err := r.RunProductSignals(ctx, js)
	if err != nil {
		return total, fmt.Errorf("product signals: %w", err)
	}
	total += n
	if n, err = r.RunScheduled(ctx, js); err != nil {
		return total, fmt.Errorf("scheduled triggers: %w", err)
	}
	total += n
	if n, err = r.RecheckConditions(ctx, js); err != nil {
		return total, fmt.Errorf("waiting conditions: %w", err)
	}
	return total + n, nil
}

package journey

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// Runner executes journeys: it enrolls customers their triggers match and
// walks enrollments through their steps. Every call is safe to repeat and
// to run in several processes at once: enrollments are claimed under a
// lease and an outcome is written only while its lease holds, together
// with every side effect of the steps it covers (one transaction), so a
// step runs exactly once however the process dies. Messages leave through
// the outbox, whose worker records each send under its key before calling
// the channel and moves the enrollment on only once the send is confirmed.
type Runner struct {
	st      Store
	clock   clock.Clock
	loyalty Loyalty
	log     *slog.Logger

	// Batch is how many enrollments one claim takes; Lease how long
	// (wall clock) a claim holds them.
	Batch int
	Lease time.Duration
	// TriggerWindow is how old an event or order may be and still trigger
	// (imports of history never do).
	TriggerWindow time.Duration

	mu      sync.Mutex
	defs    map[int64]*Journey
	condDay int64               // Tokyo day of the last wait_condition recheck
	scanned map[int64]time.Time // last day known scanned, per scheduled journey
}

// NewRunner returns a runner. loyalty may be nil until the loyalty
// capability is configured: coupon and points steps then fail the
// enrollment with a clear error.
func NewRunner(st Store, c clock.Clock, loyalty Loyalty, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{st: st, clock: c, loyalty: loyalty, log: log, Batch: 500, Lease: 2 * time.Minute,
		TriggerWindow: 48 * time.Hour, defs: map[int64]*Journey{}, scanned: map[int64]time.Time{}}
}

// journey returns a journey's definition, cached by version.
func (r *Runner) journey(ctx context.Context, id int64, version int) (*Journey, error) {
	r.mu.Lock()
	j := r.defs[id]
	r.mu.Unlock()
	if j != nil && j.Version == version {
		return j, nil
	}
	j, err := r.st.Journey(ctx, id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.defs[id] = j
	r.mu.Unlock()
	return j, nil
}

// exec is one enrollment being executed.
type exec struct {
	out  Outcome
	j    *Journey
	now  time.Time
	need int
	// Resolved data for the current pass.
	cond      map[string]bool
	eng       *SendEngagement
	purchased *int64
	// waitCheck marks a wait_condition just arrived at, whose condition is
	// looked at once before waiting.
	waitCheck bool
}

const (
	needCondition = iota + 1
	needEngagement
	needPurchase
)

// RunDue claims due enrollments and executes them until each waits, sends
// or ends. It returns how many it claimed.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	now := r.clock.Now()
	es, err := r.st.ClaimEnrollments(ctx, now, r.Batch, r.Lease)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	dups, err := r.st.DuplicateEnrollments(ctx, es)
	if err != nil {
		return 0, err
	}
	xs := make([]*exec, 0, len(es))
	for _, e := range es {
		j, err := r.journey(ctx, e.JourneyID, e.JourneyVersion)
		if err != nil {
			return 0, fmt.Errorf("journey %d: %w", e.JourneyID, err)
		}
		x := &exec{out: Outcome{Enrollment: e}, j: j, now: now, cond: map[string]bool{}}
		if x.out.Context.Visits == nil {
			x.out.Context.Visits = map[string]int{}
		}
		if dups[e.ID] {
			r.end(x, EndMerged, "")
		}
		xs = append(xs, x)
	}
	pending := xs
	for round := 0; round < 32 && len(pending) > 0; round++ {
		var needs []*exec
		for _, x := range pending {
			x.need = 0
			r.advance(ctx, x)
			if x.need != 0 {
				needs = append(needs, x)
			}
		}
		if len(needs) == 0 {
			break
		}
		if err := r.resolve(ctx, needs); err != nil {
			return 0, err
		}
		pending = needs
	}
	outs := make([]Outcome, len(xs))
	for i, x := range xs {
		outs[i] = x.out
	}
	if _, err := r.st.ApplyOutcomes(ctx, outs); err != nil {
		return 0, err
	}
	return len(es), nil
}

// advance executes x's steps until it waits, sends, ends or needs data.
func (r *Runner) advance(ctx context.Context, x *exec) {
	for guard := 0; guard < 4*MaxSteps; guard++ {
		e := &x.out.Enrollment
		switch {
		case e.State == Ended || e.State == Sending:
			return
		case e.Step == "":
			r.arrive(x, x.j.First())
			continue
		case x.waitCheck:
			v, ok := x.cond[e.Step]
			if !ok {
				x.need = needCondition
				return
			}
			x.waitCheck = false
			if !v {
				return
			}
			e.State, e.Sub, e.DueAt = Ready, SubCondition, x.now
			continue
		case e.State == Waiting && (e.DueAt.IsZero() || e.DueAt.After(x.now)):
			return
		case e.State == Ready && e.DueAt.After(x.now):
			return
		}
		s, ok := x.j.Step(e.Step)
		if !ok {
			r.end(x, EndError, fmt.Sprintf("step %q is no longer in the journey", e.Step))
			return
		}
		if !r.execute(ctx, x, s) {
			return
		}
	}
	r.end(x, EndLoopCap, "too many steps without a wait")
}

// execute runs the step x is at and reports whether to go on.
func (r *Runner) execute(ctx context.Context, x *exec, s *Step) bool {
	e := &x.out.Enrollment
	switch s.Type {
	case StepWait:
		r.arrive(x, s.Next)
	case StepWaitEvent, StepWaitCondition:
		if e.State == Waiting { // the timeout passed
			x.stat(s.ID, MetricTimeout, 1)
			r.arrive(x, s.TimeoutNext)
		} else {
			r.arrive(x, s.Next)
		}
	case StepBranch:
		var yes bool
		if en := s.Engagement; en != nil {
			if x.eng == nil {
				x.need = needEngagement
				return false
			}
			switch en.Kind {
			case "opened":
				yes = x.eng.Opened
			case "clicked":
				yes = x.eng.Clicked
			case "purchased":
				if x.eng.Sent && x.purchased == nil {
					x.need = needPurchase
					return false
				}
				yes = x.eng.Sent && x.purchased != nil && *x.purchased >= 0
			}
			x.eng, x.purchased = nil, nil
		} else {
			v, ok := x.cond[s.ID]
			if !ok {
				x.need = needCondition
				return false
			}
			delete(x.cond, s.ID)
			yes = v
		}
		if yes {
			r.arrive(x, s.Next)
		} else {
			r.arrive(x, s.Else)
		}
	case StepSplit:
		v := pickVariant(e.ID, e.Context.Visits[s.ID], s)
		if e.Context.Vars == nil {
			e.Context.Vars = map[string]any{}
		}
		e.Context.Vars["split_"+s.ID] = v.Name
		e.Context.Variant = v.Name
		x.stat(s.ID, "variant:"+v.Name, 1)
		if v.Next == "" {
			r.end(x, EndHoldout, "")
		} else {
			r.arrive(x, v.Next)
		}
	case StepSend, StepWebhook:
		if e.Sub != "" {
			r.arrive(x, s.Next)
			return true
		}
		x.out.Send = r.outgoing(x, s)
		e.State, e.DueAt = Sending, time.Time{}
		return false
	case StepCoupon, StepPoints:
		return r.loyaltyStep(ctx, x, s)
	case StepTag:
		x.out.AddTags = append(x.out.AddTags, s.AddTags...)
		x.out.RemoveTags = append(x.out.RemoveTags, s.RemoveTags...)
		r.arrive(x, s.Next)
	case StepAttribute:
		if x.out.Attributes == nil {
			x.out.Attributes = map[string]string{}
		}
		x.out.Attributes[s.Attribute] = s.Value
		r.arrive(x, s.Next)
	case StepGoal:
		var reached bool
		var revenue int64
		if s.Condition != nil {
			v, ok := x.cond[s.ID]
			if !ok {
				x.need = needCondition
				return false
			}
			delete(x.cond, s.ID)
			reached = v
		} else {
			if x.purchased == nil {
				x.need = needPurchase
				return false
			}
			reached, revenue = *x.purchased >= 0, max(*x.purchased, 0)
			x.purchased = nil
		}
		if reached {
			x.stat(s.ID, MetricConverted, 1)
			x.stat(s.ID, MetricRevenue, revenue)
			e.Converted, e.Revenue = true, revenue
			r.end(x, EndGoal, "")
			return false
		}
		r.arrive(x, s.Next)
	case StepExit:
		r.end(x, EndExit, "")
		return false
	default:
		r.end(x, EndError, "unknown step type "+s.Type)
		return false
	}
	return true
}

// arrive moves x to step id ("" ends the journey) and sets it up.
func (r *Runner) arrive(x *exec, id string) {
	e := &x.out.Enrollment
	if id == "" {
		r.end(x, EndCompleted, "")
		return
	}
	s, ok := x.j.Step(id)
	if !ok {
		r.end(x, EndError, fmt.Sprintf("step %q is not in the journey", id))
		return
	}
	e.Context.Visits[id]++
	if e.Context.Visits[id] > x.j.Visits() {
		r.end(x, EndLoopCap, "")
		return
	}
	e.Step, e.Sub, e.StepAt, e.State, e.DueAt = id, "", x.now, Ready, x.now
	e.Context.Attempts = 0
	x.stat(id, MetricEntered, 1)
	switch s.Type {
	case StepWait:
		e.DueAt = s.WakeAt(x.now, e.EnteredAt)
	case StepWaitEvent, StepWaitCondition:
		e.State, e.DueAt = Waiting, time.Time{}
		if s.Timeout.Duration > 0 {
			e.DueAt = x.now.Add(s.Timeout.Duration)
		}
		if s.Type == StepWaitCondition {
			x.waitCheck = true
			delete(x.cond, s.ID)
		}
	}
}

// end finishes x with a reason.
func (r *Runner) end(x *exec, reason, msg string) {
	e := &x.out.Enrollment
	if e.State == Ended {
		return
	}
	e.State, e.EndReason, e.EndedAt, e.DueAt = Ended, reason, x.now, time.Time{}
	if msg != "" {
		e.LastError = msg
	}
	x.stat("", MetricExited, 1)
	x.stat("", MetricExited+":"+reason, 1)
	if e.Converted {
		x.stat("", MetricConverted, 1)
		x.stat("", MetricRevenue, e.Revenue)
	}
}

func (x *exec) stat(step, metric string, n int64) {
	x.out.Stats = append(x.out.Stats, Stat{Step: step, Metric: metric, N: n})
}

// pickVariant chooses a split arm from the enrollment id: deterministic,
// so a step that runs again after a crash picks the same arm.
func pickVariant(enrollment int64, visit int, s *Step) Variant {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(enrollment, 10) + ":" + s.ID + ":" + strconv.Itoa(visit)))
	total := 0
	for _, v := range s.Variants {
		total += v.Weight
	}
	n := int(h.Sum64() % uint64(total))
	for _, v := range s.Variants {
		if n < v.Weight {
			return v
		}
		n -= v.Weight
	}
	return s.Variants[len(s.Variants)-1]
}

// outgoing builds the outbox item of a send or webhook step.
func (r *Runner) outgoing(x *exec, s *Step) *OutboxItem {
	e := &x.out.Enrollment
	vars := map[string]any{}
	for k, v := range e.Context.Vars {
		vars[k] = v
	}
	for k, v := range s.Vars {
		vars[k] = v
	}
	if e.Context.Trigger != nil {
		vars["trigger"] = e.Context.Trigger
	}
	vars["journey"] = map[string]any{"id": x.j.ID, "name": x.j.Name, "step": s.ID}
	ch, purpose := s.Channel, s.Purpose
	if s.Type == StepWebhook {
		ch, purpose = message.Webhook, message.Transactional
		vars["url"] = s.URL
		vars["customer_id"] = e.CustomerID
	}
	if s.Content != nil {
		vars["content"] = map[string]any{"subject": s.Content.Subject, "text": s.Content.Text, "html": s.Content.HTML}
	}
	if purpose == "" {
		purpose = message.Marketing
	}
	return &OutboxItem{
		Outgoing: message.Outgoing{
			Key:        SendKey(x.j.ID, e.ID, s.ID, e.Context.Visits[s.ID]),
			CustomerID: e.CustomerID, Channel: ch, Purpose: purpose, TemplateID: s.TemplateID,
			Source: Source(x.j.ID, s.ID), Vars: vars, NotBefore: x.now,
		},
		JourneyID: x.j.ID, Step: s.ID, EnrollmentID: e.ID,
	}
}

// maxAttempts is how often a failing coupon or points step is retried.
const maxAttempts = 6

// loyaltyStep issues a coupon or moves points. Loyalty calls are
// idempotent by key, so a repeat after a crash changes nothing.
func (r *Runner) loyaltyStep(ctx context.Context, x *exec, s *Step) bool {
	e := &x.out.Enrollment
	key := SendKey(x.j.ID, e.ID, s.ID, e.Context.Visits[s.ID])
	var err error
	switch {
	case r.loyalty == nil:
		err = errs.Errorf(errs.Unavailable, "the loyalty programme is not available: %s steps cannot run", s.Type)
	case s.Type == StepCoupon:
		var code string
		code, err = r.loyalty.IssueCoupon(ctx, e.CustomerID, s.CouponCampaignID, key)
		if err == nil {
			if e.Context.Vars == nil {
				e.Context.Vars = map[string]any{}
			}
			e.Context.Vars["coupon_code"] = code
		}
	default:
		reason := s.Reason
		if reason == "" {
			reason = x.j.Name
		}
		err = r.loyalty.AdjustPoints(ctx, e.CustomerID, s.Points, reason, key)
	}
	if err == nil {
		x.stat(s.ID, MetricSent, 1)
		r.arrive(x, s.Next)
		return true
	}
	e.Context.Attempts++
	e.LastError = errs.Message(err)
	permanent := false
	switch errs.Code(err) {
	case errs.Invalid, errs.NotFound, errs.Conflict, errs.Forbidden:
		permanent = true
	}
	if ctx.Err() != nil {
		return false // shutting down: the lease runs out and the step runs again
	}
	if permanent || e.Context.Attempts >= maxAttempts {
		x.stat(s.ID, MetricFailed, 1)
		r.log.Warn("journey step failed", "journey", x.j.ID, "step", s.ID, "enrollment", e.ID, "err", err)
		r.end(x, EndError, e.LastError)
		return false
	}
	e.DueAt = x.now.Add(Backoff(e.Context.Attempts))
	return false
}

// Backoff is the wait before retry n (1-based): 1 min, 5 min, 15 min,
// 1 h, 3 h, then 6 h.
func Backoff(n int) time.Duration {
	steps := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour}
	if n-1 < len(steps) && n >= 1 {
		return steps[n-1]
	}
	return 6 * time.Hour
}

// resolve fetches, in bulk, the data executions wait for.
func (r *Runner) resolve(ctx context.Context, xs []*exec) error {
	type key struct {
		journey int64
		step    string
	}
	conds := map[key][]*exec{}
	engs := map[int64]string{}
	byID := map[int64]*exec{}
	purchases := map[int64]time.Time{}
	for _, x := range xs {
		e := &x.out.Enrollment
		byID[e.ID] = x
		switch x.need {
		case needCondition:
			k := key{x.j.ID, e.Step}
			conds[k] = append(conds[k], x)
		case needEngagement:
			s, _ := x.j.Step(e.Step)
			engs[e.ID] = s.Engagement.Step
		case needPurchase:
			since := e.EnteredAt
			if x.eng != nil {
				since = x.eng.SentAt
			}
			purchases[e.CustomerID] = minTime(purchases[e.CustomerID], since)
		}
	}
	for k, group := range conds {
		s, _ := group[0].j.Step(k.step)
		ids := make([]int64, len(group))
		for i, x := range group {
			ids[i] = x.out.CustomerID
		}
		match, err := r.st.MatchCustomers(ctx, *s.Condition, ids)
		if err != nil {
			return fmt.Errorf("journey %d step %s condition: %w", k.journey, k.step, err)
		}
		for _, x := range group {
			x.cond[k.step] = match[x.out.CustomerID]
		}
	}
	if len(engs) > 0 {
		got, err := r.st.Engagements(ctx, engs)
		if err != nil {
			return err
		}
		for id := range engs {
			g := got[id]
			byID[id].eng = &g
		}
	}
	if len(purchases) > 0 {
		got, err := r.st.OrdersSince(ctx, purchases)
		if err != nil {
			return err
		}
		for _, x := range xs {
			if x.need != needPurchase {
				continue
			}
			v := int64(-1)
			if t, ok := got[x.out.CustomerID]; ok {
				v = t
			}
			x.purchased = &v
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// MatchSignal reports whether a signal is an event of name (an order
// counts as EventOrderCompleted) with the given properties and SKU.
func MatchSignal(sig Signal, name string, where map[string]string, sku string) bool {
	if sig.Name != name {
		return false
	}
	if sku != "" {
		if sig.IsOrder() {
			found := false
			for _, s := range sig.SKUs {
				found = found || s == sku
			}
			if !found {
				return false
			}
		} else if sig.SKU != sku {
			return false
		}
	}
	for k, v := range where {
		if fmt.Sprint(sig.Properties[k]) != v {
			return false
		}
	}
	return true
}

package journey

import "strings"

// Stats are a journey's counters: for the journey and for each step.
// Opened, clicked, converted and revenue of send steps come from the
// channels' tracking (through the outbox, internal/store RecordEngagement
// and RecordConversion); conversions of the journey from its goal.
type Stats struct {
	JourneyID int64 `json:"journey_id"`
	Entered   int64 `json:"entered"`
	// Active counts enrollments not ended, now.
	Active    int64            `json:"active"`
	Converted int64            `json:"converted"`
	Revenue   int64            `json:"revenue"`
	Exited    int64            `json:"exited"`
	Exits     map[string]int64 `json:"exits"` // by end reason
	Steps     []StepStats      `json:"steps"`
}

// StepStats are one step's counters.
type StepStats struct {
	Step string `json:"step"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	// Current counts enrollments at the step now.
	Current   int64            `json:"current"`
	Entered   int64            `json:"entered"`
	Sent      int64            `json:"sent"`
	Failed    int64            `json:"failed"`
	Skipped   int64            `json:"skipped"`
	Capped    int64            `json:"capped"`
	Opened    int64            `json:"opened"`
	Clicked   int64            `json:"clicked"`
	Converted int64            `json:"converted"`
	Revenue   int64            `json:"revenue"`
	Timeouts  int64            `json:"timeouts"`
	Variants  map[string]int64 `json:"variants,omitempty"`
}

// Assemble builds Stats from raw counters (step, metric → value) and the
// current count per step, in the journey's step order.
func Assemble(j *Journey, counters map[[2]string]int64, current map[string]int64) *Stats {
	st := &Stats{JourneyID: j.ID, Exits: map[string]int64{}}
	for k, v := range counters {
		if k[0] != "" {
			continue
		}
		switch {
		case k[1] == MetricEntered:
			st.Entered = v
		case k[1] == MetricConverted:
			st.Converted = v
		case k[1] == MetricRevenue:
			st.Revenue = v
		case k[1] == MetricExited:
			st.Exited = v
		case strings.HasPrefix(k[1], MetricExited+":"):
			st.Exits[strings.TrimPrefix(k[1], MetricExited+":")] = v
		}
	}
	for _, c := range current {
		st.Active += c
	}
	for _, s := range j.Steps {
		ss := StepStats{Step: s.ID, Type: s.Type, Name: s.Name, Current: current[s.ID]}
		get := func(m string) int64 { return counters[[2]string{s.ID, m}] }
		ss.Entered, ss.Sent, ss.Failed, ss.Skipped, ss.Capped = get(MetricEntered), get(MetricSent), get(MetricFailed), get(MetricSkipped), get(MetricCapped)
		ss.Opened, ss.Clicked, ss.Converted, ss.Revenue, ss.Timeouts = get(MetricOpened), get(MetricClicked), get(MetricConverted), get(MetricRevenue), get(MetricTimeout)
		for _, v := range s.Variants {
			if ss.Variants == nil {
				ss.Variants = map[string]int64{}
			}
			ss.Variants[v.Name] = get("variant:" + v.Name)
		}
		st.Steps = append(st.Steps, ss)
	}
	return st
}

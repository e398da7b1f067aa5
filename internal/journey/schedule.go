package journey

import (
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
)

// WakeAt returns when a wait step ends for an enrollment that arrived at
// the step at arrived and entered the journey at entered. Calendar parts
// are read in Asia/Tokyo:
//   - Days and At: that many calendar days after the base day, at At
//     (without At, at the base's time of day);
//   - Duration: added after that;
//   - Until: then on to the next HH:MM at or after that instant;
//   - Weekdays: then on, day by day, to an allowed weekday.
//
// The base is the arrival, or the entry when From is "entry", so that a
// series of waits can keep to "day 3, day 7, day 14 after the purchase"
// however long the sends in between waited for quiet hours.
func (s *Step) WakeAt(arrived, entered time.Time) time.Time {
	base := arrived
	if s.From == "entry" {
		base = entered
	}
	base = base.In(clock.Tokyo)
	t := base
	if s.Days > 0 || s.At != "" {
		d := clock.StartOfDay(base).AddDate(0, 0, s.Days)
		if s.At != "" {
			c, _ := ParseClock(s.At)
			t = time.Date(d.Year(), d.Month(), d.Day(), c.Hour, c.Minute, 0, 0, clock.Tokyo)
		} else {
			t = time.Date(d.Year(), d.Month(), d.Day(), base.Hour(), base.Minute(), base.Second(), base.Nanosecond(), clock.Tokyo)
		}
	}
	t = t.Add(s.Duration.Duration)
	if s.Until != "" {
		c, _ := ParseClock(s.Until)
		u := time.Date(t.Year(), t.Month(), t.Day(), c.Hour, c.Minute, 0, 0, clock.Tokyo)
		if u.Before(t) {
			u = u.AddDate(0, 0, 1)
		}
		t = u
	}
	if len(s.Weekdays) > 0 {
		allowed := map[time.Weekday]bool{}
		for _, w := range s.Weekdays {
			allowed[weekdayNames[strings.ToLower(w)]] = true
		}
		for i := 0; i < 7 && !allowed[t.Weekday()]; i++ {
			t = t.AddDate(0, 0, 1)
		}
	}
	return t.UTC()
}

// ClockOn returns the instant of HH:MM on the Tokyo day of t.
func ClockOn(day time.Time, hhmm string) time.Time {
	c, err := ParseClock(hhmm)
	if err != nil {
		c = Clock{9, 0}
	}
	d := clock.StartOfDay(day)
	return time.Date(d.Year(), d.Month(), d.Day(), c.Hour, c.Minute, 0, 0, clock.Tokyo).UTC()
}

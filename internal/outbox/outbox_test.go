package outbox

import (
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/message"
)

func TestQuietHoursHoldMarketingUntilMorning(t *testing.T) {
	t.Parallel()
	r := DefaultRules()
	jst := func(s string) time.Time {
		v, _ := time.ParseInLocation("2006-01-02 15:04", s, clock.Tokyo)
		return v.UTC()
	}
	for in, want := range map[string]string{
		"2026-04-01 20:59": "2026-04-01 20:59", "2026-04-01 21:00": "2026-04-02 09:00", "2026-04-02 03:30": "2026-04-02 09:00",
		"2026-04-02 09:00": "2026-04-02 09:00", "2026-04-02 12:00": "2026-04-02 12:00",
	} {
		if got := r.QuietUntil(jst(in), clock.Tokyo); !got.Equal(jst(want)) {
			t.Errorf("%s → %s, want %s", in, got.In(clock.Tokyo).Format("2006-01-02 15:04"), want)
		}
	}
	la, _ := time.LoadLocation("America/Los_Angeles")
	at := time.Date(2026, 4, 1, 23, 0, 0, 0, la)
	if got := r.QuietUntil(at, la); !got.Equal(time.Date(2026, 4, 2, 9, 0, 0, 0, la)) {
		t.Errorf("Los Angeles 23:00 → %v", got.In(la))
	}
	now := jst("2026-04-01 22:00")
	if d := decide(r, Item{Outgoing: message.Outgoing{Purpose: message.Transactional}}, Counts{}, Counts{}, now); d.Status != Sending {
		t.Errorf("transactional in quiet hours: %+v", d)
	}
	if d := decide(r, Item{Outgoing: message.Outgoing{Purpose: message.Marketing, Channel: message.Email}}, Counts{}, Counts{}, now); d.Status != Queued || !d.NotBefore.Equal(jst("2026-04-02 09:00")) {
		t.Errorf("marketing in quiet hours: %+v", d)
	}
}

func TestCapsPerChannelAndAcrossChannels(t *testing.T) {
	t.Parallel()
	r := Rules{Caps: []Cap{{Channel: "email", Per: "day", Max: 2}, {Channel: "*", Per: "week", Max: 5}}}
	cases := []struct {
		ch       message.Channel
		own, all Counts
		capped   bool
	}{
		{message.Email, Counts{Day: 1, Week: 1}, Counts{Day: 1, Week: 1}, false},
		{message.Email, Counts{Day: 2, Week: 2}, Counts{Day: 2, Week: 2}, true},
		{message.LINE, Counts{Day: 3, Week: 3}, Counts{Day: 4, Week: 4}, false},
		{message.LINE, Counts{Day: 0, Week: 0}, Counts{Day: 1, Week: 5}, true},
	}
	for i, c := range cases {
		if got := r.Capped(c.ch, c.own, c.all); got != c.capped {
			t.Errorf("case %d: capped = %v", i, got)
		}
	}
	if _, err := ParseRules([]byte(`{"caps":[{"channel":"email","per":"month","max":1}]}`)); err == nil {
		t.Error("a monthly cap was accepted")
	}
	if _, err := ParseRules([]byte(`{"quiet_hours":null,"caps":[]}`)); err != nil {
		t.Errorf("no rules: %v", err)
	}
}

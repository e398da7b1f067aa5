package http_test

import (
	"bytes"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/engine"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestJourneyThroughRealChannels runs a journey in the engine with the real
// channel service as its dispatcher, delivering to the fake SMTP server: the
// mail is DKIM-signed with List-Unsubscribe, a one-click unsubscribe stops
// the journey's later mail, quiet hours hold a send until 09:00, and the
// daily cap keeps a second mail that day from going (smart sending: capped
// messages are skipped, not postponed).
func TestJourneyThroughRealChannels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		ce.customer("c0001", "taro@example.com", true)
		ce.customer("c0002", "hana@example.com", true)
		if err := ce.db.SetSetting(ctx, "messaging.rules",
			`{"quiet_hours":{"start":"21:00","end":"09:00"},"caps":[{"channel":"email","per":"day","max":1}]}`); err != nil {
			t.Fatal(err)
		}
		jk := ce.key("journeys:write", "segments:write", "reports:read")
		code, out := ce.call(nil, "POST", "/api/v1/segments", jk, map[string]any{"name": "全員", "condition": map[string]any{}}, nil)
		if code != 201 {
			t.Fatalf("segment = %d %v", code, out)
		}
		seg := out["id"]

		def := map[string]any{"name": "三通のお便り",
			"trigger": map[string]any{"type": "segment_enter", "segment_id": seg, "include_existing": true},
			"steps": []any{
				map[string]any{"id": "s1", "type": "send", "channel": "email", "template_id": ce.template, "next": "w1"},
				map[string]any{"id": "w1", "type": "wait", "duration": "9h30m", "next": "s2"},
				map[string]any{"id": "s2", "type": "send", "channel": "email", "template_id": ce.template, "next": "w2"},
				map[string]any{"id": "w2", "type": "wait", "duration": "1h", "next": "s3"},
				map[string]any{"id": "s3", "type": "send", "channel": "email", "template_id": ce.template},
			}}
		code, out = ce.call(nil, "POST", "/api/v1/journeys", jk, def, nil)
		if code != 201 {
			t.Fatalf("journey = %d %v", code, out)
		}
		jid := int64(out["id"].(float64))
		if code, out = ce.call(nil, "POST", "/api/v1/journeys/"+itoa(jid)+"/enable", jk, nil, nil); code != 200 {
			t.Fatalf("enable = %d %v", code, out)
		}
		eng := engine.New(ce.db, ce.clock, engine.Config{Dispatcher: ce.svc})
		at := func(day int, hhmm string) {
			t.Helper()
			tm, _ := time.ParseInLocation("2006-01-02 15:04", storetest.T0.In(clock.Tokyo).AddDate(0, 0, day).Format("2006-01-02")+" "+hhmm, clock.Tokyo)
			ce.clock.Set(tm)
			if err := eng.Drain(ctx); err != nil {
				t.Fatal(err)
			}
		}
		mailsTo := func(addr string) int {
			n := 0
			for _, m := range ce.smtp.Messages() {
				for _, to := range m.To {
					if to == addr {
						n++
					}
				}
			}
			return n
		}

		at(0, "12:00") // s1 goes at once
		if mailsTo("taro@example.com") != 1 || mailsTo("hana@example.com") != 1 {
			t.Fatalf("after s1: %d mails", len(ce.smtp.Messages()))
		}
		raw := ce.smtp.Messages()[0].Data
		v, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{ce.dkimRec}, nil }})
		if err != nil || len(v) != 1 || v[0].Err != nil {
			t.Fatalf("DKIM: %v %+v", err, v)
		}
		m, _ := mail.ReadMessage(bytes.NewReader(raw))
		if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.Contains(m.Header.Get("List-Unsubscribe"), "/u/") {
			t.Fatalf("headers: %v", m.Header)
		}

		// Taro unsubscribes with one click from his first mail.
		var lu string
		for _, msg := range ce.smtp.Messages() {
			if msg.To[0] == "taro@example.com" {
				mm, _ := mail.ReadMessage(bytes.NewReader(msg.Data))
				lu = strings.Trim(mm.Header.Get("List-Unsubscribe"), "<>")
			}
		}
		resp, err := http.Post(lu, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("one-click unsubscribe = %v %v", resp, err)
		}
		resp.Body.Close()

		at(0, "21:30") // s2 is due, but within quiet hours: it waits
		at(1, "08:59")
		if n := len(ce.smtp.Messages()); n != 2 {
			t.Fatalf("quiet hours: %d mails before 09:00, want 2", n)
		}
		at(1, "09:00") // quiet hours over: Hanako gets s2; Taro, unsubscribed, does not
		if mailsTo("hana@example.com") != 2 || mailsTo("taro@example.com") != 1 {
			t.Fatalf("after quiet hours: Hanako %d, Taro %d mails; want 2 and 1", mailsTo("hana@example.com"), mailsTo("taro@example.com"))
		}
		at(1, "10:30") // s3 is due, but today's cap of one e-mail is used: it is not sent
		at(5, "12:00")
		if mailsTo("hana@example.com") != 2 || mailsTo("taro@example.com") != 1 {
			t.Fatalf("after the cap: Hanako %d, Taro %d mails; want 2 and 1", mailsTo("hana@example.com"), mailsTo("taro@example.com"))
		}
		code, st := ce.call(nil, "GET", "/api/v1/journeys/"+itoa(jid)+"/stats", jk, nil, nil)
		if code != 200 || st["active"] != 0.0 {
			t.Fatalf("journey stats = %d %v", code, st)
		}
	})
}

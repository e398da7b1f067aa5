package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/event"
	fakesmtp "github.com/enishi-crm/enishi/internal/fake/smtp"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

// testEngine is what a marketer does with segments, journeys, campaigns
// and templates in the browser.
func testEngine(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "engine")
	b.login("admin@example.com", s.login["admin@example.com"])

	// An RFM cell of the heat map's table becomes a segment.
	b.do("rfm cell",
		chromedp.Navigate(b.base+"/analytics/rfm/customers?r=1&f=1"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=cell-count]`)),
	)
	b.do("save the cell as a segment",
		chromedp.Click(chromedp.CSS(`[data-testid=save-rfm-segment-button]`)),
		waitFor(`location.pathname.startsWith("/segments/") && !!document.querySelector('[data-testid=segment-count]')`),
	)
	if n := b.text("segment page", `[data-testid=segment-count]`); n == "" || n == "0" {
		t.Errorf("the RFM segment has %q members", n)
	}
	if c := b.text("segment page", `[data-testid=condition-summary]`); !strings.Contains(c, "RFM R") {
		t.Errorf("condition summary %q", c)
	}

	// The visual builder: choose a field, an operator and a value; the live
	// count follows; a second row narrows it.
	var all, repeat int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT count(*), count(*) FILTER (WHERE order_count >= 2) FROM customers WHERE status = 'active'`).Scan(&all, &repeat); err != nil {
		t.Fatal(err)
	}
	b.do("segment editor",
		chromedp.Navigate(b.base+"/segments/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=field-0-0]`)),
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=seg-count]').dataset.count === "%d"`, all)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=segment-name]`), "リピーター"),
		chromedp.SetValue(chromedp.CSS(`[data-testid=field-0-0]`), "order_count"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=field-0-0]').dispatchEvent(new Event('change', {bubbles: true}))`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=value-0-0]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid=op-0-0]`), ">="),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=value-0-0]`), "2"),
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=seg-count]').dataset.count === "%d"`, repeat)),
		chromedp.Click(chromedp.CSS(`[data-testid=add-row-0]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=field-0-1]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=save-segment]`)),
		waitFor(`location.search.includes("ok=segment_saved")`),
	)
	if n := b.text("saved segment", `[data-testid=segment-count]`); n != formatNum(repeat) {
		t.Errorf("saved segment has %s members, want %d", n, repeat)
	}

	id, addr := testCartAbandonment(t, b, s)
	testCampaign(t, b, s, id, addr)

	// The block editor: add a coupon block, save; the preview frames fill
	// as the editor loads and changes.
	b.do("template editor",
		chromedp.Navigate(b.base+"/templates/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=block-0]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=template-name]`), "春のお知らせ"),
		chromedp.Click(chromedp.CSS(`[data-testid=add-block-coupon]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=block-3]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=block-text-1]`), " 春の新作です。"),
		chromedp.Click(chromedp.CSS(`[data-testid=save-template]`)),
		waitFor(`location.search.includes("ok=template_saved")`),
	)
	frame := b.evalAsync("template preview", `(() => { const f = document.querySelector('[data-testid=template-form]'); const d = new FormData(f);
		return fetch("/templates/preview?width=tpl-email-desktop", {method: "POST", body: new URLSearchParams(d)}).then(r => r.text()); })()`)
	if !strings.Contains(frame, "春の新作です。") {
		t.Errorf("template preview lacks the text: %.300s", frame)
	}

	// Every page of this area opens without a console error, in both
	// languages.
	var jid, cid int64
	_ = s.db.Read.QueryRowContext(context.Background(), `SELECT max(id) FROM journeys`).Scan(&jid)
	_ = s.db.Read.QueryRowContext(context.Background(), `SELECT max(id) FROM campaigns`).Scan(&cid)
	pages := []string{"/segments", "/segments/new", "/journeys", "/journeys/new", fmt.Sprintf("/journeys/%d", jid), "/campaigns", "/campaigns/new",
		fmt.Sprintf("/campaigns/%d", cid), "/templates", "/templates/new"}
	for _, lang := range []string{"en", "ja"} {
		b.do("language "+lang, chromedp.Navigate(b.base+"/lang/"+lang+"?next=/segments"), waitFor(`document.documentElement.lang === "`+lang+`"`))
		for _, p := range pages {
			b.do(lang+" "+p, chromedp.Navigate(b.base+p), chromedp.WaitVisible(chromedp.CSS(`main h1`)), chromedp.Sleep(200*time.Millisecond))
		}
	}
}

// testCampaign writes a campaign to the segment saved above, previews it
// as the customer, sends them a test, and follows the unsubscribe link of
// that mail.
func testCampaign(t *testing.T, b *browser, s *server, id int64, addr string) {
	b.do("campaign editor",
		chromedp.Navigate(b.base+"/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=campaign-form]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=campaign-name]`), "春の新作"),
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-testid=campaign-segment]'); s.selectedIndex = 1; })()`),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=subject-0]`), "{{ customer.last_name }}様へ 春の新作"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=text-0]`), "新作が入荷しました。"),
		chromedp.Click(chromedp.CSS(`[data-testid=save-campaign]`)),
		waitFor(`location.search.includes("ok=campaign_saved")`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=preview-desktop]`)),
	)
	var last string
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT last_name FROM customers WHERE id = $1`, id).Scan(&last); err != nil {
		t.Fatal(err)
	}
	b.do("preview as the customer",
		chromedp.SetValue(chromedp.CSS(`[data-testid=preview-customer]`), fmt.Sprint(id)),
		chromedp.Submit(chromedp.CSS(`[data-testid=preview-customer]`)),
		waitFor(fmt.Sprintf(`location.search.includes("customer=%d")`, id)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=preview-mobile]`)),
	)
	frame := b.evalAsync("preview", `fetch(document.querySelector('[data-testid=preview-mobile]').src).then(r => r.text())`)
	if !strings.Contains(frame, last+"様へ 春の新作") || !strings.Contains(frame, "配信停止") {
		t.Errorf("the preview is not the customer's message: %s", frame[strings.Index(frame, "<body"):])
	}
	b.do("test send",
		chromedp.SetValue(chromedp.CSS(`[data-testid=test-customer]`), fmt.Sprint(id)),
		chromedp.Click(chromedp.CSS(`[data-testid=test-send]`)),
		waitFor(`location.search.includes("ok=campaign_test_sent")`),
	)
	var mail *mail.Message
	for _, m := range mailTo(s.smtp, addr) {
		if strings.Contains(subject(m), "春の新作") {
			mail = m
		}
	}
	if mail == nil {
		t.Fatalf("no test campaign mail to %s", addr)
	}
	unsub := strings.Trim(mail.Header.Get("List-Unsubscribe"), "<>")
	if !strings.HasPrefix(unsub, b.base+"/u/") {
		t.Fatalf("List-Unsubscribe = %q", unsub)
	}
	b.do("unsubscribe from the mail",
		chromedp.Navigate(unsub),
		chromedp.WaitVisible(chromedp.CSS(`form button`)),
		chromedp.Click(chromedp.CSS(`form button`)),
		waitFor(`document.body.innerText.includes("停止しました")`),
	)
	var granted bool
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT granted FROM consent_records WHERE customer_id = $1 AND channel = 'email' ORDER BY id DESC LIMIT 1`, id).Scan(&granted); err != nil || granted {
		t.Errorf("after unsubscribing, e-mail consent granted = %v (%v)", granted, err)
	}
}

// testCartAbandonment builds the cart-abandonment journey from the
// gallery, starts it, and sees a checkout left behind bring the first
// reminder to the SMTP sink once the dev clock moved past the wait.
func testCartAbandonment(t *testing.T, b *browser, s *server) (int64, string) {
	ctx := context.Background()
	// The demo ships its own cart-abandonment journey, switched on: pause
	// the demo's journeys so that only the one built here mails.
	enabled, err := s.db.EnabledJourneys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(enabled) == 0 {
		t.Fatal("the demo has no journey switched on")
	}
	for _, j := range enabled {
		if _, err := s.db.SetJourneyStatus(ctx, j.ID, journey.Disabled); err != nil {
			t.Fatal(err)
		}
	}
	b.do("journey gallery",
		chromedp.Navigate(b.base+"/journeys/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=tpl-cart_abandonment]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=coupon-cart_abandonment]`), "CART10"),
		chromedp.Click(chromedp.CSS(`[data-testid=use-cart_abandonment]`)),
		waitFor(`location.search.includes("ok=journey_created")`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=step-remind1]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=enable-journey]`)),
		waitFor(`document.querySelector('[data-testid=journey-status]')?.dataset.status === "enabled"`),
	)
	jpath := b.eval("journey path", `location.pathname`)
	// Dev time: tomorrow 10:00 in Tokyo, outside quiet hours.
	next := time.Now().In(clock.Tokyo).AddDate(0, 0, 1)
	at := time.Date(next.Year(), next.Month(), next.Day(), 10, 0, 0, 0, clock.Tokyo)
	b.devClock(`{"set": "` + at.Format(time.RFC3339) + `"}`)
	// Sessions follow the wall clock, not the dev clock: still signed in.
	b.do("back to the journey", chromedp.Navigate(b.base+jpath), chromedp.WaitVisible(chromedp.CSS(`[data-testid=flow]`)))

	// A customer who may receive e-mail starts a checkout and leaves.
	var id int64
	var addr string
	if err := s.db.Read.QueryRowContext(ctx, `SELECT id, email FROM customers WHERE status = 'active' AND email LIKE '%@%' ORDER BY id DESC LIMIT 1`).Scan(&id, &addr); err != nil {
		t.Fatal(err)
	}
	if err := s.db.RecordConsent(ctx, id, customer.Consent{Channel: "email", Granted: true, Method: "form", Source: "e2e"}); err != nil {
		t.Fatal(err)
	}
	ident, err := identity.EmailID(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ImportEvents(ctx, []event.Event{{Type: "track", Name: "Checkout Started", OccurredAt: at, Source: "web", MessageID: "e2e-checkout-1",
		Actor: customer.Record{Identifiers: []identity.Identifier{ident}}}}); err != nil {
		t.Fatal(err)
	}
	b.do("the customer enters the journey",
		waitFor(`(fetch(location.pathname).then(r => r.text()).then(t => { window.__page = t; }), (window.__page || "").includes('data-testid="current-h1">1<'))`),
	)
	if n := len(mailTo(s.smtp, addr)); n != 0 {
		t.Fatalf("%d mails before the wait ended", n)
	}
	b.devClock(`{"advance": "2h"}`)
	b.do("the first reminder goes",
		waitFor(`(fetch(location.pathname).then(r => r.text()).then(t => { window.__page = t; }), (window.__page || "").includes('data-testid="sent-remind1">1<'))`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=sent-remind1]`)),
	)
	mails := mailTo(s.smtp, addr)
	if len(mails) != 1 || subject(mails[0]) != "カートに商品が残っています" {
		t.Fatalf("mails to %s: %d %v", addr, len(mails), mails)
	}
	if n := b.text("flow", `[data-testid=current-h24]`); n != "1" {
		t.Errorf("%s customers wait at h24, want 1", n)
	}
	return id, addr
}

// devClock moves the server's dev clock through its API, with the page's
// session and form token.
func (b *browser) devClock(body string) {
	b.t.Helper()
	js := `fetch("/api/v1/dev/clock", {method: "POST", headers: {"Content-Type": "application/json",
		"X-CSRF-Token": document.querySelector('input[name=csrf_token]').value}, body: ` + strconvQuote(body) + `}).then(r => r.status)`
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	code, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil || code != 200 {
		b.fail("dev clock", fmt.Errorf("POST /api/v1/dev/clock %s: %d %v", body, code, err))
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// prepareChannels points the server's e-mail at an in-process SMTP sink
// before it starts: the channel settings (shop footer, base URL for the
// unsubscribe links) are stored in its database, on the address it will
// listen on.
func prepareChannels(t *testing.T, dbPath string) (string, *fakesmtp.Server) {
	t.Helper()
	sink, err := fakesmtp.Start(fakesmtp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	db, err := sqlite.Open(dbPath, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set := channel.Settings{BaseURL: "http://" + addr,
		Shop:  content.Shop{Name: "縁コスメ", Address: "東京都渋谷区神宮前1-2-3", Contact: "support@shop.example.com", URL: "https://shop.example.com"},
		Email: channel.EmailSettings{FromName: "縁コスメ", FromAddress: "news@shop.example.com", Host: sink.Host, Port: sink.Port, Security: "none"}}
	b, _ := json.Marshal(set)
	if err := db.SetSetting(context.Background(), channel.SettingsKey, string(b)); err != nil {
		t.Fatal(err)
	}
	return addr, sink
}

// mailTo returns the messages the sink accepted for an address.
func mailTo(sink *fakesmtp.Server, addr string) []*mail.Message {
	var out []*mail.Message
	for _, m := range sink.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil {
					out = append(out, msg)
				}
			}
		}
	}
	return out
}

// subject decodes a message's subject (MIME encoded words).
func subject(m *mail.Message) string {
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return m.Header.Get("Subject")
	}
	return s
}

// evalAsync evaluates JavaScript that gives a promise of a string.
func (b *browser) evalAsync(step, js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(step, err)
	}
	return s
}

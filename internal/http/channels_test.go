package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/channel/providers"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	fakeline "github.com/enishi-crm/enishi/internal/fake/line"
	fakesmtp "github.com/enishi-crm/enishi/internal/fake/smtp"
	faketwilio "github.com/enishi-crm/enishi/internal/fake/twilio"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store/storetest"
	"github.com/enishi-crm/enishi/internal/survey"
)

type secrets map[string]string

func (s secrets) Secret(_ context.Context, name string) (string, bool, error) {
	v, ok := s[name]
	return v, ok, nil
}

// chanEnv is a server with every channel pointed at an in-process fake.
type chanEnv struct {
	*env
	clock    *clock.Manual
	svc      *channel.Service
	smtp     *fakesmtp.Server
	line     *fakeline.Server
	twilio   *faketwilio.Server
	dkimRec  string
	admin    string
	template int64
}

func newChanEnv(t *testing.T, open storetest.Opener) *chanEnv {
	c := clock.NewManual(storetest.T0, true)
	db := open(t, c)
	smtpSrv, err := fakesmtp.Start(fakesmtp.Options{Username: "shop", Password: "smtp-pass"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	lineSrv := fakeline.Start("line-token")
	t.Cleanup(lineSrv.Close)
	tw := faketwilio.Start("ACtest", "twilio-token")
	t.Cleanup(tw.Close)
	key, rec, err := email.GenerateDKIMKey()
	if err != nil {
		t.Fatal(err)
	}
	sec := secrets{channel.SecretSMTPPassword: "smtp-pass", channel.SecretDKIMKey: key, channel.SecretLINEToken: "line-token",
		channel.SecretTwilioAuthToken: "twilio-token"}
	ce := &chanEnv{clock: c, smtp: smtpSrv, line: lineSrv, twilio: tw, dkimRec: rec}
	var svc *channel.Service
	var api *enishihttp.Server
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	set := &channel.Settings{BaseURL: srv.URL, Shop: customerShop(), UTMHosts: []string{"shop.example.com"},
		Email: channel.EmailSettings{FromName: "緑茶の店 ことのは", FromAddress: "news@shop.example.com", Host: smtpSrv.Host, Port: smtpSrv.Port,
			Security: "starttls", Username: "shop", DKIMDomain: "shop.example.com", DKIMSelector: "enishi"},
		LINE: channel.LINESettings{APIBase: lineSrv.URL},
		SMS:  channel.SMSSettings{Provider: "twilio", AccountSID: "ACtest", From: "+815011112222", APIBase: tw.URL}}
	b, _ := json.Marshal(set)
	if err := db.SetSetting(ctx, channel.SettingsKey, string(b)); err != nil {
		t.Fatal(err)
	}
	reload := func(ctx context.Context) error {
		s, err := channel.LoadSettings(ctx, db)
		if err != nil {
			return err
		}
		ps, err := providers.Build(ctx, s, sec, providers.Options{SMTPTLS: smtpSrv.Config})
		if err != nil {
			return err
		}
		svc.SetSenders(ps.Senders, ps.LINE)
		return nil
	}
	svc, err = channel.New(ctx, channel.Config{Store: db, Clock: c, Secrets: sec, Recommender: db, Loyalty: db, Surveys: &survey.Linker{Store: db}, Reviews: db, Exclusions: db,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := reload(ctx); err != nil {
		t.Fatal(err)
	}
	api = enishihttp.New(enishihttp.Config{Store: db, Clock: c, Channels: svc, ReloadChannels: reload, Secrets: sec})
	mux.Handle("/", api)
	ce.env = &env{t: t, db: db, srv: srv, api: api}
	ce.svc = svc
	ce.admin = ce.key("campaigns:send", "customers:read", "customers:write", "pii:read", "reports:read", "settings:write", "ingest:write", "customers:export")
	code, out := ce.call(nil, "POST", "/api/v1/templates", ce.admin, map[string]any{"name": "春の再購入", "purpose": "marketing", "variants": []any{
		map[string]any{"channel": "email", "subject": "{{ customer.honorific_name }}へ春のお知らせ", "blocks": []any{
			map[string]any{"type": "heading", "text": "{{ customer.honorific_name }}"},
			map[string]any{"type": "text", "text": "前回ご購入の{{ last_purchase.product }}はいかがでしたか。"},
			map[string]any{"type": "button", "text": "新茶を見る", "url": "https://shop.example.com/new-tea"},
			map[string]any{"type": "coupon", "if": `coupon.code != ""`},
			map[string]any{"type": "products", "count": 2}}},
		map[string]any{"channel": "line", "line": []any{map[string]any{"type": "text", "text": "{{ customer.honorific_name }} 新茶入荷 https://shop.example.com/new-tea"}}},
		map[string]any{"channel": "sms", "text": "{{ customer.last_name }}様 新茶入荷しました https://shop.example.com/new-tea"},
	}}, nil)
	if code != 201 {
		t.Fatalf("create template = %d %v", code, out)
	}
	ce.template = int64(out["id"].(float64))
	return ce
}

func customerShop() content.Shop {
	return content.Shop{Name: "緑茶の店 ことのは", Address: "静岡県静岡市葵区追手町9-6", Contact: "support@shop.example.com / 054-000-0000", URL: "https://shop.example.com"}
}

// customer imports a customer with an order, an e-mail opt-in (when
// optIn), a phone and a LINE id.
func (ce *chanEnv) customer(ext, mail string, optIn bool) int64 {
	b := storetest.Buyer(ce.t, "shop", ext, mail, "090-1234-"+ext[len(ext)-4:])
	b.Profile.LastName, b.Profile.FirstName = "山田", "太郎"
	b.Identifiers = append(b.Identifiers, identity.Identifier{Kind: identity.Line, Source: "prov", Value: fmt.Sprintf("U%032s", ext)})
	if optIn {
		b.Consents = []customer.Consent{{Channel: customer.ChannelEmail, Granted: true, Method: "form", Source: "https://shop.example.com/signup", WordingVersion: "2026-01"},
			{Channel: customer.ChannelSMS, Granted: true, Method: "form"}}
	}
	res, err := ce.db.ImportOrders(ctx, []order.Order{storetest.Order("shop", "o-"+ext, storetest.T0.AddDate(0, 0, -40), b, "TEA-100", 1, 1620)})
	if err != nil {
		ce.t.Fatal(err)
	}
	return res.CustomerIDs[0]
}

func (ce *chanEnv) send(key string, cust int64, ch message.Channel, p message.Purpose) (message.Result, error) {
	return ce.svc.Send(ctx, message.Outgoing{Key: key, CustomerID: cust, Channel: ch, Purpose: p, TemplateID: ce.template,
		Source: "journey:1:step:2", Vars: map[string]any{"coupon_code": "NEWTEA-5"}})
}

func TestJourneyMailIsSignedAndOneClickUnsubscribeStopsTheNext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0001", "taro@example.com", true)
		if _, err := ce.send("journey:1:step:2:customer:1", cust, message.Email, message.Marketing); err != nil {
			t.Fatal(err)
		}
		msgs := ce.smtp.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d mails", len(msgs))
		}
		raw := msgs[0].Data
		v, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) { return []string{ce.dkimRec}, nil }})
		if err != nil || len(v) != 1 || v[0].Err != nil {
			t.Fatalf("DKIM: %v %+v", err, v)
		}
		m, _ := mail.ReadMessage(bytes.NewReader(raw))
		lu := m.Header.Get("List-Unsubscribe")
		if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.HasPrefix(lu, "<"+ce.srv.URL+"/u/") {
			t.Fatalf("List-Unsubscribe = %q", lu)
		}
		body := decodedBody(t, raw)
		for _, want := range []string{"山田 太郎 様", "商品 TEA-100", "NEWTEA-5", "静岡県静岡市葵区追手町9-6", "support@shop.example.com", "/t/o/"} {
			if !strings.Contains(body, want) {
				t.Errorf("mail lacks %q", want)
			}
		}
		// A link scanner's GET changes nothing; the mail client's one-click POST unsubscribes.
		unsub := strings.Trim(lu, "<>")
		resp, _ := http.Get(unsub)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET unsubscribe page = %d", resp.StatusCode)
		}
		if _, err := ce.send("journey:1:step:3:customer:1", cust, message.Email, message.Marketing); err != nil {
			t.Fatalf("a GET of the page unsubscribed: %v", err)
		}
		resp, err = http.Post(unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("one-click POST = %v %v", resp, err)
		}
		resp.Body.Close()
		_, err = ce.send("journey:1:step:4:customer:1", cust, message.Email, message.Marketing)
		var be *channel.BlockedError
		if !errors.As(err, &be) || !message.IsPermanent(err) {
			t.Fatalf("send after unsubscribe = %v", err)
		}
		if n := len(ce.smtp.Messages()); n != 2 {
			t.Fatalf("%d mails after unsubscribing, want 2", n)
		}
		code, v360 := ce.call(nil, "GET", fmt.Sprintf("/api/v1/customers/%d", cust), ce.admin, nil, nil)
		cons := v360["consents"].([]any)
		found := false
		for _, c := range cons {
			c := c.(map[string]any)
			found = found || (c["channel"] == "email" && c["granted"] == false && c["method"] == "unsubscribe")
		}
		if code != 200 || !found {
			t.Fatalf("consents = %v", cons)
		}
		// Transactional mail still goes (an order confirmation is not marketing).
		if _, err := ce.send("order:1:confirmation", cust, message.Email, message.Transactional); err != nil {
			t.Fatalf("transactional after unsubscribe = %v", err)
		}
		// Tokens cannot be guessed: another id, or a tampered token, is refused.
		resp, _ = http.Post(ce.srv.URL+"/u/AQ.AAAAAAAAAAAAAAAAAAAAAA", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("forged token = %d", resp.StatusCode)
		}
	})
}

func decodedBody(t *testing.T, raw []byte) string {
	t.Helper()
	s := string(raw)
	s = strings.ReplaceAll(s, "=\r\n", "")
	re := regexp.MustCompile(`=([0-9A-F]{2})`)
	b := re.ReplaceAllFunc([]byte(s), func(m []byte) []byte {
		var x byte
		fmt.Sscanf(string(m[1:]), "%02X", &x)
		return []byte{x}
	})
	return string(b)
}

func TestNoMarketingWithoutConsent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0002", "hanako@example.com", false)
		for _, ch := range []message.Channel{message.Email, message.SMS} {
			_, err := ce.send("campaign:3:"+string(ch), cust, ch, message.Marketing)
			var be *channel.BlockedError
			if !errors.As(err, &be) || be.Reason != channel.ReasonNoConsent {
				t.Fatalf("%s without consent = %v", ch, err)
			}
		}
		if len(ce.smtp.Messages()) != 0 || len(ce.twilio.Messages()) != 0 {
			t.Fatal("a message went out without consent")
		}
		// The API says so too, and the block is on the timeline.
		code, out := ce.call(nil, "POST", "/api/v1/messages", ce.admin, map[string]any{"key": "api:1", "customer_id": cust, "channel": "email",
			"template_id": ce.template}, nil)
		if code != 422 || out["error"].(map[string]any)["reason"] != channel.ReasonNoConsent {
			t.Fatalf("API send = %d %v", code, out)
		}
		// LINE needs no separate opt-in (following the account is one).
		if _, err := ce.send("campaign:3:line", cust, message.LINE, message.Marketing); err != nil {
			t.Fatal(err)
		}
		// An opt-in recorded later lets the next send go.
		code, _ = ce.call(nil, "POST", fmt.Sprintf("/api/v1/customers/%d/consents", cust), ce.admin, map[string]any{"channel": "email", "granted": true, "method": "form", "source": "mypage"}, nil)
		if code != 201 {
			t.Fatalf("consent = %d", code)
		}
		if _, err := ce.send("campaign:4:email", cust, message.Email, message.Marketing); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRetriesAfterProvider5xxDeliverExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0003", "jiro@example.com", true)
		ce.smtp.FailNext(451, 451, 451)
		ce.line.FailNext(500, 502, 503)
		ce.twilio.FailNext(503, 500, 500)
		for _, ch := range []message.Channel{message.Email, message.LINE, message.SMS} {
			_, err := ce.send("journey:9:"+string(ch), cust, ch, message.Marketing)
			if err == nil || message.IsPermanent(err) {
				t.Fatalf("%s after three 5xx = %v, want a transient error", ch, err)
			}
			rec, _ := ce.db.SendRecordByKey(ctx, "journey:9:"+string(ch))
			if rec.Status != channel.StatusRetry || rec.NextAttemptAt == nil {
				t.Fatalf("%s record = %+v", ch, rec)
			}
			// The engine calling again with the same key before it is due sends nothing.
			if _, err := ce.send("journey:9:"+string(ch), cust, ch, message.Marketing); !errors.Is(err, channel.ErrDuplicate) {
				t.Fatalf("early repeat = %v", err)
			}
		}
		ce.clock.Advance(2 * time.Minute)
		if n, err := ce.svc.RunDue(ctx, 100); err != nil || n != 3 {
			t.Fatalf("run due = %d %v", n, err)
		}
		if n, _ := ce.svc.RunDue(ctx, 100); n != 0 {
			t.Fatalf("second run found %d due", n)
		}
		for _, ch := range []message.Channel{message.Email, message.LINE, message.SMS} {
			if _, err := ce.send("journey:9:"+string(ch), cust, ch, message.Marketing); !errors.Is(err, channel.ErrDuplicate) {
				t.Fatalf("%s repeat after success = %v", ch, err)
			}
			rec, _ := ce.db.SendRecordByKey(ctx, "journey:9:"+string(ch))
			if rec.Status != channel.StatusSent || rec.Attempts != 2 {
				t.Fatalf("%s record = %+v", ch, rec)
			}
		}
		if len(ce.smtp.Messages()) != 1 || len(ce.line.Delivered()) != 1 || len(ce.twilio.Messages()) != 1 {
			t.Fatalf("deliveries: mail %d, LINE %d, SMS %d; want one each", len(ce.smtp.Messages()), len(ce.line.Delivered()), len(ce.twilio.Messages()))
		}
		// A permanent failure is recorded on the customer's timeline.
		ce.smtp.FailNext(550)
		if _, err := ce.send("journey:9:email:2", cust, message.Email, message.Marketing); !message.IsPermanent(err) {
			t.Fatalf("550 = %v", err)
		}
		_, v := ce.call(nil, "GET", fmt.Sprintf("/api/v1/customers/%d", cust), ce.admin, nil, nil)
		failed := false
		for _, it := range v["timeline"].([]any) {
			d, _ := it.(map[string]any)["detail"].(map[string]any)
			failed = failed || (d["status"] == "failed" && strings.Contains(fmt.Sprint(d["error"]), "550"))
		}
		if !failed {
			t.Fatal("the permanent failure is not on the timeline")
		}
	})
}

func TestClickIsTrackedAndTheOrderAttributed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0004", "saburo@example.com", true)
		if _, err := ce.send("journey:1:step:2:customer:4", cust, message.Email, message.Marketing); err != nil {
			t.Fatal(err)
		}
		body := decodedBody(t, ce.smtp.Messages()[0].Data)
		click := regexp.MustCompile(regexp.QuoteMeta(ce.srv.URL) + `/t/c/[A-Za-z0-9_\-.]+`).FindString(body)
		pixel := regexp.MustCompile(regexp.QuoteMeta(ce.srv.URL) + `/t/o/[A-Za-z0-9_\-.]+\.gif`).FindString(body)
		if click == "" || pixel == "" {
			t.Fatalf("no tracked link or pixel in\n%s", body)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(click)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || loc.Host != "shop.example.com" || loc.Path != "/new-tea" || loc.Query().Get("utm_source") != "enishi" ||
			loc.Query().Get("utm_medium") != "email" || loc.Query().Get("utm_campaign") != "journey-1-step-2" {
			t.Fatalf("redirect = %d %s", resp.StatusCode, loc)
		}
		// A tampered link is no open redirect.
		resp, _ = noFollow.Get(click + "x")
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("tampered click = %d", resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", pixel, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0")
		resp, _ = http.DefaultClient.Do(req)
		px, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != "image/gif" || len(px) < 30 {
			t.Fatal("pixel")
		}
		ce.clock.Advance(3 * time.Hour)
		b := storetest.Buyer(t, "shop", "c0004", "saburo@example.com", "")
		res, err := ce.db.ImportOrders(ctx, []order.Order{storetest.Order("shop", "o-after-click", ce.clock.Now(), b, "TEA-200", 2, 2400)})
		if err != nil {
			t.Fatal(err)
		}
		orders, _ := ce.db.CustomerOrders(ctx, res.CustomerIDs[0], 10)
		code, a := ce.call(nil, "GET", fmt.Sprintf("/api/v1/orders/%d/attribution", orders[0].ID), ce.admin, nil, nil)
		if code != 200 || a["touch"] != "click" || a["source"] != "journey:1:step:2" {
			t.Fatalf("attribution = %d %v", code, a)
		}
		code, st := ce.call(nil, "GET", "/api/v1/messages/stats?source=journey:1:", ce.admin, nil, nil)
		s := st["stats"].([]any)[0].(map[string]any)
		if code != 200 || s["sent"] != 1.0 || s["clicked"] != 1.0 || s["opened"] != 1.0 || s["machine_opened"] != 0.0 || s["conversions"] != 1.0 || s["revenue"] != 4800.0 {
			t.Fatalf("stats = %d %v", code, s)
		}
	})
}

func TestBouncesComplaintsAndSTOPSuppress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		a := ce.customer("c0005", "gone@example.com", true)
		bcust := ce.customer("c0006", "soft@example.com", true)
		res, err := ce.send("campaign:5:a", a, message.Email, message.Marketing)
		if err != nil {
			t.Fatal(err)
		}
		dsn := "From: MAILER-DAEMON@mx.example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
			"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
			"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: " + res.ProviderID + "\r\n--B--\r\n"
		req, _ := http.NewRequest("POST", ce.srv.URL+"/api/v1/channels/email/bounces", strings.NewReader(dsn))
		req.Header.Set("Authorization", "Bearer "+ce.admin)
		req.Header.Set("Content-Type", "message/rfc822")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("bounce = %v %v", resp, err)
		}
		resp.Body.Close()
		if _, err := ce.send("campaign:5:a2", a, message.Email, message.Transactional); !errors.Is(err, channel.ErrBlocked) {
			t.Fatalf("send to hard-bounced address = %v", err)
		}
		if rec, _ := ce.db.SendRecordByKey(ctx, "campaign:5:a"); rec.Status != channel.StatusBounced {
			t.Fatalf("bounced record = %+v", rec)
		}
		// Soft bounces retry, and suppress at the third.
		for i := 1; i <= 3; i++ {
			key := fmt.Sprintf("campaign:6:%d", i)
			if _, err := ce.send(key, bcust, message.Email, message.Marketing); err != nil {
				t.Fatalf("send %d = %v", i, err)
			}
			rec, _ := ce.db.SendRecordByKey(ctx, key)
			code, out := ce.call(nil, "POST", "/api/v1/channels/email/bounces", ce.admin, map[string]any{"kind": "soft", "message_id": rec.ID, "status": "4.2.2"},
				map[string]string{"Content-Type": "application/json"})
			r := out["results"].([]any)[0].(map[string]any)
			if code != 200 || r["soft_count"] != float64(i) || r["suppressed"] != (i == 3) || r["retry"] != (i < 3) {
				t.Fatalf("soft bounce %d = %d %v", i, code, out)
			}
		}
		if _, err := ce.send("campaign:6:4", bcust, message.Email, message.Marketing); !errors.Is(err, channel.ErrBlocked) {
			t.Fatalf("after three soft bounces = %v", err)
		}
		code, out := ce.call(nil, "GET", "/api/v1/suppressions?channel=email", ce.key("customers:read"), nil, nil)
		if code != 200 || out["total"] != 2.0 || strings.Contains(fmt.Sprint(out), "gone@example.com") {
			t.Fatalf("suppressions (masked) = %d %v", code, out)
		}
		// SMS: STOP (in Japanese) opts out and suppresses; the callback must be signed.
		phone := "+819012340005"
		resp, err = ce.twilio.Inbound(ce.srv.URL+"/webhooks/sms/inbound", phone, "+815011112222", "配信停止")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("inbound = %v %v", resp, err)
		}
		resp.Body.Close()
		if _, err := ce.send("campaign:7:sms", a, message.SMS, message.Marketing); !errors.Is(err, channel.ErrBlocked) {
			t.Fatalf("SMS after 配信停止 = %v", err)
		}
		forged, _ := http.PostForm(ce.srv.URL+"/webhooks/sms/inbound", url.Values{"From": {phone}, "Body": {"START"}})
		forged.Body.Close()
		if forged.StatusCode != 403 {
			t.Fatalf("unsigned inbound = %d", forged.StatusCode)
		}
		// A delivery status callback marks the SMS delivered.
		if _, err := ce.send("campaign:8:sms", bcust, message.SMS, message.Marketing); err != nil {
			t.Fatal(err)
		}
		msgs := ce.twilio.Messages()
		resp, err = ce.twilio.StatusCallback(msgs[len(msgs)-1], "delivered", "")
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("status callback = %v %v", resp, err)
		}
		if rec, _ := ce.db.SendRecordByKey(ctx, "campaign:8:sms"); rec.Status != channel.StatusDelivered {
			t.Fatalf("after callback = %+v", rec)
		}
	})
}

func TestTemplateErrorsAreCaughtWhenSaved(t *testing.T) {
	ce := newChanEnv(t, storetest.SQLite)
	code, out := ce.call(nil, "POST", "/api/v1/templates", ce.admin, map[string]any{"name": "typo", "variants": []any{
		map[string]any{"channel": "email", "subject": "x", "blocks": []any{map[string]any{"type": "text", "text": "{{ customer.nmae }}"}}}}}, nil)
	e := out["error"].(map[string]any)
	if code != 400 || e["field"] != "email.html" || !strings.Contains(fmt.Sprint(e["message"]), "customer.nmae") {
		t.Fatalf("typo = %d %v", code, out)
	}
	code, out = ce.call(nil, "POST", fmt.Sprintf("/api/v1/templates/%d/preview", ce.template), ce.admin, map[string]any{"channel": "line"}, nil)
	if code != 200 || !strings.Contains(fmt.Sprint(out["line"]), "山田 花子 様") {
		t.Fatalf("sample preview = %d %v", code, out)
	}
	code, out = ce.call(nil, "POST", fmt.Sprintf("/api/v1/templates/%d/test-send", ce.template), ce.admin, map[string]any{"channel": "email", "to": "staff@shop.example.com"}, nil)
	if code != 200 || len(ce.smtp.Messages()) != 1 || !strings.Contains(decodedBody(t, ce.smtp.Messages()[0].Data), "テスト") {
		t.Fatalf("test send = %d %v", code, out)
	}
}

// Points and rank in a message come from the loyalty ledger: the order's
// earned points plus an adjustment, and the rank's name.
func TestLoyaltyMergeFieldsComeFromTheLedger(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		cust := ce.customer("c0007", "points@example.com", true)
		before, err := ce.db.PointsBalance(ctx, cust)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ce.db.AdjustPoints(ctx, loyalty.Adjustment{CustomerID: cust, Points: 500, Reason: "お詫び", Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		code, out := ce.call(nil, "POST", "/api/v1/templates", ce.admin, map[string]any{"name": "ポイント", "purpose": "marketing", "variants": []any{
			map[string]any{"channel": "sms", "text": "{{ customer.last_name }}様 {{ rank }}会員 保有{{ points.balance }}pt"}}}, nil)
		if code != 201 {
			t.Fatalf("create template = %d %v", code, out)
		}
		code, out = ce.call(nil, "POST", fmt.Sprintf("/api/v1/templates/%d/preview", int64(out["id"].(float64))), ce.admin, map[string]any{"channel": "sms", "customer_id": cust}, nil)
		want := fmt.Sprintf("山田様 ブロンズ会員 保有%dpt", before.Points+500)
		if code != 200 || !strings.Contains(fmt.Sprint(out), want) {
			t.Fatalf("preview = %d %v, want %q", code, out, want)
		}
	})
}

// The journeys outbox calls Dispatch: inline content, skipped on
// compliance, idempotent per key.
func TestDispatchForTheJourneyOutbox(t *testing.T) {
	ce := newChanEnv(t, storetest.SQLite)
	cust := ce.customer("c0007", "shiro@example.com", true)
	m := message.Outgoing{Key: "journey:3:e:9:step:welcome:1", CustomerID: cust, Channel: message.Email, Purpose: message.Marketing,
		Source: "journey:3:step:welcome", Vars: map[string]any{"content": map[string]any{"subject": "{{ customer.honorific_name }}、ようこそ", "text": "ご登録ありがとうございます。"}}}
	res, err := ce.svc.Dispatch(ctx, m)
	if err != nil || res.Status != "sent" || res.ProviderID == "" {
		t.Fatalf("dispatch = %+v %v", res, err)
	}
	again, err := ce.svc.Dispatch(ctx, m)
	if err != nil || again.ProviderID != res.ProviderID || len(ce.smtp.Messages()) != 1 {
		t.Fatalf("repeat dispatch = %+v %v (%d mails)", again, err, len(ce.smtp.Messages()))
	}
	if !strings.Contains(decodedBody(t, ce.smtp.Messages()[0].Data), "ご登録ありがとうございます。") {
		t.Fatal("inline content not in the mail")
	}
	other := ce.customer("c0008", "goro@example.com", false)
	m.Key, m.CustomerID = "journey:3:e:10:step:welcome:1", other
	res, err = ce.svc.Dispatch(ctx, m)
	if err != nil || res.Status != channel.StatusSkipped || res.ProviderID != channel.ReasonNoConsent {
		t.Fatalf("no consent = %+v %v", res, err)
	}
}

func TestOnsiteMessagesAndPushSubscriptionsFromTheJSTag(t *testing.T) {
	ce := newChanEnv(t, storetest.SQLite)
	b := storetest.Buyer(t, "shop", "c0009", "hana@example.com", "")
	b.Identifiers = append(b.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: "aid-123"})
	res, err := ce.db.ImportCustomers(ctx, []customer.Record{b})
	if err != nil {
		t.Fatal(err)
	}
	cust := res.CustomerIDs[0]
	code, out := ce.call(nil, "POST", "/api/v1/templates", ce.admin, map[string]any{"name": "popup", "variants": []any{
		map[string]any{"channel": "onsite", "subject": "{{ customer.honorific_name }}へ", "text": "新茶あります", "url": "https://shop.example.com/shincha"}}}, nil)
	if code != 201 {
		t.Fatalf("template = %d %v", code, out)
	}
	tid := int64(out["id"].(float64))
	if _, err := ce.svc.Send(ctx, message.Outgoing{Key: "onsite:1", CustomerID: cust, Channel: message.OnSite, TemplateID: tid, Source: "journey:5:step:1"}); err != nil {
		t.Fatal(err)
	}
	code, out = ce.call(nil, "GET", "/api/v1/onsite/messages?anonymous_id=aid-123", "", nil, nil)
	msgs := out["messages"].([]any)
	if code != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["title"] != "お客様へ" || msgs[0].(map[string]any)["text"] != "新茶あります" {
		t.Fatalf("on-site = %d %v", code, out)
	}
	if !strings.HasPrefix(fmt.Sprint(msgs[0].(map[string]any)["url"]), ce.srv.URL+"/t/c/") {
		t.Fatalf("on-site link not tracked: %v", msgs[0])
	}
	if rec, _ := ce.db.SendRecordByKey(ctx, "onsite:1"); rec.Status != channel.StatusDelivered {
		t.Fatalf("shown message = %+v", rec)
	}
	_, out = ce.call(nil, "GET", "/api/v1/onsite/messages?anonymous_id=aid-123", "", nil, nil)
	if len(out["messages"].([]any)) != 0 {
		t.Fatalf("shown twice: %v", out)
	}
	// A campaign for anonymous visitors shows to a stranger, not to the known customer.
	code, _ = ce.call(nil, "POST", "/api/v1/onsite/campaigns", ce.admin, map[string]any{"name": "初回訪問", "template_id": tid, "audience": "anonymous", "active": true}, nil)
	if code != 201 {
		t.Fatalf("campaign = %d", code)
	}
	_, out = ce.call(nil, "GET", "/api/v1/onsite/messages?anonymous_id=stranger", "", nil, nil)
	_, known := ce.call(nil, "GET", "/api/v1/onsite/messages?anonymous_id=aid-123", "", nil, nil)
	if len(out["messages"].([]any)) != 1 || len(known["messages"].([]any)) != 0 {
		t.Fatalf("campaign audience: stranger %v, known %v", out, known)
	}
	code, out = ce.call(nil, "POST", "/api/v1/push/subscriptions", "", map[string]any{"anonymous_id": "aid-123",
		"subscription": map[string]any{"endpoint": "https://push.example.com/s/1", "keys": map[string]string{"p256dh": "BK", "auth": "au"}}}, nil)
	if code != 201 {
		t.Fatalf("subscribe = %d %v", code, out)
	}
	rs, _ := ce.db.Recipients(ctx, message.Push, []int64{cust})
	if len(rs[cust].Push) != 1 {
		t.Fatalf("subscription not filed under the customer: %+v", rs[cust])
	}
}

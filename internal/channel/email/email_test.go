package email

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	fakesmtp "github.com/enishi-crm/enishi/internal/fake/smtp"
	"github.com/enishi-crm/enishi/internal/message"
)

var ctx = context.Background()

type txtResolver map[string][]string

func (r txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := r[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func marketing(to string) message.Rendered {
	return message.Rendered{
		Outgoing: message.Outgoing{Key: "campaign:1:customer:7", CustomerID: 7, Channel: message.Email, Purpose: message.Marketing},
		To:       to, Subject: "【春の感謝祭】山田 太郎 様へ特別クーポンのお知らせ",
		Text: "山田 太郎 様\n\nいつもありがとうございます。\n", HTML: "<p>山田 太郎 様</p><p>いつもありがとうございます。</p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://crm.example.com/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
	}
}

func TestSendsSignedJapaneseMailOverSTARTTLSWithAuth(t *testing.T) {
	srv, err := fakesmtp.Start(fakesmtp.Options{Username: "shop", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	keyPEM, rec, err := GenerateDKIMKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Host: srv.Host, Port: srv.Port, Security: "starttls", Username: "shop", Password: "s3cret", TLSConfig: srv.Config,
		FromName: "緑茶の店 ことのは", FromAddress: "news@shop.example.com", ReturnPath: "bounce@shop.example.com",
		DKIMDomain: "shop.example.com", DKIMSelector: "enishi", DKIMKeyPEM: keyPEM, Connections: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 5; i++ {
		res, err := s.Send(ctx, marketing("taro@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res.ProviderID, "<enishi.campaign-1-customer-7.") {
			t.Fatalf("provider id = %q", res.ProviderID)
		}
	}
	if c := srv.Connections(); c != 1 {
		t.Fatalf("%d SMTP connections for 5 sequential mails, want 1 (pooled)", c)
	}
	msgs := srv.Messages()
	if len(msgs) != 5 || msgs[0].From != "bounce@shop.example.com" || msgs[0].To[0] != "taro@example.com" {
		t.Fatalf("messages = %d, envelope %+v", len(msgs), msgs[0])
	}
	raw := msgs[0].Data
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		if domain != "enishi._domainkey.shop.example.com" {
			t.Errorf("DKIM lookup of %s", domain)
		}
		return []string{rec}, nil
	}})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
		t.Fatalf("DKIM verification: %v %+v\n%s", err, verifs[0], raw)
	}
	signed := strings.Join(verifs[0].HeaderKeys, ",")
	for _, h := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "From", "Subject"} {
		if !strings.Contains(strings.ToLower(signed), strings.ToLower(h)) {
			t.Errorf("DKIM does not cover %s (h=%s)", h, signed)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != "【春の感謝祭】山田 太郎 様へ特別クーポンのお知らせ" {
		t.Fatalf("subject = %q (%v), raw %q", subj, err, m.Header.Get("Subject"))
	}
	if strings.ContainsFunc(m.Header.Get("Subject"), func(r rune) bool { return r > 127 }) {
		t.Fatal("raw subject is not MIME-encoded")
	}
	from, err := (&mail.AddressParser{WordDecoder: dec}).Parse(m.Header.Get("From"))
	if err != nil || from.Name != "緑茶の店 ことのは" {
		t.Fatalf("from = %+v %v", from, err)
	}
	if m.Header.Get("List-Unsubscribe") != "<https://crm.example.com/u/tok>" || m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("list-unsubscribe headers: %q %q", m.Header.Get("List-Unsubscribe"), m.Header.Get("List-Unsubscribe-Post"))
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if mt != "multipart/alternative" {
		t.Fatalf("content type %s", mt)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, cp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, _ := io.ReadAll(p) // multipart decodes quoted-printable
		if cp["charset"] != "UTF-8" || !strings.Contains(string(body), "山田 太郎 様") {
			t.Errorf("%s part: charset %q body %q", ct, cp["charset"], body)
		}
		types = append(types, ct)
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts = %v", types)
	}
}

func TestImplicitTLSAndErrorClasses(t *testing.T) {
	srv, err := fakesmtp.Start(fakesmtp.Options{TLS: "implicit"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := New(Config{Host: srv.Host, Port: srv.Port, Security: "tls", TLSConfig: srv.Config, FromAddress: "news@shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.FailNext(451, 550)
	if _, err := s.Send(ctx, marketing("a@example.com")); err == nil || message.IsPermanent(err) {
		t.Fatalf("451 = %v, want a transient error", err)
	}
	if _, err := s.Send(ctx, marketing("a@example.com")); !message.IsPermanent(err) {
		t.Fatalf("550 = %v, want permanent", err)
	}
	if _, err := s.Send(ctx, marketing("a@example.com")); err != nil {
		t.Fatal(err)
	}
	m := marketing("a@example.com")
	delete(m.Headers, "List-Unsubscribe")
	if _, err := s.Send(ctx, m); !message.IsPermanent(err) {
		t.Fatalf("marketing without List-Unsubscribe = %v", err)
	}
	m.Purpose = message.Transactional
	if _, err := s.Send(ctx, m); err != nil {
		t.Fatalf("transactional without List-Unsubscribe = %v", err)
	}
	if srv.Count() != 2 || srv.Connections() != 1 {
		t.Fatalf("count %d connections %d", srv.Count(), srv.Connections())
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	s, err := New(Config{Host: "127.0.0.1", Port: addr.Port, Security: "none", FromAddress: "news@shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, marketing("a@example.com")); err == nil || message.IsPermanent(err) {
		t.Fatalf("connection refused = %v, want transient", err)
	}
}

const dsn = "From: MAILER-DAEMON@mx.example.net\r\nTo: bounce@shop.example.com\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
	"--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n" +
	"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 1 Apr 2026 12:00:00 +0900\r\n\r\n" +
	"Final-Recipient: rfc822; Gone@Example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n" +
	"Final-Recipient: rfc822; full@example.com\r\nAction: delayed\r\nStatus: 4.2.2\r\nDiagnostic-Code: smtp; 452 mailbox full\r\n\r\n" +
	"Final-Recipient: rfc822; ok@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n" +
	"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <enishi.campaign-1.abc@shop.example.com>\r\nTo: gone@example.com\r\nSubject: x\r\n" +
	"--B--\r\n"

const arf = "From: fbl@isp.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n" +
	"--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n" +
	"--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <angry@example.com>\r\n\r\n" +
	"--F\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <enishi.k.def@shop.example.com>\r\nTo: angry@example.com\r\nSubject: x\r\n\r\nbody\r\n" +
	"--F--\r\n"

func TestParseDSNAndComplaints(t *testing.T) {
	reps, err := ParseReport(strings.NewReader(dsn))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].Kind != "hard" || reps[0].Address != "gone@example.com" || reps[0].Status != "5.1.1" ||
		reps[1].Kind != "soft" || reps[1].Address != "full@example.com" || reps[0].MessageID != "<enishi.campaign-1.abc@shop.example.com>" {
		t.Fatalf("DSN = %+v", reps)
	}
	reps, err = ParseReport(strings.NewReader(arf))
	if err != nil || len(reps) != 1 || reps[0].Kind != "complaint" || reps[0].Address != "angry@example.com" || reps[0].MessageID != "<enishi.k.def@shop.example.com>" {
		t.Fatalf("ARF = %+v %v", reps, err)
	}
	if _, err := ParseReport(strings.NewReader("Subject: hi\r\n\r\nhello")); err != ErrNotAReport {
		t.Fatalf("plain mail = %v", err)
	}
}

func TestCheckDomainReportsEachRecord(t *testing.T) {
	_, rec, _ := GenerateDKIMKey()
	r := txtResolver{
		"shop.example.com":                    {"v=spf1 include:_spf.relay.example ~all", "google-site-verification=x"},
		"enishi._domainkey.shop.example.com":  {rec},
		"_dmarc.shop.example.com":             {"v=DMARC1; p=none; rua=mailto:d@shop.example.com"},
		"bad.example.com":                     {"v=spf1 +all", "v=spf1 mx ~all"},
		"enishi._domainkey.other.example.com": {"v=DKIM1; k=rsa; p=AAAA"},
	}
	for _, c := range CheckDomain(ctx, r, "shop.example.com", "enishi", rec) {
		if !c.OK {
			t.Errorf("%s: %+v", c.Kind, c)
		}
	}
	got := CheckDomain(ctx, r, "bad.example.com", "enishi", rec)
	if got[0].OK || !strings.Contains(got[0].Advice, "more than one SPF") || got[1].OK || got[2].OK {
		t.Fatalf("bad domain = %+v", got)
	}
	got = CheckDomain(ctx, r, "other.example.com", "enishi", rec)
	if got[1].OK || !strings.Contains(got[1].Advice, "not enishi's key") {
		t.Fatalf("wrong key = %+v", got[1])
	}
	recs := Records("shop.example.com", "enishi", rec, "_spf.relay.example", "")
	if len(recs) != 3 || recs[1].Name != "enishi._domainkey.shop.example.com" || !strings.HasPrefix(recs[2].Value, "v=DMARC1;") {
		t.Fatalf("records = %+v", recs)
	}
}

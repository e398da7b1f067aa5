package sms_test

import (
	"context"
	"net/url"
	"testing"

	. "github.com/enishi-crm/enishi/internal/channel/sms"
	faketwilio "github.com/enishi-crm/enishi/internal/fake/twilio"
	"github.com/enishi-crm/enishi/internal/message"
)

// Twilio's documented example (security docs, "Validating Requests").
func TestSignatureMatchesTwilioTestVector(t *testing.T) {
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675310"}, "Digits": {"1234"}, "From": {"+14158675310"}, "To": {"+18005551212"}}
	u := "https://mycompany.com/myapp.php?foo=1&bar=2"
	if got := Signature("12345", u, params); got != "GvWf1cFY/Q7PnoempGyD5oXAezc=" {
		t.Fatalf("signature = %s", got)
	}
	if err := Verify("12345", u, params, "GvWf1cFY/Q7PnoempGyD5oXAezc="); err != nil {
		t.Fatal(err)
	}
	params.Set("Digits", "1235")
	if err := Verify("12345", u, params, "GvWf1cFY/Q7PnoempGyD5oXAezc="); err != ErrBadSignature {
		t.Fatalf("tampered = %v", err)
	}
	if err := Verify("", u, params, ""); err != ErrBadSignature {
		t.Fatal("empty signature accepted")
	}
}

func TestTwilioSendsAndClassifiesErrors(t *testing.T) {
	f := faketwilio.Start("ACtest", "authtoken")
	defer f.Close()
	s := &Sender{Via: &Twilio{Base: f.URL, AccountSID: "ACtest", AuthToken: "authtoken", From: "+815012345678", StatusCallback: "https://crm.example.com/webhooks/sms/status"}}
	r := message.Rendered{Outgoing: message.Outgoing{Key: "k", Channel: message.SMS}, To: "+819012345678", Text: "山田様 春のセール開催中 https://x/y"}
	f.FailNext(503)
	if _, err := s.Send(context.Background(), r); err == nil || message.IsPermanent(err) {
		t.Fatalf("503 = %v, want transient", err)
	}
	res, err := s.Send(context.Background(), r)
	if err != nil || res.ProviderID == "" {
		t.Fatalf("send = %+v %v", res, err)
	}
	m := f.Messages()
	if len(m) != 1 || m[0].Body != r.Text || m[0].To != r.To || m[0].StatusCallback == "" {
		t.Fatalf("messages = %+v", m)
	}
	r.To = "+1"
	if _, err := s.Send(context.Background(), r); !message.IsPermanent(err) {
		t.Fatalf("invalid number = %v, want permanent", err)
	}
	r.To = "09012345678"
	if _, err := s.Send(context.Background(), r); !message.IsPermanent(err) {
		t.Fatalf("non-E.164 = %v", err)
	}
}

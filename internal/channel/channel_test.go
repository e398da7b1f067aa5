package channel

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/message"
)

func TestEligibilityRules(t *testing.T) {
	yes := &customer.Consent{Granted: true}
	no := &customer.Consent{Granted: false}
	exception := &customer.Consent{Granted: true, Method: "exception:business_relationship"}
	M, T := message.Marketing, message.Transactional
	cases := []struct {
		ch      message.Channel
		p       message.Purpose
		consent *customer.Consent
		addr    string
		supp    string
		want    string
	}{
		{message.Email, M, yes, "a@x", "", ""},
		{message.Email, M, exception, "a@x", "", ""},
		{message.Email, M, nil, "a@x", "", ReasonNoConsent},
		{message.Email, M, no, "a@x", "", ReasonOptedOut},
		{message.Email, T, nil, "a@x", "", ""},
		{message.Email, T, no, "a@x", SuppressUnsubscribed, ""},
		{message.Email, T, yes, "a@x", SuppressBounced, ReasonSuppressed + SuppressBounced},
		{message.Email, M, yes, "a@x", SuppressComplained, ReasonSuppressed + SuppressComplained},
		{message.Email, T, yes, "a@x", SuppressManual, ReasonSuppressed + SuppressManual},
		{message.Email, M, yes, "", "", ReasonNoAddress},
		{message.SMS, M, nil, "+81", "", ReasonNoConsent},
		{message.LINE, M, nil, "U1", "", ""},
		{message.LINE, M, no, "U1", "", ReasonOptedOut},
		{message.DM, M, nil, "〒1", "", ""},
		{message.OnSite, M, no, "onsite", "", ""},
	}
	for _, c := range cases {
		if got := Eligibility(c.ch, c.p, c.consent, c.addr, c.supp); got != c.want {
			t.Errorf("%s %s consent=%v supp=%q: %q, want %q", c.ch, c.p, c.consent, c.supp, got, c.want)
		}
	}
}

func TestOptOutKeywords(t *testing.T) {
	for _, s := range []string{"STOP", " stop ", "ｓｔｏｐ。", "停止", "配信停止", "配信停止!", "解除", "ストップ", "UNSUBSCRIBE"} {
		if !IsOptOut(s) {
			t.Errorf("%q is an opt-out", s)
		}
	}
	for _, s := range []string{"停止してほしくない", "ありがとう", "STOP IT NOW", ""} {
		if IsOptOut(s) {
			t.Errorf("%q is not an opt-out keyword", s)
		}
	}
	if !IsOptIn("再開") || !IsOptIn("start") || IsOptIn("STOP") {
		t.Error("opt-in keywords")
	}
}

func TestCompareVariantsPicksTheSignificantWinner(t *testing.T) {
	res := CompareVariants([]SourceStats{
		{Source: "campaign:7:variant:A", Sent: 1000, Clicked: 50, Conversions: 10, Revenue: 50000},
		{Source: "campaign:7:variant:B", Sent: 1000, Clicked: 80, Conversions: 30, Revenue: 120000},
	})
	if res.Winner != "campaign:7:variant:B" || res.Metric != "conversion_rate" || !res.Significant || res.PValue > 0.01 {
		t.Fatalf("result = %+v", res)
	}
	res = CompareVariants([]SourceStats{{Source: "A", Sent: 100, Clicked: 5}, {Source: "B", Sent: 100, Clicked: 6}})
	if res.Winner != "B" || res.Metric != "click_rate" || res.Significant {
		t.Fatalf("close result = %+v", res)
	}
	if res := CompareVariants([]SourceStats{{Source: "A", Sent: 10}, {Source: "B", Sent: 10}}); res.Winner != "" {
		t.Fatalf("tie = %+v", res)
	}
}

func TestBackoffGrows(t *testing.T) {
	prev := Backoff(0)
	for n := 1; n <= 7; n++ {
		if b := Backoff(n); b < prev {
			t.Fatalf("Backoff(%d) = %v < %v", n, b, prev)
		}
		prev = Backoff(n)
	}
}

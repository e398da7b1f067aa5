package tracking

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func signer(t *testing.T) *Signer {
	s, err := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokensRoundTripAndRefuseTampering(t *testing.T) {
	s := signer(t)
	tok := s.Token(KindClick, 42, "https://shop.example.com/p/1?x=1")
	id, target, err := s.Parse(KindClick, tok)
	if err != nil || id != 42 || target != "https://shop.example.com/p/1?x=1" {
		t.Fatalf("parse = %d %q %v", id, target, err)
	}
	if _, _, err := s.Parse(KindUnsubscribe, tok); err == nil {
		t.Fatal("a click token worked as an unsubscribe token")
	}
	// Another target under the same MAC: refused (no open redirect).
	body, mac, _ := strings.Cut(tok, ".")
	other := s.Token(KindClick, 42, "https://evil.example.net/")
	obody, _, _ := strings.Cut(other, ".")
	for _, bad := range []string{obody + "." + mac, body + "x." + mac, body, "", body + "." + mac[:len(mac)-2]} {
		if _, _, err := s.Parse(KindClick, bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// Sequential ids give unrelated tokens.
	if a, b := s.Token(KindUnsubscribe, 1, ""), s.Token(KindUnsubscribe, 2, ""); a[strings.Index(a, "."):] == b[strings.Index(b, "."):] {
		t.Fatal("macs equal")
	}
}

func TestRewriterTracksLinksAddsUTMAndSkipsUnsubscribe(t *testing.T) {
	s := signer(t)
	r := &Rewriter{Links: Links{Base: "https://crm.example.com", Signer: s}, MessageID: 7,
		UTM: UTM{Source: "enishi", Medium: "email", Campaign: "campaign-3"}, UTMHosts: []string{"shop.example.com"},
		Skip: []string{"https://crm.example.com/u/"}}
	doc := `<a href="https://shop.example.com/p?a=1&amp;b=2">x</a> <a style="x" href="https://other.example.org/">y</a> <a href="https://crm.example.com/u/abc">stop</a> <a href="mailto:a@b">m</a>`
	out := r.HTML(doc)
	if strings.Contains(out, `href="https://shop.example.com`) || !strings.Contains(out, `href="https://crm.example.com/u/abc"`) || !strings.Contains(out, "mailto:a@b") {
		t.Fatalf("rewritten = %s", out)
	}
	links := hrefRe.FindAllStringSubmatch(out, -1)
	tok := strings.TrimPrefix(strings.ReplaceAll(links[0][2], "&amp;", "&"), "https://crm.example.com/t/c/")
	_, target, err := s.Parse(KindClick, tok)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	if u.Query().Get("a") != "1" || u.Query().Get("b") != "2" || u.Query().Get("utm_campaign") != "campaign-3" || u.Query().Get("utm_medium") != "email" {
		t.Fatalf("target = %s", target)
	}
	tok = strings.TrimPrefix(links[1][2], "https://crm.example.com/t/c/")
	if _, target, _ = s.Parse(KindClick, tok); target != "https://other.example.org/" {
		t.Fatalf("third-party link got UTM: %s", target)
	}
	txt := r.Text("詳しくは https://shop.example.com/sale をご覧ください。")
	if !strings.Contains(txt, "https://crm.example.com/t/c/") || !strings.HasSuffix(txt, " をご覧ください。") {
		t.Fatalf("text = %s", txt)
	}
}

func TestMachineOpens(t *testing.T) {
	cases := []struct {
		ip   string
		ua   string
		want bool
	}{
		{"17.58.1.2", "Mozilla/5.0 (Macintosh)", true},
		{"203.0.113.5", "Mozilla/5.0", true},
		{"203.0.113.5", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", true},
		{"203.0.113.5", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15", false},
	}
	for _, c := range cases {
		if got := MachineOpen(net.ParseIP(c.ip), c.ua); got != c.want {
			t.Errorf("MachineOpen(%s, %q) = %v", c.ip, c.ua, got)
		}
	}
}

func TestAttributeLastTouchWithinWindows(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	touches := []Touch{{1, "click", h(0)}, {2, "open", h(50)}, {3, "click", h(60)}, {4, "open", h(200)}}
	cases := []struct {
		at     time.Time
		want   int64
		exists bool
	}{
		{h(-1), 0, false},
		{h(10), 1, true},
		{h(55), 2, true},  // open 5h before
		{h(80), 3, true},  // click 20h before beats the older open
		{h(170), 3, true}, // open not yet; click 110h ago, within 5 days
		{h(201), 4, true},
		{h(300), 0, false}, // open 100h ago (>1 day), click 240h ago (>5 days)
	}
	for _, c := range cases {
		got, ok := Attribute(touches, c.at, DefaultWindows)
		if ok != c.exists || got.MessageID != c.want {
			t.Errorf("order at %v: %+v %v, want %d %v", c.at.Sub(t0), got, ok, c.want, c.exists)
		}
	}
}

func TestTextTracksOnlyTrustedURLs(t *testing.T) {
	r := &Rewriter{Links: Links{Base: "https://crm.example.com", Signer: signer(t)}, MessageID: 7,
		TextTrusted: Trusted([]string{"shop.example.com"}, []string{"https://instagram.com/kotonoha"})}
	in := "新茶 https://shop.example.com/new https://www.shop.example.com/a 山田http://evil.example/x https://instagram.com/kotonoha https://instagram.com/kotonoha.evil https://instagram.com/kotonoha?x=1"
	out := strings.Fields(r.Text(in))
	want := []bool{false, true, true, false, true, false, true} // tracked?
	for i, w := range want {
		if got := strings.Contains(out[i], "crm.example.com/t/c/"); got != w {
			t.Errorf("%q tracked = %v, want %v", out[i], got, w)
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

type dnsMap map[string][]string

func (m dnsMap) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestEmailCheckDomainReadsDNSOffline(t *testing.T) {
	key, rec, err := email.GenerateDKIMKey()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ENISHI_SECRET_EMAIL_DKIM_PRIVATE_KEY": key}
	db := filepath.Join(t.TempDir(), "e.db")
	runDNS := func(dns dnsMap, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Run(append(args, "--db", db), IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] },
			Clock: clock.NewManual(storetest.T0, true), Context: context.Background(), Resolver: dns})
		return code, out.String() + errb.String()
	}
	good := dnsMap{"shop.example.com": {"v=spf1 include:_spf.relay.example ~all"}, "enishi._domainkey.shop.example.com": {rec},
		"_dmarc.shop.example.com": {"v=DMARC1; p=none; rua=mailto:d@shop.example.com"}}
	if code, out := runDNS(good, "email", "check-domain", "shop.example.com"); code != 0 || strings.Count(out, "OK  ") != 3 {
		t.Fatalf("good domain: %d\n%s", code, out)
	}
	bad := dnsMap{"shop.example.com": {"v=spf1 +all"}}
	code, out := runDNS(bad, "email", "check-domain", "shop.example.com")
	if code != ExitFailure || !strings.Contains(out, "FAIL SPF") || !strings.Contains(out, "FAIL DKIM") || !strings.Contains(out, "Gmail and Yahoo require") {
		t.Fatalf("bad domain: %d\n%s", code, out)
	}
	code, out = runDNS(nil, "email", "dns-records", "shop.example.com")
	if code != 0 || !strings.Contains(out, "enishi._domainkey.shop.example.com") || !strings.Contains(out, rec) || !strings.Contains(out, "_dmarc.shop.example.com") {
		t.Fatalf("dns-records: %d\n%s", code, out)
	}
}

func TestTemplateCheckAndSave(t *testing.T) {
	args := dbArgs(t, "sqlite")
	bad := write(t, "bad.json", `{"name":"x","variants":[{"channel":"sms","text":"{{ customer.nmae }}"}]}`)
	code, _, errOut := run(t, nil, append([]string{"template", "check", bad}, args...)...)
	if code != ExitFailure || !strings.Contains(errOut, "customer.nmae") {
		t.Fatalf("check bad: %d %s", code, errOut)
	}
	good := write(t, "good.json", `{"name":"春","variants":[{"channel":"sms","text":"{{ customer.last_name }}様 新茶入荷"}]}`)
	code, out, errOut := run(t, nil, append([]string{"template", "save", good}, args...)...)
	if code != 0 || !strings.Contains(out, "saved template 1 (version 1)") {
		t.Fatalf("save: %d %s %s", code, out, errOut)
	}
	code, out, _ = run(t, nil, append([]string{"template", "preview", "1", "--channel", "sms"}, args...)...)
	if code != 0 || !strings.Contains(out, "山田様 新茶入荷") {
		t.Fatalf("preview: %d %s", code, out)
	}
}

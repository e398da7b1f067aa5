package email

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
)

// GenerateDKIMKey makes a 2048-bit RSA key (what Gmail and Yahoo accept
// everywhere) and returns it as PEM, with its DNS TXT record value.
func GenerateDKIMKey() (keyPEM, record string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	record, err = DKIMRecord(keyPEM)
	return keyPEM, record, err
}

// DKIMRecord is the TXT record value publishing a private key's public half.
func DKIMRecord(keyPEM string) (string, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return "", errors.New("the DKIM key is not PEM")
	}
	var key any
	var err error
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return "", fmt.Errorf("DKIM key: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return "", errors.New("the DKIM key is not an RSA key")
	}
	pub, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		return "", err
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub), nil
}

// Record is a DNS record to publish.
type Record struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	Note  string `json:"note"`
}

// Records are the SPF, DKIM and DMARC records a domain needs to send
// through host (the SMTP relay's include domain, e.g. _spf.example.net;
// empty for a server of one's own).
func Records(domain, selector, dkimRecord, spfInclude, reportTo string) []Record {
	spf := "v=spf1 "
	if spfInclude != "" {
		spf += "include:" + spfInclude + " "
	} else {
		spf += "mx a "
	}
	spf += "~all"
	if reportTo == "" {
		reportTo = "dmarc@" + domain
	}
	out := []Record{{Name: domain, Type: "TXT", Value: spf, Note: "SPF: the servers allowed to send as " + domain + " (merge with an existing v=spf1 record: a domain has only one)"}}
	if dkimRecord != "" {
		out = append(out, Record{Name: selector + "._domainkey." + domain, Type: "TXT", Value: dkimRecord, Note: "DKIM: the public key that verifies enishi's signatures"})
	}
	out = append(out, Record{Name: "_dmarc." + domain, Type: "TXT", Value: "v=DMARC1; p=none; rua=mailto:" + reportTo + "; adkim=r; aspf=r",
		Note: "DMARC: required by Gmail and Yahoo for bulk senders; start with p=none, move to quarantine once reports are clean"})
	return out
}

// Resolver reads TXT records (net.Resolver satisfies it; tests inject a map).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Check is the result of checking one record.
type Check struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // spf | dkim | dmarc
	OK     bool   `json:"ok"`
	Found  string `json:"found,omitempty"`
	Advice string `json:"advice,omitempty"`
}

// CheckDomain reads the domain's SPF, DKIM (for selector) and DMARC
// records and says what is missing or wrong. dkimRecord, when given, is
// the record enishi's key needs (the published key must match it).
func CheckDomain(ctx context.Context, r Resolver, domain, selector, dkimRecord string) []Check {
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	lookup := func(name, prefix string) (string, int, error) {
		txts, err := r.LookupTXT(ctx, name)
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return "", 0, nil
		}
		if err != nil {
			return "", 0, err
		}
		var found string
		n := 0
		for _, t := range txts {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), prefix) {
				found, n = t, n+1
			}
		}
		return found, n, nil
	}
	var out []Check

	spf := Check{Name: domain, Kind: "spf"}
	switch v, n, err := lookup(domain, "v=spf1"); {
	case err != nil:
		spf.Advice = "DNS lookup failed: " + err.Error()
	case n == 0:
		spf.Advice = "no SPF record: publish a TXT record starting v=spf1 that includes your SMTP relay"
	case n > 1:
		spf.Found, spf.Advice = v, "more than one SPF record: merge them into one, or receivers treat SPF as failing (permerror)"
	case strings.Contains(v, "+all"):
		spf.Found, spf.Advice = v, "+all lets anyone send as your domain: end the record with ~all or -all"
	default:
		spf.Found, spf.OK = v, true
	}
	out = append(out, spf)

	dk := Check{Name: selector + "._domainkey." + domain, Kind: "dkim"}
	switch v, _, err := lookup(dk.Name, "v=dkim1"); {
	case selector == "":
		dk.Advice = "no DKIM selector is configured (settings email.dkim_selector); run `enishi email dkim-key`"
	case err != nil:
		dk.Advice = "DNS lookup failed: " + err.Error()
	case v == "":
		dk.Advice = "no DKIM key published: add the TXT record `enishi email dkim-key` prints"
	case dkimRecord != "" && dkimKey(v) != dkimKey(dkimRecord):
		dk.Found, dk.Advice = v, "the published key is not enishi's key: publish the record `enishi email dns-records` prints"
	default:
		dk.Found, dk.OK = v, true
	}
	out = append(out, dk)

	dm := Check{Name: "_dmarc." + domain, Kind: "dmarc"}
	switch v, _, err := lookup(dm.Name, "v=dmarc1"); {
	case err != nil:
		dm.Advice = "DNS lookup failed: " + err.Error()
	case v == "":
		dm.Advice = "no DMARC record: Gmail and Yahoo require one from bulk senders; start with v=DMARC1; p=none; rua=mailto:…"
	default:
		dm.Found, dm.OK = v, true
		if !strings.Contains(strings.ToLower(v), "rua=") {
			dm.Advice = "no rua= report address: you will not see who sends as your domain"
		}
	}
	return append(out, dm)
}

// dkimKey extracts p= from a DKIM record, without spaces (long records
// come back split into strings).
func dkimKey(rec string) string {
	for _, part := range strings.Split(rec, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.TrimSpace(k) == "p" {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

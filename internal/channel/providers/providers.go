// Package providers builds the channel senders from the stored settings
// and secrets: SMTP, LINE, Twilio, web push, the outbound webhook, on-site
// and direct mail. A channel whose settings or secrets are missing gets no
// sender, and its sends are recorded as blocked (channel_not_configured).
package providers

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/dm"
	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/channel/line"
	"github.com/enishi-crm/enishi/internal/channel/onsite"
	"github.com/enishi-crm/enishi/internal/channel/sms"
	"github.com/enishi-crm/enishi/internal/channel/webhook"
	"github.com/enishi-crm/enishi/internal/channel/webpush"
	"github.com/enishi-crm/enishi/internal/message"
)

// Options adjust what Build makes (tests point clients at fakes).
type Options struct {
	HTTP *http.Client
	// SMTPTLS overrides the SMTP TLS configuration (a test server's CA).
	SMTPTLS *tls.Config
	// PushGone is told about expired push subscriptions.
	PushGone func(ctx context.Context, endpoint string)
}

// Set is the senders Build made, with what to close at shutdown.
type Set struct {
	Senders []message.Sender
	LINE    *line.Client // nil without LINE
	email   *email.Sender
}

// Close closes pooled connections.
func (s *Set) Close() error {
	if s.email != nil {
		return s.email.Close()
	}
	return nil
}

// Build makes the senders the settings and secrets allow.
func Build(ctx context.Context, set *channel.Settings, sec channel.Secrets, opt Options) (*Set, error) {
	get := func(name string) (string, error) {
		if sec == nil {
			return "", nil
		}
		v, _, err := sec.Secret(ctx, name)
		return v, err
	}
	out := &Set{Senders: []message.Sender{onsite.Sender{}, dm.Sender{}}}
	if e := set.Email; e.Host != "" && e.FromAddress != "" {
		pw, err := get(channel.SecretSMTPPassword)
		if err != nil {
			return nil, err
		}
		key, err := get(channel.SecretDKIMKey)
		if err != nil {
			return nil, err
		}
		cfg := email.Config{Host: e.Host, Port: e.Port, Security: e.Security, Username: e.Username, Password: pw, TLSConfig: opt.SMTPTLS,
			FromName: e.FromName, FromAddress: e.FromAddress, ReplyTo: e.ReplyTo, ReturnPath: e.ReturnPath,
			DKIMDomain: e.DKIMDomain, DKIMSelector: e.DKIMSelector, DKIMKeyPEM: key, Connections: e.Connections}
		if e.Insecure && cfg.TLSConfig == nil {
			cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // an explicit setting for test relays
		}
		s, err := email.New(cfg)
		if err != nil {
			return nil, err
		}
		out.email = s
		out.Senders = append(out.Senders, s)
	}
	if tok, err := get(channel.SecretLINEToken); err != nil {
		return nil, err
	} else if tok != "" {
		out.LINE = line.New(set.LINE.APIBase, tok, opt.HTTP)
		out.Senders = append(out.Senders, &line.Sender{Client: out.LINE})
	}
	if s := set.SMS; s.Provider == "twilio" && s.AccountSID != "" {
		tok, err := get(channel.SecretTwilioAuthToken)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			cb := ""
			if set.BaseURL != "" {
				cb = strings.TrimRight(set.BaseURL, "/") + "/webhooks/sms/status"
			}
			out.Senders = append(out.Senders, &sms.Sender{Via: &sms.Twilio{Base: s.APIBase, AccountSID: s.AccountSID, AuthToken: tok, From: s.From,
				MessagingServiceSID: s.MessagingServiceSID, StatusCallback: cb, HTTP: opt.HTTP}})
		}
	}
	if p := set.Push; p.VAPIDPublicKey != "" {
		priv, err := get(channel.SecretVAPIDPrivateKey)
		if err != nil {
			return nil, err
		}
		if priv != "" {
			out.Senders = append(out.Senders, &webpush.Sender{PublicKey: p.VAPIDPublicKey, PrivateKey: priv, Subject: p.Subject, HTTP: opt.HTTP, Gone: opt.PushGone})
		}
	}
	if set.Webhook.URL != "" {
		secret, err := get(channel.SecretWebhookSigning)
		if err != nil {
			return nil, err
		}
		if secret != "" {
			out.Senders = append(out.Senders, &webhook.Sender{URL: set.Webhook.URL, Secret: secret, HTTP: opt.HTTP})
		}
	}
	return out, nil
}

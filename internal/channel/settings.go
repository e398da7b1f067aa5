package channel

import (
	"context"
	"encoding/json"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/tracking"
)

// SettingsKey is the settings row holding Settings as JSON.
const SettingsKey = "channels"

// Settings configure every channel. Secrets (SMTP password, LINE token,
// Twilio auth token, VAPID private key, webhook signing secret, DKIM key)
// are not here: they come from Secrets.
type Settings struct {
	// BaseURL is enishi's public URL, used in tracking and unsubscribe links.
	BaseURL string `json:"base_url"`
	// Shop is the sender shown in every marketing mail's footer; a channel
	// cannot send marketing until name, address and contact are set.
	Shop content.Shop `json:"shop"`
	// UTMHosts are the shop's hosts whose links get UTM parameters (all
	// links when empty).
	UTMHosts []string `json:"utm_hosts,omitempty"`
	// Attribution windows in hours (default 120 after a click, 24 after an open).
	ClickWindowHours int `json:"click_window_hours,omitempty"`
	OpenWindowHours  int `json:"open_window_hours,omitempty"`
	// SoftBounceLimit: soft bounces of one address before it is
	// suppressed (default 3).
	SoftBounceLimit int `json:"soft_bounce_limit,omitempty"`
	// MaxAttempts bounds retries of a transient failure (default 5).
	MaxAttempts int `json:"max_attempts,omitempty"`

	Email   EmailSettings   `json:"email"`
	LINE    LINESettings    `json:"line"`
	SMS     SMSSettings     `json:"sms"`
	Push    PushSettings    `json:"push"`
	Webhook WebhookSettings `json:"webhook"`
}

// EmailSettings configure SMTP sending.
type EmailSettings struct {
	FromName    string `json:"from_name"`
	FromAddress string `json:"from_address"`
	ReplyTo     string `json:"reply_to,omitempty"`
	// ReturnPath is the envelope sender that receives bounces (default FromAddress).
	ReturnPath string `json:"return_path,omitempty"`
	Host       string `json:"host"`
	Port       int    `json:"port"`     // 587 (STARTTLS) or 465 (implicit TLS); 25 for a local relay
	Security   string `json:"security"` // starttls | tls | none
	Username   string `json:"username,omitempty"`
	// Insecure skips certificate checks (test relays only).
	Insecure      bool    `json:"insecure,omitempty"`
	DKIMDomain    string  `json:"dkim_domain,omitempty"`
	DKIMSelector  string  `json:"dkim_selector,omitempty"`
	RatePerMinute float64 `json:"rate_per_minute,omitempty"`
	Connections   int     `json:"connections,omitempty"` // pooled SMTP connections (default 4)
}

// LINESettings configure the LINE Messaging API.
type LINESettings struct {
	// ProviderID is the LINE provider whose user ids the customers' line
	// identities carry ("" matches any).
	ProviderID    string  `json:"provider_id,omitempty"`
	APIBase       string  `json:"api_base,omitempty"` // default https://api.line.me
	RatePerMinute float64 `json:"rate_per_minute,omitempty"`
}

// SMSSettings configure SMS sending.
type SMSSettings struct {
	Provider            string  `json:"provider"` // twilio
	AccountSID          string  `json:"account_sid,omitempty"`
	From                string  `json:"from,omitempty"`
	MessagingServiceSID string  `json:"messaging_service_sid,omitempty"`
	APIBase             string  `json:"api_base,omitempty"` // default https://api.twilio.com
	RatePerMinute       float64 `json:"rate_per_minute,omitempty"`
}

// PushSettings configure web push.
type PushSettings struct {
	VAPIDPublicKey string  `json:"vapid_public_key,omitempty"`
	Subject        string  `json:"subject,omitempty"` // mailto: or https: contact for push services
	RatePerMinute  float64 `json:"rate_per_minute,omitempty"`
}

// WebhookSettings configure the outbound webhook channel.
type WebhookSettings struct {
	URL           string  `json:"url,omitempty"`
	RatePerMinute float64 `json:"rate_per_minute,omitempty"`
}

// Windows returns the attribution windows.
func (s *Settings) Windows() tracking.Windows {
	w := tracking.DefaultWindows
	if s.ClickWindowHours > 0 {
		w.Click = time.Duration(s.ClickWindowHours) * time.Hour
	}
	if s.OpenWindowHours > 0 {
		w.Open = time.Duration(s.OpenWindowHours) * time.Hour
	}
	return w
}

func (s *Settings) softBounceLimit() int {
	if s.SoftBounceLimit > 0 {
		return s.SoftBounceLimit
	}
	return 3
}

func (s *Settings) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return 5
}

// RatePerMinute returns the channel's configured rate (0 = unlimited).
func (s *Settings) RatePerMinute(ch message.Channel) float64 {
	switch ch {
	case message.Email:
		return s.Email.RatePerMinute
	case message.LINE:
		return s.LINE.RatePerMinute
	case message.SMS:
		return s.SMS.RatePerMinute
	case message.Push:
		return s.Push.RatePerMinute
	case message.Webhook:
		return s.Webhook.RatePerMinute
	}
	return 0
}

// Check validates settings, naming the field at fault.
func (s *Settings) Check() error {
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errs.FieldErrorf("base_url", "%q is not an http(s) URL", s.BaseURL)
		}
		s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	}
	if a := s.Email.FromAddress; a != "" {
		if _, err := mail.ParseAddress(a); err != nil {
			return errs.FieldErrorf("email.from_address", "%q is not an e-mail address", a)
		}
	}
	switch s.Email.Security {
	case "", "starttls", "tls", "none":
	default:
		return errs.FieldErrorf("email.security", "starttls, tls or none")
	}
	if s.Email.Port < 0 || s.Email.Port > 65535 {
		return errs.FieldErrorf("email.port", "not a port")
	}
	if s.SMS.Provider != "" && s.SMS.Provider != "twilio" {
		return errs.FieldErrorf("sms.provider", "%q is not a supported provider (twilio)", s.SMS.Provider)
	}
	if s.Webhook.URL != "" {
		if u, err := url.Parse(s.Webhook.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return errs.FieldErrorf("webhook.url", "not an http(s) URL")
		}
	}
	return nil
}

// FooterReady reports what the marketing footer still lacks (empty when
// complete).
func (s *Settings) FooterReady() []string {
	var missing []string
	if strings.TrimSpace(s.Shop.Name) == "" {
		missing = append(missing, "shop.name")
	}
	if strings.TrimSpace(s.Shop.Address) == "" {
		missing = append(missing, "shop.address")
	}
	if strings.TrimSpace(s.Shop.Contact) == "" {
		missing = append(missing, "shop.contact")
	}
	if s.BaseURL == "" {
		missing = append(missing, "base_url")
	}
	return missing
}

// LoadSettings reads the settings (zero Settings when none are stored).
func LoadSettings(ctx context.Context, st interface {
	Setting(ctx context.Context, key string) (string, bool, error)
}) (*Settings, error) {
	raw, ok, err := st.Setting(ctx, SettingsKey)
	if err != nil {
		return nil, err
	}
	s := &Settings{}
	if ok {
		if err := json.Unmarshal([]byte(raw), s); err != nil {
			return nil, errs.Errorf(errs.Invalid, "stored channel settings are not valid JSON: %v", err)
		}
	}
	return s, nil
}

// Secret names.
const (
	SecretSMTPPassword    = "email.smtp_password"
	SecretDKIMKey         = "email.dkim_private_key"
	SecretBounceToken     = "email.bounce_token"
	SecretLINEToken       = "line.channel_access_token"
	SecretTwilioAuthToken = "sms.twilio_auth_token"
	SecretVAPIDPrivateKey = "push.vapid_private_key"
	SecretWebhookSigning  = "webhook.signing_secret"
	SecretTrackingLinkKey = "tracking.link_key"
)

// SecretNames lists the channels' secrets.
var SecretNames = []string{SecretSMTPPassword, SecretDKIMKey, SecretLINEToken, SecretTwilioAuthToken, SecretVAPIDPrivateKey,
	SecretWebhookSigning, SecretTrackingLinkKey}

// ValidSecretName reports whether name is one of the channels' secrets.
func ValidSecretName(name string) bool {
	for _, n := range SecretNames {
		if n == name {
			return true
		}
	}
	return false
}

// SecretFunc adapts a lookup that returns "" for a missing secret.
type SecretFunc func(ctx context.Context, name string) (string, error)

// Secret implements Secrets.
func (f SecretFunc) Secret(ctx context.Context, name string) (string, bool, error) {
	v, err := f(ctx, name)
	return v, err == nil && v != "", err
}

// Secrets reads secrets by name. It is the signature of the store's
// encrypted secret accessor (internal/secret); EnvSecrets is the fallback.
type Secrets interface {
	Secret(ctx context.Context, name string) (string, bool, error)
}

// EnvSecrets reads secret NAME from the environment variable
// ENISHI_SECRET_ + NAME upper-cased with dots as underscores
// (email.smtp_password → ENISHI_SECRET_EMAIL_SMTP_PASSWORD).
type EnvSecrets struct {
	Getenv func(string) string
}

// EnvName is the environment variable EnvSecrets reads for name.
func EnvName(name string) string {
	return "ENISHI_SECRET_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// Secret implements Secrets.
func (e EnvSecrets) Secret(_ context.Context, name string) (string, bool, error) {
	get := e.Getenv
	if get == nil {
		get = os.Getenv
	}
	v := get(EnvName(name))
	return v, v != "", nil
}

// MultiSecrets asks each source in turn.
type MultiSecrets []Secrets

// Secret implements Secrets.
func (m MultiSecrets) Secret(ctx context.Context, name string) (string, bool, error) {
	for _, s := range m {
		if s == nil {
			continue
		}
		v, ok, err := s.Secret(ctx, name)
		if err != nil || ok {
			return v, ok, err
		}
	}
	return "", false, nil
}

package channel

import (
	"strings"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/message"
)

// Eligibility decides whether a message may go to an address, and returns
// the reason it may not ("" when it may). The rules:
//
//   - No address on the channel: not sent.
//   - Suppressed addresses: bounced and manually blocked ones get nothing;
//     unsubscribed and complained ones get no marketing.
//   - Marketing e-mail and SMS (特定電子メール法 第3条) need a recorded
//     opt-in: the latest consent record for the channel must grant it. A
//     legal exception (an existing business relationship, an address the
//     person published for business) is recorded as a consent record with
//     method "exception:…" and counts as a grant.
//   - Marketing over LINE, web push and direct mail needs no separate
//     opt-in (following the account, allowing notifications, giving the
//     address) but respects a recorded opt-out.
//   - Transactional messages need no consent; suppression still applies
//     as above.
func Eligibility(ch message.Channel, p message.Purpose, latest *customer.Consent, addr, suppressed string) string {
	if addr == "" {
		return ReasonNoAddress
	}
	switch suppressed {
	case SuppressBounced, SuppressManual:
		return ReasonSuppressed + suppressed
	case SuppressUnsubscribed, SuppressComplained:
		if p == message.Marketing {
			return ReasonSuppressed + suppressed
		}
	}
	if p != message.Marketing {
		return ""
	}
	switch ch {
	case message.Email, message.SMS:
		if latest == nil {
			return ReasonNoConsent
		}
		if !latest.Granted {
			return ReasonOptedOut
		}
	case message.LINE, message.Push, message.DM:
		if latest != nil && !latest.Granted {
			return ReasonOptedOut
		}
	}
	return ""
}

// ConsentChannel is the consent_records channel for a message channel
// ("" for channels without consent: on-site, webhook).
func ConsentChannel(ch message.Channel) string {
	switch ch {
	case message.Email:
		return customer.ChannelEmail
	case message.SMS:
		return customer.ChannelSMS
	case message.LINE:
		return customer.ChannelLine
	case message.Push:
		return customer.ChannelPush
	case message.DM:
		return customer.ChannelDM
	}
	return ""
}

// optOutWords are the replies that stop SMS marketing: carriers' and
// Twilio's English keywords and the Japanese ones people write.
var optOutWords = map[string]bool{
	"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true, "OPTOUT": true, "REVOKE": true,
	"停止": true, "配信停止": true, "解除": true, "配信解除": true, "ストップ": true, "中止": true, "受信拒否": true, "送信停止": true,
}

// optInWords resume SMS after an opt-out.
var optInWords = map[string]bool{"START": true, "UNSTOP": true, "YES": true, "再開": true, "配信再開": true}

// normalizeKeyword folds width and case and drops surrounding spaces and
// punctuation, so that "ｓｔｏｐ。" and " Stop! " are STOP.
func normalizeKeyword(body string) string {
	s := strings.ToUpper(jtext.NFKC(body))
	return strings.Trim(s, " \t\r\n.。!！?？、,「」\"'")
}

// IsOptOut reports whether an inbound SMS is an opt-out keyword.
func IsOptOut(body string) bool { return optOutWords[normalizeKeyword(body)] }

// IsOptIn reports whether an inbound SMS asks to receive messages again.
func IsOptIn(body string) bool { return optInWords[normalizeKeyword(body)] }

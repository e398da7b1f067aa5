package customer

import (
	"time"

	"github.com/enishi-crm/enishi/internal/analytics"

	"github.com/enishi-crm/enishi/internal/identity"
)

// Channel names for consent and messaging.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
	ChannelLine  = "line"
	ChannelPush  = "push"
	ChannelDM    = "dm" // direct mail to the postal address
)

// ConsentChannels lists the channels consent is recorded for.
var ConsentChannels = []string{ChannelEmail, ChannelSMS, ChannelLine, ChannelPush, ChannelDM}

// Consent is one recorded opt-in or opt-out: the proof a marketing message may
// (or may not) be sent, as 特定電子メール法 requires.
type Consent struct {
	Channel        string    `json:"channel"`
	Granted        bool      `json:"granted"`
	RecordedAt     time.Time `json:"recorded_at"`
	Method         string    `json:"method"`          // import, form, webhook, staff, unsubscribe …
	Source         string    `json:"source"`          // where: the import file's source, the form URL …
	WordingVersion string    `json:"wording_version"` // version of the consent text shown
	Actor          string    `json:"actor,omitempty"` // staff user when recorded by hand
}

// Identity is a stored identifier of a customer.
type Identity struct {
	CustomerID       int64 `json:"customer_id"`
	OriginCustomerID int64 `json:"origin_customer_id"`
	identity.Identifier
	CreatedAt time.Time `json:"created_at"`
}

// Note is a staff note on a customer.
type Note struct {
	ID         int64     `json:"id"`
	CustomerID int64     `json:"customer_id"`
	Author     string    `json:"author"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"created_at"`
}

// Inquiry statuses.
const (
	InquiryOpen    = "open"
	InquiryPending = "pending"
	InquiryClosed  = "closed"
)

// Inquiry is a support ticket or question (問い合わせ) from a customer.
type Inquiry struct {
	ID         int64     `json:"id"`
	CustomerID int64     `json:"customer_id"`
	Channel    string    `json:"channel"` // email, line, phone, form …
	Subject    string    `json:"subject"`
	Body       string    `json:"body"`
	Status     string    `json:"status"`
	Assignee   string    `json:"assignee"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// MergeRecord is the history of one merge of two customers.
type MergeRecord struct {
	ID        int64               `json:"id"`
	WinnerID  int64               `json:"winner_id"`
	LoserID   int64               `json:"loser_id"`
	Via       identity.Identifier `json:"via"`
	Reason    string              `json:"reason"` // auto | manual | approved
	Actor     string              `json:"actor"`
	CreatedAt time.Time           `json:"created_at"`
	UndoneAt  *time.Time          `json:"undone_at,omitempty"`
	UndoneBy  string              `json:"undone_by,omitempty"`
}

// MergeCandidate is a link between two customers waiting for a person to
// approve or reject the merge (auto-merge switched off for its kind).
type MergeCandidate struct {
	ID        int64               `json:"id"`
	A         int64               `json:"customer_a"`
	B         int64               `json:"customer_b"`
	Via       identity.Identifier `json:"via"`
	Status    string              `json:"status"` // pending | approved | rejected
	CreatedAt time.Time           `json:"created_at"`
}

// TimelineItem is one entry of the customer's history, newest first.
type TimelineItem struct {
	Kind    string         `json:"kind"` // order | event | message | inquiry | note | merge | consent
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Title   string         `json:"title"`
	Detail  map[string]any `json:"detail,omitempty"`
	Amount  *int64         `json:"amount,omitempty"`
	Channel string         `json:"channel,omitempty"`
}

// View is the customer 360: everything known about one person.
type View struct {
	Customer
	DisplayName        string           `json:"display_name"`
	AOV                int64            `json:"aov"`
	DaysSinceLastOrder *int             `json:"days_since_last_order"`
	Identities         []Identity       `json:"identities"`
	Consents           []Consent        `json:"consents"`
	Tags               []string         `json:"tags"`
	Merges             []MergeRecord    `json:"merges"`
	MergeCandidates    []MergeCandidate `json:"merge_candidates"`
	Timeline           []TimelineItem   `json:"timeline"`
	// Scores are the customer's RFM, CPM and predicted figures (null
	// before the first order or the first scoring run).
	Scores *analytics.Scores `json:"scores"`
	// TimelineNext is a cursor for the next (older) page, empty at the end.
	TimelineNext string `json:"timeline_next,omitempty"`
}

// Summary is a row of a customer list or search result.
type Summary struct {
	ID          int64      `json:"id"`
	DisplayName string     `json:"display_name"`
	NameKana    string     `json:"name_kana"`
	Email       string     `json:"email"`
	Phone       string     `json:"phone"`
	Prefecture  string     `json:"prefecture"`
	OrderCount  int64      `json:"order_count"`
	TotalSpent  int64      `json:"total_spent"`
	LastOrderAt *time.Time `json:"last_order_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Query selects customers for a list or search.
type Query struct {
	Q string // free text: name (kanji or kana), e-mail, phone
	// Filters, each optional.
	Prefecture string // 都道府県, exactly as stored (東京都)
	Tag        string // customers carrying this tag
	Buyers     string // "buyers": at least one paid order; "prospects": none
	Limit      int
	Offset     int
	// BeforeID continues a walk through the whole list (exports): only ids
	// below it, newest first. NoTotal skips counting the matches.
	BeforeID int64
	NoTotal  bool
}

// Buyer filters of Query.Buyers.
const (
	OnlyBuyers    = "buyers"
	OnlyProspects = "prospects"
)

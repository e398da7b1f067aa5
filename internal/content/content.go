// Package content is enishi's message template model: a template has one
// variant per channel (an e-mail built from blocks, a LINE message set, an
// SMS text …), written in a safe Liquid-style language with merge fields
// (name with 様, last purchase, recommendations, points, rank, coupon …).
//
// Templates are checked when they are saved, by rendering every variant
// against a sample customer with strict variables: a typo in a merge field
// or a broken tag is reported then, with the variant and field named, and
// never when a message is about to go to a customer.
package content

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// Template is a stored message template.
type Template struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Purpose   message.Purpose `json:"purpose"`
	Variants  []Variant       `json:"variants"`
	Version   int             `json:"version"`
	UpdatedBy string          `json:"updated_by,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Variant is a template's content for one channel. Which fields apply
// depends on the channel:
//
//	email:   Subject, Preheader, and Blocks or HTML; Text (made from the blocks when empty)
//	line:    LINE (text, image, flex and coupon messages, up to 5)
//	sms:     Text
//	push:    Subject (title), Text (body), URL, ImageURL (icon)
//	onsite:  Subject (title), Text or HTML, URL, ImageURL
//	webhook: Payload (a JSON document; string values may use merge fields)
//	dm:      Text (a note printed on the address list, optional)
type Variant struct {
	Channel   message.Channel `json:"channel"`
	Subject   string          `json:"subject,omitempty"`
	Preheader string          `json:"preheader,omitempty"`
	Blocks    []Block         `json:"blocks,omitempty"`
	HTML      string          `json:"html,omitempty"`
	Text      string          `json:"text,omitempty"`
	LINE      []LINEMessage   `json:"line,omitempty"`
	URL       string          `json:"url,omitempty"`
	ImageURL  string          `json:"image_url,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
}

// Block types of the e-mail editor's model.
const (
	BlockHeading  = "heading"
	BlockText     = "text"
	BlockImage    = "image"
	BlockButton   = "button"
	BlockProducts = "products" // recommended products (from analytics)
	BlockCoupon   = "coupon"
	BlockDivider  = "divider"
	BlockSpacer   = "spacer"
	BlockHTML     = "html" // hand-written HTML, for what the blocks cannot say
)

// BlockTypes lists the block types.
var BlockTypes = []string{BlockHeading, BlockText, BlockImage, BlockButton, BlockProducts, BlockCoupon, BlockDivider, BlockSpacer, BlockHTML}

// Block is one piece of an e-mail, stored as JSON and turned into
// responsive HTML and plain text. Text, URL, Src and Alt may use merge
// fields. If is a Liquid condition (`points.balance > 1000`,
// `customer.rank == "gold"`): the block shows only when it holds.
type Block struct {
	Type  string `json:"type"`
	Text  string `json:"text,omitempty"`  // heading, text, button label, coupon caption, html source
	URL   string `json:"url,omitempty"`   // button and image link
	Src   string `json:"src,omitempty"`   // image source
	Alt   string `json:"alt,omitempty"`   // image alternative text
	Count int    `json:"count,omitempty"` // products: how many (default 3, at most 12)
	Align string `json:"align,omitempty"` // left | center | right
	Color string `json:"color,omitempty"` // button colour, #rrggbb
	If    string `json:"if,omitempty"`
}

// LINE message types.
const (
	LINEText   = "text"
	LINEImage  = "image"
	LINEFlex   = "flex"
	LINECoupon = "coupon"
)

// LINEMessage is one message of a LINE send, in the Messaging API's shape
// (https://developers.line.biz/en/reference/messaging-api/#message-objects).
type LINEMessage struct {
	Type               string          `json:"type"`
	Text               string          `json:"text,omitempty"`
	OriginalContentURL string          `json:"originalContentUrl,omitempty"`
	PreviewImageURL    string          `json:"previewImageUrl,omitempty"`
	AltText            string          `json:"altText,omitempty"`
	Contents           json.RawMessage `json:"contents,omitempty"` // flex container; string values may use merge fields
	CouponID           string          `json:"couponId,omitempty"`
}

// Variant returns the template's variant for a channel.
func (t *Template) Variant(ch message.Channel) (*Variant, bool) {
	for i := range t.Variants {
		if t.Variants[i].Channel == ch {
			return &t.Variants[i], true
		}
	}
	return nil, false
}

// Channels lists the channels the template has variants for.
func (t *Template) Channels() []message.Channel {
	out := make([]message.Channel, len(t.Variants))
	for i, v := range t.Variants {
		out[i] = v.Channel
	}
	return out
}

var knownChannels = map[message.Channel]bool{message.Email: true, message.LINE: true, message.SMS: true,
	message.Push: true, message.OnSite: true, message.Webhook: true, message.DM: true}

// CheckShape validates a template's structure (names, channels, required
// fields per channel); Check also renders it.
func (t *Template) CheckShape() error {
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" {
		return errs.FieldErrorf("name", "required")
	}
	if t.Purpose == "" {
		t.Purpose = message.Marketing
	}
	if t.Purpose != message.Marketing && t.Purpose != message.Transactional {
		return errs.FieldErrorf("purpose", "%q is not marketing or transactional", t.Purpose)
	}
	if len(t.Variants) == 0 {
		return errs.FieldErrorf("variants", "give at least one channel variant")
	}
	seen := map[message.Channel]bool{}
	for i := range t.Variants {
		v := &t.Variants[i]
		f := fmt.Sprintf("variants[%d]", i)
		if !knownChannels[v.Channel] {
			return errs.FieldErrorf(f+".channel", "%q is not a channel (email, line, sms, push, onsite, webhook, dm)", v.Channel)
		}
		if seen[v.Channel] {
			return errs.FieldErrorf(f+".channel", "a second %s variant; keep one per channel", v.Channel)
		}
		seen[v.Channel] = true
		if err := v.checkShape(f); err != nil {
			return err
		}
	}
	return nil
}

func (v *Variant) checkShape(f string) error {
	switch v.Channel {
	case message.Email:
		if strings.TrimSpace(v.Subject) == "" {
			return errs.FieldErrorf(f+".subject", "an e-mail needs a subject")
		}
		if len(v.Blocks) == 0 && strings.TrimSpace(v.HTML) == "" && strings.TrimSpace(v.Text) == "" {
			return errs.FieldErrorf(f+".blocks", "an e-mail needs blocks, html or text")
		}
		if len(v.Blocks) > 0 && v.HTML != "" {
			return errs.FieldErrorf(f+".html", "give blocks or html, not both")
		}
		for j, b := range v.Blocks {
			if err := b.check(fmt.Sprintf("%s.blocks[%d]", f, j)); err != nil {
				return err
			}
		}
	case message.LINE:
		if len(v.LINE) == 0 || len(v.LINE) > 5 {
			return errs.FieldErrorf(f+".line", "a LINE send has 1 to 5 messages")
		}
		for j, m := range v.LINE {
			if err := m.check(fmt.Sprintf("%s.line[%d]", f, j)); err != nil {
				return err
			}
		}
	case message.SMS:
		if strings.TrimSpace(v.Text) == "" {
			return errs.FieldErrorf(f+".text", "an SMS needs text")
		}
	case message.Push, message.OnSite:
		if strings.TrimSpace(v.Subject) == "" {
			return errs.FieldErrorf(f+".subject", "a %s message needs a title (subject)", v.Channel)
		}
	case message.Webhook:
		if len(v.Payload) == 0 || !json.Valid(v.Payload) {
			return errs.FieldErrorf(f+".payload", "a webhook needs a JSON payload")
		}
	}
	return nil
}

func (b Block) check(f string) error {
	switch b.Type {
	case BlockHeading, BlockText, BlockHTML:
		if strings.TrimSpace(b.Text) == "" {
			return errs.FieldErrorf(f+".text", "a %s block needs text", b.Type)
		}
	case BlockImage:
		if b.Src == "" {
			return errs.FieldErrorf(f+".src", "an image block needs src")
		}
	case BlockButton:
		if b.Text == "" || b.URL == "" {
			return errs.FieldErrorf(f, "a button needs text and url")
		}
	case BlockProducts:
		if b.Count < 0 || b.Count > 12 {
			return errs.FieldErrorf(f+".count", "between 1 and 12 (0 means 3)")
		}
	case BlockCoupon, BlockDivider, BlockSpacer:
	default:
		return errs.FieldErrorf(f+".type", "%q is not a block type (%s)", b.Type, strings.Join(BlockTypes, ", "))
	}
	switch b.Align {
	case "", "left", "center", "right":
	default:
		return errs.FieldErrorf(f+".align", "left, center or right")
	}
	if b.Color != "" && !isHexColor(b.Color) {
		return errs.FieldErrorf(f+".color", "%q is not a #rrggbb colour", b.Color)
	}
	return nil
}

func (m LINEMessage) check(f string) error {
	switch m.Type {
	case LINEText:
		if strings.TrimSpace(m.Text) == "" {
			return errs.FieldErrorf(f+".text", "a text message needs text")
		}
	case LINEImage:
		if m.OriginalContentURL == "" || m.PreviewImageURL == "" {
			return errs.FieldErrorf(f, "an image message needs originalContentUrl and previewImageUrl")
		}
	case LINEFlex:
		if m.AltText == "" || len(m.Contents) == 0 || !json.Valid(m.Contents) {
			return errs.FieldErrorf(f, "a flex message needs altText and JSON contents")
		}
	case LINECoupon:
		if m.CouponID == "" {
			return errs.FieldErrorf(f+".couponId", "a coupon message needs the LINE coupon id")
		}
	default:
		return errs.FieldErrorf(f+".type", "%q is not text, image, flex or coupon", m.Type)
	}
	return nil
}

func isHexColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

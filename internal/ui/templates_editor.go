package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// The message template editor: an e-mail built from blocks (heading, text,
// image, button, recommended products, coupon, divider, spacer, HTML) with
// a live preview at desktop and mobile widths, a LINE message set with a
// chat-style preview, and an SMS text. Templates are checked against the
// sample customer when saved (internal/content), so a broken merge field
// is reported here, never at send time.

type templatesPage struct {
	*base
	Templates []content.Template
}

func (u *UI) templatesList(w http.ResponseWriter, r *http.Request) error {
	list, err := u.cfg.Store.Templates(r.Context())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "templates", &templatesPage{base: u.newBase(r, "templates", "templates.title"), Templates: list})
}

// templatePage is the editor.
type templatePage struct {
	*base
	Tpl        *content.Template
	Email      content.Variant
	LINE       content.Variant
	SMS        content.Variant
	HasEmail   bool
	HasLINE    bool
	HasSMS     bool
	BlockTypes []string
	LINETypes  []string
	Fields     []string
}

// Action is where the editor saves.
func (p *templatePage) Action() string {
	if p.Tpl.ID == 0 {
		return "/templates"
	}
	return "/templates/" + strconv.FormatInt(p.Tpl.ID, 10)
}

// FlexJSON shows a flex message's contents for editing.
func (p *templatePage) FlexJSON(m content.LINEMessage) string { return string(m.Contents) }

func (u *UI) newTemplate(w http.ResponseWriter, r *http.Request) error {
	t := &content.Template{Purpose: message.Marketing, Variants: []content.Variant{{Channel: message.Email,
		Subject: "{{ customer.last_name }}様へのお知らせ",
		Blocks: []content.Block{{Type: content.BlockHeading, Text: "{{ customer.honorific_name }}"},
			{Type: content.BlockText, Text: "いつもご利用ありがとうございます。"},
			{Type: content.BlockButton, Text: "ショップを見る", URL: "{{ shop.url }}", Align: "center"}}}}}
	return u.showTemplate(w, r, http.StatusOK, t, "")
}

func (u *UI) editTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	t, err := u.cfg.Store.Template(r.Context(), id)
	if err != nil {
		return err
	}
	return u.showTemplate(w, r, http.StatusOK, t, "")
}

func (u *UI) showTemplate(w http.ResponseWriter, r *http.Request, status int, t *content.Template, msg string) error {
	title, args := "templates.new", []any{}
	if t.ID != 0 {
		title, args = "templates.edit", []any{t.Name}
	}
	pg := &templatePage{base: u.newBase(r, "templates", title, args...), Tpl: t, BlockTypes: content.BlockTypes,
		LINETypes: []string{content.LINEText, content.LINEImage, content.LINEFlex, content.LINECoupon}, Fields: content.FieldNames}
	pg.Error = msg
	pg.Email, pg.LINE, pg.SMS = content.Variant{Channel: message.Email}, content.Variant{Channel: message.LINE}, content.Variant{Channel: message.SMS}
	for _, v := range t.Variants {
		switch v.Channel {
		case message.Email:
			pg.Email, pg.HasEmail = v, true
		case message.LINE:
			pg.LINE, pg.HasLINE = v, true
		case message.SMS:
			pg.SMS, pg.HasSMS = v, true
		}
	}
	return u.render(w, r, status, "template_edit", pg)
}

// templateFromForm reads the editor. Variants of channels the editor does
// not show (push, on-site, webhook, DM) are kept from the stored template.
func templateFromForm(f url.Values, stored *content.Template) *content.Template {
	t := &content.Template{Name: strings.TrimSpace(f.Get("name")), Purpose: message.Purpose(f.Get("purpose"))}
	text := func(k string) string { return strings.ReplaceAll(f.Get(k), "\r\n", "\n") }
	if f.Get("email.on") == "on" {
		v := content.Variant{Channel: message.Email, Subject: f.Get("email.subject"), Preheader: f.Get("email.preheader")}
		n, _ := strconv.Atoi(f.Get("blocks"))
		for i := range min(n, 200) {
			p := "b" + strconv.Itoa(i) + "."
			b := content.Block{Type: f.Get(p + "type"), Text: text(p + "text"), URL: strings.TrimSpace(f.Get(p + "url")), Src: strings.TrimSpace(f.Get(p + "src")),
				Alt: f.Get(p + "alt"), Align: f.Get(p + "align"), Color: strings.TrimSpace(f.Get(p + "color")), If: strings.TrimSpace(f.Get(p + "if"))}
			b.Count, _ = strconv.Atoi(f.Get(p + "count"))
			if b.Type != "" {
				v.Blocks = append(v.Blocks, b)
			}
		}
		if len(v.Blocks) == 0 {
			v.HTML = f.Get("email.html")
		}
		t.Variants = append(t.Variants, v)
	}
	if f.Get("line.on") == "on" {
		v := content.Variant{Channel: message.LINE}
		n, _ := strconv.Atoi(f.Get("lines"))
		for i := range min(n, 5) {
			p := "l" + strconv.Itoa(i) + "."
			m := content.LINEMessage{Type: f.Get(p + "type"), Text: text(p + "text"), OriginalContentURL: strings.TrimSpace(f.Get(p + "original")),
				PreviewImageURL: strings.TrimSpace(f.Get(p + "preview")), AltText: f.Get(p + "alt"), CouponID: strings.TrimSpace(f.Get(p + "coupon"))}
			if c := strings.TrimSpace(f.Get(p + "contents")); c != "" {
				m.Contents = json.RawMessage(c)
			}
			if m.Type != "" {
				v.LINE = append(v.LINE, m)
			}
		}
		t.Variants = append(t.Variants, v)
	}
	if f.Get("sms.on") == "on" {
		t.Variants = append(t.Variants, content.Variant{Channel: message.SMS, Text: text("sms.text")})
	}
	if stored != nil {
		for _, v := range stored.Variants {
			switch v.Channel {
			case message.Email, message.LINE, message.SMS:
			default:
				t.Variants = append(t.Variants, v)
			}
		}
	}
	return t
}

// applyTemplateCmd runs an editor command on the blocks or LINE messages:
// add_block:TYPE, remove_block:I, up:I, down:I, add_line:TYPE, remove_line:I.
func applyTemplateCmd(t *content.Template, cmd string) error {
	parts := strings.SplitN(cmd, ":", 2)
	if len(parts) != 2 {
		return errs.Errorf(errs.Invalid, "unknown editor command %q", cmd)
	}
	var email, line *content.Variant
	for i := range t.Variants {
		switch t.Variants[i].Channel {
		case message.Email:
			email = &t.Variants[i]
		case message.LINE:
			line = &t.Variants[i]
		}
	}
	idx := func(n int) (int, bool) {
		i, err := strconv.Atoi(parts[1])
		return i, err == nil && i >= 0 && i < n
	}
	switch parts[0] {
	case "add_block":
		if email == nil {
			t.Variants = append(t.Variants, content.Variant{Channel: message.Email})
			email = &t.Variants[len(t.Variants)-1]
		}
		b := content.Block{Type: parts[1]}
		switch parts[1] {
		case content.BlockText, content.BlockHeading:
			b.Text = "…"
		case content.BlockButton:
			b.Text, b.URL, b.Align = "詳しく見る", "{{ shop.url }}", "center"
		case content.BlockImage:
			b.Src = "https://"
		case content.BlockProducts:
			b.Count = 3
		case content.BlockHTML:
			b.Text = "<p></p>"
		}
		email.Blocks = append(email.Blocks, b)
		email.HTML = ""
	case "remove_block", "up", "down":
		if email == nil {
			return nil
		}
		i, ok := idx(len(email.Blocks))
		if !ok {
			return nil
		}
		bs := email.Blocks
		switch parts[0] {
		case "remove_block":
			email.Blocks = append(bs[:i], bs[i+1:]...)
		case "up":
			if i > 0 {
				bs[i-1], bs[i] = bs[i], bs[i-1]
			}
		case "down":
			if i+1 < len(bs) {
				bs[i+1], bs[i] = bs[i], bs[i+1]
			}
		}
	case "add_line":
		if line == nil {
			t.Variants = append(t.Variants, content.Variant{Channel: message.LINE})
			line = &t.Variants[len(t.Variants)-1]
		}
		if len(line.LINE) < 5 {
			line.LINE = append(line.LINE, content.LINEMessage{Type: parts[1]})
		}
	case "remove_line":
		if line == nil {
			return nil
		}
		if i, ok := idx(len(line.LINE)); ok {
			line.LINE = append(line.LINE[:i], line.LINE[i+1:]...)
		}
	default:
		return errs.Errorf(errs.Invalid, "unknown editor command %q", cmd)
	}
	return nil
}

// saveTemplate checks and stores a template (or only changes the editor,
// with a cmd).
func (u *UI) saveTemplate(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errs.Errorf(errs.Invalid, "unreadable form: %v", err)
	}
	var stored *content.Template
	if r.PathValue("id") != "" {
		id, err := pathInt(r, "id")
		if err != nil {
			return err
		}
		if stored, err = u.cfg.Store.Template(r.Context(), id); err != nil {
			return err
		}
	}
	t := templateFromForm(r.PostForm, stored)
	if stored != nil {
		t.ID = stored.ID
	}
	if cmd := r.PostFormValue("cmd"); cmd != "" {
		if err := applyTemplateCmd(t, cmd); err != nil {
			return err
		}
		return u.showTemplate(w, r, http.StatusOK, t, "")
	}
	set, err := channel.LoadSettings(r.Context(), u.cfg.Store)
	if err != nil {
		return err
	}
	if _, err = content.NewEngine().Check(t, set.Shop); err == nil {
		t.UpdatedBy = principal(r).Actor()
		_, err = u.cfg.Store.SaveTemplate(r.Context(), t)
	}
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showTemplate(w, r, http.StatusUnprocessableEntity, t, u.localeFor(r).errorText(err))
	}
	if err := u.api.Audit(r, "template.save", "template:"+strconv.FormatInt(t.ID, 10), fmt.Sprintf("%s v%d", t.Name, t.Version)); err != nil {
		return err
	}
	return redirect(w, r, "/templates/"+strconv.FormatInt(t.ID, 10), "template_saved")
}

// templatePreview renders the editor's unsaved template with the sample
// customer into a preview frame: the frame's name says which channel.
func (u *UI) templatePreview(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return writePreviewError(w, err.Error())
	}
	t := templateFromForm(r.PostForm, nil)
	if t.Name == "" {
		t.Name = "preview"
	}
	ch := message.Email
	switch frame := r.URL.Query().Get("width"); {
	case strings.Contains(frame, "line"):
		ch = message.LINE
	case strings.Contains(frame, "sms"):
		ch = message.SMS
	}
	if _, ok := t.Variant(ch); !ok {
		return writePreviewError(w, u.localeFor(r).T("templates.no_variant"))
	}
	set, err := channel.LoadSettings(r.Context(), u.cfg.Store)
	if err != nil {
		return err
	}
	c, err := content.NewEngine().Check(t, set.Shop)
	if err != nil {
		return writePreviewError(w, u.localeFor(r).errorText(err))
	}
	d := content.SampleData(set.Shop)
	d.Footer = t.Purpose != message.Transactional
	d.UnsubscribeURL = strings.TrimRight(set.BaseURL, "/") + "/u/preview"
	out, err := c.Render(ch, &d)
	if err != nil {
		return writePreviewError(w, u.localeFor(r).errorText(err))
	}
	return writePreview(w, out)
}

package content

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// Product is a product as merge fields show it.
type Product struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	Price    int64  `json:"price"`
	URL      string `json:"url"`
	ImageURL string `json:"image_url"`
}

// Purchase is the customer's most recent purchase.
type Purchase struct {
	Product string    `json:"product"`
	SKU     string    `json:"sku"`
	URL     string    `json:"url"`
	Amount  int64     `json:"amount"`
	At      time.Time `json:"at"`
	// OrderRef is the order's number in its source (for review links).
	OrderRef string `json:"order_ref,omitempty"`
}

// Shop is the sender's identity, shown in every marketing mail's footer
// (特定電子メール法 第4条: name, address, contact, how to opt out).
type Shop struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Contact string `json:"contact"`
	URL     string `json:"url"`
	// Note is an optional extra line for the footer.
	Note string `json:"note,omitempty"`
}

// Data is everything a template may show about one customer.
type Data struct {
	CustomerID            int64
	LastName, FirstName   string
	Email, Prefecture     string
	OrderCount            int64
	TotalSpent            int64
	LastPurchase          *Purchase
	DaysSinceLastPurchase *int
	Recommended           []Product
	PointsBalance         int64
	Rank                  string
	CouponCode            string
	UnsubscribeURL        string
	// SurveyURL is the customer's answer page of the send's survey
	// (vars.survey_id), for survey.url.
	SurveyURL string
	// ReviewURL is the shop's review page for the last purchase (the
	// setting reviews.request_url), for review_url.
	ReviewURL string
	Shop      Shop
	// Footer appends the compliance footer (sender, address, contact,
	// unsubscribe link) to e-mail HTML and text: on for marketing mail.
	Footer bool
	// Vars are the send's own merge fields (Outgoing.Vars): reachable as
	// vars.NAME, and as NAME where that is not a built-in field.
	Vars map[string]any
}

// FieldNames lists the built-in merge fields, for editors and docs.
var FieldNames = []string{
	"customer.name", "customer.honorific_name", "customer.last_name", "customer.first_name", "customer.email",
	"customer.prefecture", "customer.order_count", "customer.total_spent",
	"last_purchase.product", "last_purchase.sku", "last_purchase.url", "last_purchase.amount", "last_purchase.date",
	"days_since_last_purchase", "recommended[].name", "recommended[].sku", "recommended[].price", "recommended[].url",
	"recommended[].image_url", "points.balance", "points.rank", "rank", "coupon.code", "unsubscribe_url", "survey.url", "review_url",
	"shop.name", "shop.address", "shop.contact", "shop.url", "vars.NAME",
}

// HonorificName is the customer's name as a letter addresses them:
// 「山田 太郎 様」, or 「お客様」 when the name is unknown.
func HonorificName(last, first string) string {
	name := strings.TrimSpace(last + " " + first)
	if name == "" {
		return "お客様"
	}
	return name + " 様"
}

// bindings turns d into Liquid bindings. With escape, every string is
// HTML-escaped, so merge fields cannot inject markup into an e-mail.
func (d *Data) bindings(escape bool) liquid.Bindings {
	s := func(v string) string {
		if escape {
			return html.EscapeString(v)
		}
		return v
	}
	name := strings.TrimSpace(d.LastName + " " + d.FirstName)
	b := liquid.Bindings{
		"customer": map[string]any{
			"id": d.CustomerID, "name": s(name), "honorific_name": s(HonorificName(d.LastName, d.FirstName)),
			"last_name": s(d.LastName), "first_name": s(d.FirstName), "email": s(d.Email), "prefecture": s(d.Prefecture),
			"order_count": d.OrderCount, "total_spent": d.TotalSpent,
		},
		"points":          map[string]any{"balance": d.PointsBalance, "rank": s(d.Rank)},
		"rank":            s(d.Rank),
		"coupon":          map[string]any{"code": s(d.CouponCode)},
		"unsubscribe_url": s(d.UnsubscribeURL),
		"survey":          map[string]any{"url": s(d.SurveyURL)},
		"review_url":      s(d.ReviewURL),
		"shop":            map[string]any{"name": s(d.Shop.Name), "address": s(d.Shop.Address), "contact": s(d.Shop.Contact), "url": s(d.Shop.URL), "note": s(d.Shop.Note)},
	}
	if d.DaysSinceLastPurchase != nil {
		b["days_since_last_purchase"] = *d.DaysSinceLastPurchase
	} else {
		b["days_since_last_purchase"] = nil
	}
	lp := map[string]any{"product": "", "sku": "", "url": "", "amount": int64(0), "date": ""}
	if p := d.LastPurchase; p != nil {
		lp = map[string]any{"product": s(p.Product), "sku": s(p.SKU), "url": s(p.URL), "amount": p.Amount,
			"date": p.At.In(clock.Tokyo).Format("2006年1月2日")}
	}
	b["last_purchase"] = lp
	recs := make([]any, len(d.Recommended))
	for i, p := range d.Recommended {
		recs[i] = map[string]any{"sku": s(p.SKU), "name": s(p.Name), "price": p.Price, "url": s(p.URL), "image_url": s(p.ImageURL)}
	}
	b["recommended"] = recs
	vars := map[string]any{}
	for k, v := range d.Vars {
		v = escapeValue(v, escape)
		vars[k] = v
		if _, builtin := b[k]; !builtin {
			b[k] = v
		}
	}
	b["vars"] = vars
	if code, ok := d.Vars["coupon_code"].(string); ok && d.CouponCode == "" {
		b["coupon"] = map[string]any{"code": s(code)}
	}
	return b
}

func escapeValue(v any, escape bool) any {
	if !escape {
		return v
	}
	switch x := v.(type) {
	case string:
		return html.EscapeString(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = escapeValue(e, true)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = escapeValue(e, true)
		}
		return out
	}
	return v
}

// SampleData is the sample customer templates are checked against when
// saved: every field set, so that strict rendering finds misspelt fields.
func SampleData(shop Shop) Data {
	days := 42
	if shop.Name == "" {
		shop = Shop{Name: "サンプル商店", Address: "東京都千代田区千代田1-1", Contact: "support@example.com", URL: "https://shop.example.com"}
	}
	return Data{
		CustomerID: 1, LastName: "山田", FirstName: "花子", Email: "hanako@example.com", Prefecture: "東京都",
		OrderCount: 3, TotalSpent: 12800,
		LastPurchase:          &Purchase{Product: "有機ほうじ茶 100g", SKU: "TEA-100", URL: "https://shop.example.com/p/TEA-100", Amount: 1620, At: time.Date(2026, 2, 18, 3, 0, 0, 0, time.UTC)},
		DaysSinceLastPurchase: &days,
		Recommended: []Product{
			{SKU: "TEA-200", Name: "和紅茶 50g", Price: 1296, URL: "https://shop.example.com/p/TEA-200", ImageURL: "https://shop.example.com/i/TEA-200.jpg"},
			{SKU: "CUP-1", Name: "波佐見焼 湯呑み", Price: 2750, URL: "https://shop.example.com/p/CUP-1", ImageURL: "https://shop.example.com/i/CUP-1.jpg"},
			{SKU: "SWT-3", Name: "季節の和菓子セット", Price: 3240, URL: "https://shop.example.com/p/SWT-3", ImageURL: "https://shop.example.com/i/SWT-3.jpg"},
		},
		PointsBalance: 1280, Rank: "ゴールド", CouponCode: "SPRING-8K2Q",
		UnsubscribeURL: "https://crm.example.com/u/sample",
		Shop:           shop, Footer: true,
	}
}

// Engine compiles templates. It is safe for concurrent use.
type Engine struct {
	strict, lax *liquid.Engine
}

// NewEngine returns an engine with enishi's filters and without the tags
// that would reach outside a template (include).
func NewEngine() *Engine {
	mk := func() *liquid.Engine {
		e := liquid.NewEngine()
		e.RegisterTag("include", func(render.Context) (string, error) {
			return "", errors.New("include is not allowed in message templates")
		})
		e.RegisterFilter("yen", func(v any) string { return formatYen(toInt64(v)) })
		e.RegisterFilter("sama", func(v any) string {
			s := strings.TrimSpace(fmt.Sprint(v))
			if s == "" || v == nil {
				return "お客様"
			}
			return s + " 様"
		})
		return e
	}
	strict := mk()
	strict.StrictVariables()
	return &Engine{strict: strict, lax: mk()}
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// formatYen writes 1234567 as "1,234,567円".
func formatYen(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteString("円")
	return b.String()
}

// Output is one variant rendered for one customer.
type Output struct {
	Channel   message.Channel `json:"channel"`
	Subject   string          `json:"subject,omitempty"`
	Preheader string          `json:"preheader,omitempty"`
	HTML      string          `json:"html,omitempty"`
	Text      string          `json:"text,omitempty"`
	LINE      []LINEMessage   `json:"line,omitempty"`
	URL       string          `json:"url,omitempty"`
	ImageURL  string          `json:"image_url,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	// TemplateURLs are the links written literally in the template (not
	// merged in from data): click tracking of plain text follows these.
	TemplateURLs []string `json:"-"`
}

// Compiled is a template parsed once, ready to render for many customers.
type Compiled struct {
	Template *Template
	variants map[message.Channel]*compiledVariant
	// NeedsRecommendations and NeedsPoints say whether any variant shows
	// recommended products or points/rank, so that callers only look them
	// up when a template uses them.
	NeedsRecommendations, NeedsPoints bool
	// NeedsSurvey says a variant shows survey.url (a link made per customer).
	NeedsSurvey bool
	// NeedsReview says a variant shows review_url.
	NeedsReview bool
	// URLs are the http(s) links written literally in the sources.
	URLs []string
}

var literalURL = regexp.MustCompile(`https?://[^\s<>"'{}「」（）()]+`)

// note records which costly merge fields a source uses.
func (c *Compiled) note(src string) {
	c.NeedsRecommendations = c.NeedsRecommendations || strings.Contains(src, "recommended")
	c.NeedsPoints = c.NeedsPoints || strings.Contains(src, "points") || strings.Contains(src, "rank")
	c.NeedsSurvey = c.NeedsSurvey || strings.Contains(src, "survey")
	c.NeedsReview = c.NeedsReview || strings.Contains(src, "review_url")
	for _, u := range literalURL.FindAllString(src, -1) {
		if !slices.Contains(c.URLs, u) {
			c.URLs = append(c.URLs, u)
		}
	}
}

type compiledVariant struct {
	v                                        *Variant
	subject, preheader, html, text, url, img *liquid.Template
	line                                     []compiledLINE
	payload                                  *jsonTemplate
}

type compiledLINE struct {
	m                                LINEMessage
	text, original, preview, altText *liquid.Template
	contents                         *jsonTemplate
}

// Compile parses every variant of t. Errors name the variant and field.
func (e *Engine) Compile(t *Template) (*Compiled, error) {
	if err := t.CheckShape(); err != nil {
		return nil, err
	}
	c := &Compiled{Template: t, variants: map[message.Channel]*compiledVariant{}}
	for i := range t.Variants {
		v := &t.Variants[i]
		f := fmt.Sprintf("variants[%d]", i)
		cv := &compiledVariant{v: v}
		p := func(field, src string) *liquid.Template {
			if src == "" {
				return nil
			}
			tpl, err := e.lax.ParseString(src)
			if err != nil {
				panic(errs.FieldErrorf(f+"."+field, "%s", liquidMessage(err)))
			}
			c.note(src)
			return tpl
		}
		err := catch(func() {
			cv.subject, cv.preheader, cv.url, cv.img = p("subject", v.Subject), p("preheader", v.Preheader), p("url", v.URL), p("image_url", v.ImageURL)
			htmlSrc, textSrc := v.HTML, v.Text
			if v.Channel == message.Email {
				if len(v.Blocks) > 0 {
					htmlSrc = blocksHTML(v.Blocks)
					if strings.TrimSpace(textSrc) == "" {
						textSrc = blocksText(v.Blocks)
					}
				} else if textSrc == "" {
					textSrc = htmlToTextSource(htmlSrc)
				}
				if htmlSrc == "" {
					htmlSrc = textToHTMLSource(textSrc)
				}
				htmlSrc = emailLayout(htmlSrc)
				textSrc += textFooter
			}
			cv.html, cv.text = p("html", htmlSrc), p("text", textSrc)
			for j, m := range v.LINE {
				lf := fmt.Sprintf("line[%d].", j)
				cl := compiledLINE{m: m, text: p(lf+"text", m.Text), original: p(lf+"originalContentUrl", m.OriginalContentURL),
					preview: p(lf+"previewImageUrl", m.PreviewImageURL), altText: p(lf+"altText", m.AltText)}
				if len(m.Contents) > 0 {
					cl.contents = e.compileJSON(m.Contents, f+"."+lf+"contents")
					c.note(string(m.Contents))
				}
				cv.line = append(cv.line, cl)
			}
			if len(v.Payload) > 0 {
				cv.payload = e.compileJSON(v.Payload, f+".payload")
				c.note(string(v.Payload))
			}
		})
		if err != nil {
			return nil, err
		}
		c.variants[v.Channel] = cv
	}
	return c, nil
}

// catch turns a panicked *errs.Error back into an error.
func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*errs.Error)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	fn()
	return nil
}

func liquidMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "Liquid error: ")
	return "template error: " + msg
}

// Check compiles t and renders every variant against the sample customer
// with strict variables (unknown merge fields are errors) and against a
// customer with no purchases, so that nothing fails at send time.
func (e *Engine) Check(t *Template, shop Shop) (*Compiled, error) {
	c, err := e.Compile(t)
	if err != nil {
		return nil, err
	}
	strict, err := e.strictCopy(t)
	if err != nil {
		return nil, err
	}
	sample := SampleData(shop)
	empty := Data{Shop: sample.Shop, UnsubscribeURL: sample.UnsubscribeURL, Footer: true}
	for i := range t.Variants {
		ch := t.Variants[i].Channel
		if _, err := strict.Render(ch, &sample); err != nil {
			return nil, err
		}
		if _, err := c.Render(ch, &empty); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (e *Engine) strictCopy(t *Template) (*Compiled, error) {
	se := &Engine{strict: e.strict, lax: e.strict}
	return se.Compile(t)
}

// Render renders the variant for ch with d. Every error names the variant's
// field.
func (c *Compiled) Render(ch message.Channel, d *Data) (*Output, error) {
	cv, ok := c.variants[ch]
	if !ok {
		return nil, errs.Errorf(errs.Invalid, "template %q has no %s variant", c.Template.Name, ch)
	}
	plain := d.bindings(false)
	out := &Output{Channel: ch, TemplateURLs: c.URLs}
	var err error
	r := func(field string, t *liquid.Template, b liquid.Bindings) string {
		if t == nil || err != nil {
			return ""
		}
		s, rerr := t.RenderString(b)
		if rerr != nil {
			err = errs.FieldErrorf(fmt.Sprintf("%s.%s", ch, field), "%s", liquidMessage(rerr))
		}
		return s
	}
	out.Subject = strings.TrimSpace(r("subject", cv.subject, plain))
	out.Preheader = r("preheader", cv.preheader, plain)
	out.URL = strings.TrimSpace(r("url", cv.url, plain))
	out.ImageURL = strings.TrimSpace(r("image_url", cv.img, plain))
	footer := d.Footer && ch == message.Email
	if cv.html != nil {
		hb := d.bindings(true)
		hb["enishi_footer"] = footer
		hb["enishi_preheader"] = html.EscapeString(out.Preheader)
		out.HTML = r("html", cv.html, hb)
	}
	if cv.text != nil {
		plain["enishi_footer"] = footer
		out.Text = strings.TrimSpace(r("text", cv.text, plain)) + "\n"
		delete(plain, "enishi_footer")
		if ch != message.Email {
			out.Text = strings.TrimSpace(out.Text)
		}
	}
	for j, cl := range cv.line {
		m := cl.m
		f := fmt.Sprintf("line[%d].", j)
		m.Text = r(f+"text", cl.text, plain)
		m.OriginalContentURL = r(f+"originalContentUrl", cl.original, plain)
		m.PreviewImageURL = r(f+"previewImageUrl", cl.preview, plain)
		m.AltText = r(f+"altText", cl.altText, plain)
		if cl.contents != nil && err == nil {
			if m.Contents, err = cl.contents.render(plain); err != nil {
				err = errs.FieldErrorf(fmt.Sprintf("%s.%scontents", ch, f), "%s", errs.Message(err))
			}
		}
		out.LINE = append(out.LINE, m)
	}
	if cv.payload != nil && err == nil {
		if out.Payload, err = cv.payload.render(plain); err != nil {
			err = errs.FieldErrorf(fmt.Sprintf("%s.payload", ch), "%s", errs.Message(err))
		}
	}
	if err != nil {
		return nil, err
	}
	if footer && (d.Shop.Name == "" || d.Shop.Address == "" || d.Shop.Contact == "" || d.UnsubscribeURL == "") {
		return nil, errs.Errorf(errs.Invalid, "a marketing e-mail needs the sender's name, address and contact (settings) and an unsubscribe link")
	}
	return out, nil
}

// jsonTemplate is a JSON document whose string values are templates.
type jsonTemplate struct {
	str *liquid.Template
	lit any
	arr []*jsonTemplate
	obj []jsonField
	raw bool // lit holds a non-string literal
}

type jsonField struct {
	key string
	val *jsonTemplate
}

func (e *Engine) compileJSON(raw json.RawMessage, field string) *jsonTemplate {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(errs.FieldErrorf(field, "not JSON: %v", err))
	}
	var walk func(v any, path string) *jsonTemplate
	walk = func(v any, path string) *jsonTemplate {
		switch x := v.(type) {
		case string:
			if !strings.Contains(x, "{{") && !strings.Contains(x, "{%") {
				return &jsonTemplate{lit: x, raw: true}
			}
			t, err := e.lax.ParseString(x)
			if err != nil {
				panic(errs.FieldErrorf(path, "%s", liquidMessage(err)))
			}
			return &jsonTemplate{str: t}
		case []any:
			jt := &jsonTemplate{arr: []*jsonTemplate{}}
			for i, el := range x {
				jt.arr = append(jt.arr, walk(el, fmt.Sprintf("%s[%d]", path, i)))
			}
			return jt
		case map[string]any:
			jt := &jsonTemplate{obj: []jsonField{}}
			for _, k := range sortedKeys(x) {
				jt.obj = append(jt.obj, jsonField{k, walk(x[k], path+"."+k)})
			}
			return jt
		}
		return &jsonTemplate{lit: v, raw: true}
	}
	return walk(v, field)
}

func (jt *jsonTemplate) render(b liquid.Bindings) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := jt.write(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (jt *jsonTemplate) write(w io.Writer, b liquid.Bindings) error {
	switch {
	case jt.str != nil:
		s, err := jt.str.RenderString(b)
		if err != nil {
			return errs.Errorf(errs.Invalid, "%s", liquidMessage(err))
		}
		enc, _ := json.Marshal(s)
		_, werr := w.Write(enc)
		return werr
	case jt.arr != nil:
		io.WriteString(w, "[")
		for i, el := range jt.arr {
			if i > 0 {
				io.WriteString(w, ",")
			}
			if err := el.write(w, b); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, "]")
		return err
	case jt.obj != nil:
		io.WriteString(w, "{")
		for i, f := range jt.obj {
			if i > 0 {
				io.WriteString(w, ",")
			}
			k, _ := json.Marshal(f.key)
			w.Write(k)
			io.WriteString(w, ":")
			if err := f.val.write(w, b); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, "}")
		return err
	}
	enc, err := json.Marshal(jt.lit)
	if err != nil {
		return err
	}
	_, err = w.Write(enc)
	return err
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

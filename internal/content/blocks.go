package content

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// liquidMarkup matches Liquid output and tags, which pass through block
// text untouched while the literal text around them is HTML-escaped.
var liquidMarkup = regexp.MustCompile(`(?s)\{\{.*?\}\}|\{%.*?%\}`)

// escapeLiteral HTML-escapes the literal text of a Liquid source (merge
// field values are escaped by the bindings), optionally turning line breaks
// into <br>.
func escapeLiteral(src string, nl2br bool) string {
	var b strings.Builder
	last := 0
	lit := func(s string) {
		s = html.EscapeString(s)
		if nl2br {
			s = strings.ReplaceAll(s, "\n", "<br>\n")
		}
		b.WriteString(s)
	}
	for _, m := range liquidMarkup.FindAllStringIndex(src, -1) {
		lit(src[last:m[0]])
		b.WriteString(src[m[0]:m[1]])
		last = m[1]
	}
	lit(src[last:])
	return b.String()
}

// attr escapes a Liquid source for use inside a double-quoted attribute.
func attr(src string) string { return escapeLiteral(src, false) }

func align(a string) string {
	if a == "" {
		return "left"
	}
	return a
}

func products(n int) string {
	if n <= 0 {
		n = 3
	}
	return strconv.Itoa(n)
}

// wrapIf wraps a block's source in its condition.
func wrapIf(cond, src string) string {
	if strings.TrimSpace(cond) == "" {
		return src
	}
	return "{% if " + cond + " %}" + src + "{% endif %}"
}

// blocksHTML turns blocks into the Liquid source of the e-mail's body rows:
// tables and inline styles, which every mail client renders.
func blocksHTML(blocks []Block) string {
	var b strings.Builder
	for _, bl := range blocks {
		var s string
		cell := `<tr><td style="padding:8px 24px;text-align:` + align(bl.Align) + `">`
		switch bl.Type {
		case BlockHeading:
			s = cell + `<h1 style="margin:0;font-size:22px;line-height:1.4;color:#222">` + escapeLiteral(bl.Text, true) + `</h1></td></tr>`
		case BlockText:
			s = cell + `<p style="margin:0;font-size:15px;line-height:1.8;color:#333">` + escapeLiteral(bl.Text, true) + `</p></td></tr>`
		case BlockImage:
			img := `<img src="` + attr(bl.Src) + `" alt="` + attr(bl.Alt) + `" width="552" style="display:block;width:100%;max-width:552px;height:auto;border:0">`
			if bl.URL != "" {
				img = `<a href="` + attr(bl.URL) + `">` + img + `</a>`
			}
			s = cell + img + `</td></tr>`
		case BlockButton:
			color := bl.Color
			if color == "" {
				color = "#c0392b"
			}
			s = cell + `<a href="` + attr(bl.URL) + `" style="display:inline-block;padding:12px 28px;background:` + color +
				`;color:#ffffff;text-decoration:none;border-radius:4px;font-size:16px;font-weight:bold">` + escapeLiteral(bl.Text, false) + `</a></td></tr>`
		case BlockProducts:
			s = `{% if recommended.size > 0 %}<tr><td style="padding:8px 16px"><table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>` +
				`{% for p in recommended limit: ` + products(bl.Count) + ` %}<td class="col" valign="top" style="padding:8px;width:33%">` +
				`<a href="{{ p.url }}" style="color:#222;text-decoration:none">{% if p.image_url != "" %}<img src="{{ p.image_url }}" alt="{{ p.name }}" width="160" style="display:block;width:100%;height:auto;border:0">{% endif %}` +
				`<p style="margin:6px 0 0;font-size:14px">{{ p.name }}</p><p style="margin:2px 0 0;font-size:14px;color:#c0392b">{{ p.price | yen }}</p></a></td>` +
				`{% endfor %}</tr></table></td></tr>{% endif %}`
		case BlockCoupon:
			caption := bl.Text
			if caption == "" {
				caption = "クーポンコード"
			}
			s = `{% if coupon.code != "" %}` + cell + `<div style="border:2px dashed #c0392b;padding:12px;font-size:14px">` + escapeLiteral(caption, true) +
				`<br><span style="font-size:22px;font-weight:bold;letter-spacing:2px">{{ coupon.code }}</span></div></td></tr>{% endif %}`
		case BlockDivider:
			s = `<tr><td style="padding:8px 24px"><hr style="border:0;border-top:1px solid #ddd;margin:0"></td></tr>`
		case BlockSpacer:
			s = `<tr><td style="height:24px;line-height:24px">&nbsp;</td></tr>`
		case BlockHTML:
			s = cell + bl.Text + `</td></tr>`
		}
		b.WriteString(wrapIf(bl.If, s))
		b.WriteByte('\n')
	}
	return b.String()
}

// blocksText turns blocks into the Liquid source of the plain-text part.
func blocksText(blocks []Block) string {
	var b strings.Builder
	for _, bl := range blocks {
		var s string
		switch bl.Type {
		case BlockHeading:
			s = "■ " + bl.Text + "\n\n"
		case BlockText:
			s = bl.Text + "\n\n"
		case BlockImage:
			if bl.URL != "" {
				s = bl.Alt + " " + bl.URL + "\n\n"
			} else if bl.Alt != "" {
				s = bl.Alt + "\n\n"
			}
		case BlockButton:
			s = "▶ " + bl.Text + "\n" + bl.URL + "\n\n"
		case BlockProducts:
			s = "{% for p in recommended limit: " + products(bl.Count) + " %}・{{ p.name }} {{ p.price | yen }}\n  {{ p.url }}\n{% endfor %}\n"
		case BlockCoupon:
			caption := bl.Text
			if caption == "" {
				caption = "クーポンコード"
			}
			s = `{% if coupon.code != "" %}` + caption + ": {{ coupon.code }}\n\n{% endif %}"
		case BlockDivider:
			s = "────────────────\n\n"
		case BlockHTML:
			s = htmlToTextSource(bl.Text) + "\n\n"
		}
		b.WriteString(wrapIf(bl.If, s))
	}
	return b.String()
}

var (
	tagRe   = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>|<[^>]+>`)
	blockRe = regexp.MustCompile(`(?i)<(br|/p|/div|/h[1-6]|/tr|/li)[^>]*>`)
	hrefRe  = regexp.MustCompile(`(?is)<a\s[^>]*href="([^"]*)"[^>]*>(.*?)</a>`)
	blankRe = regexp.MustCompile(`\n{3,}`)
)

// htmlToTextSource derives a plain-text Liquid source from an HTML one:
// links become "text (url)", block ends become line breaks, tags go.
func htmlToTextSource(src string) string {
	s := hrefRe.ReplaceAllString(src, "$2 ($1)")
	s = blockRe.ReplaceAllString(s, "\n")
	s = tagRe.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = blankRe.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s)
}

// textToHTMLSource wraps a plain-text source as HTML paragraphs.
func textToHTMLSource(src string) string {
	return `<tr><td style="padding:8px 24px"><p style="margin:0;font-size:15px;line-height:1.8;color:#333">` + escapeLiteral(src, true) + `</p></td></tr>`
}

// emailLayout wraps body rows in a responsive single-column layout, with
// the hidden preheader and the compliance footer.
func emailLayout(rows string) string {
	if i := strings.Index(strings.ToLower(rows), "</body>"); i >= 0 {
		// A whole hand-written document: only the footer is added.
		return rows[:i] + htmlFooter + rows[i:]
	}
	if !strings.Contains(rows, "<tr") {
		// Hand-written HTML that is not rows of the layout: put it in one cell.
		rows = `<tr><td style="padding:8px 24px">` + rows + `</td></tr>`
	}
	return `<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="x-apple-disable-message-reformatting"><title>{{ shop.name }}</title>
<style>@media (max-width:620px){.wrap{width:100%!important}.col{display:block!important;width:100%!important}}</style></head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:'Hiragino Sans','Hiragino Kaku Gothic ProN','Noto Sans JP',Meiryo,sans-serif">
<span style="display:none;max-height:0;overflow:hidden;opacity:0">{{ enishi_preheader }}</span>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f4"><tr><td align="center" style="padding:16px 0">
<table role="presentation" class="wrap" width="600" cellpadding="0" cellspacing="0" style="width:600px;max-width:600px;background:#ffffff">
` + rows + `
<tr><td>` + htmlFooter + `</td></tr>
</table></td></tr></table></body></html>
`
}

// htmlFooter is the HTML compliance footer (特定電子メール法 第4条).
const htmlFooter = `{% if enishi_footer %}<div style="padding:24px;font-size:12px;line-height:1.7;color:#777;border-top:1px solid #eee">
{{ shop.name }}<br>{{ shop.address }}<br>お問い合わせ: {{ shop.contact }}{% if shop.url != "" %}<br><a href="{{ shop.url }}" style="color:#777">{{ shop.url }}</a>{% endif %}{% if shop.note != "" %}<br>{{ shop.note }}{% endif %}<br>
このメールは配信を希望された方にお送りしています。配信停止は<a href="{{ unsubscribe_url }}" style="color:#777">こちら</a>から(ワンクリックで停止されます)。
</div>{% endif %}`

// textFooter is the plain-text compliance footer.
const textFooter = `{% if enishi_footer %}

────────────────
{{ shop.name }}
{{ shop.address }}
お問い合わせ: {{ shop.contact }}{% if shop.url != "" %}
{{ shop.url }}{% endif %}{% if shop.note != "" %}
{{ shop.note }}{% endif %}
配信停止: {{ unsubscribe_url }}
{% endif %}`

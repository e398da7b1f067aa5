package ui

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/message"
)

// previewPolicy is the Content-Security-Policy of a rendered message shown
// in the editors' preview frames: the message's own inline styles and its
// images (from the shop's servers), no script, framed only by the UI.
const previewPolicy = "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; font-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

// previewDoc shows messages that are not HTML e-mail (LINE, SMS, push …)
// the way the customer would roughly see them.
var previewDoc = template.Must(template.New("preview").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{margin:0;font-family:'Hiragino Sans','Noto Sans JP',Meiryo,sans-serif;background:{{if .LINE}}#8cabd9{{else}}#f4f4f4{{end}};padding:16px}
.b{background:#fff;border-radius:14px;padding:8px 12px;margin:0 0 8px;white-space:pre-wrap;font-size:14px;max-width:85%}
.b img{max-width:100%;display:block}.s{font-weight:bold;margin:0 0 8px}.k{color:#555;font-size:12px;margin:0 0 8px}</style></head>
<body data-testid="message-preview">{{if .Subject}}<p class="s">{{.Subject}}</p>{{end}}
{{range .LINE}}{{if eq .Type "text"}}<div class="b">{{.Text}}</div>{{else if eq .Type "image"}}<div class="b"><img src="{{.PreviewImageURL}}" alt=""></div>{{else if eq .Type "flex"}}<div class="b">[Flex] {{.AltText}}</div>{{else}}<div class="b">[{{.Type}}] {{.CouponID}}</div>{{end}}{{end}}
{{if and (not .LINE) .Text}}<div class="b">{{.Text}}</div>{{end}}
{{if .URL}}<p class="k">{{.URL}}</p>{{end}}</body></html>`))

// writePreview answers a preview frame with a rendered message.
func writePreview(w http.ResponseWriter, out *content.Output) error {
	h := w.Header()
	h.Set("Content-Security-Policy", previewPolicy)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	if out.Channel == message.Email && strings.TrimSpace(out.HTML) != "" {
		_, err := w.Write([]byte(withSubjectBar(out.HTML, out.Subject, out.Preheader)))
		return err
	}
	return previewDoc.Execute(w, out)
}

// writePreviewError shows why a message cannot be rendered, inside the
// frame where the message would be.
func writePreviewError(w http.ResponseWriter, msg string) error {
	return writePreview(w, &content.Output{Channel: message.SMS, Subject: "⚠", Text: msg})
}

// withSubjectBar puts the subject and preheader above an e-mail's body,
// as a mail client's message view shows them.
func withSubjectBar(doc, subject, preheader string) string {
	bar := `<div data-testid="preview-subject" style="font:14px/1.5 sans-serif;padding:8px 16px;background:#fff;border-bottom:1px solid #ddd"><strong>` +
		template.HTMLEscapeString(subject) + `</strong>`
	if preheader != "" {
		bar += `<br><span style="color:#777">` + template.HTMLEscapeString(preheader) + `</span>`
	}
	bar += `</div>`
	i := strings.Index(strings.ToLower(doc), "<body")
	if i < 0 {
		return bar + doc
	}
	j := strings.IndexByte(doc[i:], '>')
	if j < 0 {
		return bar + doc
	}
	return doc[:i+j+1] + bar + doc[i+j+1:]
}

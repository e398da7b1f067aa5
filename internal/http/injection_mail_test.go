package http_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestHostileTextInMail sends the journey mail to customers whose names
// and last purchase are storetest.HostileStrings: the HTML part carries
// them escaped (no live tag or attribute), the text part and the subject
// carry them verbatim — a URL in a name is not turned into a tracked link
// on the shop's domain — (template syntax in customer data is printed, not
// evaluated), and no header is injected.
func TestHostileTextInMail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ce := newChanEnv(t, open)
		for i, h := range storetest.HostileStrings {
			b := storetest.Buyer(t, "shop", fmt.Sprintf("h%04d", i), fmt.Sprintf("h%d@example.com", i), "")
			b.Profile.LastName, b.Profile.FirstName = h, h
			b.Consents = []customer.Consent{{Channel: customer.ChannelEmail, Granted: true, Method: "form"}}
			o := storetest.Order("shop", fmt.Sprintf("ho-%d", i), storetest.T0.AddDate(0, 0, -40), b, "TEA-100", 1, 1620)
			o.Lines[0].ProductName = h
			res, err := ce.db.ImportOrders(ctx, []order.Order{o})
			if err != nil {
				t.Fatal(err)
			}
			before := len(ce.smtp.Messages())
			if _, err := ce.send(fmt.Sprintf("journey:9:step:1:customer:%d", i), res.CustomerIDs[0], message.Email, message.Marketing); err != nil {
				t.Fatalf("%q: %v", h, err)
			}
			msgs := ce.smtp.Messages()
			if len(msgs) != before+1 {
				t.Fatalf("%q: no mail", h)
			}
			m, err := mail.ReadMessage(bytes.NewReader(msgs[len(msgs)-1].Data))
			if err != nil {
				t.Fatalf("%q: unreadable mail: %v", h, err)
			}
			for k := range m.Header {
				if !knownHeader(k) {
					t.Errorf("%q: unexpected header %q (injected?)", h, k)
				}
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || !strings.Contains(subject, h) {
				t.Errorf("%q: subject %q, %v", h, subject, err)
			}
			html, text := mailParts(t, m)
			if !strings.Contains(text, h) {
				t.Errorf("%q: the text part lacks it verbatim:\n%s", h, text)
			}
			if strings.Contains(h, "<") && strings.Contains(html, h) {
				t.Errorf("%q: the HTML part carries it unescaped", h)
			}
			for _, live := range []string{"<script", "<img src=x"} {
				if strings.Contains(h, live) && strings.Contains(html, live) {
					i := strings.Index(html, live)
					t.Errorf("%q: live %q in the HTML part: …%s…", h, live, html[max(0, i-300):min(len(html), i+100)])
				}
			}
		}
	})
}

func knownHeader(k string) bool {
	switch strings.ToLower(k) {
	case "from", "to", "subject", "date", "message-id", "mime-version", "content-type", "content-transfer-encoding",
		"list-unsubscribe", "list-unsubscribe-post", "dkim-signature", "reply-to", "feedback-id", "precedence", "auto-submitted",
		"x-enishi-message", "x-enishi-source", "list-id", "user-agent":
		return true
	}
	return strings.HasPrefix(strings.ToLower(k), "x-")
}

// mailParts returns the decoded HTML and text parts of a multipart mail.
func mailParts(t *testing.T, m *mail.Message) (html, text string) {
	t.Helper()
	var walk func(ct string, body io.Reader, enc string)
	walk = func(ct string, body io.Reader, enc string) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("content type %q: %v", ct, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			r := multipart.NewReader(body, params["boundary"])
			for {
				p, err := r.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				walk(p.Header.Get("Content-Type"), p, p.Header.Get("Content-Transfer-Encoding"))
			}
		}
		raw, _ := io.ReadAll(body)
		s := decodePart(t, raw, enc)
		switch mt {
		case "text/html":
			html += s
		case "text/plain":
			text += s
		}
	}
	walk(m.Header.Get("Content-Type"), m.Body, m.Header.Get("Content-Transfer-Encoding"))
	return html, text
}

func decodePart(t *testing.T, raw []byte, enc string) string {
	t.Helper()
	switch strings.ToLower(enc) {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return string(raw)
}

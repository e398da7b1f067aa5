package email

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
)

// Report is what a bounce or complaint report says about one recipient.
type Report struct {
	Kind      string // hard | soft | complaint
	Address   string
	Status    string // DSN status, e.g. 5.1.1
	Diagnosis string
	// MessageID is the bounced message's Message-ID (with angle brackets),
	// which enishi records as the send's provider id.
	MessageID string
}

// ErrNotAReport is returned for a message that is neither a DSN nor a
// complaint (feedback) report.
var ErrNotAReport = errors.New("not a delivery status notification or feedback report")

// ParseReport reads a bounce (RFC 3464 multipart/report with
// message/delivery-status) or a complaint (RFC 5965 feedback report) and
// returns one Report per failed or delayed recipient. Successful
// deliveries (Action: delivered, relayed, expanded) are left out.
func ParseReport(r io.Reader) ([]Report, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(r, 10<<20)))
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" {
		return nil, ErrNotAReport
	}
	reportType := strings.ToLower(params["report-type"])
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var status, feedback []byte
	var orig textproto.MIMEHeader
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read report part: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(p, 5<<20))
		if err != nil {
			return nil, err
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch strings.ToLower(pt) {
		case "message/delivery-status", "message/global-delivery-status":
			status = body
		case "message/feedback-report":
			feedback = body
		case "text/rfc822-headers", "message/rfc822", "message/global", "message/global-headers":
			if h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(body, '\r', '\n', '\r', '\n')))).ReadMIMEHeader(); err == nil || len(h) > 0 {
				orig = h
			}
		}
	}
	msgID := ""
	if orig != nil {
		msgID = strings.TrimSpace(orig.Get("Message-Id"))
	}
	switch {
	case reportType == "feedback-report" || feedback != nil:
		return parseFeedback(feedback, orig, msgID)
	case reportType == "delivery-status" || status != nil:
		if status == nil {
			return nil, errors.New("DSN without a message/delivery-status part")
		}
		return parseDeliveryStatus(status, msgID)
	}
	return nil, ErrNotAReport
}

func parseDeliveryStatus(body []byte, msgID string) ([]Report, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(body, '\r', '\n'))))
	if _, err := tp.ReadMIMEHeader(); err != nil && err != io.EOF { // per-message fields
		return nil, fmt.Errorf("DSN per-message fields: %w", err)
	}
	var out []Report
	for {
		h, err := tp.ReadMIMEHeader()
		if len(h) > 0 {
			action := strings.ToLower(strings.TrimSpace(h.Get("Action")))
			st := strings.TrimSpace(h.Get("Status"))
			if i := strings.IndexAny(st, " ("); i > 0 {
				st = st[:i]
			}
			rep := Report{Address: addrField(h.Get("Final-Recipient")), Status: st, Diagnosis: strings.TrimSpace(h.Get("Diagnostic-Code")), MessageID: msgID}
			if rep.Address == "" {
				rep.Address = addrField(h.Get("Original-Recipient"))
			}
			switch {
			case action == "failed" && strings.HasPrefix(st, "5"):
				rep.Kind = "hard"
			case action == "failed" || action == "delayed" || strings.HasPrefix(st, "4"):
				rep.Kind = "soft"
			}
			if rep.Kind != "" && rep.Address != "" {
				out = append(out, rep)
			}
		}
		if err != nil {
			break
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the DSN reports no failed recipient")
	}
	return out, nil
}

func parseFeedback(body []byte, orig textproto.MIMEHeader, msgID string) ([]Report, error) {
	var h textproto.MIMEHeader
	if body != nil {
		h, _ = textproto.NewReader(bufio.NewReader(bytes.NewReader(append(body, '\r', '\n', '\r', '\n')))).ReadMIMEHeader()
	}
	addr := ""
	if h != nil {
		addr = addrField(h.Get("Original-Rcpt-To"))
	}
	if addr == "" && orig != nil {
		if a, err := mail.ParseAddress(orig.Get("To")); err == nil {
			addr = a.Address
		}
	}
	if addr == "" && msgID == "" {
		return nil, errors.New("the complaint names neither the recipient nor the message")
	}
	diag := ""
	if h != nil {
		diag = strings.TrimSpace(h.Get("Feedback-Type"))
	}
	return []Report{{Kind: "complaint", Address: strings.ToLower(addr), Diagnosis: diag, MessageID: msgID}}, nil
}

// addrField reads "rfc822; user@example.com".
func addrField(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	return strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>"))
}

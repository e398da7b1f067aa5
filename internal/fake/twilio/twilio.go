// Package twilio is an in-process fake of Twilio's Messages API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, basic auth, form
// body; fixtures/twilio) for tests and demos. It records messages, can fail
// the next calls, and posts signed status callbacks and inbound replies
// the way Twilio does.
package twilio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/channel/sms"
)

// Message is one accepted message.
type Message struct {
	SID, To, From, Body, StatusCallback string
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	AccountSID, AuthToken string

	mu       sync.Mutex
	msgs     []Message
	failures []int
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Start starts a fake for one account.
func Start(accountSID, authToken string) *Server {
	s := &Server{AccountSID: accountSID, AuthToken: authToken}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.create)
	s.Server = httptest.NewServer(mux)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errBody(status, code int, msg string) map[string]any {
	return map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status}
}

// FailNext makes the next calls answer with these HTTP statuses.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, statuses...)
}

// Messages returns the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.AccountSID || pass != s.AuthToken || r.PathValue("sid") != s.AccountSID {
		writeJSON(w, 401, errBody(401, 20003, "Authenticate"))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, errBody(400, 21000, "bad form"))
		return
	}
	s.mu.Lock()
	var fail int
	if len(s.failures) > 0 {
		fail, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()
	if fail != 0 {
		writeJSON(w, fail, errBody(fail, 20500, "injected failure"))
		return
	}
	to, body := r.PostForm.Get("To"), r.PostForm.Get("Body")
	from := r.PostForm.Get("From")
	switch {
	case !e164.MatchString(to):
		writeJSON(w, 400, errBody(400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)))
		return
	case body == "":
		writeJSON(w, 400, errBody(400, 21602, "Message body is required."))
		return
	case from == "" && r.PostForm.Get("MessagingServiceSid") == "":
		writeJSON(w, 400, errBody(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."))
		return
	}
	s.mu.Lock()
	sid := fmt.Sprintf("SM%032x", len(s.msgs)+1)
	s.msgs = append(s.msgs, Message{SID: sid, To: to, From: from, Body: body, StatusCallback: r.PostForm.Get("StatusCallback")})
	s.mu.Unlock()
	now := time.Now().UTC().Format(time.RFC1123Z)
	writeJSON(w, 201, map[string]any{"account_sid": s.AccountSID, "api_version": "2010-04-01", "body": body, "date_created": now,
		"date_sent": nil, "date_updated": now, "direction": "outbound-api", "error_code": nil, "error_message": nil, "from": from,
		"num_media": "0", "num_segments": "1", "sid": sid, "status": "queued", "to": to,
		"uri": "/2010-04-01/Accounts/" + s.AccountSID + "/Messages/" + sid + ".json"})
}

// Post sends a form to url signed as Twilio signs callbacks.
func (s *Server) Post(callbackURL string, params url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, callbackURL, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sms.Signature(s.AuthToken, callbackURL, params))
	return http.DefaultClient.Do(req)
}

// StatusCallback posts a delivery status for a message to its callback URL.
func (s *Server) StatusCallback(m Message, status, errorCode string) (*http.Response, error) {
	p := url.Values{"MessageSid": {m.SID}, "SmsSid": {m.SID}, "MessageStatus": {status}, "SmsStatus": {status}, "To": {m.To},
		"From": {m.From}, "AccountSid": {s.AccountSID}, "ApiVersion": {"2010-04-01"}}
	if errorCode != "" {
		p.Set("ErrorCode", errorCode)
	}
	return s.Post(m.StatusCallback, p)
}

// Inbound posts an incoming SMS (a reply such as STOP) to a webhook URL.
func (s *Server) Inbound(webhookURL, from, to, body string) (*http.Response, error) {
	return s.Post(webhookURL, url.Values{"MessageSid": {"SMinbound"}, "From": {from}, "To": {to}, "Body": {body},
		"AccountSid": {s.AccountSID}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"}})
}

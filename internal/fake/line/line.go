// Package line is an in-process fake of the LINE Messaging API (push,
// multicast, narrowcast, quota, audience upload) for tests and demos. It
// checks the bearer token and the request shapes of the OpenAPI spec
// (fixtures/line), honours X-Line-Retry-Key (a repeated key answers 409
// and delivers nothing), and can be told to fail the next calls.
package line

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
)

// Delivery is one message set delivered to one user.
type Delivery struct {
	To       string
	Messages []map[string]any
	RetryKey string
	Via      string // push | multicast | narrowcast
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	Token string

	mu        sync.Mutex
	delivered []Delivery
	keys      map[string]bool
	failures  []int
	quota     int64 // 0: no limit
	used      int64
	audiences map[int64][]string
	nextAud   int64
	calls     map[string]int
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Start starts a fake that accepts token.
func Start(token string) *Server {
	s := &Server{Token: token, keys: map[string]bool{}, audiences: map[int64][]string{}, nextAud: 1000, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bot/message/push", s.send("push"))
	mux.HandleFunc("POST /v2/bot/message/multicast", s.send("multicast"))
	mux.HandleFunc("POST /v2/bot/message/narrowcast", s.send("narrowcast"))
	mux.HandleFunc("GET /v2/bot/message/quota", s.auth(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.quota == 0 {
			writeJSON(w, 200, map[string]any{"type": "none"})
			return
		}
		writeJSON(w, 200, map[string]any{"type": "limited", "value": s.quota})
	}))
	mux.HandleFunc("GET /v2/bot/message/quota/consumption", s.auth(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"totalUsage": s.used})
	}))
	mux.HandleFunc("POST /v2/bot/audienceGroup/upload", s.auth(s.upload))
	mux.HandleFunc("PUT /v2/bot/audienceGroup/upload", s.auth(s.upload))
	s.Server = httptest.NewServer(mux)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.Token {
			writeJSON(w, 401, map[string]any{"message": "Authentication failed. Confirm that the access token in the authorization header is valid."})
			return
		}
		s.mu.Lock()
		s.calls[r.Method+" "+r.URL.Path]++
		var fail int
		if len(s.failures) > 0 {
			fail, s.failures = s.failures[0], s.failures[1:]
		}
		s.mu.Unlock()
		if fail != 0 {
			writeJSON(w, fail, map[string]any{"message": "injected failure"})
			return
		}
		h(w, r)
	}
}

// FailNext makes the next calls answer with these HTTP statuses.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, statuses...)
}

// SetQuota sets a monthly limit and the usage so far.
func (s *Server) SetQuota(limit, used int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota, s.used = limit, used
}

// Delivered returns what was delivered.
func (s *Server) Delivered() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.delivered...)
}

// Calls counts the calls to "METHOD /path".
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// Audience returns an uploaded audience's user ids.
func (s *Server) Audience(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.audiences[id]...)
}

var lineUserRe = regexp.MustCompile(`^U[0-9a-f]{32}$`)

func (s *Server) send(via string) http.HandlerFunc {
	return s.auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			To        json.RawMessage  `json:"to"`
			Messages  []map[string]any `json:"messages"`
			Recipient *struct {
				Type            string `json:"type"`
				AudienceGroupID int64  `json:"audienceGroupId"`
			} `json:"recipient"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]any{"message": "The request body has 1 error(s)"})
			return
		}
		key := r.Header.Get("X-Line-Retry-Key")
		if key != "" && !uuidRe.MatchString(key) {
			writeJSON(w, 400, map[string]any{"message": "The value for the 'X-Line-Retry-Key' header is invalid"})
			return
		}
		if len(req.Messages) < 1 || len(req.Messages) > 5 {
			writeJSON(w, 400, map[string]any{"message": "The request body has 1 error(s)", "details": []map[string]string{{"message": "Size must be between 1 and 5", "property": "messages"}}})
			return
		}
		for i, m := range req.Messages {
			if msg := checkMessage(m); msg != "" {
				writeJSON(w, 400, map[string]any{"message": "The request body has 1 error(s)", "details": []map[string]string{{"message": msg, "property": fmt.Sprintf("messages[%d]", i)}}})
				return
			}
		}
		var to []string
		switch via {
		case "push":
			var one string
			if json.Unmarshal(req.To, &one) != nil || !lineUserRe.MatchString(one) {
				writeJSON(w, 400, map[string]any{"message": "The property, 'to', in the request body is invalid (line 1, column 7)"})
				return
			}
			to = []string{one}
		case "multicast":
			if json.Unmarshal(req.To, &to) != nil || len(to) < 1 || len(to) > 500 {
				writeJSON(w, 400, map[string]any{"message": "The request body has 1 error(s)", "details": []map[string]string{{"message": "Size must be between 1 and 500", "property": "to"}}})
				return
			}
		case "narrowcast":
			if req.Recipient == nil || req.Recipient.Type != "audience" {
				writeJSON(w, 400, map[string]any{"message": "recipient must be an audience"})
				return
			}
			s.mu.Lock()
			to = append([]string(nil), s.audiences[req.Recipient.AudienceGroupID]...)
			s.mu.Unlock()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if key != "" && s.keys[key] {
			w.Header().Set("X-Line-Accepted-Request-Id", key)
			writeJSON(w, 409, map[string]any{"message": "The retry key is already accepted"})
			return
		}
		if s.quota > 0 && s.used+int64(len(to)) > s.quota {
			writeJSON(w, 429, map[string]any{"message": "You have reached your monthly limit."})
			return
		}
		if key != "" {
			s.keys[key] = true
		}
		s.used += int64(len(to))
		var sent []map[string]string
		for _, u := range to {
			s.delivered = append(s.delivered, Delivery{To: u, Messages: req.Messages, RetryKey: key, Via: via})
		}
		for i := range req.Messages {
			sent = append(sent, map[string]string{"id": fmt.Sprintf("%d%03d", len(s.delivered), i)})
		}
		if via == "push" {
			writeJSON(w, 200, map[string]any{"sentMessages": sent})
			return
		}
		if via == "narrowcast" {
			w.Header().Set("X-Line-Request-Id", key)
			writeJSON(w, 202, map[string]any{})
			return
		}
		writeJSON(w, 200, map[string]any{})
	})
}

// checkMessage validates a message object's required properties.
func checkMessage(m map[string]any) string {
	str := func(k string) bool { v, ok := m[k].(string); return ok && v != "" }
	switch m["type"] {
	case "text":
		if !str("text") {
			return "text is required"
		}
	case "image":
		if !str("originalContentUrl") || !str("previewImageUrl") {
			return "originalContentUrl and previewImageUrl are required"
		}
	case "flex":
		if !str("altText") || m["contents"] == nil {
			return "altText and contents are required"
		}
	case "coupon":
		if !str("couponId") {
			return "couponId is required"
		}
	default:
		return fmt.Sprintf("unknown message type %v", m["type"])
	}
	return ""
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AudienceGroupID int64  `json:"audienceGroupId"`
		Description     string `json:"description"`
		Audiences       []struct {
			ID string `json:"id"`
		} `json:"audiences"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Audiences) > 10000 {
		writeJSON(w, 400, map[string]any{"message": "invalid audience upload"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.AudienceGroupID
	if r.Method == http.MethodPost {
		if req.Description == "" {
			writeJSON(w, 400, map[string]any{"message": "description is required"})
			return
		}
		s.nextAud++
		id = s.nextAud
	} else if _, ok := s.audiences[id]; !ok {
		writeJSON(w, 404, map[string]any{"message": "audience not found"})
		return
	}
	for _, a := range req.Audiences {
		s.audiences[id] = append(s.audiences[id], a.ID)
	}
	if r.Method == http.MethodPost {
		writeJSON(w, 202, map[string]any{"audienceGroupId": id, "createRoute": "MESSAGING_API", "type": "UPLOAD", "description": req.Description, "permission": "READ_WRITE"})
		return
	}
	writeJSON(w, 202, map[string]any{})
}

// Package shopify is an in-process fake of a shop's Admin REST API for
// tests and demos: orders, customers and products listed with since_id and
// cursor (page_info) pagination in Link headers, the leaky-bucket header,
// injectable 429 answers, customer updates (tags), price rules and
// discount codes. Ids are int64 beyond float64's exact range, as Shopify's
// are. It also signs webhooks the way Shopify does.
package shopify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Version is the API version the fake serves.
const Version = "2024-10"

// Server is a fake shop.
type Server struct {
	*httptest.Server
	Token string

	mu        sync.Mutex
	items     map[string][]map[string]any // resource → items sorted by id
	rules     []map[string]any
	codes     []map[string]any
	throttle  int // answer this many next requests with 429
	bucket    int // used calls reported in X-Shopify-Shop-Api-Call-Limit
	requests  []string
	nextID    int64
	failAfter int // fail list requests with 500 after this many pages (0: never)
	pages     int
}

// New starts a fake shop accepting token.
func New(token string) *Server {
	s := &Server{Token: token, items: map[string][]map[string]any{}, nextID: 9007199254740993}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is the Admin API base to give a client.
func (s *Server) BaseURL() string { return s.URL + "/admin/api/" + Version }

// Add stores an item (an order, customer or product object as Shopify
// returns it) under resource; its "id" must be a json.Number.
func (s *Server) Add(resource string, item map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := append(s.items[resource], item)
	sort.Slice(list, func(i, j int) bool { return idOf(list[i]) < idOf(list[j]) })
	s.items[resource] = list
}

// AddJSON stores an item given as JSON.
func (s *Server) AddJSON(resource, js string) {
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(err)
	}
	s.Add(resource, m)
}

// Throttle makes the next n requests answer 429 with Retry-After.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// SetBucket sets the used calls the leaky-bucket header reports (of 40).
func (s *Server) SetBucket(used int) { s.mu.Lock(); s.bucket = used; s.mu.Unlock() }

// FailListsAfter makes list requests fail with 500 once n pages were served.
func (s *Server) FailListsAfter(n int) { s.mu.Lock(); s.failAfter, s.pages = n, 0; s.mu.Unlock() }

// Requests lists the requests served, as "METHOD path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Customer returns a stored customer by id.
func (s *Server) Customer(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.items["customers"] {
		if fmt.Sprint(c["id"]) == id {
			return c
		}
	}
	return nil
}

// DiscountCodes lists the codes created.
func (s *Server) DiscountCodes() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.codes...)
}

func idOf(m map[string]any) int64 {
	n, _ := strconv.ParseInt(fmt.Sprint(m["id"]), 10, 64)
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	if r.Header.Get("X-Shopify-Access-Token") != s.Token {
		writeJSON(w, 401, map[string]string{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	if s.throttle > 0 {
		s.throttle--
		w.Header().Set("Retry-After", "2.0")
		writeJSON(w, 429, map[string]string{"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})
		return
	}
	w.Header().Set("X-Shopify-Shop-Api-Call-Limit", fmt.Sprintf("%d/40", max(s.bucket, 1)))
	path, ok := strings.CutPrefix(r.URL.Path, "/admin/api/"+Version+"/")
	if !ok {
		writeJSON(w, 404, map[string]string{"errors": "Not Found"})
		return
	}
	path = strings.TrimSuffix(path, ".json")
	parts := strings.Split(path, "/")
	switch {
	case r.Method == "GET" && len(parts) == 1:
		s.list(w, r, parts[0])
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "customers":
		if c := s.find("customers", parts[1]); c != nil {
			writeJSON(w, 200, map[string]any{"customer": c})
			return
		}
		writeJSON(w, 404, map[string]string{"errors": "Not Found"})
	case r.Method == "PUT" && len(parts) == 2 && parts[0] == "customers":
		c := s.find("customers", parts[1])
		var in struct {
			Customer map[string]any `json:"customer"`
		}
		if c == nil || json.NewDecoder(r.Body).Decode(&in) != nil {
			writeJSON(w, 404, map[string]string{"errors": "Not Found"})
			return
		}
		for k, v := range in.Customer {
			if k != "id" {
				c[k] = v
			}
		}
		writeJSON(w, 200, map[string]any{"customer": c})
	case r.Method == "POST" && path == "price_rules":
		var in struct {
			PriceRule map[string]any `json:"price_rule"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.PriceRule["title"] == nil {
			writeJSON(w, 422, map[string]any{"errors": map[string][]string{"title": {"can't be blank"}}})
			return
		}
		in.PriceRule["id"] = json.Number(strconv.FormatInt(s.newID(), 10))
		s.rules = append(s.rules, in.PriceRule)
		writeJSON(w, 201, map[string]any{"price_rule": in.PriceRule})
	case r.Method == "POST" && len(parts) == 3 && parts[0] == "price_rules" && parts[2] == "discount_codes":
		var in struct {
			DiscountCode struct {
				Code string `json:"code"`
			} `json:"discount_code"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &in) != nil || in.DiscountCode.Code == "" {
			writeJSON(w, 422, map[string]any{"errors": map[string][]string{"code": {"can't be blank"}}})
			return
		}
		found := false
		for _, pr := range s.rules {
			found = found || fmt.Sprint(pr["id"]) == parts[1]
		}
		if !found {
			writeJSON(w, 404, map[string]string{"errors": "Not Found"})
			return
		}
		for _, c := range s.codes {
			if strings.EqualFold(c["code"].(string), in.DiscountCode.Code) {
				writeJSON(w, 422, map[string]any{"errors": map[string][]string{"code": {"must be unique. Please try a different code."}}})
				return
			}
		}
		dc := map[string]any{"id": json.Number(strconv.FormatInt(s.newID(), 10)), "price_rule_id": json.Number(parts[1]),
			"code": in.DiscountCode.Code, "usage_count": 0}
		s.codes = append(s.codes, dc)
		writeJSON(w, 201, map[string]any{"discount_code": dc})
	default:
		writeJSON(w, 404, map[string]string{"errors": "Not Found"})
	}
}

func (s *Server) newID() int64 { s.nextID += 2; return s.nextID }

func (s *Server) find(resource, id string) map[string]any {
	for _, c := range s.items[resource] {
		if fmt.Sprint(c["id"]) == id {
			return c
		}
	}
	return nil
}

// cursor is what a page_info value stands for.
type cursor struct {
	After int64 `json:"after"`
	Limit int   `json:"limit"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, resource string) {
	if _, ok := s.items[resource]; !ok && resource != "orders" && resource != "customers" && resource != "products" {
		writeJSON(w, 404, map[string]string{"errors": "Not Found"})
		return
	}
	if s.failAfter > 0 && s.pages >= s.failAfter {
		writeJSON(w, 500, map[string]string{"errors": "Internal Server Error"})
		return
	}
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			writeJSON(w, 400, map[string]any{"errors": map[string][]string{"limit": {"Invalid value."}}})
			return
		}
		limit = n
	}
	var after int64
	if pi := q.Get("page_info"); pi != "" {
		// Shopify refuses any other filter beside page_info.
		for k := range q {
			if k != "page_info" && k != "limit" && k != "fields" {
				writeJSON(w, 400, map[string]any{"errors": map[string][]string{"page_info": {"Invalid value."}}})
				return
			}
		}
		raw, err := base64.RawURLEncoding.DecodeString(pi)
		var c cursor
		if err != nil || json.Unmarshal(raw, &c) != nil {
			writeJSON(w, 400, map[string]any{"errors": map[string][]string{"page_info": {"Invalid value."}}})
			return
		}
		after = c.After
	} else if v := q.Get("since_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeJSON(w, 400, map[string]any{"errors": map[string][]string{"since_id": {"Invalid value."}}})
			return
		}
		after = n
	}
	var page []map[string]any
	more := false
	for _, it := range s.items[resource] {
		if idOf(it) <= after {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, it)
	}
	if page == nil {
		page = []map[string]any{}
	}
	if more {
		raw, _ := json.Marshal(cursor{After: idOf(page[len(page)-1]), Limit: limit})
		next := fmt.Sprintf("%s/%s.json?limit=%d&page_info=%s", s.BaseURL(), resource, limit, base64.RawURLEncoding.EncodeToString(raw))
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next))
	}
	s.pages++
	writeJSON(w, 200, map[string]any{resource: page})
}

// Webhook is a signed webhook request ready to send.
type Webhook struct {
	Topic, Shop, ID string
	Body            []byte
}

// Sign returns the X-Shopify-Hmac-Sha256 of a body for an app secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Send posts a webhook to url the way Shopify does.
func Send(url, secret string, wh Webhook) (*http.Response, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(wh.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", wh.Topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", Sign(secret, wh.Body))
	req.Header.Set("X-Shopify-Shop-Domain", wh.Shop)
	req.Header.Set("X-Shopify-Webhook-Id", wh.ID)
	req.Header.Set("X-Shopify-API-Version", Version)
	return http.DefaultClient.Do(req)
}

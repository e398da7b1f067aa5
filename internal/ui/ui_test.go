package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/japanese"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/demo"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
	"github.com/enishi-crm/enishi/internal/ui"
)

var bg = context.Background()

// site is the API and UI on an httptest server over a demo store, with one
// account per role (password "password-"+role).
type site struct {
	t     *testing.T
	db    *store.DB
	srv   *httptest.Server
	clock *clock.Manual
}

func newSite(t *testing.T) *site {
	t.Helper()
	c := clock.NewManual(storetest.T0, true)
	db := storetest.SQLite(t, c)
	if _, err := demo.Generate(bg, db, demo.Options{Customers: 120, Seed: 7, Now: storetest.T0}); err != nil {
		t.Fatal(err)
	}
	api := enishihttp.New(enishihttp.Config{Store: db, Clock: c})
	web, err := ui.Mount(api, ui.Config{Store: db, Clock: c, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { web.Close() })
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	for _, role := range []string{"admin", "marketer", "analyst", "support"} {
		if _, _, err := enishihttp.CreateUser(bg, db, role+"@example.com", role, role, "password-"+role); err != nil {
			t.Fatal(err)
		}
	}
	return &site{t: t, db: db, srv: srv, clock: c}
}

// client is a browser-like client: cookies, no automatic redirects.
type client struct {
	s    *site
	http *http.Client
	csrf string
}

func (s *site) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{s: s, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// as signs in through the sign-in form, as a person would.
func (s *site) as(role string) *client {
	s.t.Helper()
	c := s.anonymous()
	_, body := c.get("/login")
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if token == nil {
		s.t.Fatalf("no form token on the sign-in page")
	}
	resp, _ := c.post("/login", url.Values{"csrf_token": {token[1]}, "email": {role + "@example.com"}, "password": {"password-" + role}})
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("sign in as %s: %d", role, resp.StatusCode)
	}
	c.refreshCSRF()
	return c
}

// refreshCSRF reads the session's form token.
func (c *client) refreshCSRF() {
	c.s.t.Helper()
	_, me := c.get("/api/v1/me")
	var p struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(me), &p); err != nil || p.CSRF == "" {
		c.s.t.Fatalf("me: %s", me)
	}
	c.csrf = p.CSRF
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.s.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, c.s.srv.URL+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, c.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// form posts with the session's CSRF token.
func (c *client) form(path string, form url.Values) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", c.csrf)
	return c.post(path, form)
}

func (s *site) anyCustomer() int64 {
	s.t.Helper()
	var id int64
	if err := s.db.Read.QueryRowContext(bg, `SELECT id FROM customers WHERE status = 'active' AND email <> '' AND order_count > 0 ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func TestSignedOutPagesGoToTheSignInPage(t *testing.T) {
	s := newSite(t)
	c := s.anonymous()
	for _, p := range []string{"/", "/dashboard", "/customers?q=x", "/analytics/rfm", "/settings/users"} {
		resp, _ := c.get(p)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s: %d → %q", p, resp.StatusCode, loc)
		}
		if p != "/" && !strings.Contains(loc, "next="+url.QueryEscape(p)) {
			t.Errorf("%s: the sign-in page does not return to it: %q", p, loc)
		}
	}
	if resp, _ := c.form("/customers/1/notes", url.Values{"body": {"x"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signed-out POST: %d", resp.StatusCode)
	}
	if resp, body := c.get("/static/app.css"); resp.StatusCode != 200 || !strings.Contains(body, "enishi") {
		t.Errorf("static assets need no sign-in: %d", resp.StatusCode)
	}
}

func TestEachRoleSeesWhatItsPermissionsAllow(t *testing.T) {
	s := newSite(t)
	id := s.anyCustomer()
	pages := []struct {
		path  string
		allow []string // roles that get the page
	}{
		{"/dashboard", []string{"admin", "marketer", "analyst"}},
		{"/dashboard/kpi?days=90", []string{"admin", "marketer", "analyst"}},
		{"/analytics/kpi", []string{"admin", "marketer", "analyst"}},
		{"/analytics/rfm", []string{"admin", "marketer", "analyst"}},
		{"/analytics/cohort?metric=ltv", []string{"admin", "marketer", "analyst"}},
		{"/analytics/messages", []string{"admin", "marketer", "analyst"}},
		{"/analytics/rfm/customers?r=1&f=1", []string{"admin", "marketer", "analyst", "support"}},
		{"/customers", []string{"admin", "marketer", "analyst", "support"}},
		{"/customers/" + itoa(id), []string{"admin", "marketer", "analyst", "support"}},
		{"/merge-candidates", []string{"admin", "marketer", "analyst", "support"}},
		{"/customers/export?format=csv", []string{"admin", "marketer"}},
		{"/imports", []string{"admin", "marketer"}},
		{"/settings/users", []string{"admin"}},
		{"/settings/api-keys", []string{"admin"}},
		{"/settings/identity", []string{"admin"}},
		{"/settings/analytics", []string{"admin"}},
		{"/settings/integrations", []string{"admin"}},
		{"/settings/channels", []string{"admin"}},
		{"/account/password", []string{"admin", "marketer", "analyst", "support"}},
	}
	for _, role := range []string{"admin", "marketer", "analyst", "support"} {
		c := s.as(role)
		for _, p := range pages {
			resp, body := c.get(p.path)
			want := http.StatusForbidden
			for _, r := range p.allow {
				if r == role {
					want = http.StatusOK
				}
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s: %d, want %d", role, p.path, resp.StatusCode, want)
			}
			if want == http.StatusForbidden && !strings.Contains(body, "権限がありません") {
				t.Errorf("%s %s: the 403 is not the UI's page: %.200s", role, p.path, body)
			}
			if strings.Contains(body, "ZgotmplZ") {
				t.Errorf("%s %s: a template value was refused by html/template", role, p.path)
			}
		}
	}
}

func TestAnalystSeesPersonalDataMasked(t *testing.T) {
	s := newSite(t)
	id := s.anyCustomer()
	c, err := s.db.Customer(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	_, list := s.as("analyst").get("/customers")
	_, profile := s.as("analyst").get("/customers/" + itoa(id))
	for _, body := range []string{list, profile} {
		if strings.Contains(body, c.Email) || strings.Contains(body, c.FirstName) && c.FirstName != "" {
			t.Errorf("the analyst sees %s's e-mail or given name", c.Email)
		}
	}
	if !strings.Contains(profile, customer.MaskEmail(c.Email)) {
		t.Errorf("the masked e-mail %s is not shown", customer.MaskEmail(c.Email))
	}
	_, full := s.as("support").get("/customers/" + itoa(id))
	if !strings.Contains(full, c.Email) {
		t.Errorf("support does not see the e-mail")
	}
}

func TestFormsWithoutTheirTokenAreRefused(t *testing.T) {
	s := newSite(t)
	id := s.anyCustomer()
	c := s.as("support")
	resp, _ := c.post("/customers/"+itoa(id)+"/notes", url.Values{"body": {"forged"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("note without CSRF token: %d", resp.StatusCode)
	}
	v, _ := s.db.CustomerView(bg, id, store.ViewOptions{})
	for _, it := range v.Timeline {
		if it.Kind == "note" {
			t.Fatalf("a forged note was written")
		}
	}
	// The sign-in form has a token of its own.
	anon := s.anonymous()
	resp, body := anon.post("/login", url.Values{"email": {"admin@example.com"}, "password": {"password-admin"}})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), enishihttp.SessionCookie+"=") {
		t.Errorf("sign-in without its form token: %d %.100s", resp.StatusCode, body)
	}
}

func TestNotesInquiriesConsentsTagsFromThe360(t *testing.T) {
	s := newSite(t)
	id := s.anyCustomer()
	c := s.as("support")
	steps := []struct {
		path string
		form url.Values
		ok   string
	}{
		{"/notes", url.Values{"body": {"配送先の変更を希望"}}, "note_added"},
		{"/inquiries", url.Values{"channel": {"phone"}, "subject": {"返品について"}, "status": {"open"}}, "inquiry_added"},
		{"/consents", url.Values{"channel": {"email"}, "granted": {"false"}, "source": {"電話"}}, "consent_saved"},
		{"/tags", url.Values{"tags": {"VIP、定期便"}}, "tags_added"},
	}
	for _, st := range steps {
		resp, body := c.form("/customers/"+itoa(id)+st.path, st.form)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "ok="+st.ok) {
			t.Fatalf("%s: %d %s %.300s", st.path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	v, err := s.db.CustomerView(bg, id, store.ViewOptions{TimelineLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, it := range v.Timeline {
		kinds[it.Kind+":"+it.Title] = true
	}
	if !kinds["note:配送先の変更を希望"] || !kinds["inquiry:返品について"] {
		t.Errorf("timeline lacks the note or inquiry: %v", kinds)
	}
	if len(v.Tags) < 2 || !contains(v.Tags, "VIP") || !contains(v.Tags, "定期便") {
		t.Errorf("tags = %v", v.Tags)
	}
	for _, cs := range v.Consents {
		if cs.Channel == "email" && (cs.Granted || cs.Method != "staff" || cs.Actor != "support@example.com") {
			t.Errorf("email consent = %+v", cs)
		}
	}
	// An empty note is refused with the form shown again.
	resp, body := c.form("/customers/"+itoa(id)+"/notes", url.Values{"body": {"  "}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "メモの内容を入力してください") {
		t.Errorf("empty note: %d", resp.StatusCode)
	}
}

func TestUnmergeFromTheProfile(t *testing.T) {
	s := newSite(t)
	var mergeID, winner, loser int64
	if err := s.db.Read.QueryRowContext(bg, `SELECT id, winner_id, loser_id FROM merges WHERE undone_at IS NULL ORDER BY id LIMIT 1`).Scan(&mergeID, &winner, &loser); err != nil {
		t.Fatal(err)
	}
	c := s.as("marketer")
	_, page := c.get("/customers/" + itoa(winner))
	if !strings.Contains(page, `action="/merges/`+itoa(mergeID)+`/unmerge"`) {
		t.Fatalf("no unmerge button for merge %d", mergeID)
	}
	resp, _ := c.form("/merges/"+itoa(mergeID)+"/unmerge", url.Values{"back": {itoa(winner)}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "ok=unmerged") {
		t.Fatalf("unmerge: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	l, err := s.db.Customer(bg, loser)
	if err != nil || l.Status != customer.Active {
		t.Errorf("customer %d after unmerge: %+v %v", loser, l, err)
	}
	// A merged-away id redirects to the person who absorbed it.
	if _, err := s.db.MergeCustomers(bg, winner, loser, "test"); err != nil {
		t.Fatal(err)
	}
	resp, _ = c.get("/customers/" + itoa(loser))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/customers/"+itoa(winner) {
		t.Errorf("merged customer: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestExportsInCSVShiftJISAndExcel(t *testing.T) {
	s := newSite(t)
	// A name that a spreadsheet would run as a formula.
	r := storetest.Buyer(t, "shop", "evil", "evil@example.com", "")
	r.Profile.LastName, r.Profile.FirstName = "=HYPERLINK(\"x\")", "髙橋"
	if _, err := s.db.ImportCustomers(bg, []customer.Record{r}); err != nil {
		t.Fatal(err)
	}
	c := s.as("marketer")
	resp, body := c.get("/customers/export?format=csv&q=evil")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "\ufeff") || !strings.Contains(body, `'=HYPERLINK`) || !strings.Contains(body, "evil@example.com") {
		t.Errorf("UTF-8 CSV: %d %q", resp.StatusCode, body)
	}
	resp, body = c.get("/customers/export?format=csv-sjis")
	text, err := japanese.ShiftJIS.NewDecoder().String(body)
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=Shift_JIS" || !strings.Contains(text, "氏名") {
		t.Errorf("Shift_JIS CSV: %v %s %.100q", err, resp.Header.Get("Content-Type"), text)
	}
	var n int
	if err := s.db.Read.QueryRowContext(bg, `SELECT count(*) FROM customers WHERE status = 'active'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(text, "\r\n"); lines != n+1 {
		t.Errorf("Shift_JIS CSV has %d lines, want %d customers and a header", lines, n)
	}
	resp, body = c.get("/customers/export?format=xlsx&q=evil")
	f, err := excelize.OpenReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("xlsx: %d %v", resp.StatusCode, err)
	}
	rows, _ := f.GetRows(f.GetSheetName(0))
	if len(rows) != 2 || !strings.HasPrefix(rows[1][1], "'=HYPERLINK") {
		t.Errorf("xlsx rows = %v", rows)
	}
	// Analytics tables export too.
	resp, body = c.get("/analytics/rfm/export?format=csv&table=1")
	if resp.StatusCode != 200 || !strings.Contains(body, "VIP") {
		t.Errorf("RFM segments CSV: %d %q", resp.StatusCode, body)
	}
	if resp, _ := s.as("support").get("/customers/export?format=csv"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support exported: %d", resp.StatusCode)
	}
}

func TestImportUploadPreviewCheckAndRun(t *testing.T) {
	s := newSite(t)
	c := s.as("marketer")
	f, err := os.ReadFile(filepath.Join("..", "importer", "testdata", "rakuten_orders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"csrf_token": c.csrf, "kind": "orders", "format": "auto", "encoding": "auto"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "rakuten_orders.csv")
	fw.Write(f)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/imports", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, body := c.do(req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %.300s", resp.StatusCode, body)
	}
	job := resp.Header.Get("Location")
	_, page := c.get(job)
	for _, want := range []string{"注文番号", "→ order_id", "shift_jis", "rakuten"} {
		if !strings.Contains(page, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	wait := func(state string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, st := c.get(job + "/status")
			if strings.Contains(st, `data-state="`+state+`"`) {
				return st
			}
			if strings.Contains(st, `data-state="failed"`) || time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %.500s", state, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("checked")
	var before int
	s.db.Read.QueryRowContext(bg, `SELECT count(*) FROM orders WHERE external_id LIKE '378912-2024%'`).Scan(&before)
	if before != 0 {
		t.Fatalf("the check wrote %d orders", before)
	}
	if resp, _ := c.form(job+"/run", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("run: %d", resp.StatusCode)
	}
	wait("done")
	var after int
	s.db.Read.QueryRowContext(bg, `SELECT count(*) FROM orders WHERE external_id LIKE '378912-2024%'`).Scan(&after)
	if after == 0 {
		t.Error("nothing imported")
	}
	runs, err := s.db.ImportRuns(bg, 5)
	if err != nil || len(runs) != 1 || runs[0].Actor != "ui:marketer@example.com" || runs[0].Status == "running" {
		t.Errorf("import runs = %+v %v", runs, err)
	}
	// Another user cannot see the upload.
	if resp, _ := s.as("admin").get(job); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another user opened the upload: %d", resp.StatusCode)
	}
}

func TestPasswordChangeSignsOutOtherBrowsers(t *testing.T) {
	s := newSite(t)
	a, b := s.as("analyst"), s.as("analyst")
	resp, body := a.form("/account/password", url.Values{"current": {"password-analyst"}, "password": {"a-new-password-1"}, "confirm": {"a-new-password-1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ := a.get("/customers"); resp.StatusCode != 200 {
		t.Errorf("this browser was signed out: %d", resp.StatusCode)
	}
	a.refreshCSRF() // the new session has a new token
	if resp, _ := b.get("/customers"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the other browser is still signed in: %d", resp.StatusCode)
	}
	resp, body = a.form("/account/password", url.Values{"current": {"wrong-password"}, "password": {"another-password"}, "confirm": {"another-password"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "現在のパスワードが違います") {
		t.Errorf("wrong current password: %d", resp.StatusCode)
	}
}

func TestLanguageSwitchNeverLeavesTheSite(t *testing.T) {
	s := newSite(t)
	c := s.as("admin")
	for next, want := range map[string]string{"/customers?q=a": "/customers?q=a", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/"} {
		resp, _ := c.get("/lang/en?next=" + url.QueryEscape(next))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("next=%s → %s", next, resp.Header.Get("Location"))
		}
	}
	_, body := c.get("/customers")
	if !strings.Contains(body, `lang="en"`) || !strings.Contains(body, ">Customers<") {
		t.Errorf("the English switch did not stick")
	}
}

func TestSettingsUsersKeysAndIdentityPolicy(t *testing.T) {
	s := newSite(t)
	c := s.as("admin")
	resp, body := c.form("/settings/users", url.Values{"email": {"new@example.com"}, "name": {"新人"}, "role": {"support"}})
	pw := regexp.MustCompile(`data-testid="new-password">([^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || pw == nil {
		t.Fatalf("create user: %d", resp.StatusCode)
	}
	if u, err := s.db.UserByEmail(bg, "new@example.com"); err != nil || u.Role != "support" {
		t.Errorf("user = %+v %v", u, err)
	}
	resp, body = c.form("/settings/api-keys", url.Values{"name": {"Shopify"}, "scope": {"ingest:write", "customers:read"}})
	key := regexp.MustCompile(`data-testid="new-key">(ek_[^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || key == nil {
		t.Fatalf("create key: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/api/v1/customers?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+key[1])
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 200 {
		t.Errorf("the new key does not work: %d", r.StatusCode)
	}
	_, keysPage := c.get("/settings/api-keys")
	if strings.Contains(keysPage, key[1]) {
		t.Error("the key's secret is shown again")
	}
	resp, _ = c.form("/settings/identity", url.Values{"manual": {"phone", "line"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("identity policy: %d", resp.StatusCode)
	}
	if v, _, _ := s.db.Setting(bg, "identity.manual_merge_kinds"); v != `["phone","line"]` {
		t.Errorf("policy = %s", v)
	}
	if resp, _ := c.form("/settings/identity", url.Values{"manual": {"shoe-size"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown kind: %d", resp.StatusCode)
	}
}

func TestAnalyticsSettingsSaveAndRefuseBadThresholds(t *testing.T) {
	s := newSite(t)
	c := s.as("admin")
	form := url.Values{"window": {"180"}, "method": {"fixed"}, "dormant_days": {"200"}, "spend_yen": {"50,000"}, "tenure_days": {"180"},
		"r0": {"14"}, "r1": {"30"}, "r2": {"60"}, "r3": {"120"}, "f0": {"8"}, "f1": {"5"}, "f2": {"3"}, "f3": {"2"},
		"m0": {"80000"}, "m1": {"40000"}, "m2": {"20000"}, "m3": {"5000"}}
	if resp, body := c.form("/settings/analytics", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", resp.StatusCode, body)
	}
	rc, cc, err := s.db.AnalyticsConfig(bg)
	if err != nil || rc.WindowDays != 180 || rc.Thresholds.Recency[0] != 14 || rc.Thresholds.Monetary[3] != 5000 || cc.SpendYen != 50000 || cc.DormantDays != 200 {
		t.Errorf("saved %+v %+v %v", rc, cc, err)
	}
	form.Set("r0", "90") // recency cut points must ascend
	if resp, _ := c.form("/settings/analytics", form); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad thresholds: %d", resp.StatusCode)
	}
	if rc2, _, _ := s.db.AnalyticsConfig(bg); rc2.Thresholds.Recency[0] != 14 {
		t.Errorf("bad thresholds were saved: %v", rc2.Thresholds.Recency)
	}
}

func TestIntegrationsWriteKeySnippetAndSecrets(t *testing.T) {
	s := newSite(t)
	c := s.as("admin")
	resp, body := c.form("/settings/integrations/write-key", url.Values{"name": {"shop-web"}})
	key := regexp.MustCompile(`data-write-key="(ek_[^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || key == nil || !strings.Contains(body, s.srv.URL[len("http://"):]+"/js/enishi.js") {
		t.Fatalf("write key: %d %v", resp.StatusCode, key)
	}
	k, err := s.db.APIKeyByHash(bg, hashToken(key[1]))
	if err != nil || len(k.Scopes) != 1 || k.Scopes[0] != "ingest:write" {
		t.Errorf("write key = %+v %v", k, err)
	}
	resp, _ = c.form("/settings/integrations/secret", url.Values{"name": {"line.channel_secret"}, "value": {"s3cret-value"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("secret: %d", resp.StatusCode)
	}
	if _, page := c.get("/settings/integrations"); strings.Contains(page, "s3cret-value") || strings.Contains(page, key[1]) {
		t.Error("a secret or the write key is shown again")
	}
	if resp, _ := c.form("/settings/integrations/secret", url.Values{"name": {"nope"}, "value": {"x"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("unknown secret: %d", resp.StatusCode)
	}
}

func TestChannelSettingsSaveThroughTheAPIsCheck(t *testing.T) {
	s := newSite(t)
	c := s.as("admin")
	form := url.Values{"base_url": {"https://crm.example.com"}, "shop_name": {"縁コスメ"}, "shop_address": {"東京都渋谷区1-2-3"}, "shop_contact": {"support@example.com"},
		"email_from_address": {"news@example.com"}, "email_host": {"smtp.example.com"}, "email_port": {"587"}, "email_security": {"starttls"},
		"email_dkim_domain": {"example.com"}, "email_dkim_selector": {"enishi"}}
	if resp, body := c.form("/settings/channels", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %.400s", resp.StatusCode, body)
	}
	raw, _, _ := s.db.Setting(bg, "channels")
	if !strings.Contains(raw, "縁コスメ") || !strings.Contains(raw, "smtp.example.com") {
		t.Errorf("stored settings = %s", raw)
	}
	_, page := c.get("/settings/channels")
	if !strings.Contains(page, "_dmarc.example.com") || strings.Contains(page, "shop.name") {
		t.Errorf("the page lacks the DNS records or still asks for the footer")
	}
	form.Set("email_from_address", "not an address")
	if resp, _ := c.form("/settings/channels", form); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad address: %d", resp.StatusCode)
	}
}

func TestUnknownPagesAndParametersGetUIErrors(t *testing.T) {
	s := newSite(t)
	c := s.as("admin")
	if resp, body := c.get("/customers/999999"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "見つかりません") {
		t.Errorf("missing customer: %d", resp.StatusCode)
	}
	if resp, body := c.get("/analytics/rfm?window=0"); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "window") {
		t.Errorf("bad window: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/analytics/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown report: %d", resp.StatusCode)
	}
}

func hashToken(s string) string { return auth.HashToken(s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/enishi-crm/enishi/internal/cli"
	"github.com/enishi-crm/enishi/internal/clock"
	fakesmtp "github.com/enishi-crm/enishi/internal/fake/smtp"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

// The browser suite runs the real server (enishi serve --demo, in process,
// on 127.0.0.1:0) and drives it with headless Chromium: what a marketer,
// an analyst and a support agent see and do. Any console error or uncaught
// exception fails it; a failing step saves a screenshot.

// findChromium returns the browser to drive, or "" when none is installed.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// server is enishi serve --demo running in this process.
type server struct {
	url   string
	db    *store.DB // a second handle on the same SQLite file, for checks
	login map[string]string
	smtp  *fakesmtp.Server // where the server's e-mail goes
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "e2e.db")
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		code := cli.Run(args, cli.IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
		if code != 0 {
			t.Fatalf("enishi %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	pw := regexp.MustCompile(`password:? (\S+)`)
	s := &server{login: map[string]string{}}
	for _, u := range []struct{ email, role string }{{"analyst@example.com", "analyst"}, {"support@example.com", "support"}} {
		out := run("user", "create", "--db", dbPath, "--role", u.role, u.email)
		m := pw.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no password in %q", out)
		}
		s.login[u.email] = m[1]
	}

	addr, smtpSrv := prepareChannels(t, dbPath)
	s.smtp = smtpSrv

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run([]string{"serve", "--demo", "--demo-customers", "300", "--db", dbPath, "--addr", addr, "--dev-clock"},
			cli.IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Context: ctx,
				Ready: func(addr string) { ready <- addr }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop")
		}
	})
	select {
	case addr := <-ready:
		s.url = "http://" + addr
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start")
	}
	m := regexp.MustCompile(`sign in as (\S+) with password (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no demo login in %q", out.String())
	}
	s.login[m[1]] = m[2]
	db, err := sqlite.Open(dbPath, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// browser is one signed-in person: their own browser context (cookies) and
// the console messages of their tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string

	mu       sync.Mutex
	problems []string
	allowed  []string // substrings of expected errors (a 403 page's status)
}

func newBrowser(t *testing.T, parent context.Context, s *server, name string) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx, base: s.url, name: name}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String()+" at "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// allow expects a console error containing s (e.g. the status of a page the
// test opens on purpose to see it refused).
func (b *browser) allow(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.allowed = append(b.allowed, s)
}

// checkConsole fails on console errors and exceptions seen so far.
func (b *browser) checkConsole(step string) {
	b.t.Helper()
	time.Sleep(50 * time.Millisecond) // let the last events arrive
	b.mu.Lock()
	var bad []string
	for _, p := range b.problems {
		ok := false
		for _, a := range b.allowed {
			if strings.Contains(p, a) {
				ok = true
			}
		}
		if !ok {
			bad = append(bad, p)
		}
	}
	b.problems, b.allowed = nil, nil
	b.mu.Unlock()
	if len(bad) > 0 {
		b.fail(step, fmt.Errorf("browser console: %s", strings.Join(bad, "; ")))
	}
}

// fail saves a screenshot of the page and stops the test.
func (b *browser) fail(step string, err error) {
	b.t.Helper()
	shot, serr := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if serr == nil {
		dir, derr := os.MkdirTemp("", "enishi-e2e-")
		if derr == nil {
			p := filepath.Join(dir, b.name+"-"+regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(step), "-")+".png")
			if os.WriteFile(p, shot, 0o644) == nil {
				b.t.Logf("screenshot of the failing page: %s", p)
			}
		}
	}
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	b.t.Fatalf("%s (%s) at %s: %v", step, b.name, loc, err)
}

// do runs the actions of one step, bounded in time.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(step, err)
	}
	b.checkConsole(step)
}

func (b *browser) text(step, sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail(step, err)
	}
	return s
}

func (b *browser) eval(step, js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.fail(step, err)
	}
	return s
}

// waitFor polls a JavaScript condition until it holds, across the page
// loads a form submission or a redirect causes.
func waitFor(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var last error
		for {
			ok, err := chromedp.Evaluate[bool]("!!("+js+")")(ctx, t)
			if err == nil && ok {
				return nil
			}
			if err != nil {
				last = err
			}
			select {
			case <-ctx.Done():
				if last != nil {
					return fmt.Errorf("waiting for %s: %w (last error: %v)", js, ctx.Err(), last)
				}
				return fmt.Errorf("waiting for %s: %w", js, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func (b *browser) login(email, password string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("header.topbar")),
	)
}

func TestBrowser(t *testing.T) {
	chrome := findChromium()
	if chrome == "" {
		if os.Getenv("ENISHI_REQUIRE_BROWSER") == "1" {
			t.Fatal("ENISHI_REQUIRE_BROWSER=1 but no Chromium is installed (scripts/deps.sh installs it)")
		}
		t.Skip("no Chromium installed; scripts/deps.sh installs it")
	}
	s := startServer(t)
	root := startChromium(t, chrome)
	t.Run("marketer", func(t *testing.T) { testAdminJourney(t, root, s) })
	t.Run("analyst", func(t *testing.T) { testAnalystSeesMaskedData(t, root, s) })
	t.Run("support", func(t *testing.T) { testSupportLimits(t, root, s) })
	t.Run("engine", func(t *testing.T) { testEngine(t, root, s) })
}

// startChromium starts a headless Chromium that cannot reach out: on this
// closed network its background services would otherwise hang it.
func startChromium(t *testing.T, chrome string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return root
}

func testAdminJourney(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "admin")
	b.login("admin@example.com", s.login["admin@example.com"])

	// The dashboard, with the store's numbers.
	st, err := s.db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.do("dashboard", chromedp.WaitVisible(chromedp.CSS(`[data-testid=stat-customers]`)),
		waitFor(`document.querySelectorAll('[data-testid=dashboard-chart] canvas').length === 2`))
	if cards := b.text("dashboard", `[data-testid=kpi-cards]`); !strings.Contains(cards, "¥") || !strings.Contains(cards, "%") {
		t.Errorf("dashboard KPI cards lack revenue or rates: %q", cards)
	}
	if got, want := b.text("dashboard", `[data-testid=stat-customers]`), formatNum(st.Customers); got != want {
		t.Errorf("dashboard customers = %q, want %q", got, want)
	}
	if got := b.text("dashboard", `[data-testid=stat-orders]`); got != formatNum(st.Orders) || st.Orders == 0 {
		t.Errorf("dashboard orders = %q, want %d", got, st.Orders)
	}

	// RFM: the heat map renders; a cell of the grid opens its customers.
	b.do("rfm",
		chromedp.Navigate(b.base+"/analytics/rfm"),
		waitFor(`!!document.querySelector('[data-chart-link] canvas')`),
		chromedp.Click(chromedp.CSS(`[data-testid=report-table-0] tbody tr:last-child td:nth-child(2) a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=cell-count]`)),
	)
	if n := b.text("rfm cell", `[data-testid=cell-count]`); n == "0" || n == "" {
		t.Errorf("the R1·F1 cell has %q customers", n)
	}
	for _, p := range []string{"kpi", "rfm-movement", "cpm", "decile", "cohort", "f2", "basket", "messages"} {
		b.do("analytics "+p, chromedp.Navigate(b.base+"/analytics/"+p), chromedp.WaitVisible(chromedp.CSS(`[data-testid=report-table-0]`)))
	}

	// Search by kana, open the profile with its chart.
	var id int64
	var last, kana string
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT id, last_name, last_name_kana FROM customers
		WHERE status = 'active' AND last_name_kana <> '' AND order_count > 1 ORDER BY id LIMIT 1`).Scan(&id, &last, &kana); err != nil {
		t.Fatal(err)
	}
	b.do("customer search",
		chromedp.Navigate(b.base+"/customers"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=customer-search]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=customer-search]`), kana),
		waitFor(fmt.Sprintf(`location.search.includes("q=") && !!document.querySelector('#results a[href="/customers/%d"]')`, id)),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#results a[href="/customers/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=customer-name]`)),
		waitFor(`!!document.querySelector('[data-testid=order-chart] canvas')`),
	)
	if name := b.text("profile", `[data-testid=customer-name]`); !strings.HasPrefix(name, last) {
		t.Errorf("profile name %q, want %s…", name, last)
	}

	// A note from the CS form lands on the timeline.
	note := "電話で配送日の変更を受付 " + time.Now().Format("150405")
	b.do("add a note",
		chromedp.SendKeys(chromedp.CSS(`#note-body`), note),
		chromedp.Submit(chromedp.CSS(`[data-testid=note-form]`)),
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=timeline]').innerText.includes(%q)`, note)),
	)

	// Unmerge from the merge history of a customer identity resolution merged.
	var mergeID, winner int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT id, winner_id FROM merges WHERE undone_at IS NULL ORDER BY id LIMIT 1`).Scan(&mergeID, &winner); err != nil {
		t.Fatalf("the demo data has no merge: %v", err)
	}
	b.do("unmerge",
		chromedp.Navigate(fmt.Sprintf("%s/customers/%d", b.base, winner)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid=unmerge-%d]`, mergeID))),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid=unmerge-%d]`, mergeID))),
		waitFor(`location.search.includes("ok=unmerged")`),
		chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)),
	)
	var undone *int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT undone_at FROM merges WHERE id = $1`, mergeID).Scan(&undone); err != nil || undone == nil {
		t.Errorf("merge %d not undone (err %v)", mergeID, err)
	}

	// Upload a 楽天 export in Shift_JIS: preview, check, import.
	file, err := filepath.Abs("../importer/testdata/rakuten_orders.csv")
	if err != nil {
		t.Fatal(err)
	}
	b.do("upload with preview",
		chromedp.Navigate(b.base+"/imports"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=upload-form]`)),
		chromedp.SetValue(chromedp.CSS(`#kind`), "orders"),
		chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{file}),
		chromedp.Submit(chromedp.CSS(`[data-testid=upload-form]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=preview]`)),
		waitFor(`document.querySelector('[data-testid=job-status]').dataset.state === "checked"`),
	)
	if f := b.text("preview", `[data-testid=detected-format]`); !strings.Contains(f, "rakuten") {
		t.Errorf("detected format %q", f)
	}
	if e := b.text("preview", `[data-testid=detected-encoding]`); e != "shift_jis" {
		t.Errorf("detected encoding %q", e)
	}
	if p := b.text("preview", `[data-testid=preview]`); !strings.Contains(p, "注文番号") || !strings.Contains(p, "order_id") {
		t.Errorf("preview lacks the header or its mapping: %q", p)
	}
	b.do("run the import",
		chromedp.Click(chromedp.CSS(`[data-testid=run-import]`)),
		waitFor(`document.querySelector('[data-testid=job-status]').dataset.state === "done"`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=import-report]`)),
	)

	// The English switch, and back.
	b.do("switch to English",
		chromedp.Click(chromedp.CSS(`[data-testid=lang-switch]`)),
		waitFor(`document.documentElement.lang === "en"`),
	)
	if h := b.text("english", `h1`); h != "Import: rakuten_orders.csv" && !strings.HasPrefix(h, "rakuten") {
		t.Logf("English page heading %q", h)
	}
	if nav := b.text("english", `header.topbar .menu`); !strings.Contains(nav, "Customers") || !strings.Contains(nav, "Imports") {
		t.Errorf("English menu = %q", nav)
	}
	b.do("switch back to Japanese",
		chromedp.Click(chromedp.CSS(`[data-testid=lang-switch]`)),
		waitFor(`document.documentElement.lang === "ja"`),
	)
	if nav := b.text("japanese", `header.topbar .menu`); !strings.Contains(nav, "顧客") {
		t.Errorf("Japanese menu = %q", nav)
	}
}

func testAnalystSeesMaskedData(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "analyst")
	b.login("analyst@example.com", s.login["analyst@example.com"])
	b.do("customer list", chromedp.Navigate(b.base+"/customers"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=customer-table]`)))
	table := b.text("customer list", `[data-testid=customer-table]`)
	if !strings.Contains(table, "***") || regexp.MustCompile(`[a-z0-9]{2,}@`).MatchString(table) {
		t.Errorf("the analyst's list is not masked: %.300s", table)
	}
	if n := b.eval("menu", `String(document.querySelectorAll('header.topbar .menu a[href="/imports"], header.topbar .menu a[href="/settings"], [data-testid=export-menu]').length)`); n != "0" {
		t.Errorf("the analyst sees %s import/settings/export entries", n)
	}
	var id int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT id FROM customers WHERE status = 'active' AND email <> '' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	b.do("profile", chromedp.Navigate(fmt.Sprintf("%s/customers/%d", b.base, id)), chromedp.WaitVisible(chromedp.CSS(`[data-testid=masked-note]`)))
	if e := b.text("profile", `[data-testid=profile-email]`); !strings.Contains(e, "***") {
		t.Errorf("the analyst sees e-mail %q", e)
	}
	if n := b.eval("profile forms", `String(document.querySelectorAll('[data-testid=note-form], [data-testid=consent-form]').length)`); n != "0" {
		t.Errorf("the analyst sees %s write forms", n)
	}
	b.allow("403")
	b.do("export refused", chromedp.Navigate(b.base+"/customers/export?format=csv"), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	if h := b.text("export refused", `main h1`); !strings.Contains(h, "権限") {
		t.Errorf("export page heading %q, want the 403 page", h)
	}
}

func testSupportLimits(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "support")
	b.login("support@example.com", s.login["support@example.com"])
	if loc := b.eval("landing", `location.pathname`); loc != "/customers" {
		t.Errorf("support lands on %s, want /customers (no dashboard permission)", loc)
	}
	if n := b.eval("menu", `String(document.querySelectorAll('header.topbar .menu a[href="/dashboard"], header.topbar .menu a[href="/settings"], header.topbar .menu a[href="/imports"], [data-testid=export-menu]').length)`); n != "0" {
		t.Errorf("support sees %s dashboard/settings/import/export entries", n)
	}
	b.allow("403")
	b.do("user management refused", chromedp.Navigate(b.base+"/settings/users"), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	if h := b.text("refused", `main h1`); !strings.Contains(h, "権限") {
		t.Errorf("settings page heading %q, want the 403 page", h)
	}
	// Support sees personal data and can log inquiries.
	var id int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT id FROM customers WHERE status = 'active' AND email <> '' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	b.do("inquiry",
		chromedp.Navigate(fmt.Sprintf("%s/customers/%d", b.base, id)),
		chromedp.WaitReady(chromedp.CSS(`[data-testid=inquiry-form]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=inquiry-form]').closest('details').open = true`),
		chromedp.SendKeys(chromedp.CSS(`#inq-subject`), "返品の相談"),
		chromedp.Submit(chromedp.CSS(`[data-testid=inquiry-form]`)),
		waitFor(`document.querySelector('[data-testid=timeline]').innerText.includes("返品の相談")`),
	)
	if e := b.text("profile", `[data-testid=profile-email]`); strings.Contains(e, "***") || !strings.Contains(e, "@") {
		t.Errorf("support sees e-mail %q, want it unmasked", e)
	}
}

func formatNum(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestScreenshots saves a PNG of every menu page when ENISHI_UI_SCREENSHOTS
// names a directory (for docs and for looking at the UI); otherwise it is
// skipped.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("ENISHI_UI_SCREENSHOTS")
	chrome := findChromium()
	if dir == "" || chrome == "" {
		t.Skip("set ENISHI_UI_SCREENSHOTS=DIR (and install Chromium) to write screenshots")
	}
	s := startServer(t)
	root := startChromium(t, chrome)
	b := newBrowser(t, root, s, "admin")
	b.login("admin@example.com", s.login["admin@example.com"])
	var winner int64
	_ = s.db.Read.QueryRowContext(context.Background(), `SELECT winner_id FROM merges ORDER BY id LIMIT 1`).Scan(&winner)
	pages := map[string]string{"dashboard": "/dashboard", "rfm": "/analytics/rfm", "kpi": "/analytics/kpi", "cohort": "/analytics/cohort", "f2": "/analytics/f2", "customers": "/customers", "customer": fmt.Sprintf("/customers/%d", winner),
		"candidates": "/merge-candidates", "imports": "/imports", "users": "/settings/users", "apikeys": "/settings/api-keys", "identity": "/settings/identity"}
	for name, path := range pages {
		b.do(name, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")), chromedp.Sleep(300*time.Millisecond))
		shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

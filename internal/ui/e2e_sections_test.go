package ui_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSections drives the loyalty, 顧客の声 and security pages in
// headless Chromium: every page renders without a console error, the
// loyalty report draws its charts, a customer's points show on the 360 and
// change through the adjustment form, and each role sees only what it may
// (menus, pages, forms, personal data).
func TestBrowserSections(t *testing.T) {
	chrome := findChromium()
	if chrome == "" {
		if os.Getenv("ENISHI_REQUIRE_BROWSER") == "1" {
			t.Fatal("ENISHI_REQUIRE_BROWSER=1 but no Chromium is installed (scripts/deps.sh installs it)")
		}
		t.Skip("no Chromium installed; scripts/deps.sh installs it")
	}
	s := startServer(t)
	root := startChromium(t, chrome)
	t.Run("admin", func(t *testing.T) { testSectionsAsAdmin(t, root, s) })
	t.Run("support", func(t *testing.T) { testSectionsAsSupport(t, root, s) })
	t.Run("analyst", func(t *testing.T) { testSectionsAsAnalyst(t, root, s) })
}

// firstID returns the smallest id of a table's rows matching where.
func (s *server) firstID(t *testing.T, table, where string) int64 {
	t.Helper()
	var id int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT coalesce(min(id), 0) FROM `+table+` WHERE `+where).Scan(&id); err != nil || id == 0 {
		t.Fatalf("no %s row where %s in the demo data (%v)", table, where, err)
	}
	return id
}

func testSectionsAsAdmin(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "admin-sections")
	b.login("admin@example.com", s.login["admin@example.com"])
	cust := s.firstID(t, "customers", "status = 'active' AND order_count > 0")
	inq := s.firstID(t, "inquiries", "1 = 1")
	sub := s.firstID(t, "subscriptions", "1 = 1")
	surv := s.firstID(t, "surveys", "1 = 1")

	// Every page of the new sections renders, with no console error.
	pages := []string{"/loyalty/report", "/loyalty/coupons", "/loyalty/program", fmt.Sprintf("/customers/%d/points", cust),
		"/inquiries", fmt.Sprintf("/inquiries/%d", inq), "/subscriptions", fmt.Sprintf("/subscriptions/%d", sub), "/reviews",
		"/surveys", fmt.Sprintf("/surveys/%d", surv), "/settings/roles", "/settings/audit", "/settings/suppressions",
		"/settings/messaging", "/account/totp"}
	for _, p := range pages {
		b.do("page "+p, chromedp.Navigate(b.base+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if h := b.text("page "+p, "main h1"); strings.Contains(h, "権限") || strings.Contains(h, "エラー") {
			t.Errorf("%s: heading %q", p, h)
		}
	}
	b.do("loyalty report charts",
		chromedp.Navigate(b.base+"/loyalty/report"),
		waitFor(`!!document.querySelector('[data-testid=rank-chart] canvas')`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=rank-distribution]`)),
	)
	if txt := b.text("loyalty report", `[data-testid=rank-distribution]`); !strings.Contains(txt, "ブロンズ") {
		t.Errorf("rank distribution lacks the lowest tier: %q", txt)
	}

	// The customer's points on the 360, changed through the form.
	b.do("customer points",
		chromedp.Navigate(fmt.Sprintf("%s/customers/%d", b.base, cust)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=customer-points]`)),
	)
	before := b.text("points", `[data-testid=customer-points]`)
	b.do("adjust points",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=points-form]').closest('details').open = true`),
		chromedp.SendKeys(chromedp.CSS(`#pt-points`), "1500"),
		chromedp.SendKeys(chromedp.CSS(`#pt-reason`), "ブラウザテストのお詫び"),
		chromedp.Submit(chromedp.CSS(`[data-testid=points-form]`)),
		waitFor(`location.search.includes("ok=points_adjusted")`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=customer-points]`)),
	)
	after := b.text("points", `[data-testid=customer-points]`)
	if before == after || !strings.Contains(b.text("points", `[data-testid=points-recent]`), "ブラウザテストのお詫び") {
		t.Errorf("points %q → %q, or the adjustment is not in the recent entries", before, after)
	}

	// A background task: rescore, followed live by htmx.
	b.do("rescore task",
		chromedp.Navigate(b.base+"/settings/analytics"),
		chromedp.Click(chromedp.CSS(`[data-testid=rescore] button`)),
		waitFor(`document.querySelector('[data-testid=task-status]') && document.querySelector('[data-testid=task-status]').dataset.state === "done"`),
	)
}

func testSectionsAsSupport(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "support-sections")
	b.login("support@example.com", s.login["support@example.com"])
	menu := b.text("menu", `header.topbar .menu`)
	if !strings.Contains(menu, "顧客の声") || strings.Contains(menu, "ロイヤルティ") || strings.Contains(menu, "設定") {
		t.Errorf("support menu = %q, want 顧客の声 without ロイヤルティ and 設定", menu)
	}
	cust := s.firstID(t, "customers", "status = 'active' AND order_count > 0")
	b.do("360 loyalty read-only",
		chromedp.Navigate(fmt.Sprintf("%s/customers/%d", b.base, cust)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=customer-points]`)),
	)
	if n := b.eval("forms", `String(document.querySelectorAll('[data-testid=points-form], [data-testid=issue-form], [data-testid=erase-form], [data-testid=personal-data]').length)`); n != "0" {
		t.Errorf("support sees %s loyalty or privacy forms", n)
	}
	inq := s.firstID(t, "inquiries", "1 = 1")
	b.do("inquiry desk",
		chromedp.Navigate(fmt.Sprintf("%s/inquiries/%d", b.base, inq)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=reply-form]`)),
		chromedp.SendKeys(chromedp.CSS(`#r-body`), "確認してご連絡します。"),
		chromedp.Submit(chromedp.CSS(`[data-testid=reply-form]`)),
		waitFor(`location.search.includes("ok=reply_added")`),
		waitFor(`document.querySelector('[data-testid=replies]').innerText.includes("確認してご連絡します。")`),
	)
	for _, p := range []string{"/loyalty/report", "/surveys", "/settings/audit", "/settings/roles"} {
		b.allow("403") // the refused page's own status, expected
		b.do("refused "+p, chromedp.Navigate(b.base+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if h := b.text("refused "+p, "main h1"); !strings.Contains(h, "権限") {
			t.Errorf("support %s: heading %q, want the 403 page", p, h)
		}
	}
}

func testSectionsAsAnalyst(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "analyst-sections")
	b.login("analyst@example.com", s.login["analyst@example.com"])
	menu := b.text("menu", `header.topbar .menu`)
	if !strings.Contains(menu, "ロイヤルティ") || strings.Contains(menu, "設定") {
		t.Errorf("analyst menu = %q, want ロイヤルティ without 設定", menu)
	}
	b.do("programme read-only", chromedp.Navigate(b.base+"/loyalty/program"), chromedp.WaitVisible(chromedp.CSS(`[data-testid=program-form]`)))
	if n := b.eval("programme", `String(document.querySelectorAll('[data-testid=program-save]').length + (document.querySelector('[data-testid=program-form] fieldset').disabled ? 0 : 1))`); n != "0" {
		t.Errorf("the analyst can edit the programme")
	}
	inq := s.firstID(t, "inquiries", "body <> ''")
	b.do("masked inquiry", chromedp.Navigate(fmt.Sprintf("%s/inquiries/%d", b.base, inq)), chromedp.WaitVisible(chromedp.CSS(`[data-testid=inquiry-body]`)))
	if body := b.text("masked inquiry", `[data-testid=inquiry-body]`); !strings.Contains(body, "***") {
		t.Errorf("the analyst reads the inquiry: %q", body)
	}
	if n := b.eval("desk forms", `String(document.querySelectorAll('[data-testid=reply-form], [data-testid=inquiry-update]').length)`); n != "0" {
		t.Errorf("the analyst sees %s desk forms", n)
	}
}

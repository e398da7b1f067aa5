package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// browser starts a headless Chromium, or skips when there is none (make
// test installs it; ENISHI_REQUIRE_BROWSER=1 turns the skip into a failure).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("ENISHI_REQUIRE_BROWSER") != "" {
			t.Fatal("no Chromium found")
		}
		t.Skip("no Chromium found; scripts/deps.sh installs it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("headless", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// shopPage serves a shop's page carrying the tag snippet and some calls.
func shopPage(enishiURL, key, attrs, calls string) string {
	return fmt.Sprintf(`<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>煎茶の店</title>
<script>window.enishi=window.enishi||function(){(enishi.q=enishi.q||[]).push(arguments)};%s</script>
<script async src="%s/js/enishi.js" data-write-key="%s" %s></script></head><body>shop</body></html>`, calls, enishiURL, key, attrs)
}

// TestJSTagInABrowser loads shop pages with the tag in headless Chromium,
// from another origin than enishi's (CORS), and checks what arrives.
func TestJSTagInABrowser(t *testing.T) {
	bctx := browser(t)
	e := newEnv(t, storetest.SQLite)
	key := e.key("ingest:write") // a publishable key
	pages := map[string]string{
		"/landing": shopPage(e.srv.URL, key, "", ""),
		"/product": shopPage(e.srv.URL, key, "", `enishi('productViewed',{sku:'TEA-01',name:'煎茶',price:1200});
			enishi('productAdded',{sku:'TEA-01',price:1200,quantity:2});enishi('productFavorited',{sku:'TEA-02',price:2400});`),
		"/login":   shopPage(e.srv.URL, key, `data-auto-page="false"`, `enishi('identify','member-42',{firstName:'花子',lastName:'佐藤'});`),
		"/consent": shopPage(e.srv.URL, key, `data-require-consent="true"`, ""),
	}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, pages[r.URL.Path])
	}))
	defer shop.Close()
	// The shop on "localhost", enishi on 127.0.0.1: two origins.
	shopURL := strings.Replace(shop.URL, "127.0.0.1", "localhost", 1)

	waitInbox := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for count(t, e.db, `SELECT coalesce(sum(items), 0) FROM ingest_inbox`) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the tag sent %d messages, want %d", count(t, e.db, `SELECT coalesce(sum(items), 0) FROM ingest_inbox`), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	step := func(a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, a); err != nil {
			t.Fatal(err)
		}
	}
	step(chromedp.Navigate(shopURL + "/landing?utm_source=instagram&utm_medium=social&utm_campaign=spring"))
	waitInbox(1)
	step(chromedp.Navigate(shopURL + "/product"))
	waitInbox(5)
	step(chromedp.Navigate(shopURL + "/login"))
	waitInbox(6)
	cookie, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cookie, "enishi_aid=") {
		t.Fatalf("no anonymous id cookie: %q", cookie)
	}
	e.drain()
	v := customerBy(t, e.db, identity.ExternalID("test", "member-42"))
	if v.FirstName != "花子" || v.AcqSource != "instagram" || v.AcqMedium != "social" || v.AcqCampaign != "spring" || v.AcqChannel != "social" {
		t.Fatalf("customer = %+v", v.Customer)
	}
	got := map[string]int{}
	for _, it := range v.Timeline {
		got[it.Title]++
	}
	want := map[string]int{"Page Viewed": 2, "Product Viewed": 1, "Product Added": 1, "Product Added to Wishlist": 1}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("timeline %s = %d, want %d (all %v)", k, got[k], n, got)
		}
	}
	if dead, _ := e.db.InboxItems(ctx, "dead", 10, 0); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}

	// With data-require-consent nothing is sent before consent.
	before := count(t, e.db, `SELECT coalesce(sum(items), 0) FROM ingest_inbox`)
	step(chromedp.Navigate(shopURL + "/consent"))
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`typeof window.enishi === 'function' && window.enishi.version !== undefined`)); err != nil {
		t.Fatal(err)
	}
	sentBefore, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`enishi('track','Before Consent')`))
	if err != nil {
		t.Fatal(err)
	}
	sentAfter, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`enishi('consent', true), enishi('track','After Consent')`))
	if err != nil {
		t.Fatal(err)
	}
	waitInbox(before + 1)
	time.Sleep(200 * time.Millisecond) // let anything sent wrongly arrive too
	if sentBefore || !sentAfter || count(t, e.db, `SELECT coalesce(sum(items), 0) FROM ingest_inbox`) != before+1 {
		t.Fatalf("consent: before=%v after=%v, %d messages", sentBefore, sentAfter, count(t, e.db, `SELECT coalesce(sum(items), 0) FROM ingest_inbox`)-before)
	}
}

package ui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// testEngine is what a marketer does with segments, journeys, campaigns
// and templates in the browser.
func testEngine(t *testing.T, root context.Context, s *server) {
	b := newBrowser(t, root, s, "engine")
	b.login("admin@example.com", s.login["admin@example.com"])

	// An RFM cell of the heat map's table becomes a segment.
	b.do("rfm cell",
		chromedp.Navigate(b.base+"/analytics/rfm/customers?r=1&f=1"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=cell-count]`)),
	)
	b.do("save the cell as a segment",
		chromedp.Click(chromedp.CSS(`[data-testid=save-rfm-segment-button]`)),
		waitFor(`location.pathname.startsWith("/segments/") && !!document.querySelector('[data-testid=segment-count]')`),
	)
	if n := b.text("segment page", `[data-testid=segment-count]`); n == "" || n == "0" {
		t.Errorf("the RFM segment has %q members", n)
	}
	if c := b.text("segment page", `[data-testid=condition-summary]`); !strings.Contains(c, "RFM R") {
		t.Errorf("condition summary %q", c)
	}

	// The visual builder: choose a field, an operator and a value; the live
	// count follows; a second row narrows it.
	var all, repeat int64
	if err := s.db.Read.QueryRowContext(context.Background(), `SELECT count(*), count(*) FILTER (WHERE order_count >= 2) FROM customers WHERE status = 'active'`).Scan(&all, &repeat); err != nil {
		t.Fatal(err)
	}
	b.do("segment editor",
		chromedp.Navigate(b.base+"/segments/new"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=field-0-0]`)),
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=seg-count]').dataset.count === "%d"`, all)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=segment-name]`), "リピーター"),
		chromedp.SetValue(chromedp.CSS(`[data-testid=field-0-0]`), "order_count"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=field-0-0]').dispatchEvent(new Event('change', {bubbles: true}))`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=value-0-0]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid=op-0-0]`), ">="),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=value-0-0]`), "2"),
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=seg-count]').dataset.count === "%d"`, repeat)),
		chromedp.Click(chromedp.CSS(`[data-testid=add-row-0]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=field-0-1]`)),
		chromedp.Click(chromedp.CSS(`[data-testid=save-segment]`)),
		waitFor(`location.search.includes("ok=segment_saved")`),
	)
	if n := b.text("saved segment", `[data-testid=segment-count]`); n != formatNum(repeat) {
		t.Errorf("saved segment has %s members, want %d", n, repeat)
	}
}

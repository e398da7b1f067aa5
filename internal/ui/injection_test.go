package ui_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestHostileTextOnPages imports customers whose names, address, tags and
// purchases are storetest.HostileStrings, adds them as a note, and opens
// the pages that show them: every page answers, and none carries a live
// tag or attribute from the data (html/template escapes it in text,
// attributes and URLs alike).
func TestHostileTextOnPages(t *testing.T) {
	s := newSite(t)
	var ids []int64
	for i, h := range storetest.HostileStrings {
		b := storetest.Buyer(t, "shop", fmt.Sprintf("hostile-%d", i), fmt.Sprintf("hostile%d@example.com", i), "")
		b.Profile.LastName, b.Profile.FirstName, b.Profile.City, b.Profile.Address1 = h, h, h, h
		b.Tags = []string{h}
		o := storetest.Order("shop", fmt.Sprintf("hostile-order-%d", i), storetest.T0.AddDate(0, 0, -3), b, "SKU-H", 1, 1000)
		o.Lines[0].ProductName, o.Lines[0].Category = h, h
		res, err := s.db.ImportOrders(bg, []order.Order{o})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.CustomerIDs[0])
	}
	admin := s.as("admin")
	for i, id := range ids {
		if resp, body := admin.form(fmt.Sprintf("/customers/%d/notes", id), url.Values{"body": {storetest.HostileStrings[i]}}); resp.StatusCode >= 400 {
			t.Fatalf("note: %d %s", resp.StatusCode, body)
		}
	}
	pages := []string{"/customers", "/customers?q=" + url.QueryEscape("<script>"), "/customers?q=" + url.QueryEscape(`'; DROP TABLE customers; --`)}
	for _, id := range ids {
		pages = append(pages, fmt.Sprintf("/customers/%d", id), fmt.Sprintf("/customers/%d/timeline", id))
	}
	for _, p := range pages {
		resp, body := admin.get(p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", p, resp.StatusCode)
			continue
		}
		for _, live := range []string{`<script>alert`, `<img src=x`, `onerror=alert(1)>`} {
			if strings.Contains(body, live) {
				i := strings.Index(body, live)
				t.Errorf("%s carries live %q: …%s…", p, live, body[max(0, i-200):min(len(body), i+60)])
			}
		}
	}
	if _, body := admin.get(fmt.Sprintf("/customers/%d", ids[1])); !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("the profile does not show the name as text")
	}
}

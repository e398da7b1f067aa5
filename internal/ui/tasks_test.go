package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// waitTask follows a background task's page until it is done and returns
// the page.
func (c *client) waitTask(path string) string {
	c.s.t.Helper()
	if !strings.HasPrefix(path, "/tasks/") {
		c.s.t.Fatalf("not a task page: %q", path)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusOK {
			c.s.t.Fatalf("task page %s: %d", path, resp.StatusCode)
		}
		switch {
		case strings.Contains(body, `data-state="done"`):
			return body
		case strings.Contains(body, `data-state="failed"`), time.Now().After(deadline):
			c.s.t.Fatalf("task %s: %.500s", path, body[strings.Index(body, "<main"):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBackgroundRescoreRanksAndRisk(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	admin := s.as("admin")
	for _, start := range []string{"/settings/analytics/rescore", "/loyalty/daily", "/subscriptions/risk"} {
		resp, body := admin.form(start, nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %.300s", start, resp.StatusCode, body)
		}
		page := admin.waitTask(loc)
		if !strings.Contains(page, `data-testid="task-result"`) {
			t.Errorf("%s: no result on the task page", start)
		}
		// htmx asks for the status part alone.
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+loc, nil)
		req.Header.Set("HX-Request", "true")
		if _, frag := admin.do(req); strings.Contains(frag, "<html") || !strings.Contains(frag, `id="task-status"`) {
			t.Errorf("%s: the htmx answer is not the status fragment", start)
		}
		// Another person cannot follow it.
		if resp, _ := s.as("marketer").get(loc); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: another user opened the task: %d", start, resp.StatusCode)
		}
	}
	if model, _ := s.db.SubscriptionRiskModel(bg); model == nil {
		t.Error("the risk task did not fit a model")
	}
	for path, role := range map[string]string{"/settings/analytics/rescore": "marketer", "/loyalty/daily": "analyst", "/subscriptions/risk": "analyst"} {
		if resp, _ := s.as(role).form(path, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s started %s: %d", role, path, resp.StatusCode)
		}
	}
}

func TestBackgroundCustomerExport(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("marketer")
	_, list := c.get("/customers?buyers=buyers")
	if !strings.Contains(list, `data-testid="export-background"`) {
		t.Fatal("no background export on the customer list")
	}
	resp, _ := c.form("/customers/export", url.Values{"format": {"xlsx"}, "filters": {"buyers=buyers"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	page := c.waitTask(loc)
	if !strings.Contains(page, `href="`+loc+`/file"`) {
		t.Fatal("no download link")
	}
	var buyers int
	s.db.Read.QueryRowContext(bg, `SELECT count(*) FROM customers WHERE status = 'active' AND order_count > 0`).Scan(&buyers)
	resp, body := c.get(loc + "/file")
	f, err := excelize.OpenReader(strings.NewReader(body))
	if err != nil || !strings.Contains(resp.Header.Get("Content-Disposition"), ".xlsx") {
		t.Fatalf("file: %v %s", err, resp.Header.Get("Content-Disposition"))
	}
	rows, _ := f.GetRows(f.GetSheetName(0))
	if len(rows) != buyers+1 {
		t.Errorf("%d rows, want %d buyers and a header", len(rows), buyers)
	}
	if resp, _ := s.as("admin").get(loc + "/file"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another user downloaded the export: %d", resp.StatusCode)
	}
	if resp, _ := s.as("support").form("/customers/export", url.Values{"format": {"csv"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support exported: %d", resp.StatusCode)
	}
}

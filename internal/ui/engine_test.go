package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestSegmentBuilderCountsSavesAndShowsMembers(t *testing.T) {
	s := newSite(t)
	c := s.as("marketer")
	if resp, body := c.get("/segments/new"); resp.StatusCode != 200 || !strings.Contains(body, `data-testid="builder"`) {
		t.Fatalf("editor: %d", resp.StatusCode)
	}
	form := url.Values{"name": {"東京の常連"}, "mode": {"all"}, "groups": {"1"}, "g0.mode": {"all"}, "g0.rows": {"2"},
		"g0.r0.field": {"order_count"}, "g0.r0.op": {">="}, "g0.r0.value": {"2"},
		"g0.r1.field": {"prefecture"}, "g0.r1.op": {"in"}, "g0.r1.value": {"東京都、神奈川県"}}
	var want int
	if err := s.db.Read.QueryRowContext(bg, `SELECT count(*) FROM customers WHERE status = 'active' AND order_count >= 2 AND prefecture IN ('東京都', '神奈川県')`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if want == 0 {
		t.Fatal("the demo data has no repeat buyer in 東京都 or 神奈川県")
	}
	// The live count, as the editor asks while conditions change.
	resp, body := c.form("/segments/count", form)
	if resp.StatusCode != 200 || !strings.Contains(body, `data-count="`+itoa(int64(want))+`"`) {
		t.Fatalf("count: %d, want %d: %.400s", resp.StatusCode, want, body)
	}
	// Adding a row re-renders the builder (htmx asks for just it).
	f2 := cloneValues(form)
	f2.Set("cmd", "add_row:0")
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/segments", strings.NewReader(withToken(f2, c.csrf).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "builder")
	resp, body = c.do(req)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="g0.r2.field"`) || strings.Contains(body, "<html") {
		t.Fatalf("add row: %d %.300s", resp.StatusCode, body)
	}
	// A bad value is refused with the field named.
	bad := cloneValues(form)
	bad.Set("g0.r0.value", "たくさん")
	if resp, body := c.form("/segments", bad); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "not a number") {
		t.Errorf("bad value: %d", resp.StatusCode)
	}
	resp, _ = c.form("/segments", form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "ok=segment_saved") {
		t.Fatalf("save: %d %s", resp.StatusCode, loc)
	}
	id := regexp.MustCompile(`/segments/(\d+)`).FindStringSubmatch(loc)[1]
	_, page := c.get("/segments/" + id)
	if !strings.Contains(page, `data-testid="segment-count">`+itoa(int64(want))+`<`) || !strings.Contains(page, "東京都, 神奈川県") {
		t.Errorf("segment page lacks the count %d or the condition", want)
	}
	// Editing shows the rows again; saving keeps the condition.
	_, edit := c.get("/segments/" + id + "/edit")
	if !strings.Contains(edit, `value="東京都, 神奈川県"`) || !strings.Contains(edit, `<option value="order_count" selected>`) {
		t.Errorf("the editor does not show the stored condition")
	}
	form.Set("g0.r0.value", "3")
	if resp, _ := c.form("/segments/"+id, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	segs, _ := s.db.Segments(bg)
	if len(segs) != 1 || !strings.Contains(segs[0].Condition.JSON(), `"value":3`) {
		t.Errorf("segments = %+v", segs)
	}
	// The analyst sees the members masked; support cannot edit.
	_, masked := s.as("analyst").get("/segments/" + id)
	members := masked[strings.Index(masked, `data-testid="segment-members"`):]
	if !strings.Contains(members, "***") || regexp.MustCompile(`[a-z0-9]{2,}@`).MatchString(members) {
		t.Errorf("the analyst's member list is not masked")
	}
	if resp, _ := s.as("support").form("/segments/"+id, form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("support edited a segment: %d", resp.StatusCode)
	}
	if resp, _ := c.form("/segments/"+id+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
}

func TestRFMCellSavesAsSegment(t *testing.T) {
	s := newSite(t)
	c := s.as("marketer")
	_, cell := c.get("/analytics/rfm/customers?r=1&f=1")
	if !strings.Contains(cell, `action="/segments/rfm"`) {
		t.Fatal("the RFM cell page has no save-as-segment form")
	}
	resp, _ := c.form("/segments/rfm", url.Values{"r": {"1"}, "f": {"1"}, "name": {"休眠の一回客"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	segs, _ := s.db.Segments(bg)
	if len(segs) != 1 || segs[0].Name != "休眠の一回客" || !strings.Contains(segs[0].Condition.JSON(), `"field":"rfm_r"`) {
		t.Fatalf("segments = %+v", segs)
	}
	if _, cell := s.as("analyst").get("/analytics/rfm/customers?r=1&f=1"); strings.Contains(cell, `action="/segments/rfm"`) {
		t.Error("the analyst is offered to save a segment")
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func withToken(v url.Values, token string) url.Values {
	v.Set("csrf_token", token)
	return v
}

package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/engine"
	"github.com/enishi-crm/enishi/internal/event"
	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/segment"
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

func TestJourneyFromTemplateEditRunAndStats(t *testing.T) {
	s := newSite(t)
	c := s.as("marketer")
	_, gallery := c.get("/journeys/new")
	if !strings.Contains(gallery, `data-testid="tpl-cart_abandonment"`) || !strings.Contains(gallery, "カゴ落ちフォロー") {
		t.Fatal("the gallery lacks the cart abandonment template")
	}
	// A template that offers a coupon needs one.
	if resp, body := c.form("/journeys", url.Values{"template": {"cart_abandonment"}, "channel": {"email"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "coupon") {
		t.Fatalf("no coupon: %d", resp.StatusCode)
	}
	resp, _ := c.form("/journeys", url.Values{"template": {"cart_abandonment"}, "channel": {"email"}, "coupon_code": {"CART10"}, "name": {"カゴ落ち"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "ok=journey_created") {
		t.Fatalf("create: %d %s", resp.StatusCode, loc)
	}
	path := loc[:strings.Index(loc, "?")]
	_, page := c.get(path)
	for _, want := range []string{`data-testid="step-h1"`, `data-testid="step-remind1"`, "カートに商品が残っています", `data-status="draft"`, "Checkout Started"} {
		if !strings.Contains(page, want) {
			t.Errorf("flow lacks %q", want)
		}
	}
	// Edit the first reminder's subject and wait, add a tag step, remove it.
	if resp, body := c.form(path+"/steps/remind1", url.Values{"name": {"1通目"}, "channel": {"email"}, "template_id": {"0"}, "subject": {"お買い物カートのご確認"}, "text": {"{{ customer.last_name }}様\nカートをご確認ください。"}, "next": {"h24"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit send: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ := c.form(path+"/steps/h1", url.Values{"duration": {"2h"}, "next": {"remind1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit wait: %d", resp.StatusCode)
	}
	if resp, body := c.form(path+"/steps/h1", url.Values{"duration": {"soon"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "soon") {
		t.Errorf("bad duration: %d", resp.StatusCode)
	}
	if resp, _ := c.form(path+"/steps", url.Values{"after": {"remind1"}, "type": {"tag"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add step: %d", resp.StatusCode)
	}
	js, _ := s.db.Journeys(bg)
	j := js[0]
	if st, _ := j.Step("remind1"); st.Name != "1通目" || st.Content.Subject != "お買い物カートのご確認" || st.Next == "h24" {
		t.Errorf("remind1 = %+v", st)
	}
	if st, _ := j.Step("h1"); st.Duration.String() != "2h0m0s" {
		t.Errorf("h1 waits %s", st.Duration)
	}
	tag := j.Steps[2]
	if tag.Type != "tag" || tag.Next != "h24" {
		t.Fatalf("the new tag step %+v", tag)
	}
	if resp, _ := c.form(path+"/steps/"+tag.ID+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete step: %d", resp.StatusCode)
	}
	js, _ = s.db.Journeys(bg)
	if st, _ := js[0].Step("remind1"); st.Next != "h24" || len(js[0].Steps) != 6 {
		t.Errorf("after delete: remind1 → %s, %d steps", st.Next, len(js[0].Steps))
	}
	// The JSON editor refuses what the journey rules refuse.
	if resp, _ := c.form(path+"/definition", url.Values{"definition": {`{"trigger":{"type":"event"},"steps":[]}`}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad definition: %d", resp.StatusCode)
	}
	// Start it; an abandoned checkout enrolls a customer, who waits at h1.
	if resp, _ := c.form(path+"/status", url.Values{"status": {"enabled"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", resp.StatusCode)
	}
	id := s.anyCustomer()
	cust, _ := s.db.Customer(bg, id)
	ident, _ := identity.EmailID(cust.Email)
	if _, err := s.db.ImportEvents(bg, []event.Event{{Type: "track", Name: "Checkout Started", OccurredAt: s.clock.Now(), Source: "web", MessageID: "e2e-1",
		Actor: customer.Record{Identifiers: []identity.Identifier{ident}}}}); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(s.db, s.clock, engine.Config{Dispatcher: fakechannel.New(s.clock)})
	if err := eng.Drain(bg); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(3 * time.Hour)
	if err := eng.Drain(bg); err != nil {
		t.Fatal(err)
	}
	_, page = s.as("analyst").get(path)
	for _, want := range []string{`data-testid="stat-entered">1<`, `data-testid="sent-remind1">1<`, `data-testid="current-h24">1<`, `data-status="enabled"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the flow's counters lack %s", want)
		}
	}
	if strings.Contains(page, `action="`+path+`/status"`) {
		t.Error("the analyst is offered to change the journey")
	}
	if resp, _ := c.form(path+"/status", url.Values{"status": {"disabled"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause: %d", resp.StatusCode)
	}
	if _, list := c.get("/journeys"); !strings.Contains(list, "一時停止中") || !strings.Contains(list, "カゴ落ち") {
		t.Error("the list does not show the paused journey")
	}
}

func TestCampaignEditorScheduleAndResults(t *testing.T) {
	s := newSite(t)
	seg, err := s.db.CreateSegment(bg, segment.Segment{Name: "全員", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	c := s.as("marketer")
	if _, page := c.get("/campaigns/new?segment=" + itoa(seg.ID)); !strings.Contains(page, `<option value="`+itoa(seg.ID)+`" selected>`) {
		t.Fatal("the editor does not preselect the segment")
	}
	form := url.Values{"name": {"春の新作"}, "segment_id": {itoa(seg.ID)}, "channel": {"email"}, "purpose": {"marketing"},
		"v0.template_id": {"0"}, "v0.subject": {"春の新作のご案内"}, "v0.text": {"{{ customer.last_name }}様\n新作が入荷しました。"},
		"v1.template_id": {"0"}, "v1.subject": {"【新作】{{ customer.last_name }}様へ"}, "v1.text": {"新作が入荷しました。"},
		"ab_percent": {"20"}, "ab_metric": {"open"}, "ab_hours": {"4"}, "send_at": {"2031-04-01T10:00"}}
	bad := cloneValues(form)
	bad.Set("ab_hours", "0")
	if resp, body := c.form("/campaigns", bad); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "wait_hours") {
		t.Errorf("bad A/B: %d", resp.StatusCode)
	}
	resp, _ := c.form("/campaigns", form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "ok=campaign_saved") {
		t.Fatalf("create: %d %s", resp.StatusCode, loc)
	}
	path := loc[:strings.Index(loc, "?")]
	list, _ := s.db.Campaigns(bg)
	cp := list[0]
	if len(cp.Variants) != 2 || cp.AB == nil || cp.AB.WaitHours != 4 || cp.SendAt == nil || cp.SendAt.Format(time.RFC3339) != "2031-04-01T01:00:00Z" {
		t.Fatalf("campaign = %+v", cp)
	}
	_, page := c.get(path)
	for _, want := range []string{`data-status="draft"`, "春の新作のご案内", `data-testid="preview-desktop"`, `data-testid="preview-mobile"`, `data-testid="test-form"`, `value="2031-04-01T10:00"`} {
		if !strings.Contains(page, want) {
			t.Errorf("campaign page lacks %s", want)
		}
	}
	// Preview frames get their own policy; without running channels they
	// say so inside the frame.
	resp, frame := c.get(path + "/preview?customer=" + itoa(s.anyCustomer()) + "&variant=B")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'self'") || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" || !strings.Contains(frame, "チャネル") {
		t.Errorf("preview frame: %d %v %.200s", resp.StatusCode, resp.Header, frame)
	}
	if resp, body := c.form(path+"/test", url.Values{"customer_id": {itoa(s.anyCustomer())}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "channel") {
		t.Errorf("test send without channels: %d", resp.StatusCode)
	}
	if resp, _ := c.form(path+"/schedule", url.Values{"send_at": {"2031-04-01T10:00"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("schedule: %d", resp.StatusCode)
	}
	if cp, _ := s.db.Campaign(bg, cp.ID); cp.Status != "scheduled" {
		t.Errorf("status %s", cp.Status)
	}
	if resp, _ := c.form(path+"/do/cancel", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("cancel: %d", resp.StatusCode)
	}
	// The analyst reads the results, without the editor, preview or test.
	_, apage := s.as("analyst").get(path)
	if !strings.Contains(apage, `data-testid="variant-results"`) || strings.Contains(apage, `data-testid="test-form"`) || strings.Contains(apage, `data-testid="preview-desktop"`) {
		t.Error("the analyst's campaign page is wrong")
	}
	if resp, _ := s.as("analyst").get(path + "/preview?customer=1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the analyst previewed a customer's message: %d", resp.StatusCode)
	}
	if _, l := c.get("/campaigns"); !strings.Contains(l, "春の新作") || !strings.Contains(l, "中止") {
		t.Error("the list lacks the cancelled campaign")
	}
}

func TestTemplateBlockEditorPreviewAndSave(t *testing.T) {
	s := newSite(t)
	c := s.as("marketer")
	if resp, page := c.get("/templates/new"); resp.StatusCode != 200 || !strings.Contains(page, `data-testid="block-0"`) {
		t.Fatalf("new template: %d", resp.StatusCode)
	}
	form := url.Values{"name": {"春のお知らせ"}, "purpose": {"marketing"}, "email.on": {"on"}, "email.subject": {"{{ customer.last_name }}様へ"},
		"blocks": {"3"}, "b0.type": {"heading"}, "b0.text": {"{{ customer.honorific_name }}"}, "b1.type": {"text"}, "b1.text": {"新作 <春> のご案内"},
		"b2.type": {"button"}, "b2.text": {"見る"}, "b2.url": {"https://shop.example.com/new"}, "b2.color": {"#336699"}, "b2.align": {"center"},
		"line.on": {"on"}, "lines": {"1"}, "l0.type": {"text"}, "l0.text": {"{{ customer.last_name }}様 新作入荷"}}
	// Editor commands: add a coupon block, move it up, remove it.
	f := cloneValues(form)
	f.Set("cmd", "add_block:coupon")
	_, page := c.form("/templates", f)
	if !strings.Contains(page, `name="b3.type" value="coupon"`) {
		t.Fatal("no coupon block added")
	}
	f.Set("cmd", "up:2")
	if _, page = c.form("/templates", f); !strings.Contains(page, `name="b1.type" value="button"`) {
		t.Error("the button did not move up")
	}
	// The live preview renders the unsaved template with the sample customer.
	resp, frame := c.form("/templates/preview?width=tpl-email-mobile", cloneValues(form))
	if resp.StatusCode != 200 || !strings.Contains(frame, "新作 &lt;春&gt; のご案内") || !strings.Contains(frame, "#336699") || !strings.Contains(frame, `data-testid="preview-subject"`) {
		t.Errorf("e-mail preview: %d %.300s", resp.StatusCode, frame)
	}
	if _, frame := c.form("/templates/preview?width=tpl-line", cloneValues(form)); !strings.Contains(frame, "様 新作入荷") || !strings.Contains(frame, `class="b"`) {
		t.Errorf("LINE preview: %.300s", frame)
	}
	// A broken merge field is refused at save, with the field named.
	bad := cloneValues(form)
	bad.Set("b1.text", "{{ customer.nickname }}")
	if resp, body := c.form("/templates", bad); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "nickname") {
		t.Errorf("broken merge field: %d", resp.StatusCode)
	}
	resp, _ = c.form("/templates", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "ok=template_saved") {
		t.Fatalf("save: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	list, _ := s.db.Templates(bg)
	if len(list) != 1 || len(list[0].Variants) != 2 || len(list[0].Variants[0].Blocks) != 3 {
		t.Fatalf("templates = %+v", list)
	}
	_, page = c.get("/templates/" + itoa(list[0].ID))
	if !strings.Contains(page, "新作 &lt;春&gt; のご案内") || !strings.Contains(page, `value="#336699"`) {
		t.Error("the editor does not show the stored blocks")
	}
	if _, l := c.get("/templates"); !strings.Contains(l, "春のお知らせ") {
		t.Error("the list lacks the template")
	}
	// A campaign variant can use it.
	if _, cpage := c.get("/campaigns/new"); !strings.Contains(cpage, ">春のお知らせ</option>") {
		t.Error("the campaign editor does not offer the template")
	}
}

func TestEngineAreaPagesForEveryRole(t *testing.T) {
	s := newSite(t)
	seg, err := s.db.CreateSegment(bg, segment.Segment{Name: "全員", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	m := s.as("marketer")
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/journeys", url.Values{"template": {"browse_abandonment"}, "channel": {"email"}}},
		{"/campaigns", url.Values{"name": {"x"}, "segment_id": {itoa(seg.ID)}, "channel": {"email"}, "v0.template_id": {"0"}, "v0.text": {"本文"}}},
		{"/templates", url.Values{"name": {"t"}, "email.on": {"on"}, "email.subject": {"s"}, "blocks": {"1"}, "b0.type": {"text"}, "b0.text": {"本文"}}},
	} {
		if resp, body := m.form(f.path, f.form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create %s: %d %.300s", f.path, resp.StatusCode, body)
		}
	}
	js, _ := s.db.Journeys(bg)
	cs, _ := s.db.Campaigns(bg)
	ts, _ := s.db.Templates(bg)
	id := s.anyCustomer()
	all, writers, readers := []string{"admin", "marketer", "analyst", "support"}, []string{"admin", "marketer"}, []string{"admin", "marketer", "analyst"}
	pages := []struct {
		path  string
		allow []string
	}{
		{"/segments", all}, {"/segments/new", writers}, {"/segments/" + itoa(seg.ID), all}, {"/segments/" + itoa(seg.ID) + "/edit", writers},
		{"/journeys", readers}, {"/journeys/new", writers}, {"/journeys/" + itoa(js[0].ID), readers},
		{"/campaigns", readers}, {"/campaigns/new", writers}, {"/campaigns/" + itoa(cs[0].ID), readers},
		{"/campaigns/" + itoa(cs[0].ID) + "/preview?customer=" + itoa(id), writers},
		{"/templates", writers}, {"/templates/new", writers}, {"/templates/" + itoa(ts[0].ID), writers},
	}
	for _, role := range all {
		c := s.as(role)
		_, home := c.get("/customers")
		for _, item := range []struct{ href, perm string }{{"/segments", "all"}, {"/journeys", "readers"}, {"/campaigns", "readers"}, {"/templates", "writers"}} {
			want := item.perm == "all" || item.perm == "readers" && contains(readers, role) || item.perm == "writers" && contains(writers, role)
			if got := strings.Contains(home, `<a href="`+item.href+`"`); got != want {
				t.Errorf("%s: menu item %s shown = %v", role, item.href, got)
			}
		}
		for _, p := range pages {
			resp, body := c.get(p.path)
			want := http.StatusForbidden
			if contains(p.allow, role) {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s: %d, want %d", role, p.path, resp.StatusCode, want)
			}
			if strings.Contains(body, "ZgotmplZ") {
				t.Errorf("%s %s: a template value was refused by html/template", role, p.path)
			}
		}
	}
}

package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/store"
)

func TestVoicePagesByRole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var inq, sub, surv int64
	for q, dst := range map[string]*int64{`SELECT min(id) FROM inquiries`: &inq, `SELECT min(id) FROM subscriptions`: &sub, `SELECT min(id) FROM surveys`: &surv} {
		if err := s.db.Read.QueryRowContext(bg, q).Scan(dst); err != nil || *dst == 0 {
			t.Fatalf("%s: %v (the demo data should have one)", q, err)
		}
	}
	everyone := []string{"admin", "marketer", "analyst", "support"}
	pages := []struct {
		path  string
		allow []string
	}{
		{"/voice", everyone},
		{"/inquiries", everyone},
		{"/inquiries?status=closed&assignee=-", everyone},
		{"/inquiries/" + itoa(inq), everyone},
		{"/subscriptions", everyone},
		{"/subscriptions?status=live&risk=high", everyone},
		{"/subscriptions/" + itoa(sub), everyone},
		{"/reviews", everyone},
		{"/reviews?max_rating=2", everyone},
		{"/surveys", []string{"admin", "marketer", "analyst"}},
		{"/surveys/" + itoa(surv), []string{"admin", "marketer", "analyst"}},
		{"/surveys/" + itoa(surv) + "/export", []string{"admin", "marketer"}},
	}
	for _, role := range everyone {
		c := s.as(role)
		for _, p := range pages {
			resp, body := c.get(p.path)
			want := http.StatusForbidden
			if contains(p.allow, role) {
				want = http.StatusOK
			}
			if p.path == "/voice" {
				want = http.StatusSeeOther
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s: %d, want %d", role, p.path, resp.StatusCode, want)
			}
			if strings.Contains(body, "ZgotmplZ") {
				t.Errorf("%s %s: a template value was refused", role, p.path)
			}
		}
		_, page := c.get("/customers")
		if !strings.Contains(page, `href="/voice"`) {
			t.Errorf("%s: no 顧客の声 menu item", role)
		}
	}
	if resp, _ := s.as("analyst").get("/reviews?max_rating=9"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad rating filter: %d", resp.StatusCode)
	}
}

func TestInquiryDeskReplyStatusAssigneeTags(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	list, _, err := s.db.ListInquiries(bg, store.InquiryQuery{Limit: 1})
	if err != nil || len(list) == 0 {
		t.Fatalf("no inquiry in the demo: %v", err)
	}
	open := "open"
	if _, err := s.db.UpdateInquiry(bg, list[0].ID, &open, nil); err != nil {
		t.Fatal(err)
	}
	id := itoa(list[0].ID)
	c := s.as("support")
	_, page := c.get("/inquiries")
	if !strings.Contains(page, `href="/inquiries/`+id+`"`) {
		t.Errorf("the desk does not list open inquiry %s", id)
	}
	if resp, body := c.form("/inquiries/"+id+"/replies", url.Values{"body": {"ご不便をおかけしました。交換品を発送します。"}, "channel": {"email"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d %.300s", resp.StatusCode, body)
	}
	d, _ := s.db.Inquiry(bg, list[0].ID)
	if d.Status != "pending" || len(d.Replies) != 1 || d.Replies[0].Author != "support@example.com" {
		t.Errorf("after the reply: status %s, replies %+v", d.Status, d.Replies)
	}
	if resp, _ := c.form("/inquiries/"+id, url.Values{"status": {"closed"}, "assignee": {"support@example.com"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d", resp.StatusCode)
	}
	if resp, _ := c.form("/inquiries/"+id+"/tags", url.Values{"tags": {"交換、配送"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tags: %d", resp.StatusCode)
	}
	d, _ = s.db.Inquiry(bg, list[0].ID)
	if d.Status != "closed" || d.Assignee != "support@example.com" || len(d.Tags) != 2 {
		t.Errorf("inquiry = %+v", d)
	}
	_, page = c.get("/inquiries?status=closed&assignee=support%40example.com&tag=" + url.QueryEscape("交換"))
	if !strings.Contains(page, `href="/inquiries/`+id+`"`) {
		t.Errorf("the filters do not find the closed, assigned, tagged inquiry")
	}
	if resp, body := c.form("/inquiries/"+id+"/replies", url.Values{"body": {"  "}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "返信内容を入力してください") {
		t.Errorf("empty reply: %d", resp.StatusCode)
	}
	if resp, _ := c.form("/inquiries/"+id, url.Values{"status": {"lost"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("unknown status: %d", resp.StatusCode)
	}
	// The analyst reads the desk with the customer's words masked.
	_, masked := s.as("analyst").get("/inquiries/" + id)
	if strings.Contains(masked, "交換品を発送します") || !strings.Contains(masked, "***") {
		t.Errorf("the analyst sees the reply's words")
	}
	if resp, _ := s.as("analyst").form("/inquiries/"+id, url.Values{"status": {"open"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst changed an inquiry: %d", resp.StatusCode)
	}
}

func TestSurveyCreateOpenAndResults(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("marketer")
	form := url.Values{"title": {"使い心地アンケート"}, "status": {"draft"}, "closes": {"2030-03-31"},
		"q_type": {"single", "nps", "text", "single"}, "q_title": {"肌質は？", "おすすめ度", "ご意見", ""},
		"q_options": {"dry=乾燥肌\n脂性肌\n混合肌", "", "", ""}, "q_required": {"1", "1", "0", "1"}, "q_id": {"skin", "", "", ""},
		"q_low": {"", "まったく", "", ""}, "q_high": {"", "ぜひ", "", ""}}
	resp, body := c.form("/surveys", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.400s", resp.StatusCode, body)
	}
	page := strings.SplitN(resp.Header.Get("Location"), "?", 2)[0]
	list, _ := s.db.ListSurveys(bg)
	var id int64
	for _, sv := range list {
		if sv.Title == "使い心地アンケート" {
			id = sv.ID
		}
	}
	sv, err := s.db.Survey(bg, id)
	if err != nil || len(sv.Questions) != 3 || sv.Questions[0].ID != "skin" || sv.Questions[0].Options[0].Value != "dry" || sv.Questions[1].HighLabel != "ぜひ" || sv.Questions[2].Required {
		t.Fatalf("survey = %+v %v", sv, err)
	}
	if resp, _ := c.form(page+"/status", url.Values{"status": {"open"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open: %d", resp.StatusCode)
	}
	if sv, _ := s.db.Survey(bg, id); sv.Status != "open" {
		t.Errorf("status %s", sv.Status)
	}
	if _, err := s.db.SubmitSurveyResponse(bg, store.SurveySubmission{SurveyID: id, CustomerID: s.anyCustomer(), Channel: "email",
		Answers: map[string][]string{"skin": {"dry"}, "q2": {"9"}, "q3": {"香りが好き"}}}); err != nil {
		t.Fatal(err)
	}
	_, res := c.get(page)
	for _, want := range []string{"乾燥肌", `data-testid="survey-responses">1<`, "NPS <strong>&#43;100", "香りが好き"} {
		if !strings.Contains(res, want) {
			t.Errorf("results lack %q", want)
		}
	}
	if _, masked := s.as("analyst").get(page); strings.Contains(masked, "香りが好き") {
		t.Error("the analyst sees a free-text answer")
	}
	// A choice question without choices: refused, the field marked.
	form.Set("title", "不完全")
	form["q_options"][0] = ""
	resp, body = c.form("/surveys", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `class="field-error"`) || !strings.Contains(body, "give 2 to") {
		t.Errorf("no options: %d", resp.StatusCode)
	}
}

func TestSubscriptionsRiskFilterAndRefresh(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("marketer")
	resp, _ := c.form("/subscriptions/risk", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	c.waitTask(resp.Header.Get("Location"))
	live, total, err := s.db.ListSubscriptions(bg, store.SubscriptionQuery{Status: "live", RiskTier: "high", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, page := c.get("/subscriptions?status=live&risk=high")
	if !strings.Contains(page, `data-testid="risk-model"`) {
		t.Error("no risk model summary after the refresh")
	}
	for _, sub := range live {
		if !strings.Contains(page, `href="/subscriptions/`+itoa(sub.ID)+`"`) {
			t.Errorf("high-risk contract %d not listed (%d in all)", sub.ID, total)
		}
	}
	if total > 0 {
		_, detail := c.get("/subscriptions/" + itoa(live[0].ID))
		if !strings.Contains(detail, "sub-status") || !strings.Contains(detail, "%") {
			t.Errorf("the contract page lacks its status or risk")
		}
	}
	if resp, _ := s.as("analyst").form("/subscriptions/risk", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("analyst recomputed risk: %d", resp.StatusCode)
	}
}

package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestSecurityPagesByRole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	everyone := []string{"admin", "marketer", "analyst", "support"}
	pages := []struct {
		path  string
		allow []string
	}{
		{"/settings/roles", []string{"admin"}},
		{"/settings/audit", []string{"admin"}},
		{"/settings/audit?action=auth.&since=2020-01-01", []string{"admin"}},
		{"/settings/audit/export", []string{"admin"}},
		{"/settings/suppressions", everyone},
		{"/account/totp", everyone},
		{"/customers/" + itoa(s.anyCustomer()) + "/personal-data", []string{"admin"}},
	}
	for _, role := range everyone {
		c := s.as(role)
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
				t.Errorf("%s %s: a template value was refused", role, p.path)
			}
		}
		_, profile := c.get("/customers/" + itoa(s.anyCustomer()))
		if erase := strings.Contains(profile, `data-testid="erase-form"`); erase != (role == "admin") {
			t.Errorf("%s: erase form shown = %v", role, erase)
		}
	}
}

func TestCustomRoleLimitsWhatItsUsersSee(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	admin := s.as("admin")
	resp, body := admin.form("/settings/roles", url.Values{"name": {"cs-lead"}, "description": {"CSリーダー"}, "perm": {"customers:read", "customers:write", "pii:read", "loyalty:write"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create role: %d %.300s", resp.StatusCode, body)
	}
	if resp, _ := admin.form("/settings/roles", url.Values{"name": {"Bad Name"}, "perm": {"customers:read"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad role name: %d", resp.StatusCode)
	}
	if resp, _ := admin.form("/settings/roles", url.Values{"name": {"empty"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("role without permissions: %d", resp.StatusCode)
	}
	// Give the support account the custom role from the users page.
	sup, err := s.db.UserByEmail(bg, "support@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, users := admin.get("/settings/users")
	if !strings.Contains(users, `<option value="cs-lead">`) {
		t.Fatal("the custom role is not offered on the users page")
	}
	if resp, body := admin.form("/settings/users/"+itoa(sup.ID), url.Values{"role": {"cs-lead"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change role: %d %.300s", resp.StatusCode, body)
	}
	c := s.as("support")
	id := s.anyCustomer()
	if resp, _ := c.form("/customers/"+itoa(id)+"/points", url.Values{"points": {"100"}, "reason": {"お詫び"}, "key": {"k"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("cs-lead cannot adjust points: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/dashboard"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cs-lead opened the dashboard: %d", resp.StatusCode)
	}
	// Narrow the role: the next request already follows it.
	if resp, _ := admin.form("/settings/roles/cs-lead", url.Values{"description": {"CS"}, "perm": {"customers:read"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("update role: %d", resp.StatusCode)
	}
	if resp, _ := c.form("/customers/"+itoa(id)+"/points", url.Values{"points": {"100"}, "reason": {"お詫び"}, "key": {"k2"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("narrowed role still adjusts points: %d", resp.StatusCode)
	}
	if _, page := c.get("/customers/" + itoa(id)); !strings.Contains(page, "***") {
		t.Error("without pii:read the profile is not masked")
	}
	// A role in use cannot be deleted; the admin cannot lock themselves out.
	if resp, _ := admin.form("/settings/roles/cs-lead/delete", nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("deleting a role in use: %d", resp.StatusCode)
	}
	me, _ := s.db.UserByEmail(bg, "admin@example.com")
	if resp, body := admin.form("/settings/users/"+itoa(me.ID), url.Values{"disabled": {"1"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot disable yourself") {
		t.Errorf("self-disable: %d", resp.StatusCode)
	}
	// Disable, then reset the password: shown once, the old one stops working.
	if resp, _ := admin.form("/settings/users/"+itoa(sup.ID), url.Values{"disabled": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/customers"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled user is still signed in: %d", resp.StatusCode)
	}
	admin.form("/settings/users/"+itoa(sup.ID), url.Values{"disabled": {"0"}})
	_, body = admin.form("/settings/users/"+itoa(sup.ID)+"/password", nil)
	pw := regexp.MustCompile(`data-testid="reset-password">([^<]+)<`).FindStringSubmatch(body)
	if pw == nil {
		t.Fatal("no new password shown")
	}
	if u, _ := s.db.UserByEmail(bg, "support@example.com"); !auth.CheckPassword(u.PasswordHash, pw[1]) {
		t.Error("the shown password does not work")
	}
	entries, _ := s.db.AuditEntries(bg, store.AuditQuery{Action: "user."})
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Action] = true
	}
	for _, a := range []string{"user.role", "user.disable", "user.enable", "user.password_reset"} {
		if !seen[a] {
			t.Errorf("no %s in the audit log", a)
		}
	}
}

func TestAuditLogFiltersPagesAndExports(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for range 3 {
		s.as("analyst") // three sign-ins
	}
	c := s.as("admin")
	for i := range 120 {
		if err := s.db.AppendAudit(bg, store.AuditEntry{Actor: "robot@example.com", Action: "customer.tags", Target: "customer:" + itoa(int64(i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	_, page := c.get("/settings/audit?action=auth.login&actor=analyst%40example.com")
	if n := strings.Count(page, "<code>auth.login</code>"); n != 3 {
		t.Errorf("%d analyst sign-ins listed, want 3", n)
	}
	_, page = c.get("/settings/audit?action=customer.")
	older := regexp.MustCompile(`href="(/settings/audit\?[^"]*before=\d+[^"]*)"`).FindStringSubmatch(page)
	if strings.Count(page, "<code>customer.tags</code>") != 100 || older == nil {
		t.Fatalf("first page: %d entries, older link %v", strings.Count(page, "<code>customer.tags</code>"), older)
	}
	_, page = c.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	if n := strings.Count(page, "<code>customer.tags</code>"); n != 20 || strings.Contains(page, `data-testid="audit-older"`) {
		t.Errorf("second page: %d entries", n)
	}
	resp, csv := c.get("/settings/audit/export?action=customer.")
	if resp.StatusCode != 200 || strings.Count(csv, "customer.tags") != 120 {
		t.Errorf("export: %d, %d rows", resp.StatusCode, strings.Count(csv, "customer.tags"))
	}
	if es, _ := s.db.AuditEntries(bg, store.AuditQuery{Action: "audit.export"}); len(es) != 1 {
		t.Errorf("the export was not audited")
	}
	if resp, _ := c.get("/settings/audit?since=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad date: %d", resp.StatusCode)
	}
}

func TestTOTPEnrolmentFromTheAccountPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("marketer")
	_, body := c.form("/account/totp", nil)
	secret := regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if secret == nil || !strings.Contains(body, `src="data:image/svg&#43;xml;base64,`) {
		t.Fatalf("no secret or QR code: %s", body[strings.Index(body, "<main"):])
	}
	if _, again := c.get("/account/totp"); strings.Contains(again, secret[1]) {
		t.Error("the secret is shown again")
	}
	if resp, body := c.form("/account/totp/confirm", url.Values{"code": {"000000"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "コードが違います") {
		t.Errorf("wrong code: %d", resp.StatusCode)
	}
	code, err := auth.TOTPCode(secret[1], auth.TOTPStep(storetest.T0))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := c.form("/account/totp/confirm", url.Values{"code": {code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d %.300s", resp.StatusCode, body)
	}
	if u, _ := s.db.UserByEmail(bg, "marketer@example.com"); !u.TOTPEnabled {
		t.Fatal("the second factor is not on")
	}
	// Signing in now asks for the code.
	anon := s.anonymous()
	_, login := anon.get("/login")
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(login)
	resp, page := anon.post("/login", url.Values{"csrf_token": {token[1]}, "email": {"marketer@example.com"}, "password": {"password-marketer"}})
	if resp.StatusCode == http.StatusSeeOther || !strings.Contains(page, `name="totp"`) {
		t.Errorf("sign-in without the code: %d", resp.StatusCode)
	}
	if resp, _ := c.form("/account/totp/disable", url.Values{"password": {"wrong"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("disable with a wrong password: %d", resp.StatusCode)
	}
	if resp, _ := c.form("/account/totp/disable", url.Values{"password": {"password-marketer"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("disable: %d", resp.StatusCode)
	}
}

func TestPersonalDataExportAndEraseFromThe360(t *testing.T) {
	s := newSite(t)
	id := s.anyCustomer()
	cust, _ := s.db.Customer(bg, id)
	c := s.as("admin")
	resp, body := c.get("/customers/" + itoa(id) + "/personal-data")
	if resp.StatusCode != 200 || !strings.Contains(body, cust.Email) || !strings.Contains(resp.Header.Get("Content-Disposition"), "personal-data.json") {
		t.Errorf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	if resp, _ := c.form("/customers/"+itoa(id)+"/erase", url.Values{"reason": {"本人から電話"}, "confirm": {"999999"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("erase with the wrong id typed: %d", resp.StatusCode)
	}
	if got, _ := s.db.Customer(bg, id); got.Email == "" {
		t.Fatal("erased without confirmation")
	}
	if resp, body := c.form("/customers/"+itoa(id)+"/erase", url.Values{"reason": {"本人から電話"}, "confirm": {itoa(id)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("erase: %d %.300s", resp.StatusCode, body)
	}
	got, err := s.db.Customer(bg, id)
	if err != nil || got.Email != "" || got.Status != customer.Erased {
		t.Errorf("after erasure: %+v %v", got, err)
	}
	if resp, _ := c.get("/customers/" + itoa(id)); resp.StatusCode != http.StatusOK {
		t.Errorf("the erased customer's page: %d", resp.StatusCode)
	}
	if es, _ := s.db.AuditEntries(bg, store.AuditQuery{Action: "privacy."}); len(es) < 2 {
		t.Errorf("privacy audit entries: %d", len(es))
	}
}

func TestSuppressionListAddAndRemove(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("support")
	if resp, body := c.form("/settings/suppressions", url.Values{"channel": {"email"}, "address": {"stop@example.com"}, "detail": {"電話で依頼"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d %.300s", resp.StatusCode, body)
	}
	_, page := c.get("/settings/suppressions?channel=email&reason=manual")
	if !strings.Contains(page, "stop@example.com") || !strings.Contains(page, "電話で依頼") {
		t.Error("the added address is not listed")
	}
	_, masked := s.as("analyst").get("/settings/suppressions?channel=email&reason=manual")
	if strings.Contains(masked, "stop@example.com") || strings.Contains(masked, `action="/settings/suppressions/delete"`) {
		t.Error("the analyst sees the address or a remove button")
	}
	if resp, _ := c.form("/settings/suppressions/delete", url.Values{"channel": {"email"}, "address": {"stop@example.com"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if list, _, _ := s.db.Suppressions(bg, "email", "manual", 10, 0); len(list) != 0 {
		t.Errorf("still suppressed: %+v", list)
	}
}

func TestMessagingRulesQuietHoursAndCaps(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c := s.as("admin")
	_, page := c.get("/settings/messaging")
	if !strings.Contains(page, `name="day_email" inputmode="numeric" value="2"`) || !strings.Contains(page, `value="21:00"`) {
		t.Errorf("the default rules are not shown")
	}
	form := url.Values{"quiet": {"1"}, "start": {"22:00"}, "end": {"08:30"}, "day_email": {"1"}, "week_email": {"3"}, "week_*": {"6"}}
	if resp, body := c.form("/settings/messaging", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", resp.StatusCode, body)
	}
	rules, err := s.db.MessagingRules(bg)
	if err != nil || rules.QuietHours == nil || rules.QuietHours.Start != "22:00" || len(rules.Caps) != 3 {
		t.Fatalf("rules = %+v %v", rules, err)
	}
	form.Set("start", "25:00")
	if resp, body := c.form("/settings/messaging", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `class="field-error"`) {
		t.Errorf("bad time: %d", resp.StatusCode)
	}
	form.Set("start", "22:00")
	form.Set("day_line", "many")
	if resp, _ := c.form("/settings/messaging", form); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad cap: %d", resp.StatusCode)
	}
	if r2, _ := s.db.MessagingRules(bg); len(r2.Caps) != 3 {
		t.Errorf("a refused form changed the rules: %+v", r2)
	}
	if resp, _ := s.as("marketer").get("/settings/messaging"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("marketer opened the rules: %d", resp.StatusCode)
	}
}

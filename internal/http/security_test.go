package http_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// session opens a session for a new user with role directly in the store
// (no password hashing) and returns the cookie and CSRF token.
func (e *env) session(email, role string) (cookie, csrf string) {
	e.t.Helper()
	u, err := e.db.UserByEmail(ctx, email)
	if err != nil {
		id, err := e.db.CreateUser(ctx, store.User{Email: email, Role: role, PasswordHash: "unused"})
		if err != nil {
			e.t.Fatal(err)
		}
		u = &store.User{ID: id}
	}
	token := auth.RandomToken(32)
	now := time.Now()
	if err := e.db.CreateSession(ctx, store.Session{TokenHash: auth.HashToken(token), UserID: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(time.Hour), LastSeenAt: storetest.T0}); err != nil {
		e.t.Fatal(err)
	}
	return enishihttp.SessionCookie + "=" + token, enishihttp.CSRFToken(token)
}

// as calls the API with a session cookie and its CSRF token.
func (e *env) as(cookie, csrf, method, path string, body any) (int, map[string]any) {
	return e.call(nil, method, path, "", body, map[string]string{"Cookie": cookie, "X-CSRF-Token": csrf})
}

func routePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	return method, strings.NewReplacer("{id}", "1", "{kind}", "orders", "{name}", "x", "{key}", "x", "{source}", "x", "{channel}", "email", "{address}", "x").Replace(path)
}

func deniedForPermission(body map[string]any) bool {
	er, _ := body["error"].(map[string]any)
	msg, _ := er["message"].(string)
	return strings.Contains(msg, "needs the ")
}

// TestRoleMatrix walks every route for every role (built-in and a custom
// one) and every single-scope API key: a route is allowed exactly when the
// permission table grants its permission. Allowed calls may still fail for
// other reasons (a missing body, an unknown id), never for permission.
func TestRoleMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		roleMatrix(t, newEnv(t, open))
	})
}

func roleMatrix(t *testing.T, e *env) {
	e.seed()
	custom := []string{"customers:read", "reports:read", "audit:read"}
	if _, err := enishihttp.SaveRole(ctx, e.db, "auditor", "監査担当", custom, false); err != nil {
		t.Fatal(err)
	}
	roles := map[string][]auth.Permission{"auditor": {auth.CustomersRead, auth.ReportsRead, auth.AuditRead}}
	for _, r := range auth.RoleNames {
		roles[r] = auth.Roles[r]
	}
	routes := e.api.Routes()
	for role, perms := range roles {
		for _, rt := range routes {
			if rt.Public {
				continue
			}
			method, path := routePath(rt.Pattern)
			cookie, csrf := e.session(role+"@example.com", role) // a fresh session: logout ends one
			code, body := e.as(cookie, csrf, method, path, "{}")
			want := rt.Permission == "" || slices.Contains(perms, rt.Permission)
			if got := !deniedForPermission(body); got != want {
				t.Errorf("%s %s: allowed=%v (status %d), want %v", role, rt.Pattern, got, code, want)
			}
			if code == http.StatusUnauthorized {
				t.Errorf("%s %s: 401 with a valid session", role, rt.Pattern)
			}
		}
	}
	for _, scope := range auth.AllPermissions {
		key := e.key(string(scope))
		for _, rt := range routes {
			if rt.Public {
				continue
			}
			method, path := routePath(rt.Pattern)
			code, body := e.call(nil, method, path, key, "{}", nil)
			want := rt.Permission == "" || rt.Permission == scope
			if got := !deniedForPermission(body); got != want {
				t.Errorf("key %s %s: allowed=%v (status %d), want %v", scope, rt.Pattern, got, code, want)
			}
		}
	}
}

// TestKeyRulesOfTheRoles spells out the rules the matrix derives from the
// table, so that a change to the table that breaks them fails here by name.
func TestKeyRulesOfTheRoles(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	id := e.seed()
	analyst, acsrf := e.session("analyst@example.com", "analyst")
	code, v := e.as(analyst, acsrf, "GET", "/api/v1/customers/"+itoa(id), nil)
	if code != 200 || v["email"] != "t***@example.com" || v["phone"] != "090-****-5678" || v["display_name"] != "山田 ***" {
		t.Fatalf("analyst sees %d %v", code, v)
	}
	_, list := e.as(analyst, acsrf, "GET", "/api/v1/customers", nil)
	if c := list["customers"].([]any)[0].(map[string]any); c["email"] != "t***@example.com" {
		t.Fatalf("analyst list = %v", c)
	}
	if code, _ := e.as(analyst, acsrf, "POST", "/api/v1/customers/"+itoa(id)+"/notes", map[string]string{"body": "x"}); code != 403 {
		t.Fatalf("analyst writes a note: %d", code)
	}
	support, scsrf := e.session("support@example.com", "support")
	if code, v := e.as(support, scsrf, "GET", "/api/v1/customers/"+itoa(id), nil); code != 200 || v["email"] != "taro@example.com" {
		t.Fatalf("support sees %d %v", code, v)
	}
	if code, _ := e.as(support, scsrf, "POST", "/api/v1/customers/"+itoa(id)+"/inquiries", map[string]string{"subject": "配送"}); code != 201 {
		t.Fatalf("support logs an inquiry: %d", code)
	}
	if code, _ := e.as(support, scsrf, "GET", "/api/v1/customers/"+itoa(id)+"/personal-data", nil); code != 403 {
		t.Fatalf("support exports personal data: %d", code)
	}
	for _, p := range []auth.Permission{auth.CustomersExport, auth.CampaignsSend, auth.SegmentsWrite} {
		if auth.RoleAllows("support", p) {
			t.Errorf("support has %s", p)
		}
	}
	for _, role := range []string{"marketer", "analyst", "support"} {
		for _, p := range []auth.Permission{auth.UsersManage, auth.KeysManage, auth.SettingsWrite, auth.AuditRead, auth.PrivacyManage} {
			if auth.RoleAllows(role, p) {
				t.Errorf("%s has %s: only admin manages users, keys, channels and integrations", role, p)
			}
		}
	}
	for _, rt := range e.api.Routes() {
		if rt.Permission == auth.UsersManage || rt.Permission == auth.KeysManage || rt.Permission == auth.SettingsWrite {
			method, path := routePath(rt.Pattern)
			for _, role := range []string{"marketer", "analyst", "support"} {
				c, x := e.session(role+"@example.com", role)
				if code, _ := e.as(c, x, method, path, "{}"); code != 403 {
					t.Errorf("%s %s = %d, want 403", role, rt.Pattern, code)
				}
			}
		}
	}
}

func TestCustomRolesOverAPI(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	id := e.seed()
	admin, csrf := e.session("admin@example.com", "admin")
	code, out := e.as(admin, csrf, "POST", "/api/v1/roles", map[string]any{"name": "cs-lead", "permissions": []string{"customers:read", "pii:read"}})
	if code != 201 {
		t.Fatalf("create role = %d %v", code, out)
	}
	if code, _ := e.as(admin, csrf, "POST", "/api/v1/roles", map[string]any{"name": "admin", "permissions": []string{"customers:read"}}); code != 400 {
		t.Fatalf("shadowing a built-in role = %d", code)
	}
	if code, _ := e.as(admin, csrf, "POST", "/api/v1/roles", map[string]any{"name": "x-y", "permissions": []string{"root"}}); code != 400 {
		t.Fatalf("unknown permission = %d", code)
	}
	code, out = e.as(admin, csrf, "POST", "/api/v1/users", map[string]string{"email": "lead@example.com", "role": "cs-lead"})
	if code != 201 {
		t.Fatalf("user with custom role = %d %v", code, out)
	}
	uid := int64(out["user"].(map[string]any)["id"].(float64))
	lead, lcsrf := e.session("lead@example.com", "")
	if code, v := e.as(lead, lcsrf, "GET", "/api/v1/customers/"+itoa(id), nil); code != 200 || v["email"] != "taro@example.com" {
		t.Fatalf("custom role reads = %d %v", code, v)
	}
	if code, _ := e.as(lead, lcsrf, "POST", "/api/v1/customers/"+itoa(id)+"/notes", map[string]string{"body": "x"}); code != 403 {
		t.Fatalf("custom role writes = %d", code)
	}
	// Changing the role applies to the open session at once.
	if code, _ := e.as(admin, csrf, "PUT", "/api/v1/roles/cs-lead", map[string]any{"permissions": []string{"customers:read", "customers:write"}}); code != 200 {
		t.Fatalf("update role = %d", code)
	}
	if code, _ := e.as(lead, lcsrf, "POST", "/api/v1/customers/"+itoa(id)+"/notes", map[string]string{"body": "x"}); code != 201 {
		t.Fatalf("after update, write = %d", code)
	}
	if _, v := e.as(lead, lcsrf, "GET", "/api/v1/customers/"+itoa(id), nil); v["email"] != "t***@example.com" {
		t.Fatalf("after losing pii:read, email = %v", v["email"])
	}
	if code, _ := e.as(admin, csrf, "DELETE", "/api/v1/roles/cs-lead", nil); code != 409 {
		t.Fatalf("delete role in use = %d", code)
	}
	if code, _ := e.as(admin, csrf, "PATCH", "/api/v1/users/"+itoa(uid), map[string]string{"role": "support"}); code != 200 {
		t.Fatalf("change user role = %d", code)
	}
	if code, _ := e.as(admin, csrf, "DELETE", "/api/v1/roles/cs-lead", nil); code != 200 {
		t.Fatalf("delete role = %d", code)
	}
	_, roles := e.as(admin, csrf, "GET", "/api/v1/roles", nil)
	if n := len(roles["roles"].([]any)); n != 4 {
		t.Fatalf("roles after delete = %d", n)
	}
}

func login(e *env, c *http.Client, email, password, totp string) (int, map[string]any) {
	return e.call(c, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password, "totp": totp}, nil)
}

func TestPasswordChangeAndDisablingEndSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		if _, _, err := enishihttp.CreateUser(ctx, e.db, "m@example.com", "", "marketer", "first-password-1"); err != nil {
			t.Fatal(err)
		}
		jarA, _ := cookiejar.New(nil)
		jarB, _ := cookiejar.New(nil)
		a, b := &http.Client{Jar: jarA}, &http.Client{Jar: jarB}
		_, outA := login(e, a, "m@example.com", "first-password-1", "")
		if code, _ := login(e, b, "m@example.com", "first-password-1", ""); code != 200 {
			t.Fatalf("second browser login = %d", code)
		}
		csrf := outA["csrf_token"].(string)
		hdr := map[string]string{"X-CSRF-Token": csrf}
		if code, _ := e.call(a, "POST", "/api/v1/me/password", "", map[string]string{"current_password": "nope", "new_password": "second-password-2"}, hdr); code != 403 {
			t.Fatalf("wrong current password = %d", code)
		}
		code, out := e.call(a, "POST", "/api/v1/me/password", "", map[string]string{"current_password": "first-password-1", "new_password": "second-password-2"}, hdr)
		if code != 200 {
			t.Fatalf("change password = %d %v", code, out)
		}
		if code, _ := e.call(b, "GET", "/api/v1/me", "", nil, nil); code != 401 {
			t.Fatalf("other browser after password change = %d", code)
		}
		if code, _ := e.call(a, "GET", "/api/v1/me", "", nil, nil); code != 200 {
			t.Fatalf("this browser after password change = %d", code)
		}
		if code, _ := login(e, b, "m@example.com", "first-password-1", ""); code != 401 {
			t.Fatalf("old password = %d", code)
		}
		u, _ := e.db.UserByEmail(ctx, "m@example.com")
		admin, acsrf := e.session("admin@example.com", "admin")
		if code, _ := e.as(admin, acsrf, "PATCH", "/api/v1/users/"+itoa(u.ID), map[string]bool{"disabled": true}); code != 200 {
			t.Fatalf("disable = %d", code)
		}
		if code, _ := e.call(a, "GET", "/api/v1/me", "", nil, nil); code != 401 {
			t.Fatalf("session of a disabled user = %d", code)
		}
		if code, _ := login(e, a, "m@example.com", "second-password-2", ""); code != 401 {
			t.Fatalf("disabled user signs in = %d", code)
		}
		me, _ := e.db.UserByEmail(ctx, "admin@example.com")
		if code, _ := e.as(admin, acsrf, "PATCH", "/api/v1/users/"+itoa(me.ID), map[string]bool{"disabled": true}); code != 409 {
			t.Fatalf("admin disables self = %d", code)
		}
		if code, _ := e.as(admin, acsrf, "PATCH", "/api/v1/users/"+itoa(u.ID), map[string]bool{"disabled": false}); code != 200 {
			t.Fatalf("enable = %d", code)
		}
		code, out = e.as(admin, acsrf, "POST", "/api/v1/users/"+itoa(u.ID)+"/password", nil)
		if code != 200 {
			t.Fatalf("reset = %d", code)
		}
		if code, _ := login(e, a, "m@example.com", out["password"].(string), ""); code != 200 {
			t.Fatalf("login with reset password = %d", code)
		}
	})
}

func TestTOTPSecondFactor(t *testing.T) {
	c := clock.NewManual(storetest.T0, true)
	db := storetest.SQLite(t, c)
	k, _ := secret.ParseKey(secret.GenerateKey())
	box, _ := secret.NewBox(k)
	db.SetSecretBox(box)
	api := enishihttp.New(enishihttp.Config{Store: db, Clock: c})
	srv := httptest.NewServer(api)
	defer srv.Close()
	e := &env{t: t, db: db, srv: srv, api: api}
	if _, _, err := enishihttp.CreateUser(ctx, db, "a@example.com", "", "admin", "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	_, out := login(e, cl, "a@example.com", "admin-password-1", "")
	hdr := map[string]string{"X-CSRF-Token": out["csrf_token"].(string)}
	code, setup := e.call(cl, "POST", "/api/v1/me/totp", "", nil, hdr)
	if code != 200 || !strings.HasPrefix(setup["otpauth_url"].(string), "otpauth://totp/enishi:a@example.com?") {
		t.Fatalf("setup = %d %v", code, setup)
	}
	seed := setup["secret"].(string)
	var raw string
	_ = db.Read.QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE email = 'a@example.com'`).Scan(&raw)
	if strings.Contains(raw, seed) || raw == "" {
		t.Fatalf("seed stored as %q", raw)
	}
	// Not on until confirmed.
	if code, _ := login(e, &http.Client{}, "a@example.com", "admin-password-1", ""); code != 200 {
		t.Fatalf("login before confirm = %d", code)
	}
	if code, _ := e.call(cl, "POST", "/api/v1/me/totp/confirm", "", map[string]string{"code": "000000"}, hdr); code != 400 {
		t.Fatalf("confirm with a wrong code = %d", code)
	}
	now, _ := auth.TOTPCode(seed, auth.TOTPStep(c.Now()))
	if code, _ := e.call(cl, "POST", "/api/v1/me/totp/confirm", "", map[string]string{"code": now}, hdr); code != 200 {
		t.Fatalf("confirm = %d", code)
	}
	code, body := login(e, &http.Client{}, "a@example.com", "admin-password-1", "")
	if code != 401 || body["error"].(map[string]any)["field"] != "totp" {
		t.Fatalf("login without code = %d %v", code, body)
	}
	if code, _ := login(e, &http.Client{}, "a@example.com", "admin-password-1", now); code != 401 {
		t.Fatalf("the confirming code works again at sign-in: %d", code)
	}
	c.Advance(30 * time.Second)
	next, _ := auth.TOTPCode(seed, auth.TOTPStep(c.Now())+1)
	if code, _ := login(e, &http.Client{}, "a@example.com", "admin-password-1", next); code != 200 {
		t.Fatalf("login with code = %d", code)
	}
	if code, _ := login(e, &http.Client{}, "a@example.com", "admin-password-1", next); code != 401 {
		t.Fatalf("replayed code = %d", code)
	}
	if code, _ := e.call(cl, "DELETE", "/api/v1/me/totp", "", map[string]string{"password": "admin-password-1"}, hdr); code != 200 {
		t.Fatalf("disable = %d", code)
	}
	if code, _ := login(e, &http.Client{}, "a@example.com", "admin-password-1", ""); code != 200 {
		t.Fatalf("login after disable = %d", code)
	}
}

func TestLoginThrottlingIsSharedBetweenServers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		other := httptest.NewServer(enishihttp.New(enishihttp.Config{Store: e.db, Clock: clock.NewManual(storetest.T0, true)}))
		defer other.Close()
		if _, _, err := enishihttp.CreateUser(ctx, e.db, "a@example.com", "", "admin", "right-password-1"); err != nil {
			t.Fatal(err)
		}
		first := e.srv
		for i := 0; i < 5; i++ {
			if i%2 == 1 {
				e.srv = other
			} else {
				e.srv = first
			}
			login(e, nil, "a@example.com", "nope-nope-nope", "")
		}
		for _, s := range []*httptest.Server{first, other} {
			e.srv = s
			if code, _ := login(e, nil, "a@example.com", "right-password-1", ""); code != 429 {
				t.Fatalf("after 5 failures across two servers = %d, want 429", code)
			}
		}
	})
}

func TestAuditLogRecordsActionsAndExports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()
		if _, _, err := enishihttp.CreateUser(ctx, e.db, "a@example.com", "", "admin", "right-password-1"); err != nil {
			t.Fatal(err)
		}
		login(e, nil, "a@example.com", "wrong-password", "")
		jar, _ := cookiejar.New(nil)
		cl := &http.Client{Jar: jar}
		_, out := login(e, cl, "a@example.com", "right-password-1", "")
		hdr := map[string]string{"X-CSRF-Token": out["csrf_token"].(string), "User-Agent": `=HYPERLINK("http://evil.example/","x")`}
		e.call(cl, "POST", "/api/v1/customers/"+itoa(id)+"/notes", "", map[string]string{"body": "電話あり"}, hdr)
		e.call(cl, "POST", "/api/v1/customers/"+itoa(id)+"/consents", "", map[string]any{"channel": "email", "granted": false}, hdr)
		e.call(cl, "POST", "/api/v1/api-keys", "", map[string]any{"name": "shopify", "scopes": []string{"ingest:write"}}, hdr)
		code, list := e.call(cl, "GET", "/api/v1/audit?limit=50", "", nil, nil)
		if code != 200 {
			t.Fatalf("audit = %d %v", code, list)
		}
		var actions []string
		for _, en := range list["entries"].([]any) {
			actions = append(actions, en.(map[string]any)["action"].(string))
		}
		want := []string{"apikey.create", "customer.consent", "customer.note", "auth.login", "auth.login_failed"}
		if !slices.Equal(actions, want) {
			t.Fatalf("actions = %v, want %v", actions, want)
		}
		first := list["entries"].([]any)[0].(map[string]any)
		if first["actor"] != "a@example.com" || first["ip"] != "127.0.0.1" || first["target"] == "" {
			t.Fatalf("entry = %v", first)
		}
		_, filtered := e.call(cl, "GET", "/api/v1/audit?action=customer.", "", nil, nil)
		if n := len(filtered["entries"].([]any)); n != 2 {
			t.Fatalf("filtered = %d", n)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/audit/export", nil)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="enishi-audit-`) {
			t.Fatalf("export = %d %v", resp.StatusCode, resp.Header)
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll()
		if err != nil || len(rows) != 6 || rows[0][3] != "action" {
			t.Fatalf("csv = %v %v", rows, err)
		}
		for _, r := range rows[1:] {
			if ua := r[7]; strings.HasPrefix(ua, "=") {
				t.Fatalf("formula cell not escaped: %q", ua)
			}
		}
		if !bytes.Contains(raw, []byte(`'=HYPERLINK(`)) {
			t.Fatalf("escaped user agent missing:\n%s", raw)
		}
		_, after := e.call(cl, "GET", "/api/v1/audit?limit=1", "", nil, nil)
		if after["entries"].([]any)[0].(map[string]any)["action"] != "audit.export" {
			t.Fatalf("the export was not audited: %v", after)
		}
	})
}

func TestEraseAndExportOverAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		e := newEnv(t, open)
		id := e.seed()
		admin, csrf := e.session("admin@example.com", "admin")
		code, pd := e.as(admin, csrf, "GET", "/api/v1/customers/"+itoa(id)+"/personal-data", nil)
		if code != 200 || len(pd["profiles"].([]any)) != 1 || pd["profiles"].([]any)[0].(map[string]any)["email"] != "taro@example.com" {
			t.Fatalf("export = %d %v", code, pd)
		}
		if code, _ := e.as(admin, csrf, "POST", "/api/v1/customers/"+itoa(id)+"/erase", map[string]string{}); code != 400 {
			t.Fatalf("erase without reason = %d", code)
		}
		code, er := e.as(admin, csrf, "POST", "/api/v1/customers/"+itoa(id)+"/erase", map[string]string{"reason": "本人からの依頼 (電話 4/1)"})
		if code != 200 || er["suppressed"].(float64) < 2 {
			t.Fatalf("erase = %d %v", code, er)
		}
		_, v := e.as(admin, csrf, "GET", "/api/v1/customers/"+itoa(id), nil)
		if v["email"] != "" || v["status"] != "erased" || v["order_count"] != 1.0 {
			t.Fatalf("after erase = %v", v)
		}
		_, reqs := e.as(admin, csrf, "GET", "/api/v1/customers/"+itoa(id)+"/privacy-requests", nil)
		rs := reqs["requests"].([]any)
		if len(rs) != 2 || rs[1].(map[string]any)["kind"] != "erase" || rs[1].(map[string]any)["source"] != "api" || rs[1].(map[string]any)["actor"] != "admin@example.com" {
			t.Fatalf("requests = %v", rs)
		}
	})
}

func TestRequestLatencyMetrics(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	e.call(nil, "GET", "/healthz", "", nil, nil)
	e.call(nil, "GET", "/api/v1/customers/1", "", nil, nil)
	req, _ := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+e.key("metrics:read"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`enishi_http_request_duration_seconds_count{route="GET /healthz",code="2xx"} 1`,
		`enishi_http_request_duration_seconds_count{route="GET /api/v1/customers/{id}",code="4xx"} 1`,
		`enishi_http_request_duration_seconds_bucket{route="GET /healthz",code="2xx",le="0.005"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s:\n%s", want, b)
		}
	}
}

func TestSecretsAPIStoresEncryptedAndNeverShowsValues(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	admin, csrf := e.session("admin@example.com", "admin")
	e.db.SetSecretBox(nil)
	if code, _ := e.as(admin, csrf, "PUT", "/api/v1/secrets/smtp.password", map[string]string{"value": "hunter2-smtp"}); code != 503 {
		t.Fatalf("secret without a key = %d", code)
	}
	k, _ := secret.ParseKey(secret.GenerateKey())
	box, _ := secret.NewBox(k)
	e.db.SetSecretBox(box)
	if code, _ := e.as(admin, csrf, "PUT", "/api/v1/secrets/smtp.password", map[string]string{"value": "hunter2-smtp"}); code != 200 {
		t.Fatalf("set secret = %d", code)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/secrets", nil)
	req.Header.Set("Cookie", admin)
	resp, _ := http.DefaultClient.Do(req)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), "smtp.password") {
		t.Fatalf("list = %s", b)
	}
	if v, _, _ := e.db.Secret(ctx, "smtp.password"); v != "hunter2-smtp" {
		t.Fatalf("stored = %q", v)
	}
}

func TestSecurityHeadersAndNoRedirectOffSite(t *testing.T) {
	e := newEnv(t, storetest.SQLite)
	resp, err := http.Get(e.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers = %v", resp.Header)
	}
	for next, want := range map[string]string{
		"/customers/1":         "/customers/1",
		"//evil.example/x":     "/",
		"https://evil.example": "/",
		`/\evil.example`:       "/",
		"/%2F%2Fevil.example":  "/%2F%2Fevil.example",
		"javascript:alert(1)":  "/",
		"":                     "/",
		"customers":            "/",
		"/ok?next=//evil":      "/ok?next=//evil",
	} {
		if got := enishihttp.LocalRedirectTarget(next); got != want {
			t.Errorf("LocalRedirectTarget(%q) = %q, want %q", next, got, want)
		}
	}
	// No route answers with a redirect to another host.
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	admin, csrf := e.session("admin@example.com", "admin")
	for _, rt := range e.api.Routes() {
		method, path := routePath(rt.Pattern)
		req, _ := http.NewRequest(method, e.srv.URL+path+"?next=//evil.example&redirect=https://evil.example", strings.NewReader("{}"))
		req.Header.Set("Cookie", admin)
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			t.Errorf("%s redirects to %q", rt.Pattern, loc)
		}
	}
}

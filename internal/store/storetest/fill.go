package storetest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store"
)

// FillEveryTable writes rows into every table of the schema through the
// store (for backup and restore tests), and fails if a table stays empty,
// so that a table added later is noticed. It returns the secret box it
// sealed secrets with.
func FillEveryTable(t testing.TB, db *store.DB) *secret.Box {
	t.Helper()
	key, _ := secret.ParseKey(secret.GenerateKey())
	box, _ := secret.NewBox(key)
	db.SetSecretBox(box)
	a := Buyer(t, "shop", "f1", "fill@example.com", "090-3333-4444")
	a.Profile.LastName, a.Profile.FirstName = "埋", "太郎"
	a.Tags = []string{"vip"}
	a.Consents = []customer.Consent{{Channel: "email", Granted: true, Method: "import"}}
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "F1", day(3), a, "F-SKU", 2, 1000)}))
	b := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("pos", "F2", day(2), Buyer(t, "pos", "f2", "", ""), "F-SKU", 1, 500)}))
	must[int64](t)(db.MergeCustomers(ctx, res.CustomerIDs[0], b.CustomerIDs[0], "staff"))
	if err := db.SetSetting(ctx, "identity.manual_merge_kinds", `["phone"]`); err != nil {
		t.Fatal(err)
	}
	must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "crm", "f3", "", "")}))
	must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{Buyer(t, "crm", "f3", "", "090-3333-4444")})) // a candidate
	must[store.BatchResult](t)(db.ImportProducts(ctx, []product.Product{{SKU: "F-2", Name: "定期便", Price: 3980, ReplenishmentDays: 30}}))
	must[store.BatchResult](t)(db.ImportEvents(ctx, []event.Event{{Type: "track", Name: "page", OccurredAt: day(1), Source: "web", MessageID: "f-e1",
		Properties: json.RawMessage(`{"path":"/"}`), Actor: a}}))
	must[int64](t)(db.AddNote(ctx, res.CustomerIDs[0], "staff", "メモ"))
	must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: res.CustomerIDs[0], Subject: "配送"}))
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO messages (customer_id, origin_customer_id, channel, subject, status, created_at) VALUES ($1, $1, 'email', 's', 'sent', 0)`, res.CustomerIDs[0]); err != nil {
		t.Fatal(err)
	}
	run := must[int64](t)(db.StartImportRun(ctx, store.ImportRun{Kind: "orders", Format: "enishi", Source: "shop", FileName: "f.csv"}))
	if err := db.FinishImportRun(ctx, store.ImportRun{ID: run, Status: "done", RowsRead: 1, Imported: 1}); err != nil {
		t.Fatal(err)
	}
	uid := must[int64](t)(db.CreateUser(ctx, store.User{Email: "fill@example.com", Role: "admin", PasswordHash: "h"}))
	if err := db.CreateSession(ctx, store.Session{TokenHash: "fill", UserID: uid, CreatedAt: T0, ExpiresAt: T0.Add(time.Hour), LastSeenAt: T0}); err != nil {
		t.Fatal(err)
	}
	must[int64](t)(db.CreateAPIKey(ctx, store.APIKey{Name: "k", Prefix: "ek_fill", KeyHash: "fillhash", Scopes: []string{"ingest:write"}}))
	if err := db.CreateRole(ctx, store.Role{Name: "fill-role", Permissions: []string{"customers:read"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordLoginFailure(ctx, []string{"u:x@example.com"}, T0); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(ctx, "smtp.password", "fill-secret"); err != nil {
		t.Fatal(err)
	}
	seed := must[string](t)(db.SealValue(store.TOTPSecretName(uid), "JBSWY3DPEHPK3PXP"))
	if err := db.SetUserTOTP(ctx, uid, seed, true); err != nil {
		t.Fatal(err)
	}
	// The ingest capability's tables.
	must[[]int64](t)(db.EnqueueInbox(ctx, []store.InboxItem{{Kind: "webhook", Source: "shopify", Topic: "orders/create", DedupeKey: "fill-1", Body: []byte(`{}`), Items: 1}}))
	if err := db.CreateLinkNonce(ctx, "fill-nonce", res.CustomerIDs[0], T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.PutShopifyOrder(ctx, "fill.myshopify.com", "1", "#1001", "f1"); err != nil {
		t.Fatal(err)
	}
	// The analytics capability's tables: two customers buying the same pair.
	for i, who := range []string{"p1", "p2", "p3"} {
		must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
			Order("shop", "FP"+who, day(10+i), Buyer(t, "shop", who, "", ""), "F-SKU", 1, 1000, "F-2", 1, 3980),
			Order("shop", "FQ"+who, day(5+i), Buyer(t, "shop", who, "", ""), "F-SKU", 1, 1000, "F-2", 1, 3980),
		}))
	}
	must[store.RefreshResult](t)(db.RefreshScores(ctx))
	if err := db.RefreshProductStats(ctx); err != nil {
		t.Fatal(err)
	}
	e := Buyer(t, "shop", "f9", "erased@example.com", "")
	er := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "F9", day(1), e, "F-SKU", 1, 100)}))
	must[*store.Erasure](t)(db.EraseCustomer(ctx, er.CustomerIDs[0], store.PrivacyRequest{Reason: "test", Source: "cli"}))
	// Tables of capabilities this function does not know yet get a row
	// made from their column types, so a backup test still carries data of
	// every type through them.
	for table, rows := range DumpTables(t, db) {
		if len(rows) == 0 {
			if err := synthesizeRow(db, table); err != nil {
				t.Errorf("FillEveryTable left %s empty and could not make a row (%v): add rows for it here", table, err)
			}
		}
	}
	return box
}

// synthesizeRow inserts one row into table with a value of each column's type.
func synthesizeRow(db *store.DB, table string) error {
	q := `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
	if db.Backend() == "sqlite" {
		q = `SELECT name, type FROM pragma_table_info($1) ORDER BY cid`
	}
	rows, err := db.Read.QueryContext(ctx, q, table)
	if err != nil {
		return err
	}
	var cols, marks []string
	var args []any
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return err
		}
		typ = strings.ToLower(typ)
		var v any
		switch {
		case strings.Contains(typ, "int"):
			v = 1
		case strings.Contains(typ, "bool"):
			v = true
		case strings.Contains(typ, "json"):
			v = "{}"
		case strings.Contains(typ, "double"), strings.Contains(typ, "real"), strings.Contains(typ, "numeric"):
			v = 1.5
		case strings.Contains(typ, "bytea"), strings.Contains(typ, "blob"):
			v = []byte("fill")
		default:
			v = "fill"
		}
		cols = append(cols, name)
		args = append(args, v)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	rows.Close()
	_, err = db.Write.ExecContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(marks, ", ")+`)`, args...)
	return err
}

// Tables lists the store's tables (schema_migrations included).
func Tables(t testing.TB, db *store.DB) []string {
	t.Helper()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	if db.Backend() == "sqlite" {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	}
	rows, err := db.Read.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DumpTables reads every table as sorted text rows, for comparing two
// databases of the same backend.
func DumpTables(t testing.TB, db *store.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range Tables(t, db) {
		rows, err := db.Read.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		out[table] = []string{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				parts[i] = fmt.Sprintf("%s=%v", cols[i], v)
			}
			out[table] = append(out[table], strings.Join(parts, " "))
		}
		rows.Close()
		sort.Strings(out[table])
	}
	return out
}

// CompareTables fails for every table whose rows differ between two dumps.
func CompareTables(t testing.TB, want, got map[string][]string) {
	t.Helper()
	for table, rows := range want {
		g, ok := got[table]
		if !ok {
			t.Errorf("table %s is missing", table)
			continue
		}
		if strings.Join(g, "\n") != strings.Join(rows, "\n") {
			t.Errorf("table %s differs: %d rows, want %d", table, len(g), len(rows))
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			t.Errorf("unexpected table %s", table)
		}
	}
}

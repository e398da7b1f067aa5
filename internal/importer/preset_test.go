package importer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// Helpers for the preset tests (shopify_test.go, eccube_test.go …): import a
// sample under testdata/ and read back what the store holds, rendered as
// short strings so that a table of expectations stays readable.

// importTestdata imports testdata/name as it is on disk (bytes untouched,
// so Shift_JIS samples go through encoding detection) and returns the
// report and what was printed about rejected rows.
func importTestdata(t *testing.T, db store.Store, kind Kind, name string, opt Options) (*Report, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	opt.Errors = &stderr
	opt.MaxErrorLines = 1000
	rep, err, _ := importFile(t, db, kind, name, string(b), opt)
	if err != nil {
		t.Fatalf("import %s: %v", name, err)
	}
	return rep, stderr.String()
}

// storedCustomer is one customer as the store holds it after an import.
type storedCustomer struct {
	view   *customer.View
	orders []order.Order // oldest first
}

// allCustomers returns every active customer, keyed by e-mail address (or
// phone when the address is a mall's relay address or missing, or the first
// identifier).
func allCustomers(t *testing.T, db store.Store) map[string]storedCustomer {
	t.Helper()
	list, _, err := db.SearchCustomers(ctx, customer.Query{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storedCustomer{}
	for _, s := range list {
		v, err := db.CustomerView(ctx, s.ID, store.ViewOptions{})
		if err != nil {
			t.Fatal(err)
		}
		orders, err := db.CustomerOrders(ctx, s.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		sort.SliceStable(orders, func(i, j int) bool { return orders[i].OrderedAt.Before(orders[j].OrderedAt) })
		key := v.Email
		if key == "" || identity.IsMaskedEmail(key) {
			key = v.Phone
		}
		if key == "" && len(v.Identities) > 0 {
			key = v.Identities[0].Value
		}
		out[key] = storedCustomer{view: v, orders: orders}
	}
	return out
}

// profileString renders the non-empty profile fields as name=value pairs.
func profileString(p customer.Profile) string {
	var parts []string
	for i, v := range p.Values() {
		if v != "" {
			parts = append(parts, customer.FieldNames()[i]+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// consentString renders current consents as channel=yes/no@time (Tokyo).
func consentString(cs []customer.Consent) string {
	var parts []string
	for _, c := range cs {
		yn := "no"
		if c.Granted {
			yn = "yes"
		}
		parts = append(parts, fmt.Sprintf("%s=%s@%s/%s", c.Channel, yn, c.RecordedAt.In(clock.Tokyo).Format("2006-01-02 15:04"), c.Source))
	}
	return strings.Join(parts, " ")
}

// identityString renders identifiers as kind:source:value (weak marked ~).
func identityString(ids []customer.Identity) string {
	var parts []string
	for _, id := range ids {
		s := string(id.Kind) + ":" + id.Source + ":" + id.Value
		if id.Weak {
			s += "~"
		}
		parts = append(parts, s)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// orderString renders an order and its lines on one line.
func orderString(o order.Order) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s %s %s %s %s total=%d discount=%d shipping=%d tax=%d points=%d coupon=%s",
		o.Source, o.ExternalID, o.Status, o.Channel, o.Currency, o.OrderedAt.In(clock.Tokyo).Format("2006-01-02 15:04:05"),
		o.Total, o.Discount, o.Shipping, o.Tax, o.PointsUsed, o.CouponCode)
	for _, l := range o.Lines {
		fmt.Fprintf(&b, " | %d %s %s %dx%d=%d", l.LineNo, l.SKU, l.ProductName, l.Quantity, l.UnitPrice, l.Amount)
	}
	return b.String()
}

// wantCustomer is what a preset test expects of one stored customer.
type wantCustomer struct {
	profile    string
	identities string
	consents   string
	tags       string
	orders     []string
	orderCount int64
	totalSpent int64
	createdAt  string // Tokyo time, 2006-01-02 15:04; checked when set
}

// checkCustomers compares every stored customer with want, field by field.
func checkCustomers(t *testing.T, db store.Store, want map[string]wantCustomer) {
	t.Helper()
	got := allCustomers(t, db)
	for key, w := range want {
		c, ok := got[key]
		if !ok {
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			t.Errorf("no customer %s (have %v)", key, keys)
			continue
		}
		v := c.view
		if s := profileString(v.Profile); s != w.profile {
			t.Errorf("%s profile\n got  %s\n want %s", key, s, w.profile)
		}
		if s := identityString(v.Identities); s != w.identities {
			t.Errorf("%s identities\n got  %s\n want %s", key, s, w.identities)
		}
		if s := consentString(v.Consents); s != w.consents {
			t.Errorf("%s consents\n got  %s\n want %s", key, s, w.consents)
		}
		if s := strings.Join(v.Tags, ","); s != w.tags {
			t.Errorf("%s tags = %q, want %q", key, s, w.tags)
		}
		var orders []string
		for _, o := range c.orders {
			orders = append(orders, orderString(o))
		}
		if strings.Join(orders, "\n") != strings.Join(w.orders, "\n") {
			t.Errorf("%s orders\n got  %s\n want %s", key, strings.Join(orders, "\n      "), strings.Join(w.orders, "\n      "))
		}
		if at := v.CreatedAt.In(clock.Tokyo).Format("2006-01-02 15:04"); w.createdAt != "" && at != w.createdAt {
			t.Errorf("%s created_at = %s, want %s", key, at, w.createdAt)
		}
		if v.OrderCount != w.orderCount || v.TotalSpent != w.totalSpent {
			t.Errorf("%s aggregates = %d orders, ¥%d; want %d, ¥%d", key, v.OrderCount, v.TotalSpent, w.orderCount, w.totalSpent)
		}
	}
	if len(got) != len(want) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("%d customers stored, want %d: %v", len(got), len(want), keys)
	}
}

// checkMessages asserts that each expected message appears in what the
// import printed, and that nothing else was rejected.
func checkMessages(t *testing.T, printed string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(printed, w) {
			t.Errorf("rejections lack %q; printed:\n%s", w, printed)
		}
	}
	if n := strings.Count(printed, "\n"); n != len(want) {
		t.Errorf("%d rejection lines, want %d:\n%s", n, len(want), printed)
	}
}

func TestAutoDetectsEachPresetFromItsHeader(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	for _, c := range []struct {
		file string
		kind Kind
		want string
	}{
		{"shopify_orders.csv", Orders, "shopify"},
		{"shopify_customers.csv", Customers, "shopify"}, // its "Customer ID" also fits enishi's customer_id
		{"shopify_customers_legacy.csv", Customers, "shopify"},
		{"eccube_orders.csv", Orders, "ec-cube"},
		{"eccube_customers.csv", Customers, "ec-cube"},
		{"rakuten_orders.csv", Orders, "rakuten"},
		{"rakuten_orders_legacy.csv", Orders, "rakuten"},
		{"makeshop_orders.csv", Orders, "makeshop"},
		{"futureshop_orders.csv", Orders, "futureshop"},
	} {
		rep, _ := importTestdata(t, db, c.kind, c.file, Options{Format: "auto", DryRun: true})
		if rep.Format != c.want {
			t.Errorf("%s: detected %s, want %s", c.file, rep.Format, c.want)
		}
	}
	// The canonical format is still recognised beside the presets.
	rep, err, _ := importFile(t, db, Customers, "c.csv", "customer_id,email,last_name,first_name,prefecture,tags\nC1,a@example.jp,山田,太郎,東京都,VIP\n", Options{DryRun: true})
	if err != nil || rep.Format != "enishi" {
		t.Fatalf("canonical customers detected as %v (%v)", rep, err)
	}
	if s := stats(t, db); s != (store.Stats{}) {
		t.Fatalf("dry runs wrote %+v", s)
	}
}

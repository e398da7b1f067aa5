package importer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// checkSink receives what an import would write and checks what the store
// relies on: text is valid UTF-8 without NUL bytes (PostgreSQL refuses
// both, which would fail a batch half-way through a file), and every order
// and customer record names its person.
type checkSink struct {
	t       *testing.T
	records int
	bad     []string // violations; the sink runs on the importer's writer goroutine, where t.Fatal must not be called
}

func (s *checkSink) fail(format string, args ...any) {
	s.bad = append(s.bad, fmt.Sprintf(format, args...))
}

func (s *checkSink) text(what string, vals ...string) {
	for _, v := range vals {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			s.fail("%s: %q is not storable text", what, v)
		}
	}
}

func (s *checkSink) person(what string, r *customer.Record) {
	if r.Empty() {
		s.fail("%s without an identifier reached the store", what)
	}
	for _, id := range r.Identifiers {
		s.text(what+" identifier", string(id.Kind), id.Source, id.Value)
	}
	s.text(what+" profile", r.Profile.Values()...)
	for k, v := range r.Attributes {
		s.text(what+" attribute", k, v)
	}
	s.text(what+" tags", r.Tags...)
}

func (s *checkSink) ImportOrders(_ context.Context, os []order.Order) (store.BatchResult, error) {
	for i := range os {
		o := &os[i]
		s.person("order buyer", &o.Buyer)
		s.text("order", o.ExternalID, o.Source, o.Channel, o.ShopID, o.CouponCode, o.Currency)
		for _, l := range o.Lines {
			s.text("order line", l.SKU, l.ProductName, l.Category)
		}
		if o.ExternalID == "" || o.OrderedAt.IsZero() {
			s.fail("order without id or time: %+v", o)
		}
	}
	s.records += len(os)
	return store.BatchResult{Inserted: len(os)}, nil
}

func (s *checkSink) ImportCustomers(_ context.Context, rs []customer.Record) (store.BatchResult, error) {
	for i := range rs {
		s.person("customer", &rs[i])
	}
	s.records += len(rs)
	return store.BatchResult{Inserted: len(rs)}, nil
}

func (s *checkSink) ImportProducts(_ context.Context, ps []product.Product) (store.BatchResult, error) {
	for _, p := range ps {
		if p.SKU == "" {
			s.fail("product without SKU")
		}
		s.text("product", p.SKU, p.Name, p.Category, p.URL, p.ImageURL)
	}
	s.records += len(ps)
	return store.BatchResult{Inserted: len(ps)}, nil
}

func (s *checkSink) ImportEvents(_ context.Context, es []event.Event) (store.BatchResult, error) {
	for _, e := range es {
		s.text("event", e.Type, e.Name, e.Source, e.MessageID, e.SKU, e.AnonymousID, string(e.Properties))
		if e.MessageID == "" {
			s.fail("event without message id")
		}
	}
	s.records += len(es)
	return store.BatchResult{Inserted: len(es)}, nil
}

func (s *checkSink) ImportSubscriptions(_ context.Context, us []subscription.Update) (store.BatchResult, error) {
	for i := range us {
		u := &us[i]
		s.person("subscriber", &u.Buyer)
		s.text("subscription", u.ExternalID, u.Source, *u.SKU, *u.ProductName, *u.Plan, *u.CancelReason)
		if err := u.Apply(&subscription.Contract{ExternalID: u.ExternalID}); err != nil {
			s.fail("an invalid contract reached the store: %v", err)
		}
	}
	s.records += len(us)
	return store.BatchResult{Inserted: len(us)}, nil
}

func (s *checkSink) ImportReviews(_ context.Context, rs []review.Review) (store.BatchResult, error) {
	for i := range rs {
		r := &rs[i]
		s.text("review", r.ExternalID, r.Source, r.SKU, r.ProductName, r.Title, r.Body, r.ReviewerName)
		if err := r.Validate(); err != nil {
			s.fail("an invalid review reached the store: %v", err)
		}
	}
	s.records += len(rs)
	return store.BatchResult{Inserted: len(rs)}, nil
}

// fuzzImport runs one file of kind through the importer with a checking sink.
func fuzzImport(t *testing.T, kind Kind, format string, data []byte) {
	sink := &checkSink{t: t}
	rep, err := Run(context.Background(), sink, bytes.NewReader(data), Options{Kind: kind, Format: format, Encoding: "auto", BatchSize: 7, FileName: "fuzz.csv"})
	if len(sink.bad) > 0 {
		t.Fatalf("the importer passed on what the store cannot take:\n%s", strings.Join(sink.bad, "\n"))
	}
	if err != nil {
		if sink.records != 0 {
			t.Fatalf("a fatal error after %d records were written: %v", sink.records, err)
		}
		return
	}
	if rep.RejectedRows > rep.Rows || rep.Records != sink.records+rep.RejectedRecords && sink.records > rep.Records {
		t.Fatalf("report does not add up: %+v, %d records written", rep, sink.records)
	}
}

func addSeeds(f *testing.F, format string, samples ...string) {
	for _, s := range samples {
		f.Add(format, []byte(s))
	}
}

// Seeds are in testdata/fuzz/<target>/ as well (the preset samples); these
// are the small hand-written ones.
func FuzzImportOrders(f *testing.F) {
	addSeeds(f, "auto",
		ordersHeader+"1,C1,a@example.com,090-1234-5678,山田 太郎,2026-01-05,paid,own_ec,JPY,3000,A,商品A,cat,2,1500\n",
		"order_id,customer_id,ordered_at,total,sku,quantity,unit_price\n1,C1,2026-01-05,100,A,1,100\n1,C1,2026-01-05,100,B,x,100\n",
		"order_id,customer_id,name,ordered_at,total\n\"1\",\"'; DROP TABLE orders; --\",\"<script>alert(1)</script>\",2026-01-05,=1+1\n",
		"\xef\xbb\xbforder_id,email,ordered_at,total\n1,\x00@example.com,2026-01-05,1\n")
	addSeeds(f, "shopify", "Name,Email,Created at,Total,Lineitem name,Lineitem quantity,Lineitem price,Lineitem sku\n#1001,a@example.com,2026-01-05 10:00:00 +0900,1000,T,1,1000,SKU\n")
	f.Fuzz(func(t *testing.T, format string, data []byte) { fuzzImport(t, Orders, format, data) })
}

func FuzzImportCustomers(f *testing.F) {
	addSeeds(f, "auto",
		"customer_id,email,phone,last_name,first_name,birthday,postal_code,prefecture,tags,email_opt_in\nC1,a@example.com,090-1234-5678,山田,太郎,1990-01-02,100-0001,東京都,vip;new,1\n",
		"customer_id,email\nC1,not-an-email\n,\n\"C\"\"2\",b@example.com\n")
	f.Fuzz(func(t *testing.T, format string, data []byte) { fuzzImport(t, Customers, format, data) })
}

func FuzzImportProducts(f *testing.F) {
	addSeeds(f, "auto", "sku,name,category,price\nA,商品A,食品,1200\nB,,,-1\n")
	f.Fuzz(func(t *testing.T, format string, data []byte) { fuzzImport(t, Products, format, data) })
}

func FuzzImportEvents(f *testing.F) {
	addSeeds(f, "auto",
		"event_id,event,occurred_at,email,anonymous_id,properties\ne1,page,2026-01-05T10:00:00+09:00,a@example.com,anon,\"{\"\"path\"\":\"\"/\"\"}\"\n",
		"event_id,event,occurred_at,anonymous_id,properties\ne1,page,2026-01-05,anon,{not json\n")
	f.Fuzz(func(t *testing.T, format string, data []byte) { fuzzImport(t, Events, format, data) })
}

// FuzzDecode checks encoding detection and decoding alone: text decoded
// from a Japanese legacy encoding is valid UTF-8. (Input taken as UTF-8 is
// passed through; invalid bytes there are rejected per row by checkText,
// which FuzzImport* cover.)
func FuzzDecode(f *testing.F) {
	f.Add([]byte("山田,太郎\n"), "auto")
	f.Add([]byte("\x8eR\x93c,\x91\xbe\x98Y\n"), "auto") // Shift_JIS 山田,太郎
	f.Add([]byte("\xef\xbb\xbfa,b\n"), "utf-8")
	f.Add([]byte("\xa4\xa2\n"), "euc-jp")
	f.Fuzz(func(t *testing.T, data []byte, enc string) {
		e, err := ParseEncoding(enc)
		if err != nil {
			return
		}
		r, used, _, err := decode(bytes.NewReader(data), e)
		if err != nil || used == EncUTF8 {
			return
		}
		var out bytes.Buffer
		if _, err := out.ReadFrom(r); err != nil {
			return
		}
		if !utf8.Valid(out.Bytes()) {
			t.Fatalf("decoded %q to invalid UTF-8 %q", data, out.Bytes())
		}
	})
}

func FuzzImportSubscriptions(f *testing.F) {
	addSeeds(f, "auto",
		subsHeader+"S1,C1,a@example.jp,SP-001,サプリ,定期便,30日,3240,有効,2026-01-05,2026-04-05,3,1,,\n",
		subsHeader+"S2,C2,b@example.jp,,,,隔月,x,解約,2026/01/10,,1回,0,2026-02-01,=HYPERLINK(1)\n")
	f.Fuzz(func(t *testing.T, format string, data []byte) { fuzzImport(t, Subscriptions, format, data) })
}

func FuzzImportReviews(f *testing.F) {
	addSeeds(f, "auto",
		"review_id,email,sku,rating,title,body,reviewed_at\nR1,a@example.jp,SP-001,★★★★☆,良い,本文,2026-03-01\n",
		"sku,rating,reviewed_at\nA,6,2026-03-01\n,4.5,\n")
	f.Fuzz(func(t *testing.T, format string, data []byte) { fuzzImport(t, Reviews, format, data) })
}

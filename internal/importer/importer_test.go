package importer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var ctx = context.Background()

// importFile writes content to a temp file and imports it.
func importFile(t *testing.T, db store.Store, kind Kind, name, content string, opt Options) (*Report, error, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opt.Kind = kind
	opt.FileName = name
	if opt.ErrorsPath == "" {
		opt.ErrorsPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".errors.csv"
	}
	rep, err := Run(ctx, db, f, opt)
	return rep, err, opt.ErrorsPath
}

func stats(t *testing.T, db store.Store) store.Stats {
	t.Helper()
	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const ordersHeader = "order_id,customer_id,email,phone,name,ordered_at,status,channel,currency,total,sku,product_name,category,quantity,unit_price\n"

func TestImportOrdersEnishiFormatAndReimport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		content := ordersHeader +
			"1001,C1,taro@example.com,090-1234-5678,山田 太郎,2026-01-05 10:00:00,paid,own_ec,JPY,4500,SKU-1,化粧水,スキンケア,1,3000\n" +
			"1001,C1,taro@example.com,090-1234-5678,山田 太郎,2026-01-05 10:00:00,paid,own_ec,JPY,4500,SKU-2,乳液,スキンケア,1,1500\n" +
			"1002,C2,hanako@example.com,,佐藤 花子,2026-01-06,cancelled,rakuten,JPY,2000,SKU-1,化粧水,スキンケア,1,2000\n" +
			"1003,,taro@example.com,,,2026-02-01T09:00:00+09:00,,pos,,1200,,,,,\n"
		rep, err, _ := importFile(t, db, Orders, "orders.csv", content, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rows != 4 || rep.Records != 3 || rep.Inserted != 3 || rep.RejectedRows != 0 || rep.NewCustomers != 2 || rep.Format != "enishi" {
			t.Fatalf("report = %+v", rep)
		}
		want := store.Stats{Customers: 2, Orders: 3, LineItems: 3, Products: 2}
		if s := stats(t, db); s != want {
			t.Fatalf("stats = %+v, want %+v", s, want)
		}
		list, _, _ := db.SearchCustomers(ctx, customer.Query{Q: "taro@example.com"})
		if len(list) != 1 || list[0].OrderCount != 2 || list[0].TotalSpent != 5700 || list[0].DisplayName != "山田 太郎" {
			t.Fatalf("taro = %+v", list)
		}
		rep, err, _ = importFile(t, db, Orders, "orders.csv", content, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Unchanged != 3 || rep.Inserted != 0 || rep.Updated != 0 || rep.NewCustomers != 0 {
			t.Fatalf("re-import report = %+v", rep)
		}
		if s := stats(t, db); s != want {
			t.Fatalf("stats after re-import = %+v", s)
		}
		storetest.CheckIntegrity(t, db)
	})
}

func TestImportRejectsWholeOrderWhenOneLineIsBad(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		content := ordersHeader +
			"2001,C1,a@example.com,,,2026-01-05,paid,own_ec,JPY,3000,A,商品A,,1,1000\n" + // line 2
			"2001,C1,a@example.com,,,2026-01-05,paid,own_ec,JPY,3000,B,商品B,,二,1000\n" + // line 3: bad quantity
			"2001,C1,a@example.com,,,2026-01-05,paid,own_ec,JPY,3000,C,商品C,,1,1000\n" + // line 4
			"2002,C2,not-an-email,,,2026-01-06,paid,own_ec,JPY,500,A,商品A,,1,500\n" + // line 5: bad email
			"2003,C3,c@example.com,,,2026-13-45,paid,own_ec,JPY,500,A,商品A,,1,500\n" + // line 6: bad date
			"2004,C4,d@example.com,,,2026-01-07,paid,own_ec,JPY,800,A,商品A,,1,800\n" + // line 7: good
			"2005,C5,e@example.com,,,2026-01-07,unknown,own_ec,JPY,800,A,商品A,,1,800\n" + // line 8: bad status
			",C6,f@example.com,,,2026-01-07,paid,own_ec,JPY,800,A,商品A,,1,800\n" // line 9: no order id
		var stderr bytes.Buffer
		rep, err, errPath := importFile(t, db, Orders, "orders.csv", content, Options{Errors: &stderr})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Inserted != 1 || rep.RejectedRecords != 5 || rep.RejectedRows != 7 {
			t.Fatalf("report = %+v", rep)
		}
		if s := stats(t, db); s.Orders != 1 || s.Customers != 1 {
			t.Fatalf("stats = %+v (only order 2004 should be in)", s)
		}
		msgs := stderr.String()
		for _, want := range []string{
			`orders.csv:3: quantity: "二" is not a quantity`,
			"orders.csv:2: order 2001 rejected whole: line 3 is bad",
			"orders.csv:4: order 2001 rejected whole: line 3 is bad",
			`orders.csv:5: email: "not-an-email" is not an e-mail address`,
			`orders.csv:6: ordered_at: "2026-13-45" is not a date`,
			`orders.csv:8: status: "unknown" is not an order status`,
			"orders.csv:9: order_id: empty",
		} {
			if !strings.Contains(msgs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, msgs)
			}
		}
		rows := readCSV(t, errPath, false)
		if len(rows) != 8 || strings.Join(rows[0][:4], ",") != "line,error,order_id,customer_id" {
			t.Fatalf("errors file = %v", rows)
		}
		if rows[2][0] != "3" || rows[2][2] != "2001" || rows[2][15] != "二" {
			t.Fatalf("errors row = %v", rows[2])
		}
		storetest.CheckIntegrity(t, db)
	})
}

func TestImportFatalErrorsWriteNothing(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	cases := map[string]string{
		"missing column": "order_id,email,total\n1,a@example.com,100\n",
		"empty":          "",
		"unknown layout": "foo,bar\n1,2\n",
	}
	for name, content := range cases {
		_, err, _ := importFile(t, db, Orders, "x.csv", content, Options{Format: "auto"})
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	_, err, _ := importFile(t, db, Orders, "x.csv", "order_id,email,total\n1,a@example.com,100\n", Options{})
	if err == nil || !strings.Contains(err.Error(), "ordered_at") {
		t.Fatalf("missing column error = %v", err)
	}
	if s := stats(t, db); s != (store.Stats{}) {
		t.Fatalf("fatal error wrote %+v", s)
	}
}

func TestImportRejectsScatteredOrderLines(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	content := ordersHeader +
		"1,C1,,,,2026-01-05,,,,,A,a,,1,100\n" +
		"2,C2,,,,2026-01-05,,,,,A,a,,1,100\n" +
		"1,C1,,,,2026-01-05,,,,,B,b,,1,100\n"
	var stderr bytes.Buffer
	rep, err, _ := importFile(t, db, Orders, "o.csv", content, Options{Errors: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RejectedRows != 1 || !strings.Contains(stderr.String(), "o.csv:4: order_id: order 1 already appeared at line 2") {
		t.Fatalf("report %+v, stderr %s", rep, stderr.String())
	}
}

func TestImportNormalizesFullWidthAndComputesTotals(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	content := "order_id,customer_id,phone,ordered_at,sku,quantity,unit_price,shipping\n" +
		"Ｘ１,Ｃ１,０９０－１１１１－２２２２,２０２６/１/５ １０:００:００,ＳＫＵ－１,２,\"１,５００\",500\n"
	rep, err, _ := importFile(t, db, Orders, "o.csv", content, Options{})
	if err != nil || rep.Inserted != 1 {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	v, err := db.CustomerView(ctx, 1, store.ViewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Phone != "+819011112222" || v.TotalSpent != 3500 || v.Identities[0].Value != "C1" {
		t.Fatalf("view = %+v %+v", v.Customer, v.Identities)
	}
	if v.Timeline[0].Title != "X1" || v.Timeline[0].At.In(clock.Tokyo).Format("2006-01-02 15:04") != "2026-01-05 10:00" {
		t.Fatalf("timeline = %+v", v.Timeline[0])
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	content := ordersHeader + "1,C1,,,,2026-01-05,,,,100,,,,,\n2,C2,,,,bad,,,,100,,,,,\n"
	rep, err, _ := importFile(t, db, Orders, "o.csv", content, Options{DryRun: true})
	if err != nil || rep.Inserted != 1 || rep.RejectedRecords != 1 {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	if s := stats(t, db); s != (store.Stats{}) {
		t.Fatalf("dry run wrote %+v", s)
	}
}

func toShiftJIS(t *testing.T, s string) string {
	t.Helper()
	b, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestShiftJISFileRoundTripsJapanese(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	content := "customer_id,last_name,first_name,last_name_kana,first_name_kana,email,prefecture,city,address1,tags\n" +
		"M1,髙橋,﨑子,タカハシ,サキコ,saki@example.jp,東京都,千代田区,丸の内１－１－１,VIP;定期\n" +
		"M2,渡邊,①太郎,ﾜﾀﾅﾍﾞ,ﾀﾛｳ,taro@example.jp,13,港区,六本木,\n"
	sjis := toShiftJIS(t, content)
	rep, err, _ := importFile(t, db, Customers, "members.csv", sjis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Encoding != EncShiftJIS || rep.Inserted != 2 {
		t.Fatalf("report = %+v", rep)
	}
	v, _ := db.CustomerView(ctx, 1, store.ViewOptions{})
	if v.LastName != "髙橋" || v.FirstName != "﨑子" || v.City != "千代田区" || v.Address1 != "丸の内1-1-1" || strings.Join(v.Tags, ",") != "VIP,定期" {
		t.Fatalf("M1 = %+v tags %v", v.Profile, v.Tags)
	}
	v, _ = db.CustomerView(ctx, 2, store.ViewOptions{})
	if v.LastName != "渡邊" || v.FirstName != "1太郎" || v.LastNameKana != "ワタナベ" || v.Prefecture != "東京都" {
		t.Fatalf("M2 = %+v", v.Profile)
	}
}

func TestShiftJISErrorsFileIsShiftJIS(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	content := "customer_id,last_name,email\nM1,山田,bad-email\n"
	rep, err, errPath := importFile(t, db, Customers, "m.csv", toShiftJIS(t, content), Options{Encoding: "shift_jis"})
	if err != nil || rep.RejectedRows != 1 {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	rows := readCSV(t, errPath, true)
	if rows[1][3] != "山田" {
		t.Fatalf("errors file = %v", rows)
	}
}

func TestUTF8WithBOMAndInvalidBytes(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	content := "\ufeffcustomer_id,last_name\nM1,山田\nM2,\xff\xfe\n"
	var stderr bytes.Buffer
	rep, err, _ := importFile(t, db, Customers, "m.csv", content, Options{Encoding: "utf-8", Errors: &stderr})
	if err != nil || rep.Inserted != 1 || rep.RejectedRows != 1 {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	if !strings.Contains(stderr.String(), "m.csv:3: text is not valid") {
		t.Fatalf("stderr = %s", stderr.String())
	}
}

func TestCustomersProductsEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		custs := "customer_id,email,name,birthday,gender,email_opt_in,consent_at,consent_wording,attr.skin\n" +
			"M1,a@example.com,山田 花子,1990/4/1,女性,1,2025-01-01,v3,dry\n" +
			"M2,b@example.com,鈴木 一郎,,male,no,,,\n" +
			"M3,c@example.com,,not-a-date,,,,,\n"
		rep, err, _ := importFile(t, db, Customers, "c.csv", custs, Options{})
		if err != nil || rep.Inserted != 2 || rep.RejectedRows != 1 {
			t.Fatalf("customers rep %+v err %v", rep, err)
		}
		rep, _, _ = importFile(t, db, Customers, "c.csv", custs, Options{})
		if rep.Unchanged != 2 || rep.Inserted != 0 {
			t.Fatalf("customers re-import %+v", rep)
		}
		v, _ := db.CustomerView(ctx, 1, store.ViewOptions{})
		if v.Birthday != "1990-04-01" || v.Gender != "female" || len(v.Consents) != 1 || !v.Consents[0].Granted || v.Consents[0].WordingVersion != "v3" || v.Attributes["skin"] != "dry" {
			t.Fatalf("M1 = %+v consents %+v attrs %v", v.Profile, v.Consents, v.Attributes)
		}
		prods := "sku,name,category,price,replenishment_days\nP1,化粧水,スキンケア,3300,30\nP2,乳液,,abc,\n"
		rep, err, _ = importFile(t, db, Products, "p.csv", prods, Options{})
		if err != nil || rep.Inserted != 1 || rep.RejectedRows != 1 {
			t.Fatalf("products rep %+v err %v", rep, err)
		}
		evs := "event_id,customer_id,anonymous_id,event,occurred_at,sku,properties\n" +
			"e1,M1,,product_viewed,2026-03-01 10:00:00,P1,\"{\"\"price\"\":3300}\"\n" +
			"e2,,anon-9,page_view,2026-03-01 10:01:00,,\n" +
			"e3,M2,,add_to_cart,2026-03-01 10:02:00,P1,{bad json}\n" +
			",M2,,search,2026-03-01 10:03:00,,\n"
		rep, err, _ = importFile(t, db, Events, "e.csv", evs, Options{})
		if err != nil || rep.Inserted != 3 || rep.RejectedRows != 1 {
			t.Fatalf("events rep %+v err %v", rep, err)
		}
		rep, _, _ = importFile(t, db, Events, "e.csv", evs, Options{})
		if rep.Inserted != 0 || rep.Unchanged != 3 {
			t.Fatalf("events re-import %+v", rep)
		}
		if s := stats(t, db); s.Events != 3 || s.Customers != 2 || s.Products != 1 {
			t.Fatalf("stats = %+v", s)
		}
		storetest.CheckIntegrity(t, db)
	})
}

func TestMappingFile(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	dir := t.TempDir()
	mp := filepath.Join(dir, "map.yaml")
	os.WriteFile(mp, []byte("columns:\n  order_id: 受注番号\n  ordered_at: 受注日\n  email: メール\n  total: 金額\ndefaults:\n  channel: yahoo\n"), 0o644)
	m, err := LoadMapping(mp, Orders)
	if err != nil {
		t.Fatal(err)
	}
	rep, err, _ := importFile(t, db, Orders, "y.csv", "受注番号,受注日,メール,金額\nY1,2026/02/03,a@example.com,1980\n", Options{Mapping: m})
	if err != nil || rep.Inserted != 1 {
		t.Fatalf("rep %+v err %v", rep, err)
	}
	v, _ := db.CustomerView(ctx, 1, store.ViewOptions{})
	if v.TotalSpent != 1980 || v.Timeline[0].Channel != "yahoo" {
		t.Fatalf("view = %+v %+v", v.Aggregates, v.Timeline)
	}
	os.WriteFile(mp, []byte("columns:\n  no_such_field: x\n"), 0o644)
	if _, err := LoadMapping(mp, Orders); err == nil || !strings.Contains(err.Error(), "no_such_field") {
		t.Fatalf("bad mapping err = %v", err)
	}
}

// CDNOWToEnishi converts the CDNOW master file (customer_id date cds dollars)
// into enishi orders, one order per row. Dollars are multiplied by 100 to
// give yen-like integers.
func CDNOWToEnishi(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	b.WriteString("order_id,customer_id,ordered_at,total,quantity,sku,unit_price\n")
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 || fs[0] == "customer_id" {
			continue
		}
		n++
		var dollars float64
		fmt.Sscan(fs[3], &dollars)
		yen := int64(dollars*100 + 0.5)
		d := fs[1]
		fmt.Fprintf(&b, "cd%d,%s,%s-%s-%s,%d,%s,CD,%d\n", n, fs[0], d[:4], d[4:6], d[6:], yen, fs[2], 0)
	}
	return b.String()
}

func TestCDNOWGives23570Customers(t *testing.T) {
	content := CDNOWToEnishi(t, sharedFile(t, "data/cdnow/CDNOW_master.txt"))
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		rep, err, _ := importFile(t, db, Orders, "cdnow.csv", content, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.RejectedRows != 0 || rep.Inserted != 69659 {
			t.Fatalf("report = %+v", rep)
		}
		s := stats(t, db)
		if s.Customers != 23570 || s.Orders != 69659 {
			t.Fatalf("stats = %+v", s)
		}
		rep, err, _ = importFile(t, db, Orders, "cdnow.csv", content, Options{})
		if err != nil || rep.Unchanged != 69659 || rep.Inserted+rep.Updated != 0 {
			t.Fatalf("re-import = %+v, %v", rep, err)
		}
		if s2 := stats(t, db); s2 != s {
			t.Fatalf("re-import changed stats: %+v → %+v", s, s2)
		}
		storetest.CheckIntegrity(t, db)
	})
}

// sharedFile finds a file under the shared/ directory that sits beside the
// repository: ../../../shared from this package in a plain checkout, further
// up when the checkout is a worktree nested one level deeper.
func sharedFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("shared/%s not found above the package directory", rel)
		}
		dir = parent
	}
}

func readCSV(t *testing.T, path string, sjis bool) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sjis {
		b, _, _ = transform.Bytes(japanese.ShiftJIS.NewDecoder(), b)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestBuyerFieldsCoverEveryPersonColumn(t *testing.T) {
	for f, name := range personFields {
		if !slices.Contains(buyerFields, f) {
			t.Errorf("buyerFields lacks %s: rows repeating an order's buyer cells would skip it", name)
		}
	}
}

func TestImportReadsEachOrderLinesBuyerCells(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		header := "order_id,customer_id,email,phone,name,birthday,ordered_at,status,total,sku,quantity,unit_price\n"
		content := header +
			"3001,C1,a@example.com,,山田 太郎,,2026-01-05,paid,3000,A,1,1000\n" + // line 2
			"3001,C1,a@example.com,,山田 太郎,,2026-01-05,paid,3000,B,1,1000\n" + // line 3: same buyer cells
			"3001,C1,a@example.com,,山田 太郎,1990-02-30,2026-01-05,paid,3000,C,1,1000\n" + // line 4: bad birthday
			"3002,C2,bad-email,,,,2026-01-06,paid,500,A,1,500\n" + // line 5: bad e-mail
			"3002,C2,bad-email,,,,2026-01-06,paid,500,B,1,500\n" + // line 6: the same bad e-mail
			"3003,C3,c@example.com,,,,2026-01-07,paid,800,A,1,400\n" + // line 7
			"3003,C3,c@example.com,090-1111-2222,,1980-05-06,2026-01-07,paid,800,B,1,400\n" // line 8: adds phone and birthday
		var stderr bytes.Buffer
		rep, err, _ := importFile(t, db, Orders, "orders.csv", content, Options{Errors: &stderr})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Inserted != 1 || rep.RejectedRecords != 2 {
			t.Fatalf("report = %+v\n%s", rep, stderr.String())
		}
		msgs := stderr.String()
		for _, want := range []string{
			"orders.csv:4: birthday:",
			"orders.csv:2: order 3001 rejected whole: line 4 is bad",
			`orders.csv:5: email: "bad-email" is not an e-mail address`,
			`orders.csv:6: email: "bad-email" is not an e-mail address`,
		} {
			if !strings.Contains(msgs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, msgs)
			}
		}
		list, _, err := db.SearchCustomers(ctx, customer.Query{Q: "09011112222"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Email != "c@example.com" {
			t.Fatalf("the phone of line 8 did not reach its buyer: %+v", list)
		}
		c, err := db.Customer(ctx, list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Birthday != "1980-05-06" {
			t.Fatalf("birthday = %q, want line 8's", c.Birthday)
		}
		storetest.CheckIntegrity(t, db)
	})
}

package segment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/enishi-crm/enishi/internal/errs"
)

func TestParseAcceptsTheLanguage(t *testing.T) {
	t.Parallel()
	good := []string{
		`{}`,
		`{"field":"order_count","op":">=","value":2}`,
		`{"all":[{"field":"prefecture","op":"in","value":["東京都","神奈川県"]},{"not":{"field":"tag","op":"has","value":"VIP"}}]}`,
		`{"any":[{"field":"bought","sku":"SKU-1","within_days":30},{"field":"bought","category":"スキンケア","op":"=","value":0}]}`,
		`{"field":"event","event":"Product Viewed","op":">=","value":3,"within_days":7}`,
		`{"field":"consent","channel":"email","op":"granted"}`,
		`{"field":"days_since_last_order","op":"between","value":[90,180]}`,
		`{"field":"birthday_month","op":"this_month"}`,
		`{"field":"attribute","attribute":"会員種別","op":"=","value":"ゴールド"}`,
		`{"field":"last_order_at","op":"before","value":"2025-12-31"}`,
		`{"field":"p_alive","op":"<","value":0.3}`,
		`{"field":"sales_channel","op":"in","value":["rakuten","amazon"],"within_days":365}`,
	}
	for _, g := range good {
		if _, err := Parse([]byte(g)); err != nil {
			t.Errorf("Parse(%s): %v", g, err)
		}
	}
}

func TestParseRefusesMistakesNamingTheField(t *testing.T) {
	t.Parallel()
	bad := []struct{ in, field, msg string }{
		{`{"field":"nope","op":"=","value":1}`, "condition.field", "unknown field"},
		{`{"field":"order_count","op":"contains","value":1}`, "condition.op", "does not apply"},
		{`{"field":"order_count","op":">="}`, "condition.value", "needs a value"},
		{`{"field":"order_count","op":">=","value":"2"}`, "condition.value", "whole number"},
		{`{"field":"order_count","op":">=","value":2.5}`, "condition.value", "whole number"},
		{`{"all":[]}`, "condition.all", "at least one"},
		{`{"all":[{"field":"tag","op":"has","value":""}]}`, "condition.all[0].value", "cannot be empty"},
		{`{"any":[{"field":"consent","op":"granted"}]}`, "condition.any[0].channel", "needs channel"},
		{`{"field":"event","op":">=","value":1}`, "condition.event", "needs event"},
		{`{"field":"tag","op":"has","value":"x","sku":"A"}`, "condition.sku", "does not take"},
		{`{"field":"bought","sku":"A","category":"B"}`, "condition.category", "not both"},
		{`{"field":"days_since_last_order","op":"between","value":[10,5]}`, "condition.value", "above"},
		{`{"field":"birthday_month","op":"=","value":13}`, "condition.value", "1 to 12"},
		{`{"field":"last_order_at","op":"before","value":"2025/12/31"}`, "condition.value", "not a date"},
		{`{"field":"order_count","op":">=","value":1,"all":[{"field":"tag","op":"has","value":"a"}]}`, "condition", "not several"},
		{`{"not":{"field":"tag","op":"has","value":"a"},"op":"="}`, "condition", "takes no op"},
		{`{"field":"attribute","attribute":"a\"b","op":"=","value":"x"}`, "condition.attribute", "attribute names"},
		{`{"field":"consent","channel":"fax","op":"granted"}`, "condition.channel", "not a consent channel"},
		{`{"field":"bought","within_days":-1}`, "condition.within_days", "between"},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.in))
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != b.field || !strings.Contains(e.Message, b.msg) {
			t.Errorf("Parse(%s) = %v, want field %s with %q", b.in, err, b.field, b.msg)
		}
	}
	if _, err := Parse([]byte(`{"field":"tag","op":"has","value":"a","extra":1}`)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := Parse([]byte(`{"field":"tag","op":"has","value":"a"} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestParseBoundsDepthAndSize(t *testing.T) {
	t.Parallel()
	deep := `{"field":"tag","op":"has","value":"a"}`
	for i := 0; i < MaxDepth+1; i++ {
		deep = `{"not":` + deep + `}`
	}
	if _, err := Parse([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nest") {
		t.Errorf("deep: %v", err)
	}
	leaves := make([]string, MaxNodes+1)
	for i := range leaves {
		leaves[i] = `{"field":"tag","op":"has","value":"a"}`
	}
	if _, err := Parse([]byte(`{"any":[` + strings.Join(leaves, ",") + `]}`)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("wide: %v", err)
	}
}

func TestTimeRelativeAndSources(t *testing.T) {
	t.Parallel()
	c, _ := Parse([]byte(`{"all":[{"field":"order_count","op":">=","value":1},{"field":"tag","op":"has","value":"a"}]}`))
	if c.TimeRelative() || len(c.Sources()) != 0 {
		t.Errorf("static condition: %v %v", c.TimeRelative(), c.Sources())
	}
	for _, rel := range []string{`{"field":"days_since_last_order","op":">=","value":90}`, `{"field":"bought","within_days":30}`,
		`{"field":"birthday_month","op":"this_month"}`, `{"not":{"field":"rfm_r","op":">=","value":4}}`} {
		c, err := Parse([]byte(rel))
		if err != nil || !c.TimeRelative() {
			t.Errorf("%s: time relative = false (%v)", rel, err)
		}
	}
	c, _ = Parse([]byte(`{"any":[{"field":"rank","op":"=","value":"gold"},{"field":"clv","op":">","value":10000}]}`))
	if !reflect.DeepEqual(c.Sources(), []Source{Loyalty, Analytics}) {
		t.Errorf("sources = %v", c.Sources())
	}
}

func TestExportEscapesFormulasInBothEncodings(t *testing.T) {
	t.Parallel()
	m := Member{CustomerID: 7, LastName: "=HYPERLINK(\"http://x\")", FirstName: "太郎", Email: "@evil", Phone: "+81901234", Prefecture: "東京都",
		OrderCount: 2, TotalSpent: 5000, EnteredAt: time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	e, err := NewExporter(&b, UTF8)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(m); err != nil || e.Flush() != nil {
		t.Fatal(err)
	}
	want := "\ufeff顧客ID,姓,名,メールアドレス,電話番号,都道府県,購入回数,累計購入金額,最終購入日,セグメント参加日\r\n" +
		"7,\"'=HYPERLINK(\"\"http://x\"\")\",太郎,'@evil,'+81901234,東京都,2,5000,,2026-04-01\r\n"
	if b.String() != want {
		t.Fatalf("utf-8 export:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	e, _ = NewExporter(&b, "shift_jis")
	_ = e.Write(m)
	_ = e.Flush()
	dec, err := japanese.ShiftJIS.NewDecoder().Bytes(b.Bytes())
	if err != nil || !strings.Contains(string(dec), "東京都") || strings.HasPrefix(string(dec), "\ufeff") {
		t.Fatalf("shift_jis export: %q %v", dec, err)
	}
	if _, err := NewExporter(&b, "latin1"); err == nil {
		t.Fatal("unknown encoding accepted")
	}
}

type fakeTagger struct{ add, remove []string }

func (f *fakeTagger) TagCustomers(_ context.Context, _ string, add, remove []string) error {
	f.add, f.remove = add, remove
	return nil
}

func TestShopifyPushSendsOnlyTheDifference(t *testing.T) {
	t.Parallel()
	tg := &fakeTagger{}
	p := Pusher{Shopify: tg}
	s := &Segment{ID: 1, Name: "VIP"}
	res, st, err := p.Push(context.Background(), s, TargetShopify, "vip", []Member{{ShopifyIDs: []string{"1"}}, {ShopifyIDs: []string{"2"}}, {}}, PushState{})
	if err != nil || res.Added != 2 || res.Unreachable != 1 || st.Ref != "vip" {
		t.Fatalf("first push: %+v %+v %v", res, st, err)
	}
	res, _, err = p.Push(context.Background(), s, TargetShopify, "vip", []Member{{ShopifyIDs: []string{"2"}}, {ShopifyIDs: []string{"3"}}}, st)
	if err != nil || !reflect.DeepEqual(tg.add, []string{"3"}) || !reflect.DeepEqual(tg.remove, []string{"1"}) || res.Removed != 1 {
		t.Fatalf("second push: %+v add %v remove %v %v", res, tg.add, tg.remove, err)
	}
	if _, _, err := (Pusher{}).Push(context.Background(), s, TargetLINE, "", nil, PushState{}); errs.Code(err) != errs.Unavailable {
		t.Fatalf("unconfigured LINE: %v", err)
	}
}

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, and
// whatever it accepts must survive a round trip through JSON unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"field":"order_count","op":">=","value":2}`,
		`{"all":[{"any":[{"field":"tag","op":"has","value":"a"}]},{"not":{"field":"bought","sku":"X","within_days":3}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if errs.Code(err) != errs.Invalid {
				t.Fatalf("error of code %s: %v", errs.Code(err), err)
			}
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("round trip of %s refused: %v", out, err)
		}
		out2, _ := json.Marshal(c2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed %s into %s", out, out2)
		}
	})
}

type fakeAudience struct {
	audiences map[string][]string
}

func (f *fakeAudience) UploadAudience(_ context.Context, id, desc string, ids []string) (string, error) {
	if id == "" {
		id = "aud-" + desc
	}
	f.audiences[id] = append(f.audiences[id], ids...)
	return id, nil
}

func TestLINEPushAddsNewMembersToOneAudience(t *testing.T) {
	t.Parallel()
	f := &fakeAudience{audiences: map[string][]string{}}
	p := Pusher{LINE: f}
	s := &Segment{ID: 2, Name: "LINE友だち"}
	res, st, err := p.Push(context.Background(), s, TargetLINE, "", []Member{{LineUserIDs: []string{"U1"}}, {LineUserIDs: []string{"U2"}}}, PushState{})
	if err != nil || res.Added != 2 || st.Ref != "aud-enishi LINE友だち" {
		t.Fatalf("first push: %+v %+v %v", res, st, err)
	}
	res, st, err = p.Push(context.Background(), s, TargetLINE, "", []Member{{LineUserIDs: []string{"U2"}}, {LineUserIDs: []string{"U3"}}}, st)
	if err != nil || res.Added != 1 || !reflect.DeepEqual(f.audiences[st.Ref], []string{"U1", "U2", "U3"}) || len(st.IDs) != 3 {
		t.Fatalf("second push: %+v %v %v", res, f.audiences, err)
	}
}

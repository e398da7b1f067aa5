package identity

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestNormalizeEmail(t *testing.T) {
	ok := map[string]string{
		" Taro@Example.COM ": "taro@example.com",
		"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ":       "taro@example.com",
		"a.b+tag@sub.example.jp": "a.b+tag@sub.example.jp",
	}
	for in, want := range ok {
		if got, err := NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "taro", "@example.com", "taro@", "taro@example", "ta ro@example.com", "a@b.com,c@d.com", "taro@example.com."} {
		if got, err := NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNormalizePhoneJapaneseFormats(t *testing.T) {
	for _, in := range []string{"090-1234-5678", "09012345678", "０９０－１２３４－５６７８", "０９０１２３４５６７８", "+81 90-1234-5678", "+819012345678", "(090) 1234-5678", "090ー1234ー5678"} {
		if got, err := NormalizePhone(in); err != nil || got != "+819012345678" {
			t.Errorf("NormalizePhone(%q) = %q, %v", in, got, err)
		}
	}
	if got, _ := NormalizePhone("03-1234-5678"); got != "+81312345678" {
		t.Errorf("landline = %q", got)
	}
	if got, _ := NormalizePhone("+1 415 555 2671"); got != "+14155552671" {
		t.Errorf("US number = %q", got)
	}
	for _, bad := range []string{"", "なし", "12", "abc-defg"} {
		if got, err := NormalizePhone(bad); err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want an error", bad, got)
		}
	}
	if got := NationalPhone("+819012345678"); got != "09012345678" {
		t.Errorf("NationalPhone = %q", got)
	}
}

func TestMaskedMallAddresses(t *testing.T) {
	for _, e := range []string{"x1@pc.fw.rakuten.ne.jp", "abc@fw.rakuten.ne.jp", "q@marketplace.amazon.co.jp"} {
		id, err := EmailID(e)
		if err != nil || !id.Weak {
			t.Errorf("%s: weak=%v err=%v", e, id.Weak, err)
		}
	}
	if id, _ := EmailID("user@rakuten.co.jp"); id.Weak {
		t.Error("a real rakuten.co.jp address is not a relay address")
	}
}

func TestDecide(t *testing.T) {
	email := Identifier{Kind: Email, Value: "a@example.com"}
	phone := Identifier{Kind: Phone, Value: "+819000000000"}
	ext := Identifier{Kind: External, Source: "shopify", Value: "1"}
	relay := Identifier{Kind: Email, Value: "x@fw.rakuten.ne.jp", Weak: true}
	m := func(c, o int64) *Match { return &Match{CustomerID: c, OriginCustomerID: o} }
	manualPhone := Policy{ManualKinds: map[Kind]bool{Phone: true}}

	tests := []struct {
		name    string
		ids     []Identifier
		matches []*Match
		pol     Policy
		want    Plan
	}{
		{"all new", []Identifier{email, phone}, []*Match{nil, nil}, Policy{},
			Plan{Attach: []Identifier{email, phone}}},
		{"one match attaches the rest", []Identifier{email, phone}, []*Match{m(5, 5), nil}, Policy{},
			Plan{Target: 5, Origin: 5, Attach: []Identifier{phone}}},
		{"two customers merge into the oldest", []Identifier{ext, email, phone}, []*Match{m(9, 9), m(3, 4), nil}, Policy{},
			Plan{Target: 3, Origin: 9, Attach: []Identifier{phone}, Merges: []Merge{{Winner: 3, Loser: 9, Via: email}}}},
		{"three customers", []Identifier{email, phone, ext}, []*Match{m(2, 2), m(7, 7), m(4, 4)}, Policy{},
			Plan{Target: 2, Origin: 4, Merges: []Merge{{Winner: 2, Loser: 4, Via: email}, {Winner: 2, Loser: 7, Via: phone}}}},
		{"manual kind makes a candidate", []Identifier{email, phone}, []*Match{m(2, 2), m(7, 7)}, manualPhone,
			Plan{Target: 2, Origin: 2, Candidates: []Candidate{{A: 2, B: 7, Via: phone}}}},
		{"weak finds when alone", []Identifier{relay}, []*Match{m(6, 6)}, Policy{},
			Plan{Target: 6, Origin: 6}},
		{"weak never merges", []Identifier{email, relay}, []*Match{m(2, 2), m(6, 6)}, Policy{},
			Plan{Target: 2, Origin: 2}},
		{"weak ignored beside a new strong id", []Identifier{ext, relay}, []*Match{nil, m(6, 6)}, Policy{},
			Plan{Attach: []Identifier{ext}}},
		{"same customer twice", []Identifier{email, phone}, []*Match{m(2, 2), m(2, 8)}, Policy{},
			Plan{Target: 2, Origin: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.ids, tc.matches, tc.pol)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decide =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestFastPhonePathAgreesWithLibrary(t *testing.T) {
	for _, in := range []string{"09012345678", "090-1234-5678", "03-1234-5678", "0312345678", "0120-123-456", "050 1234 5678", "0801234567", "011-123-4567", "0466-12-3456"} {
		fast, ok := fastJapanesePhone(in)
		if !ok {
			t.Errorf("%q: fast path not taken", in)
			continue
		}
		num, err := phonenumbers.Parse(in, "JP")
		if err != nil {
			t.Fatal(err)
		}
		if lib := phonenumbers.Format(num, phonenumbers.E164); lib != fast {
			t.Errorf("%q: fast %q, library %q", in, fast, lib)
		}
		libNational := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, phonenumbers.Format(num, phonenumbers.NATIONAL))
		if got := NationalPhone(fast); phonenumbers.IsValidNumber(num) && got != libNational {
			t.Errorf("NationalPhone(%q) = %q, library %q", fast, got, libNational)
		}
	}
	for _, in := range []string{"0012345678", "+81901234567", "123", "09012345678901"} {
		if _, ok := fastJapanesePhone(in); ok {
			t.Errorf("%q took the fast path", in)
		}
	}
}

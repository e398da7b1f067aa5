package dm

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

func TestCSVInUTF8AndShiftJIS(t *testing.T) {
	rows := []Row{{CustomerID: 12, Name: "山田 太郎 様", PostalCode: "1000001", Prefecture: "東京都", City: "千代田区", Address1: "千代田1-1", Address2: "=HYPERLINK()"},
		{CustomerID: 13, Name: "髙橋 一郎 様", PostalCode: "530-0001", Prefecture: "大阪府", City: "大阪市北区", Address1: "梅田1-1-1", Note: "🍵"}}
	var u bytes.Buffer
	if err := WriteCSV(&u, rows, false); err != nil {
		t.Fatal(err)
	}
	want := "\ufeff顧客ID,郵便番号,都道府県,市区町村,住所1,住所2,宛名,備考\r\n12,100-0001,東京都,千代田区,千代田1-1,'=HYPERLINK(),山田 太郎 様,\r\n13,530-0001,大阪府,大阪市北区,梅田1-1-1,,髙橋 一郎 様,🍵\r\n"
	if u.String() != want {
		t.Fatalf("utf-8 =\n%q\nwant\n%q", u.String(), want)
	}
	var s bytes.Buffer
	if err := WriteCSV(&s, rows, true); err != nil {
		t.Fatal(err)
	}
	dec, err := japanese.ShiftJIS.NewDecoder().Bytes(s.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dec), "山田 太郎 様") || !strings.Contains(string(dec), ",〓\r\n") || strings.HasPrefix(string(dec), "\ufeff") {
		t.Fatalf("shift_jis decoded = %q", dec)
	}
}

package importer

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestPreviewDetectsShiftJISRakutenAndMapsColumns(t *testing.T) {
	f, err := os.Open("testdata/rakuten_orders.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := PreviewFile(f, Options{Kind: Orders, Format: "auto", Encoding: "auto", FileName: "rakuten_orders.csv"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != "rakuten" || p.Encoding != "shift_jis" || p.Problem != "" {
		t.Fatalf("format %q encoding %q problem %q", p.Format, p.Encoding, p.Problem)
	}
	if len(p.Rows) == 0 || len(p.Rows) > 3 {
		t.Fatalf("rows: %d", len(p.Rows))
	}
	i := slices.Index(p.Header, "注文番号")
	if i < 0 || p.Fields[i] != "order_id" {
		t.Fatalf("注文番号 column maps to %q (header %v)", p.Fields, p.Header)
	}
	if !strings.HasPrefix(p.Rows[0][i], "378912-") {
		t.Errorf("first order id %q", p.Rows[0][i])
	}
}

func TestPreviewReportsMissingColumnsWithTheRows(t *testing.T) {
	in := "order_id,total\nA1,1000\nA2,2000\n"
	p, err := PreviewFile(strings.NewReader(in), Options{Kind: Orders, Format: "enishi", FileName: "x.csv"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != 2 || p.Problem == "" || !strings.Contains(p.Problem, "ordered_at") {
		t.Fatalf("rows %d problem %q", len(p.Rows), p.Problem)
	}
}

func TestPreviewOfAnEmptyFileIsAnError(t *testing.T) {
	if _, err := PreviewFile(strings.NewReader(""), Options{Kind: Customers, FileName: "e.csv"}, 5); err == nil {
		t.Fatal("no error")
	}
}

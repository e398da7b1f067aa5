package csvexport

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func TestFormulaCellsAreEscaped(t *testing.T) {
	var buf bytes.Buffer
	w, err := New(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{`=HYPERLINK("http://evil","x")`, "+81 90", "-2+3", "@SUM(A1)", "\tcmd", "\rx", "＝1+1", "山田", "", "a=b"}
	if err := w.Write(Number("-500"), hostile[0], hostile[1], hostile[2], hostile[3], hostile[4], hostile[5], hostile[6], hostile[7], hostile[8], hostile[9]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "\ufeff") || !strings.HasSuffix(buf.String(), "\r\n") {
		t.Fatalf("no BOM or CRLF: %q", buf.String())
	}
	rec, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\ufeff"))).Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-500", `'=HYPERLINK("http://evil","x")`, "'+81 90", "'-2+3", "'@SUM(A1)", "'\tcmd", "'\rx", "'＝1+1", "山田", "", "a=b"}
	for i := range want {
		if i == 6 { // encoding/csv's reader drops a lone CR; check the cell itself
			if Escape("\rx") != "'\rx" {
				t.Errorf("CR cell not escaped")
			}
			continue
		}
		if rec[i] != want[i] {
			t.Errorf("cell %d = %q, want %q", i, rec[i], want[i])
		}
	}
}

func TestSafeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd":        "passwd",
		`..\..\boot.ini`:          "boot.ini",
		"audit 2026.csv":          "audit_2026.csv",
		"..":                      "export.csv",
		"a\"; filename=evil.html": "a___filename_evil.html",
		"顧客.csv":                  "__.csv",
	} {
		if got := SafeFileName(in); got != want {
			t.Errorf("SafeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

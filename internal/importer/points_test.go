package importer

import (
	"os"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
)

func TestReadPointBalancesShiftJISWithJapaneseHeaders(t *testing.T) {
	f, err := os.Open("testdata/points_sjis.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, bad, err := ReadPointBalances(f, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(bad) != 2 {
		t.Fatalf("rows %+v bad %+v", rows, bad)
	}
	if r := rows[0]; r.Email != "taro@example.com" || r.Points != 1200 || r.Note != "旧ポイント" || r.ExpiresAt == nil ||
		r.ExpiresAt.In(clock.Tokyo).Format("2006-01-02 15:04") != "2027-01-01 00:00" {
		t.Fatalf("row 2 = %+v", r)
	}
	if r := rows[1]; r.ExternalID != "M-2" || r.Points != 300 || r.ExpiresAt != nil || r.Line != 3 {
		t.Fatalf("row 3 = %+v", r)
	}
	if bad[0].Line != 4 || !strings.Contains(bad[0].Reason, "points") || bad[1].Line != 5 || !strings.Contains(bad[1].Reason, "expires_at") {
		t.Fatalf("bad = %+v", bad)
	}
}

func TestReadPointBalancesNeedsPointsAndACustomerColumn(t *testing.T) {
	for _, in := range []string{"email,note\na@example.com,x\n", "points,note\n5,x\n", ""} {
		if _, _, err := ReadPointBalances(strings.NewReader(in), "utf-8"); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

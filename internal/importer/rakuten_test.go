package importer

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestRakutenOrdersBothHeaderGenerations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))

		rep, printed := importTestdata(t, db, Orders, "rakuten_orders.csv", Options{})
		if rep.Format != "rakuten" || rep.Source != "rakuten" || rep.Encoding != EncShiftJIS {
			t.Fatalf("detected %s/%s/%s", rep.Format, rep.Source, rep.Encoding)
		}
		if rep.Rows != 7 || rep.Records != 5 || rep.Inserted != 3 || rep.RejectedRecords != 2 || rep.RejectedRows != 3 || rep.NewCustomers != 2 {
			t.Fatalf("report = %+v\n%s", rep, printed)
		}
		checkMessages(t, printed, []string{
			`rakuten_orders.csv:6: status: ステータス "出荷保留" is not a value the rakuten preset knows (known: 100, 200,`,
			`rakuten_orders.csv:7: status: ステータス "出荷保留"`,
			`rakuten_orders.csv:8: gender: "中" is not a gender`,
		})
		if s := stats(t, db); s != (store.Stats{Customers: 2, Orders: 3, LineItems: 4, Products: 3}) {
			t.Fatalf("stats = %+v", s)
		}

		rep, printed = importTestdata(t, db, Orders, "rakuten_orders_legacy.csv", Options{})
		if rep.Format != "rakuten" || rep.Rows != 2 || rep.Inserted != 2 || rep.NewCustomers != 0 || rep.RejectedRows != 0 {
			t.Fatalf("legacy report = %+v\n%s", rep, printed)
		}
		if s := stats(t, db); s != (store.Stats{Customers: 2, Orders: 5, LineItems: 6, Products: 4}) {
			t.Fatalf("stats = %+v", s)
		}
		checkCustomers(t, db, map[string]wantCustomer{
			// Three orders under three relay addresses: one buyer, by phone.
			"+819012345678": {
				profile: "last_name=楽天 first_name=太郎 last_name_kana=ラクテン first_name_kana=タロウ email=a1b2c3d4e5f6a7b8@pc.fw.rakuten.ne.jp phone=+819012345678 " +
					"birthday=1990-04-01 gender=male postal_code=150-0002 prefecture=東京都 city=渋谷区 address1=渋谷2-21-1",
				identities: "email::9999aaaabbbbcccc@pc.fw.rakuten.ne.jp~ email::a1b2c3d4e5f6a7b8@pc.fw.rakuten.ne.jp~ email::ffee0011aabbccdd@pc.fw.rakuten.ne.jp~ phone::+819012345678",
				orders: []string{
					"rakuten/378912-20231201-0000000001 paid rakuten JPY 2023-12-01 20:30:00 total=3900 discount=0 shipping=600 tax=354 points=0 coupon= | 1 toner-150 【送料無料】薬用化粧水 150ml 1x3300=3300",
					// Billed 7,500: 8,250 less 250 points and a 500 yen coupon.
					"rakuten/378912-20240105-0012345678 paid rakuten JPY 2024-01-05 10:00:00 total=7500 discount=500 shipping=0 tax=750 points=250 coupon= | 1 toner-150 【送料無料】薬用化粧水 150ml 2x3300=6600 | 2 milk-120 保湿乳液 120ml 1x1650=1650",
					"rakuten/378912-20240201-0012349999 cancelled rakuten JPY 2024-02-01 09:00:00 total=3300 discount=0 shipping=0 tax=300 points=0 coupon= | 1 toner-150 【送料無料】薬用化粧水 150ml 1x3300=3300",
				},
				orderCount: 2, totalSpent: 11400,
			},
			"+81112223333": {
				profile: "last_name=鈴木 first_name=花子 last_name_kana=スズキ first_name_kana=ハナコ email=0123456789abcdef@pc.fw.rakuten.ne.jp phone=+81112223333 " +
					"gender=female postal_code=060-0001 prefecture=北海道 city=札幌市中央区 address1=北一条西2丁目",
				identities: "email::0123456789abcdef@pc.fw.rakuten.ne.jp~ phone::+81112223333",
				orders: []string{
					// Every amount -99999: the total is the lines'.
					"rakuten/378912-20231202-0000000002 pending rakuten JPY 2023-12-02 08:15:00 total=2250 discount=0 shipping=0 tax=0 points=0 coupon= | 1 hand-50 ハンドクリーム 1x2250=2250",
					"rakuten/378912-20240210-0012350001 pending rakuten JPY 2024-02-10 23:00:00 total=2850 discount=0 shipping=600 tax=200 points=0 coupon= | 1 10000003 ハンドクリーム 1x2250=2250",
				},
			},
		})
		storetest.CheckIntegrity(t, db)
	})
}

func TestJoinDateTime(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ date, clock, want string }{
		{"2022/8/10", "103309", "2022/8/10 10:33:09"},
		{"2022/8/10", "93309", "2022/8/10 09:33:09"}, // a spreadsheet dropped the zero
		{"2022/8/10", "０９３３", "2022/8/10 09:33"},
		{"2023-12-02", "08:15:00", "2023-12-02 08:15:00"},
		{"2023-12-02", "", "2023-12-02"},
		{"", "103309", ""},
		{"2023-12-02", "10時", "2023-12-02 10時"}, // left for ParseTime to refuse
	} {
		if got := joinDateTime(c.date, c.clock); got != c.want {
			t.Errorf("joinDateTime(%q, %q) = %q, want %q", c.date, c.clock, got, c.want)
		}
	}
}

package importer

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// The samples are CP932, as EC-CUBE writes them: 髙 and 﨑 are outside
// JIS X 0208, ① is an NEC special character, and the kana columns are
// half-width.
func TestECCUBEMembersThenOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))

		rep, printed := importTestdata(t, db, Customers, "eccube_customers.csv", Options{})
		if rep.Format != "ec-cube" || rep.Encoding != EncShiftJIS || rep.Source != "ec-cube" {
			t.Fatalf("detected %s/%s/%s", rep.Format, rep.Encoding, rep.Source)
		}
		// The 退会 member (line 3) is skipped, not counted.
		if rep.Rows != 3 || rep.Records != 3 || rep.Inserted != 2 || rep.RejectedRows != 1 {
			t.Fatalf("members report = %+v\n%s", rep, printed)
		}
		checkMessages(t, printed, []string{
			// The preset's own check and the canonical ones report together.
			`eccube_customers.csv:4: gender: 性別(ID) "5" is not a value the ec-cube preset knows (known: 1, 2, 3, 4); correct it, ` +
				`or convert the file to the enishi format (docs/formats.md); email: "hajime@example" is not an e-mail address`,
		})

		rep, printed = importTestdata(t, db, Orders, "eccube_orders.csv", Options{})
		if rep.Format != "ec-cube" || rep.Encoding != EncShiftJIS {
			t.Fatalf("detected %s/%s", rep.Format, rep.Encoding)
		}
		// 17 rows, one an unfinished checkout (skipped); orders 106 and 107
		// are rejected with all their rows.
		if rep.Rows != 16 || rep.Records != 6 || rep.Inserted != 4 || rep.RejectedRecords != 2 || rep.RejectedRows != 4 || rep.NewCustomers != 1 {
			t.Fatalf("orders report = %+v\n%s", rep, printed)
		}
		checkMessages(t, printed, []string{
			`eccube_orders.csv:15: status: 対応状況(ID) "12" is not a value the ec-cube preset knows (known: 1, 3, 4, 5, 6, 7, 8, 9)`,
			`eccube_orders.csv:16: status: 対応状況(ID) "12"`,
			`eccube_orders.csv:17: gender: 性別(ID) "7" is not a value the ec-cube preset knows`,
			`eccube_orders.csv:18: gender: 性別(ID) "7"`,
		})
		// Only 商品 rows are lines: 送料, 手数料, 割引 and ポイント rows are not.
		if s := stats(t, db); s != (store.Stats{Customers: 3, Orders: 4, LineItems: 5, Products: 4}) {
			t.Fatalf("stats = %+v", s)
		}
		checkCustomers(t, db, map[string]wantCustomer{
			"saki@example.jp": {
				profile: "last_name=髙橋 first_name=﨑子 last_name_kana=タカハシ first_name_kana=サキコ email=saki@example.jp phone=+819011112222 " +
					"birthday=1985-03-15 gender=female postal_code=100-0005 prefecture=東京都 city=千代田区丸の内 address1=1-1-1 丸の内ビル1",
				identities: "email::saki@example.jp external:ec-cube:12 phone::+819011112222",
				orders: []string{
					// 価格 is tax-exclusive: 3,000 at 10% → 3,300; 1,000 at 8% → 1,080.
					// The ポイント row (−100) is points_used; 送料 660 and 手数料 330
					// are in 合計.
					"ec-cube/101 paid own_ec JPY 2024-01-05 10:00:00 total=8570 discount=0 shipping=660 tax=770 points=100 coupon= | 1 SKU-TONER 薬用化粧水 トライアル 2x3300=6600 | 2 SKU-TEA 緑茶ティーバッグ 1x1080=1080",
					"ec-cube/103 cancelled own_ec JPY 2024-02-01 08:30:00 total=3300 discount=0 shipping=0 tax=300 points=0 coupon= | 1 SKU-TONER 薬用化粧水 トライアル 1x3300=3300",
				},
				orderCount: 1, totalSpent: 8570, createdAt: "2023-12-01 09:00",
			},
			"yuki@example.jp": {
				profile: "last_name=﨑山 first_name=由紀 last_name_kana=サキヤマ first_name_kana=ユキ email=yuki@example.jp phone=+81112223333 " +
					"birthday=1992-11-03 gender=other postal_code=060-0001 prefecture=北海道 city=札幌市中央区北一条西 address1=2丁目",
				identities: "email::yuki@example.jp external:ec-cube:15 phone::+81112223333",
				orders: []string{
					"ec-cube/104 refunded own_ec JPY 2024-02-10 23:00:00 total=3000 discount=0 shipping=800 tax=272 points=0 coupon= | 1 SKU-HAND ハンドクリーム 1x2200=2200",
				},
				createdAt: "2024-02-10 22:50",
			},
			"watanabe@example.jp": {
				// A guest: no 会員ID; the prefecture comes from 都道府県(ID) alone.
				profile: "last_name=渡邊 first_name=1太郎 last_name_kana=ワタナベ first_name_kana=タロウ email=watanabe@example.jp phone=+81612345678 " +
					"gender=male postal_code=530-0001 prefecture=大阪府 city=大阪市北区梅田 address1=3-1-1",
				identities: "email::watanabe@example.jp phone::+81612345678",
				orders: []string{
					// 新規受付 without 入金日: not paid yet.
					"ec-cube/102 pending own_ec JPY 2024-01-06 21:15:00 total=3900 discount=500 shipping=0 tax=355 points=0 coupon= | 1 SKU-SERUM 美容液 セラム 1x4400=4400",
				},
				createdAt: "2024-01-06 21:15",
			},
		})
		// Half-width kana typed in a search finds the member by 読み.
		if list, _, _ := db.SearchCustomers(ctx, customer.Query{Q: "ﾀｶﾊｼ"}); len(list) != 1 || list[0].DisplayName != "髙橋 﨑子" {
			t.Fatalf("search ﾀｶﾊｼ = %+v", list)
		}

		rep, _ = importTestdata(t, db, Orders, "eccube_orders.csv", Options{Format: "ec-cube", Encoding: "cp932"})
		if rep.Unchanged != 4 || rep.Inserted+rep.Updated != 0 {
			t.Fatalf("re-import report = %+v", rep)
		}
		storetest.CheckIntegrity(t, db)
	})
}

func TestECCUBETaxRounding(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		price, rate string
		want        string
	}{
		{"1234", "10", "1357"},  // 123.4 → 123
		{"1235", "10", "1359"},  // 123.5 → 124: halves go up
		{"1234", "8", "1333"},   // 98.72 → 99
		{"980.00", "8", "1058"}, // 78.4 → 78
		{"-100", "10", "-110"},
		{"-105", "10", "-116"}, // −10.5 → −11, away from zero as PHP rounds
		{"500", "０", "500"},
		{"500", "", "500"}, // no rate: kept as exported
	} {
		r := &Row{b: &binding{byHeader: map[string]int{normHeader("税率"): 1}}, rec: []string{"", c.rate}}
		for f := range r.b.idx {
			r.b.idx[f] = -1
		}
		r.Set(FUnitPrice, c.price)
		if err := eccubeTaxIncluded(r); err != nil || r.Get(FUnitPrice) != c.want {
			t.Errorf("price %s at %s%% = %s, %v; want %s", c.price, c.rate, r.Get(FUnitPrice), err, c.want)
		}
	}
	r := &Row{b: &binding{byHeader: map[string]int{normHeader("税率"): 0}}, rec: []string{"十"}}
	r.Set(FUnitPrice, "100")
	if err := eccubeTaxIncluded(r); err == nil {
		t.Error("a rate of 十 was accepted")
	}
}

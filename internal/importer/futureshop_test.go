package importer

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestFutureshopOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		rep, printed := importTestdata(t, db, Orders, "futureshop_orders.csv", Options{})
		if rep.Format != "futureshop" || rep.Source != "futureshop" || rep.Encoding != EncShiftJIS {
			t.Fatalf("detected %s/%s/%s", rep.Format, rep.Source, rep.Encoding)
		}
		if rep.Rows != 4 || rep.Records != 3 || rep.Inserted != 2 || rep.RejectedRecords != 1 || rep.RejectedRows != 1 {
			t.Fatalf("report = %+v\n%s", rep, printed)
		}
		checkMessages(t, printed, []string{
			`futureshop_orders.csv:5: status: 入金フラグ "一部入金" is not a value the futureshop preset knows`,
		})
		if s := stats(t, db); s != (store.Stats{Customers: 2, Orders: 2, LineItems: 3, Products: 2}) {
			t.Fatalf("stats = %+v", s)
		}
		checkCustomers(t, db, map[string]wantCustomer{
			"misaki@example.jp": {
				profile: "last_name=中村 first_name=美咲 last_name_kana=ナカムラ first_name_kana=ミサキ email=misaki@example.jp phone=+81521234567 " +
					"postal_code=460-0008 prefecture=愛知県 city=名古屋市中区 address1=栄3-4-5 address2=栄ビル8F",
				identities: "email::misaki@example.jp phone::+81521234567",
				orders: []string{
					// 商品番号 FS-SOAP + 枝番号 01.
					"futureshop/FS-20240105-0001 paid own_ec JPY 2024-01-05 10:00:00 total=5060 discount=0 shipping=660 tax=460 points=0 coupon= | 1 FS-SOAP01 無添加石鹸 2x1100=2200 | 2 FS-CREAM ボディクリーム 1x2200=2200",
				},
				orderCount: 1, totalSpent: 5060,
			},
			"kenji@docomo.example.jp": {
				// Only the mobile e-mail and phone columns are filled; 都道府県区分 is a JIS code.
				profile: "last_name=小川 first_name=健二 last_name_kana=オガワ first_name_kana=ケンジ email=kenji@docomo.example.jp phone=+818011112222 " +
					"postal_code=810-0001 prefecture=福岡県 city=福岡市中央区 address1=天神1-1-1",
				identities: "email::kenji@docomo.example.jp phone::+818011112222",
				orders: []string{
					// discount = 200 on goods + 660 on shipping.
					"futureshop/FS-20240106-0002 pending own_ec JPY 2024-01-06 21:15:00 total=1900 discount=860 shipping=660 tax=200 points=100 coupon= | 1 FS-CREAM ボディクリーム 1x2200=2200",
				},
			},
		})
		storetest.CheckIntegrity(t, db)
	})
}

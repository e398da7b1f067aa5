package importer

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestMakeshopOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		rep, printed := importTestdata(t, db, Orders, "makeshop_orders.csv", Options{})
		if rep.Format != "makeshop" || rep.Source != "makeshop" || rep.Encoding != EncShiftJIS {
			t.Fatalf("detected %s/%s/%s", rep.Format, rep.Source, rep.Encoding)
		}
		if rep.Rows != 7 || rep.Records != 6 || rep.Inserted != 4 || rep.RejectedRecords != 2 || rep.RejectedRows != 2 {
			t.Fatalf("report = %+v\n%s", rep, printed)
		}
		checkMessages(t, printed, []string{
			`makeshop_orders.csv:7: status: 処理状況 "入金待ち" is not a value the makeshop preset knows (known: 未処理, 注文キャンセル, 返送, 配送)`,
			`makeshop_orders.csv:8: ordered_at: "2022/8/15 25:61:99" is not a date and time`,
		})
		if s := stats(t, db); s != (store.Stats{Customers: 2, Orders: 4, LineItems: 5, Products: 2}) {
			t.Fatalf("stats = %+v", s)
		}
		checkCustomers(t, db, map[string]wantCustomer{
			"yamada@example.jp": {
				// 注文者 has no space between 姓 and 名: kept whole.
				profile:    "last_name=山田太郎 last_name_kana=ヤマダタロウ email=yamada@example.jp phone=+81312345678 postal_code=100-0001 prefecture=東京都 address1=千代田区千代田1-1",
				identities: "email::yamada@example.jp phone::+81312345678",
				orders: []string{
					// 日付 2022/8/10 + 注文時間 103309.
					"makeshop/P171323551145213731 paid own_ec JPY 2022-08-10 10:33:09 total=3700 discount=0 shipping=500 tax=0 points=0 coupon= | 1 MS-001 オーガニック石鹸 2x1200=2400 | 2 MS-002 今治ハンドタオル 1x800=800",
					"makeshop/P171323551145213733 cancelled own_ec JPY 2022-08-12 12:00:00 total=1700 discount=0 shipping=500 tax=0 points=0 coupon= | 1 MS-001 オーガニック石鹸 1x1200=1200",
				},
				orderCount: 1, totalSpent: 3700,
			},
			"sato@example.jp": {
				profile:    "last_name=佐藤 first_name=花子 last_name_kana=サトウ first_name_kana=ハナコ email=sato@example.jp phone=+819087654321 postal_code=980-0811 prefecture=宮城県 address1=仙台市青葉区一番町1-1",
				identities: "email::sato@example.jp phone::+819087654321",
				orders: []string{
					"makeshop/P171323551145213732 pending own_ec JPY 2022-08-11 09:33:09 total=1700 discount=0 shipping=500 tax=0 points=0 coupon= | 1 MS-001 オーガニック石鹸 1x1200=1200",
					"makeshop/P171323551145213734 refunded own_ec JPY 2022-08-13 08:00:00 total=1300 discount=0 shipping=500 tax=0 points=0 coupon= | 1 MS-002 今治ハンドタオル 1x800=800",
				},
			},
		})
		storetest.CheckIntegrity(t, db)
	})
}

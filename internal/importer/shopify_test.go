package importer

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestShopifyOrdersExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		rep, printed := importTestdata(t, db, Orders, "shopify_orders.csv", Options{Format: "auto"})
		if rep.Format != "shopify" || rep.Source != "shopify" || rep.Encoding != EncUTF8 {
			t.Fatalf("detected %s/%s/%s, want shopify/shopify/utf-8", rep.Format, rep.Source, rep.Encoding)
		}
		if rep.Rows != 10 || rep.Records != 7 || rep.Inserted != 5 || rep.RejectedRecords != 2 || rep.RejectedRows != 3 || rep.NewCustomers != 3 {
			t.Fatalf("report = %+v", rep)
		}
		checkMessages(t, printed, []string{
			`shopify_orders.csv:9: status: Financial Status "chargeback" is not a value the shopify preset knows (known: authorized, expired, paid,`,
			"shopify_orders.csv:10: order #1006 rejected whole: line 9 is bad",
			`shopify_orders.csv:11: prefecture: "Tokio" is not a Japanese prefecture`,
		})
		if s := stats(t, db); s != (store.Stats{Customers: 3, Orders: 5, LineItems: 7, Products: 4}) {
			t.Fatalf("stats = %+v", s)
		}
		checkCustomers(t, db, map[string]wantCustomer{
			"taro@example.jp": {
				profile:    "last_name=山田 first_name=太郎 email=taro@example.jp phone=+819012345678 postal_code=100-0005 prefecture=東京都 city=千代田区 address1=丸の内1-1-1 address2=丸の内ビル5F",
				identities: "email::taro@example.jp phone::+819012345678",
				consents:   "email=yes@2024-01-05 10:00/shopify",
				orders: []string{
					"shopify/#1001 paid own_ec JPY 2024-01-05 10:00:00 total=7600 discount=500 shipping=600 tax=690 points=0 coupon=WELCOME500 | 1 SKU-TONER 薬用化粧水 150ml 2x3000=6000 | 2 SKU-MILK 保湿乳液 120ml 1x1500=1500",
					"shopify/#1003 cancelled own_ec JPY 2024-02-01 08:30:00 total=3000 discount=0 shipping=0 tax=272 points=0 coupon= | 1 SKU-TONER 薬用化粧水 150ml 1x3000=3000",
				},
				orderCount: 1, totalSpent: 7600,
			},
			"hanako@example.jp": {
				profile:    "last_name=佐藤 first_name=花子 email=hanako@example.jp phone=+819022223333 postal_code=530-0001 prefecture=大阪府 city=大阪市北区 address1=梅田3-1-1",
				identities: "email::hanako@example.jp phone::+819022223333",
				consents:   "email=no@2024-01-06 21:15/shopify",
				orders: []string{
					// Partially refunded: counted for what was kept (5,500 − 1,500).
					"shopify/#1002 paid own_ec JPY 2024-01-06 21:15:00 total=4000 discount=0 shipping=0 tax=500 points=0 coupon= | 1 SKU-SERUM 美容液 30ml 1x4000=4000 | 2 SKU-MILK 保湿乳液 120ml 1x1500=1500",
					"shopify/#1005 pending pos JPY 2024-03-01 14:00:00 total=1500 discount=0 shipping=0 tax=136 points=0 coupon= | 1 SKU-MILK 保湿乳液 120ml 1x1500=1500",
				},
				orderCount: 1, totalSpent: 4000,
			},
			"john@example.com": {
				// Abroad: Kentucky is not a 都道府県, 40202 not a 〒.
				profile:    "last_name=Smith first_name=John email=john@example.com phone=+15025550100 city=Louisville address1=123 Main St",
				identities: "email::john@example.com phone::+15025550100",
				consents:   "email=yes@2024-02-10 23:00/shopify",
				orders: []string{
					"shopify/#1004 paid own_ec JPY 2024-02-10 23:00:00 total=14000 discount=0 shipping=2000 tax=0 points=0 coupon= | 1 SKU-GIFT ギフトセット 1x12000=12000",
				},
				orderCount: 1, totalSpent: 14000,
			},
		})

		rep, printed = importTestdata(t, db, Orders, "shopify_orders.csv", Options{Format: "shopify"})
		if rep.Unchanged != 5 || rep.Inserted+rep.Updated != 0 || rep.NewCustomers != 0 || rep.RejectedRows != 3 {
			t.Fatalf("re-import report = %+v\n%s", rep, printed)
		}
		storetest.CheckIntegrity(t, db)
	})
}

func TestShopifyCustomersExports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		// The current export (Customer ID, Default Address …) also carries
		// a customer_id-like header, so detection must still pick Shopify.
		rep, printed := importTestdata(t, db, Customers, "shopify_customers.csv", Options{})
		if rep.Format != "shopify" || rep.Inserted != 3 || rep.RejectedRows != 1 {
			t.Fatalf("report = %+v\n%s", rep, printed)
		}
		checkMessages(t, printed, []string{`shopify_customers.csv:5: email_opt_in: "maybe" is not yes or no`})
		// The older export: no Customer ID, Accepts Marketing, Province by name.
		rep, printed = importTestdata(t, db, Customers, "shopify_customers_legacy.csv", Options{})
		if rep.Format != "shopify" || rep.Inserted != 1 || rep.Updated != 1 || rep.RejectedRows != 0 {
			t.Fatalf("legacy report = %+v\n%s", rep, printed)
		}
		now := "2026-04-01 12:00"
		checkCustomers(t, db, map[string]wantCustomer{
			"taro@example.jp": {
				profile:    "last_name=山田 first_name=太郎 email=taro@example.jp phone=+819012345678 postal_code=100-0005 prefecture=東京都 city=千代田区 address1=丸の内1-1-1 address2=丸の内ビル5F",
				identities: "email::taro@example.jp external:shopify:7012345678901 phone::+819012345678",
				consents:   "email=yes@" + now + "/shopify sms=no@" + now + "/shopify",
				tags:       "VIP,定期便",
			},
			"hanako@example.jp": {
				profile:    "last_name=佐藤 first_name=花子 email=hanako@example.jp phone=+819022223333 postal_code=530-0001 prefecture=大阪府 city=大阪市北区 address1=梅田3-1-1",
				identities: "email::hanako@example.jp external:shopify:7012345678902 phone::+819022223333",
				// The legacy file, imported later, says yes to e-mail.
				consents: "email=yes@" + now + "/shopify sms=yes@" + now + "/shopify",
				tags:     "リピーター",
			},
			"john@example.com": {
				profile:    "last_name=Smith first_name=John email=john@example.com city=Louisville address1=123 Main St",
				identities: "email::john@example.com external:shopify:7012345678903",
				consents:   "email=yes@" + now + "/shopify sms=no@" + now + "/shopify",
			},
			"goro@example.jp": {
				profile:    "last_name=伊藤 first_name=五郎 email=goro@example.jp postal_code=460-0008 prefecture=愛知県 city=名古屋市中区 address1=栄1-1",
				identities: "email::goro@example.jp",
				consents:   "email=no@" + now + "/shopify",
			},
		})
		storetest.CheckIntegrity(t, db)
	})
}

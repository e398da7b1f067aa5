package importer

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
	"github.com/enishi-crm/enishi/internal/subscription"
)

const subsHeader = "subscription_id,customer_id,email,sku,product_name,plan,cycle,price,status,started_at,next_delivery_at,deliveries,skips,cancelled_at,cancel_reason\n"

func TestImportSubscriptionsCanonicalCSV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		content := subsHeader +
			"S1,C1,a@example.jp,SP-001,乳酸菌サプリ,定期便,30日,\"3,240\",active,2026-01-05,2026-04-05,3,1,,\n" +
			"S2,C2,b@example.jp,SK-005,ジェル,定期便,1 month,3762,cancelled,2026-01-10,,1,0,2026-02-01,価格が高い\n" +
			"S3,C3,c@example.jp,SP-001,乳酸菌サプリ,定期便,sometimes,3240,active,2026-01-05,,1,0,,\n" +
			"S4,,,SP-001,乳酸菌サプリ,定期便,30日,3240,active,2026-01-05,,1,0,,\n" +
			"S5,C5,e@example.jp,SP-001,乳酸菌サプリ,定期便,30日,3240,active,,,1,0,,\n" +
			"S6,C6,f@example.jp,SP-001,乳酸菌サプリ,定期便,30日,3240,active,2026-01-05,,x,0,,\n"
		rep, err, errPath := importFile(t, db, Subscriptions, "subs.csv", content, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Records != 6 || rep.Inserted != 2 || rep.RejectedRows != 4 || rep.NewCustomers != 2 {
			t.Fatalf("report = %+v", rep)
		}
		errs, _ := os.ReadFile(errPath)
		for _, want := range []string{"is not a delivery cycle", "a subscription needs a customer_id", "started_at: required", "is not a count"} {
			if !strings.Contains(string(errs), want) {
				t.Errorf("errors file lacks %q:\n%s", want, errs)
			}
		}
		list, n, err := db.ListSubscriptions(ctx, store.SubscriptionQuery{})
		if err != nil || n != 2 {
			t.Fatalf("%d contracts (%v)", n, err)
		}
		var s1, s2 subscription.Contract
		for _, c := range list {
			switch c.ExternalID {
			case "S1":
				s1 = c
			case "S2":
				s2 = c
			}
		}
		if s1.Price != 3240 || s1.Cycle != (subscription.Cycle{Unit: subscription.Days, Count: 30}) || s1.Deliveries != 3 || s1.Skips != 1 || s1.Source != "enishi" ||
			s1.NextDeliveryAt == nil || !s1.NextDeliveryAt.Equal(time.Date(2026, 4, 5, 0, 0, 0, 0, clock.Tokyo)) {
			t.Errorf("S1 = %+v", s1)
		}
		if s2.Status != subscription.Cancelled || s2.CancelReason != "価格が高い" || s2.CancelledAt == nil {
			t.Errorf("S2 = %+v", s2)
		}
		// The same file again: nothing changes.
		rep, err, _ = importFile(t, db, Subscriptions, "subs.csv", content, Options{})
		if err != nil || rep.Unchanged != 2 || rep.Inserted+rep.Updated != 0 {
			t.Fatalf("again: %+v %v", rep, err)
		}
	})
}

func TestImportSubscriptionsCartExportWithMap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		m, err := LoadMapping("testdata/cart_subscriptions.map.yaml", Subscriptions)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile("testdata/cart_subscriptions_sjis.csv")
		if err != nil {
			t.Fatal(err)
		}
		rep, err, errPath := importFile(t, db, Subscriptions, "teiki.csv", string(raw), Options{Mapping: m, Source: "ecforce"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Encoding != EncShiftJIS && rep.Encoding != "cp932" {
			t.Errorf("encoding %s", rep.Encoding)
		}
		if rep.Inserted != 3 || rep.RejectedRows != 1 {
			b, _ := os.ReadFile(errPath)
			t.Fatalf("report = %+v\n%s", rep, b)
		}
		list, _, err := db.ListSubscriptions(ctx, store.SubscriptionQuery{Status: "paused"})
		if err != nil || len(list) != 1 || list[0].ExternalID != "SUB-0003" || list[0].Quantity != 2 || list[0].Source != "ecforce" {
			t.Fatalf("paused = %+v %v", list, err)
		}
		rr, err := db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByPlan})
		if err != nil {
			t.Fatal(err)
		}
		if rr.Total.Subscriptions != 3 || rr.Total.Reached[1] != 3 || rr.Total.Reached[2] != 1 || len(rr.Groups) != 2 {
			t.Errorf("retention = %+v", rr.Total)
		}
	})
}

func TestImportOrdersLinksSubscriptionDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		content := "order_id,email,ordered_at,total,sku,product_name,quantity,unit_price,subscription_id,delivery_number\n" +
			"O1,a@example.jp,2026-01-05,3240,SP-001,乳酸菌サプリ,1,3240,S1,1\n" +
			"O2,a@example.jp,2026-02-05,3240,SP-001,乳酸菌サプリ,1,3240,S1,2\n" +
			"O3,a@example.jp,2026-03-05,3240,SP-001,乳酸菌サプリ,1,3240,S1,two\n"
		rep, err, _ := importFile(t, db, Orders, "orders.csv", content, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Inserted != 2 || rep.RejectedRows != 1 {
			t.Fatalf("report = %+v", rep)
		}
		list, _, err := db.ListSubscriptions(ctx, store.SubscriptionQuery{})
		if err != nil || len(list) != 1 || list[0].Deliveries != 2 || !list[0].Inferred {
			t.Fatalf("contracts = %+v %v", list, err)
		}
	})
}

func TestImportReviewsCSV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		db := open(t, clock.NewManual(storetest.T0, true))
		content := "review_id,email,sku,product_name,rating,title,body,reviewer_name,reviewed_at\n" +
			"R1,a@example.jp,SP-001,乳酸菌サプリ,5,最高,お腹の調子が良いです,はなこ,2026-03-01\n" +
			"R2,,SP-001,乳酸菌サプリ,★★★☆☆,普通,まあまあ,匿名,2026-03-02\n" +
			"R3,b@example.jp,SK-005,ジェル,7,?,?,?,2026-03-03\n" +
			",c@example.jp,SK-005,ジェル,4.0,良い,しっとり,,2026-03-04\n"
		rep, err, _ := importFile(t, db, Reviews, "reviews.csv", content, Options{Source: "yotpo"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Inserted != 3 || rep.RejectedRows != 1 || rep.NewCustomers != 2 {
			t.Fatalf("report = %+v", rep)
		}
		rr, err := db.ReviewRatings(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if rr.Reviews != 3 || len(rr.Products) != 2 || rr.Products[0].SKU != "SK-005" || rr.Products[1].Average != 4 || rr.Products[1].Distribution != [5]int64{0, 0, 1, 0, 1} {
			t.Fatalf("ratings = %+v", rr)
		}
		rep, err, _ = importFile(t, db, Reviews, "reviews.csv", content, Options{Source: "yotpo"})
		if err != nil || rep.Unchanged != 3 || rep.Inserted != 0 {
			t.Fatalf("again: %+v %v", rep, err)
		}
	})
}

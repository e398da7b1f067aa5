package storetest

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

// uiCases cover what the web UI asks of the store beyond the core: list
// filters and the record of imports.
func uiCases() []Case {
	return []Case{
		{"SearchFiltersByPrefectureTagAndBuyers", testSearchFilters},
		{"ImportRunsListNewestFirst", testImportRuns},
	}
}

func testSearchFilters(t *testing.T, db *store.DB, _ *clock.Manual) {
	a := Buyer(t, "s", "1", "a@example.jp", "")
	a.Profile.Prefecture = "東京都"
	a.Tags = []string{"vip"}
	b := Buyer(t, "s", "2", "b@example.jp", "")
	b.Profile.Prefecture = "大阪府"
	c := Buyer(t, "s", "3", "c@example.jp", "")
	c.Profile.Prefecture = "東京都"
	res := must[store.BatchResult](t)(db.ImportCustomers(ctx, []customer.Record{a, b, c}))
	o := order.Order{Source: "s", ExternalID: "o1", OrderedAt: T0, Status: order.Paid, Total: 1000, Buyer: c,
		Lines: []order.Line{{LineNo: 1, SKU: "X", Quantity: 1, UnitPrice: 1000, Amount: 1000}}}
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{o}))
	cases := []struct {
		q    customer.Query
		want []int64
	}{
		{customer.Query{Prefecture: "東京都"}, []int64{res.CustomerIDs[2], res.CustomerIDs[0]}},
		{customer.Query{Tag: "vip"}, []int64{res.CustomerIDs[0]}},
		{customer.Query{Buyers: customer.OnlyBuyers}, []int64{res.CustomerIDs[2]}},
		{customer.Query{Buyers: customer.OnlyProspects, Prefecture: "東京都"}, []int64{res.CustomerIDs[0]}},
		{customer.Query{Q: "example.jp", Prefecture: "大阪府"}, []int64{res.CustomerIDs[1]}},
		{customer.Query{Tag: "none"}, nil},
	}
	for _, tc := range cases {
		got, total, err := db.SearchCustomers(ctx, tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		var ids []int64
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		if total != len(tc.want) || len(ids) != len(tc.want) {
			t.Errorf("%+v: ids %v total %d, want %v", tc.q, ids, total, tc.want)
			continue
		}
		for i := range ids {
			if ids[i] != tc.want[i] {
				t.Errorf("%+v: ids %v, want %v", tc.q, ids, tc.want)
			}
		}
	}
	// Walking the list by id, without counting, as exports do.
	var walked []int64
	q := customer.Query{Limit: 2, NoTotal: true}
	for {
		page, total, err := db.SearchCustomers(ctx, q)
		if err != nil || total != -1 {
			t.Fatalf("walk: total %d err %v", total, err)
		}
		for _, s := range page {
			walked = append(walked, s.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.BeforeID = page[len(page)-1].ID
	}
	if want := []int64{res.CustomerIDs[2], res.CustomerIDs[1], res.CustomerIDs[0]}; len(walked) != 3 || walked[0] != want[0] || walked[1] != want[1] || walked[2] != want[2] {
		t.Errorf("walk = %v, want %v", walked, want)
	}
	if _, _, err := db.SearchCustomers(ctx, customer.Query{Buyers: "everyone"}); err == nil {
		t.Error("an unknown buyers filter was accepted")
	}
}

func testImportRuns(t *testing.T, db *store.DB, c *clock.Manual) {
	if runs, err := db.ImportRuns(ctx, 10); err != nil || len(runs) != 0 {
		t.Fatalf("empty: %v %v", runs, err)
	}
	first := must[int64](t)(db.StartImportRun(ctx, store.ImportRun{Kind: "orders", Format: "auto", FileName: "a.csv", Actor: "ui:x@example.com"}))
	c.Advance(1000)
	if err := db.FinishImportRun(ctx, store.ImportRun{ID: first, Status: "partial", RowsRead: 10, Imported: 8, Rejected: 2}); err != nil {
		t.Fatal(err)
	}
	second := must[int64](t)(db.StartImportRun(ctx, store.ImportRun{Kind: "customers", Format: "shopify", FileName: "b.csv"}))
	runs, err := db.ImportRuns(ctx, 10)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs %v err %v", runs, err)
	}
	if runs[0].ID != second || runs[0].Status != "running" || !runs[0].FinishedAt.IsZero() {
		t.Errorf("newest = %+v", runs[0])
	}
	r := runs[1]
	if r.ID != first || r.Status != "partial" || r.RowsRead != 10 || r.Imported != 8 || r.Rejected != 2 || r.FileName != "a.csv" ||
		r.Actor != "ui:x@example.com" || !r.StartedAt.Equal(T0) || r.FinishedAt.IsZero() {
		t.Errorf("older = %+v", r)
	}
}

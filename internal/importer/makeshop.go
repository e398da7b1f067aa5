package importer

import "github.com/enishi-crm/enishi/internal/order"

// makeshop 注文データ (Shift_JIS). makeshop builds its order CSV from a
// template the shop edits (注文出力用テンプレート), and no complete column
// list is public. What is documented and read here: 日付 (2022/8/10) and
// 注文時間 (hhmmss, 103309) together give ordered_at, 注文番号 (P…) is the
// order id, 処理状況 the status, 注文者 and 注文者(振り仮名) the buyer's
// name. The other columns are assumed under their usual Japanese names,
// with aliases (see the Columns below and docs/formats.md); a template that
// names them differently needs --map.
//
// 注文者 is written without a space between 姓 and 名 (山田太郎), so the
// whole name is kept as the family name unless the shop's template
// separates it with a space.
func init() {
	register(&Format{
		Name:     "makeshop",
		Title:    "makeshop 注文データ (partial: documented columns, others by usual names)",
		Encoding: EncShiftJIS,
		Layouts: map[Kind]*Layout{
			Orders: {
				Columns: map[Field][]string{
					FOrderID:     {"注文番号"},
					FOrderedAt:   {"日付", "注文日"}, // joined with 注文時間 in the Transform
					FName:        {"注文者", "注文者名", "注文者氏名"},
					FNameKana:    {"注文者(振り仮名)", "注文者(フリガナ)", "注文者フリガナ"},
					FCustomerID:  {"会員ID"},
					FEmail:       {"注文者メールアドレス", "メールアドレス", "E-mail", "Eメール"},
					FPhone:       {"注文者電話番号", "電話番号", "注文者TEL", "TEL"},
					FPostalCode:  {"注文者郵便番号", "郵便番号"},
					FPrefecture:  {"注文者都道府県", "都道府県"},
					FAddress1:    {"注文者住所", "住所"},
					FSKU:         {"独自商品コード", "商品コード", "商品番号"},
					FProductName: {"商品名"},
					FQuantity:    {"数量", "個数", "注文数"},
					FUnitPrice:   {"販売価格", "単価", "商品価格", "価格"},
					FTotal:       {"合計金額", "総合計金額", "注文合計", "決済金額", "請求金額"},
					FShipping:    {"送料"},
					FDiscount:    {"値引き", "割引金額", "クーポン割引額"},
					FPointsUsed:  {"使用ポイント", "ポイント利用額", "利用ポイント"},
				},
				Signature: []string{"注文番号", "処理状況"},
				Channel:   order.ChannelOwnEC,
				Source:    "makeshop",
				Transform: makeshopOrderRow,
			},
		},
	})
}

// makeshopStatuses are the 処理状況 values the makeshop manual shows. 未処理
// is an order the shop has not handled yet, paid or not, so it is pending
// until a later export says 配送; 返送 is a parcel that came back.
var makeshopStatuses = newCodeTable("status", "makeshop", map[string]string{
	"配送":      string(order.Paid),
	"未処理":     string(order.Pending),
	"注文キャンセル": string(order.Cancelled),
	"返送":      string(order.Refunded),
})

func makeshopOrderRow(r *Row) error {
	if t := r.Col("注文時間"); t != "" {
		r.Set(FOrderedAt, joinDateTime(r.Get(FOrderedAt), t))
	}
	if v := r.Col("処理状況"); v != "" {
		st, err := makeshopStatuses.lookup("処理状況", v)
		r.Set(FStatus, st)
		return err
	}
	return nil
}

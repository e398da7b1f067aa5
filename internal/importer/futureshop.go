package importer

import (
	"errors"
	"strconv"

	"github.com/enishi-crm/enishi/internal/order"
)

// futureshop 受注データ (Shift_JIS). The shop picks the columns in
// 受注データ取得項目設定, and no full definition is public; this preset
// reads the columns Next Engine's futureshop import guide lists (numbered
// there 1–61), one row per item with the order's columns repeated:
//
//	1 受注コード → order_id            2 注文日時 → ordered_at
//	3 請求合計金額 → total             5 消費税合計 → tax
//	7 送料 → shipping                  16 入金フラグ → status
//	18 氏名(姓) → last_name            23/24 メールアドレス(サブ/モバイル)
//	25 郵便番号, 26 都道府県区分, 27–29 住所1–3 → city, address1, address2
//	30 電話番号(メイン), 31 電話番号(サブ), 32 携帯電話番号 → phone
//	48 商品番号 + 49 枝番号 → sku       50 商品名, 55 販売単価, 56 購入数量
//	58 ポイント利用額 → points_used
//	60 割引合計金額(商品) + 61 割引合計金額(送料) → discount
//
// Columns 19–22 are not in the guide's excerpt; they are assumed to be
// 氏名(名), フリガナ(姓), フリガナ(名) and メールアドレス(メイン), by
// analogy with the お届け先 columns. Other layouts (頑張れ♪店長!,
// マイティ通信販売) need --map.
func init() {
	register(&Format{
		Name:     "futureshop",
		Title:    "futureshop 受注データ (Next Engine column set)",
		Encoding: EncShiftJIS,
		Layouts: map[Kind]*Layout{
			Orders: {
				Columns: map[Field][]string{
					FOrderID:       {"受注コード"},
					FOrderedAt:     {"注文日時"},
					FTotal:         {"請求合計金額"},
					FTax:           {"消費税合計"},
					FShipping:      {"送料"},
					FLastName:      {"氏名(姓)"},
					FFirstName:     {"氏名(名)"},
					FLastNameKana:  {"フリガナ(姓)"},
					FFirstNameKana: {"フリガナ(名)"},
					FEmail:         {"メールアドレス(メイン)", "メールアドレス"},
					FPostalCode:    {"郵便番号"},
					FPrefecture:    {"都道府県区分", "都道府県"},
					FCity:          {"住所1"},
					FAddress1:      {"住所2"},
					FAddress2:      {"住所3"},
					FPhone:         {"電話番号(メイン)", "電話番号"},
					FSKU:           {"商品番号"},
					FProductName:   {"商品名"},
					FUnitPrice:     {"販売単価"},
					FQuantity:      {"購入数量"},
					FPointsUsed:    {"ポイント利用額"},
					FDiscount:      {"割引合計金額(商品)"}, // plus 割引合計金額(送料), in the Transform
				},
				Signature: []string{"受注コード", "請求合計金額"},
				Channel:   order.ChannelOwnEC,
				Source:    "futureshop",
				Transform: futureshopOrderRow,
			},
		},
	})
}

// futureshopPaid reads 入金フラグ. Its values are not documented; these are
// the ways Japanese systems write such a flag. Unpaid orders are pending.
var futureshopPaid = newCodeTable("status", "futureshop", map[string]string{
	"1": string(order.Paid), "済": string(order.Paid), "入金済": string(order.Paid), "入金済み": string(order.Paid), "あり": string(order.Paid),
	"0": string(order.Pending), "未": string(order.Pending), "未入金": string(order.Pending), "なし": string(order.Pending),
})

func futureshopOrderRow(r *Row) error {
	var problems []error
	if r.Get(FEmail) == "" {
		r.Set(FEmail, firstCol(r, "メールアドレス(サブ)", "メールアドレス(モバイル)"))
	}
	if r.Get(FPhone) == "" {
		r.Set(FPhone, firstCol(r, "携帯電話番号", "電話番号(サブ)"))
	}
	if sku, branch := r.Get(FSKU), r.Col("枝番号"); sku != "" && branch != "" {
		r.Set(FSKU, sku+branch)
	}
	if r.HasCol("割引合計金額(送料)") {
		items, err1 := yenOf(r, FDiscount, "割引合計金額(商品)")
		shipping, err2 := yenOf(r, FDiscount, "割引合計金額(送料)")
		if err := errors.Join(err1, err2); err != nil {
			problems = append(problems, err)
			r.Set(FDiscount, "") // reported once, here
		} else if r.Col("割引合計金額(商品)") != "" || r.Col("割引合計金額(送料)") != "" {
			r.Set(FDiscount, strconv.FormatInt(abs(items)+abs(shipping), 10))
		}
	}
	if v := r.Col("入金フラグ"); v != "" {
		st, err := futureshopPaid.lookup("入金フラグ", v)
		if err != nil {
			problems = append(problems, err)
		}
		r.Set(FStatus, st)
	}
	return errors.Join(problems...)
}

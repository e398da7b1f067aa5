package importer

import (
	"errors"
	"strings"
	"unicode"

	"github.com/enishi-crm/enishi/internal/order"
)

// 楽天 RMS 受注データ (Shift_JIS): one row per item, every row repeating
// the order's columns. Both header generations are read: the 受注データ
// download of the older RMS (受注番号, 受注ステータス, 注文者郵便番号１,
// 請求金額(-99999=無効値) …) and the 楽天ペイ受注 layout (注文番号,
// ステータス, 注文者姓 …).
//
// Amounts: total is 請求金額, what the buyer was charged after points and
// coupons (合計金額 when there is no 請求金額); points_used is
// ポイント利用額 and discount the coupons (クーポン利用総額). RMS writes
// -99999 for an amount it has no value for; such cells count as empty.
// 単価 is read as exported (税込 since 総額表示 became mandatory in 2021;
// older 税別 rows, 税込別 = 1, are not converted).
//
// The buyer's e-mail is a relay address (…@pc.fw.rakuten.ne.jp) that the
// identity rules treat as weak, so a buyer is recognised across orders by
// phone number.
func init() {
	register(&Format{
		Name:     "rakuten",
		Title:    "楽天 RMS 受注データ",
		Encoding: EncShiftJIS,
		Layouts: map[Kind]*Layout{
			Orders: {
				Columns: map[Field][]string{
					FOrderID:       {"注文番号", "受注番号"},
					FOrderedAt:     {"注文日時", "注文日"}, // 注文日 is joined with 注文時間 in the Transform
					FPostalCode:    {"注文者郵便番号"},     // usually split in two: joined in the Transform
					FPrefecture:    {"注文者住所：都道府県"},
					FCity:          {"注文者住所：都市区", "注文者住所：郡市区"},
					FAddress1:      {"注文者住所：町以降", "注文者住所：それ以降の住所"},
					FLastName:      {"注文者名字", "注文者姓"},
					FFirstName:     {"注文者名前", "注文者名"},
					FLastNameKana:  {"注文者名字フリガナ", "注文者姓フリガナ", "注文者姓カナ"},
					FFirstNameKana: {"注文者名前フリガナ", "注文者名フリガナ", "注文者名カナ"},
					FPhone:         {"注文者電話番号"}, // usually split in three: joined in the Transform
					FEmail:         {"メールアドレス", "注文者メールアドレス"},
					FGender:        {"注文者性別"},
					FBirthday:      {"注文者誕生日"},
					FTotal:         {"請求金額", "請求金額(-99999=無効値)", "合計金額", "合計金額(-99999=無効値)"},
					FShipping:      {"送料合計", "送料", "送料(-99999=無効値)"},
					FTax:           {"消費税合計", "消費税", "消費税(-99999=無効値)"},
					FPointsUsed:    {"ポイント利用額"},
					FDiscount:      {"クーポン利用総額", "クーポン利用額"},
					FSKU:           {"商品番号", "商品管理番号"}, // 商品ID when both are empty
					FProductName:   {"商品名"},
					FQuantity:      {"個数"},
					FUnitPrice:     {"単価"},
				},
				Signature: []string{"注文者郵便番号1"},
				Channel:   order.ChannelRakuten,
				Source:    "rakuten",
				Transform: rakutenOrderRow,
			},
		},
	})
}

// rakutenStatuses covers the 楽天ペイ受注 statuses (by name and by their
// API codes 100–900) and the older RMS 受注ステータス. An order counts once
// the shop has confirmed it (発送待ち and after); before that, or while
// payment is awaited, it is pending, like EC-CUBE's unpaid 新規受付.
var rakutenStatuses = newCodeTable("status", "rakuten", map[string]string{
	"注文確認待ち": string(order.Pending), "100": string(order.Pending),
	"楽天処理中": string(order.Pending), "200": string(order.Pending),
	"発送待ち": string(order.Paid), "300": string(order.Paid),
	"変更確定待ち": string(order.Paid), "400": string(order.Paid),
	"発送済": string(order.Paid), "発送済み": string(order.Paid), "500": string(order.Paid),
	"支払手続き中": string(order.Paid), "600": string(order.Paid),
	"支払手続き済": string(order.Paid), "700": string(order.Paid),
	"キャンセル確定待ち": string(order.Cancelled), "800": string(order.Cancelled),
	"キャンセル確定": string(order.Cancelled), "900": string(order.Cancelled),
	"新規受付":    string(order.Pending),
	"発送前入金待ち": string(order.Pending),
	"保留":      string(order.Pending),
	"決済申請中":   string(order.Pending),
	"処理中":     string(order.Paid),
	"発送後入金待ち": string(order.Paid),
	"処理済":     string(order.Paid),
	"キャンセル":   string(order.Cancelled),
	"返品":      string(order.Refunded),
})

// rakutenInvalid is what RMS writes for an amount it has no value for.
const rakutenInvalid = "-99999"

func rakutenOrderRow(r *Row) error {
	var problems []error
	if t := r.Col("注文時間"); t != "" && r.Col("注文日時") == "" {
		r.Set(FOrderedAt, joinDateTime(r.Col("注文日"), t))
	}
	if r.Get(FPostalCode) == "" {
		a, b := r.Col("注文者郵便番号1"), r.Col("注文者郵便番号2")
		if a != "" || b != "" {
			r.Set(FPostalCode, a+"-"+b)
		}
	}
	if r.Get(FPhone) == "" {
		var parts []string
		for _, c := range []string{"注文者電話番号1", "注文者電話番号2", "注文者電話番号3"} {
			if v := r.Col(c); v != "" {
				parts = append(parts, v)
			}
		}
		r.Set(FPhone, strings.Join(parts, "-"))
	}
	// RMS writes 誕生日 as "-年-月-日" and 性別 as "-" when the buyer gave none.
	if v := r.Get(FBirthday); v != "" && !strings.ContainsFunc(v, unicode.IsDigit) {
		r.Set(FBirthday, "")
	}
	if v := r.Get(FGender); v != "" && !strings.ContainsFunc(v, unicode.IsLetter) {
		r.Set(FGender, "")
	}
	for _, f := range []Field{FTotal, FShipping, FTax, FPointsUsed, FDiscount} {
		if r.Get(f) == rakutenInvalid {
			r.Set(f, "")
		}
	}
	if r.Get(FSKU) == "" && r.Get(FProductName) != "" {
		r.Set(FSKU, r.Col("商品ID"))
	}
	if v := firstCol(r, "ステータス", "受注ステータス"); v != "" {
		st, err := rakutenStatuses.lookup("ステータス", v)
		if err != nil {
			problems = append(problems, err)
		}
		r.Set(FStatus, st)
	}
	return errors.Join(problems...)
}

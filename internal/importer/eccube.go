package importer

import (
	"errors"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/order"
)

// EC-CUBE 4 exports (受注管理 > CSVダウンロード, 会員管理 > CSVダウンロード),
// written in SJIS-win (CP932) by default. Headers are the 表示名 of
// dtb_csv; the shop can turn columns off, so only the ones a field needs
// are looked for. Codes are read by their master ids (mtb_order_status,
// mtb_sex, mtb_pref, mtb_order_item_type) when the (ID) column is there,
// since shops rename the (名称) labels.
//
// Orders: the 受注CSV and 配送CSV have one row per 受注明細, and every row
// repeats the order's columns. Only 商品 rows become order lines. The other
// 明細区分 are order-level amounts EC-CUBE already sums into the order's
// columns (送料 into 送料, 割引 into 値引き, 税 into 税金, 手数料 into the
// total), except ポイント, which becomes points_used.
//
// Amounts: 合計/支払合計, 送料 and 値引き are tax-inclusive, as EC-CUBE
// computes them. 価格 is the tax-exclusive unit price, so a line's
// unit_price is 価格 plus its tax at 税率, rounded half up per unit (the
// 四捨五入 EC-CUBE installs by default); without a 税率 column 価格 is
// kept as it is.
func init() {
	person := map[Field][]string{
		FCustomerID:    {"会員ID"},
		FLastName:      {"お名前(姓)"},
		FFirstName:     {"お名前(名)"},
		FLastNameKana:  {"お名前(セイ)"},
		FFirstNameKana: {"お名前(メイ)"},
		FPostalCode:    {"郵便番号"},
		FPrefecture:    {"都道府県(名称)", "都道府県(ID)"},
		FCity:          {"住所1"}, // addr01: 市区町村名
		FAddress1:      {"住所2"}, // addr02: 番地・ビル名
		FEmail:         {"メールアドレス"},
		FPhone:         {"TEL", "電話番号"},
		FGender:        {"性別(名称)"},
		FBirthday:      {"誕生日"},
	}
	register(&Format{
		Name:     "ec-cube",
		Title:    "EC-CUBE 4 CSV export",
		Encoding: EncCP932,
		Layouts: map[Kind]*Layout{
			Orders: {
				Columns: with(person, map[Field][]string{
					FOrderID:     {"注文番号", "注文ID"},
					FOrderedAt:   {"受注日"},
					FTotal:       {"支払合計", "合計"},
					FDiscount:    {"値引き"},
					FShipping:    {"送料"}, // the order's delivery_fee_total comes before the shipment's 送料
					FTax:         {"税金"},
					FSKU:         {"商品コード"},
					FProductName: {"商品名"},
					FQuantity:    {"個数"},
					FUnitPrice:   {"価格"},
				}),
				Signature: []string{"受注日", "お名前(姓)"},
				Channel:   order.ChannelOwnEC,
				Source:    "ec-cube",
				Transform: eccubeOrderRow,
				SkipRow:   eccubeUnfinishedCheckout,
			},
			Customers: {
				Columns:   with(person, map[Field][]string{FCustomerCreatedAt: {"登録日"}}),
				Signature: []string{"会員ID", "お名前(姓)"},
				Source:    "ec-cube",
				Transform: eccubePerson,
				SkipRow:   eccubeWithdrawn,
			},
		},
	})
}

// eccubeNewOrder stands for 新規受付, which is paid or not depending on 入金日.
const eccubeNewOrder = "新規受付"

// eccubeStatusIDs and eccubeStatusNames follow mtb_order_status. 新規受付
// is an order just placed: paid when EC-CUBE recorded a 入金日 (a card
// payment captured at checkout), pending otherwise (振込・代引き not yet
// received). 対応中 and 発送済み are orders the shop is fulfilling or has
// shipped, so they count, 代引き included. 決済処理中 and 購入処理中 never
// completed payment.
var (
	eccubeStatusIDs = newCodeTable("status", "ec-cube", map[string]string{
		"1": eccubeNewOrder, "3": string(order.Cancelled), "4": string(order.Paid), "5": string(order.Paid),
		"6": string(order.Paid), "7": string(order.Pending), "8": string(order.Pending), "9": string(order.Refunded),
	})
	eccubeStatusNames = newCodeTable("status", "ec-cube", map[string]string{
		"新規受付": eccubeNewOrder, "注文取消し": string(order.Cancelled), "対応中": string(order.Paid), "発送済み": string(order.Paid),
		"入金済み": string(order.Paid), "決済処理中": string(order.Pending), "購入処理中": string(order.Pending), "返品": string(order.Refunded),
	})
	// mtb_sex: 回答しない is kept as other, as the gender normalizer does.
	eccubeSexIDs = newCodeTable("gender", "ec-cube", map[string]string{"1": "male", "2": "female", "3": "other", "4": "other"})
)

// Line kinds of mtb_order_item_type.
const (
	eccubeProduct    = "product"
	eccubeOrderLevel = "order"
	eccubePoint      = "point"
)

var (
	eccubeItemTypeIDs = newCodeTable("sku", "ec-cube", map[string]string{
		"1": eccubeProduct, "2": eccubeOrderLevel, "3": eccubeOrderLevel, "4": eccubeOrderLevel, "5": eccubeOrderLevel, "6": eccubePoint,
	})
	eccubeItemTypeNames = newCodeTable("sku", "ec-cube", map[string]string{
		"商品": eccubeProduct, "送料": eccubeOrderLevel, "手数料": eccubeOrderLevel, "割引": eccubeOrderLevel, "税": eccubeOrderLevel, "ポイント": eccubePoint,
	})
)

// eccubeCode reads a master value by its (ID) column, else its (名称) column.
// It returns "" when the file has neither.
func eccubeCode(r *Row, name string, ids, names codeTable) (string, error) {
	if v := r.Col(name + "(ID)"); v != "" {
		return ids.lookup(name+"(ID)", v)
	}
	if v := r.Col(name + "(名称)"); v != "" {
		return names.lookup(name+"(名称)", v)
	}
	return "", nil
}

// eccubePerson fixes the customer columns both exports share.
func eccubePerson(r *Row) error {
	if v := r.Get(FCustomerID); v == "0" {
		r.Set(FCustomerID, "") // a guest order (非会員購入)
	}
	if r.Get(FPrefecture) == "" {
		r.Set(FPrefecture, r.Col("都道府県(ID)"))
	}
	if v := r.Col("性別(ID)"); v != "" {
		g, err := eccubeSexIDs.lookup("性別(ID)", v)
		if err != nil {
			return err
		}
		r.Set(FGender, g)
	}
	return nil
}

func eccubeOrderRow(r *Row) error {
	var problems []error
	if err := eccubePerson(r); err != nil {
		problems = append(problems, err)
	}
	st, err := eccubeCode(r, "対応状況", eccubeStatusIDs, eccubeStatusNames)
	if err != nil {
		problems = append(problems, err)
	}
	if st == eccubeNewOrder {
		st = string(order.Pending)
		if r.Col("入金日") != "" {
			st = string(order.Paid)
		}
	}
	if st != "" {
		r.Set(FStatus, st)
	}

	kind, err := eccubeCode(r, "明細区分", eccubeItemTypeIDs, eccubeItemTypeNames)
	if err != nil {
		problems = append(problems, err)
	} else if kind == "" && r.HasCol("商品規格ID") && r.Col("商品規格ID") == "" {
		kind = eccubeOrderLevel // without 明細区分, only product lines name a 商品規格
	}
	switch kind {
	case eccubePoint:
		price, qty, err := eccubeUnit(r)
		if err != nil {
			problems = append(problems, err)
		} else {
			r.Set(FPointsUsed, strconv.FormatInt(abs(price*qty), 10))
		}
		clearLine(r)
	case eccubeOrderLevel:
		clearLine(r)
	default:
		if err := eccubeTaxIncluded(r); err != nil {
			problems = append(problems, err)
		}
	}
	return errors.Join(problems...)
}

// eccubeUnit reads a line's tax-inclusive unit price and its quantity.
func eccubeUnit(r *Row) (price, qty int64, err error) {
	if err := eccubeTaxIncluded(r); err != nil {
		return 0, 0, err
	}
	if v := r.Get(FUnitPrice); v != "" {
		if price, err = order.ParseYen(v); err != nil {
			return 0, 0, errs.FieldErrorf("unit_price", "価格: %s", errs.Message(err))
		}
	}
	qty = 1
	if v := r.Get(FQuantity); v != "" {
		if qty, err = order.ParseQuantity(v); err != nil {
			return 0, 0, errs.FieldErrorf("quantity", "個数: %s", errs.Message(err))
		}
	}
	return price, qty, nil
}

// eccubeTaxIncluded turns 価格 (tax-exclusive) into a tax-inclusive unit
// price using the line's 税率.
func eccubeTaxIncluded(r *Row) error {
	p, rate := r.Get(FUnitPrice), r.Col("税率")
	if p == "" || rate == "" {
		return nil
	}
	price, err := order.ParseYen(p)
	if err != nil {
		return nil // reported as unit_price when the line is read
	}
	pct, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(jtext.NFKC(rate)), "%"), 10, 64)
	if err != nil || pct < 0 || pct > 100 {
		return errs.FieldErrorf("unit_price", "税率 %q is not a tax rate in percent", rate)
	}
	r.Set(FUnitPrice, strconv.FormatInt(price+roundHalfUp(price*pct, 100), 10))
	return nil
}

// roundHalfUp divides n by d (> 0) rounding halves away from zero, as
// PHP's round() does.
func roundHalfUp(n, d int64) int64 {
	if n < 0 {
		return -((-n + d/2) / d)
	}
	return (n + d/2) / d
}

// eccubeUnfinishedCheckout skips 購入処理中/決済処理中 rows without a
// 受注日: checkouts the buyer never finished, which EC-CUBE's own order
// list hides and which have no date to file them under.
func eccubeUnfinishedCheckout(r *Row) bool {
	if r.Col("受注日") != "" {
		return false
	}
	switch r.Col("対応状況(ID)") {
	case "7", "8":
		return true
	case "":
		switch r.Col("対応状況(名称)") {
		case "決済処理中", "購入処理中":
			return true
		}
	}
	return false
}

// eccubeWithdrawn skips 退会 members: EC-CUBE replaces a withdrawn member's
// e-mail address with a random dummy one, so the row names nobody.
func eccubeWithdrawn(r *Row) bool {
	return r.Col("会員ステータス(ID)") == "3" || r.Col("会員ステータス(ID)") == "" && r.Col("会員ステータス(名称)") == "退会"
}

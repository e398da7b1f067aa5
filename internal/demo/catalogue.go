package demo

import (
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/product"
)

// Product categories of the demo shop.
const (
	catSkin    = "スキンケア"
	catBody    = "ボディ・ヘアケア"
	catSupp    = "サプリメント"
	catFood    = "食品"
	catDrink   = "飲料"
	catGift    = "ギフト"
	catGoods   = "雑貨"
	shopURL    = "https://shop.example.jp"
	trialSKU   = "SK-011"
	giftCard   = "GF-007"
	mothersDay = "GF-004"
	oseibo     = "GF-005"
)

// item is a catalogue entry with what the generator needs beyond the
// product: how popular it is.
type item struct {
	product.Product
	weight float64
	// reducedTax marks food and drink, taxed at 8% instead of 10%.
	reducedTax bool
}

// catalogue is the demo shop (a D2C brand of skincare, supplements and food):
// consumables carry the number of days one unit lasts, which the repeat
// process uses to time re-orders.
var catalogue = []item{
	{product.Product{SKU: "SK-001", Name: "薬用美白化粧水 150mL", Category: catSkin, Price: 3960, ReplenishmentDays: 60}, 10, false},
	{product.Product{SKU: "SK-002", Name: "薬用美白化粧水 詰め替え用 140mL", Category: catSkin, Price: 3520, ReplenishmentDays: 60}, 6, false},
	{product.Product{SKU: "SK-003", Name: "保湿美容液 30mL", Category: catSkin, Price: 5280, ReplenishmentDays: 45}, 8, false},
	{product.Product{SKU: "SK-004", Name: "モイスチャー乳液 120mL", Category: catSkin, Price: 3300, ReplenishmentDays: 60}, 6, false},
	{product.Product{SKU: "SK-005", Name: "オールインワンジェル 80g", Category: catSkin, Price: 4180, ReplenishmentDays: 45}, 9, false},
	{product.Product{SKU: "SK-006", Name: "クレンジングバーム 90g", Category: catSkin, Price: 3080, ReplenishmentDays: 45}, 7, false},
	{product.Product{SKU: "SK-007", Name: "泡洗顔フォーム 120g", Category: catSkin, Price: 1980, ReplenishmentDays: 45}, 6, false},
	{product.Product{SKU: "SK-008", Name: "日焼け止めミルク SPF50+ 50mL", Category: catSkin, Price: 2750, ReplenishmentDays: 60}, 5, false},
	{product.Product{SKU: "SK-009", Name: "アイクリーム 15g", Category: catSkin, Price: 4950, ReplenishmentDays: 60}, 3, false},
	{product.Product{SKU: "SK-010", Name: "シートマスク 7枚入", Category: catSkin, Price: 1650, ReplenishmentDays: 30}, 5, false},
	{product.Product{SKU: trialSKU, Name: "スキンケア トライアルセット 7日分", Category: catSkin, Price: 1100}, 6, false},
	{product.Product{SKU: "SK-012", Name: "ナイトリペアクリーム 40g", Category: catSkin, Price: 6380, ReplenishmentDays: 60}, 3, false},
	{product.Product{SKU: "SK-013", Name: "薬用美白化粧水 ミニサイズ 30mL", Category: catSkin, Price: 990}, 3, false},
	{product.Product{SKU: "BD-001", Name: "ボディミルク ゆずの香り 200mL", Category: catBody, Price: 2420, ReplenishmentDays: 60}, 4, false},
	{product.Product{SKU: "BD-002", Name: "ハンドクリーム 椿 50g", Category: catBody, Price: 1320, ReplenishmentDays: 30}, 5, false},
	{product.Product{SKU: "BD-003", Name: "アミノ酸シャンプー 300mL", Category: catBody, Price: 2970, ReplenishmentDays: 45}, 5, false},
	{product.Product{SKU: "BD-004", Name: "アミノ酸トリートメント 300g", Category: catBody, Price: 2970, ReplenishmentDays: 45}, 4, false},
	{product.Product{SKU: "BD-005", Name: "薬用入浴剤 ひのき 10包", Category: catBody, Price: 1760, ReplenishmentDays: 30}, 3, false},
	{product.Product{SKU: "SP-001", Name: "乳酸菌サプリ 30日分", Category: catSupp, Price: 3240, ReplenishmentDays: 30}, 10, true},
	{product.Product{SKU: "SP-002", Name: "乳酸菌サプリ お得な90日分", Category: catSupp, Price: 8640, ReplenishmentDays: 90}, 4, true},
	{product.Product{SKU: "SP-003", Name: "マルチビタミン＆ミネラル 30日分", Category: catSupp, Price: 2480, ReplenishmentDays: 30}, 6, true},
	{product.Product{SKU: "SP-004", Name: "コラーゲンペプチド 30包", Category: catSupp, Price: 4320, ReplenishmentDays: 30}, 6, true},
	{product.Product{SKU: "SP-005", Name: "鉄＆葉酸 30日分", Category: catSupp, Price: 1980, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "SP-006", Name: "DHA・EPA 30日分", Category: catSupp, Price: 3780, ReplenishmentDays: 30}, 4, true},
	{product.Product{SKU: "SP-007", Name: "国産大麦若葉の青汁 30包", Category: catSupp, Price: 3456, ReplenishmentDays: 30}, 6, true},
	{product.Product{SKU: "SP-008", Name: "酵素ドリンク 720mL", Category: catSupp, Price: 5400, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "SP-009", Name: "ビタミンC 60日分", Category: catSupp, Price: 1620, ReplenishmentDays: 60}, 4, true},
	{product.Product{SKU: "SP-010", Name: "ソイプロテイン 抹茶味 1kg", Category: catSupp, Price: 4980, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "SP-011", Name: "グルコサミン＆コンドロイチン 30日分", Category: catSupp, Price: 2980, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "FD-001", Name: "国産もち麦 800g", Category: catFood, Price: 1296, ReplenishmentDays: 30}, 6, true},
	{product.Product{SKU: "FD-002", Name: "グラノーラ 黒糖きなこ 400g", Category: catFood, Price: 1080, ReplenishmentDays: 30}, 7, true},
	{product.Product{SKU: "FD-003", Name: "有機玄米 5kg", Category: catFood, Price: 4320, ReplenishmentDays: 45}, 4, true},
	{product.Product{SKU: "FD-004", Name: "無添加だしパック 30包", Category: catFood, Price: 2160, ReplenishmentDays: 45}, 8, true},
	{product.Product{SKU: "FD-005", Name: "十五穀米 500g", Category: catFood, Price: 1512, ReplenishmentDays: 45}, 4, true},
	{product.Product{SKU: "FD-006", Name: "国産はちみつ 300g", Category: catFood, Price: 2700, ReplenishmentDays: 90}, 3, true},
	{product.Product{SKU: "FD-007", Name: "米麹甘酒 500mL×6本", Category: catFood, Price: 3240, ReplenishmentDays: 30}, 4, true},
	{product.Product{SKU: "FD-008", Name: "発酵ぬか床 1kg", Category: catFood, Price: 2380, ReplenishmentDays: 90}, 2, true},
	{product.Product{SKU: "FD-009", Name: "ドライフルーツミックス 200g", Category: catFood, Price: 1188, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "FD-010", Name: "二年熟成 天然醸造味噌 750g", Category: catFood, Price: 1620, ReplenishmentDays: 60}, 3, true},
	{product.Product{SKU: "FD-011", Name: "国産黒酢 500mL", Category: catFood, Price: 2160, ReplenishmentDays: 45}, 3, true},
	{product.Product{SKU: "DR-001", Name: "有機ルイボスティー 30包", Category: catDrink, Price: 1944, ReplenishmentDays: 30}, 5, true},
	{product.Product{SKU: "DR-002", Name: "国産ほうじ茶 ティーバッグ 50包", Category: catDrink, Price: 1620, ReplenishmentDays: 45}, 4, true},
	{product.Product{SKU: "DR-003", Name: "水出し緑茶 30包", Category: catDrink, Price: 1404, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "DR-004", Name: "デカフェ コーヒー豆 200g", Category: catDrink, Price: 2160, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "DR-005", Name: "国産黒豆茶 30包", Category: catDrink, Price: 1296, ReplenishmentDays: 30}, 3, true},
	{product.Product{SKU: "DR-006", Name: "愛媛の甘夏ジュース 6本", Category: catDrink, Price: 3240}, 2, true},
	{product.Product{SKU: "GF-001", Name: "スキンケア ギフトセット", Category: catGift, Price: 8800}, 3, false},
	{product.Product{SKU: "GF-002", Name: "だしと調味料の詰め合わせ", Category: catGift, Price: 5400}, 3, true},
	{product.Product{SKU: "GF-003", Name: "お茶の詰め合わせ 3種", Category: catGift, Price: 3780}, 3, true},
	{product.Product{SKU: mothersDay, Name: "母の日ギフト 花とハンドクリーム", Category: catGift, Price: 4950}, 2, false},
	{product.Product{SKU: oseibo, Name: "お歳暮 プレミアムギフト", Category: catGift, Price: 11000}, 2, true},
	{product.Product{SKU: "GF-006", Name: "プチギフト ハンドクリーム3本セット", Category: catGift, Price: 2640}, 2, false},
	{product.Product{SKU: giftCard, Name: "ギフトカード 5,000円分", Category: catGift, Price: 5000}, 1, false},
	{product.Product{SKU: "GD-001", Name: "オーガニックコットン フェイスタオル", Category: catGoods, Price: 1650}, 2, false},
	{product.Product{SKU: "GD-002", Name: "シリコン洗顔ブラシ", Category: catGoods, Price: 1980}, 2, false},
	{product.Product{SKU: "GD-003", Name: "詰め替え用ボトル 150mL", Category: catGoods, Price: 1100}, 2, false},
	{product.Product{SKU: "GD-004", Name: "オリジナル エコバッグ", Category: catGoods, Price: 1320}, 1, false},
	{product.Product{SKU: "GD-005", Name: "天然木ヘアブラシ", Category: catGoods, Price: 3300}, 1, false},
}

// Products returns the demo shop's catalogue, with product and image URLs.
func Products() []product.Product {
	ps := make([]product.Product, len(catalogue))
	for i, it := range catalogue {
		p := it.Product
		p.URL = shopURL + "/products/" + p.SKU
		p.ImageURL = shopURL + "/images/" + p.SKU + ".jpg"
		ps[i] = p
	}
	return ps
}

// seasonBoost makes gifts sell around their season: 母の日 in early May,
// お歳暮 from mid-November to Christmas, gifts in general in December.
func seasonBoost(it *item, at time.Time) float64 {
	_, m, d := at.In(clock.Tokyo).Date()
	switch it.SKU {
	case mothersDay:
		if m == time.April && d >= 20 || m == time.May && d <= 12 {
			return 12
		}
		return 0.05
	case oseibo:
		if m == time.November && d >= 15 || m == time.December && d <= 25 {
			return 10
		}
		return 0.05
	}
	if it.Category == catGift && m == time.December {
		return 3
	}
	return 1
}

package journey

import (
	"fmt"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
)

// The template library (鉄板シナリオ): journeys that Japanese EC and D2C
// shops run, ready to switch on with Japanese copy. A template becomes an
// ordinary journey (a draft) that the shop edits like any other. Copy uses
// the channels' Liquid-style merge fields: {{ customer.last_name }},
// {{ coupon_code }}, {{ trigger.product_name }} ….

// TemplateParams adapt a template to the shop.
type TemplateParams struct {
	// Name replaces the template's name.
	Name string `json:"name,omitempty"`
	// Channel to send over (default email).
	Channel message.Channel `json:"channel,omitempty"`
	// CouponCampaignID issues a personal coupon from a loyalty coupon
	// campaign where the template offers one; CouponCode is a shared code
	// to print instead.
	CouponCampaignID int64  `json:"coupon_campaign_id,omitempty"`
	CouponCode       string `json:"coupon_code,omitempty"`
	// SegmentID is the segment of templates triggered by one (VIP thanks).
	SegmentID int64 `json:"segment_id,omitempty"`
}

// TemplateInfo describes a template of the library.
type TemplateInfo struct {
	Key         string   `json:"key"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Trigger     string   `json:"trigger"`
	Needs       []string `json:"needs,omitempty"` // params it requires
}

type template struct {
	info  TemplateInfo
	build func(p TemplateParams, b *builder) Journey
}

// builder makes steps with the template's channel and coupon choice.
type builder struct {
	p     TemplateParams
	steps []Step
}

func (b *builder) send(id, next, subject, text string) {
	b.steps = append(b.steps, Step{ID: id, Type: StepSend, Next: next, Channel: b.p.Channel, Purpose: message.Marketing,
		Content: &Content{Subject: subject, Text: text}})
}

// coupon adds a coupon step when the shop issues personal coupons, and
// returns the id of the first step of the coupon part.
func (b *builder) coupon(id, next string) string {
	if b.p.CouponCampaignID > 0 {
		b.steps = append(b.steps, Step{ID: id, Type: StepCoupon, Next: next, CouponCampaignID: b.p.CouponCampaignID})
		return id
	}
	return next
}

// couponVars gives a send the shared code when there is no coupon step.
func (b *builder) couponVars(sendID string) {
	if b.p.CouponCampaignID > 0 {
		return
	}
	for i := range b.steps {
		if b.steps[i].ID == sendID {
			b.steps[i].Vars = map[string]any{"coupon_code": b.p.CouponCode}
		}
	}
}

func (b *builder) wait(id, next string, s Step) {
	s.ID, s.Type, s.Next = id, StepWait, next
	b.steps = append(b.steps, s)
}

const signature = "\n\n──────────\n{{ shop.name }}\n配信停止をご希望の方はこちら: {{ unsubscribe_url }}"

var templates = []template{
	{TemplateInfo{Key: "f2_followup", Name: "F2転換フォロー（初回購入後）", Trigger: TriggerOrder,
		Description: "初回購入の当日にお礼、3日目に使い方、7日目にレビュー依頼、14日目にクロスセル、30日目に2回目購入クーポン、60日目に最後のご案内。2回目の購入でゴール（F2転換）。",
		Needs:       []string{"coupon_campaign_id or coupon_code"}},
		func(p TemplateParams, b *builder) Journey {
			b.send("thanks", "day3", "{{ customer.last_name }}様、ご購入ありがとうございます",
				"{{ customer.last_name }} {{ customer.first_name }}様\n\nこのたびはご購入いただき、誠にありがとうございます。\n商品の到着まで今しばらくお待ちください。"+signature)
			b.wait("day3", "howto", Step{Days: 3, At: "10:00", From: "entry"})
			b.send("howto", "day7", "商品をより楽しんでいただくために",
				"{{ customer.last_name }}様\n\n商品はお手元に届きましたでしょうか。\nより効果的にお使いいただくためのポイントをご紹介します。\n{{ shop.url }}/guide"+signature)
			b.wait("day7", "review", Step{Days: 7, At: "10:00", From: "entry"})
			b.send("review", "day14", "ご感想をお聞かせください",
				"{{ customer.last_name }}様\n\nお使いになってみていかがでしょうか。\nよろしければレビューでご感想をお聞かせください。今後の商品づくりの参考にさせていただきます。\n{% if review_url != \"\" %}{{ review_url }}{% else %}{{ shop.url }}/review{% endif %}"+signature)
			b.wait("day14", "cross", Step{Days: 14, At: "10:00", From: "entry"})
			b.send("cross", "day30", "{{ customer.last_name }}様へのおすすめ",
				"{{ customer.last_name }}様\n\nご購入いただいた商品と一緒にお使いいただくと、さらにおすすめの商品をご紹介します。\n{{ recommendations }}"+signature)
			b.wait("day30", b.coupon("issue", "offer"), Step{Days: 30, At: "10:00", From: "entry"})
			b.send("offer", "day60", "【2回目のお買い物に】{{ customer.last_name }}様限定クーポン",
				"{{ customer.last_name }}様\n\nいつもありがとうございます。2回目のお買い物でお使いいただけるクーポンをお贈りします。\nクーポンコード: {{ coupon_code }}"+signature)
			b.couponVars("offer")
			b.wait("day60", "last", Step{Days: 60, At: "10:00", From: "entry"})
			b.send("last", "", "【最後のご案内】クーポンの有効期限が近づいています",
				"{{ customer.last_name }}様\n\nお贈りしたクーポン（{{ coupon_code }}）の有効期限が近づいています。この機会にぜひご利用ください。"+signature)
			b.couponVars("last")
			return Journey{Trigger: Trigger{Type: TriggerOrder, Nth: 1}, Reentry: Reentry{Policy: ReentryOnce}, Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "cart_abandonment", Name: "カゴ落ちフォロー", Trigger: TriggerEvent,
		Description: "購入手続きを始めて購入しなかったお客様に、1時間後・24時間後・72時間後（クーポン付き）にご案内。購入でゴール。",
		Needs:       []string{"coupon_campaign_id or coupon_code"}},
		func(p TemplateParams, b *builder) Journey {
			b.wait("h1", "remind1", Step{Duration: Duration{3600e9}, From: "entry"})
			b.send("remind1", "h24", "カートに商品が残っています",
				"{{ customer.last_name }}様\n\nお買い物カートに商品が残っています。在庫には限りがございますので、お早めにご購入手続きをお済ませください。\n{{ shop.url }}/cart"+signature)
			b.wait("h24", "remind2", Step{Duration: Duration{24 * 3600e9}, From: "entry"})
			b.send("remind2", "h72", "お忘れではありませんか？",
				"{{ customer.last_name }}様\n\nご検討中の商品はカートに保存されています。ご不明な点があればお気軽にお問い合わせください。\n{{ shop.url }}/cart"+signature)
			b.wait("h72", b.coupon("issue", "remind3"), Step{Duration: Duration{72 * 3600e9}, From: "entry"})
			b.send("remind3", "", "【本日限り】カートの商品に使えるクーポン",
				"{{ customer.last_name }}様\n\nカートに残っている商品にお使いいただけるクーポンをご用意しました。\nクーポンコード: {{ coupon_code }}\n{{ shop.url }}/cart"+signature)
			b.couponVars("remind3")
			return Journey{Trigger: Trigger{Type: TriggerEvent, Event: "Checkout Started"}, Reentry: Reentry{Policy: ReentryCooldown, Cooldown: Duration{7 * 24 * 3600e9}},
				Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "browse_abandonment", Name: "閲覧離脱フォロー", Trigger: TriggerEvent,
		Description: "商品ページを見て購入しなかったお客様に、翌日10時にその商品をご案内。購入でゴール。週1回まで。"},
		func(p TemplateParams, b *builder) Journey {
			b.wait("nextday", "remind", Step{Days: 1, At: "10:00", From: "entry"})
			b.send("remind", "", "気になる商品はございましたか？",
				"{{ customer.last_name }}様\n\n先日ご覧になった「{{ trigger.properties.name }}」はいかがでしたか？\n{{ shop.url }}/products/{{ trigger.sku }}"+signature)
			return Journey{Trigger: Trigger{Type: TriggerEvent, Event: "Product Viewed"}, Reentry: Reentry{Policy: ReentryCooldown, Cooldown: Duration{7 * 24 * 3600e9}},
				Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "welcome", Name: "会員登録ウェルカム", Trigger: TriggerEvent,
		Description: "会員登録の直後にご挨拶、2日目にブランドストーリー、5日目にまだ購入がなければ初回購入クーポン。",
		Needs:       []string{"coupon_campaign_id or coupon_code"}},
		func(p TemplateParams, b *builder) Journey {
			b.send("welcome", "day2", "ご登録ありがとうございます",
				"{{ customer.last_name }}様\n\n会員登録ありがとうございます。会員様限定の情報やお得なお知らせをお届けします。"+signature)
			b.wait("day2", "story", Step{Days: 2, At: "10:00", From: "entry"})
			b.send("story", "day5", "私たちのものづくりについて",
				"{{ customer.last_name }}様\n\n私たちが大切にしていること、商品が生まれるまでのストーリーをお届けします。\n{{ shop.url }}/story"+signature)
			b.wait("day5", "bought", Step{Days: 5, At: "10:00", From: "entry"})
			first := b.coupon("issue", "offer")
			c := segment.Condition{Field: "order_count", Op: "=", Value: []byte("0")}
			b.steps = append(b.steps, Step{ID: "bought", Type: StepBranch, Condition: &c, Next: first})
			b.send("offer", "", "はじめてのお買い物に使えるクーポン",
				"{{ customer.last_name }}様\n\nはじめてのお買い物にお使いいただけるクーポンをお贈りします。\nクーポンコード: {{ coupon_code }}"+signature)
			b.couponVars("offer")
			return Journey{Trigger: Trigger{Type: TriggerEvent, Event: "Signed Up"}, Reentry: Reentry{Policy: ReentryOnce}, Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "birthday", Name: "誕生日クーポン", Trigger: TriggerDate,
		Description: "お誕生日の朝9時にお祝いのメッセージとクーポン。",
		Needs:       []string{"coupon_campaign_id or coupon_code"}},
		func(p TemplateParams, b *builder) Journey {
			b.coupon("issue", "greet")
			b.send("greet", "", "🎂 {{ customer.last_name }}様、お誕生日おめでとうございます",
				"{{ customer.last_name }} {{ customer.first_name }}様\n\nお誕生日おめでとうございます！\n日頃の感謝を込めて、バースデークーポンをお贈りします。\nクーポンコード: {{ coupon_code }}"+signature)
			b.couponVars("greet")
			return Journey{Trigger: Trigger{Type: TriggerDate, Date: "birthday", At: "09:00"}, Reentry: Reentry{Policy: ReentryCooldown, Cooldown: Duration{300 * 24 * 3600e9}}}
		}},
	{TemplateInfo{Key: "winback", Name: "休眠復帰（180日）", Trigger: TriggerDaysSinceOrder,
		Description: "最後の購入から180日たったお客様に、お久しぶりのご挨拶と、14日後にまだ購入がなければクーポン。購入でゴール。",
		Needs:       []string{"coupon_campaign_id or coupon_code"}},
		func(p TemplateParams, b *builder) Journey {
			b.send("hello", "wait14", "{{ customer.last_name }}様、お久しぶりです",
				"{{ customer.last_name }}様\n\nご無沙汰しております。その後お変わりありませんか。\n新しい商品も増えましたので、ぜひご覧ください。\n{{ shop.url }}"+signature)
			b.wait("wait14", b.coupon("issue", "offer"), Step{Days: 14, At: "10:00"})
			b.send("offer", "", "【お久しぶりのお客様へ】特別クーポン",
				"{{ customer.last_name }}様\n\n久しぶりのお買い物にお使いいただける特別クーポンをお贈りします。\nクーポンコード: {{ coupon_code }}"+signature)
			b.couponVars("offer")
			return Journey{Trigger: Trigger{Type: TriggerDaysSinceOrder, Days: 180, At: "10:00"}, Reentry: Reentry{Policy: ReentryAfterExit}, Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "replenishment", Name: "買い替え・補充リマインド", Trigger: TriggerReplenishment,
		Description: "商品ごとの補充サイクル（replenishment_days）の5日前に、そろそろなくなる頃のご案内。7日後にもう一度。購入でゴール。"},
		func(p TemplateParams, b *builder) Journey {
			b.send("remind", "wait7", "そろそろ「{{ trigger.product_name }}」がなくなる頃ではありませんか？",
				"{{ customer.last_name }}様\n\n前回ご購入の「{{ trigger.product_name }}」は、そろそろなくなる頃かと思います。切らしてしまう前にぜひどうぞ。\n{{ shop.url }}/products/{{ trigger.sku }}"+signature)
			b.wait("wait7", "again", Step{Days: 7, At: "10:00"})
			b.send("again", "", "「{{ trigger.product_name }}」のご用意はお済みですか？",
				"{{ customer.last_name }}様\n\n「{{ trigger.product_name }}」のご購入はこちらから。定期便ならお得に、切らさずお届けします。\n{{ shop.url }}/products/{{ trigger.sku }}"+signature)
			return Journey{Trigger: Trigger{Type: TriggerReplenishment, LeadDays: 5, At: "10:00"}, Reentry: Reentry{Policy: ReentryAfterExit}, Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "back_in_stock", Name: "再入荷のお知らせ", Trigger: TriggerBackInStock,
		Description: "お気に入りに登録した商品が再入荷したら、すぐにお知らせ。"},
		func(p TemplateParams, b *builder) Journey {
			b.send("notify", "", "【再入荷】「{{ trigger.product_name }}」が再入荷しました",
				"{{ customer.last_name }}様\n\nお気に入りに登録いただいていた「{{ trigger.product_name }}」が再入荷しました。数に限りがございますので、お早めにどうぞ。\n{{ shop.url }}/products/{{ trigger.sku }}"+signature)
			return Journey{Trigger: Trigger{Type: TriggerBackInStock, WithinDays: 180}, Reentry: Reentry{Policy: ReentryAfterExit}}
		}},
	{TemplateInfo{Key: "price_drop", Name: "お気に入り値下げのお知らせ", Trigger: TriggerPriceDrop,
		Description: "お気に入りに登録した商品が値下がりしたらお知らせ。"},
		func(p TemplateParams, b *builder) Journey {
			b.send("notify", "", "【値下げ】お気に入りの「{{ trigger.product_name }}」がお求めやすくなりました",
				"{{ customer.last_name }}様\n\nお気に入りの「{{ trigger.product_name }}」が {{ trigger.old_price }}円 → {{ trigger.new_price }}円 になりました。\n{{ shop.url }}/products/{{ trigger.sku }}"+signature)
			return Journey{Trigger: Trigger{Type: TriggerPriceDrop, WithinDays: 180}, Reentry: Reentry{Policy: ReentryAfterExit}}
		}},
	{TemplateInfo{Key: "coupon_unused", Name: "クーポン未使用リマインド", Trigger: TriggerCouponUnused,
		Description: "お贈りしたクーポンが7日たっても使われていなければ、朝10時にリマインド。"},
		func(p TemplateParams, b *builder) Journey {
			b.send("remind", "", "クーポンをお忘れではありませんか？",
				"{{ customer.last_name }}様\n\nお贈りしたクーポン（{{ trigger.coupon_code }}）がまだお使いいただけます。ぜひこの機会にご利用ください。"+signature)
			return Journey{Trigger: Trigger{Type: TriggerCouponUnused, Days: 7, At: "10:00"}, Reentry: Reentry{Policy: ReentryAfterExit}, Goal: &Goal{Type: "order"}}
		}},
	{TemplateInfo{Key: "rank_up", Name: "ランクアップのお祝い", Trigger: TriggerRankChange,
		Description: "会員ランクが上がったら、お祝いと新しい特典のご案内。"},
		func(p TemplateParams, b *builder) Journey {
			b.send("congrats", "", "🎉 {{ trigger.properties.to_name }}ランクへのランクアップおめでとうございます",
				"{{ customer.last_name }}様\n\nいつもご愛顧いただきありがとうございます。{{ trigger.properties.to_name }}ランクに昇格されました！\n新しいランクの特典はこちらからご確認いただけます。\n{{ shop.url }}/rank"+signature)
			return Journey{Trigger: Trigger{Type: TriggerRankChange, Direction: "up"}, Reentry: Reentry{Policy: ReentryAfterExit}}
		}},
	{TemplateInfo{Key: "vip_thanks", Name: "VIP感謝メッセージ", Trigger: TriggerSegmentEnter,
		Description: "VIPセグメントに入ったお客様に、翌日10時に感謝のメッセージ。",
		Needs:       []string{"segment_id"}},
		func(p TemplateParams, b *builder) Journey {
			b.wait("nextday", "thanks", Step{Days: 1, At: "10:00"})
			b.send("thanks", "", "{{ customer.last_name }}様、いつも本当にありがとうございます",
				"{{ customer.last_name }} {{ customer.first_name }}様\n\n日頃より格別のご愛顧を賜り、心より御礼申し上げます。\nこれからも{{ customer.last_name }}様にご満足いただける商品とサービスをお届けしてまいります。"+signature)
			return Journey{Trigger: Trigger{Type: TriggerSegmentEnter, SegmentID: p.SegmentID}, Reentry: Reentry{Policy: ReentryCooldown, Cooldown: Duration{90 * 24 * 3600e9}}}
		}},
	{TemplateInfo{Key: "points_expiring", Name: "ポイント失効のお知らせ", Trigger: TriggerPointsExpiring,
		Description: "ポイントの有効期限が近づいたらお知らせ。"},
		func(p TemplateParams, b *builder) Journey {
			b.send("notify", "", "{{ trigger.properties.points }}ポイントの有効期限が近づいています",
				"{{ customer.last_name }}様\n\nお持ちの{{ trigger.properties.points }}ポイントが{{ trigger.properties.valid_through }}に失効します。お早めにご利用ください。"+signature)
			return Journey{Trigger: Trigger{Type: TriggerPointsExpiring}, Reentry: Reentry{Policy: ReentryAfterExit}}
		}},
}

// Templates lists the library.
func Templates() []TemplateInfo {
	out := make([]TemplateInfo, len(templates))
	for i, t := range templates {
		out[i] = t.info
	}
	return out
}

// FromTemplate builds a journey (a draft) from a template of the library.
func FromTemplate(key string, p TemplateParams) (Journey, error) {
	for _, t := range templates {
		if t.info.Key != key {
			continue
		}
		if p.Channel == "" {
			p.Channel = message.Email
		}
		for _, n := range t.info.Needs {
			switch n {
			case "segment_id":
				if p.SegmentID <= 0 {
					return Journey{}, errs.FieldErrorf("params.segment_id", "template %s needs the segment that triggers it", key)
				}
			case "coupon_campaign_id or coupon_code":
				if p.CouponCampaignID <= 0 && p.CouponCode == "" {
					return Journey{}, errs.FieldErrorf("params.coupon_campaign_id", "template %s offers a coupon: give coupon_campaign_id (a loyalty coupon campaign issuing personal codes) or coupon_code (a shared code)", key)
				}
			}
		}
		b := &builder{p: p}
		j := t.build(p, b)
		j.Steps = b.steps
		j.Name, j.Description, j.Template, j.Status = t.info.Name, t.info.Description, key, Draft
		if p.Name != "" {
			j.Name = p.Name
		}
		if err := j.Validate(); err != nil {
			return Journey{}, fmt.Errorf("template %s: %w", key, err)
		}
		return j, nil
	}
	return Journey{}, errs.Errorf(errs.NotFound, "no journey template %q (GET /api/v1/journey-templates lists them)", key)
}

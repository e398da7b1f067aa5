package cli

import (
	"context"
	"fmt"

	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
)

// demoMarketing gives the demo what a shop sets up first, so that the
// segments, journeys, campaigns and templates pages show working examples:
// three segments, a newsletter template, a draft campaign to the VIPs and
// the F2 follow-up, cart-abandonment and welcome journeys switched on.
// Everything goes through the same checks as the API.
func demoMarketing(ctx context.Context, st *store.DB) error {
	segs := map[string]int64{}
	for _, s := range []struct{ name, desc, cond string }{
		{"F2候補(初回購入から90日以内)", "1回だけ購入し、最後の購入から90日以内のお客様。2回目の購入を後押しします。",
			`{"all":[{"field":"order_count","op":"=","value":1},{"field":"days_since_last_order","op":"<=","value":90}]}`},
		{"VIP(累計5万円以上)", "累計購入額が5万円以上のお客様。",
			`{"field":"total_spent","op":">=","value":50000}`},
		{"休眠(180日以上購入なし)", "最後の購入から180日以上たったお客様。掘り起こしの対象です。",
			`{"field":"days_since_last_order","op":">=","value":180}`},
	} {
		cond, err := segment.Parse([]byte(s.cond))
		if err != nil {
			return fmt.Errorf("demo segment %s: %w", s.name, err)
		}
		seg, err := st.CreateSegment(ctx, segment.Segment{Name: s.name, Description: s.desc, Condition: cond, CreatedBy: "demo"})
		if err != nil {
			return fmt.Errorf("demo segment %s: %w", s.name, err)
		}
		segs[s.name] = seg.ID
	}
	tpl := &content.Template{Name: "新茶のお知らせ(メール)", Purpose: message.Marketing, UpdatedBy: "demo", Variants: []content.Variant{{
		Channel: message.Email, Subject: "{{ customer.honorific_name }}、今年の新茶が入荷しました", Preheader: "ご愛顧への感謝を込めて",
		Blocks: []content.Block{
			{Type: content.BlockHeading, Text: "{{ customer.honorific_name }}"},
			{Type: content.BlockText, Text: "いつもありがとうございます。前回ご購入の{{ last_purchase.product }}はいかがでしたか。今年の新茶が入荷しました。"},
			{Type: content.BlockButton, Text: "新茶を見る", URL: "{{ shop.url }}/new-tea"},
			{Type: content.BlockProducts, Count: 3},
			{Type: content.BlockText, Text: "保有ポイント: {{ points.balance }}pt({{ rank }}会員)"},
		}}}}
	if _, err := content.NewEngine().Check(tpl, content.Shop{}); err != nil {
		return fmt.Errorf("demo template: %w", err)
	}
	tid, err := st.SaveTemplate(ctx, tpl)
	if err != nil {
		return fmt.Errorf("demo template: %w", err)
	}
	if _, err := st.CreateCampaign(ctx, campaign.Campaign{Name: "新茶のお知らせ(VIP先行)", Status: campaign.Draft, SegmentID: segs["VIP(累計5万円以上)"],
		Channel: message.Email, Purpose: message.Marketing, Variants: []campaign.Variant{{Name: "A", TemplateID: tid}}, CreatedBy: "demo"}); err != nil {
		return fmt.Errorf("demo campaign: %w", err)
	}
	for _, key := range []string{"f2_followup", "cart_abandonment", "welcome"} {
		j, err := journey.FromTemplate(key, journey.TemplateParams{CouponCode: "THANKS500"})
		if err != nil {
			return fmt.Errorf("demo journey %s: %w", key, err)
		}
		j.CreatedBy = "demo"
		saved, err := st.CreateJourney(ctx, j)
		if err != nil {
			return fmt.Errorf("demo journey %s: %w", key, err)
		}
		if _, err := st.SetJourneyStatus(ctx, saved.ID, journey.Enabled); err != nil {
			return fmt.Errorf("demo journey %s: %w", key, err)
		}
	}
	return nil
}

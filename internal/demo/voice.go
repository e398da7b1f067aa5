package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
	"github.com/enishi-crm/enishi/internal/subscription/book"
	"github.com/enishi-crm/enishi/internal/survey"
)

// The voice of the demo shop's customers: its 定期便 subscribers (from the
// subscription book generator, with their skips, pauses and
// cancellations), their inquiries — cancellation requests come a few days
// before many cancellations — product reviews, and answers to a
// satisfaction survey. Each person draws these from a stream of their own,
// so the rest of the demo data is the same with or without them.

// VoiceSink is what the voice of the customer is written to; store.Store
// satisfies it.
type VoiceSink interface {
	ImportSubscriptions(ctx context.Context, ups []subscription.Update) (store.BatchResult, error)
	ImportReviews(ctx context.Context, rs []review.Review) (store.BatchResult, error)
	CreateSurvey(ctx context.Context, s survey.Survey) (*survey.Survey, error)
	InviteToSurvey(ctx context.Context, surveyID, customerID int64, channel string) error
	SubmitSurveyResponse(ctx context.Context, sub store.SurveySubmission) (int64, error)
	AddInquiry(ctx context.Context, inq customer.Inquiry) (int64, error)
	SetInquiryTags(ctx context.Context, id int64, tags []string) error
}

// voiceStream offsets the people's random streams for the voice data.
const voiceStream = 1 << 40

// Shares of the demo's people.
const (
	pSubscribe      = 0.22 // own-EC members who start a 定期便
	pCancelInquiry  = 0.4  // cancelling subscribers who ask first
	pGeneralInquiry = 0.035
	pReview         = 0.14 // members with own-EC orders who review one
	pInvited        = 0.5  // recent buyers sent the survey
	pAnswer         = 0.4  // of them, who answer
)

// SourceReviews is the review app the demo's reviews come from.
const SourceReviews = "judgeme"

type demoInquiry struct {
	who  customer.Record
	inq  customer.Inquiry
	tags []string
}

type demoAnswer struct {
	who     customer.Record
	answers map[string][]string
	at      time.Time
}

// voice is a group's voice-of-the-customer data.
type voice struct {
	book      *book.Book
	reviews   []review.Review
	inquiries []demoInquiry
	invited   []customer.Record
	answers   []demoAnswer
}

// member is how a member is named in the voice records: their own-EC
// customer id and e-mail address.
func member(p *person) customer.Record {
	return customer.Record{Identifiers: []identity.Identifier{identity.ExternalID(SourceShopify, p.shopifyID), {Kind: identity.Email, Value: p.email}}}
}

func (g *generator) voice(p *person, v *voice) {
	if p.shopifyID == "" {
		return
	}
	r := newRand(g.seed, voiceStream+uint64(p.idx))
	var ecOrders []*order.Order
	for _, o := range p.orders {
		if o.Channel == order.ChannelOwnEC && o.Status == order.Paid {
			ecOrders = append(ecOrders, o)
		}
	}
	// A 定期便, started some time after joining.
	if p.home == order.ChannelOwnEC && chance(r, pSubscribe) {
		start := p.accountAt.Add(time.Duration(r.Float64() * 240 * float64(24*time.Hour)))
		if start.Before(g.now.Add(-24 * time.Hour)) {
			c := v.book.Add(r, p.idx, member(p), start)
			if !c.Cancelled.IsZero() && chance(r, pCancelInquiry) {
				at := c.Cancelled.Add(-time.Duration(1+r.IntN(6)) * 24 * time.Hour)
				if at.After(c.Started) {
					t := cancelInquiries[r.IntN(len(cancelInquiries))]
					v.inquiries = append(v.inquiries, demoInquiry{who: member(p), tags: []string{"解約相談", "定期"},
						inq: customer.Inquiry{Channel: inquiryChannels.pick(r), Subject: t[0], Body: t[1], Status: customer.InquiryClosed, CreatedAt: at}})
				}
			}
		}
	}
	if len(ecOrders) > 0 && chance(r, pGeneralInquiry) {
		first := ecOrders[0].OrderedAt
		at := first.Add(time.Duration(r.Float64() * float64(g.now.Sub(first)))).Truncate(time.Second)
		t := generalInquiries.pick(r)
		st := customer.InquiryClosed
		if g.now.Sub(at) < 14*24*time.Hour {
			st = customer.InquiryOpen
			if chance(r, 0.5) {
				st = customer.InquiryPending
			}
		}
		v.inquiries = append(v.inquiries, demoInquiry{who: member(p), tags: []string{t.tag},
			inq: customer.Inquiry{Channel: inquiryChannels.pick(r), Subject: t.subject, Body: t.body, Status: st, CreatedAt: at}})
	}
	// A review of something bought on the own EC.
	if len(ecOrders) > 0 && chance(r, pReview) {
		o := ecOrders[r.IntN(len(ecOrders))]
		l := o.Lines[r.IntN(len(o.Lines))]
		at := o.OrderedAt.Add(time.Duration(7+r.IntN(19)) * 24 * time.Hour).Add(time.Duration(r.IntN(36000)) * time.Second)
		if at.Before(g.now) {
			rating := ratings.pick(r)
			t := reviewTexts[rating][r.IntN(len(reviewTexts[rating]))]
			v.reviews = append(v.reviews, review.Review{Source: SourceReviews, ExternalID: fmt.Sprintf("JR%07d-%d", p.idx+1, l.LineNo),
				SKU: l.SKU, ProductName: l.ProductName, Rating: rating, Title: t[0], Body: t[1], ReviewerName: p.last.kanji + "さん",
				ReviewedAt: at.Truncate(time.Second), Reviewer: member(p)})
		}
	}
	// The satisfaction survey, sent to recent buyers.
	if n := len(ecOrders); n > 0 && g.now.Sub(ecOrders[n-1].OrderedAt) < 365*24*time.Hour && chance(r, pInvited) {
		v.invited = append(v.invited, member(p))
		if chance(r, pAnswer) {
			v.answers = append(v.answers, demoAnswer{who: member(p), answers: surveyAnswers(r, len(p.orders)),
				at: g.now.Add(-time.Duration(1+r.IntN(30)) * 24 * time.Hour).Add(-time.Duration(r.IntN(36000)) * time.Second)})
		}
	}
}

var inquiryChannels = table(choice[string]{"email", 5}, choice[string]{"line", 3}, choice[string]{"phone", 2}, choice[string]{"form", 2})

var cancelInquiries = [][2]string{
	{"定期便の解約について", "商品が余ってきたので、定期便を解約したいです。手続きを教えてください。"},
	{"定期コースを停止したい", "効果があまり感じられないため、次回以降のお届けを停止してください。"},
	{"次回のお届けを止めたい", "しばらく家を空けるので、定期便をやめたいと考えています。"},
}

type inquiryTopic struct{ subject, body, tag string }

var generalInquiries = table(
	choice[inquiryTopic]{inquiryTopic{"お届け日の変更", "次回のお届けを週末に変更できますか？", "配送"}, 4},
	choice[inquiryTopic]{inquiryTopic{"使い方について", "朝と夜、どちらに使うのが効果的ですか？", "商品"}, 3},
	choice[inquiryTopic]{inquiryTopic{"肌に合わないかもしれません", "使い始めてから少し赤みが出ています。続けても大丈夫でしょうか。", "肌トラブル"}, 2},
	choice[inquiryTopic]{inquiryTopic{"領収書の発行", "会社宛の領収書を発行していただけますか？", "請求"}, 1},
)

var ratings = table(choice[int]{5, 45}, choice[int]{4, 30}, choice[int]{3, 13}, choice[int]{2, 7}, choice[int]{1, 5})

var reviewTexts = map[int][][2]string{
	5: {{"リピート確定です", "使い始めて2週間、肌の調子がとても良いです。"}, {"手放せません", "香りも使い心地も好みで、家族にも勧めました。"}, {"期待以上でした", "毎日続けやすく、体調が整ってきた気がします。"}},
	4: {{"満足しています", "もう少し量が多いと嬉しいですが、品質には満足です。"}, {"良い商品です", "効果を感じ始めました。しばらく続けてみます。"}},
	3: {{"普通です", "可もなく不可もなく。もう少し様子を見ます。"}},
	2: {{"うーん", "期待していたほどの変化は感じませんでした。"}},
	1: {{"合いませんでした", "肌に合わず、赤みが出てしまいました。"}},
}

// demoSurvey is the shop's satisfaction survey.
func demoSurvey() survey.Survey {
	return survey.Survey{Title: "お客様満足度アンケート", Status: survey.Open,
		Description: "今後の商品づくりの参考にさせていただきます。（所要時間 約1分）",
		ThankYou:    "ご回答ありがとうございました。いただいたご意見は商品とサービスの改善に役立てます。",
		Questions: []survey.Question{
			{ID: "skin", Type: survey.Single, Title: "あなたの肌質に近いものを教えてください", Required: true, Options: []survey.Option{
				{Value: "dry", Label: "乾燥肌"}, {Value: "oily", Label: "脂性肌"}, {Value: "mixed", Label: "混合肌"}, {Value: "sensitive", Label: "敏感肌"}, {Value: "normal", Label: "普通肌"}}},
			{ID: "worries", Type: survey.Multiple, Title: "気になっていることを教えてください（複数選択可）", Options: []survey.Option{
				{Value: "spots", Label: "シミ・くすみ"}, {Value: "wrinkles", Label: "シワ・たるみ"}, {Value: "pores", Label: "毛穴"}, {Value: "dryness", Label: "乾燥"},
				{Value: "gut", Label: "お腹の調子"}, {Value: "sleep", Label: "睡眠"}}},
			{ID: "satisfaction", Type: survey.Rating, Title: "商品の満足度を教えてください", LowLabel: "不満", HighLabel: "満足"},
			{ID: "nps", Type: survey.NPS, Title: "このショップを友人やご家族に勧める可能性はどのくらいありますか？", Required: true, LowLabel: "全く勧めない", HighLabel: "強く勧める"},
			{ID: "comment", Type: survey.Text, Title: "ご意見・ご要望があればお聞かせください"},
		}}
}

var skinTypes = table(choice[string]{"dry", 34}, choice[string]{"mixed", 26}, choice[string]{"sensitive", 16}, choice[string]{"oily", 12}, choice[string]{"normal", 12})
var worryValues = []string{"spots", "wrinkles", "pores", "dryness", "gut", "sleep"}
var comments = []string{"定期便のお届け周期をもっと細かく選べると嬉しいです。", "梱包がシンプルで良いと思います。", "詰め替え用を増やしてほしいです。",
	"サポートの対応が丁寧でした。", "価格がもう少し手頃だと続けやすいです。", "新商品のお知らせをLINEで受け取りたいです。"}

// surveyAnswers draws one respondent's answers: repeat buyers are more
// often promoters.
func surveyAnswers(r *rand.Rand, orders int) map[string][]string {
	a := map[string][]string{"skin": {skinTypes.pick(r)}}
	var w []string
	for _, v := range worryValues {
		if chance(r, 0.3) {
			w = append(w, v)
		}
	}
	if len(w) > 0 {
		a["worries"] = w
	}
	nps := int(math.Round(5.5 + 1.1*float64(min(orders, 4)) + 2*r.NormFloat64()))
	nps = max(0, min(10, nps))
	a["nps"] = []string{strconv.Itoa(nps)}
	a["satisfaction"] = []string{strconv.Itoa(max(1, min(5, 1+nps/2+r.IntN(2)-1)))}
	if chance(r, 0.3) {
		a["comment"] = []string{comments[r.IntN(len(comments))]}
	}
	return a
}

// voiceCounts is what writing a group's voice data added.
type voiceCounts struct {
	subscriptions, deliveries, reviews, responses, inquiries, events int
}

// writeVoice writes a group's voice data: the subscription feed, reviews,
// inquiries, survey invitations and answers. sink also resolves people
// (ImportCustomers) to file inquiries and answers under them.
func writeVoice(ctx context.Context, sink Sink, v *voice, surveyID int64) (voiceCounts, error) {
	var n voiceCounts
	n.subscriptions = len(v.book.Contracts)
	for i := range v.book.Contracts {
		n.deliveries += len(v.book.Contracts[i].Deliveries)
	}
	if _, err := book.Feed(ctx, sink, v.book.Actions(), v.book.End); err != nil {
		return n, fmt.Errorf("demo: %w", err)
	}
	n.events += v.book.Events()
	for lo := 0; lo < len(v.reviews); lo += batchSize {
		if _, err := sink.ImportReviews(ctx, v.reviews[lo:min(lo+batchSize, len(v.reviews))]); err != nil {
			return n, fmt.Errorf("demo: write reviews: %w", err)
		}
	}
	n.reviews = len(v.reviews)
	// File inquiries and survey answers under the customers their members are.
	var who []customer.Record
	for _, q := range v.inquiries {
		who = append(who, q.who)
	}
	who = append(who, v.invited...)
	for _, a := range v.answers {
		who = append(who, a.who)
	}
	if len(who) == 0 {
		return n, nil
	}
	res, err := sink.ImportCustomers(ctx, who)
	if err != nil {
		return n, fmt.Errorf("demo: find members: %w", err)
	}
	ids := res.CustomerIDs
	for i, q := range v.inquiries {
		q.inq.CustomerID = ids[i]
		id, err := sink.AddInquiry(ctx, q.inq)
		if err != nil {
			return n, fmt.Errorf("demo: write inquiry: %w", err)
		}
		if err := sink.SetInquiryTags(ctx, id, q.tags); err != nil {
			return n, fmt.Errorf("demo: tag inquiry: %w", err)
		}
	}
	n.inquiries = len(v.inquiries)
	ids = ids[len(v.inquiries):]
	for i := range v.invited {
		if err := sink.InviteToSurvey(ctx, surveyID, ids[i], "email"); err != nil {
			return n, fmt.Errorf("demo: invite to survey: %w", err)
		}
	}
	ids = ids[len(v.invited):]
	for i, a := range v.answers {
		if _, err := sink.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: surveyID, CustomerID: ids[i], Channel: "link",
			Answers: a.answers, SubmittedAt: a.at}); err != nil {
			return n, fmt.Errorf("demo: answer survey: %w", err)
		}
	}
	n.responses = len(v.answers)
	n.events += len(v.answers)
	return n, nil
}

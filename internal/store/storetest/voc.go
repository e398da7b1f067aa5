package storetest

import (
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/review"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
	"github.com/enishi-crm/enishi/internal/survey"
)

func vocCases() []Case {
	return []Case{
		{"SurveyAnswersReplaceEarlierOnesAndCountResults", testSurveyResults},
		{"SurveyAnswersAreOnTheProfileAndInSegments", testSurveySegments},
		{"SurveyQuestionsAreFrozenOnceAnswered", testSurveyFrozen},
		{"ReviewsUpsertAndReport", testReviews},
		{"InquiryDeskStatusTagsRepliesAndExclusion", testInquiryDesk},
		{"SubscriptionConditionsCountTheRightCustomers", testSubscriptionConditions},
		{"ErasureClearsWhatTheCustomerSaidAndKeepsTheCounts", testVoiceErasure},
		{"SubscriptionSegmentsFollowTheFeedAndTheDate", testSubscriptionSegments},
	}
}

// skinSurvey is a survey with every question type.
func skinSurvey() survey.Survey {
	return survey.Survey{Title: "お肌についてのアンケート", Status: survey.Open, Questions: []survey.Question{
		{ID: "skin", Type: survey.Single, Title: "肌質", Required: true, Options: []survey.Option{{Value: "dry", Label: "乾燥肌"}, {Value: "oily", Label: "脂性肌"}, {Value: "mixed", Label: "混合肌"}}},
		{ID: "worries", Type: survey.Multiple, Title: "お悩み", Options: []survey.Option{{Value: "spots", Label: "シミ"}, {Value: "wrinkles", Label: "シワ"}, {Value: "pores", Label: "毛穴"}}},
		{ID: "satisfaction", Type: survey.Rating, Title: "満足度"},
		{ID: "nps", Type: survey.NPS, Title: "友人に勧めたいですか"},
		{ID: "comment", Type: survey.Text, Title: "ご意見"},
	}}
}

func answers(kv ...any) map[string][]string {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case string:
			m[kv[i].(string)] = []string{v}
		case []string:
			m[kv[i].(string)] = v
		}
	}
	return m
}

func newCustomers(t *testing.T, db *store.DB, emails ...string) []int64 {
	t.Helper()
	recs := make([]customer.Record, len(emails))
	for i, e := range emails {
		recs[i] = Buyer(t, "shop", "", e, "")
	}
	return must[store.BatchResult](t)(db.ImportCustomers(ctx, recs)).CustomerIDs
}

func testSurveyResults(t *testing.T, db *store.DB, c *clock.Manual) {
	s := must[*survey.Survey](t)(db.CreateSurvey(ctx, skinSurvey()))
	ids := newCustomers(t, db, "a@example.jp", "b@example.jp", "c@example.jp", "d@example.jp")
	for _, id := range ids {
		if err := db.InviteToSurvey(ctx, s.ID, id, "email"); err != nil {
			t.Fatal(err)
		}
	}
	must[int64](t)(db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: ids[0], Channel: "link",
		Answers: answers("skin", "oily", "nps", "3")}))
	c.Advance(time.Hour)
	// Answering again replaces the earlier response.
	must[int64](t)(db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: ids[0], Channel: "link",
		Answers: answers("skin", "dry", "worries", []string{"spots", "pores"}, "satisfaction", "4", "nps", "10", "comment", "とても良い")}))
	must[int64](t)(db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: ids[1], Channel: "link",
		Answers: answers("skin", "dry", "worries", []string{"spots"}, "satisfaction", "2", "nps", "6")}))
	r := must[*survey.Results](t)(db.SurveyResults(ctx, s.ID, 10))
	if r.Responses != 2 || r.Identified != 2 || r.Reached != 4 || r.ResponseRate != 0.5 {
		t.Fatalf("results %+v", r)
	}
	q := map[string]survey.QuestionResult{}
	for _, x := range r.Questions {
		q[x.ID] = x
	}
	if q["skin"].Answered != 2 || q["skin"].Options[0].Count != 2 || q["skin"].Options[0].Share != 1 || q["skin"].Options[1].Count != 0 {
		t.Errorf("skin %+v", q["skin"])
	}
	if q["worries"].Options[0].Count != 2 || q["worries"].Options[2].Count != 1 || q["worries"].Options[2].Share != 0.5 {
		t.Errorf("worries %+v", q["worries"])
	}
	if *q["satisfaction"].Mean != 3 || q["satisfaction"].Distribution[2] != 1 {
		t.Errorf("satisfaction %+v", q["satisfaction"])
	}
	// One promoter (10), one detractor (6): NPS 0.
	if n := q["nps"]; *n.NPS != 0 || n.Promoters != 1 || n.Detractors != 1 || n.Distribution[10] != 1 || n.Distribution[3] != 0 {
		t.Errorf("nps %+v", n)
	}
	if tx := q["comment"].Texts; len(tx) != 1 || tx[0].Text != "とても良い" || tx[0].CustomerID != ids[0] {
		t.Errorf("texts %+v", tx)
	}
	// Anonymous answers are refused unless the survey allows them.
	if _, err := db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, Answers: answers("skin", "dry")}); errs.Code(err) != errs.Forbidden {
		t.Errorf("anonymous: %v", err)
	}
	bad := []map[string][]string{answers("nps", "7"), answers("skin", "wet"), answers("skin", "dry", "nps", "11"), answers("skin", "dry", "x", "1")}
	for _, a := range bad {
		if _, err := db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: ids[2], Answers: a}); errs.Code(err) != errs.Invalid {
			t.Errorf("%v: %v", a, err)
		}
	}
	var rows []store.SurveyResponse
	if err := db.EachSurveyResponse(ctx, s.ID, func(r store.SurveyResponse) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0].Answers) != 5 || !reflect.DeepEqual(rows[0].Answers[1].Choices, []string{"pores", "spots"}) {
		t.Errorf("responses %+v", rows)
	}
	// Closed surveys take no answers.
	s.Status = survey.Closed
	must[*survey.Survey](t)(db.UpdateSurvey(ctx, *s))
	if _, err := db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: ids[3], Answers: answers("skin", "dry")}); errs.Code(err) != errs.Conflict {
		t.Errorf("closed: %v", err)
	}
}

func testSurveySegments(t *testing.T, db *store.DB, _ *clock.Manual) {
	s := must[*survey.Survey](t)(db.CreateSurvey(ctx, skinSurvey()))
	ids := newCustomers(t, db, "a@example.jp", "b@example.jp", "c@example.jp")
	for i, a := range []map[string][]string{answers("skin", "dry", "nps", "9"), answers("skin", "dry", "nps", "4"), answers("skin", "oily", "nps", "5")} {
		must[int64](t)(db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: ids[i], Channel: "link", Answers: a}))
	}
	count := func(conds ...store.VOCCondition) []int64 {
		t.Helper()
		_, got, err := db.CountVOCSegment(ctx, conds)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	dry := store.VOCCondition{Field: "survey_answer", SurveyID: s.ID, Question: "skin", Value: "dry", Op: "has"}
	if got := count(dry); !reflect.DeepEqual(got, []int64{ids[0], ids[1]}) {
		t.Errorf("answered skin: dry = %v", got)
	}
	detractor := store.VOCCondition{Field: "nps_category", Op: "=", Value: survey.Detractor}
	if got := count(dry, detractor); !reflect.DeepEqual(got, []int64{ids[1]}) {
		t.Errorf("dry detractors = %v", got)
	}
	notDry := dry
	notDry.Op = "not_has"
	if got := count(notDry, store.VOCCondition{Field: "survey_responded", SurveyID: s.ID}); !reflect.DeepEqual(got, []int64{ids[2]}) {
		t.Errorf("answered but not dry = %v", got)
	}
	if got := count(store.VOCCondition{Field: "nps_score", Op: ">=", Value: int64(9)}); !reflect.DeepEqual(got, []int64{ids[0]}) {
		t.Errorf("nps >= 9 = %v", got)
	}
	// The answers are on the profile: timeline and responses.
	v := view(t, db, ids[1])
	found := false
	for _, it := range v.Timeline {
		found = found || (it.Kind == "survey" && it.Title == s.Title)
		if it.Kind == "event" && it.Title == store.SurveyEventName {
			t.Error("the survey event is shown twice on the timeline")
		}
	}
	if !found {
		t.Errorf("timeline %+v", v.Timeline)
	}
	rs := must[[]store.SurveyResponse](t)(db.CustomerSurveyResponses(ctx, ids[1]))
	if len(rs) != 1 || rs[0].SurveyTitle != s.Title || rs[0].Answers[0].Choices[0] != "dry" {
		t.Errorf("responses %+v", rs)
	}
	// Merging moves the answers with the customer.
	must[int64](t)(db.MergeCustomers(ctx, ids[0], ids[1], "test"))
	if got := count(dry); !reflect.DeepEqual(got, []int64{ids[0]}) {
		t.Errorf("after merge = %v", got)
	}
	if _, _, err := db.CountVOCSegment(ctx, []store.VOCCondition{{Field: "survey_answer", Value: "dry"}}); errs.Code(err) != errs.Invalid {
		t.Errorf("survey_answer without survey: %v", err)
	}
}

func testSurveyFrozen(t *testing.T, db *store.DB, _ *clock.Manual) {
	if _, err := db.CreateSurvey(ctx, survey.Survey{Title: "x", Questions: []survey.Question{{ID: "a", Type: "slider", Title: "?"}}}); errs.Code(err) != errs.Invalid {
		t.Errorf("bad type: %v", err)
	}
	s := must[*survey.Survey](t)(db.CreateSurvey(ctx, skinSurvey()))
	if s.PublicKey == "" || len(s.PublicKey) < 16 {
		t.Errorf("public key %q", s.PublicKey)
	}
	id := newCustomers(t, db, "a@example.jp")[0]
	must[int64](t)(db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: s.ID, CustomerID: id, Answers: answers("skin", "dry")}))
	s.Questions[0].Title = "あなたの肌質"
	if _, err := db.UpdateSurvey(ctx, *s); err != nil {
		t.Errorf("rewording: %v", err)
	}
	s.Questions[0].Options = s.Questions[0].Options[:2]
	if _, err := db.UpdateSurvey(ctx, *s); errs.Code(err) != errs.Conflict {
		t.Errorf("dropping an option of an answered survey: %v", err)
	}
	k1 := must[[]byte](t)(db.SurveyLinkKey(ctx))
	k2 := must[[]byte](t)(db.SurveyLinkKey(ctx))
	if len(k1) != 32 || !reflect.DeepEqual(k1, k2) {
		t.Errorf("link key %x %x", k1, k2)
	}
	list := must[[]store.SurveySummary](t)(db.ListSurveys(ctx))
	if len(list) != 1 || list[0].Responses != 1 {
		t.Errorf("list %+v", list)
	}
}

func testReviews(t *testing.T, db *store.DB, _ *clock.Manual) {
	// Two buyers review, one of them buys again after reviewing; two don't.
	a, b := Buyer(t, "shop", "", "a@example.jp", ""), Buyer(t, "shop", "", "b@example.jp", "")
	cc, d := Buyer(t, "shop", "", "c@example.jp", ""), Buyer(t, "shop", "", "d@example.jp", "")
	must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "1", day(60), a, "SP-001", 1, 3000), Order("shop", "2", day(10), a, "SP-001", 1, 3000),
		Order("shop", "3", day(50), b, "SP-001", 1, 3000),
		Order("shop", "4", day(40), cc, "SK-005", 1, 4000), Order("shop", "5", day(20), cc, "SK-005", 1, 4000),
		Order("shop", "6", day(30), d, "SK-005", 1, 4000),
	}))
	rv := func(id, sku string, rating int, at time.Time, who customer.Record) review.Review {
		return review.Review{Source: "app", ExternalID: id, SKU: sku, Rating: rating, Title: "t", Body: "本文", ReviewedAt: at, Reviewer: who}
	}
	res := must[store.BatchResult](t)(db.ImportReviews(ctx, []review.Review{
		rv("R1", "SP-001", 5, day(45), a), rv("R2", "SP-001", 2, day(40), b), rv("R3", "SK-005", 4, day(5), customer.Record{}),
	}))
	if res.Inserted != 3 || res.NewCustomers != 0 || res.CustomerIDs[2] != 0 {
		t.Fatalf("import %+v", res)
	}
	again := must[store.BatchResult](t)(db.ImportReviews(ctx, []review.Review{rv("R1", "SP-001", 5, day(45), a)}))
	if again.Unchanged != 1 {
		t.Errorf("again %+v", again)
	}
	edit := must[store.BatchResult](t)(db.ImportReviews(ctx, []review.Review{rv("R2", "SP-001", 3, day(40), b)}))
	if edit.Updated != 1 {
		t.Errorf("edit %+v", edit)
	}
	rr := must[*review.RatingsReport](t)(db.ReviewRatings(ctx, time.Time{}, time.Time{}))
	if rr.Reviews != 3 || rr.Average != 4 || len(rr.Products) != 2 || rr.Products[1].SKU != "SP-001" || rr.Products[1].Average != 4 || rr.Products[1].Reviewers != 2 {
		t.Errorf("ratings %+v", rr)
	}
	rep := must[*review.RepeatReport](t)(db.ReviewRepeat(ctx, day(100), T0))
	if rep.Reviewers.Customers != 2 || rep.Reviewers.Repeaters != 1 || rep.NonReviewers.Customers != 2 || rep.NonReviewers.Repeaters != 1 ||
		rep.ReorderedAfterReview != 0.5 || rep.Lift != 1 {
		t.Errorf("repeat %+v", rep)
	}
	low := must2r(t)(db.ListReviews(ctx, store.ReviewQuery{MaxRating: 3}))
	if len(low) != 1 || low[0].ExternalID != "R2" {
		t.Errorf("low ratings %+v", low)
	}
	// On the reviewer's timeline, and in segment conditions.
	cid := res.CustomerIDs[0]
	v := view(t, db, cid)
	if len(v.Timeline) == 0 || v.Timeline[len(v.Timeline)-2].Kind != "review" && v.Timeline[1].Kind != "review" {
		kinds := []string{}
		for _, it := range v.Timeline {
			kinds = append(kinds, it.Kind)
		}
		t.Errorf("timeline kinds %v", kinds)
	}
	_, got, err := db.CountVOCSegment(ctx, []store.VOCCondition{{Field: "review_rating", Op: ">=", Value: 4.5}})
	if err != nil || !reflect.DeepEqual(got, []int64{cid}) {
		t.Errorf("rating >= 4.5: %v %v", got, err)
	}
	if _, err := db.ImportReviews(ctx, []review.Review{rv("R9", "SP-001", 6, day(1), a)}); errs.Code(err) != errs.Invalid {
		t.Errorf("rating 6: %v", err)
	}
}

func must2r(t testing.TB) func(v []review.Review, n int, err error) []review.Review {
	return func(v []review.Review, n int, err error) []review.Review {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func testInquiryDesk(t *testing.T, db *store.DB, c *clock.Manual) {
	ids := newCustomers(t, db, "a@example.jp", "b@example.jp", "c@example.jp")
	q1 := must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: ids[0], Channel: "email", Subject: "解約したい", Body: "定期便を止めたいです"}))
	q2 := must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: ids[1], Channel: "line", Subject: "配送日", Body: "届く日を教えて"}))
	must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: ids[2], Channel: "form", Subject: "お礼", Status: customer.InquiryClosed}))
	if err := db.SetInquiryTags(ctx, q1, []string{"解約相談", " 定期 ", "解約相談"}); err != nil {
		t.Fatal(err)
	}
	assignee := "staff@example.jp"
	d := must[*customer.InquiryDetail](t)(db.UpdateInquiry(ctx, q1, nil, &assignee))
	if d.Assignee != assignee || !reflect.DeepEqual(d.Tags, []string{"定期", "解約相談"}) || d.CustomerName != "a@example.jp" {
		t.Errorf("inquiry %+v", d)
	}
	c.Advance(time.Hour)
	must[int64](t)(db.AddInquiryReply(ctx, customer.InquiryReply{InquiryID: q1, Author: assignee, Body: "承知しました。次回お届けを止めます。", Channel: "email"}, false))
	d = must[*customer.InquiryDetail](t)(db.Inquiry(ctx, q1))
	if d.Status != customer.InquiryPending || len(d.Replies) != 1 || d.Replies[0].Author != assignee {
		t.Errorf("after reply %+v", d)
	}
	list, n, err := db.ListInquiries(ctx, store.InquiryQuery{Status: "unresolved"})
	if err != nil || n != 2 || len(list) != 2 {
		t.Fatalf("unresolved %d %v", n, err)
	}
	tagged, _, _ := db.ListInquiries(ctx, store.InquiryQuery{Tag: "解約相談"})
	unassigned, _, _ := db.ListInquiries(ctx, store.InquiryQuery{Assignee: "-", Status: "unresolved"})
	if len(tagged) != 1 || tagged[0].ID != q1 || len(unassigned) != 1 || unassigned[0].ID != q2 {
		t.Errorf("tagged %+v unassigned %+v", tagged, unassigned)
	}
	counts := must[store.InquiryCounts](t)(db.InquiryCounts(ctx))
	if counts.ByStatus["pending"] != 1 || counts.ByStatus["open"] != 1 || counts.ByStatus["closed"] != 1 || counts.ByAssignee[""] != 1 || counts.ByTag["解約相談"] != 1 {
		t.Errorf("counts %+v", counts)
	}
	// Customers with an unresolved inquiry are left out of campaigns, by default.
	ex := must[map[int64]bool](t)(db.ExcludedFromCampaigns(ctx, ids))
	if !reflect.DeepEqual(ex, map[int64]bool{ids[0]: true, ids[1]: true}) {
		t.Errorf("excluded %v", ex)
	}
	closed := customer.InquiryClosed
	d = must[*customer.InquiryDetail](t)(db.UpdateInquiry(ctx, q2, &closed, nil))
	if d.ClosedAt == nil || !d.ClosedAt.Equal(c.Now()) {
		t.Errorf("closed at %v", d.ClosedAt)
	}
	ex = must[map[int64]bool](t)(db.ExcludedFromCampaigns(ctx, ids))
	if !reflect.DeepEqual(ex, map[int64]bool{ids[0]: true}) {
		t.Errorf("excluded after closing %v", ex)
	}
	if err := db.SetInquirySettings(ctx, store.InquirySettings{ExcludeFromCampaigns: false}); err != nil {
		t.Fatal(err)
	}
	if ex := must[map[int64]bool](t)(db.ExcludedFromCampaigns(ctx, ids)); len(ex) != 0 {
		t.Errorf("excluded with the setting off %v", ex)
	}
	if e, err := db.CampaignExclusion(ctx); e != nil || err != nil {
		t.Errorf("exclusion off: %v %v", e, err)
	}
	_, got, err := db.CountVOCSegment(ctx, []store.VOCCondition{{Field: "open_inquiries", Op: ">=", Value: int64(1)}, {Field: "inquiry_tag", Value: "解約相談"}})
	if err != nil || !reflect.DeepEqual(got, []int64{ids[0]}) {
		t.Errorf("segment %v %v", got, err)
	}
	bad := "urgent"
	if _, err := db.UpdateInquiry(ctx, q1, &bad, nil); errs.Code(err) != errs.Invalid {
		t.Errorf("bad status: %v", err)
	}
	if _, err := db.AddInquiryReply(ctx, customer.InquiryReply{InquiryID: 999, Body: "x"}, false); errs.Code(err) != errs.NotFound {
		t.Errorf("reply to nothing: %v", err)
	}
}

func testSubscriptionConditions(t *testing.T, db *store.DB, c *clock.Manual) {
	in3 := T0.AddDate(0, 0, 3)
	res := must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{
		contract(t, "A", "a@example.jp", day(30), &in3, subscription.Active, 1),
		contract(t, "B", "b@example.jp", day(90), nil, subscription.Paused, 3),
		contract(t, "C", "c@example.jp", day(60), nil, subscription.Active, 2),
	}))
	cancelC := subscription.Update{Source: "cart", ExternalID: "C", Kind: subscription.CancelledK, At: day(10), CancelledAt: ptrTo(day(10))}
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{cancelC}))
	a, b, cc := res.CustomerIDs[0], res.CustomerIDs[1], res.CustomerIDs[2]
	cases := []struct {
		cond store.VOCCondition
		want []int64
	}{
		{store.VOCCondition{Field: "subscription_status", Value: "paused"}, []int64{b}},
		{store.VOCCondition{Field: "subscription_status", Value: "live"}, []int64{a, b}},
		{store.VOCCondition{Field: "subscription_count", Op: "=", Value: int64(0)}, []int64{cc}},
		{store.VOCCondition{Field: "subscription_deliveries", Op: "<", Value: int64(3)}, []int64{a}},
		{store.VOCCondition{Field: "days_until_next_delivery", Op: "=", Value: int64(3)}, []int64{a}},
		{store.VOCCondition{Field: "days_since_subscription_cancel", Op: "=", Value: int64(10)}, []int64{cc}},
	}
	for _, tc := range cases {
		_, got, err := db.CountVOCSegment(ctx, []store.VOCCondition{tc.cond})
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.cond, got, err, tc.want)
		}
	}
	c.Advance(24 * time.Hour)
	for _, tc := range []struct {
		cond store.VOCCondition
		want []int64
	}{
		{store.VOCCondition{Field: "days_until_next_delivery", Op: "=", Value: int64(2)}, []int64{a}},
		{store.VOCCondition{Field: "days_since_subscription_cancel", Op: "=", Value: int64(11)}, []int64{cc}},
	} {
		_, got, err := db.CountVOCSegment(ctx, []store.VOCCondition{tc.cond})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("a day later %+v: %v %v", tc.cond, got, err)
		}
	}
}

func testVoiceErasure(t *testing.T, db *store.DB, _ *clock.Manual) {
	u := contract(t, "E", "erase@example.jp", day(60), nil, subscription.Cancelled, 2)
	u.CancelledAt, u.CancelReason = ptrTo(day(5)), ptrTo("夫が反対しているため（山田）")
	cid := must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{u})).CustomerIDs[0]
	sv := must[*survey.Survey](t)(db.CreateSurvey(ctx, skinSurvey()))
	must[int64](t)(db.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: sv.ID, CustomerID: cid, Answers: answers("skin", "dry", "comment", "住所は東京都港区…")}))
	must[store.BatchResult](t)(db.ImportReviews(ctx, []review.Review{{Source: "app", ExternalID: "R1", SKU: "SP-001", Rating: 2, Title: "合わない", Body: "肌荒れしました",
		ReviewerName: "やまだ", ReviewedAt: day(3), Reviewer: Buyer(t, "cart", "", "erase@example.jp", "")}}))
	q := must[int64](t)(db.AddInquiry(ctx, customer.Inquiry{CustomerID: cid, Subject: "解約", Body: "電話してください 090-0000-0000"}))
	if err := db.SetInquiryTags(ctx, q, []string{"解約相談"}); err != nil {
		t.Fatal(err)
	}
	must[int64](t)(db.AddInquiryReply(ctx, customer.InquiryReply{InquiryID: q, Author: "cs", Body: "山田様、承知しました"}, false))

	e := must[*store.Erasure](t)(db.EraseCustomer(ctx, cid, store.PrivacyRequest{Reason: "本人からの削除依頼", Source: "cli"}))
	if e.Deleted["inquiry_replies"] != 1 || e.Deleted["inquiry_tags"] != 1 || e.Anonymised["survey_answers"] != 2 {
		t.Errorf("erasure %+v", e)
	}
	var left int
	if err := db.Read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM subscriptions WHERE cancel_reason <> '') + (SELECT count(*) FROM survey_answers WHERE text <> '') +
		(SELECT count(*) FROM reviews WHERE body <> '' OR title <> '' OR reviewer_name <> '') + (SELECT count(*) FROM inquiries) +
		(SELECT count(*) FROM inquiry_replies) + (SELECT count(*) FROM inquiry_tags)`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d rows still hold what the erased customer said", left)
	}
	// The counts reports are made of stay.
	rep := must[*subscription.RetentionReport](t)(db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByNone}))
	rr := must[*review.RatingsReport](t)(db.ReviewRatings(ctx, time.Time{}, time.Time{}))
	res := must[*survey.Results](t)(db.SurveyResults(ctx, sv.ID, 10))
	if rep.Total.Subscriptions != 1 || rep.Total.Reached[1] != 1 || rr.Reviews != 1 || rr.Average != 2 || res.Responses != 1 || res.Questions[0].Options[0].Count != 1 {
		t.Errorf("after erasure: retention %+v ratings %+v survey %+v", rep.Total, rr, res)
	}
}

// testSubscriptionSegments: segments on subscription fields (the journey
// triggers "3 days before the next delivery", "after the 1st delivery",
// "30 days after cancelling") enter through the change feed and the date.
func testSubscriptionSegments(t *testing.T, db *store.DB, c *clock.Manual) {
	mk := func(name, cond string) int64 {
		t.Helper()
		cnd, err := segment.Parse([]byte(cond))
		if err != nil {
			t.Fatal(err)
		}
		return must[*segment.Segment](t)(db.CreateSegment(ctx, segment.Segment{Name: name, Condition: cnd})).ID
	}
	dueIn3 := mk("次回お届け3日前", `{"field":"days_until_next_delivery","op":"=","value":3}`)
	after1st := mk("1回目お届け後", `{"all":[{"field":"subscription_deliveries","op":"=","value":1},{"field":"subscription_status","op":"has","value":"live"}]}`)
	winBack := mk("解約30日後", `{"all":[{"field":"days_since_subscription_cancel","op":"=","value":30},{"field":"subscription_count","op":"=","value":0}]}`)
	members := func(id int64) int64 { t.Helper(); return must[int64](t)(db.CountSegment(ctx, id)) }

	in4 := T0.AddDate(0, 0, 4)
	res := must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{
		contract(t, "A", "a@example.jp", day(27), &in4, subscription.Active, 1),
		contract(t, "B", "b@example.jp", day(90), nil, subscription.Active, 3),
	}))
	drainChanges(t, db)
	if members(dueIn3) != 0 || members(after1st) != 1 || members(winBack) != 0 {
		t.Fatalf("at T0: %d %d %d", members(dueIn3), members(after1st), members(winBack))
	}
	cancel := subscription.Update{Source: "cart", ExternalID: "B", Kind: subscription.CancelledK, CancelReason: ptrTo("価格が高い")}
	must[store.BatchResult](t)(db.ImportSubscriptions(ctx, []subscription.Update{cancel}))
	drainChanges(t, db)
	// A day later A's next delivery is 3 days away; 30 days after B cancelled, B is due a win-back.
	c.Advance(24 * time.Hour)
	must[int](t)(db.RefreshSegmentsByDate(ctx))
	if members(dueIn3) != 1 {
		t.Errorf("3 days before the next delivery: %d members", members(dueIn3))
	}
	c.Advance(29 * 24 * time.Hour)
	must[int](t)(db.RefreshSegmentsByDate(ctx))
	if members(dueIn3) != 0 || members(winBack) != 1 {
		t.Errorf("30 days on: due %d, win-back %d", members(dueIn3), members(winBack))
	}
	ms := must2m(t)(db.SegmentMembers(ctx, winBack, 10, 0))
	if len(ms) != 1 || ms[0].ID != res.CustomerIDs[1] {
		t.Errorf("win-back members %+v", ms)
	}
}

func must2m(t testing.TB) func(v []customer.Summary, err error) []customer.Summary {
	return func(v []customer.Summary, err error) []customer.Summary {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

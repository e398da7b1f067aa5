package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/segment"
	"github.com/enishi-crm/enishi/internal/subscription"
	"github.com/enishi-crm/enishi/internal/survey"
)

// The segment conditions of subscriptions and the voice of the customer,
// for the segment language (internal/segment): each field compiles to an
// SQL expression over the customers table aliased c, values bound through
// the compiler's arg function. docs/subscriptions.md and
// docs/voice-of-customer.md list them with their Japanese labels.

// VOCSegmentStore counts customers by these conditions.
type VOCSegmentStore interface {
	// CountVOCSegment counts active customers meeting every condition and
	// returns up to 100 of their ids.
	CountVOCSegment(ctx context.Context, conds []VOCCondition) (int64, []int64, error)
}

// VOCField describes one condition field.
type VOCField struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // number | text | has (has / not_has a value)
	Label string `json:"label"`
	// Needs lists the qualifiers the field requires (survey_id, question).
	Needs []string `json:"needs,omitempty"`
	// Float marks numbers with fractions; TimeRelative fields whose truth
	// changes as days pass (re-check daily).
	Float        bool `json:"float,omitempty"`
	TimeRelative bool `json:"time_relative,omitempty"`
}

// VOCFields is the catalogue.
var VOCFields = []VOCField{
	{Name: "subscription_status", Kind: "has", Label: "定期ステータス"},
	{Name: "subscription_count", Kind: "number", Label: "継続中の定期契約数"},
	{Name: "subscription_deliveries", Kind: "number", Label: "定期のお届け回数（継続中で最大）"},
	{Name: "subscription_skips", Kind: "number", Label: "定期のスキップ回数（継続中の合計）"},
	{Name: "days_until_next_delivery", Kind: "number", Label: "次回お届けまでの日数", TimeRelative: true},
	{Name: "days_since_subscription_cancel", Kind: "number", Label: "定期解約からの日数", TimeRelative: true},
	{Name: "subscription_cancel_risk", Kind: "number", Label: "定期解約リスク（次回お届けまで）", Float: true},
	{Name: "subscription_risk_tier", Kind: "text", Label: "定期解約リスク区分"},
	{Name: "survey_answer", Kind: "has", Label: "アンケートの回答", Needs: []string{"survey_id", "question"}},
	{Name: "survey_responded", Kind: "has", Label: "アンケートに回答した", Needs: []string{"survey_id"}},
	{Name: "nps_score", Kind: "number", Label: "NPS スコア（最新）"},
	{Name: "nps_category", Kind: "text", Label: "NPS 区分（推奨者・中立者・批判者）"},
	{Name: "review_count", Kind: "number", Label: "レビュー投稿数"},
	{Name: "review_rating", Kind: "number", Label: "レビューの平均評価", Float: true},
	{Name: "open_inquiries", Kind: "number", Label: "未解決の問い合わせ数"},
	{Name: "inquiry_tag", Kind: "has", Label: "問い合わせのタグ"},
}

// VOCCondition is one leaf of a condition on these fields.
type VOCCondition struct {
	Field string
	// Op is = != < <= > >= for numbers, = != in for text, has | not_has.
	Op       string
	Value    any // int64, float64, string or []string
	SurveyID int64
	Question string
}

// VOCExpr returns the value expression of a number or text field (NULL
// when the customer has nothing to measure: no subscription, no answer);
// the segment compiler applies its own operators to it. now fixes "today"
// (Asia/Tokyo) for time-relative fields.
func VOCExpr(field string, cond VOCCondition, now time.Time, arg func(any) string) (string, error) {
	today := dayNumber(now)
	switch field {
	case "subscription_count":
		return `(SELECT count(*) FROM subscriptions s WHERE s.customer_id = c.id AND s.status <> 'cancelled')`, nil
	case "subscription_deliveries":
		return `(SELECT max(s.deliveries) FROM subscriptions s WHERE s.customer_id = c.id AND s.status <> 'cancelled')`, nil
	case "subscription_skips":
		return `(SELECT sum(s.skips) FROM subscriptions s WHERE s.customer_id = c.id AND s.status <> 'cancelled')`, nil
	case "days_until_next_delivery":
		return `(SELECT min(s.next_delivery_day) FROM subscriptions s WHERE s.customer_id = c.id AND s.status IN ('active', 'skipped')) - ` + arg(today), nil
	case "days_since_subscription_cancel":
		// cancelled_at as a Tokyo day number: (ms + 9 h) / 1 day, floored
		// (times are after 1970, so integer division floors).
		return arg(today) + ` - (SELECT max((s.cancelled_at + 32400000) / 86400000) FROM subscriptions s WHERE s.customer_id = c.id AND s.status = 'cancelled')`, nil
	case "subscription_cancel_risk":
		return `(SELECT max(s.cancel_risk) FROM subscriptions s WHERE s.customer_id = c.id AND s.status <> 'cancelled')`, nil
	case "subscription_risk_tier":
		return `(SELECT CASE max(CASE s.risk_tier WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END)
			WHEN 3 THEN 'high' WHEN 2 THEN 'medium' WHEN 1 THEN 'low' END FROM subscriptions s WHERE s.customer_id = c.id AND s.status <> 'cancelled')`, nil
	case "nps_score", "nps_category":
		q := `(SELECT a.number FROM survey_answers a JOIN survey_responses r ON r.id = a.response_id
			WHERE a.customer_id = c.id AND a.qtype = 'nps'`
		if cond.SurveyID != 0 {
			q += ` AND a.survey_id = ` + arg(cond.SurveyID)
		}
		q += ` ORDER BY r.submitted_at DESC, r.id DESC LIMIT 1)`
		if field == "nps_category" {
			return `(CASE WHEN ` + q + ` >= 9 THEN '` + survey.Promoter + `' WHEN ` + q + ` >= 7 THEN '` + survey.Passive + `' WHEN ` + q +
				` >= 0 THEN '` + survey.Detractor + `' END)`, nil
		}
		return q, nil
	case "review_count":
		return `(SELECT count(*) FROM reviews v WHERE v.customer_id = c.id)`, nil
	case "review_rating":
		return `(SELECT avg(CAST(v.rating AS REAL)) FROM reviews v WHERE v.customer_id = c.id)`, nil
	case "open_inquiries":
		return `(SELECT count(*) FROM inquiries i WHERE i.customer_id = c.id AND i.status IN ('open', 'pending'))`, nil
	}
	return "", errs.FieldErrorf("field", "%q is not a number or text field of subscriptions or the voice of the customer", field)
}

// VOCHas returns the condition of a "has" field: the customer has (or, not,
// lacks) the value.
func VOCHas(cond VOCCondition, arg func(any) string) (string, error) {
	var q string
	switch cond.Field {
	case "subscription_status":
		v, _ := cond.Value.(string)
		if v == "live" {
			q = `EXISTS (SELECT 1 FROM subscriptions s WHERE s.customer_id = c.id AND s.status <> 'cancelled')`
			break
		}
		st, err := subscription.ParseStatus(v)
		if err != nil {
			return "", errs.FieldErrorf("value", "%q is not active, paused, skipped, cancelled or live", v)
		}
		q = `EXISTS (SELECT 1 FROM subscriptions s WHERE s.customer_id = c.id AND s.status = ` + arg(string(st)) + `)`
	case "survey_answer":
		v, _ := cond.Value.(string)
		if cond.SurveyID == 0 || cond.Question == "" || v == "" {
			return "", errs.FieldErrorf("survey_answer", "needs survey_id, question and the option value")
		}
		q = `EXISTS (SELECT 1 FROM survey_answers a WHERE a.customer_id = c.id AND a.survey_id = ` +
			arg(cond.SurveyID) + ` AND a.question_id = ` + arg(cond.Question) + ` AND a.choice = ` + arg(v) + `)`
	case "survey_responded":
		if cond.SurveyID == 0 {
			return "", errs.FieldErrorf("survey_id", "required")
		}
		q = `EXISTS (SELECT 1 FROM survey_responses r WHERE r.customer_id = c.id AND r.survey_id = ` + arg(cond.SurveyID) + `)`
	case "inquiry_tag":
		v, _ := cond.Value.(string)
		q = `EXISTS (SELECT 1 FROM inquiries i JOIN inquiry_tags t ON t.inquiry_id = i.id WHERE i.customer_id = c.id AND t.tag = ` + arg(v) + `)`
	default:
		return "", errs.FieldErrorf("field", "%q is not a has field", cond.Field)
	}
	switch cond.Op {
	case "has", "":
		return q, nil
	case "not_has":
		return "NOT " + q, nil
	}
	return "", errs.FieldErrorf("op", "%q: use has or not_has", cond.Op)
}

// VOCConditionSQL compiles one condition to a boolean over customers c
// that is never NULL (so NOT is its exact complement).
func VOCConditionSQL(cond VOCCondition, now time.Time, arg func(any) string) (string, error) {
	var kind string
	for _, f := range VOCFields {
		if f.Name == cond.Field {
			kind = f.Kind
		}
	}
	switch kind {
	case "":
		return "", errs.FieldErrorf("field", "unknown field %q", cond.Field)
	case "has":
		return VOCHas(cond, arg)
	}
	expr, err := VOCExpr(cond.Field, cond, now, arg)
	if err != nil {
		return "", err
	}
	switch cond.Op {
	case "=", "!=", "<", "<=", ">", ">=":
		op := cond.Op
		if op == "!=" {
			op = "<>"
		}
		return "COALESCE(" + expr + " " + op + " " + arg(cond.Value) + ", FALSE)", nil
	case "in":
		vals, ok := cond.Value.([]string)
		if !ok || len(vals) == 0 {
			return "", errs.FieldErrorf("value", "in takes a list of values")
		}
		ph := make([]string, len(vals))
		for i, v := range vals {
			ph[i] = arg(v)
		}
		return "COALESCE(" + expr + " IN (" + strings.Join(ph, ", ") + "), FALSE)", nil
	case "is_set":
		return expr + " IS NOT NULL", nil
	}
	return "", errs.FieldErrorf("op", "%q does not apply to %s", cond.Op, cond.Field)
}

// CountVOCSegment counts active customers meeting every condition: the
// store-side check of the conditions (and the preview the API offers
// until the segment builder lands).
func (db *DB) CountVOCSegment(ctx context.Context, conds []VOCCondition) (int64, []int64, error) {
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	parts := []string{"c.status = 'active'"}
	now := db.Clock.Now()
	for _, c := range conds {
		s, err := VOCConditionSQL(c, now, arg)
		if err != nil {
			return 0, nil, err
		}
		parts = append(parts, s)
	}
	where := strings.Join(parts, " AND ")
	var n int64
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customers c WHERE `+where, args...).Scan(&n); err != nil {
		return 0, nil, err
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT c.id FROM customers c WHERE `+where+` ORDER BY c.id LIMIT 100`, args...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, nil, err
		}
		ids = append(ids, id)
	}
	return n, ids, rows.Err()
}

// voiceFields are the segment language's fields compiled by voice.
var voiceFields = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range VOCFields {
		m[f.Name] = true
	}
	return m
}()

// voice compiles the subscription and voice-of-the-customer fields of the
// segment language (segment.Fields) through VOCExpr and VOCHas, with the
// compiler's own operators. Fields that change with the date or with the
// daily risk refit make the segment re-check every customer on a date flip.
func (cp *condCompiler) voice(f *segment.FieldInfo, c segment.Condition) (string, error) {
	switch f.Name {
	case "days_until_next_delivery", "days_since_subscription_cancel", "subscription_cancel_risk", "subscription_risk_tier":
		cp.full = true
	}
	vc := VOCCondition{Field: f.Name, Op: c.Op, SurveyID: c.SurveyID, Question: c.Question}
	if f.Kind == segment.Tag {
		v, _ := segment.TextValue(c.Value)
		vc.Value = strings.TrimSpace(v)
		return VOCHas(vc, cp.arg)
	}
	var expr string
	if f.Name == "survey_responded" {
		expr = `(SELECT count(*) FROM survey_responses r WHERE r.customer_id = c.id AND r.survey_id = ` + cp.arg(c.SurveyID) + `)`
	} else {
		var err error
		if expr, err = VOCExpr(f.Name, vc, cp.now, cp.arg); err != nil {
			return "", err
		}
	}
	if f.Kind == segment.Text {
		return cp.text("COALESCE("+expr+", '')", c)
	}
	if f.Kind == segment.Count {
		if c.Op == "" {
			c.Op = ">=" // "answered", "has reviews": at least once
		}
		if len(c.Value) == 0 {
			c.Value = json.RawMessage("1")
		}
	}
	return cp.number(expr, f, c)
}

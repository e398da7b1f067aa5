// Package segment holds the segment condition language (セグメント条件): a
// JSON tree of AND/OR groups, negations and leaf conditions over what enishi
// knows about a customer, and the segment record itself. Conditions are
// validated here and compiled to SQL by the store (internal/store), so that
// counting a segment of millions runs in the database, never in Go.
package segment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
)

// Condition is one node of a condition tree. A node is exactly one of: a
// group of conditions that must all hold (All), a group of which at least
// one must hold (Any), a negation (Not), or a leaf (Field with Op and Value,
// plus the qualifiers the field takes).
type Condition struct {
	All []Condition `json:"all,omitempty"`
	Any []Condition `json:"any,omitempty"`
	Not *Condition  `json:"not,omitempty"`

	Field string          `json:"field,omitempty"`
	Op    string          `json:"op,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`

	// Qualifiers, by field: attribute names the custom attribute; channel
	// the consent channel; event the event name; sku or category narrow
	// bought and event; within_days limits bought, event and sales_channel
	// to the last N days (today in Asia/Tokyo and the N days before).
	Attribute  string `json:"attribute,omitempty"`
	Channel    string `json:"channel,omitempty"`
	Event      string `json:"event,omitempty"`
	SKU        string `json:"sku,omitempty"`
	Category   string `json:"category,omitempty"`
	WithinDays int    `json:"within_days,omitempty"`
	// SurveyID and Question name a survey and one of its questions
	// (survey_answer, survey_responded, nps_*).
	SurveyID int64  `json:"survey_id,omitempty"`
	Question string `json:"question,omitempty"`
}

// Limits on a condition tree, so that a stored segment stays cheap to
// evaluate and a hostile request cannot build an enormous query.
const (
	MaxDepth  = 8
	MaxNodes  = 200
	MaxValues = 1000 // items in an "in" list
	MaxText   = 500  // bytes in one text value
	MaxDays   = 36600
)

// Kind is the type of value a field holds; it decides the operators.
type Kind string

// Field kinds.
const (
	Text    Kind = "text"    // = != in not_in contains starts_with is_empty is_set
	Number  Kind = "number"  // = != < <= > >= between is_empty is_set
	Date    Kind = "date"    // before after on (YYYY-MM-DD, Asia/Tokyo) is_empty is_set
	Count   Kind = "count"   // a count of orders or events: = != < <= > >= between
	Tag     Kind = "tag"     // has not_has
	Consent Kind = "consent" // granted not_granted
	Channel Kind = "channel" // in not_in (sales channels bought through)
	Month   Kind = "month"   // = in this_month next_month
)

// Source says what a field needs beyond the core tables: the analytics
// scores or the loyalty programme. The store refuses such fields with a
// clear error while the capability is missing from the database.
type Source string

// Field sources.
const (
	Core      Source = ""
	Analytics Source = "analytics"
	Loyalty   Source = "loyalty"
)

// FieldInfo describes one field of the language.
type FieldInfo struct {
	Name   string `json:"name"`
	Kind   Kind   `json:"kind"`
	Label  string `json:"label"` // Japanese label for editors
	Source Source `json:"source,omitempty"`
	// Needs lists the qualifiers the field requires ("attribute",
	// "channel", "event"); Allows those it accepts.
	Needs  []string `json:"needs,omitempty"`
	Allows []string `json:"allows,omitempty"`
	// Float marks number fields holding fractions (P(alive)).
	Float bool `json:"float,omitempty"`
	// TimeRelative marks fields whose truth changes as days pass.
	TimeRelative bool `json:"time_relative,omitempty"`
}

// Fields is the catalogue of the language, in the order editors show it.
var Fields = []FieldInfo{
	{Name: "last_name", Kind: Text, Label: "姓"},
	{Name: "first_name", Kind: Text, Label: "名"},
	{Name: "last_name_kana", Kind: Text, Label: "セイ"},
	{Name: "first_name_kana", Kind: Text, Label: "メイ"},
	{Name: "email", Kind: Text, Label: "メールアドレス"},
	{Name: "phone", Kind: Text, Label: "電話番号"},
	{Name: "gender", Kind: Text, Label: "性別"},
	{Name: "postal_code", Kind: Text, Label: "郵便番号"},
	{Name: "prefecture", Kind: Text, Label: "都道府県"},
	{Name: "city", Kind: Text, Label: "市区町村"},
	{Name: "acq_channel", Kind: Text, Label: "初回流入チャネル"},
	{Name: "acq_source", Kind: Text, Label: "初回流入元"},
	{Name: "acq_medium", Kind: Text, Label: "初回流入メディア"},
	{Name: "acq_campaign", Kind: Text, Label: "初回流入キャンペーン"},
	{Name: "attribute", Kind: Text, Label: "カスタム属性", Needs: []string{"attribute"}},
	{Name: "created_at", Kind: Date, Label: "登録日"},
	{Name: "first_order_at", Kind: Date, Label: "初回購入日"},
	{Name: "last_order_at", Kind: Date, Label: "最終購入日"},
	{Name: "order_count", Kind: Number, Label: "購入回数"},
	{Name: "total_spent", Kind: Number, Label: "累計購入金額"},
	{Name: "aov", Kind: Number, Label: "平均購入単価"},
	{Name: "days_since_last_order", Kind: Number, Label: "最終購入からの日数", TimeRelative: true},
	{Name: "days_since_first_order", Kind: Number, Label: "初回購入からの日数", TimeRelative: true},
	{Name: "days_since_signup", Kind: Number, Label: "登録からの日数", TimeRelative: true},
	{Name: "birthday_month", Kind: Month, Label: "誕生月"},
	{Name: "tag", Kind: Tag, Label: "タグ"},
	{Name: "consent", Kind: Consent, Label: "配信許諾", Needs: []string{"channel"}},
	{Name: "bought", Kind: Count, Label: "購入した商品・カテゴリ", Allows: []string{"sku", "category", "within_days"}},
	{Name: "event", Kind: Count, Label: "行動イベント", Needs: []string{"event"}, Allows: []string{"sku", "within_days"}},
	{Name: "sales_channel", Kind: Channel, Label: "購入チャネル", Allows: []string{"within_days"}},
	{Name: "rfm_r", Kind: Number, Label: "RFM R スコア", Source: Analytics},
	{Name: "rfm_f", Kind: Number, Label: "RFM F スコア", Source: Analytics},
	{Name: "rfm_m", Kind: Number, Label: "RFM M スコア", Source: Analytics},
	{Name: "rfm_segment", Kind: Text, Label: "RFM セグメント", Source: Analytics},
	{Name: "cpm", Kind: Text, Label: "CPM 分類", Source: Analytics},
	{Name: "churn_tier", Kind: Text, Label: "離反リスク", Source: Analytics},
	{Name: "p_alive", Kind: Number, Label: "生存確率 P(alive)", Source: Analytics, Float: true},
	{Name: "clv", Kind: Number, Label: "予測 LTV", Source: Analytics, Float: true},
	{Name: "expected_purchases", Kind: Number, Label: "予測購入回数", Source: Analytics, Float: true},
	{Name: "rank", Kind: Text, Label: "会員ランク", Source: Loyalty},
	{Name: "points_balance", Kind: Number, Label: "ポイント残高", Source: Loyalty},
	// Subscriptions and the voice of the customer (docs/subscriptions.md,
	// docs/voice-of-customer.md); the store compiles them (store.VOCExpr).
	{Name: "subscription_status", Kind: Tag, Label: "定期ステータス"},
	{Name: "subscription_count", Kind: Count, Label: "継続中の定期契約数"},
	{Name: "subscription_deliveries", Kind: Number, Label: "定期のお届け回数"},
	{Name: "subscription_skips", Kind: Number, Label: "定期のスキップ回数"},
	{Name: "days_until_next_delivery", Kind: Number, Label: "次回お届けまでの日数", TimeRelative: true},
	{Name: "days_since_subscription_cancel", Kind: Number, Label: "定期解約からの日数", TimeRelative: true},
	{Name: "subscription_cancel_risk", Kind: Number, Label: "定期解約リスク", Float: true},
	{Name: "subscription_risk_tier", Kind: Text, Label: "定期解約リスク区分"},
	{Name: "survey_answer", Kind: Tag, Label: "アンケートの回答", Needs: []string{"survey_id", "question"}},
	{Name: "survey_responded", Kind: Count, Label: "アンケートへの回答", Needs: []string{"survey_id"}},
	{Name: "nps_score", Kind: Number, Label: "NPS スコア（最新）", Allows: []string{"survey_id"}},
	{Name: "nps_category", Kind: Text, Label: "NPS 区分（promoter / passive / detractor）", Allows: []string{"survey_id"}},
	{Name: "review_count", Kind: Count, Label: "レビュー投稿数"},
	{Name: "review_rating", Kind: Number, Label: "レビューの平均評価", Float: true},
	{Name: "open_inquiries", Kind: Count, Label: "未解決の問い合わせ数"},
	{Name: "inquiry_tag", Kind: Tag, Label: "問い合わせのタグ"},
}

var fieldIndex = func() map[string]*FieldInfo {
	m := map[string]*FieldInfo{}
	for i := range Fields {
		m[Fields[i].Name] = &Fields[i]
	}
	return m
}()

// Field returns a field of the catalogue.
func Field(name string) (*FieldInfo, bool) {
	f, ok := fieldIndex[name]
	return f, ok
}

// questionID is the form of a survey question's id.
var questionID = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// opsByKind lists the operators each kind of field takes.
var opsByKind = map[Kind][]string{
	Text:    {"=", "!=", "in", "not_in", "contains", "starts_with", "is_empty", "is_set"},
	Number:  {"=", "!=", "<", "<=", ">", ">=", "between", "is_empty", "is_set"},
	Date:    {"before", "after", "on", "is_empty", "is_set"},
	Count:   {"=", "!=", "<", "<=", ">", ">=", "between"},
	Tag:     {"has", "not_has"},
	Consent: {"granted", "not_granted"},
	Channel: {"in", "not_in"},
	Month:   {"=", "in", "this_month", "next_month"},
}

// Ops returns the operators a kind takes.
func Ops(k Kind) []string { return append([]string(nil), opsByKind[k]...) }

// Parse reads and validates a condition from JSON. Unknown keys are
// refused, so that a typo never silently widens a segment.
func Parse(data []byte) (Condition, error) {
	var c Condition
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Condition{}, errs.FieldErrorf("condition", "not a valid condition: %s", jsonErr(err))
	}
	if dec.More() {
		return Condition{}, errs.FieldErrorf("condition", "trailing data after the condition")
	}
	if err := c.Validate(); err != nil {
		return Condition{}, err
	}
	return c, nil
}

func jsonErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return s
}

// Validate checks the whole tree and returns the first problem as an
// invalid-input error whose field is the node's path
// ("condition.all[1].any[0].value").
func (c Condition) Validate() error {
	n := 0
	return c.validate("condition", 1, &n)
}

// IsZero reports whether the condition is empty (matches everyone).
func (c Condition) IsZero() bool {
	return len(c.All) == 0 && len(c.Any) == 0 && c.Not == nil && c.Field == ""
}

func (c Condition) validate(path string, depth int, nodes *int) error {
	*nodes++
	if *nodes > MaxNodes {
		return errs.FieldErrorf(path, "a condition may have at most %d parts", MaxNodes)
	}
	if depth > MaxDepth {
		return errs.FieldErrorf(path, "groups may nest at most %d deep", MaxDepth)
	}
	kinds := 0
	if c.All != nil {
		kinds++
	}
	if c.Any != nil {
		kinds++
	}
	if c.Not != nil {
		kinds++
	}
	if c.Field != "" {
		kinds++
	}
	if kinds == 0 {
		if path == "condition" && c.leafQualifiers() == "" && c.Op == "" && len(c.Value) == 0 {
			return nil // the empty condition: everyone
		}
		return errs.FieldErrorf(path, "give all, any, not or field")
	}
	if kinds > 1 {
		return errs.FieldErrorf(path, "a node is one of all, any, not or field, not several")
	}
	switch {
	case c.All != nil || c.Any != nil:
		if c.Op != "" || len(c.Value) != 0 || c.leafQualifiers() != "" {
			return errs.FieldErrorf(path, "a group takes no op, value or qualifiers")
		}
		list, name := c.All, "all"
		if c.Any != nil {
			list, name = c.Any, "any"
		}
		if len(list) == 0 {
			return errs.FieldErrorf(path+"."+name, "a group needs at least one condition")
		}
		for i, sub := range list {
			if err := sub.validate(fmt.Sprintf("%s.%s[%d]", path, name, i), depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	case c.Not != nil:
		if c.Op != "" || len(c.Value) != 0 || c.leafQualifiers() != "" {
			return errs.FieldErrorf(path, "not takes no op, value or qualifiers")
		}
		return c.Not.validate(path+".not", depth+1, nodes)
	}
	return c.validateLeaf(path)
}

// leafQualifiers names the first qualifier set on c, or "".
func (c Condition) leafQualifiers() string {
	switch {
	case c.Attribute != "":
		return "attribute"
	case c.Channel != "":
		return "channel"
	case c.Event != "":
		return "event"
	case c.SKU != "":
		return "sku"
	case c.Category != "":
		return "category"
	case c.WithinDays != 0:
		return "within_days"
	case c.SurveyID != 0:
		return "survey_id"
	case c.Question != "":
		return "question"
	}
	return ""
}

func (c Condition) validateLeaf(path string) error {
	f, ok := fieldIndex[c.Field]
	if !ok {
		return errs.FieldErrorf(path+".field", "unknown field %q (GET /api/v1/segments/fields lists them)", truncate(c.Field))
	}
	// Qualifiers: required ones present, others absent.
	given := map[string]bool{"attribute": c.Attribute != "", "channel": c.Channel != "", "event": c.Event != "",
		"sku": c.SKU != "", "category": c.Category != "", "within_days": c.WithinDays != 0, "survey_id": c.SurveyID != 0, "question": c.Question != ""}
	allowed := map[string]bool{}
	for _, q := range f.Needs {
		allowed[q] = true
		if !given[q] {
			return errs.FieldErrorf(path+"."+q, "field %s needs %s", f.Name, q)
		}
	}
	for _, q := range f.Allows {
		allowed[q] = true
	}
	for _, q := range []string{"attribute", "channel", "event", "sku", "category", "within_days", "survey_id", "question"} {
		if given[q] && !allowed[q] {
			return errs.FieldErrorf(path+"."+q, "field %s does not take %s", f.Name, q)
		}
	}
	if c.SKU != "" && c.Category != "" {
		return errs.FieldErrorf(path+".category", "give sku or category, not both")
	}
	if c.WithinDays < 0 || c.WithinDays > MaxDays {
		return errs.FieldErrorf(path+".within_days", "must be between 1 and %d", MaxDays)
	}
	if c.SurveyID < 0 {
		return errs.FieldErrorf(path+".survey_id", "must be a survey's id")
	}
	if c.Question != "" && !questionID.MatchString(c.Question) {
		return errs.FieldErrorf(path+".question", "a question id is lower-case letters, digits and _ (at most 40)")
	}
	for q, v := range map[string]string{"sku": c.SKU, "category": c.Category, "event": c.Event} {
		if len(v) > MaxText {
			return errs.FieldErrorf(path+"."+q, "longer than %d bytes", MaxText)
		}
	}
	if c.Attribute != "" && !ValidAttributeName(c.Attribute) {
		return errs.FieldErrorf(path+".attribute", "attribute names are letters, digits, _ - and . (at most 100)")
	}
	if c.Channel != "" && !validConsentChannel(c.Channel) {
		return errs.FieldErrorf(path+".channel", "%q is not a consent channel (email, sms, line, push, dm)", truncate(c.Channel))
	}
	op := c.Op
	if op == "" && f.Kind == Count {
		op = ">=" // "bought X" and "did X" mean at least once
	}
	if op == "" {
		return errs.FieldErrorf(path+".op", "give an operator: %s", strings.Join(opsByKind[f.Kind], ", "))
	}
	if !contains(opsByKind[f.Kind], op) {
		return errs.FieldErrorf(path+".op", "%q does not apply to %s (use %s)", truncate(op), f.Name, strings.Join(opsByKind[f.Kind], ", "))
	}
	return validateValue(path+".value", f, op, c.Value)
}

func validateValue(path string, f *FieldInfo, op string, raw json.RawMessage) error {
	noValue := op == "is_empty" || op == "is_set" || op == "granted" || op == "not_granted" || op == "this_month" || op == "next_month"
	if noValue {
		if len(raw) != 0 && string(raw) != "null" {
			return errs.FieldErrorf(path, "%s takes no value", op)
		}
		return nil
	}
	if f.Kind == Count && len(raw) == 0 && op == ">=" {
		return nil // default: at least 1
	}
	if len(raw) == 0 || string(raw) == "null" {
		return errs.FieldErrorf(path, "%s %s needs a value", f.Name, op)
	}
	switch {
	case op == "in" || op == "not_in":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return errs.FieldErrorf(path, "%s takes a list", op)
		}
		if len(items) == 0 || len(items) > MaxValues {
			return errs.FieldErrorf(path, "a list of 1 to %d values", MaxValues)
		}
		for i, it := range items {
			if err := validateScalar(fmt.Sprintf("%s[%d]", path, i), f, it); err != nil {
				return err
			}
		}
		return nil
	case op == "between":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil || len(items) != 2 {
			return errs.FieldErrorf(path, "between takes [low, high]")
		}
		lo, err1 := NumberValue(items[0], f.Float)
		hi, err2 := NumberValue(items[1], f.Float)
		if err1 != nil || err2 != nil {
			return errs.FieldErrorf(path, "between takes two numbers")
		}
		if lo > hi {
			return errs.FieldErrorf(path, "low %v is above high %v", lo, hi)
		}
		return nil
	}
	return validateScalar(path, f, raw)
}

func validateScalar(path string, f *FieldInfo, raw json.RawMessage) error {
	switch f.Kind {
	case Text, Tag, Channel:
		s, err := TextValue(raw)
		if err != nil {
			return errs.FieldErrorf(path, "must be text")
		}
		if len(s) > MaxText {
			return errs.FieldErrorf(path, "longer than %d bytes", MaxText)
		}
		if f.Kind == Tag && strings.TrimSpace(s) == "" {
			return errs.FieldErrorf(path, "a tag cannot be empty")
		}
	case Number, Count:
		v, err := NumberValue(raw, f.Float)
		if err != nil {
			if f.Float {
				return errs.FieldErrorf(path, "must be a number")
			}
			return errs.FieldErrorf(path, "must be a whole number")
		}
		if f.Kind == Count && v < 0 {
			return errs.FieldErrorf(path, "a count cannot be negative")
		}
	case Date:
		s, err := TextValue(raw)
		if err != nil {
			return errs.FieldErrorf(path, "must be a date YYYY-MM-DD")
		}
		if _, err := ParseDate(s); err != nil {
			return errs.FieldErrorf(path, "%q is not a date YYYY-MM-DD", truncate(s))
		}
	case Month:
		v, err := NumberValue(raw, false)
		if err != nil || v < 1 || v > 12 {
			return errs.FieldErrorf(path, "a month is 1 to 12")
		}
	}
	return nil
}

// TextValue reads a JSON string.
func TextValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// NumberValue reads a JSON number; whole numbers only unless float.
func NumberValue(raw json.RawMessage, float bool) (float64, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
		return 0, fmt.Errorf("out of range")
	}
	if !float && v != math.Trunc(v) {
		return 0, fmt.Errorf("not whole")
	}
	return v, nil
}

// Values reads an "in" list.
func Values(raw json.RawMessage) ([]json.RawMessage, error) {
	var items []json.RawMessage
	err := json.Unmarshal(raw, &items)
	return items, err
}

// ParseDate reads YYYY-MM-DD as midnight in Asia/Tokyo.
func ParseDate(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02", s, clock.Tokyo)
}

// ValidAttributeName reports whether s may name a custom attribute in a
// condition: letters, digits, '_', '-' and '.', at most 100 bytes.
func ValidAttributeName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

func validConsentChannel(s string) bool {
	switch s {
	case "email", "sms", "line", "push", "dm":
		return true
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Leaves calls fn for every leaf of the tree.
func (c Condition) Leaves(fn func(Condition)) {
	for _, s := range c.All {
		s.Leaves(fn)
	}
	for _, s := range c.Any {
		s.Leaves(fn)
	}
	if c.Not != nil {
		c.Not.Leaves(fn)
	}
	if c.Field != "" {
		fn(c)
	}
}

// Sources lists the capabilities the condition needs beyond the core.
func (c Condition) Sources() []Source {
	seen := map[Source]bool{}
	var out []Source
	c.Leaves(func(l Condition) {
		if f, ok := fieldIndex[l.Field]; ok && f.Source != Core && !seen[f.Source] {
			seen[f.Source] = true
			out = append(out, f.Source)
		}
	})
	return out
}

// TimeRelative reports whether the condition's truth can change with the
// passing of days alone (days since, within N days, this month), so that
// membership must be re-checked when the Tokyo date changes.
func (c Condition) TimeRelative() bool {
	rel := false
	c.Leaves(func(l Condition) {
		f := fieldIndex[l.Field]
		if f == nil {
			return
		}
		if f.TimeRelative || l.WithinDays > 0 || l.Op == "this_month" || l.Op == "next_month" || f.Source != Core {
			rel = true
		}
	})
	return rel
}

// Events lists the event names the condition looks at, so that a new event
// of another name need not re-evaluate it.
func (c Condition) Events() []string {
	var out []string
	c.Leaves(func(l Condition) {
		if l.Field == "event" && !contains(out, l.Event) {
			out = append(out, l.Event)
		}
	})
	return out
}

// JSON returns the condition as compact JSON.
func (c Condition) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// MonthValue formats a month number as the two digits of a YYYY-MM-DD date.
func MonthValue(m int) string {
	if m < 10 {
		return "0" + strconv.Itoa(m)
	}
	return strconv.Itoa(m)
}

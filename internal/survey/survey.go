// Package survey holds surveys (アンケート): their questions (single and
// multiple choice, a 1–5 rating, NPS 0–10, free text), the checking of
// answers, NPS, the per-customer signed links that attach answers to a
// customer without a login, and the results per question.
package survey

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/errs"
)

// QuestionType is the kind of a question.
type QuestionType string

// Question types.
const (
	Single   QuestionType = "single"   // one option
	Multiple QuestionType = "multiple" // any options
	Rating   QuestionType = "rating"   // 1–5
	NPS      QuestionType = "nps"      // 0–10: how likely to recommend
	Text     QuestionType = "text"     // free text
)

// Survey statuses: only open surveys take answers.
const (
	Draft  = "draft"
	Open   = "open"
	Closed = "closed"
)

// Option is a choice of a single or multiple choice question. Value is
// what is stored and what segments match ("dry"); Label what is shown.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Question is one question.
type Question struct {
	ID       string       `json:"id"` // stable key, e.g. "skin"
	Type     QuestionType `json:"type"`
	Title    string       `json:"title"`
	Help     string       `json:"help,omitempty"`
	Required bool         `json:"required"`
	Options  []Option     `json:"options,omitempty"`
	// LowLabel and HighLabel word the ends of a rating or NPS scale.
	LowLabel  string `json:"low_label,omitempty"`
	HighLabel string `json:"high_label,omitempty"`
}

// Survey is a survey definition.
type Survey struct {
	ID             int64      `json:"id"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Status         string     `json:"status"`
	Questions      []Question `json:"questions"`
	ThankYou       string     `json:"thank_you"`
	AllowAnonymous bool       `json:"allow_anonymous"` // answers without a customer link (on-site, a public link)
	PublicKey      string     `json:"public_key"`      // names the survey in public URLs
	ClosesAt       *time.Time `json:"closes_at,omitempty"`
	CreatedBy      string     `json:"created_by,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Limits of a survey definition and of answers.
const (
	MaxQuestions = 50
	MaxOptions   = 50
	MaxTitle     = 200
	MaxTextLen   = 2000 // characters in a free-text answer
)

var idRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Validate checks a survey definition, naming the field at fault
// ("questions[2].options[0].value").
func (s *Survey) Validate() error {
	s.Title = strings.TrimSpace(s.Title)
	if s.Title == "" || utf8.RuneCountInString(s.Title) > MaxTitle {
		return errs.FieldErrorf("title", "required, at most %d characters", MaxTitle)
	}
	switch s.Status {
	case "":
		s.Status = Draft
	case Draft, Open, Closed:
	default:
		return errs.FieldErrorf("status", "%q is not draft, open or closed", s.Status)
	}
	if len(s.Questions) == 0 || len(s.Questions) > MaxQuestions {
		return errs.FieldErrorf("questions", "give 1 to %d questions", MaxQuestions)
	}
	seen := map[string]bool{}
	for i := range s.Questions {
		q := &s.Questions[i]
		f := func(name string) string { return fmt.Sprintf("questions[%d]%s", i, name) }
		q.ID, q.Title = strings.TrimSpace(q.ID), strings.TrimSpace(q.Title)
		if q.ID == "" {
			q.ID = "q" + strconv.Itoa(i+1)
		}
		if !idRE.MatchString(q.ID) {
			return errs.FieldErrorf(f(".id"), "%q: use lower-case letters, digits and _ (start with a letter)", q.ID)
		}
		if seen[q.ID] {
			return errs.FieldErrorf(f(".id"), "%q is used twice", q.ID)
		}
		seen[q.ID] = true
		if q.Title == "" || utf8.RuneCountInString(q.Title) > MaxTitle {
			return errs.FieldErrorf(f(".title"), "required, at most %d characters", MaxTitle)
		}
		switch q.Type {
		case Single, Multiple:
			if len(q.Options) < 2 || len(q.Options) > MaxOptions {
				return errs.FieldErrorf(f(".options"), "give 2 to %d options", MaxOptions)
			}
			values := map[string]bool{}
			for j := range q.Options {
				o := &q.Options[j]
				o.Value, o.Label = strings.TrimSpace(o.Value), strings.TrimSpace(o.Label)
				if o.Label == "" {
					return errs.FieldErrorf(fmt.Sprintf("questions[%d].options[%d].label", i, j), "required")
				}
				if o.Value == "" {
					o.Value = o.Label
				}
				if utf8.RuneCountInString(o.Value) > 100 || strings.ContainsAny(o.Value, "\x00\n") {
					return errs.FieldErrorf(fmt.Sprintf("questions[%d].options[%d].value", i, j), "at most 100 characters on one line")
				}
				if values[o.Value] {
					return errs.FieldErrorf(fmt.Sprintf("questions[%d].options[%d].value", i, j), "%q is used twice", o.Value)
				}
				values[o.Value] = true
			}
		case Rating, NPS, Text:
			if len(q.Options) > 0 {
				return errs.FieldErrorf(f(".options"), "a %s question has no options", q.Type)
			}
		default:
			return errs.FieldErrorf(f(".type"), "%q is not single, multiple, rating, nps or text", q.Type)
		}
	}
	return nil
}

// Accepting reports whether the survey takes answers at now.
func (s *Survey) Accepting(now time.Time) bool {
	return s.Status == Open && (s.ClosesAt == nil || now.Before(*s.ClosesAt))
}

// Question returns the question with id.
func (s *Survey) Question(id string) (*Question, bool) {
	for i := range s.Questions {
		if s.Questions[i].ID == id {
			return &s.Questions[i], true
		}
	}
	return nil, false
}

// SameShape reports whether two definitions have the same questions, types
// and option values (titles and labels may differ): what may change once
// answers exist.
func SameShape(a, b *Survey) bool {
	if len(a.Questions) != len(b.Questions) {
		return false
	}
	for i := range a.Questions {
		qa, qb := a.Questions[i], b.Questions[i]
		if qa.ID != qb.ID || qa.Type != qb.Type || len(qa.Options) != len(qb.Options) {
			return false
		}
		for j := range qa.Options {
			if qa.Options[j].Value != qb.Options[j].Value {
				return false
			}
		}
	}
	return true
}

// Answer is the answer to one question: Choices for single and multiple
// choice, Number for rating and NPS, Text for free text.
type Answer struct {
	QuestionID string       `json:"question_id"`
	Type       QuestionType `json:"type"`
	Choices    []string     `json:"choices,omitempty"`
	Number     *int         `json:"number,omitempty"`
	Text       string       `json:"text,omitempty"`
}

// Check validates raw answers — by question id, the values given (option
// values, a number, or a text) — against the survey and returns them in
// question order. Unanswered optional questions are left out.
func (s *Survey) Check(raw map[string][]string) ([]Answer, error) {
	for id := range raw {
		if _, ok := s.Question(id); !ok {
			return nil, errs.FieldErrorf("answers."+id, "the survey has no such question")
		}
	}
	var out []Answer
	for _, q := range s.Questions {
		field := "answers." + q.ID
		var vals []string
		for _, v := range raw[q.ID] {
			if v = strings.TrimSpace(v); v != "" {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			if q.Required {
				return nil, errs.FieldErrorf(field, "「%s」にお答えください (required)", q.Title)
			}
			continue
		}
		a := Answer{QuestionID: q.ID, Type: q.Type}
		switch q.Type {
		case Single, Multiple:
			if q.Type == Single && len(vals) > 1 {
				return nil, errs.FieldErrorf(field, "choose one option")
			}
			seen := map[string]bool{}
			for _, v := range vals {
				ok := false
				for _, o := range q.Options {
					ok = ok || o.Value == v
				}
				if !ok {
					return nil, errs.FieldErrorf(field, "%q is not an option", v)
				}
				if !seen[v] {
					seen[v] = true
					a.Choices = append(a.Choices, v)
				}
			}
		case Rating, NPS:
			lo, hi := 1, 5
			if q.Type == NPS {
				lo, hi = 0, 10
			}
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < lo || n > hi || len(vals) > 1 {
				return nil, errs.FieldErrorf(field, "give a whole number from %d to %d", lo, hi)
			}
			a.Number = &n
		case Text:
			t := strings.Join(vals, "\n")
			if utf8.RuneCountInString(t) > MaxTextLen {
				return nil, errs.FieldErrorf(field, "at most %d characters", MaxTextLen)
			}
			a.Text = t
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errs.FieldErrorf("answers", "answer at least one question")
	}
	return out, nil
}

// NPS categories.
const (
	Promoter  = "promoter"  // 9–10
	Passive   = "passive"   // 7–8
	Detractor = "detractor" // 0–6
)

// NPSCategory places an NPS answer.
func NPSCategory(score int) string {
	switch {
	case score >= 9:
		return Promoter
	case score >= 7:
		return Passive
	}
	return Detractor
}

// OptionCount counts one option's answers.
type OptionCount struct {
	Value string  `json:"value"`
	Label string  `json:"label"`
	Count int64   `json:"count"`
	Share float64 `json:"share"` // of the question's answers
}

// TextAnswer is one free-text answer.
type TextAnswer struct {
	ResponseID  int64     `json:"response_id"`
	CustomerID  int64     `json:"customer_id,omitempty"`
	Text        string    `json:"text"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// QuestionResult is the result of one question.
type QuestionResult struct {
	ID       string        `json:"id"`
	Type     QuestionType  `json:"type"`
	Title    string        `json:"title"`
	Answered int64         `json:"answered"`
	Options  []OptionCount `json:"options,omitempty"`
	// Distribution counts answers per score (rating 1–5 at index 1–5, NPS
	// 0–10 at index 0–10).
	Distribution []int64  `json:"distribution,omitempty"`
	Mean         *float64 `json:"mean,omitempty"`
	// NPS (−100 … 100) = % promoters − % detractors.
	NPS        *float64     `json:"nps,omitempty"`
	Promoters  int64        `json:"promoters,omitempty"`
	Passives   int64        `json:"passives,omitempty"`
	Detractors int64        `json:"detractors,omitempty"`
	Texts      []TextAnswer `json:"texts,omitempty"`
}

// Results are a survey's results.
type Results struct {
	SurveyID  int64  `json:"survey_id"`
	Title     string `json:"title"`
	Responses int64  `json:"responses"`
	// Identified responses came through a customer's link; Reached is the
	// customers invited (sent or shown the survey) or answering; the
	// response rate is Identified / Reached.
	Identified   int64            `json:"identified"`
	Anonymous    int64            `json:"anonymous"`
	Reached      int64            `json:"reached"`
	ResponseRate float64          `json:"response_rate"`
	Questions    []QuestionResult `json:"questions"`
}

// AnswerCount is one (question, choice or number) count the store returns.
type AnswerCount struct {
	QuestionID string
	Choice     string
	Number     *int
	Count      int64
}

// BuildResults assembles results from counts and the texts.
func BuildResults(s *Survey, responses, identified, reached int64, counts []AnswerCount, answered map[string]int64, texts map[string][]TextAnswer) *Results {
	r := &Results{SurveyID: s.ID, Title: s.Title, Responses: responses, Identified: identified, Anonymous: responses - identified, Reached: reached}
	if reached > 0 {
		r.ResponseRate = round(float64(identified)/float64(reached), 4)
	}
	for _, q := range s.Questions {
		qr := QuestionResult{ID: q.ID, Type: q.Type, Title: q.Title, Answered: answered[q.ID]}
		switch q.Type {
		case Single, Multiple:
			byValue := map[string]int64{}
			for _, c := range counts {
				if c.QuestionID == q.ID {
					byValue[c.Choice] += c.Count
				}
			}
			for _, o := range q.Options {
				oc := OptionCount{Value: o.Value, Label: o.Label, Count: byValue[o.Value]}
				if qr.Answered > 0 {
					oc.Share = round(float64(oc.Count)/float64(qr.Answered), 4)
				}
				qr.Options = append(qr.Options, oc)
			}
		case Rating, NPS:
			qr.Distribution = make([]int64, 11)
			if q.Type == Rating {
				qr.Distribution = make([]int64, 6)
			}
			var sum, n int64
			for _, c := range counts {
				if c.QuestionID == q.ID && c.Number != nil && *c.Number >= 0 && *c.Number < len(qr.Distribution) {
					qr.Distribution[*c.Number] += c.Count
					sum += int64(*c.Number) * c.Count
					n += c.Count
					if q.Type == NPS {
						switch NPSCategory(*c.Number) {
						case Promoter:
							qr.Promoters += c.Count
						case Passive:
							qr.Passives += c.Count
						default:
							qr.Detractors += c.Count
						}
					}
				}
			}
			if n > 0 {
				m := round(float64(sum)/float64(n), 2)
				qr.Mean = &m
				if q.Type == NPS {
					v := round(float64(qr.Promoters-qr.Detractors)*100/float64(n), 1)
					qr.NPS = &v
				}
			}
		case Text:
			qr.Texts = texts[q.ID]
			if qr.Texts == nil {
				qr.Texts = []TextAnswer{}
			}
		}
		r.Questions = append(r.Questions, qr)
	}
	return r
}

func round(x float64, places int) float64 {
	p := 1.0
	for i := 0; i < places; i++ {
		p *= 10
	}
	if x < 0 {
		return -float64(int64(-x*p+0.5)) / p
	}
	return float64(int64(x*p+0.5)) / p
}

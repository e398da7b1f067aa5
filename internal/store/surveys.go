package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/survey"
)

// SurveyStore keeps surveys (アンケート), who was invited, and the answers.
type SurveyStore interface {
	CreateSurvey(ctx context.Context, s survey.Survey) (*survey.Survey, error)
	// UpdateSurvey replaces a survey's definition; once it has answers only
	// wording, status and closing time may change, not its questions.
	UpdateSurvey(ctx context.Context, s survey.Survey) (*survey.Survey, error)
	Survey(ctx context.Context, id int64) (*survey.Survey, error)
	SurveyByKey(ctx context.Context, publicKey string) (*survey.Survey, error)
	ListSurveys(ctx context.Context) ([]SurveySummary, error)
	// InviteToSurvey records that a customer was sent or shown a survey
	// (the base of the response rate); doing it again changes nothing.
	InviteToSurvey(ctx context.Context, surveyID, customerID int64, channel string) error
	// SubmitSurveyResponse stores a response, replacing the respondent's
	// earlier one, after checking it against the survey.
	SubmitSurveyResponse(ctx context.Context, sub SurveySubmission) (int64, error)
	SurveyResults(ctx context.Context, id int64, texts int) (*survey.Results, error)
	// EachSurveyResponse streams responses in submission order, answers by
	// question id.
	EachSurveyResponse(ctx context.Context, id int64, fn func(SurveyResponse) error) error
	CustomerSurveyResponses(ctx context.Context, customerID int64) ([]SurveyResponse, error)
	// SurveyLinkKey returns the key survey links are signed with, made on
	// first use.
	SurveyLinkKey(ctx context.Context) ([]byte, error)
}

// SurveySummary is a row of the survey list.
type SurveySummary struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Status    string    `json:"status"`
	PublicKey string    `json:"public_key"`
	Responses int64     `json:"responses"`
	Invited   int64     `json:"invited"`
	CreatedAt time.Time `json:"created_at"`
}

// SurveySubmission is one response as submitted.
type SurveySubmission struct {
	SurveyID int64
	// CustomerID is the customer the link named (0 for anonymous answers);
	// AnonymousID tells anonymous respondents apart ("" makes each
	// submission a response of its own).
	CustomerID  int64
	AnonymousID string
	Channel     string // link | onsite | staff …
	Answers     map[string][]string
	// SubmittedAt is when the answers were given, for imported responses
	// (default now; never later than now).
	SubmittedAt time.Time
}

// SurveyResponse is a stored response.
type SurveyResponse struct {
	ID          int64           `json:"id"`
	SurveyID    int64           `json:"survey_id"`
	SurveyTitle string          `json:"survey_title,omitempty"`
	CustomerID  int64           `json:"customer_id,omitempty"`
	Channel     string          `json:"channel"`
	SubmittedAt time.Time       `json:"submitted_at"`
	Answers     []survey.Answer `json:"answers"`
}

// SurveyEventName is the event recorded on a customer's timeline when they
// answer a survey (source SurveyEventSource), for journeys.
const (
	SurveyEventName   = "Survey Answered"
	SurveyEventSource = "enishi.surveys"
)

const surveyCols = `id, title, description, status, questions, thank_you, allow_anonymous, public_key, closes_at, created_by, created_at, updated_at`

func scanSurvey(r rowScanner) (*survey.Survey, error) {
	var s survey.Survey
	var qs string
	var closes sql.NullInt64
	var created, updated int64
	if err := r.Scan(&s.ID, &s.Title, &s.Description, &s.Status, &qs, &s.ThankYou, &s.AllowAnonymous, &s.PublicKey, &closes, &s.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(qs), &s.Questions); err != nil {
		return nil, fmt.Errorf("survey %d questions: %w", s.ID, err)
	}
	s.ClosesAt, s.CreatedAt, s.UpdatedAt = fromNullMS(closes), fromMS(created), fromMS(updated)
	return &s, nil
}

func randomKey(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b)
}

// CreateSurvey validates and stores a new survey.
func (db *DB) CreateSurvey(ctx context.Context, s survey.Survey) (*survey.Survey, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	qs, _ := json.Marshal(s.Questions)
	now := db.Clock.Now()
	s.PublicKey, s.CreatedAt, s.UpdatedAt = randomKey(12), now, now
	err := db.Write.QueryRowContext(ctx, `INSERT INTO surveys (title, description, status, questions, thank_you, allow_anonymous, public_key, closes_at,
		created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id`,
		s.Title, strings.TrimSpace(s.Description), s.Status, string(qs), strings.TrimSpace(s.ThankYou), s.AllowAnonymous, s.PublicKey,
		msPtrP(s.ClosesAt), s.CreatedBy, ms(now)).Scan(&s.ID)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateSurvey replaces a survey's definition (see SurveyStore).
func (db *DB) UpdateSurvey(ctx context.Context, s survey.Survey) (*survey.Survey, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var out *survey.Survey
	err := db.inTx(ctx, func(tx *Tx) error {
		old, err := scanSurvey(tx.QueryRowContext(ctx, `SELECT `+surveyCols+` FROM surveys WHERE id = $1`, s.ID))
		if err != nil {
			return notFound(err, "survey", s.ID)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM survey_responses WHERE survey_id = $1`, s.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 && !survey.SameShape(old, &s) {
			return errs.Errorf(errs.Conflict, "survey %d has %d responses: its questions, types and option values can no longer change (wording, status and closing time can)", s.ID, n)
		}
		qs, _ := json.Marshal(s.Questions)
		now := db.Clock.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE surveys SET title = $1, description = $2, status = $3, questions = $4, thank_you = $5,
			allow_anonymous = $6, closes_at = $7, updated_at = $8 WHERE id = $9`, s.Title, strings.TrimSpace(s.Description), s.Status, string(qs),
			strings.TrimSpace(s.ThankYou), s.AllowAnonymous, msPtrP(s.ClosesAt), ms(now), s.ID); err != nil {
			return err
		}
		s.PublicKey, s.CreatedBy, s.CreatedAt, s.UpdatedAt = old.PublicKey, old.CreatedBy, old.CreatedAt, now
		out = &s
		return nil
	})
	return out, err
}

// Survey returns a survey by id.
func (db *DB) Survey(ctx context.Context, id int64) (*survey.Survey, error) {
	s, err := scanSurvey(db.Read.QueryRowContext(ctx, `SELECT `+surveyCols+` FROM surveys WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "survey", id)
	}
	return s, nil
}

// SurveyByKey returns a survey by its public key.
func (db *DB) SurveyByKey(ctx context.Context, key string) (*survey.Survey, error) {
	s, err := scanSurvey(db.Read.QueryRowContext(ctx, `SELECT `+surveyCols+` FROM surveys WHERE public_key = $1`, key))
	if err != nil {
		return nil, notFound(err, "survey", "with that key")
	}
	return s, nil
}

// ListSurveys lists surveys, newest first, with their counts.
func (db *DB) ListSurveys(ctx context.Context) ([]SurveySummary, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT s.id, s.title, s.status, s.public_key, s.created_at,
		(SELECT count(*) FROM survey_responses r WHERE r.survey_id = s.id), (SELECT count(*) FROM survey_invitations i WHERE i.survey_id = s.id)
		FROM surveys s ORDER BY s.id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SurveySummary{}
	for rows.Next() {
		var x SurveySummary
		var created int64
		if err := rows.Scan(&x.ID, &x.Title, &x.Status, &x.PublicKey, &created, &x.Responses, &x.Invited); err != nil {
			return nil, err
		}
		x.CreatedAt = fromMS(created)
		out = append(out, x)
	}
	return out, rows.Err()
}

// InviteToSurvey records an invitation (see SurveyStore).
func (db *DB) InviteToSurvey(ctx context.Context, surveyID, customerID int64, channel string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT id FROM surveys WHERE id = $1`, surveyID).Scan(new(int64)); err != nil {
			return notFound(err, "survey", surveyID)
		}
		cid, err := canonical(ctx, tx, customerID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO survey_invitations (survey_id, customer_id, origin_customer_id, channel, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (survey_id, origin_customer_id) DO NOTHING`, surveyID, cid, customerID, channel, ms(db.Clock.Now()))
		return err
	})
}

// SubmitSurveyResponse stores a response (see SurveyStore).
func (db *DB) SubmitSurveyResponse(ctx context.Context, sub SurveySubmission) (int64, error) {
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		s, err := scanSurvey(tx.QueryRowContext(ctx, `SELECT `+surveyCols+` FROM surveys WHERE id = $1`, sub.SurveyID))
		if err != nil {
			return notFound(err, "survey", sub.SurveyID)
		}
		now := db.Clock.Now()
		if !s.Accepting(now) {
			return errs.Errorf(errs.Conflict, "survey %d is not taking answers (status %s)", s.ID, s.Status)
		}
		if !sub.SubmittedAt.IsZero() && sub.SubmittedAt.Before(now) {
			now = sub.SubmittedAt
		}
		answers, err := s.Check(sub.Answers)
		if err != nil {
			return err
		}
		var cust, origin any
		respondent := ""
		switch {
		case sub.CustomerID != 0:
			cid, err := canonical(ctx, tx, sub.CustomerID)
			if err != nil {
				return err
			}
			cust, origin = cid, sub.CustomerID
			respondent = "c:" + strconv.FormatInt(sub.CustomerID, 10)
		case !s.AllowAnonymous:
			return errs.Errorf(errs.Forbidden, "survey %d takes answers only through customers' links", s.ID)
		case sub.AnonymousID != "":
			respondent = "a:" + sub.AnonymousID
		default:
			respondent = "a:" + randomKey(8)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO survey_responses (survey_id, customer_id, origin_customer_id, respondent, channel, submitted_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (survey_id, respondent) DO UPDATE SET customer_id = excluded.customer_id,
			channel = excluded.channel, submitted_at = excluded.submitted_at, updated_at = excluded.updated_at RETURNING id`,
			s.ID, cust, origin, respondent, sub.Channel, ms(now)).Scan(&id)
		if err != nil {
			return fmt.Errorf("store response: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM survey_answers WHERE response_id = $1`, id); err != nil {
			return err
		}
		props := map[string]any{"survey_id": s.ID, "survey_title": s.Title}
		for _, a := range answers {
			rows := [][3]any{}
			switch {
			case len(a.Choices) > 0:
				for _, c := range a.Choices {
					rows = append(rows, [3]any{c, nil, ""})
				}
				props[a.QuestionID] = a.Choices
			case a.Number != nil:
				rows = append(rows, [3]any{"", *a.Number, ""})
				props[a.QuestionID] = *a.Number
				if a.Type == survey.NPS {
					props["nps"], props["nps_category"] = *a.Number, survey.NPSCategory(*a.Number)
				}
			default:
				rows = append(rows, [3]any{"", nil, a.Text})
			}
			for _, r := range rows {
				if _, err := tx.execCachedArgs(ctx, db, `INSERT INTO survey_answers (response_id, customer_id, origin_customer_id, survey_id, question_id, qtype, choice, number, text)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, cust, origin, s.ID, a.QuestionID, string(a.Type), r[0], r[1], r[2]); err != nil {
					return fmt.Errorf("store answer: %w", err)
				}
			}
		}
		if cust == nil {
			return nil
		}
		if err := db.markChanged(ctx, tx, []int64{cust.(int64)}, now); err != nil {
			return err
		}
		// An event on the customer's timeline for journeys (free text stays
		// out of it: it is on the response).
		b, _ := json.Marshal(props)
		_, err = tx.ExecContext(ctx, `INSERT INTO events (customer_id, origin_customer_id, anonymous_id, type, name, occurred_at, received_at, source, message_id, properties)
			VALUES ($1, $2, '', 'track', $3, $4, $4, $5, $6, $7) ON CONFLICT (source, message_id) DO NOTHING`,
			cust, origin, SurveyEventName, ms(now), SurveyEventSource, fmt.Sprintf("survey:%d:%d", id, ms(now)), string(b))
		return err
	})
	if err == nil {
		db.notifyChanged()
	}
	return id, err
}

// SurveyResults computes a survey's results, with up to texts free-text
// answers per question (newest first).
func (db *DB) SurveyResults(ctx context.Context, id int64, texts int) (*survey.Results, error) {
	s, err := db.Survey(ctx, id)
	if err != nil {
		return nil, err
	}
	var responses, identified, reached int64
	err = db.Read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM survey_responses WHERE survey_id = $1),
		(SELECT count(*) FROM survey_responses WHERE survey_id = $1 AND customer_id IS NOT NULL),
		(SELECT count(*) FROM (SELECT origin_customer_id FROM survey_invitations WHERE survey_id = $1
			UNION SELECT origin_customer_id FROM survey_responses WHERE survey_id = $1 AND origin_customer_id IS NOT NULL) x)`, id).
		Scan(&responses, &identified, &reached)
	if err != nil {
		return nil, err
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT question_id, choice, number, count(*) FROM survey_answers WHERE survey_id = $1 AND qtype <> 'text'
		GROUP BY question_id, choice, number`, id)
	if err != nil {
		return nil, err
	}
	var counts []survey.AnswerCount
	for rows.Next() {
		var c survey.AnswerCount
		var n sql.NullInt64
		if err := rows.Scan(&c.QuestionID, &c.Choice, &n, &c.Count); err != nil {
			rows.Close()
			return nil, err
		}
		if n.Valid {
			v := int(n.Int64)
			c.Number = &v
		}
		counts = append(counts, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	answered := map[string]int64{}
	rows, err = db.Read.QueryContext(ctx, `SELECT question_id, count(DISTINCT response_id) FROM survey_answers WHERE survey_id = $1 GROUP BY question_id`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var q string
		var n int64
		if err := rows.Scan(&q, &n); err != nil {
			rows.Close()
			return nil, err
		}
		answered[q] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	textAnswers := map[string][]survey.TextAnswer{}
	if texts > 0 {
		for _, q := range s.Questions {
			if q.Type != survey.Text {
				continue
			}
			rows, err := db.Read.QueryContext(ctx, `SELECT a.response_id, coalesce(r.customer_id, 0), a.text, r.submitted_at FROM survey_answers a
				JOIN survey_responses r ON r.id = a.response_id WHERE a.survey_id = $1 AND a.question_id = $2
				ORDER BY r.submitted_at DESC, a.response_id DESC LIMIT $3`, id, q.ID, texts)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var t survey.TextAnswer
				var at int64
				if err := rows.Scan(&t.ResponseID, &t.CustomerID, &t.Text, &at); err != nil {
					rows.Close()
					return nil, err
				}
				t.SubmittedAt = fromMS(at)
				textAnswers[q.ID] = append(textAnswers[q.ID], t)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
	}
	return survey.BuildResults(s, responses, identified, reached, counts, answered, textAnswers), nil
}

// EachSurveyResponse streams a survey's responses (see SurveyStore).
func (db *DB) EachSurveyResponse(ctx context.Context, id int64, fn func(SurveyResponse) error) error {
	if _, err := db.Survey(ctx, id); err != nil {
		return err
	}
	return db.eachResponse(ctx, `r.survey_id = $1`, id, fn)
}

// eachResponse streams responses matching where (over survey_responses r)
// with their answers.
func (db *DB) eachResponse(ctx context.Context, where string, arg any, fn func(SurveyResponse) error) error {
	rows, err := db.Read.QueryContext(ctx, `SELECT r.id, r.survey_id, s.title, coalesce(r.customer_id, 0), r.channel, r.submitted_at,
		a.question_id, a.qtype, a.choice, a.number, a.text
		FROM survey_responses r JOIN surveys s ON s.id = r.survey_id LEFT JOIN survey_answers a ON a.response_id = r.id
		WHERE `+where+` ORDER BY r.submitted_at, r.id, a.question_id, a.choice`, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	// Answers come in the survey's question order.
	orders := map[int64]map[string]int{}
	emit := func(r *SurveyResponse) error {
		ord, ok := orders[r.SurveyID]
		if !ok {
			s, err := db.Survey(ctx, r.SurveyID)
			if err != nil {
				return err
			}
			ord = map[string]int{}
			for i, q := range s.Questions {
				ord[q.ID] = i
			}
			orders[r.SurveyID] = ord
		}
		sort.SliceStable(r.Answers, func(i, j int) bool { return ord[r.Answers[i].QuestionID] < ord[r.Answers[j].QuestionID] })
		return fn(*r)
	}
	var cur *SurveyResponse
	for rows.Next() {
		var r SurveyResponse
		var at int64
		var qid, qtype, choice, text sql.NullString
		var num sql.NullInt64
		if err := rows.Scan(&r.ID, &r.SurveyID, &r.SurveyTitle, &r.CustomerID, &r.Channel, &at, &qid, &qtype, &choice, &num, &text); err != nil {
			return err
		}
		if cur == nil || cur.ID != r.ID {
			if cur != nil {
				if err := emit(cur); err != nil {
					return err
				}
			}
			r.SubmittedAt = fromMS(at)
			r.Answers = []survey.Answer{}
			cur = &r
		}
		if !qid.Valid {
			continue
		}
		n := len(cur.Answers)
		if n == 0 || cur.Answers[n-1].QuestionID != qid.String {
			cur.Answers = append(cur.Answers, survey.Answer{QuestionID: qid.String, Type: survey.QuestionType(qtype.String)})
			n++
		}
		a := &cur.Answers[n-1]
		switch {
		case num.Valid:
			v := int(num.Int64)
			a.Number = &v
		case choice.String != "":
			a.Choices = append(a.Choices, choice.String)
		default:
			a.Text = text.String
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if cur != nil {
		return emit(cur)
	}
	return nil
}

// CustomerSurveyResponses lists a customer's responses, newest first.
func (db *DB) CustomerSurveyResponses(ctx context.Context, customerID int64) ([]SurveyResponse, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	out := []SurveyResponse{}
	err = db.eachResponse(ctx, `r.customer_id = $1`, cid, func(r SurveyResponse) error {
		out = append(out, r)
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// SettingSurveyLinkKey is the settings key holding the survey link key.
const SettingSurveyLinkKey = "surveys.link_key"

// SurveyLinkKey returns the survey link signing key, made on first use.
func (db *DB) SurveyLinkKey(ctx context.Context) ([]byte, error) {
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
		SettingSurveyLinkKey, randomKey(32), ms(db.Clock.Now())); err != nil {
		return nil, err
	}
	var v string
	if err := db.Write.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, SettingSurveyLinkKey).Scan(&v); err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/reports"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/survey"
)

// questionRows is how many question rows the new-survey form offers.
const questionRows = 8

// textsShown is how many free-text answers per question the results list.
const textsShown = 50

type surveysPage struct {
	*base
	List     []store.SurveySummary
	F        surveyForm
	FieldErr map[string]string
	Types    []survey.QuestionType
	Statuses []string
}

// Err returns the message for a field path built from a format and index.
func (p *surveysPage) Err(format string, args ...any) string {
	return p.FieldErr[fmt.Sprintf(format, args...)]
}

// surveyForm is a new survey as the form shows it.
type surveyForm struct {
	Title, Description, Status, ThankYou, Closes string
	Anonymous                                    bool
	Questions                                    []questionRow
}

type questionRow struct {
	ID, Type, Title, Options, Low, High string
	Required                            bool
}

// surveys lists the surveys with their response counts, and the form for a
// new one (campaigns:send, like sending).
func (u *UI) surveys(w http.ResponseWriter, r *http.Request) error {
	return u.showSurveys(w, r, http.StatusOK, surveyForm{Status: survey.Draft}, nil)
}

func (u *UI) showSurveys(w http.ResponseWriter, r *http.Request, status int, f surveyForm, fail error) error {
	pg := &surveysPage{base: u.newBase(r, "voice", "voice.surveys"), F: f, FieldErr: map[string]string{},
		Types: []survey.QuestionType{survey.Single, survey.Multiple, survey.Rating, survey.NPS, survey.Text}, Statuses: []string{survey.Draft, survey.Open, survey.Closed}}
	for len(pg.F.Questions) < questionRows {
		pg.F.Questions = append(pg.F.Questions, questionRow{Required: true})
	}
	if fail != nil {
		pg.Error = pg.T("survey.not_saved") + " " + errs.Message(fail)
		var e *errs.Error
		if errors.As(fail, &e) && e.Field != "" {
			pg.FieldErr[e.Field] = e.Message
			// An option's error marks its question's options box.
			if i := strings.Index(e.Field, ".options["); i > 0 {
				pg.FieldErr[e.Field[:i]+".options"] = e.Message
			}
		}
	}
	var err error
	if pg.List, err = u.cfg.Store.ListSurveys(r.Context()); err != nil {
		return err
	}
	return u.render(w, r, status, "surveys", pg)
}

// createSurvey makes a survey from the form; the store checks it.
func (u *UI) createSurvey(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	v := r.PostForm
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	f := surveyForm{Title: get("title"), Description: get("description"), Status: get("status"), ThankYou: get("thank_you"), Closes: get("closes"), Anonymous: v.Get("anonymous") == "1"}
	at := func(k string, i int) string {
		if i < len(v[k]) {
			return strings.TrimSpace(v[k][i])
		}
		return ""
	}
	for i := range v["q_title"] {
		q := questionRow{ID: at("q_id", i), Type: at("q_type", i), Title: at("q_title", i), Options: at("q_options", i), Low: at("q_low", i), High: at("q_high", i),
			Required: at("q_required", i) == "1"}
		if q.Title == "" && q.Options == "" && q.ID == "" {
			continue
		}
		f.Questions = append(f.Questions, q)
	}
	s := survey.Survey{Title: f.Title, Description: f.Description, Status: f.Status, ThankYou: f.ThankYou, AllowAnonymous: f.Anonymous,
		CreatedBy: principal(r).Actor()}
	if f.Closes != "" {
		d, err := loyalty.ParseDay(f.Closes)
		if err != nil {
			return u.showSurveys(w, r, http.StatusUnprocessableEntity, f, errs.FieldErrorf("closes_at", "%q is not a date (YYYY-MM-DD)", f.Closes))
		}
		t := d.End().UTC() // answers are taken through that day
		s.ClosesAt = &t
	}
	for _, q := range f.Questions {
		sq := survey.Question{ID: q.ID, Type: survey.QuestionType(q.Type), Title: q.Title, Required: q.Required, LowLabel: q.Low, HighLabel: q.High}
		if sq.Type == survey.Single || sq.Type == survey.Multiple {
			for _, line := range strings.Split(q.Options, "\n") {
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				// "value=label" keeps a stable stored value; a bare line is both.
				o := survey.Option{Label: line}
				if val, label, ok := strings.Cut(line, "="); ok {
					o = survey.Option{Value: strings.TrimSpace(val), Label: strings.TrimSpace(label)}
				}
				sq.Options = append(sq.Options, o)
			}
		}
		s.Questions = append(s.Questions, sq)
	}
	out, err := u.cfg.Store.CreateSurvey(r.Context(), s)
	if err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showSurveys(w, r, http.StatusUnprocessableEntity, f, err)
	}
	if err := u.api.Audit(r, "survey.create", "survey:"+strconv.FormatInt(out.ID, 10), out.Status); err != nil {
		return err
	}
	return redirect(w, r, "/surveys/"+strconv.FormatInt(out.ID, 10), "survey_created")
}

type surveyResultsPage struct {
	*base
	S       *survey.Survey
	R       *survey.Results
	Masked  bool
	QCharts map[string]map[string]any // question id → chart
}

// surveyResults shows a survey's results per question: option shares, score
// distributions with mean and NPS, and the latest free-text answers.
func (u *UI) surveyResults(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	s, err := u.cfg.Store.Survey(r.Context(), id)
	if err != nil {
		return err
	}
	res, err := u.cfg.Store.SurveyResults(r.Context(), id, textsShown)
	if err != nil {
		return err
	}
	b := u.newBase(r, "voice", "voice.survey", s.Title)
	b.Charts = true
	pg := &surveyResultsPage{base: b, S: s, R: res, Masked: !principal(r).Can(auth.PIIRead), QCharts: map[string]map[string]any{}}
	if pg.Masked {
		for i := range res.Questions {
			for j := range res.Questions[i].Texts {
				res.Questions[i].Texts[j].Text = "***"
			}
		}
	}
	for _, q := range res.Questions {
		if len(q.Distribution) == 0 {
			continue
		}
		var labels []string
		var counts []int64
		for score, n := range q.Distribution {
			if q.Type == survey.Rating && score == 0 {
				continue
			}
			labels = append(labels, strconv.Itoa(score))
			counts = append(counts, n)
		}
		pg.QCharts[q.ID] = barChart(labels, counts, q.Title, "#1f5f8b", 40)
	}
	return u.render(w, r, http.StatusOK, "survey", pg)
}

// setSurveyStatus opens or closes a survey (only open surveys take
// answers).
func (u *UI) setSurveyStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	s, err := u.cfg.Store.Survey(r.Context(), id)
	if err != nil {
		return err
	}
	s.Status = r.PostFormValue("status")
	out, err := u.cfg.Store.UpdateSurvey(r.Context(), *s)
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "survey.update", "survey:"+strconv.FormatInt(id, 10), out.Status); err != nil {
		return err
	}
	return redirect(w, r, "/surveys/"+strconv.FormatInt(id, 10), "survey_updated")
}

// exportSurvey downloads every response as CSV (audited before the data
// leaves, as the API does).
func (u *UI) exportSurvey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	if _, err := u.cfg.Store.Survey(r.Context(), id); err != nil {
		return err
	}
	if err := u.api.Audit(r, "survey.export", "survey:"+strconv.FormatInt(id, 10), "responses CSV"); err != nil {
		return err
	}
	csvexport.Attachment(w.Header(), "survey-"+strconv.FormatInt(id, 10)+".csv")
	return reports.WriteSurveyCSV(r.Context(), u.cfg.Store, id, w)
}

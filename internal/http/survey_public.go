package http

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/survey"
)

// The public side of surveys, for customers (no login):
//
//	GET/POST /s/{token}      a customer's answer page (the link in a message)
//	GET/POST /survey/{key}   the anonymous answer page of a survey that allows it
//	GET  /api/v1/public/surveys/{key}            the survey for the JS tag to show on site
//	POST /api/v1/public/surveys/{key}/responses  answers from the JS tag
//
// Pages are server-rendered, in Japanese, and need no script. A form
// carries a token bound to its link and the time it was rendered, and a
// POST whose Origin is another site is refused, so no other site can
// submit answers through a customer's browser. The JSON endpoints take no
// cookies: the link token in the body is the only credential.

func (s *Server) surveySigner(ctx context.Context) (*survey.Signer, error) {
	return s.surveys.Signer(ctx)
}

// publicURL is where customers reach enishi: the configured address, or
// the request's own.
func (s *Server) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) routesSurveyPublic() {
	s.Public("GET /s/{token}", s.surveyPage)
	s.Public("POST /s/{token}", s.surveyPage)
	s.Public("GET /survey/{key}", s.surveyPage)
	s.Public("POST /survey/{key}", s.surveyPage)
	s.Public("GET /api/v1/public/surveys/{key}", s.publicSurvey)
	s.Public("POST /api/v1/public/surveys/{key}/responses", s.publicSurveyAnswer)
	s.Public("OPTIONS /api/v1/public/surveys/{key}/responses", func(w http.ResponseWriter, r *http.Request) error {
		cors(w)
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// pageQuestion is a question as the page shows it, with what was entered.
type pageQuestion struct {
	survey.Question
	Field   string
	Options []pageOption
	Scale   []pageOption
	Text    string
}

type pageOption struct {
	Value, Label string
	Checked      bool
}

type surveyPageData struct {
	Title     string
	Message   string
	Survey    *survey.Survey
	Questions []pageQuestion
	Action    string
	FormToken string
	Error     string
}

var surveyTemplate = template.Must(template.New("survey").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><title>{{if .Survey}}{{.Survey.Title}}{{else}}{{.Title}}{{end}}</title>
<style>
body{font-family:system-ui,-apple-system,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;background:#f6f5f2;color:#222;line-height:1.6}
main{max-width:640px;margin:0 auto;padding:16px}
h1{font-size:1.3rem;margin:.5em 0}
fieldset{border:0;background:#fff;border-radius:10px;margin:0 0 14px;padding:14px;min-width:0}
legend{font-weight:600;padding:0;float:left;width:100%;margin-bottom:8px}
legend+*{clear:left}
.req{color:#b03a2e;font-size:.8rem;margin-left:.4em;font-weight:normal}
.help{color:#666;font-size:.9rem;margin:0 0 6px;clear:left}
label.opt{display:flex;align-items:center;gap:.6em;padding:10px;border:1px solid #ddd;border-radius:8px;margin:6px 0;min-height:44px}
.scale{display:flex;flex-wrap:wrap;gap:6px;clear:left}
.scale label{flex:1 0 2.4em;text-align:center;border:1px solid #ddd;border-radius:8px;padding:6px 0;min-height:44px}
.scale input{display:block;margin:0 auto 2px}
.ends{display:flex;justify-content:space-between;font-size:.8rem;color:#666;margin-top:4px}
textarea{width:100%;box-sizing:border-box;min-height:6em;font:inherit;padding:8px;border:1px solid #ccc;border-radius:8px}
button{width:100%;padding:14px;font-size:1rem;border:0;border-radius:10px;background:#2c6e49;color:#fff}
.err{background:#fdecea;color:#a4281b;padding:10px;border-radius:8px}
</style></head><body><main>
{{if .Message}}<h1>{{.Title}}</h1><p>{{.Message}}</p>{{else}}
<h1>{{.Survey.Title}}</h1>{{with .Survey.Description}}<p>{{.}}</p>{{end}}
{{with .Error}}<p class="err" role="alert">{{.}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="form_token" value="{{.FormToken}}">
{{range .Questions}}<fieldset>
<legend>{{.Title}}{{if .Required}}<span class="req">必須</span>{{end}}</legend>
{{with .Help}}<p class="help">{{.}}</p>{{end}}
{{if eq .Type "single"}}{{$f := .Field}}{{range .Options}}<label class="opt"><input type="radio" name="{{$f}}" value="{{.Value}}"{{if .Checked}} checked{{end}}>{{.Label}}</label>{{end}}
{{else if eq .Type "multiple"}}{{$f := .Field}}{{range .Options}}<label class="opt"><input type="checkbox" name="{{$f}}" value="{{.Value}}"{{if .Checked}} checked{{end}}>{{.Label}}</label>{{end}}
{{else if eq .Type "text"}}<textarea name="{{.Field}}" maxlength="2000" aria-label="{{.Title}}">{{.Text}}</textarea>
{{else}}{{$f := .Field}}<div class="scale">{{range .Scale}}<label><input type="radio" name="{{$f}}" value="{{.Value}}"{{if .Checked}} checked{{end}}>{{.Label}}</label>{{end}}</div>
{{if or .LowLabel .HighLabel}}<div class="ends"><span>{{.LowLabel}}</span><span>{{.HighLabel}}</span></div>{{end}}{{end}}
</fieldset>
{{end}}<button type="submit">回答を送信する</button>
</form>{{end}}
</main></body></html>
`))

// pageHeaders keep the page out of frames and caches and its address
// (with the customer's token) out of Referer headers.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

func renderPage(w http.ResponseWriter, status int, d surveyPageData) {
	pageHeaders(w)
	w.WriteHeader(status)
	_ = surveyTemplate.Execute(w, d)
}

func messagePage(w http.ResponseWriter, status int, title, msg string) {
	renderPage(w, status, surveyPageData{Title: title, Message: msg})
}

func pageQuestions(s *survey.Survey, entered url.Values) []pageQuestion {
	out := make([]pageQuestion, len(s.Questions))
	for i, q := range s.Questions {
		f := "q_" + q.ID
		pq := pageQuestion{Question: q, Field: f, Text: entered.Get(f)}
		chosen := map[string]bool{}
		for _, v := range entered[f] {
			chosen[v] = true
		}
		for _, o := range q.Options {
			pq.Options = append(pq.Options, pageOption{Value: o.Value, Label: o.Label, Checked: chosen[o.Value]})
		}
		lo, hi := 1, 5
		if q.Type == survey.NPS {
			lo, hi = 0, 10
		}
		if q.Type == survey.Rating || q.Type == survey.NPS {
			for n := lo; n <= hi; n++ {
				v := strconv.Itoa(n)
				pq.Scale = append(pq.Scale, pageOption{Value: v, Label: v, Checked: chosen[v]})
			}
		}
		out[i] = pq
	}
	return out
}

// sameOrigin refuses a POST that another site's page made: by Origin when
// the browser sends it, else by Sec-Fetch-Site.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	return true
}

// surveyPage serves both answer pages: /s/{token} for a customer's link,
// /survey/{key} for an anonymous public link.
func (s *Server) surveyPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	const notFoundTitle = "ページが見つかりません"
	sg, err := s.surveySigner(ctx)
	if err != nil {
		return err
	}
	var sv *survey.Survey
	var customerID int64
	var bind string
	if token := r.PathValue("token"); token != "" {
		sid, cid, err := sg.Parse(token)
		if err != nil {
			messagePage(w, http.StatusNotFound, notFoundTitle, "アンケートのリンクが正しくありません。お届けしたメッセージのリンクをもう一度お試しください。")
			return nil
		}
		if sv, err = s.cfg.Store.Survey(ctx, sid); err != nil {
			if errs.Code(err) == errs.NotFound {
				messagePage(w, http.StatusNotFound, notFoundTitle, "このアンケートは見つかりませんでした。")
				return nil
			}
			return err
		}
		customerID, bind = cid, "s:"+token
	} else {
		key := r.PathValue("key")
		if sv, err = s.cfg.Store.SurveyByKey(ctx, key); err != nil || !sv.AllowAnonymous {
			if err == nil || errs.Code(err) == errs.NotFound {
				messagePage(w, http.StatusNotFound, notFoundTitle, "このアンケートは見つかりませんでした。")
				return nil
			}
			return err
		}
		bind = "k:" + key
	}
	now := s.cfg.Clock.Now()
	if !sv.Accepting(now) {
		messagePage(w, http.StatusGone, sv.Title, "このアンケートの受付は終了しました。ご協力ありがとうございました。")
		return nil
	}
	data := surveyPageData{Survey: sv, Action: r.URL.Path, FormToken: sg.FormToken(bind, now)}
	if r.Method == http.MethodGet {
		if customerID != 0 {
			// Opening the link counts as being reached, for the response rate.
			if err := s.cfg.Store.InviteToSurvey(ctx, sv.ID, customerID, "link"); err != nil && errs.Code(err) != errs.NotFound {
				return err
			}
		}
		data.Questions = pageQuestions(sv, nil)
		renderPage(w, http.StatusOK, data)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		messagePage(w, http.StatusBadRequest, sv.Title, "送信内容を読み取れませんでした。もう一度お試しください。")
		return nil
	}
	if !sameOrigin(r) || sg.CheckForm(bind, r.PostForm.Get("form_token"), now) != nil {
		data.Questions = pageQuestions(sv, r.PostForm)
		data.Error = "ページの有効期限が切れたか、別のサイトから送信されました。お手数ですが、もう一度送信してください。"
		renderPage(w, http.StatusForbidden, data)
		return nil
	}
	raw := map[string][]string{}
	for _, q := range sv.Questions {
		if v := r.PostForm["q_"+q.ID]; len(v) > 0 {
			raw[q.ID] = v
		}
	}
	channel := "link"
	if customerID == 0 {
		channel = "web"
	}
	_, err = s.cfg.Store.SubmitSurveyResponse(ctx, store.SurveySubmission{SurveyID: sv.ID, CustomerID: customerID, Channel: channel, Answers: raw})
	if err != nil {
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.Invalid {
			if errs.Code(err) == errs.NotFound || errs.Code(err) == errs.Conflict {
				messagePage(w, http.StatusGone, sv.Title, "このアンケートにはお答えいただけません。")
				return nil
			}
			return err
		}
		data.Questions = pageQuestions(sv, r.PostForm)
		data.Error = answerError(sv, e)
		renderPage(w, http.StatusBadRequest, data)
		return nil
	}
	thanks := sv.ThankYou
	if thanks == "" {
		thanks = "ご回答ありがとうございました。いただいたご意見は、商品とサービスの改善に役立てます。"
	}
	messagePage(w, http.StatusOK, sv.Title, thanks)
	return nil
}

// answerError words a rejected answer for the customer, in Japanese.
func answerError(sv *survey.Survey, e *errs.Error) string {
	id := strings.TrimPrefix(e.Field, "answers.")
	if q, ok := sv.Question(id); ok {
		if strings.Contains(e.Message, "required") {
			return "「" + q.Title + "」にお答えください。"
		}
		return "「" + q.Title + "」の回答を確認してください。"
	}
	return "少なくとも1つの質問にお答えください。"
}

// cors lets pages of any site call the public survey endpoints; they take
// no cookies, so a page can only do what its token allows.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
}

// publicSurvey serves a survey's questions for the JS tag. With a
// customer's token (?token=), the survey counts as shown to them.
func (s *Server) publicSurvey(w http.ResponseWriter, r *http.Request) error {
	cors(w)
	ctx := r.Context()
	sv, err := s.cfg.Store.SurveyByKey(ctx, r.PathValue("key"))
	if err != nil {
		return err
	}
	identified := false
	if tok := r.URL.Query().Get("token"); tok != "" {
		sg, err := s.surveySigner(ctx)
		if err != nil {
			return err
		}
		sid, cid, err := sg.Parse(tok)
		if err != nil || sid != sv.ID {
			return errs.Errorf(errs.Unauthorized, "the token is not valid for this survey")
		}
		if err := s.cfg.Store.InviteToSurvey(ctx, sv.ID, cid, "onsite"); err != nil {
			return err
		}
		identified = true
	}
	if !identified && !sv.AllowAnonymous {
		return errs.Errorf(errs.NotFound, "survey not found")
	}
	return JSON(w, map[string]any{"title": sv.Title, "description": sv.Description, "questions": sv.Questions,
		"thank_you": sv.ThankYou, "accepting": sv.Accepting(s.cfg.Clock.Now())})
}

// publicSurveyAnswer takes answers from the JS tag:
// {"token": "…" or "anonymous_id": "…", "answers": {"skin": ["dry"], "nps": ["9"]}}.
// A text/plain body is read as JSON too (a request without preflight).
func (s *Server) publicSurveyAnswer(w http.ResponseWriter, r *http.Request) error {
	cors(w)
	ctx := r.Context()
	sv, err := s.cfg.Store.SurveyByKey(ctx, r.PathValue("key"))
	if err != nil {
		return err
	}
	var in struct {
		Token       string              `json:"token"`
		AnonymousID string              `json:"anonymous_id"`
		Answers     map[string][]string `json:"answers"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return errs.Errorf(errs.Invalid, "malformed JSON: %v", err)
	}
	sub := store.SurveySubmission{SurveyID: sv.ID, Channel: "onsite", Answers: in.Answers}
	if in.Token != "" {
		sg, err := s.surveySigner(ctx)
		if err != nil {
			return err
		}
		sid, cid, err := sg.Parse(in.Token)
		if err != nil || sid != sv.ID {
			return errs.Errorf(errs.Unauthorized, "the token is not valid for this survey")
		}
		sub.CustomerID = cid
	} else {
		if len(in.AnonymousID) > 100 {
			return errs.FieldErrorf("anonymous_id", "at most 100 characters")
		}
		// An anonymous id from the page names a browser, not a person: it
		// is kept hashed, only to tell repeat answers apart.
		if in.AnonymousID != "" {
			sub.AnonymousID = auth.HashToken("survey-anon:" + in.AnonymousID)[:32]
		}
	}
	if _, err := s.cfg.Store.SubmitSurveyResponse(ctx, sub); err != nil {
		return err
	}
	thanks := sv.ThankYou
	if thanks == "" {
		thanks = "ご回答ありがとうございました。"
	}
	return JSON(w, map[string]any{"ok": true, "thank_you": thanks})
}

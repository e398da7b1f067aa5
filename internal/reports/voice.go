package reports

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
	"github.com/enishi-crm/enishi/internal/survey"
)

// span reads from/to dates into [from, to): to is inclusive as given
// (the whole day), zero when not given.
func (r *reader) span() (time.Time, time.Time) {
	var from, to time.Time
	if d := r.day("from", 0); d != 0 {
		from = d.Start()
	}
	if d := r.day("to", 0); d != 0 {
		to = (d + 1).Start()
	}
	return from, to
}

// month reads a YYYY-MM or YYYY-MM-DD parameter as YYYYMM.
func (r *reader) month(name string, def int) int {
	v := r.p[name]
	if v == "" || r.err != nil {
		return def
	}
	if len(v) == 7 {
		r.p[name] = v + "-01"
		defer func() { r.p[name] = v }()
	}
	return subscription.CohortMonth(r.day(name, 0).Start())
}

// runVoice runs the subscription, review and survey reports.
func (rn Runner) runVoice(ctx context.Context, name string, r *reader, csvOut io.Writer) (any, error) {
	switch name {
	case "subscription-retention":
		from, to := r.span()
		opt := subscription.RetentionOptions{From: from, To: to, By: r.p["by"], SKU: r.p["sku"], Plan: r.p["plan"], MaxDelivery: r.int("deliveries", 12, 2, 120)}
		if r.err != nil {
			return nil, r.err
		}
		return rn.Store.SubscriptionRetention(ctx, opt)
	case "subscription-cancellations":
		from, to := r.span()
		opt := subscription.CancellationOptions{From: from, To: to, SKU: r.p["sku"], Plan: r.p["plan"], Limit: r.int("limit", 20, 1, 1000)}
		if r.err != nil {
			return nil, r.err
		}
		return rn.Store.SubscriptionCancellations(ctx, opt)
	case "subscription-mrr":
		now := subscription.CohortMonth(rn.Clock.Now())
		def := now
		for i := 0; i < 11; i++ {
			def = prevMonth(def)
		}
		from, to := r.month("from", def), r.month("to", now)
		if r.err != nil {
			return nil, r.err
		}
		return rn.Store.SubscriptionMRR(ctx, from, to)
	case "review-ratings":
		from, to := r.span()
		if r.err != nil {
			return nil, r.err
		}
		return rn.Store.ReviewRatings(ctx, from, to)
	case "review-repeat":
		from, to := r.span()
		if r.err != nil {
			return nil, r.err
		}
		return rn.Store.ReviewRepeat(ctx, from, to)
	case "survey-results":
		id, err := strconv.ParseInt(r.p["survey"], 10, 64)
		if err != nil || id <= 0 {
			return nil, errs.FieldErrorf("survey", "give the survey's id (enishi survey list)")
		}
		texts := r.int("texts", 20, 0, 1000)
		if r.err != nil {
			return nil, r.err
		}
		if csvOut != nil {
			return nil, WriteSurveyCSV(ctx, rn.Store, id, csvOut)
		}
		return rn.Store.SurveyResults(ctx, id, texts)
	}
	return nil, errs.Errorf(errs.NotFound, "no report %q", name)
}

func prevMonth(ym int) int {
	if ym%100 == 1 {
		return (ym/100-1)*100 + 12
	}
	return ym - 1
}

// WriteSurveyCSV writes every response of a survey as CSV for
// spreadsheets (csvexport: a BOM, CRLF, formula cells escaped), times in
// Asia/Tokyo.
func WriteSurveyCSV(ctx context.Context, st store.Store, id int64, out io.Writer) error {
	s, err := st.Survey(ctx, id)
	if err != nil {
		return err
	}
	w, err := csvexport.New(out, csvexport.Options{})
	if err != nil {
		return err
	}
	if err := w.WriteStrings(survey.ExportHeader(s)); err != nil {
		return err
	}
	err = st.EachSurveyResponse(ctx, id, func(r store.SurveyResponse) error {
		return w.WriteStrings(survey.ExportRow(s, r.ID, r.CustomerID, r.Channel, r.SubmittedAt, r.Answers, clock.Tokyo))
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

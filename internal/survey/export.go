package survey

import (
	"strconv"
	"strings"
	"time"
)

// CSV export of responses: one row per response, one column per question
// (multiple choices joined with " | ", labels as shown to respondents).
// The rows are written through internal/csvexport, which escapes cells a
// spreadsheet would read as formulas.

// ExportHeader is the header row for a survey.
func ExportHeader(s *Survey) []string {
	h := []string{"response_id", "submitted_at", "customer_id", "channel"}
	for _, q := range s.Questions {
		h = append(h, q.ID+": "+q.Title)
	}
	return h
}

// ExportRow is one response's row. tz is the zone times are written in.
func ExportRow(s *Survey, id, customerID int64, channel string, at time.Time, answers []Answer, tz *time.Location) []string {
	row := []string{strconv.FormatInt(id, 10), at.In(tz).Format("2006-01-02 15:04:05"), "", channel}
	if customerID != 0 {
		row[2] = strconv.FormatInt(customerID, 10)
	}
	by := map[string]Answer{}
	for _, a := range answers {
		by[a.QuestionID] = a
	}
	for _, q := range s.Questions {
		a, ok := by[q.ID]
		if !ok {
			row = append(row, "")
			continue
		}
		var cell string
		switch {
		case len(a.Choices) > 0:
			labels := make([]string, len(a.Choices))
			for i, c := range a.Choices {
				labels[i] = c
				for _, o := range q.Options {
					if o.Value == c {
						labels[i] = o.Label
					}
				}
			}
			cell = strings.Join(labels, " | ")
		case a.Number != nil:
			cell = strconv.Itoa(*a.Number)
		default:
			cell = a.Text
		}
		row = append(row, cell)
	}
	return row
}

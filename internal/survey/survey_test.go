package survey

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

func TestLinkTokensAreSignedAndBound(t *testing.T) {
	t.Parallel()
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Token(7, 12345)
	sv, cu, err := s.Parse(tok)
	if err != nil || sv != 7 || cu != 12345 {
		t.Fatalf("parse = %d %d %v", sv, cu, err)
	}
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	forged := other.Token(7, 12345)
	body, sig, _ := strings.Cut(tok, ".")
	otherBody, _, _ := strings.Cut(s.Token(7, 999), ".")
	for _, bad := range []string{forged, otherBody + "." + sig, body, body + ".", "", tok + "x", strings.Repeat("a", 300)} {
		if _, _, err := s.Parse(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
	now := time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)
	ft := s.FormToken(tok, now)
	if err := s.CheckForm(tok, ft, now.Add(time.Hour)); err != nil {
		t.Errorf("fresh form: %v", err)
	}
	if err := s.CheckForm(tok, ft, now.Add(FormTTL+time.Minute)); err == nil {
		t.Error("expired form accepted")
	}
	if err := s.CheckForm(s.Token(7, 999), ft, now); err == nil {
		t.Error("form token of another link accepted")
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	bad := []struct {
		s     Survey
		field string
	}{
		{Survey{Questions: []Question{{Type: Text, Title: "?"}}}, "title"},
		{Survey{Title: "t"}, "questions"},
		{Survey{Title: "t", Questions: []Question{{ID: "A b", Type: Text, Title: "?"}}}, "questions[0].id"},
		{Survey{Title: "t", Questions: []Question{{ID: "a", Type: Text, Title: "?"}, {ID: "a", Type: Text, Title: "?"}}}, "questions[1].id"},
		{Survey{Title: "t", Questions: []Question{{Type: Single, Title: "?", Options: []Option{{Label: "x"}}}}}, "questions[0].options"},
		{Survey{Title: "t", Questions: []Question{{Type: Single, Title: "?", Options: []Option{{Label: "x"}, {Label: "x"}}}}}, "questions[0].options[1].value"},
		{Survey{Title: "t", Questions: []Question{{Type: NPS, Title: "?", Options: []Option{{Label: "x"}, {Label: "y"}}}}}, "questions[0].options"},
		{Survey{Title: "t", Status: "live", Questions: []Question{{Type: Text, Title: "?"}}}, "status"},
	}
	for _, b := range bad {
		err := b.s.Validate()
		var e *errs.Error
		if !errors.As(err, &e) || e.Field != b.field {
			t.Errorf("%+v: %v, want field %s", b.s, err, b.field)
		}
	}
	s := Survey{Title: " t ", Questions: []Question{{Type: Single, Title: "肌質", Options: []Option{{Label: "乾燥肌"}, {Value: "oily", Label: "脂性肌"}}}}}
	if err := s.Validate(); err != nil || s.Questions[0].ID != "q1" || s.Questions[0].Options[0].Value != "乾燥肌" || s.Status != Draft || s.Title != "t" {
		t.Errorf("defaults: %+v %v", s, err)
	}
}

func TestNPSCategories(t *testing.T) {
	t.Parallel()
	for score, want := range map[int]string{0: Detractor, 6: Detractor, 7: Passive, 8: Passive, 9: Promoter, 10: Promoter} {
		if got := NPSCategory(score); got != want {
			t.Errorf("NPSCategory(%d) = %s", score, got)
		}
	}
}

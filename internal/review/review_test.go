package review

import (
	"errors"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

func TestParseRatingReadsAppExports(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"5": 5, "4.0": 4, "★★★☆☆": 3, "星2": 2, "1/5": 1, "３": 3} {
		if got, err := ParseRating(in); err != nil || got != want {
			t.Errorf("ParseRating(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0", "6", "4.5", "good"} {
		if _, err := ParseRating(bad); err == nil {
			t.Errorf("ParseRating(%q) accepted", bad)
		}
	}
}

func TestRequestURLEscapesEachPlace(t *testing.T) {
	t.Parallel()
	got, err := RequestURL("https://shop.example.jp/products/{sku}/reviews/new?order={order_id}", "SK 5/ジェル", "#1001&x=1")
	if err != nil || got != "https://shop.example.jp/products/SK%205%2F%E3%82%B8%E3%82%A7%E3%83%AB/reviews/new?order=%231001%26x%3D1" {
		t.Errorf("RequestURL = %q, %v", got, err)
	}
	for _, tmpl := range []string{"", "javascript:alert(1)", "/relative/{sku}"} {
		if _, err := RequestURL(tmpl, "A", "1"); errs.Code(err) != errs.Invalid {
			t.Errorf("RequestURL(%q) = %v", tmpl, err)
		}
	}
}

func TestParseWebhookNamesTheField(t *testing.T) {
	t.Parallel()
	r, err := ParseWebhook("app", "review.created", []byte(`{"review_id":"R1","sku":"SP-001","rating":5,"reviewed_at":"2026-03-01T10:00:00+09:00","customer":{"email":"A@example.jp"}}`))
	if err != nil || r.Reviewer.Profile.Email != "a@example.jp" || !r.ReviewedAt.Equal(time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("review = %+v %v", r, err)
	}
	for data, field := range map[string]string{
		`{"review_id":"R1","sku":"A","rating":9,"reviewed_at":"2026-03-01T10:00:00Z"}`:   "data.rating",
		`{"review_id":"R1","rating":4,"reviewed_at":"2026-03-01T10:00:00Z"}`:             "data.sku",
		`{"review_id":"R1","sku":"A","rating":"4","reviewed_at":"2026-03-01T10:00:00Z"}`: "data.rating",
		`{"sku":"A","rating":4,"reviewed_at":"2026-03-01T10:00:00Z"}`:                    "data.review_id",
	} {
		_, err := ParseWebhook("app", "review.created", []byte(data))
		var e *errs.Error
		if !errors.As(err, &e) || e.Field != field {
			t.Errorf("%s: %v, want field %s", data, err, field)
		}
	}
}

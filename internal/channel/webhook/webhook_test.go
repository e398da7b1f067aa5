package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/message"
)

func TestWebhookIsSignedAndRetriedOn5xx(t *testing.T) {
	var got []error
	status := []int{503, 200, 400}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, Verify("whsec", r.Header.Get("X-Enishi-Signature"), body, time.Now(), 5*time.Minute))
		w.WriteHeader(status[0])
		status = status[1:]
	}))
	defer srv.Close()
	s := &Sender{URL: srv.URL, Secret: "whsec"}
	r := message.Rendered{Outgoing: message.Outgoing{Key: "k"}, Payload: []byte(`{"customer_id":1}`)}
	if _, err := s.Send(context.Background(), r); err == nil || message.IsPermanent(err) {
		t.Fatalf("503 = %v", err)
	}
	if _, err := s.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), r); !message.IsPermanent(err) {
		t.Fatalf("400 = %v", err)
	}
	for i, e := range got {
		if e != nil {
			t.Errorf("request %d: %v", i, e)
		}
	}
	now := time.Now()
	h := Sign("whsec", now, []byte("x"))
	if Verify("whsec", h, []byte("y"), now, time.Minute) == nil || Verify("other", h, []byte("x"), now, time.Minute) == nil ||
		Verify("whsec", h, []byte("x"), now.Add(time.Hour), time.Minute) == nil || Verify("whsec", h, []byte("x"), now, time.Minute) != nil {
		t.Fatal("verify accepted a bad signature or refused a good one")
	}
}

package webpush

import (
	"context"
	"encoding/json"
	"testing"

	fakepush "github.com/enishi-crm/enishi/internal/fake/webpush"
	"github.com/enishi-crm/enishi/internal/message"
)

func TestPushIsEncryptedSignedAndExpiredSubscriptionsReported(t *testing.T) {
	f := fakepush.Start()
	defer f.Close()
	priv, pub, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	s := &Sender{PublicKey: pub, PrivateKey: priv, Subject: "mailto:shop@example.com", Gone: func(_ context.Context, e string) { gone = append(gone, e) }}
	e1, k1, a1 := f.Subscribe()
	e2, k2, a2 := f.Subscribe()
	f.Expire(e2)
	payload, _ := json.Marshal(map[string]any{"title": "タイムセール", "body": "山田様 本日限り20%OFF", "url": "https://crm.example.com/t/c/x",
		"subscriptions": []map[string]string{{"endpoint": e1, "p256dh": k1, "auth": a1}, {"endpoint": e2, "p256dh": k2, "auth": a2}}})
	res, err := s.Send(context.Background(), message.Rendered{Outgoing: message.Outgoing{Key: "k1", Channel: message.Push}, Payload: payload})
	if err != nil || res.ProviderID != "1/2 browsers" {
		t.Fatalf("send = %+v %v", res, err)
	}
	p := f.Pushes()
	if len(p) != 1 || p[0].Endpoint != e1 || p[0].Subject != "mailto:shop@example.com" {
		t.Fatalf("pushes = %+v", p)
	}
	var n Notification
	if err := json.Unmarshal(p[0].Data, &n); err != nil || n.Title != "タイムセール" || n.Body != "山田様 本日限り20%OFF" || n.Tag != "k1" {
		t.Fatalf("notification = %+v %v (%s)", n, err, p[0].Data)
	}
	if len(gone) != 1 || gone[0] != e2 {
		t.Fatalf("gone = %v", gone)
	}
	only2, _ := json.Marshal(map[string]any{"title": "x", "subscriptions": []map[string]string{{"endpoint": e2, "p256dh": k2, "auth": a2}}})
	if _, err := s.Send(context.Background(), message.Rendered{Payload: only2}); !message.IsPermanent(err) {
		t.Fatalf("all expired = %v, want permanent", err)
	}
}

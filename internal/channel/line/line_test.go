package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	fakeline "github.com/enishi-crm/enishi/internal/fake/line"
	"github.com/enishi-crm/enishi/internal/message"
)

var ctx = context.Background()

func user(i int) string { return fmt.Sprintf("U%032x", i) }

func rendered(key, to string) message.Rendered {
	return message.Rendered{Outgoing: message.Outgoing{Key: key, Channel: message.LINE}, To: to,
		Payload: json.RawMessage(`[{"type":"text","text":"山田 太郎 様\nクーポン: SPRING"},{"type":"coupon","couponId":"01ABC"},` +
			`{"type":"image","originalContentUrl":"https://x/i.jpg","previewImageUrl":"https://x/p.jpg"},{"type":"flex","altText":"おすすめ","contents":{"type":"bubble"}}]`)}
}

func TestPushRetriesWithTheSameRetryKeyDeliverOnce(t *testing.T) {
	f := fakeline.Start("tok")
	defer f.Close()
	s := &Sender{Client: New(f.URL, "tok", nil)}
	f.FailNext(500)
	if _, err := s.Send(ctx, rendered("journey:1:step:2:customer:3", user(1))); err == nil || message.IsPermanent(err) {
		t.Fatalf("5xx = %v, want transient", err)
	}
	res, err := s.Send(ctx, rendered("journey:1:step:2:customer:3", user(1)))
	if err != nil || res.ProviderID == "" {
		t.Fatalf("retry = %+v %v", res, err)
	}
	// A third attempt (say, after a lost answer) is de-duplicated by LINE.
	if _, err := s.Send(ctx, rendered("journey:1:step:2:customer:3", user(1))); err != nil {
		t.Fatalf("repeat = %v", err)
	}
	d := f.Delivered()
	if len(d) != 1 || d[0].To != user(1) || len(d[0].Messages) != 4 || d[0].RetryKey != RetryKey("journey:1:step:2:customer:3") {
		t.Fatalf("delivered = %+v", d)
	}
	if _, err := s.Send(ctx, rendered("k2", "not-a-user")); !message.IsPermanent(err) {
		t.Fatalf("bad user id = %v, want permanent", err)
	}
	bad := New(f.URL, "wrong", nil)
	if _, err := bad.Push(ctx, user(1), json.RawMessage(`[{"type":"text","text":"x"}]`), ""); err == nil || message.IsPermanent(err) {
		t.Fatalf("bad token = %v, want transient (fix the token, it goes)", err)
	}
}

func TestMulticastChunksAt500AndAudiencesUpload(t *testing.T) {
	f := fakeline.Start("tok")
	defer f.Close()
	c := New(f.URL, "tok", nil)
	var to []string
	for i := 0; i < 1201; i++ {
		to = append(to, user(i))
	}
	msgs := json.RawMessage(`[{"type":"text","text":"セール開始"}]`)
	if err := c.Multicast(ctx, to, msgs, "campaign:9"); err != nil {
		t.Fatal(err)
	}
	if err := c.Multicast(ctx, to, msgs, "campaign:9"); err != nil {
		t.Fatal(err)
	}
	if n := f.Calls("POST /v2/bot/message/multicast"); n != 6 {
		t.Fatalf("%d multicast calls, want 3 + 3 retried", n)
	}
	if n := len(f.Delivered()); n != 1201 {
		t.Fatalf("%d deliveries, want 1201", n)
	}
	var ids []string
	for i := 0; i < 25000; i++ {
		ids = append(ids, user(i))
	}
	aud, err := c.CreateAudience(ctx, "優良顧客 2026-04", ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Audience(aud); len(got) != 25000 || f.Calls("PUT /v2/bot/audienceGroup/upload") != 2 {
		t.Fatalf("audience has %d ids after %d PUTs", len(got), f.Calls("PUT /v2/bot/audienceGroup/upload"))
	}
	if err := c.Narrowcast(ctx, aud, msgs, RetryKey("narrow")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Delivered()); n != 26201 {
		t.Fatalf("after narrowcast %d deliveries", n)
	}
}

func TestQuotaStopsSendsBeforeTheLimit(t *testing.T) {
	f := fakeline.Start("tok")
	defer f.Close()
	f.SetQuota(1000, 999)
	s := &Sender{Client: New(f.URL, "tok", nil)}
	q, err := s.Client.Quota(ctx)
	if err != nil || q.Remaining() != 1 {
		t.Fatalf("quota = %+v %v", q, err)
	}
	if _, err := s.Send(ctx, rendered("a", user(1))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, rendered("b", user(2))); !errors.Is(err, ErrQuota) || message.IsPermanent(err) {
		t.Fatalf("over quota = %v", err)
	}
	if err := s.SendGroup(ctx, []string{user(3), user(4)}, rendered("c", ""), "c"); !errors.Is(err, ErrQuota) {
		t.Fatalf("group over quota = %v", err)
	}
}

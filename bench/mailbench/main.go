// Command mailbench measures e-mail send throughput to a local SMTP sink
// (an in-process Go SMTP server that discards what it receives):
//
//	mailbench -mode baseline -n 20000   go-mail sending pre-rendered messages in a bare loop
//	mailbench -mode enishi -n 100000    enishi's channel service: exactly-once records in SQLite,
//	                                    consent and suppression checks, Liquid personalization,
//	                                    tracked links and open pixel, pooled SMTP connections
//
// Each prints "messages N seconds S rate R/s"; bench/sections/channels.sh
// runs both and compares.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/channel/providers"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	fakesmtp "github.com/enishi-crm/enishi/internal/fake/smtp"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

func main() {
	mode := flag.String("mode", "enishi", "baseline or enishi")
	n := flag.Int("n", 100000, "messages to send")
	dir := flag.String("dir", os.TempDir(), "directory for the enishi database")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the sending")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fail(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	sink, err := fakesmtp.Start(fakesmtp.Options{Discard: true})
	if err != nil {
		fail(err)
	}
	defer sink.Close()
	ctx := context.Background()
	var elapsed time.Duration
	switch *mode {
	case "baseline":
		elapsed, err = baseline(ctx, sink, *n)
	case "enishi":
		elapsed, err = enishi(ctx, sink, *n, *dir)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fail(err)
	}
	if got := sink.Count(); got != int64(*n) {
		pprof.StopCPUProfile()
		fail(fmt.Errorf("the sink received %d messages, want %d", got, *n))
	}
	fmt.Printf("messages %d seconds %.3f rate %.0f\n", *n, elapsed.Seconds(), float64(*n)/elapsed.Seconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mailbench:", err)
	os.Exit(1)
}

var shop = content.Shop{Name: "緑茶の店 ことのは", Address: "静岡県静岡市葵区追手町9-6", Contact: "support@shop.example.com", URL: "https://shop.example.com"}

func tpl() *content.Template {
	return &content.Template{Name: "bench", Purpose: message.Marketing, Variants: []content.Variant{{Channel: message.Email,
		Subject: "{{ customer.honorific_name }}、{{ last_purchase.product }}の季節です", Preheader: "新茶のご案内",
		Blocks: []content.Block{
			{Type: content.BlockHeading, Text: "{{ customer.honorific_name }}"},
			{Type: content.BlockText, Text: "いつも{{ shop.name }}をご利用いただきありがとうございます。\n前回のご購入から{{ days_since_last_purchase }}日が経ちました。\n今年の新茶が入荷しました。"},
			{Type: content.BlockImage, Src: "https://shop.example.com/i/shincha.jpg", Alt: "新茶", URL: "https://shop.example.com/shincha"},
			{Type: content.BlockButton, Text: "新茶を見る", URL: "https://shop.example.com/shincha"},
			{Type: content.BlockCoupon, If: `coupon.code != ""`},
			{Type: content.BlockText, Text: "ご不明な点は{{ shop.contact }}までお問い合わせください。"},
		}}}}
}

func settings(sink *fakesmtp.Server) *channel.Settings {
	return &channel.Settings{BaseURL: "https://crm.example.com", Shop: shop, UTMHosts: []string{"shop.example.com"},
		Email: channel.EmailSettings{FromName: "緑茶の店 ことのは", FromAddress: "news@shop.example.com", Host: sink.Host, Port: sink.Port, Security: "none", Connections: 4}}
}

// baseline renders every message first, then sends them with go-mail's
// own client in a loop on one connection.
func baseline(ctx context.Context, sink *fakesmtp.Server, n int) (time.Duration, error) {
	eng := content.NewEngine()
	c, err := eng.Compile(tpl())
	if err != nil {
		return 0, err
	}
	snd, err := email.New(email.Config{Host: sink.Host, Port: sink.Port, Security: "none", FromName: "緑茶の店 ことのは", FromAddress: "news@shop.example.com"})
	if err != nil {
		return 0, err
	}
	msgs := make([]*gomail.Msg, n)
	for i := range msgs {
		d := content.SampleData(shop)
		d.CustomerID, d.CouponCode = int64(i+1), fmt.Sprintf("SHINCHA-%05d", i)
		o, err := c.Render(message.Email, &d)
		if err != nil {
			return 0, err
		}
		r := message.Rendered{Outgoing: message.Outgoing{Key: fmt.Sprintf("b:%d", i), Purpose: message.Marketing}, To: fmt.Sprintf("c%d@example.com", i),
			Subject: o.Subject, HTML: o.HTML, Text: o.Text,
			Headers: map[string]string{"List-Unsubscribe": "<https://crm.example.com/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
		if msgs[i], _, err = snd.Msg(r); err != nil {
			return 0, err
		}
	}
	opts, err := email.ClientOptions(email.Config{Port: sink.Port, Security: "none", Timeout: 30 * time.Second})
	if err != nil {
		return 0, err
	}
	cl, err := gomail.NewClient(sink.Host, opts...)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cl.DialWithContext(ctx); err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if err := cl.Send(m); err != nil {
			return 0, err
		}
	}
	el := time.Since(start)
	_ = cl.Close()
	return el, nil
}

// enishi sends through the channel service from a SQLite store of n
// customers who opted in.
func enishi(ctx context.Context, sink *fakesmtp.Server, n int, dir string) (time.Duration, error) {
	path := filepath.Join(dir, "mailbench.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	db, err := sqlite.Open(path, nil)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return 0, err
	}
	ids := make([]int64, 0, n)
	for lo := 0; lo < n; lo += 5000 {
		var recs []customer.Record
		for i := lo; i < min(lo+5000, n); i++ {
			addr := fmt.Sprintf("c%d@example.com", i)
			recs = append(recs, customer.Record{Identifiers: []identity.Identifier{{Kind: identity.Email, Value: addr}},
				Profile:  customer.Profile{LastName: "山田", FirstName: fmt.Sprintf("太郎%d", i), Email: addr},
				Consents: []customer.Consent{{Channel: customer.ChannelEmail, Granted: true, Method: "form"}}})
		}
		res, err := db.ImportCustomers(ctx, recs)
		if err != nil {
			return 0, err
		}
		ids = append(ids, res.CustomerIDs...)
	}
	set := settings(sink)
	svc, err := channel.New(ctx, channel.Config{Store: db, Workers: 8})
	if err != nil {
		return 0, err
	}
	if err := svc.SaveSettings(ctx, set); err != nil {
		return 0, err
	}
	t := tpl()
	if _, err := content.NewEngine().Check(t, shop); err != nil {
		return 0, err
	}
	if _, err := db.SaveTemplate(ctx, t); err != nil {
		return 0, err
	}
	ps, err := providers.Build(ctx, set, nil, providers.Options{})
	if err != nil {
		return 0, err
	}
	defer ps.Close()
	svc.SetSenders(ps.Senders, nil)

	const batch = 1000
	var next, failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ { // two batches in flight: one in the database while the other sends
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= n {
					return
				}
				out := make([]message.Outgoing, 0, batch)
				for i := lo; i < min(lo+batch, n); i++ {
					out = append(out, message.Outgoing{Key: fmt.Sprintf("campaign:1:customer:%d", ids[i]), CustomerID: ids[i], Channel: message.Email,
						Purpose: message.Marketing, TemplateID: t.ID, Source: "campaign:1", Vars: map[string]any{"coupon_code": fmt.Sprintf("SHINCHA-%05d", i)}})
				}
				for _, o := range svc.SendBatch(ctx, out) {
					if o.Err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, o.Err)
					}
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if f := failed.Load(); f > 0 {
		return el, fmt.Errorf("%d sends failed, first: %v", f, firstErr.Load())
	}
	return el, nil
}

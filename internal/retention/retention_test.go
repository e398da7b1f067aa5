package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/retention"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestRunHonoursSettingsAndAudits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		ctx := context.Background()
		c := clock.NewManual(storetest.T0, true)
		db := open(t, c)
		var evs []event.Event
		for i := range 40 {
			evs = append(evs, event.Event{Type: "track", Name: "page", OccurredAt: c.Now(), Source: "web", MessageID: "m" + time.Duration(i).String(), AnonymousID: "a"})
			if i == 19 {
				if _, err := db.ImportEvents(ctx, evs); err != nil {
					t.Fatal(err)
				}
				evs = nil
				c.Advance(60 * 24 * time.Hour)
			}
		}
		if _, err := db.ImportEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		res, err := retention.Run(ctx, db, c.Now())
		if err != nil || res[0].Deleted != 0 || res[0].Days != 0 {
			t.Fatalf("default keeps everything: %+v %v", res, err)
		}
		if err := db.SetSetting(ctx, "retention.events_days", "30"); err != nil {
			t.Fatal(err)
		}
		res, err = retention.Run(ctx, db, c.Now())
		if err != nil || res[0].Deleted != 20 {
			t.Fatalf("run = %+v %v", res, err)
		}
		if s, _ := db.Stats(ctx); s.Events != 20 {
			t.Fatalf("events left = %d", s.Events)
		}
		a, _ := db.AuditEntries(ctx, store.AuditQuery{Action: "retention.purge"})
		if len(a) != 1 || a[0].Target != "table:events" {
			t.Fatalf("audit = %+v", a)
		}
		if err := db.SetSetting(ctx, "retention.events_days", "soon"); err != nil {
			t.Fatal(err)
		}
		if _, err := retention.Run(ctx, db, c.Now()); err == nil {
			t.Fatal("a bad setting was accepted")
		}
	})
}

func TestLoopStopsWithContext(t *testing.T) {
	db := storetest.SQLite(t, clock.NewManual(storetest.T0, true))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		retention.Loop(ctx, db, clock.NewManual(storetest.T0, true), time.Hour, nil)
		close(done)
	}()
	cancel()
	<-done
}

package http_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// Sessions end after 12 idle hours on the store's clock — but a dev clock
// (serve --dev-clock) moved a day ahead to watch a journey must not sign
// staff out: with one, sessions follow the wall clock.
func TestSessionIdleExpiryAndTheDevClock(t *testing.T) {
	for _, dev := range []bool{false, true} {
		c := clock.NewManual(storetest.T0, true)
		db := storetest.SQLite(t, c)
		cfg := enishihttp.Config{Store: db, Clock: c}
		if dev {
			cfg.DevClock = c
		}
		srv := httptest.NewServer(enishihttp.New(cfg))
		defer srv.Close()
		if _, _, err := enishihttp.CreateUser(ctx, db, "staff@example.com", "staff", "marketer", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		e := &env{t: t, db: db, srv: srv}
		client := &http.Client{Jar: jar}
		if code, out := e.call(client, "POST", "/api/v1/auth/login", "", map[string]any{"email": "staff@example.com", "password": "correct horse battery"}, nil); code != 200 {
			t.Fatalf("login = %d %v", code, out)
		}
		if code, _ := e.call(client, "GET", "/api/v1/me", "", nil, nil); code != 200 {
			t.Fatalf("dev=%v: me right after sign-in = %d", dev, code)
		}
		c.Advance(13 * time.Hour)
		code, _ := e.call(client, "GET", "/api/v1/me", "", nil, nil)
		if want := map[bool]int{false: 401, true: 200}[dev]; code != want {
			t.Fatalf("dev=%v: me 13 idle hours later = %d, want %d", dev, code, want)
		}
	}
}

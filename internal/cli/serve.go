package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/metrics"
	"github.com/enishi-crm/enishi/internal/privacy"
	"github.com/enishi-crm/enishi/internal/retention"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/ui"
)

// demoAdmin is the account `serve --demo` signs people in with.
const demoAdmin = "admin@example.com"

func cmdServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve", "serve [--addr HOST:PORT] [--demo] [flags]")
	db := addDBFlags(fs, env)
	addr := fs.String("addr", envOr(env, "ENISHI_ADDR", "127.0.0.1:8080"), "address to listen on (env ENISHI_ADDR)")
	demoMode := fs.Bool("demo", false, "fill an empty database with demo data and print an admin login (uses enishi-demo.db unless --db is given)")
	demoCustomers := fs.Int("demo-customers", 2000, "customers to generate with --demo")
	loyaltyDaily := fs.Bool("loyalty-daily", true, "run the daily loyalty work (ranks, point expiry, reminders) at 03:00 Asia/Tokyo")
	devClock := fs.Bool("dev-clock", false, "let POST /api/v1/dev/clock move time forward (tests and demos only)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (serve HTTPS)")
	tlsKey := fs.String("tls-key", "", "TLS key file")
	noEngine := fs.Bool("no-engine", false, "do not run segments, journeys and campaigns in this process (run `enishi engine run` elsewhere)")
	ef := addEngineFlags(fs, env)
	retentionEvery := fs.Duration("retention-interval", 24*time.Hour, "how often to apply data retention (0 turns the job off in this process)")
	workers := fs.Int("ingest-workers", 1, "inbox workers processing events and webhooks (more only help on PostgreSQL; 0 runs none in this process)")
	lease := fs.Duration("ingest-lease", time.Minute, "how long a worker holds a claimed inbox batch before another may take it over")
	rate := fs.Float64("ingest-rate", 500, "event API requests per second allowed per API key (bursts of twice that)")
	publicURL := fs.String("public-url", envOr(env, "ENISHI_PUBLIC_URL", ""), "address customers reach enishi at, for survey links (env ENISHI_PUBLIC_URL; default: each request's host)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *demoMode && !flagSet(fs, "db") && env.Getenv("ENISHI_DB") == "" {
		db.path = "enishi-demo.db"
	}
	var c clock.Clock = clock.Real{}
	if env.Clock != nil {
		c = env.Clock
	}
	var manual *clock.Manual
	if *devClock {
		manual = clock.NewManual(c.Now(), false)
		c = manual
	}
	st, err := db.open(ctx, env, c)
	if err != nil {
		return err
	}
	defer st.Close()
	if manual != nil {
		// Resume the time a previous run moved to.
		if v, ok, err := st.Setting(ctx, enishihttp.DevClockOffsetSetting); err == nil && ok {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				manual.Advance(d)
			}
		}
	}

	var login string
	if *demoMode {
		if login, err = prepareDemo(ctx, env, st, *demoCustomers, c); err != nil {
			return err
		}
	}
	codes, err := shopifyWriter(env)
	if err != nil {
		return err
	}
	chans, err := startChannels(ctx, env, st, c)
	if err != nil {
		return err
	}
	defer chans.close()
	chanCtx, stopChannels := context.WithCancel(ctx)
	defer stopChannels()
	go chans.svc.Work(chanCtx, 30*time.Second)
	if *demoMode && ef.fakeChannel == "" && !emailSetUp(ctx, st) {
		// A demo without any channel set up: journeys and test sends
		// still "send", into a file one can read, never to anyone.
		ef.fakeChannel = "enishi-demo-messages.jsonl"
		if st.Backend() != "postgres" && db.path != "" {
			ef.fakeChannel = filepath.Join(filepath.Dir(db.path), ef.fakeChannel)
		}
		login = fmt.Sprintf("no channel is set up: messages go to %s, not to anyone\n", ef.fakeChannel) + login
	}
	d, closeD, err := ef.dispatcher(env, c, chans.svc)
	if err != nil {
		return err
	}
	defer closeD()
	reg := metrics.NewRegistry()
	svc := ingest.New(ingest.Config{Store: st, Clock: c, Log: env.Log, Metrics: reg, Privacy: privacy.NewHandler(st), Workers: max(*workers, 1), Lease: *lease, RateLimit: *rate})
	api := enishihttp.New(enishihttp.Config{Store: st, Clock: c, DevClock: manual, Log: env.Log, SecureCookies: *tlsCert != "",
		Metrics: reg, Ingest: svc, PublicURL: *publicURL, DiscountCodes: codes,
		Channels: chans.svc, ReloadChannels: chans.reload, Secrets: secretsFor(env, st), Dispatcher: d, Segments: st, LINEQuota: func(ctx context.Context) (any, error) {
			if chans.set == nil || chans.set.LINE == nil {
				return nil, errs.Errorf(errs.Unavailable, "LINE is not configured")
			}
			return chans.set.LINE.Quota(ctx)
		}})
	web, err := ui.Mount(api, ui.Config{Store: st, Clock: c, Log: env.Log, SecureCookies: *tlsCert != ""})
	if err != nil {
		return err
	}
	defer web.Close() // after the server stopped: stop imports running in the background
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		if *workers > 0 {
			_ = svc.Run(workCtx)
		}
	}()
	defer func() { // after the server stopped taking requests: finish the batch in hand
		stopWork()
		<-workDone
	}()
	if !*noEngine {
		eng := ef.engine(env, st, c, d)
		engineCtx, stopEngine := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := eng.Run(engineCtx); err != nil {
				env.Log.Error("engine stopped", "err", err)
			}
		}()
		defer func() {
			stopEngine()
			<-done
		}()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + displayAddr(ln.Addr().String())
	fmt.Fprintf(env.Stdout, "enishi is running at %s (%s)\n", url, describeDB(st, db))
	if login != "" {
		fmt.Fprint(env.Stdout, login)
	}
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	// Background jobs stop when jobsCtx ends and are waited for after the
	// last request finished.
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	var jobs sync.WaitGroup
	if *retentionEvery > 0 {
		jobs.Go(func() { retention.Loop(jobsCtx, st, c, *retentionEvery, env.Log) })
	}
	jobs.Go(func() { runLoyalty(jobsCtx, env.Log, st, c, *loyaltyDaily) })
	go maintainAnalytics(ctx, env, st)
	go maintainSubscriptionRisk(ctx, env, st, c)
	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	env.Log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	env.Log.Info("shutting down: waiting for background jobs")
	stopJobs()
	jobs.Wait()
	env.Log.Info("stopped")
	return nil
}

// emailSetUp says whether the channel settings name a mail server.
func emailSetUp(ctx context.Context, st *store.DB) bool {
	set, err := channel.LoadSettings(ctx, st)
	return err == nil && set.Email.Host != ""
}

// prepareDemo generates demo data into an empty store and (re)sets the demo
// admin's password, returning the lines to print.
func prepareDemo(ctx context.Context, env *Env, st *store.DB, customers int, c clock.Clock) (string, error) {
	s, err := st.Stats(ctx)
	if err != nil {
		return "", err
	}
	if s.Customers == 0 {
		fmt.Fprintf(env.Stdout, "generating demo data (%d customers)…\n", customers)
		if err := generateDemo(ctx, env, st, customers, 1, c.Now()); err != nil {
			return "", err
		}
	}
	password := auth.GeneratePassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	u, err := st.UserByEmail(ctx, demoAdmin)
	switch {
	case err == nil:
		err = st.SetUserPassword(ctx, u.ID, hash)
	case errs.Code(err) == errs.NotFound:
		_, err = st.CreateUser(ctx, store.User{Email: demoAdmin, Name: "Demo admin", Role: "admin", PasswordHash: hash})
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("sign in as %s with password %s\n", demoAdmin, password), nil
}

func describeDB(st *store.DB, d *dbFlags) string {
	if st.Backend() == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite " + d.path
}

func displayAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if host == "127.0.0.1" || host == "::1" || host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func envOr(env *Env, key, def string) string {
	if v := env.Getenv(key); v != "" {
		return v
	}
	return def
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// analyticsInterval is how often a running server rescores customers whose
// orders changed (and, once a day, rolls the date and refits the models).
const analyticsInterval = 30 * time.Second

// maintainAnalytics keeps stored customer scores current while serving.
func maintainAnalytics(ctx context.Context, env *Env, st *store.DB) {
	t := time.NewTicker(analyticsInterval)
	defer t.Stop()
	for {
		if err := st.MaintainAnalytics(ctx); err != nil && ctx.Err() == nil {
			env.Log.Error("analytics maintenance", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/engine"
	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
	"github.com/enishi-crm/enishi/internal/outbox"
	"github.com/enishi-crm/enishi/internal/store"
)

// engineFlags configure the background engine (serve, engine run).
type engineFlags struct {
	fakeChannel string
	lease       time.Duration
}

func addEngineFlags(fs *flag.FlagSet, env *Env) *engineFlags {
	f := &engineFlags{}
	fs.StringVar(&f.fakeChannel, "fake-channel", env.Getenv("ENISHI_FAKE_CHANNEL"),
		"deliver messages to a fake channel that appends them to FILE (tests and demos; env ENISHI_FAKE_CHANNEL)")
	lease := 2 * time.Minute
	if v := env.Getenv("ENISHI_ENGINE_LEASE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			lease = d
		}
	}
	fs.DurationVar(&f.lease, "engine-lease", lease, "how long a process holds claimed work before another may take it over (env ENISHI_ENGINE_LEASE)")
	return f
}

// dispatcher returns what sends the engine's messages: the channels
// (their Dispatch renders, checks consent and suppression, and sends once
// per key), or the fake channel of --fake-channel for tests and demos.
func (f *engineFlags) dispatcher(env *Env, c clock.Clock, channels outbox.Dispatcher) (outbox.Dispatcher, func(), error) {
	if f.fakeChannel == "" {
		return channels, func() {}, nil
	}
	ch, err := fakechannel.OpenFile(f.fakeChannel, c)
	if err != nil {
		return nil, nil, fmt.Errorf("fake channel: %w", err)
	}
	if v := env.Getenv("ENISHI_FAKE_CHANNEL_DELAY"); v != "" {
		// Widens the window between recording a send and confirming it,
		// for crash tests.
		if ch.Delay, err = time.ParseDuration(v); err != nil {
			return nil, nil, usagef("ENISHI_FAKE_CHANNEL_DELAY %q is not a duration", v)
		}
	}
	env.Log.Info("messages go to the fake channel", "file", f.fakeChannel)
	return ch, func() { ch.Close() }, nil
}

func (f *engineFlags) engine(env *Env, st *store.DB, c clock.Clock, d outbox.Dispatcher) *engine.Engine {
	return engine.New(st, c, engine.Config{Dispatcher: d, Log: env.Log, Lease: f.lease, Loyalty: store.JourneyLoyalty{DB: st}})
}

func cmdEngine(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "engine", "engine run [--once] [--fake-channel FILE]")
	db := addDBFlags(fs, env)
	ef := addEngineFlags(fs, env)
	once := fs.Bool("once", false, "do what is due now, then exit (for cron)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "run" {
		return usagef("usage: enishi engine run [--once] [--fake-channel FILE]")
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	var channels outbox.Dispatcher
	if ef.fakeChannel == "" {
		chans, err := startChannels(ctx, env, st, st.Clock)
		if err != nil {
			return err
		}
		defer chans.close()
		go chans.svc.Work(ctx, 30*time.Second)
		channels = chans.svc
	}
	d, closeD, err := ef.dispatcher(env, st.Clock, channels)
	if err != nil {
		return err
	}
	defer closeD()
	e := ef.engine(env, st, st.Clock, d)
	if *once {
		return e.Drain(ctx)
	}
	fmt.Fprintf(env.Stdout, "engine running (%s); Ctrl-C stops it\n", st.Backend())
	return e.Run(ctx)
}

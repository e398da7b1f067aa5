package main

// Crash and concurrency tests of the engine with the built binary: enishi
// serve is killed with SIGKILL at random moments while journeys send, and
// restarted, until every enrollment has ended; then each message must have
// been delivered exactly once and none skipped. On PostgreSQL, two serve
// processes work the same database at once.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

type world struct {
	t    *testing.T
	bin  string
	db   []string // database flags
	sent string   // the fake channel's file
	env  []string
	// lease is how long a claim holds: short where processes die, so
	// that the test need not wait for their work to be taken over.
	lease string
}

func (w *world) run(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(w.bin, append(args, w.db...)...)
	cmd.Env = append(os.Environ(), w.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("enishi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// server is a running enishi serve.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func (w *world) serve() *server {
	w.t.Helper()
	cmd := exec.Command(w.bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--dev-clock", "--fake-channel", w.sent}, w.db...)...)
	lease := w.lease
	if lease == "" {
		lease = "1s"
	}
	cmd.Env = append(os.Environ(), append(w.env, "ENISHI_ENGINE_LEASE="+lease, "ENISHI_FAKE_CHANNEL_DELAY=3ms", "ENISHI_LOG_LEVEL=warn")...)
	stdout, _ := cmd.StdoutPipe()
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := runningAt.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return &server{cmd: cmd, url: strings.Replace(m[1], "localhost", "127.0.0.1", 1), logs: logs}
		}
	}
	_ = cmd.Wait()
	w.t.Fatalf("serve did not start:\n%s", logs)
	return nil
}

func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

func (s *server) advance(t *testing.T, key, d string) {
	req, _ := http.NewRequest("POST", s.url+"/api/v1/dev/clock", strings.NewReader(`{"advance":"`+d+`"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // the process may be dying: that is the point
	}
	resp.Body.Close()
}

// setup fills a store with customers, a segment of all of them and an
// enabled journey: m1, wait, m2, tag, wait, m3 for everyone.
func setup(t *testing.T, w *world, customers int) (key string) {
	var b strings.Builder
	b.WriteString("customer_id,email,last_name,email_opt_in\n")
	for i := 0; i < customers; i++ {
		fmt.Fprintf(&b, "C%d,c%d@example.com,客%d,true\n", i, i, i)
	}
	file := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w.run("import", "customers", file)
	w.run("segment", "create", "--name", "全員", "--condition", "{}")
	def := `{"name":"crash","trigger":{"type":"segment_enter","segment_id":1,"include_existing":true},"steps":[
		{"id":"m1","type":"send","channel":"email","content":{"text":"1"},"next":"w1"},
		{"id":"w1","type":"wait","duration":"30m","next":"m2"},
		{"id":"m2","type":"send","channel":"email","content":{"text":"2"},"next":"t"},
		{"id":"t","type":"tag","add_tags":["crash-tested"],"next":"w2"},
		{"id":"w2","type":"wait","duration":"30m","next":"m3"},
		{"id":"m3","type":"send","channel":"email","content":{"text":"3"}}]}`
	jf := filepath.Join(t.TempDir(), "journey.json")
	if err := os.WriteFile(jf, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	w.run("journey", "create", "--file", jf)
	// No caps or quiet hours: the test is about delivery, not rules.
	w.run("settings", "set", "messaging.rules", `{"quiet_hours":null,"caps":[]}`)
	out := w.run("apikey", "create", "--scopes", "settings:write", "crash")
	return regexp.MustCompile(`key: (\S+)`).FindStringSubmatch(out)[1]
}

// verify checks that every customer got m1, m2 and m3 exactly once.
func verify(t *testing.T, w *world, customers int) (dups int) {
	t.Helper()
	sent, duplicates, err := fakechannel.ReadFile(w.sent)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range sent {
		got[s.Key]++
	}
	steps := map[string]int{}
	for k, n := range got {
		if n != 1 {
			t.Errorf("key %s delivered %d times", k, n)
		}
		steps[k[strings.LastIndex(k, ":step:")+6:]]++
	}
	for _, step := range []string{"m1:1", "m2:1", "m3:1"} {
		if steps[step] != customers {
			t.Errorf("step %s delivered to %d customers, want %d (skipped some)", step, steps[step], customers)
		}
	}
	for _, n := range duplicates {
		dups += n
	}
	return dups
}

// waitDone advances the clock until the journey's enrollments all ended.
func waitDone(t *testing.T, w *world, s *server, key string) {
	t.Helper()
	waitDoneBy(t, w, s, key, "1h")
}

// waitDoneBy is waitDone advancing s's clock by step between checks.
func waitDoneBy(t *testing.T, w *world, s *server, key, step string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s.advance(t, key, step)
		out := w.run("journey", "stats", "1", "--json")
		var st struct {
			Entered int64 `json:"entered"`
			Active  int64 `json:"active"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("stats: %v\n%s", err, out)
		}
		if st.Entered > 0 && st.Active == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("journey did not finish:\n%s", s.logs)
}

func TestKillNineAtAnyMomentSendsEachMessageOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, _ storetest.Opener) {
		t.Parallel()
		bin := binary(t)
		dir := t.TempDir()
		w := &world{t: t, bin: bin, sent: filepath.Join(dir, "sent.jsonl")}
		if strings.HasSuffix(t.Name(), "postgres") {
			w.db = []string{"--database-url", storetest.PostgresURL(t)}
		} else {
			w.db = []string{"--db", filepath.Join(dir, "enishi.db")}
		}
		const customers = 200
		start := time.Now()
		key := setup(t, w, customers)
		t.Logf("setup %v", time.Since(start))
		w.run("journey", "enable", "1")
		r := rand.New(rand.NewPCG(7, uint64(len(t.Name()))))
		// Kill at random moments until most messages went out under fire.
		kills := 0
		for kills < 25 {
			srv := w.serve()
			srv.advance(t, key, "40m")
			time.Sleep(time.Duration(50+r.IntN(300)) * time.Millisecond)
			srv.advance(t, key, "40m")
			time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
			srv.kill()
			kills++
			sofar, _, _ := fakechannel.ReadFile(w.sent)
			if kills >= 6 && len(sofar) >= 2*customers {
				break
			}
		}
		before, _, _ := fakechannel.ReadFile(w.sent)
		t.Logf("after %d kills (%v): %d of %d messages delivered", kills, time.Since(start), len(before), 3*customers)
		s := w.serve()
		waitDone(t, w, s, key)
		t.Logf("finished %v", time.Since(start))
		s.stop()
		dups := verify(t, w, customers)
		out := w.run("segment", "preview", "--condition", `{"field":"tag","op":"has","value":"crash-tested"}`)
		if !strings.Contains(out, fmt.Sprintf("%d customers match", customers)) {
			t.Errorf("tag step: %s", out)
		}
		t.Logf("%d kills; %d dispatches repeated after a crash were refused by key", kills, dups)
	})
}

func TestTwoServersShareOnePostgres(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	dir := t.TempDir()
	url := storetest.PostgresURL(t)
	mk := func(file string) *world {
		// Nobody dies here: a lease as long as in production (minutes)
		// is not needed, but one second is shorter than a busy machine
		// may stall a batch, after which the other process would
		// rightly take the work over and send again under the same key.
		return &world{t: t, bin: bin, db: []string{"--database-url", url}, sent: filepath.Join(dir, file), lease: "20s"}
	}
	a, b := mk("a.jsonl"), mk("b.jsonl")
	const customers = 600
	key := setup(t, a, customers)
	sa, sb := a.serve(), b.serve()
	a.run("journey", "enable", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Both dev clocks move together: were one ahead, it would find every
	// step due first and do all the work.
	go func() {
		for ctx.Err() == nil {
			sa.advance(t, key, "20m")
			sb.advance(t, key, "20m")
			time.Sleep(50 * time.Millisecond)
		}
	}()
	waitDoneBy(t, a, sa, key, "0s")
	cancel()
	sa.stop()
	sb.stop()
	// Merge both processes' deliveries: every message once, across both.
	merged := filepath.Join(dir, "all.jsonl")
	var all []byte
	for _, f := range []string{a.sent, b.sent} {
		raw, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, raw...)
	}
	if err := os.WriteFile(merged, all, 0o644); err != nil {
		t.Fatal(err)
	}
	sentA, _, _ := fakechannel.ReadFile(a.sent)
	sentB, _, _ := fakechannel.ReadFile(b.sent)
	if len(sentA) == 0 || len(sentB) == 0 {
		t.Errorf("one process did all the work: a %d, b %d", len(sentA), len(sentB))
	}
	m := &world{t: t, sent: merged}
	if dups := verify(t, m, customers); dups != 0 {
		t.Errorf("%d repeated dispatches without a crash", dups)
	}
	t.Logf("process a sent %d, process b sent %d", len(sentA), len(sentB))
}

// TestKillNineDuringCampaignSendsEachMessageOnce kills enishi serve with
// SIGKILL at random moments while a campaign to a segment is being sent,
// restarts it, and checks every recipient got the campaign exactly once.
func TestKillNineDuringCampaignSendsEachMessageOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, _ storetest.Opener) {
		t.Parallel()
		bin := binary(t)
		dir := t.TempDir()
		w := &world{t: t, bin: bin, sent: filepath.Join(dir, "sent.jsonl")}
		if strings.HasSuffix(t.Name(), "postgres") {
			w.db = []string{"--database-url", storetest.PostgresURL(t)}
		} else {
			w.db = []string{"--db", filepath.Join(dir, "enishi.db")}
		}
		const customers = 300
		key := setup(t, w, customers) // customers and the segment of all of them
		cf := filepath.Join(dir, "campaign.json")
		def := `{"name":"春のお知らせ","segment_id":1,"channel":"email","purpose":"marketing",
			"variants":[{"name":"A","content":{"subject":"お知らせ","text":"{{ customer.last_name }}様"}}],
			"throttle_per_minute":0}`
		if err := os.WriteFile(cf, []byte(def), 0o644); err != nil {
			t.Fatal(err)
		}
		w.run("campaign", "create", "--file", cf)
		w.run("campaign", "schedule", "1")
		r := rand.New(rand.NewPCG(11, uint64(len(t.Name()))))
		kills := 0
		for kills < 25 {
			srv := w.serve()
			srv.advance(t, key, "1m")
			time.Sleep(time.Duration(30+r.IntN(250)) * time.Millisecond)
			srv.kill()
			kills++
			sofar, _, _ := fakechannel.ReadFile(w.sent)
			if kills >= 5 && len(sofar) >= customers/2 {
				break
			}
		}
		s := w.serve()
		deadline := time.Now().Add(60 * time.Second)
		for {
			s.advance(t, key, "1m")
			sent, _, _ := fakechannel.ReadFile(w.sent)
			if len(sent) >= customers || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		s.stop()
		sent, duplicates, err := fakechannel.ReadFile(w.sent)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range sent {
			got[m.Key]++
		}
		if len(got) != customers {
			t.Errorf("%d recipients got the campaign, want %d (some skipped)", len(got), customers)
		}
		for k, n := range got {
			if !strings.HasPrefix(k, "campaign:1:customer:") {
				t.Errorf("unexpected key %s", k)
			}
			if n != 1 {
				t.Errorf("key %s delivered %d times", k, n)
			}
		}
		dups := 0
		for _, n := range duplicates {
			dups += n
		}
		t.Logf("%d kills; %d repeated dispatches after a crash were refused by key", kills, dups)
	})
}

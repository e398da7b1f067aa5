package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestTwoServeProcessesShareOnePostgreSQL builds the binary and runs two
// `enishi serve` processes against one PostgreSQL database: writes and
// imports through both lose and duplicate nothing, a session opened on one
// works on the other, failed sign-ins count across both, and SIGTERM lets
// requests in flight finish.
func TestTwoServeProcessesShareOnePostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	url := storetest.PostgresURL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "enishi")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "ENISHI_DATABASE_URL="+url, "ENISHI_LOG_LEVEL=info")
	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("enishi %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := cli("", "user", "create", "--role", "admin", "ops@example.com")
	password := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)[1]
	out = cli("", "apikey", "create", "--scopes", "customers:read,customers:write,pii:read", "load")
	key := regexp.MustCompile(`key: (\S+)`).FindStringSubmatch(out)[1]

	type proc struct {
		cmd  *exec.Cmd
		base string
		logs *bytes.Buffer
		mu   *sync.Mutex
	}
	start := func() *proc {
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
		cmd.Env = env
		stdout, _ := cmd.StdoutPipe()
		p := &proc{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
		cmd.Stderr = writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.Write(b) })
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			t.Fatal("serve printed nothing")
		}
		m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("serve said %q", sc.Text())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		p.base = m[1]
		return p
	}
	a, b := start(), start()

	call := func(c *http.Client, method, url, key string, body any, hdr map[string]string) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, url, rd)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}

	// Imports through two processes at once, with overlapping customers and
	// orders, while both servers take API writes.
	var files [2]string
	for i := range files {
		var sb strings.Builder
		sb.WriteString("order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\n")
		for n := 0; n < 400; n++ {
			id := n + i*200 // orders 200–399 are in both files
			fmt.Fprintf(&sb, "%d,C%d,c%d@example.com,顧客 %d,2026-01-%02d,1000,SKU-%d,1,1000\n", id, id%150, id%150, id%150, 1+id%28, id%7)
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("orders%d.csv", i))
		if err := os.WriteFile(files[i], []byte(sb.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cli("", "import", "orders", writeSeed(t, dir)) // one customer to write notes on
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Go(func() {
			cmd := exec.Command(bin, "import", "orders", f)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("import %s: %v\n%s", f, err, out)
			}
		})
	}
	var accepted atomic.Int64
	for w, p := range []*proc{a, b, a, b} {
		wg.Go(func() {
			for n := 0; n < 40; n++ {
				code, _ := call(http.DefaultClient, "POST", p.base+"/api/v1/customers/1/notes", key, map[string]string{"body": fmt.Sprintf("note w%d n%d", w, n)}, nil)
				if code != 201 {
					t.Errorf("note through %s = %d", p.base, code)
					return
				}
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	pg, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	count := func(q string) int {
		var n int
		if err := pg.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM notes`); n != int(accepted.Load()) || n != 160 {
		t.Fatalf("notes stored %d, accepted %d", n, accepted.Load())
	}
	if n := count(`SELECT count(*) FROM orders WHERE source = 'enishi'`); n != 601 {
		t.Fatalf("orders = %d, want 601 (600 distinct + seed)", n)
	}
	if n := count(`SELECT count(*) FROM customers WHERE status = 'active'`); n != 151 {
		t.Fatalf("customers = %d, want 151: identity resolution across processes made duplicates", n)
	}
	if n := count(`SELECT count(*) FROM (SELECT value FROM identities GROUP BY kind, source, value HAVING count(*) > 1) d`); n != 0 {
		t.Fatalf("%d identifiers held twice", n)
	}

	// A session opened on A works on B; signing out on B ends it on A.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	code, login := call(browser, "POST", a.base+"/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": password}, nil)
	if code != 200 {
		t.Fatalf("login on A = %d", code)
	}
	// The cookie jar keys cookies by host:port-less host, so both servers share it.
	if code, _ := call(browser, "GET", b.base+"/api/v1/me", "", nil, nil); code != 200 {
		t.Fatalf("session from A on B = %d", code)
	}
	csrf := login["csrf_token"].(string)
	if code, _ := call(browser, "POST", b.base+"/api/v1/auth/logout", "", nil, map[string]string{"X-CSRF-Token": csrf}); code != 200 {
		t.Fatalf("logout on B = %d", code)
	}
	if code, _ := call(&http.Client{Jar: jar}, "GET", a.base+"/api/v1/me", "", nil, nil); code != 401 {
		t.Fatalf("session on A after logout on B = %d", code)
	}
	// Failed sign-ins count across processes.
	for i := 0; i < 5; i++ {
		p := []*proc{a, b}[i%2]
		call(http.DefaultClient, "POST", p.base+"/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": "wrong-password"}, nil)
	}
	for _, p := range []*proc{a, b} {
		if code, _ := call(http.DefaultClient, "POST", p.base+"/api/v1/auth/login", "", map[string]string{"email": "ops@example.com", "password": password}, nil); code != 429 {
			t.Fatalf("after 5 failures across both, login on %s = %d", p.base, code)
		}
	}

	// SIGTERM while writes are in flight: every write answered 201 is stored,
	// and the process exits cleanly.
	before := count(`SELECT count(*) FROM notes`)
	var ok201 atomic.Int64
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := 0; w < 4; w++ {
		writers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _ := call(http.DefaultClient, "POST", a.base+"/api/v1/customers/1/notes", key, map[string]string{"body": fmt.Sprintf("term w%d n%d", w, n)}, nil)
				if code == 201 {
					ok201.Add(1)
				} else if code == 0 {
					return // the server closed
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = a.cmd.Wait()
	close(stop)
	writers.Wait()
	if err != nil {
		t.Fatalf("serve exited with %v\n%s", err, a.logs.String())
	}
	a.mu.Lock()
	logs := a.logs.String()
	a.mu.Unlock()
	if !strings.Contains(logs, "finishing requests in flight") || !strings.Contains(logs, "stopped") {
		t.Fatalf("shutdown log:\n%s", logs)
	}
	if got := count(`SELECT count(*) FROM notes`) - before; got != int(ok201.Load()) || got == 0 {
		t.Fatalf("during shutdown: %d writes answered 201, %d stored", ok201.Load(), got)
	}
	// B still serves.
	if code, _ := call(http.DefaultClient, "GET", b.base+"/api/v1/customers/1", key, nil, nil); code != 200 {
		t.Fatalf("B after A stopped = %d", code)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func writeSeed(t *testing.T, dir string) string {
	p := filepath.Join(dir, "seed.csv")
	if err := os.WriteFile(p, []byte("order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\nS1,SEED,seed@example.com,種 太郎,2026-01-01,500,SKU-0,1,500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

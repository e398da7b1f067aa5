package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the enishi command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "enishi-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "enishi")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var runningAt = regexp.MustCompile(`running at (http://\S+)`)

// serve starts `enishi serve` with the database flags and returns its URL
// and process.
func serve(t *testing.T, dbArgs ...string) (string, *exec.Cmd) {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--ingest-lease", "1s", "--ingest-rate", "100000"}, dbArgs...)
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "ENISHI_LOG_LEVEL=error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	found := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if m := runningAt.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u, cmd
	case <-time.After(30 * time.Second):
		t.Fatalf("enishi serve did not start: %s", stderr.String())
	}
	return "", nil
}

// TestKillDuringProcessingLosesAndDuplicatesNothing posts event batches to
// a real `enishi serve`, kills it with SIGKILL while its workers are busy,
// starts it again, and checks that every event answered with a 2xx is
// stored exactly once, every order counted once.
func TestKillDuringProcessingLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var dbArgs []string
			var open func() *store.DB
			switch backend {
			case "sqlite":
				path := filepath.Join(t.TempDir(), "crash.db")
				dbArgs = []string{"--db", path}
				open = func() *store.DB {
					db, err := sqlite.Open(path, clock.Real{})
					if err != nil {
						t.Fatal(err)
					}
					return db
				}
			default:
				url := storetest.PostgresURL(t)
				dbArgs = []string{"--database-url", url}
				open = func() *store.DB {
					db, err := postgres.Open(context.Background(), url, clock.Real{})
					if err != nil {
						t.Fatal(err)
					}
					return db
				}
			}
			db := open()
			if err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, key, err := enishihttp.CreateAPIKey(context.Background(), db, "server", []string{"ingest:write", "ingest:identify"}, "test")
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))

			url, cmd := serve(t, dbArgs...)
			var mu sync.Mutex
			accepted := map[string]bool{}
			sent := map[string]bool{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			client := &http.Client{Timeout: 5 * time.Second}
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for b := 0; ; b++ {
						select {
						case <-stop:
							return
						default:
						}
						var buf bytes.Buffer
						var ids []string
						buf.WriteString(`{"batch":[`)
						for i := 0; i < 50; i++ {
							id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
							ids = append(ids, id)
							if i > 0 {
								buf.WriteByte(',')
							}
							user := fmt.Sprintf("u%d", (w*7919+b*31+i)%300)
							if i == 49 { // one order per batch
								fmt.Fprintf(&buf, `{"type":"track","userId":%q,"event":"Order Completed","messageId":%q,"properties":{"order_id":%q,"total":1000,"products":[{"sku":"S-%d","price":1000,"quantity":1}]}}`, user, id, id, i%5)
							} else {
								fmt.Fprintf(&buf, `{"type":"track","userId":%q,"anonymousId":"a-%s","event":"Product Viewed","messageId":%q,"properties":{"sku":"S-%d"}}`, user, user, id, i%5)
							}
						}
						buf.WriteString(`]}`)
						mu.Lock()
						for _, id := range ids {
							sent[id] = true
						}
						mu.Unlock()
						req, _ := http.NewRequest("POST", url+"/v1/batch", &buf)
						req.Header.Set("Authorization", auth)
						req.Header.Set("Content-Type", "application/json")
						resp, err := client.Do(req)
						if err != nil {
							return // the server is gone
						}
						resp.Body.Close()
						if resp.StatusCode/100 == 2 {
							mu.Lock()
							for _, id := range ids {
								accepted[id] = true
							}
							mu.Unlock()
						}
					}
				}(w)
			}
			time.Sleep(1500 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			close(stop)
			wg.Wait()

			db = open()
			defer db.Close()
			st, err := db.InboxStatus(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Pending == 0 {
				t.Fatalf("the kill came after all work was done (%+v); the test proves nothing", st)
			}
			t.Logf("killed with %d requests (%d messages) waiting; %d messages accepted", st.Pending, st.PendingItems, len(accepted))

			serve(t, dbArgs...)
			deadline := time.Now().Add(2 * time.Minute)
			for {
				st, err = db.InboxStatus(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.Pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("inbox not drained after restart: %+v", st)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if st.Dead != 0 {
				t.Fatalf("%d requests in the dead-letter list", st.Dead)
			}
			stored := map[string]int{}
			rows, err := db.Read.QueryContext(context.Background(), `SELECT message_id FROM events UNION ALL SELECT external_id FROM orders`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				stored[id]++
			}
			rows.Close()
			for id := range accepted {
				if stored[id] != 1 {
					t.Fatalf("accepted message %s stored %d times", id, stored[id])
				}
			}
			for id, n := range stored {
				if !sent[id] || n != 1 {
					t.Fatalf("stored message %s %d times (sent: %v)", id, n, sent[id])
				}
			}
			storetest.CheckIntegrity(t, db) // aggregates count every order once
		})
	}
}

package http_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// TestStockSegmentAndRudderStackLibraries sends calls with the unchanged
// Node libraries (@segment/analytics-node, @rudderstack/rudder-sdk-node;
// gzip, Basic auth, their own batching and retries) to a real server. It
// needs the packages of testdata/compat/package.json installed: run
// `npm install` in a copy of that directory and set ENISHI_COMPAT_NODE_MODULES
// to its node_modules.
func TestStockSegmentAndRudderStackLibraries(t *testing.T) {
	mods := os.Getenv("ENISHI_COMPAT_NODE_MODULES")
	if mods == "" {
		t.Skip("set ENISHI_COMPAT_NODE_MODULES to node_modules installed from testdata/compat/package.json")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		e := newEnv(t, open)
		script, _ := filepath.Abs("testdata/compat/send.js")
		cmd := exec.Command(node, script)
		cmd.Env = append(os.Environ(), "NODE_PATH="+mods, "ENISHI_URL="+e.srv.URL, "WRITE_KEY="+e.key("ingest:write", "ingest:identify"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		e.drain()
		seg := customerBy(t, e.db, identity.ExternalID("test", "seg-1"))
		if seg.Email != "seg1@example.com" || seg.FirstName != "一郎" || seg.OrderCount != 1 || seg.TotalSpent != 3300 {
			t.Fatalf("segment customer = %+v", seg.Customer)
		}
		titles := map[string]bool{}
		for _, it := range seg.Timeline {
			titles[it.Title] = true
		}
		if !titles["Page Viewed"] || !titles["SEG-100"] {
			t.Fatalf("segment timeline = %v", titles)
		}
		rud := customerBy(t, e.db, identity.ExternalID("test", "rud-1"))
		if rud.Email != "rud1@example.com" || len(rud.Timeline) != 1 || rud.Timeline[0].Detail["sku"] != "TEA-02" {
			t.Fatalf("rudderstack customer = %+v %+v", rud.Customer, rud.Timeline)
		}
	})
}

package ui

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/reports"
)

// reportCacheTTL is how long a computed report is reused. Reports read every
// order; the dashboard and the KPI trend ask for the same ones again and
// again, so figures may be up to this old.
const reportCacheTTL = time.Minute

// reportCacheSize bounds the entries kept.
const reportCacheSize = 128

type reportCache struct {
	mu      sync.Mutex
	entries map[string]cachedReport
}

type cachedReport struct {
	at  time.Time
	out any
}

func cacheKey(name string, p reports.Params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + p[k])
	}
	return b.String()
}

// report runs a report through the shared runner, reusing a result computed
// in the last reportCacheTTL for the same parameters.
func (u *UI) report(ctx context.Context, name string, p reports.Params) (any, error) {
	return u.reports.get(cacheKey(name, p), func() (any, error) {
		return reports.Runner{Store: u.cfg.Store, Clock: u.cfg.Clock}.Run(ctx, name, p, nil)
	})
}

// get returns the value kept under key if it is fresh, else computes it.
// Freshness counts from when a computation ended: a report that takes
// longer than the TTL is still reused.
func (c *reportCache) get(key string, compute func() (any, error)) (any, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && time.Since(e.at) < reportCacheTTL {
		c.mu.Unlock()
		return e.out, nil
	}
	c.mu.Unlock()
	out, err := compute()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= reportCacheSize {
		c.entries = map[string]cachedReport{}
	}
	c.entries[key] = cachedReport{at: time.Now(), out: out}
	return out, nil
}

// clear forgets every computed report (after the settings they use changed).
func (c *reportCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}

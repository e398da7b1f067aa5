// Command firstpaint signs in to a running enishi in headless Chromium and
// measures how long a page takes to show: the browser's first contentful
// paint and load event of a fresh navigation, over N runs (the median and
// the worst are printed). It is the UI benchmark's "dashboard first paint".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/chromedp/chromedp"
)

// timing is what the page's Performance API reports, in milliseconds from
// the start of the navigation.
type timing struct {
	FCP  float64 `json:"fcp"`
	Load float64 `json:"load"`
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server URL")
	email := flag.String("email", "", "staff e-mail")
	password := flag.String("password", "", "password")
	path := flag.String("path", "/dashboard", "page to measure")
	n := flag.Int("n", 5, "navigations measured (after one warm-up)")
	label := flag.String("label", "", "label printed before the numbers")
	flag.Parse()
	chrome := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chrome = p
			break
		}
	}
	if chrome == "" {
		fmt.Fprintln(os.Stderr, "firstpaint: no Chromium installed")
		os.Exit(1)
	}
	dir, _ := os.MkdirTemp("", "enishi-firstpaint-")
	defer os.RemoveAll(dir)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(dir))...)
	defer cancel()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	ctx, cancelT := context.WithTimeout(ctx, 10*time.Minute)
	defer cancelT()
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(*base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), *email),
		chromedp.SendKeys(chromedp.CSS("#password"), *password),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("header.topbar")),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "firstpaint: sign in:", err)
		os.Exit(1)
	}
	var fcp, load []float64
	for i := 0; i <= *n; i++ {
		if err := chromedp.Do(ctx, chromedp.Navigate(*base+*path), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
			fmt.Fprintln(os.Stderr, "firstpaint:", err)
			os.Exit(1)
		}
		t, err := chromedp.Run(ctx, chromedp.Evaluate[timing](`new Promise(r => { const f = () => { const p = performance.getEntriesByName("first-contentful-paint")[0]; const n = performance.getEntriesByType("navigation")[0];
			if (p && n && n.loadEventEnd > 0) r({fcp: p.startTime, load: n.loadEventEnd}); else setTimeout(f, 20) }; f() })`, chromedp.EvalAwaitPromise))
		if err != nil {
			fmt.Fprintln(os.Stderr, "firstpaint:", err)
			os.Exit(1)
		}
		if i > 0 { // the first navigation fills the browser's cache
			fcp, load = append(fcp, t.FCP), append(load, t.Load)
		}
	}
	sort.Float64s(fcp)
	sort.Float64s(load)
	fmt.Printf("%s first contentful paint median %.0f ms, worst %.0f ms; load event median %.0f ms (%d runs)\n",
		*label, fcp[len(fcp)/2], fcp[len(fcp)-1], load[len(load)/2], len(fcp))
}

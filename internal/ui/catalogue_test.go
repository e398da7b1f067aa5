package ui

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
)

// Every visible string goes through the catalogues: each key the templates
// and handlers use exists in Japanese and in English, and both catalogues
// have the same keys.
func TestCataloguesCoverEveryKey(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	ja, en := ls.byCode["ja"], ls.byCode["en"]
	for k := range ja.msgs {
		if _, ok := en.msgs[k]; !ok {
			t.Errorf("%s: in ja.json, not in en.json", k)
		}
	}
	for k := range en.msgs {
		if _, ok := ja.msgs[k]; !ok {
			t.Errorf("%s: in en.json, not in ja.json", k)
		}
	}
	used := map[string]bool{}
	tmplKey := regexp.MustCompile(`\.T "([a-z_0-9.\-]+)"`)
	_ = fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := templateFS.ReadFile(p)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		return nil
	})
	goKey := regexp.MustCompile(`(?:\.T\(|newBase\(r, "[a-z]*", |mk\(|errKey|formFailed\(w, r, id, "[a-z]+", |showLogin\([^)]*)"([a-z0-9_]+\.[a-z0-9_.\-]+)"`)
	files, _ := os.ReadDir(".")
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f.Name())
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 200 {
		t.Fatalf("found only %d keys: the scan is broken", len(used))
	}
	// Values shown through Label "prefix." value: the known sets.
	sets := map[string][]string{
		"role.": auth.RoleNames, "role_help.": auth.RoleNames,
		"channel.": append(append([]string{}, customer.ConsentChannels...), "onsite", "webhook"),
		"segment.": {"vip", "loyal", "growing", "new", "at_risk", "dormant", "other", analytics.SegmentNone},
		"cpm.":     analytics.CPMGroups(), "f2band.": {"excellent", "good", "average", "poor"},
		"churn.": {analytics.ChurnLow, analytics.ChurnMedium, analytics.ChurnHigh, analytics.ChurnLost},
		"kind.":  {"orders", "customers", "products", "events"}, "status.": {"running", "done", "partial", "failed"},
		"job.":           {jobChecking, jobChecked, jobRunning, jobDone, jobFailed},
		"inqstatus.":     {customer.InquiryOpen, customer.InquiryPending, customer.InquiryClosed},
		"metric.":        {analytics.MetricRepeatRate, analytics.MetricRevenue, analytics.MetricLTV},
		"flash.":         {"password_changed", "note_added", "inquiry_added", "consent_saved", "tags_added", "merged", "unmerged", "candidate_approved", "candidate_rejected", "import_discarded", "key_revoked", "settings_saved", "secret_saved", "dead_retry", "dead_discard"},
		"error.":         {"forbidden", "not_found", "invalid", "rate_limited", "internal"},
		"login.":         {"wrong", "throttled", "expired"},
		"asettings.row_": {"r", "f", "m"},
		"cohort.lead.":   {analytics.MetricRepeatRate, analytics.MetricRevenue, analytics.MetricLTV},
	}
	for _, k := range identity.Kinds {
		sets["idkind."] = append(sets["idkind."], string(k))
	}
	for _, p := range analyticsPages {
		sets["report."] = append(sets["report."], p.Key)
	}
	for _, m := range menu {
		sets["nav."] = append(sets["nav."], m.Key)
	}
	for prefix, vals := range sets {
		for _, v := range vals {
			used[prefix+v] = true
		}
	}
	for k := range used {
		if strings.HasSuffix(k, ".") {
			continue // a prefix joined with a value at run time (checked through sets)
		}
		if _, ok := ja.msgs[k]; !ok {
			t.Errorf("%s: used, not in the catalogues", k)
		}
	}
}

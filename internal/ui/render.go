package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/identity"
)

//go:embed templates
var templateFS embed.FS

// views holds every page's template set, parsed once at start-up: the
// layout and shared partials, cloned and joined with one page file each.
type views struct {
	pages map[string]*template.Template
}

func loadViews(a *assets) (*views, error) {
	funcs := template.FuncMap{
		"asset":    a.url,
		"num":      func(v any) string { return formatNum(toInt64(v)) },
		"yen":      func(v any) string { return "¥" + formatNum(toInt64(v)) },
		"date":     func(t any) string { return formatTime(t, "2006-01-02") },
		"datetime": func(t any) string { return formatTime(t, "2006-01-02 15:04") },
		"json":     toJSON,
		"pct":      func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" },
		"add":      func(a, b int) int { return a + b },
		"contains": func(list []string, s string) bool { return contains(list, s) },
		"list":     func(s ...string) []string { return s },
		"dict":     dict,
		"deref":    deref,
		"deref64":  func(p *float64) float64 { return *p },
		"phone":    showPhone,
		"atoi":     func(s string) int { n, _ := strconv.Atoi(s); return n },
	}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, f := range files {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(templateFS, f); err != nil {
			return nil, fmt.Errorf("ui template %s: %w", f, err)
		}
		v.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return v, nil
}

// base is what every page's template gets: the signed-in user, the language,
// the menu. Page data embeds it, so templates call {{$.T "key"}} anywhere.
type base struct {
	loc     *locale
	P       *enishihttp.Principal
	Path    string
	Section string // the menu item this page belongs to
	Title   string
	Flash   string // a translated message after a successful form
	Error   string // a translated message about a failed form
	Charts  bool   // load ECharts
	Menu    []menuLink
	Now     time.Time
}

type menuLink struct {
	Key, Path, Label string
	Active           bool
}

// T translates a message key, formatting args into it.
func (b *base) T(key string, args ...any) string { return b.loc.T(key, args...) }

// Label translates a value from a known set (a channel, a status, a kind):
// the catalogue's "<prefix><value>", or the value itself when the
// catalogue has no word for it (a channel name an import brought in).
func (b *base) Label(prefix string, value any) string {
	v := fmt.Sprint(value)
	if b.loc.Has(prefix + v) {
		return b.loc.T(prefix + v)
	}
	return v
}

// Lang is the page's language code (ja or en).
func (b *base) Lang() string { return b.loc.Code }

// OtherLang is the language the switch offers.
func (b *base) OtherLang() string {
	if b.loc.Code == "ja" {
		return "en"
	}
	return "ja"
}

// Can reports whether the signed-in user has a permission.
func (b *base) Can(p string) bool { return b.P.Can(auth.Permission(p)) }

// CSRF is the token forms echo back.
func (b *base) CSRF() string {
	if b.P == nil {
		return ""
	}
	return b.P.CSRF
}

// newBase starts a page's data for the request's user and language.
func (u *UI) newBase(r *http.Request, section, titleKey string, titleArgs ...any) *base {
	loc := u.localeFor(r)
	p := enishihttp.PrincipalFrom(r.Context())
	b := &base{loc: loc, P: p, Path: r.URL.Path, Section: section, Now: u.cfg.Clock.Now()}
	if titleKey != "" {
		b.Title = loc.T(titleKey, titleArgs...)
	}
	for _, m := range menu {
		if p != nil && m.allowed(p) {
			b.Menu = append(b.Menu, menuLink{Key: m.Key, Path: m.Path, Label: loc.T("nav." + m.Key), Active: m.Key == section})
		}
	}
	if ok := r.URL.Query().Get("ok"); ok != "" && loc.Has("flash."+ok) {
		b.Flash = loc.T("flash." + ok)
	}
	return b
}

// menu is the main navigation; an item shows when the user has any of its
// permissions.
var menu = []menuItem{
	{"dashboard", "/dashboard", []auth.Permission{auth.ReportsRead}},
	{"analytics", "/analytics", []auth.Permission{auth.ReportsRead}},
	{"customers", "/customers", []auth.Permission{auth.CustomersRead}},
	{"candidates", "/merge-candidates", []auth.Permission{auth.CustomersRead}},
	{"segments", "/segments", []auth.Permission{auth.CustomersRead}},
	{"journeys", "/journeys", []auth.Permission{auth.ReportsRead}},
	{"campaigns", "/campaigns", []auth.Permission{auth.ReportsRead}},
	{"templates", "/templates", []auth.Permission{auth.CampaignsSend}},
	{"imports", "/imports", []auth.Permission{auth.ImportsWrite}},
	{"voice", "/voice", []auth.Permission{auth.CustomersRead}},
	{"loyalty", "/loyalty", []auth.Permission{auth.ReportsRead, auth.LoyaltyWrite}},
	{"settings", "/settings", []auth.Permission{auth.UsersManage, auth.KeysManage, auth.SettingsWrite, auth.AuditRead}},
}

type menuItem struct {
	Key, Path string
	Perms     []auth.Permission
}

func (m menuItem) allowed(p *enishihttp.Principal) bool {
	for _, perm := range m.Perms {
		if p.Can(perm) {
			return true
		}
	}
	return false
}

// render writes a whole page (the layout around the page's content).
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) error {
	return u.execute(w, status, page, "layout", data)
}

// fragment writes one named template of a page: the piece htmx swaps in.
func (u *UI) fragment(w http.ResponseWriter, page, name string, data any) error {
	return u.execute(w, http.StatusOK, page, name, data)
}

func (u *UI) execute(w http.ResponseWriter, status int, page, name string, data any) error {
	t := u.views.pages[page]
	if t == nil {
		return fmt.Errorf("ui: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("ui: render %s/%s: %w", page, name, err)
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// contentSecurityPolicy allows the UI's own scripts and styles only: no
// inline script, no third party. Inline styles stay allowed because ECharts
// sizes its canvas with them.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}

// redirect answers a form with a redirect (303, so the browser GETs the
// target); with ok it shows the flash message "flash.<ok>".
func redirect(w http.ResponseWriter, r *http.Request, to, ok string) error {
	if ok != "" {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		frag := ""
		if i := strings.IndexByte(to, '#'); i >= 0 {
			to, frag = to[:i], to[i:]
		}
		to += sep + "ok=" + ok + frag
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// toInt64 reads the integer kinds templates pass to num and yen.
func toInt64(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case *int64:
		if x != nil {
			return *x
		}
	case float64:
		return int64(x)
	}
	return 0
}

// formatNum writes an integer with thousands separators: 1,234,567.
func formatNum(n int64) string {
	if n < 0 {
		return "-" + formatNum(-n)
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// formatTime shows a time (or *time.Time) in Asia/Tokyo; "—" when unset.
func formatTime(v any, layout string) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	return t.In(clock.Tokyo).Format(layout)
}

// deref reads an optional value (*int or *string) for display.
func deref(v any) any {
	switch x := v.(type) {
	case *int:
		return *x
	case *string:
		return *x
	}
	return v
}

// showPhone shows an E.164 number in national form (09012345678); masked
// numbers stay as they are.
func showPhone(s string) string {
	if s == "" || strings.Contains(s, "*") {
		return s
	}
	return identity.NationalPhone(s)
}

// dict builds a map from key/value pairs, to pass several values to a
// template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// principal is the request's signed-in user (nil when none).
func principal(r *http.Request) *enishihttp.Principal { return enishihttp.PrincipalFrom(r.Context()) }

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

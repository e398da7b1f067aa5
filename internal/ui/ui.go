// Package ui is enishi's web UI for marketers and customer-support staff:
// server-rendered html/template pages (one handler per file), Japanese by
// default with an English switch, enhanced with htmx where it helps (live
// search, timeline paging, import progress) and working without it.
//
// Every page is registered through the HTTP server's HandleWith, so the UI
// and the JSON API share one authentication, CSRF and permission check; the
// UI only decides how a failure looks (the sign-in page, a 403 page).
// Templates, the message catalogues and the vendored assets (Pico CSS, htmx,
// Apache ECharts) are embedded and parsed once.
package ui

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
)

// Config holds the UI's dependencies.
type Config struct {
	Store store.Store
	Clock clock.Clock
	Log   *slog.Logger
	// SecureCookies marks the UI's own cookies Secure (serving over TLS).
	SecureCookies bool
	// WorkDir keeps uploaded import files and their error reports while the
	// server runs; empty means a new temporary directory, removed by Close.
	WorkDir string
}

// UI is the mounted web UI.
type UI struct {
	api     *enishihttp.Server
	cfg     Config
	views   *views
	locales *locales
	assets  *assets
	imports *importJobs
	reports reportCache
	tasks   tasks // background recomputes and exports

	ctx     context.Context // background work (imports); ended by Close
	cancel  context.CancelFunc
	work    sync.WaitGroup
	tempDir bool
}

// Mount adds the web UI's pages to the server. Call Close on shutdown to
// stop imports running in the background.
func Mount(api *enishihttp.Server, cfg Config) (*UI, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	u := &UI{api: api, cfg: cfg}
	if u.cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "enishi-ui-")
		if err != nil {
			return nil, err
		}
		u.cfg.WorkDir, u.tempDir = dir, true
	}
	var err error
	if u.locales, err = loadLocales(); err != nil {
		return nil, err
	}
	if u.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if u.views, err = loadViews(u.assets); err != nil {
		return nil, err
	}
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.imports = newImportJobs()
	u.routes()
	return u, nil
}

// Close stops background imports (each records how far it came) and
// removes the temporary work directory.
func (u *UI) Close() error {
	u.cancel()
	u.work.Wait()
	if u.tempDir {
		return os.RemoveAll(u.cfg.WorkDir)
	}
	return nil
}

// page registers a signed-in page that needs permission p ("" for any
// signed-in user).
func (u *UI) page(pattern string, p auth.Permission, h enishihttp.HandlerFunc) {
	u.api.HandleWith(pattern, p, h, u.fail)
}

// public registers a page anyone may open (sign-in, assets).
func (u *UI) public(pattern string, h enishihttp.HandlerFunc) {
	u.api.PublicWith(pattern, h, u.fail)
}

// routes registers every page; each handler lives in its own file.
func (u *UI) routes() {
	u.public("GET /static/{file...}", u.static)
	u.public("GET /lang/{code}", u.language)
	u.public("GET /login", u.loginForm)
	u.public("POST /login", u.login)
	u.page("POST /logout", "", u.logout)
	u.page("GET /account/password", "", u.passwordForm)
	u.page("POST /account/password", "", u.changePassword)

	u.page("GET /{$}", "", u.home)
	u.page("GET /dashboard", auth.ReportsRead, u.dashboard)
	u.page("GET /dashboard/kpi", auth.ReportsRead, u.dashboardKPI)

	u.page("GET /analytics", auth.ReportsRead, func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/analytics/"+analyticsPages[0].Key, http.StatusSeeOther)
		return nil
	})
	u.page("GET /analytics/rfm/customers", auth.CustomersRead, u.rfmCustomers)
	u.page("GET /analytics/{report}", auth.ReportsRead, u.analytics)
	u.page("GET /analytics/{report}/export", auth.ReportsRead, u.exportReport)

	u.page("GET /customers", auth.CustomersRead, u.customers)
	u.page("GET /customers/export", auth.CustomersExport, u.exportCustomers)
	u.page("GET /customers/{id}", auth.CustomersRead, u.customer)
	u.page("GET /customers/{id}/timeline", auth.CustomersRead, u.customerTimeline)
	u.page("POST /customers/{id}/notes", auth.CustomersWrite, u.addNote)
	u.page("POST /customers/{id}/inquiries", auth.CustomersWrite, u.addInquiry)
	u.page("POST /customers/{id}/consents", auth.CustomersWrite, u.recordConsent)
	u.page("POST /customers/{id}/tags", auth.CustomersWrite, u.addTags)
	u.page("POST /customers/{id}/merge", auth.CustomersWrite, u.mergeInto)
	u.page("POST /merges/{id}/unmerge", auth.CustomersWrite, u.unmerge)
	u.page("GET /merge-candidates", auth.CustomersRead, u.candidates)
	u.page("POST /merge-candidates/{id}/{decision}", auth.CustomersWrite, u.decideCandidate)

	u.page("GET /imports", auth.ImportsWrite, u.importsPage)
	u.page("POST /imports", auth.ImportsWrite, u.upload)
	u.page("GET /imports/{id}", auth.ImportsWrite, u.importJob)
	u.page("GET /imports/{id}/status", auth.ImportsWrite, u.importStatus)
	u.page("POST /imports/{id}/run", auth.ImportsWrite, u.runImport)
	u.page("POST /imports/{id}/discard", auth.ImportsWrite, u.discardImport)
	u.page("GET /imports/{id}/errors/{stage}", auth.ImportsWrite, u.importErrors)

	u.page("GET /settings", "", u.settings)
	u.page("GET /settings/users", auth.UsersManage, u.users)
	u.page("POST /settings/users", auth.UsersManage, u.createUser)
	u.page("GET /settings/api-keys", auth.KeysManage, u.apiKeys)
	u.page("POST /settings/api-keys", auth.KeysManage, u.createAPIKey)
	u.page("POST /settings/api-keys/{id}/revoke", auth.KeysManage, u.revokeAPIKey)
	u.page("GET /settings/analytics", auth.SettingsWrite, u.analyticsSettings)
	u.page("POST /settings/analytics", auth.SettingsWrite, u.saveAnalyticsSettings)
	u.page("GET /settings/channels", auth.SettingsWrite, u.channelSettings)
	u.page("POST /settings/channels", auth.SettingsWrite, u.saveChannelSettings)
	u.page("GET /settings/integrations", auth.SettingsWrite, u.integrations)
	u.page("POST /settings/integrations/write-key", auth.KeysManage, u.createWriteKey)
	u.page("POST /settings/integrations/secret", auth.SettingsWrite, u.setIntegrationSecret)
	u.page("POST /settings/integrations/dead/{id}/{action}", auth.SettingsWrite, u.retryDeadLetter)
	u.page("GET /settings/identity", auth.SettingsWrite, u.identityPolicy)
	u.page("POST /settings/identity", auth.SettingsWrite, u.saveIdentityPolicy)

	u.routesEngine()
	u.routesLoyalty()
	u.routesVoice()
	u.routesSecurity()
	u.routesTasks()
}

// home sends people to the first page their role may open.
func (u *UI) home(w http.ResponseWriter, r *http.Request) error {
	p := enishihttp.PrincipalFrom(r.Context())
	for _, m := range menu {
		if m.allowed(p) {
			http.Redirect(w, r, m.Path, http.StatusSeeOther)
			return nil
		}
	}
	http.Redirect(w, r, "/account/password", http.StatusSeeOther)
	return nil
}

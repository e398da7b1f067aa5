package ui

import (
	"github.com/enishi-crm/enishi/internal/channel"
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/store"
)

// deadLettersShown bounds the dead-letter list of the integrations page.
const deadLettersShown = 100

type integrationsPage struct {
	*base
	Status      ingest.Status
	Dead        []store.InboxItem
	WriteKeys   []store.APIKey
	Origin      string // this server's address, for the snippet and webhook URLs
	NewKey      *store.APIKey
	Secret      string // a new write key, shown once
	SecretNames []string
}

// integrations shows how data comes in: the ingestion inbox's state and its
// dead letters (retry or discard), the JS tag snippet with write keys, the
// webhook addresses and the integration secrets.
func (u *UI) integrations(w http.ResponseWriter, r *http.Request) error {
	return u.showIntegrations(w, r, http.StatusOK, &integrationsPage{})
}

func (u *UI) showIntegrations(w http.ResponseWriter, r *http.Request, status int, pg *integrationsPage) error {
	ctx := r.Context()
	if pg.base == nil {
		pg.base = u.newBase(r, "settings", "settings.integrations")
	}
	var err error
	svc := u.api.Ingest()
	if pg.Status, err = svc.Status(ctx); err != nil {
		return err
	}
	if pg.Dead, err = svc.Failures(ctx, deadLettersShown, 0); err != nil {
		return err
	}
	keys, err := u.cfg.Store.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.RevokedAt == nil && contains(k.Scopes, string(auth.IngestWrite)) {
			pg.WriteKeys = append(pg.WriteKeys, k)
		}
	}
	pg.Origin = origin(r)
	pg.SecretNames = append([]string{ingest.SecretShopifyApp, ingest.SecretLineChannel}, channel.SecretNames...)
	return u.render(w, r, status, "integrations", pg)
}

// origin is the scheme and host the browser reached this server at.
func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// createWriteKey makes a key for the JS tag: the ingest:write scope only, as
// it is visible in the shop's pages.
func (u *UI) createWriteKey(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = "web"
	}
	k, secret, err := enishihttp.CreateAPIKey(r.Context(), u.cfg.Store, name, []string{string(auth.IngestWrite)}, enishihttp.PrincipalFrom(r.Context()).Actor())
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "apikey.create", "api-key:"+strconv.FormatInt(k.ID, 10), "scopes ingest:write"); err != nil {
		return err
	}
	return u.showIntegrations(w, r, http.StatusOK, &integrationsPage{NewKey: k, Secret: secret})
}

// setIntegrationSecret stores a webhook signing secret (it is never shown).
func (u *UI) setIntegrationSecret(w http.ResponseWriter, r *http.Request) error {
	name, value := r.PostFormValue("name"), r.PostFormValue("value")
	if src := strings.TrimSpace(r.PostFormValue("source")); name == "generic" && src != "" {
		name = "generic." + src + ".secret"
	}
	b := u.newBase(r, "settings", "settings.integrations")
	if !(ingest.ValidSecretName(name) || channel.ValidSecretName(name)) || strings.TrimSpace(value) == "" {
		b.Error = b.T("integrations.secret_invalid", ingest.SecretNamesHelp)
		return u.showIntegrations(w, r, http.StatusUnprocessableEntity, &integrationsPage{base: b})
	}
	if err := u.api.Ingest().Secrets().SetSecret(r.Context(), name, value); err != nil {
		return err
	}
	if err := u.api.Audit(r, "secret.set", "secret:"+name, ""); err != nil {
		return err
	}
	return redirect(w, r, "/settings/integrations", "secret_saved")
}

// retryDeadLetter puts a failed request back in the queue, or (discard)
// gives up on it.
func (u *UI) retryDeadLetter(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	svc := u.api.Ingest()
	switch r.PathValue("action") {
	case "retry":
		err = svc.Retry(r.Context(), id)
	case "discard":
		err = svc.Discard(r.Context(), id)
	default:
		return errs.Errorf(errs.NotFound, "no action %q", r.PathValue("action"))
	}
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "ingest.retry", "inbox:"+strconv.FormatInt(id, 10), r.PathValue("action")); err != nil {
		return err
	}
	return redirect(w, r, "/settings/integrations#dead", "dead_"+r.PathValue("action"))
}

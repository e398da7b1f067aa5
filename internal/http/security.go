package http

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

// Audit records a state-changing action in the append-only audit log: who
// (the request's principal), when, from where (IP, user agent), what
// (action, e.g. "customer.export"), on what (target, e.g. "customer:42" or
// "segment:7") and a short detail. Every handler that changes state or
// lets data leave (exports, segment pushes, sends) calls it after the
// action succeeded, and returns its error. Detail must not hold customer
// personal data: write ids and counts. Store-level actions (merges,
// unmerges, erasure) are audited by the store itself from the request's
// store.Origin, so handlers need not repeat them.
func (s *Server) Audit(r *http.Request, action, target, detail string) error {
	return s.auditAs(r, "", action, target, detail)
}

// auditAs audits with an explicit actor (sign-ins, before a principal exists).
func (s *Server) auditAs(r *http.Request, actor, action, target, detail string) error {
	if actor == "" {
		actor = PrincipalFrom(r.Context()).Actor()
	}
	err := s.cfg.Store.AppendAudit(r.Context(), store.AuditEntry{Actor: actor, Action: action, Target: target, Detail: truncate(detail, 500),
		IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 200)})
	if err != nil {
		s.cfg.Log.Error("audit log write failed", "action", action, "err", err)
	}
	return err
}

// routesSecurity registers accounts, roles, keys, secrets and the audit log.
func (s *Server) routesSecurity() {
	// The signed-in user.
	s.Handle("POST /api/v1/me/password", "", s.changeOwnPassword)
	s.Handle("POST /api/v1/me/totp", "", s.totpSetup)
	s.Handle("POST /api/v1/me/totp/confirm", "", s.totpConfirm)
	s.Handle("DELETE /api/v1/me/totp", "", s.totpDisable)

	// Staff accounts (admins).
	s.Handle("GET /api/v1/users", auth.UsersManage, func(w http.ResponseWriter, r *http.Request) error {
		us, err := s.cfg.Store.ListUsers(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"users": us})
	})
	s.Handle("POST /api/v1/users", auth.UsersManage, s.createUser)
	s.Handle("PATCH /api/v1/users/{id}", auth.UsersManage, s.updateUser)
	s.Handle("POST /api/v1/users/{id}/password", auth.UsersManage, s.resetPassword)
	s.Handle("DELETE /api/v1/users/{id}/totp", auth.UsersManage, s.resetTOTP)

	// Roles.
	s.Handle("GET /api/v1/roles", auth.UsersManage, func(w http.ResponseWriter, r *http.Request) error {
		rs, err := AllRoles(r.Context(), s.cfg.Store)
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"roles": rs, "permissions": auth.PermissionNames()})
	})
	s.Handle("POST /api/v1/roles", auth.UsersManage, s.saveRole(false))
	s.Handle("PUT /api/v1/roles/{name}", auth.UsersManage, s.saveRole(true))
	s.Handle("DELETE /api/v1/roles/{name}", auth.UsersManage, func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if err := s.cfg.Store.DeleteRole(r.Context(), name); err != nil {
			return err
		}
		if err := s.Audit(r, "role.delete", "role:"+name, ""); err != nil {
			return err
		}
		return JSON(w, map[string]bool{"ok": true})
	})

	// API keys.
	s.Handle("GET /api/v1/api-keys", auth.KeysManage, func(w http.ResponseWriter, r *http.Request) error {
		ks, err := s.cfg.Store.ListAPIKeys(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"api_keys": ks})
	})
	s.Handle("POST /api/v1/api-keys", auth.KeysManage, s.createKey)
	s.Handle("DELETE /api/v1/api-keys/{id}", auth.KeysManage, func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		if err := s.cfg.Store.RevokeAPIKey(r.Context(), id); err != nil {
			return err
		}
		if err := s.Audit(r, "apikey.revoke", "api-key:"+itoa64(id), ""); err != nil {
			return err
		}
		return JSON(w, map[string]bool{"ok": true})
	})

	// Secrets of channels and integrations: names only ever leave.
	s.Handle("GET /api/v1/secrets", auth.SettingsWrite, func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.cfg.Store.ListSecrets(r.Context())
		if err != nil {
			return err
		}
		return JSON(w, map[string]any{"secrets": list})
	})
	s.Handle("PUT /api/v1/secrets/{name}", auth.SettingsWrite, func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Value string `json:"value"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		if in.Value == "" {
			return errs.FieldErrorf("value", "required")
		}
		name := r.PathValue("name")
		if err := s.cfg.Store.SetSecret(r.Context(), name, in.Value); err != nil {
			return err
		}
		if err := s.Audit(r, "secret.set", "secret:"+name, ""); err != nil {
			return err
		}
		return JSON(w, map[string]bool{"ok": true})
	})
	s.Handle("DELETE /api/v1/secrets/{name}", auth.SettingsWrite, func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if err := s.cfg.Store.DeleteSecret(r.Context(), name); err != nil {
			return err
		}
		if err := s.Audit(r, "secret.delete", "secret:"+name, ""); err != nil {
			return err
		}
		return JSON(w, map[string]bool{"ok": true})
	})

	// The audit log.
	s.Handle("GET /api/v1/audit", auth.AuditRead, s.listAudit)
	s.Handle("GET /api/v1/audit/export", auth.AuditRead, s.exportAudit)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, password, err := CreateUser(r.Context(), s.cfg.Store, in.Email, in.Name, in.Role, in.Password)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "user.create", "user:"+itoa64(u.ID), "role "+u.Role); err != nil {
		return err
	}
	out := map[string]any{"user": u}
	if in.Password == "" {
		out["password"] = password // shown once
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := s.UpdateUser(r, id, in.Role, in.Disabled)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"user": u})
}

// UpdateUser changes a staff account's role and/or disables or enables it
// (nil leaves a field), refusing to let people lock themselves out, and
// audits each change: the one path of the API and the web UI.
func (s *Server) UpdateUser(r *http.Request, id int64, role *string, disabled *bool) (*store.User, error) {
	if role == nil && disabled == nil {
		return nil, errs.Errorf(errs.Invalid, "give role and/or disabled")
	}
	me := PrincipalFrom(r.Context())
	if id == me.UserID && (disabled != nil && *disabled || role != nil && *role != me.Role) {
		return nil, errs.Errorf(errs.Conflict, "you cannot disable yourself or change your own role; ask another admin")
	}
	ctx := r.Context()
	if _, err := s.cfg.Store.UserByID(ctx, id); err != nil {
		return nil, err
	}
	if role != nil {
		if err := CheckRole(ctx, s.cfg.Store, *role); err != nil {
			return nil, err
		}
		if err := s.cfg.Store.SetUserRole(ctx, id, *role); err != nil {
			return nil, err
		}
		if err := s.Audit(r, "user.role", "user:"+itoa64(id), "role "+*role); err != nil {
			return nil, err
		}
	}
	if disabled != nil {
		if err := s.cfg.Store.SetUserDisabled(ctx, id, *disabled); err != nil {
			return nil, err
		}
		action := "user.enable"
		if *disabled {
			action = "user.disable"
		}
		if err := s.Audit(r, action, "user:"+itoa64(id), ""); err != nil {
			return nil, err
		}
	}
	return s.cfg.Store.UserByID(ctx, id)
}

// resetPassword gives a user a new generated password (shown once) and
// ends their sessions.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	password, err := s.ResetPassword(r, id)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"password": password})
}

// ResetPassword gives a user a new generated password (to be shown once),
// ends their sessions and audits it.
func (s *Server) ResetPassword(r *http.Request, id int64) (string, error) {
	password := auth.GeneratePassword()
	if err := SetPassword(r.Context(), s.cfg.Store, id, password); err != nil {
		return "", err
	}
	return password, s.Audit(r, "user.password_reset", "user:"+itoa64(id), "")
}

func (s *Server) resetTOTP(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.ResetTOTP(r, id); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

// ResetTOTP turns off a user's second factor (they lost their phone) and
// audits it.
func (s *Server) ResetTOTP(r *http.Request, id int64) error {
	if err := s.cfg.Store.SetUserTOTP(r.Context(), id, "", false); err != nil {
		return err
	}
	return s.Audit(r, "user.totp_reset", "user:"+itoa64(id), "")
}

// me returns the signed-in user (API keys have no account).
func (s *Server) me(ctx context.Context) (*store.User, error) {
	p := PrincipalFrom(ctx)
	if p.UserID == 0 {
		return nil, errs.Errorf(errs.Forbidden, "this is for signed-in staff, not API keys")
	}
	return s.cfg.Store.UserByID(ctx, p.UserID)
}

// changeOwnPassword checks the current password, sets the new one, ends
// every session of the user (other browsers included) and opens a new one
// for this browser.
func (s *Server) changeOwnPassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	token, err := s.ChangeOwnPassword(w, r, in.Current, in.New)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"ok": true, "csrf_token": CSRFToken(token)})
}

// ChangeOwnPassword changes the signed-in user's password after checking
// the current one, ends every other session, audits it and signs this
// browser in again (the API and the web UI). It returns the new session's
// token.
func (s *Server) ChangeOwnPassword(w http.ResponseWriter, r *http.Request, current, next string) (string, error) {
	u, err := s.me(r.Context())
	if err != nil {
		return "", err
	}
	if !auth.CheckPassword(u.PasswordHash, current) {
		return "", &errs.Error{Code: errs.Forbidden, Field: "current_password", Message: "wrong password"}
	}
	if err := SetPassword(r.Context(), s.cfg.Store, u.ID, next); err != nil {
		return "", err
	}
	if err := s.Audit(r, "user.password", "user:"+itoa64(u.ID), "other sessions ended"); err != nil {
		return "", err
	}
	token, err := s.openSession(r.Context(), u.ID, clientIP(r), r.UserAgent())
	if err != nil {
		return "", err
	}
	s.SetSessionCookie(w, token)
	return token, nil
}

func (s *Server) totpSetup(w http.ResponseWriter, r *http.Request) error {
	seed, url, err := s.SetupTOTP(r)
	if err != nil {
		return err
	}
	return JSON(w, map[string]string{"secret": seed, "otpauth_url": url})
}

// SetupTOTP makes a new TOTP seed for the signed-in user, stores it sealed
// and pending, and returns it with the otpauth:// URL to show as a QR
// code. The second factor is on only after ConfirmTOTP.
func (s *Server) SetupTOTP(r *http.Request) (seed, otpauthURL string, err error) {
	u, err := s.me(r.Context())
	if err != nil {
		return "", "", err
	}
	if u.TOTPEnabled {
		return "", "", errs.Errorf(errs.Conflict, "a second factor is already on; turn it off first")
	}
	seed = auth.NewTOTPSecret()
	sealed, err := s.cfg.Store.SealValue(store.TOTPSecretName(u.ID), seed)
	if err != nil {
		return "", "", err
	}
	if err := s.cfg.Store.SetUserTOTP(r.Context(), u.ID, sealed, false); err != nil {
		return "", "", err
	}
	return seed, auth.TOTPURL("enishi", u.Email, seed), nil
}

func (s *Server) totpConfirm(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.ConfirmTOTP(r, in.Code); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

// ConfirmTOTP turns the signed-in user's pending second factor on once
// they type a current code from their app.
func (s *Server) ConfirmTOTP(r *http.Request, code string) error {
	u, err := s.me(r.Context())
	if err != nil {
		return err
	}
	if u.TOTPSecret == "" || u.TOTPEnabled {
		return errs.Errorf(errs.Conflict, "start with POST /api/v1/me/totp")
	}
	if err := s.checkTOTP(r.Context(), u, code); err != nil {
		if errs.Code(err) == errs.Unauthorized { // signed in: a wrong code is bad input
			return errs.FieldErrorf("code", "wrong code; enter the 6 digits the app shows now")
		}
		return err
	}
	if err := s.cfg.Store.SetUserTOTP(r.Context(), u.ID, u.TOTPSecret, true); err != nil {
		return err
	}
	// Keep the confirming code from working again at sign-in.
	if _, err := s.cfg.Store.UseTOTPStep(r.Context(), u.ID, auth.TOTPStep(s.sessions.Now())+1); err != nil {
		return err
	}
	return s.Audit(r, "user.totp_enable", "user:"+itoa64(u.ID), "")
}

func (s *Server) totpDisable(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.DisableTOTP(r, in.Password); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

// DisableTOTP turns off the signed-in user's second factor after checking
// their password.
func (s *Server) DisableTOTP(r *http.Request, password string) error {
	u, err := s.me(r.Context())
	if err != nil {
		return err
	}
	if !auth.CheckPassword(u.PasswordHash, password) {
		return &errs.Error{Code: errs.Forbidden, Field: "password", Message: "wrong password"}
	}
	if err := s.cfg.Store.SetUserTOTP(r.Context(), u.ID, "", false); err != nil {
		return err
	}
	return s.Audit(r, "user.totp_disable", "user:"+itoa64(u.ID), "")
}

func (s *Server) saveRole(update bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Name        string   `json:"name"`
			Description string   `json:"description"`
			Permissions []string `json:"permissions"`
		}
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
		if update {
			in.Name = r.PathValue("name")
		}
		role, err := SaveRole(r.Context(), s.cfg.Store, in.Name, in.Description, in.Permissions, update)
		if err != nil {
			return err
		}
		action := "role.create"
		if update {
			action = "role.update"
		}
		if err := s.Audit(r, action, "role:"+role.Name, strings.Join(role.Permissions, " ")); err != nil {
			return err
		}
		status := http.StatusCreated
		if update {
			status = http.StatusOK
		}
		writeJSON(w, status, map[string]any{"role": role})
		return nil
	}
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	k, secret, err := CreateAPIKey(r.Context(), s.cfg.Store, in.Name, in.Scopes, PrincipalFrom(r.Context()).Actor())
	if err != nil {
		return err
	}
	if err := s.Audit(r, "apikey.create", "api-key:"+itoa64(k.ID), "scopes "+strings.Join(k.Scopes, " ")); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"api_key": k, "key": secret})
	return nil
}

// auditQuery reads the audit log filters: since, until (RFC 3339 or
// YYYY-MM-DD in Asia/Tokyo), action (exact or prefix ending in "."),
// actor, before (id, for paging) and limit.
func auditQuery(r *http.Request, defLimit int) (store.AuditQuery, error) {
	q := store.AuditQuery{Action: r.URL.Query().Get("action"), Actor: r.URL.Query().Get("actor")}
	var err error
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		v := r.URL.Query().Get(name)
		if v == "" {
			continue
		}
		if *dst, err = parseTime(v); err != nil {
			return q, errs.FieldErrorf(name, "%q is not a date (2026-04-01) or RFC 3339 time", v)
		}
	}
	before, err := queryInt(r, "before", 0)
	if err != nil {
		return q, err
	}
	q.BeforeID = int64(before)
	if q.Limit, err = queryInt(r, "limit", defLimit); err != nil {
		return q, err
	}
	return q, nil
}

var tokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return l
}()

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02", v, tokyo)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r, 100)
	if err != nil {
		return err
	}
	if q.Limit < 1 || q.Limit > 1000 {
		return errs.FieldErrorf("limit", "must be between 1 and 1000")
	}
	es, err := s.cfg.Store.AuditEntries(r.Context(), q)
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"entries": es})
}

// exportAudit downloads the audit log as CSV (formula cells escaped). The
// export itself is audited.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r, 10000)
	if err != nil {
		return err
	}
	es, err := s.cfg.Store.AuditEntries(r.Context(), q)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "audit.export", "", fmt.Sprintf("%d entries", len(es))); err != nil {
		return err
	}
	csvexport.Attachment(w.Header(), "enishi-audit-"+s.cfg.Clock.Now().In(tokyo).Format("20060102")+".csv")
	return WriteAuditCSV(w, es)
}

// WriteAuditCSV writes audit entries as CSV (the API and the CLI share it).
func WriteAuditCSV(w interface{ Write([]byte) (int, error) }, es []store.AuditEntry) error {
	cw, err := csvexport.New(w, csvexport.Options{})
	if err != nil {
		return err
	}
	if err := cw.WriteStrings([]string{"id", "at", "actor", "action", "target", "detail", "ip", "user_agent"}); err != nil {
		return err
	}
	for _, e := range es {
		if err := cw.Write(csvexport.Number(itoa64(e.ID)), e.At.In(tokyo).Format(time.RFC3339), e.Actor, e.Action, e.Target, e.Detail, e.IP, e.UserAgent); err != nil {
			return err
		}
	}
	return cw.Flush()
}

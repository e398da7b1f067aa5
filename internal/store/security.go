package store

import (
	"context"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/secret"
)

// SecurityStore is the storage of custom roles, second factors, shared
// login throttling, the audit log and encrypted secrets.
type SecurityStore interface {
	// Custom roles (built-in roles live in auth.Roles).
	CreateRole(ctx context.Context, r Role) error
	UpdateRole(ctx context.Context, r Role) error
	DeleteRole(ctx context.Context, name string) error
	Role(ctx context.Context, name string) (*Role, error)
	ListRoles(ctx context.Context) ([]Role, error)

	// Staff accounts beyond the foundation's.
	SetUserRole(ctx context.Context, id int64, role string) error
	SetUserDisabled(ctx context.Context, id int64, disabled bool) error
	SetUserTOTP(ctx context.Context, id int64, sealedSecret string, enabled bool) error
	UseTOTPStep(ctx context.Context, id int64, step int64) (bool, error)

	// Failed sign-ins, shared by every process on the database.
	RecordLoginFailure(ctx context.Context, keys []string, at time.Time) error
	LoginFailures(ctx context.Context, key string, since time.Time) (int, error)
	ClearLoginFailures(ctx context.Context, key string) error

	// The append-only audit log.
	AppendAudit(ctx context.Context, e AuditEntry) error
	AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	// Secrets encrypted at rest (see internal/secret).
	Secret(ctx context.Context, name string) (string, bool, error)
	SetSecret(ctx context.Context, name, value string) error
	DeleteSecret(ctx context.Context, name string) error
	ListSecrets(ctx context.Context) ([]SecretInfo, error)
	RotateSecrets(ctx context.Context) (int, error)
	MovePlaintextSecrets(ctx context.Context) (int, error)
	SealValue(name, value string) (string, error)
	OpenValue(name, sealed string) (string, error)
}

// Role is a custom role: a name and the permissions it grants.
type Role struct {
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	Description string    `json:"description"`
	BuiltIn     bool      `json:"built_in"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// CreateRole stores a new custom role; names are unique.
func (db *DB) CreateRole(ctx context.Context, r Role) error {
	now := ms(db.Clock.Now())
	_, err := db.Write.ExecContext(ctx, `INSERT INTO roles (name, permissions, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
		r.Name, strings.Join(r.Permissions, " "), r.Description, now)
	if db.Dialect.IsUniqueViolation(err) {
		return errs.Errorf(errs.Conflict, "a role named %s already exists", r.Name)
	}
	return err
}

// UpdateRole replaces a custom role's permissions and description.
func (db *DB) UpdateRole(ctx context.Context, r Role) error {
	res, err := db.Write.ExecContext(ctx, `UPDATE roles SET permissions = $1, description = $2, updated_at = $3 WHERE name = $4`,
		strings.Join(r.Permissions, " "), r.Description, ms(db.Clock.Now()), r.Name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.Errorf(errs.NotFound, "role %s not found", r.Name)
	}
	return nil
}

// DeleteRole removes a custom role no user holds.
func (db *DB) DeleteRole(ctx context.Context, name string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errs.Errorf(errs.Conflict, "%d user(s) still have role %s; give them another role first", n, name)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "role %s not found", name)
		}
		return nil
	})
}

func scanRole(r rowScanner) (*Role, error) {
	var ro Role
	var perms string
	var c, u int64
	if err := r.Scan(&ro.Name, &perms, &ro.Description, &c, &u); err != nil {
		return nil, err
	}
	ro.Permissions = strings.Fields(perms)
	ro.CreatedAt, ro.UpdatedAt = fromMS(c), fromMS(u)
	return &ro, nil
}

// Role returns a custom role.
func (db *DB) Role(ctx context.Context, name string) (*Role, error) {
	r, err := scanRole(db.Read.QueryRowContext(ctx, `SELECT name, permissions, description, created_at, updated_at FROM roles WHERE name = $1`, name))
	if err != nil {
		return nil, notFound(err, "role", name)
	}
	return r, nil
}

// ListRoles lists the custom roles by name.
func (db *DB) ListRoles(ctx context.Context) ([]Role, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT name, permissions, description, created_at, updated_at FROM roles ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Role{}
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

func (db *DB) updateUser(ctx context.Context, id int64, set string, args ...any) error {
	args = append(args, ms(db.Clock.Now()), id)
	n := len(args)
	res, err := db.Write.ExecContext(ctx, `UPDATE users SET `+set+`, updated_at = $`+itoa(n-1)+` WHERE id = $`+itoa(n), args...)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return errs.Errorf(errs.NotFound, "user %d not found", id)
	}
	return nil
}

// SetUserRole changes a user's role. Permissions are read on every request,
// so the change applies to open sessions at once.
func (db *DB) SetUserRole(ctx context.Context, id int64, role string) error {
	return db.updateUser(ctx, id, `role = $1`, role)
}

// SetUserDisabled disables (ending every session) or re-enables a user.
func (db *DB) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return db.inTx(ctx, func(tx *Tx) error {
		now := ms(db.Clock.Now())
		var at any
		if disabled {
			at = now
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3`, at, now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "user %d not found", id)
		}
		if disabled {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		}
		return err
	})
}

// SetUserTOTP stores a user's sealed TOTP secret: pending (enabled false)
// while the user confirms a first code, then enabled. An empty secret turns
// the second factor off.
func (db *DB) SetUserTOTP(ctx context.Context, id int64, sealedSecret string, enabled bool) error {
	var at any
	if enabled && sealedSecret != "" {
		at = ms(db.Clock.Now())
	}
	return db.updateUser(ctx, id, `totp_secret = $1, totp_enabled_at = $2, totp_last_step = 0`, sealedSecret, at)
}

// UseTOTPStep records that a code of time step was used, and reports false
// if that step (or a later one) was used already: each code works once,
// across every process.
func (db *DB) UseTOTPStep(ctx context.Context, id int64, step int64) (bool, error) {
	res, err := db.Write.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecordLoginFailure counts a failed sign-in against each key and forgets
// failures older than a day.
func (db *DB) RecordLoginFailure(ctx context.Context, keys []string, at time.Time) error {
	return db.inTx(ctx, func(tx *Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, at) VALUES ($1, $2)`, k, ms(at)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE at < $1`, ms(at.Add(-24*time.Hour)))
		return err
	})
}

// LoginFailures counts a key's failures since a time.
func (db *DB) LoginFailures(ctx context.Context, key string, since time.Time) (int, error) {
	var n int
	err := db.Write.QueryRowContext(ctx, `SELECT count(*) FROM login_failures WHERE key = $1 AND at >= $2`, key, ms(since)).Scan(&n)
	return n, err
}

// ClearLoginFailures forgets a key's failures (after a successful sign-in).
func (db *DB) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := db.Write.ExecContext(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return err
}

// SecretInfo describes a stored secret without its value.
type SecretInfo struct {
	Name      string    `json:"name"`
	KeyID     string    `json:"key_id"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SetSecretBox gives the store the key that seals secrets. Without one,
// secrets cannot be read or written (secret.ErrNoKey).
func (db *DB) SetSecretBox(b *secret.Box) { db.box = b }

// SealValue encrypts a value for a column of its own (as the TOTP seed is).
func (db *DB) SealValue(name, value string) (string, error) { return db.box.Seal(name, value) }

// OpenValue decrypts what SealValue sealed under the same name.
func (db *DB) OpenValue(name, sealed string) (string, error) { return db.box.Open(name, sealed) }

// Secret returns a secret's plaintext and whether it is set.
func (db *DB) Secret(ctx context.Context, name string) (string, bool, error) {
	var ct string
	err := db.Read.QueryRowContext(ctx, `SELECT ciphertext FROM secrets WHERE name = $1`, name).Scan(&ct)
	if isNoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	pt, err := db.box.Open("secret:"+name, ct)
	if err != nil {
		return "", false, err
	}
	return pt, true, nil
}

// SetSecret encrypts and stores a secret.
func (db *DB) SetSecret(ctx context.Context, name, value string) error {
	if strings.TrimSpace(name) == "" {
		return errs.FieldErrorf("name", "a secret needs a name")
	}
	ct, err := db.box.Seal("secret:"+name, value)
	if err != nil {
		return err
	}
	_, err = db.Write.ExecContext(ctx, `INSERT INTO secrets (name, ciphertext, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`, name, ct, ms(db.Clock.Now()))
	return err
}

// DeleteSecret removes a secret.
func (db *DB) DeleteSecret(ctx context.Context, name string) error {
	res, err := db.Write.ExecContext(ctx, `DELETE FROM secrets WHERE name = $1`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.Errorf(errs.NotFound, "secret %s not found", name)
	}
	return nil
}

// ListSecrets lists the stored secrets' names, never their values.
func (db *DB) ListSecrets(ctx context.Context) ([]SecretInfo, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT name, ciphertext, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SecretInfo{}
	for rows.Next() {
		var si SecretInfo
		var ct string
		var at int64
		if err := rows.Scan(&si.Name, &ct, &at); err != nil {
			return nil, err
		}
		if p := strings.SplitN(ct, ":", 3); len(p) == 3 {
			si.KeyID = p[1]
		}
		si.UpdatedAt = fromMS(at)
		out = append(out, si)
	}
	return out, rows.Err()
}

// RotateSecrets re-encrypts every secret (and TOTP seed) not sealed with
// the current key, in one transaction, and returns how many it changed.
func (db *DB) RotateSecrets(ctx context.Context) (int, error) {
	if db.box == nil {
		return 0, secret.ErrNoKey
	}
	n := 0
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		type row struct {
			id   any
			name string
			ct   string
		}
		collect := func(q string, label func(id any) string) ([]row, error) {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []row
			for rows.Next() {
				var r row
				var id any
				if err := rows.Scan(&id, &r.ct); err != nil {
					return nil, err
				}
				r.id, r.name = id, label(id)
				out = append(out, r)
			}
			return out, rows.Err()
		}
		secrets, err := collect(`SELECT name, ciphertext FROM secrets`, func(id any) string { return "secret:" + asString(id) })
		if err != nil {
			return err
		}
		seeds, err := collect(`SELECT id, totp_secret FROM users WHERE totp_secret <> ''`, func(id any) string { return TOTPSecretName(asInt64(id)) })
		if err != nil {
			return err
		}
		for _, set := range []struct {
			rows []row
			q    string
		}{{secrets, `UPDATE secrets SET ciphertext = $1 WHERE name = $2`}, {seeds, `UPDATE users SET totp_secret = $1 WHERE id = $2`}} {
			for _, r := range set.rows {
				if db.box.Current(r.ct) {
					continue
				}
				pt, err := db.box.Open(r.name, r.ct)
				if err != nil {
					return err
				}
				ct, err := db.box.Seal(r.name, pt)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, set.q, ct, r.id); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// MovePlaintextSecrets encrypts the integration secrets that versions
// before encryption at rest kept in settings ("secret.<name>") and removes
// them from settings; it returns how many it moved. Opening the store with
// a key runs it.
func (db *DB) MovePlaintextSecrets(ctx context.Context) (int, error) {
	if db.box == nil {
		return 0, nil
	}
	n := 0
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT key, value FROM settings WHERE key LIKE 'secret.%'`)
		if err != nil {
			return err
		}
		type kv struct{ k, v string }
		var found []kv
		for rows.Next() {
			var e kv
			if err := rows.Scan(&e.k, &e.v); err != nil {
				rows.Close()
				return err
			}
			found = append(found, e)
		}
		rows.Close()
		for _, e := range found {
			name := strings.TrimPrefix(e.k, "secret.")
			ct, err := db.box.Seal("secret:"+name, e.v)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, ciphertext, updated_at) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO NOTHING`, name, ct, ms(db.Clock.Now())); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = $1`, e.k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// TOTPSecretName is the name a user's TOTP seed is sealed under.
func TOTPSecretName(userID int64) string { return "totp:" + itoa(int(userID)) }

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func asInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	}
	return 0
}

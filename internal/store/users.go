package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

const userCols = "id, email, name, role, password_hash, created_at, disabled_at, totp_secret, totp_enabled_at, totp_last_step"

func scanUser(r rowScanner) (*User, error) {
	var u User
	var created int64
	var disabled, totpAt sql.NullInt64
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &created, &disabled, &u.TOTPSecret, &totpAt, &u.TOTPLastStep); err != nil {
		return nil, err
	}
	u.TOTPEnabled = totpAt.Valid && u.TOTPSecret != ""
	u.CreatedAt = fromMS(created)
	u.DisabledAt = fromNullMS(disabled)
	return &u, nil
}

// CreateUser adds a staff account; the e-mail must be new.
func (db *DB) CreateUser(ctx context.Context, u User) (int64, error) {
	now := ms(db.Clock.Now())
	var id int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO users (email, name, role, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`, strings.ToLower(u.Email), u.Name, u.Role, u.PasswordHash, now).Scan(&id)
	if db.Dialect.IsUniqueViolation(err) {
		return 0, errs.Errorf(errs.Conflict, "a user with e-mail %s already exists", u.Email)
	}
	return id, err
}

// UserByEmail finds a staff account by e-mail.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, strings.ToLower(email)))
	if err != nil {
		return nil, notFound(err, "user", email)
	}
	return u, nil
}

// UserByID finds a staff account by id.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "user", id)
	}
	return u, nil
}

// ListUsers lists staff accounts.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// SetUserPassword replaces a password hash and ends the user's sessions.
func (db *DB) SetUserPassword(ctx context.Context, id int64, hash string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, ms(db.Clock.Now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "user %d not found", id)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		return err
	})
}

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	_, err := db.Write.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.TokenHash, s.UserID, ms(s.CreatedAt), ms(s.ExpiresAt), ms(s.LastSeenAt), s.IP, s.UserAgent)
	return err
}

// SessionByHash finds a session by its token's hash.
func (db *DB) SessionByHash(ctx context.Context, tokenHash string) (*Session, error) {
	var s Session
	var c, e, l int64
	err := db.Read.QueryRowContext(ctx, `SELECT token_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent FROM sessions WHERE token_hash = $1`,
		tokenHash).Scan(&s.TokenHash, &s.UserID, &c, &e, &l, &s.IP, &s.UserAgent)
	if err != nil {
		return nil, notFound(err, "session", "")
	}
	s.CreatedAt, s.ExpiresAt, s.LastSeenAt = fromMS(c), fromMS(e), fromMS(l)
	return &s, nil
}

// TouchSession records activity on a session.
func (db *DB) TouchSession(ctx context.Context, tokenHash string, at time.Time) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2`, ms(at), tokenHash)
	return err
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := db.Write.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// DeleteUserSessions ends every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := db.Write.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	return err
}

const apiKeyCols = "id, name, prefix, key_hash, scopes, created_by, created_at, last_used_at, revoked_at"

func scanAPIKey(r rowScanner) (*APIKey, error) {
	var k APIKey
	var scopes string
	var created int64
	var used, revoked sql.NullInt64
	if err := r.Scan(&k.ID, &k.Name, &k.Prefix, &k.KeyHash, &scopes, &k.CreatedBy, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt = fromMS(created)
	k.LastUsedAt, k.RevokedAt = fromNullMS(used), fromNullMS(revoked)
	return &k, nil
}

// CreateAPIKey stores a key's hash and scopes.
func (db *DB) CreateAPIKey(ctx context.Context, k APIKey) (int64, error) {
	var id int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO api_keys (name, prefix, key_hash, scopes, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, k.Name, k.Prefix, k.KeyHash, strings.Join(k.Scopes, " "), k.CreatedBy, ms(db.Clock.Now())).Scan(&id)
	return id, err
}

// APIKeyByHash finds a key by its hash (revoked keys included).
func (db *DB) APIKeyByHash(ctx context.Context, keyHash string) (*APIKey, error) {
	k, err := scanAPIKey(db.Read.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE key_hash = $1`, keyHash))
	if err != nil {
		return nil, notFound(err, "API key", "")
	}
	return k, nil
}

// ListAPIKeys lists keys, newest first.
func (db *DB) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// RevokeAPIKey stops a key from working.
func (db *DB) RevokeAPIKey(ctx context.Context, id int64) error {
	res, err := db.Write.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms(db.Clock.Now()), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.Errorf(errs.NotFound, "active API key %d not found", id)
	}
	return nil
}

// TouchAPIKey records a key's use.
func (db *DB) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	_, err := db.Write.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, ms(at), id)
	return err
}

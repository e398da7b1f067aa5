package http

import (
	"context"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/store"
)

// CreateUser validates and adds a staff account. With an empty password it
// generates one and returns it (to be shown once). The CLI uses it too.
func CreateUser(ctx context.Context, st store.Store, email, name, role, password string) (*store.User, string, error) {
	e, err := identity.NormalizeEmail(email)
	if err != nil {
		return nil, "", &errs.Error{Code: errs.Invalid, Field: "email", Message: errs.Message(err)}
	}
	if !auth.ValidRole(role) {
		return nil, "", errs.FieldErrorf("role", "%q is not a role (%s)", role, strings.Join(auth.RoleNames, ", "))
	}
	if password == "" {
		password = auth.GeneratePassword()
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, "", err
	}
	id, err := st.CreateUser(ctx, store.User{Email: e, Name: name, Role: role, PasswordHash: hash})
	if err != nil {
		return nil, "", err
	}
	u, err := st.UserByID(ctx, id)
	return u, password, err
}

// CreateAPIKey makes a key with the given scopes and returns it with its
// secret, which is never stored and cannot be shown again.
func CreateAPIKey(ctx context.Context, st store.Store, name string, scopes []string, createdBy string) (*store.APIKey, string, error) {
	if strings.TrimSpace(name) == "" {
		return nil, "", errs.FieldErrorf("name", "name the integration this key is for")
	}
	perms, err := auth.ParseScopes(scopes)
	if err != nil {
		return nil, "", err
	}
	secret, prefix := auth.NewAPIKey()
	names := make([]string, len(perms))
	for i, p := range perms {
		names[i] = string(p)
	}
	id, err := st.CreateAPIKey(ctx, store.APIKey{Name: name, Prefix: prefix, KeyHash: auth.HashToken(secret), Scopes: names, CreatedBy: createdBy})
	if err != nil {
		return nil, "", err
	}
	k := &store.APIKey{ID: id, Name: name, Prefix: prefix, Scopes: names, CreatedBy: createdBy}
	return k, secret, nil
}

// ChangePassword replaces a user's password after checking the current one.
// Every session of the user ends (the store does that); the caller signs the
// browser in again with the new password.
func ChangePassword(ctx context.Context, st store.Store, userID int64, current, next string) error {
	u, err := st.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if !auth.CheckPassword(u.PasswordHash, current) {
		return errs.FieldErrorf("current", "the current password is wrong")
	}
	if next == current {
		return errs.FieldErrorf("password", "choose a password different from the current one")
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	return st.SetUserPassword(ctx, userID, hash)
}

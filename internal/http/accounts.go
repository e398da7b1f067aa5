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
	if err := CheckRole(ctx, st, role); err != nil {
		return nil, "", err
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

// CheckRole reports whether role is built in or a stored custom role.
func CheckRole(ctx context.Context, st store.Store, role string) error {
	if auth.ValidRole(role) {
		return nil
	}
	if _, err := st.Role(ctx, role); err != nil {
		if errs.Code(err) == errs.NotFound {
			return errs.FieldErrorf("role", "%q is not a role (built in: %s; custom roles: enishi role list)", role, strings.Join(auth.RoleNames, ", "))
		}
		return err
	}
	return nil
}

// SetPassword validates and sets a user's password, ending every session
// of the user.
func SetPassword(ctx context.Context, st store.Store, userID int64, password string) error {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	return st.SetUserPassword(ctx, userID, hash)
}

// SaveRole validates and creates (or, with update, replaces) a custom role.
func SaveRole(ctx context.Context, st store.Store, name, description string, permissions []string, update bool) (*store.Role, error) {
	if !update {
		if err := auth.CustomRoleName(name); err != nil {
			return nil, err
		}
	} else if auth.ValidRole(name) {
		return nil, errs.FieldErrorf("name", "built-in roles cannot be changed; make a custom role")
	}
	perms, err := auth.ParsePermissions(permissions)
	if err != nil {
		return nil, &errs.Error{Code: errs.Invalid, Field: "permissions", Message: errs.Message(err)}
	}
	if len(perms) == 0 {
		return nil, errs.FieldErrorf("permissions", "give the role at least one permission")
	}
	r := store.Role{Name: name, Description: description}
	for _, p := range perms {
		r.Permissions = append(r.Permissions, string(p))
	}
	if update {
		err = st.UpdateRole(ctx, r)
	} else {
		err = st.CreateRole(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	return st.Role(ctx, name)
}

// AllRoles lists the built-in roles followed by the custom ones.
func AllRoles(ctx context.Context, st store.Store) ([]store.Role, error) {
	out := []store.Role{}
	for _, name := range auth.RoleNames {
		r := store.Role{Name: name, BuiltIn: true}
		for _, p := range auth.Roles[name] {
			r.Permissions = append(r.Permissions, string(p))
		}
		out = append(out, r)
	}
	custom, err := st.ListRoles(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, custom...), nil
}

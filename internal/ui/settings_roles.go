package ui

import (
	"net/http"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/store"
)

type rolesPage struct {
	*base
	Roles       []store.Role
	Permissions []string
	// Edit is the custom role being changed (nil on the list page).
	Edit    *store.Role
	Form    map[string]string
	Checked []string
}

// roles lists the built-in and custom roles with their permissions and
// offers a form for a new custom role.
func (u *UI) roles(w http.ResponseWriter, r *http.Request) error {
	return u.showRoles(w, r, http.StatusOK, &rolesPage{})
}

func (u *UI) showRoles(w http.ResponseWriter, r *http.Request, status int, pg *rolesPage) error {
	pg.base = u.newBase(r, "settings", "settings.roles")
	if pg.Form != nil {
		pg.Error = pg.Form["error"]
	}
	pg.Permissions = auth.PermissionNames()
	var err error
	if pg.Roles, err = enishihttp.AllRoles(r.Context(), u.cfg.Store); err != nil {
		return err
	}
	return u.render(w, r, status, "roles", pg)
}

func (u *UI) createRole(w http.ResponseWriter, r *http.Request) error {
	return u.saveRole(w, r, false)
}

func (u *UI) updateRole(w http.ResponseWriter, r *http.Request) error {
	return u.saveRole(w, r, true)
}

// saveRole creates or replaces a custom role through the API's check.
func (u *UI) saveRole(w http.ResponseWriter, r *http.Request, update bool) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	name, desc, perms := strings.TrimSpace(r.PostForm.Get("name")), strings.TrimSpace(r.PostForm.Get("description")), r.PostForm["perm"]
	if update {
		name = r.PathValue("name")
	}
	role, err := enishihttp.SaveRole(r.Context(), u.cfg.Store, name, desc, perms, update)
	if err != nil {
		if !isValidation(err) {
			return err
		}
		pg := &rolesPage{Form: map[string]string{"name": name, "description": desc, "error": u.localeFor(r).errorText(err)}, Checked: perms}
		if update {
			pg.Edit = &store.Role{Name: name, Description: desc, Permissions: perms}
		}
		return u.showRoles(w, r, http.StatusUnprocessableEntity, pg)
	}
	action := "role.create"
	if update {
		action = "role.update"
	}
	if err := u.api.Audit(r, action, "role:"+role.Name, strings.Join(role.Permissions, " ")); err != nil {
		return err
	}
	return redirect(w, r, "/settings/roles", "role_saved")
}

// role shows a custom role's form.
func (u *UI) role(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if auth.ValidRole(name) {
		return errs.Errorf(errs.NotFound, "built-in roles cannot be changed; make a custom role")
	}
	role, err := u.cfg.Store.Role(r.Context(), name)
	if err != nil {
		return err
	}
	return u.showRoles(w, r, http.StatusOK, &rolesPage{Edit: role, Checked: role.Permissions,
		Form: map[string]string{"name": role.Name, "description": role.Description}})
}

// deleteRole removes a custom role no one holds.
func (u *UI) deleteRole(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := u.cfg.Store.DeleteRole(r.Context(), name); err != nil {
		if !isValidation(err) {
			return err
		}
		return u.showRoles(w, r, http.StatusConflict, &rolesPage{Form: map[string]string{"error": u.localeFor(r).errorText(err)}})
	}
	if err := u.api.Audit(r, "role.delete", "role:"+name, ""); err != nil {
		return err
	}
	return redirect(w, r, "/settings/roles", "role_deleted")
}

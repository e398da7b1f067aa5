package ui

import (
	"github.com/enishi-crm/enishi/internal/auth"
)

// routesSecurity registers the security pages: custom roles, account
// management beyond creation, the audit log, the signed-in user's second
// factor, data subject requests from the customer 360 and the suppression
// list. Each goes through the same calls as the API.
func (u *UI) routesSecurity() {
	u.page("GET /settings/roles", auth.UsersManage, u.roles)
	u.page("POST /settings/roles", auth.UsersManage, u.createRole)
	u.page("GET /settings/roles/{name}", auth.UsersManage, u.role)
	u.page("POST /settings/roles/{name}", auth.UsersManage, u.updateRole)
	u.page("POST /settings/roles/{name}/delete", auth.UsersManage, u.deleteRole)

	u.page("POST /settings/users/{id}", auth.UsersManage, u.updateUser)
	u.page("POST /settings/users/{id}/password", auth.UsersManage, u.resetUserPassword)
	u.page("POST /settings/users/{id}/totp-reset", auth.UsersManage, u.resetUserTOTP)

	u.page("GET /settings/audit", auth.AuditRead, u.auditLog)
	u.page("GET /settings/audit/export", auth.AuditRead, u.exportAuditLog)

	u.page("GET /settings/suppressions", auth.CustomersRead, u.suppressions)
	u.page("POST /settings/suppressions", auth.CustomersWrite, u.addSuppression)
	u.page("POST /settings/suppressions/delete", auth.CustomersWrite, u.deleteSuppression)

	u.page("GET /settings/messaging", auth.SettingsWrite, u.messagingSettings)
	u.page("POST /settings/messaging", auth.SettingsWrite, u.saveMessagingSettings)

	u.page("GET /account/totp", "", u.totpPage)
	u.page("POST /account/totp", "", u.totpSetup)
	u.page("POST /account/totp/confirm", "", u.totpConfirm)
	u.page("POST /account/totp/disable", "", u.totpDisable)

	u.page("GET /customers/{id}/personal-data", auth.PrivacyManage, u.personalData)
	u.page("POST /customers/{id}/erase", auth.PrivacyManage, u.eraseCustomer)
}

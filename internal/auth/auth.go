// Package auth holds staff roles and permissions (one table, enforced in
// one place by the HTTP layer for API, UI and CLI-over-API alike), password
// hashing, and the tokens behind sessions and API keys.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Permission is one thing a role or an API key scope allows.
type Permission string

// Permissions. API key scopes use the same names.
const (
	CustomersRead   Permission = "customers:read"   // profiles, timelines (masked without pii:read)
	CustomersWrite  Permission = "customers:write"  // edit profiles, notes, inquiries, tags, consents, merges
	CustomersExport Permission = "customers:export" // download lists and personal data
	PIIRead         Permission = "pii:read"         // see names, e-mails, phones and addresses unmasked
	ReportsRead     Permission = "reports:read"
	ImportsWrite    Permission = "imports:write"
	SegmentsWrite   Permission = "segments:write"
	CampaignsSend   Permission = "campaigns:send"
	JourneysWrite   Permission = "journeys:write"
	IngestWrite     Permission = "ingest:write"    // event API write keys
	IngestIdentify  Permission = "ingest:identify" // event API keys kept on a server: traits' e-mail and phone identify people
	MetricsRead     Permission = "metrics:read"    // Prometheus scrapes of /metrics
	PointsRedeem    Permission = "points:redeem"   // checkout integrations: redeem points, check coupon codes
	LoyaltyWrite    Permission = "loyalty:write"   // loyalty programme, point adjustments and imports, coupon campaigns and issues
	SettingsWrite   Permission = "settings:write"
	UsersManage     Permission = "users:manage"
	KeysManage      Permission = "keys:manage"
	AuditRead       Permission = "audit:read"
	PrivacyManage   Permission = "privacy:manage" // answer data subject requests: full export, erasure
)

// AllPermissions lists every permission.
var AllPermissions = []Permission{
	CustomersRead, CustomersWrite, CustomersExport, PIIRead, ReportsRead, ImportsWrite,
	SegmentsWrite, CampaignsSend, JourneysWrite, IngestWrite, IngestIdentify, MetricsRead, PointsRedeem, LoyaltyWrite,
	SettingsWrite, UsersManage, KeysManage, AuditRead, PrivacyManage,
}

// Roles is the permission table: what each staff role may do.
var Roles = map[string][]Permission{
	"admin": AllPermissions,
	"marketer": {CustomersRead, CustomersWrite, CustomersExport, PIIRead, ReportsRead, ImportsWrite,
		SegmentsWrite, CampaignsSend, JourneysWrite, LoyaltyWrite},
	"analyst": {CustomersRead, ReportsRead},
	"support": {CustomersRead, CustomersWrite, PIIRead},
}

// RoleNames lists the built-in roles in a fixed order.
var RoleNames = []string{"admin", "marketer", "analyst", "support"}

// ValidRole reports whether a role is built in. Custom roles live in the
// store; ResolveRole looks at both.
func ValidRole(role string) bool { _, ok := Roles[role]; return ok }

// RoleAllows reports whether built-in role has permission p.
func RoleAllows(role string, p Permission) bool { return slices.Contains(Roles[role], p) }

// CustomRoleName checks the name of a new custom role: lower-case letters,
// digits, '-' and '_', 2 to 40 characters, not a built-in role.
func CustomRoleName(name string) error {
	if ValidRole(name) {
		return errs.FieldErrorf("name", "%q is a built-in role", name)
	}
	if len(name) < 2 || len(name) > 40 {
		return errs.FieldErrorf("name", "use 2 to 40 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errs.FieldErrorf("name", "use lower-case letters, digits, - and _ only")
		}
	}
	return nil
}

// ParsePermissions validates a list of permission names (each element may
// hold several, comma or space separated), dropping repeats.
func ParsePermissions(s []string) ([]Permission, error) {
	out := []Permission{}
	for _, raw := range s {
		for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' }) {
			p := Permission(part)
			if !slices.Contains(AllPermissions, p) {
				return nil, errs.Errorf(errs.Invalid, "unknown permission %q (known: %s)", part, strings.Join(PermissionNames(), ", "))
			}
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// PermissionNames lists every permission's name.
func PermissionNames() []string {
	out := make([]string, len(AllPermissions))
	for i, p := range AllPermissions {
		out[i] = string(p)
	}
	return out
}

// ParseScopes validates a list of API key scopes.
func ParseScopes(s []string) ([]Permission, error) {
	out, err := ParsePermissions(s)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errs.Errorf(errs.Invalid, "an API key needs at least one scope")
	}
	return out, nil
}

// Argon2id parameters (RFC 9106's second recommended option, 64 MiB).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword returns an encoded argon2id hash of a password.
func HashPassword(password string) (string, error) {
	if len(password) < 10 {
		return "", errs.FieldErrorf("password", "use at least 10 characters")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches an encoded hash, in
// constant time.
func CheckPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var mem, t uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// RandomToken returns n random bytes, URL-safe base64 encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken hashes a high-entropy token (session or API key) for storage.
// A plain SHA-256 is enough: the tokens are random, not passwords.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewAPIKey returns a new key ("ek_" + 40 random characters) and its prefix,
// which is shown so that people can tell keys apart.
func NewAPIKey() (key, prefix string) {
	key = "ek_" + RandomToken(30)
	return key, key[:10]
}

// GeneratePassword returns a random password for a new account.
func GeneratePassword() string { return RandomToken(15) }

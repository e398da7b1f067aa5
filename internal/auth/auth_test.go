package auth

import (
	"strings"
	"testing"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") || !CheckPassword(h, "correct horse battery") {
		t.Fatalf("hash %q does not verify", h)
	}
	if CheckPassword(h, "correct horse batterx") || CheckPassword("garbage", "x") {
		t.Fatal("wrong password accepted")
	}
	if h2, _ := HashPassword("correct horse battery"); h2 == h {
		t.Fatal("hashes are not salted")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("short password accepted")
	}
}

func TestRolesAndScopes(t *testing.T) {
	if !RoleAllows("admin", UsersManage) || RoleAllows("marketer", UsersManage) || RoleAllows("analyst", PIIRead) || RoleAllows("support", CampaignsSend) {
		t.Fatal("permission table is wrong")
	}
	if RoleAllows("support", CustomersExport) {
		t.Fatal("support may not export")
	}
	s, err := ParseScopes([]string{"customers:read,ingest:write", "customers:read"})
	if err != nil || len(s) != 2 {
		t.Fatalf("scopes = %v, %v", s, err)
	}
	if _, err := ParseScopes([]string{"root"}); err == nil {
		t.Fatal("unknown scope accepted")
	}
	k, p := NewAPIKey()
	if !strings.HasPrefix(k, "ek_") || len(k) < 40 || !strings.HasPrefix(k, p) {
		t.Fatalf("key %q prefix %q", k, p)
	}
	if HashToken(k) == HashToken(k+"x") || len(HashToken(k)) != 64 {
		t.Fatal("token hash")
	}
}

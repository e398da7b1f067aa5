package auth

import (
	"encoding/base32"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 here).
func TestTOTPMatchesRFC6238Vectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		got, err := TOTPCode(secret, TOTPStep(time.Unix(tc.unix, 0)))
		if err != nil || got != tc.want {
			t.Errorf("t=%d: %s %v, want %s", tc.unix, got, err, tc.want)
		}
	}
}

func TestVerifyTOTPAllowsDriftAndRefusesReplay(t *testing.T) {
	s := NewTOTPSecret()
	now := time.Unix(1_800_000_000, 0)
	prev, _ := TOTPCode(s, TOTPStep(now)-1)
	step, ok := VerifyTOTP(s, prev, now, 0)
	if !ok || step != TOTPStep(now)-1 {
		t.Fatalf("previous step code refused")
	}
	if _, ok := VerifyTOTP(s, prev, now, step); ok {
		t.Fatal("a used code was accepted again")
	}
	old, _ := TOTPCode(s, TOTPStep(now)-3)
	if _, ok := VerifyTOTP(s, old, now, 0); ok {
		t.Fatal("a 90-second-old code was accepted")
	}
	if _, ok := VerifyTOTP(s, "12345", now, 0); ok {
		t.Fatal("a short code was accepted")
	}
}

package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := ParseKey(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTripAndBindsName(t *testing.T) {
	b, err := NewBox(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal("smtp.password", "p@ss word")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ct, "p@ss") {
		t.Fatalf("ciphertext shows the plaintext: %s", ct)
	}
	if pt, err := b.Open("smtp.password", ct); err != nil || pt != "p@ss word" {
		t.Fatalf("open = %q %v", pt, err)
	}
	if _, err := b.Open("line.channel_secret", ct); err == nil {
		t.Fatal("a ciphertext opened under another name")
	}
	tampered := ct[:len(ct)-2] + "AA"
	if _, err := b.Open("smtp.password", tampered); err == nil {
		t.Fatal("a tampered ciphertext opened")
	}
	ct2, _ := b.Seal("smtp.password", "p@ss word")
	if ct2 == ct {
		t.Fatal("two seals of the same value are equal (nonce reuse)")
	}
}

func TestRotationOpensWithPreviousKey(t *testing.T) {
	oldK, newK := mustKey(t), mustKey(t)
	old, _ := NewBox(oldK)
	ct, _ := old.Seal("x", "v")
	cur, _ := NewBox(newK)
	if _, err := cur.Open("x", ct); err == nil || !strings.Contains(err.Error(), PreviousKeyEnv) {
		t.Fatalf("open with only the new key: %v", err)
	}
	both, _ := NewBox(newK, oldK)
	if pt, err := both.Open("x", ct); err != nil || pt != "v" {
		t.Fatalf("open with previous key = %q %v", pt, err)
	}
	if both.Current(ct) {
		t.Fatal("old ciphertext reported current")
	}
	ct2, _ := both.Seal("x", "v")
	if !both.Current(ct2) {
		t.Fatal("new ciphertext not current")
	}
}

func TestFromEnvKeyOrFile(t *testing.T) {
	key := GenerateKey()
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if b, err := FromEnv(get); b != nil || err != nil {
		t.Fatalf("no key: %v %v", b, err)
	}
	var nilBox *Box
	if _, err := nilBox.Seal("x", "y"); err != ErrNoKey {
		t.Fatalf("seal without key: %v", err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env[KeyFileEnv] = path
	fromFile, err := FromEnv(get)
	if err != nil || fromFile == nil {
		t.Fatalf("key file: %v", err)
	}
	env[KeyEnv] = key
	delete(env, KeyFileEnv)
	fromEnv, err := FromEnv(get)
	if err != nil || fromEnv.KeyID() != fromFile.KeyID() {
		t.Fatalf("env key: %v", err)
	}
	env[KeyEnv] = "short"
	if _, err := FromEnv(get); err == nil {
		t.Fatal("a short key was accepted")
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkagogo/linkbackup/internal/testenv"
)

// TestCLIKeygenEncryptedSigned: keygen writes the private files 0600 and never
// overwrites; a backup with the public halves is readable only with the private ones:
// verify without an identity says "content not decrypted", restore without the identity
// exits 4 naming the fingerprints, with the keys it restores; status says encrypted and
// signed; a manifest not signed by the verify key is refused with exit 4.
func TestCLIKeygenEncryptedSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	out, errs, code := run(t, "keygen", "--out", dir)
	if code != 0 || !strings.Contains(out, "backup host") {
		t.Fatalf("keygen: exit %d\n%s\n%s", code, out, errs)
	}
	for name, want := range map[string]os.FileMode{"age.key": 0o600, "signing.key": 0o600, "age.pub": 0o644, "signing.pub": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, mode %v, want %v", name, err, fi.Mode().Perm(), want)
		}
	}
	if _, _, code := run(t, "keygen", "--out", dir); code != exitError {
		t.Fatalf("keygen over existing keys: exit %d", code)
	}
	src := genDB(t, 5, 5)
	store := "file://" + t.TempDir()
	pub, sig := filepath.Join(dir, "age.pub"), filepath.Join(dir, "signing.key")
	id, vk := filepath.Join(dir, "age.key"), filepath.Join(dir, "signing.pub")
	out, errs, code = run(t, "backup", "--source", src, "--store", store, "--recipients-file", pub, "--signing-key", sig)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errs)
	}
	snap := strings.TrimSpace(out)

	out, errs, code = run(t, "verify", "--store", store, "--verify-key", vk, "--json", snap)
	if code != 0 || !strings.Contains(out, `"content_checked": false`) || !strings.Contains(out, `"authenticated": true`) {
		t.Fatalf("verify without identity: exit %d\n%s\n%s", code, out, errs)
	}
	target := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	_, errs, code = run(t, "restore", snap, "--store", store, "--target", target, "--verify-key", vk)
	if code != exitRefused || !strings.Contains(errs, "no identity is configured") || !strings.Contains(errs, "--identity") {
		t.Fatalf("restore without identity: exit %d\n%s", code, errs)
	}
	if out, errs, code := run(t, "restore", snap, "--store", store, "--target", target, "--identity", id, "--verify-key", vk); code != 0 {
		t.Fatalf("restore with the keys: exit %d\n%s\n%s", code, out, errs)
	}
	text, _, _ := run(t, "status", "--store", store)
	if !strings.Contains(text, "encrypted yes, signed yes") {
		t.Fatalf("status:\n%s", text)
	}

	// Another signing key: the snapshot is refused before anything is changed.
	other := filepath.Join(t.TempDir(), "other")
	if _, _, code := run(t, "keygen", "--out", other); code != 0 {
		t.Fatal("keygen other")
	}
	fresh := testenv.NewDatabase(t, testenv.StandbyDSN(t))
	_, errs, code = run(t, "restore", snap, "--store", store, "--target", fresh, "--identity", id,
		"--verify-key", filepath.Join(other, "signing.pub"))
	if code != exitRefused || !strings.Contains(errs, "does not verify") {
		t.Fatalf("restore with another verify key: exit %d\n%s", code, errs)
	}
	if n := scalar[int64](t, fresh, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); n != 0 {
		t.Fatalf("the refused restore created %d tables", n)
	}
}

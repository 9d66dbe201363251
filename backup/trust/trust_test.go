package trust_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/linkagogo/linkbackup/backup/trust"
)

// sshPair writes an unencrypted OpenSSH private key file and returns it with the
// authorized_keys line of its public key.
func sshPair(t *testing.T, key any, pub any) (string, string) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "test")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	spk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spk))) + " operator@host"
}

// TestSSHKeys: SSH ed25519 and RSA keys work as recipients and identities (the
// fingerprints of the two halves agree, the comment does not count), and an OpenSSH
// ed25519 key signs while its public line verifies.
func TestSSHKeys(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string][2]any{"ed25519": {edPriv, edPub}, "rsa": {rsaPriv, &rsaPriv.PublicKey}} {
		t.Run(name, func(t *testing.T) {
			file, line := sshPair(t, k[0], k[1])
			r, err := trust.ParseRecipient(line)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := trust.ReadIdentityFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if ids[0].Fingerprint != r.Fingerprint {
				t.Fatalf("identity %s, recipient %s", ids[0].Fingerprint, r.Fingerprint)
			}
			var buf bytes.Buffer
			w, err := age.Encrypt(&buf, r.Recipient)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, "member rows")
			w.Close()
			rd, err := age.Decrypt(&buf, ids[0].Identity)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(rd); string(b) != "member rows" {
				t.Fatalf("decrypted %q", b)
			}
		})
	}
	file, line := sshPair(t, edPriv, edPub)
	s, err := trust.ReadSigningKey(file)
	if err != nil {
		t.Fatal(err)
	}
	v, err := trust.ParseVerifyKey(line)
	if err != nil || v.Fingerprint != s.Fingerprint {
		t.Fatalf("verify key %+v, %v; signer %s", v, err, s.Fingerprint)
	}
	sig := ed25519.Sign(s.Key, []byte("manifest"))
	if !ed25519.Verify(v.Key, []byte("manifest"), sig) {
		t.Fatal("signature does not verify")
	}
}

// TestKeygenFilesRoundTrip: the four files keygen writes read back as one matching
// recipient/identity pair and one signer/verifier pair; a second keygen refuses.
func TestKeygenFilesRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k")
	g, err := trust.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := trust.ReadRecipientsFile(g.AgePub)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := trust.ReadIdentityFile(g.AgeKey)
	if err != nil || ids[0].Fingerprint != rs[0].Fingerprint || rs[0].Fingerprint != g.RecipientFingerprint {
		t.Fatalf("identity %v %v, recipient %s", ids, err, rs[0].Fingerprint)
	}
	s, err := trust.ReadSigningKey(g.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := trust.ParseVerifyKey(g.SigningPub)
	if err != nil || v.Fingerprint != s.Fingerprint {
		t.Fatalf("verifier %v %v", v, err)
	}
	if _, err := trust.Generate(dir); err == nil {
		t.Fatal("keygen overwrote existing keys")
	}
	// A private key given where a recipient belongs is refused without echoing it.
	key, _ := os.ReadFile(g.AgeKey)
	secret := strings.TrimSpace(string(key[bytes.LastIndexByte(bytes.TrimSpace(key), '\n')+1:]))
	if _, err := trust.ParseRecipient(secret); err == nil || strings.Contains(err.Error(), "AGE-SECRET") {
		t.Fatalf("private key as recipient: %v", err)
	}
}

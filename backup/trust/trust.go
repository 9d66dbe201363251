// Package trust holds the keys that make a store unreadable and unforgeable: age
// recipients and identities (X25519, and SSH ed25519/RSA keys) for the content of
// snapshots, and Ed25519 keys that sign and verify manifests. Every key has a
// fingerprint (sha256 of its public form) that manifests, errors and logs name
// instead of the key.
package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Fingerprint names a public key: "sha256:" and the first 16 hex digits of the SHA-256
// of its public form (the age1… string, or the SSH key's type and base64 blob).
func Fingerprint(public string) string {
	f := strings.Fields(public)
	if len(f) >= 2 && strings.HasPrefix(f[0], "ssh-") {
		public = f[0] + " " + f[1] // the comment is not part of the key
	}
	sum := sha256.Sum256([]byte(public))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// Recipient is a public key snapshots are encrypted to.
type Recipient struct {
	age.Recipient
	Fingerprint string
}

// ParseRecipient reads one recipient: an age X25519 key (age1…) or an SSH public key
// (ssh-ed25519 …, ssh-rsa …).
func ParseRecipient(s string) (Recipient, error) {
	s = strings.TrimSpace(s)
	var r age.Recipient
	var err error
	switch {
	case strings.HasPrefix(s, "age1"):
		r, err = age.ParseX25519Recipient(s)
	case strings.HasPrefix(s, "ssh-"):
		r, err = agessh.ParseRecipient(s)
	default:
		// Never echo the text: it may be a private key pasted by mistake.
		return Recipient{}, errors.New("not an age recipient (age1…) or an SSH public key (ssh-ed25519 …, ssh-rsa …)")
	}
	if err != nil {
		return Recipient{}, err
	}
	return Recipient{Recipient: r, Fingerprint: Fingerprint(s)}, nil
}

// ReadRecipientsFile reads one recipient per line; blank lines and # comments are skipped.
func ReadRecipientsFile(path string) ([]Recipient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Recipient
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no recipients", path)
	}
	return out, nil
}

// Identity is a private key that decrypts snapshots encrypted to its recipient.
type Identity struct {
	age.Identity
	Fingerprint string // of its recipient
	File        string // where it was read from
}

// ReadIdentityFile reads an age identity file (AGE-SECRET-KEY-1… lines, as age-keygen
// writes) or an unencrypted OpenSSH/PEM private key (ed25519 or RSA).
func ReadIdentityFile(path string) ([]Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte("PRIVATE KEY-----")) {
		key, err := ssh.ParseRawPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: SSH private key: %w (passphrase-protected keys are not supported)", path, err)
		}
		signer, err := ssh.NewSignerFromKey(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		id, err := agessh.ParseIdentity(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
		return []Identity{{Identity: id, Fingerprint: Fingerprint(pub), File: path}}, nil
	}
	var out []Identity
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, Identity{Identity: id, Fingerprint: Fingerprint(id.Recipient().String()), File: path})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no age identity (AGE-SECRET-KEY-1…) or SSH private key found", path)
	}
	return out, nil
}

// Fingerprints lists the fingerprints of ids.
func Fingerprints(ids []Identity) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Fingerprint
	}
	return out
}

// AgeIdentities returns ids as age identities.
func AgeIdentities(ids []Identity) []age.Identity {
	out := make([]age.Identity, len(ids))
	for i, id := range ids {
		out[i] = id.Identity
	}
	return out
}

// AgeRecipients returns rs as age recipients.
func AgeRecipients(rs []Recipient) []age.Recipient {
	out := make([]age.Recipient, len(rs))
	for i, r := range rs {
		out[i] = r.Recipient
	}
	return out
}

// The text forms of linkbackup's own signing keys.
const (
	signingKeyPrefix = "LINKBACKUP-ED25519-SIGNING-KEY-1 "
	verifyKeyPrefix  = "linkbackup-ed25519 "
)

// Signer signs manifests; it lives only on the backup host.
type Signer struct {
	Key         ed25519.PrivateKey
	Fingerprint string // of its public key
}

// Verifier checks manifest signatures.
type Verifier struct {
	Key         ed25519.PublicKey
	Fingerprint string
}

// PublicText is the verify key line of pub.
func PublicText(pub ed25519.PublicKey) string {
	return verifyKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

func newSigner(k ed25519.PrivateKey) *Signer {
	return &Signer{Key: k, Fingerprint: Fingerprint(PublicText(k.Public().(ed25519.PublicKey)))}
}

// ReadSigningKey reads a signing key file written by `linkbackup keygen`, or an
// unencrypted OpenSSH ed25519 private key.
func ReadSigningKey(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	if rest, ok := strings.CutPrefix(s, signingKeyPrefix); ok {
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("%s: malformed linkbackup signing key", path)
		}
		return newSigner(ed25519.NewKeyFromSeed(seed)), nil
	}
	if strings.Contains(s, "PRIVATE KEY-----") {
		key, err := ssh.ParseRawPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: SSH private key: %w", path, err)
		}
		switch k := key.(type) {
		case *ed25519.PrivateKey:
			return newSigner(*k), nil
		case ed25519.PrivateKey:
			return newSigner(k), nil
		}
		return nil, fmt.Errorf("%s: an SSH key of type %T; signing needs ed25519", path, key)
	}
	return nil, fmt.Errorf("%s: not a signing key (linkbackup keygen writes signing.key)", path)
}

// ParseVerifyKey reads a verify key: the line `linkbackup keygen` writes to signing.pub
// (linkbackup-ed25519 BASE64), an ssh-ed25519 public key line, or a file holding either.
func ParseVerifyKey(s string) (Verifier, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, verifyKeyPrefix) && !strings.HasPrefix(s, "ssh-ed25519 ") {
		b, err := os.ReadFile(s)
		if err != nil {
			return Verifier{}, fmt.Errorf("verify key: not a key (linkbackup-ed25519 …, ssh-ed25519 …) nor a readable file: %w", err)
		}
		s = strings.TrimSpace(string(b))
	}
	if rest, ok := strings.CutPrefix(s, verifyKeyPrefix); ok {
		pub, err := base64.StdEncoding.DecodeString(strings.Fields(rest)[0])
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return Verifier{}, errors.New("verify key: malformed linkbackup-ed25519 key")
		}
		return Verifier{Key: pub, Fingerprint: Fingerprint(PublicText(pub))}, nil
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return Verifier{}, fmt.Errorf("verify key: %w", err)
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return Verifier{}, errors.New("verify key: not an ed25519 key")
	}
	pub, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return Verifier{}, errors.New("verify key: not an ed25519 key")
	}
	return Verifier{Key: pub, Fingerprint: Fingerprint(PublicText(pub))}, nil
}

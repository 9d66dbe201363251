package backup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/jackc/pgx/v5"
	"github.com/linkagogo/linkbackup/backup/trust"
)

// EncryptionAge marks a snapshot whose content objects (schema SQL and table data) are
// age-encrypted after compression; the manifest stays readable without a key.
const EncryptionAge = "age"

// SignatureName is the object that holds the manifest's signature; it is written before
// the manifest, so a signed snapshot is never visible without it.
const SignatureName = "manifest.sig"

// Keys are the keys a run writes or reads snapshots with. The zero value (or nil)
// writes plaintext, unsigned snapshots and reads only plaintext ones, with a warning
// that nothing was authenticated.
type Keys struct {
	// Recipients: new snapshots are encrypted to every one of them (none: plaintext).
	Recipients []trust.Recipient
	// Identities decrypt snapshots encrypted to one of their recipients.
	Identities []trust.Identity
	// Signer signs new manifests (nil: unsigned).
	Signer *trust.Signer
	// Verifiers: a snapshot must carry a valid signature by one of them before any of
	// its SQL runs or rows are read (none: not checked).
	Verifiers []trust.Verifier
	// AllowUnsigned, with Verifiers, accepts snapshots that carry no signature (taken
	// before signing was turned on). A bad signature is always refused.
	AllowUnsigned bool
}

func (k *Keys) recipients() []age.Recipient {
	if k == nil {
		return nil
	}
	return trust.AgeRecipients(k.Recipients)
}

func (k *Keys) signer() *trust.Signer {
	if k == nil {
		return nil
	}
	return k.Signer
}

// Signature is the content of manifest.sig.
type Signature struct {
	Algorithm string `json:"algorithm"` // "ed25519"
	Key       string `json:"key"`       // the signer's fingerprint
	Signature string `json:"signature"` // base64, over the manifest's exact bytes
}

// ErrUnauthenticated: a snapshot's signature is missing (with verify keys configured) or
// does not verify. It matches ErrRefused: nothing was changed.
var ErrUnauthenticated = errors.New("snapshot not authenticated")

// writeSignatureAt stores the signature of b under key.
func writeSignatureAt(ctx context.Context, st Store, key string, b []byte, s *trust.Signer) error {
	sig := Signature{Algorithm: "ed25519", Key: s.Fingerprint, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(s.Key, b))}
	j, err := json.Marshal(sig)
	if err != nil {
		return err
	}
	if _, err := st.Put(ctx, key, bytes.NewReader(j)); err != nil {
		return fmt.Errorf("write signature: %w", err)
	}
	return nil
}

// ReadTrustedManifest reads snapshot id's manifest for a run that will use its content
// (restore, standby, member restore, verify with identities): with verify keys, the
// signature over the manifest's exact bytes must verify first (or, with AllowUnsigned,
// be absent); an encrypted snapshot must have been encrypted to one of the identities.
// Refusals match ErrRefused and change nothing.
func ReadTrustedManifest(ctx context.Context, st Store, id string, k *Keys, needContent bool, log *slog.Logger) (*Manifest, error) {
	m, _, err := readTrusted(ctx, st, id, k, needContent, log)
	return m, err
}

// readTrusted is ReadTrustedManifest that also tells whether a signature verified.
func readTrusted(ctx context.Context, st Store, id string, k *Keys, needContent bool, log *slog.Logger) (*Manifest, bool, error) {
	if k == nil {
		k = &Keys{}
	}
	b, err := readManifestBytes(ctx, st, id)
	if err != nil {
		return nil, false, err
	}
	signed, err := checkSignature(ctx, st, id, b, k, log)
	if err != nil {
		return nil, false, err
	}
	m, err := parseManifest(b, id)
	if err != nil {
		return nil, false, err
	}
	if needContent && m.Encryption != "" {
		if err := checkIdentities(m, k); err != nil {
			return nil, false, err
		}
	}
	return m, signed, nil
}

// checkSignature applies k's signature policy to manifest; true when a signature
// verified.
func checkSignature(ctx context.Context, st Store, id string, manifest []byte, k *Keys, log *slog.Logger) (bool, error) {
	return checkSignatureAt(ctx, st, SnapshotPrefix(id)+SignatureName, "snapshot "+id, manifest, k, log)
}

// checkSignatureAt applies k's signature policy to manifest, whose signature is at
// sigKey; what names it in messages ("snapshot <id>", "base backup <id>").
func checkSignatureAt(ctx context.Context, st Store, sigKey, what string, manifest []byte, k *Keys, log *slog.Logger) (bool, error) {
	rc, err := st.Open(ctx, sigKey)
	var sig *Signature
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("read signature of %s: %w", what, err)
	default:
		b, rerr := io.ReadAll(io.LimitReader(rc, 64<<10))
		rc.Close()
		sig = &Signature{}
		if rerr != nil {
			return false, fmt.Errorf("read signature of %s: %w", what, rerr)
		}
		if jerr := json.Unmarshal(b, sig); jerr != nil {
			return false, fmt.Errorf("%w: %w: %s: signature object unreadable: %v", ErrRefused, ErrUnauthenticated, what, jerr)
		}
	}
	if len(k.Verifiers) == 0 {
		if log != nil {
			log.Warn("snapshot not authenticated: no verify key is configured, so anyone who can write to the store "+
				"could have forged it", "what", what, "signed", sig != nil)
		}
		return false, nil
	}
	if sig == nil {
		if k.AllowUnsigned {
			if log != nil {
				log.Warn("no signature; accepted (allow unsigned)", "what", what)
			}
			return false, nil
		}
		return false, fixable(FixAllowUnsigned, "", "%w: %w: %s carries no signature, and verify keys are configured",
			ErrRefused, ErrUnauthenticated, what)
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	for _, v := range k.Verifiers {
		if err == nil && sig.Algorithm == "ed25519" && v.Fingerprint == sig.Key && ed25519.Verify(v.Key, manifest, raw) {
			return true, nil
		}
	}
	have := make([]string, len(k.Verifiers))
	for i, v := range k.Verifiers {
		have[i] = v.Fingerprint
	}
	return false, fmt.Errorf("%w: %w: %s: the signature (key %s) does not verify with the configured verify keys (%s): "+
		"the manifest or its signature was changed, or it was signed by another key", ErrRefused, ErrUnauthenticated,
		what, sig.Key, strings.Join(have, ", "))
}

// checkIdentities refuses an encrypted snapshot none of k's identities can open, naming
// both sides' fingerprints.
func checkIdentities(m *Manifest, k *Keys) error {
	have := trust.Fingerprints(k.Identities)
	for _, h := range have {
		if slices.Contains(m.Recipients, h) {
			return nil
		}
	}
	if len(have) == 0 {
		return fixable(FixIdentity, "", "%w: snapshot %s is encrypted (to %s) and no identity is configured",
			ErrRefused, m.ID, strings.Join(m.Recipients, ", "))
	}
	return fixable(FixIdentity, "", "%w: snapshot %s is encrypted to %s; the configured identities are %s: none matches",
		ErrRefused, m.ID, strings.Join(m.Recipients, ", "), strings.Join(have, ", "))
}

// ProvingIdentity is the fingerprint of the identity in k that opens m ("" for a
// plaintext snapshot).
func ProvingIdentity(m *Manifest, k *Keys) string {
	if m.Encryption == "" || k == nil {
		return ""
	}
	for _, id := range k.Identities {
		if slices.Contains(m.Recipients, id.Fingerprint) {
			return id.Fingerprint
		}
	}
	return ""
}

// decrypter returns a reader of obj's plaintext (still compressed) from r.
func decrypter(r io.Reader, obj Object, k *Keys) (io.Reader, error) {
	if obj.Enc == "" {
		return r, nil
	}
	if obj.Enc != EncryptionAge {
		return nil, fmt.Errorf("unknown encryption %q", obj.Enc)
	}
	if k == nil || len(k.Identities) == 0 {
		return nil, errors.New("encrypted, and no identity is configured")
	}
	return age.Decrypt(r, trust.AgeIdentities(k.Identities)...)
}

// warnUnauthenticated logs, once per restore, that snapshot id's SQL runs without a
// signature check, naming the role that runs it and whether it is a superuser (a
// forged pre-data script runs with that role's rights).
func warnUnauthenticated(ctx context.Context, conn *pgx.Conn, id string, log *slog.Logger) {
	var role string
	var super bool
	if err := conn.QueryRow(ctx, `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&role, &super); err != nil {
		role = "(unknown)"
	}
	log.Warn("restoring a snapshot that is not authenticated (no verify key configured): anyone who can write to the "+
		"store could have replaced its SQL, which runs as this role; configure signing.verify_keys",
		"snapshot", id, "role", role, "superuser", super)
}

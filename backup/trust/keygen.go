package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// Generated names the four files Generate writes.
type Generated struct {
	AgeKey, AgePub, SigningKey, SigningPub  string
	Recipient, VerifyKey                    string // the public halves' text
	RecipientFingerprint, SignerFingerprint string
}

// Generate writes a new encryption pair (age.key, age.pub) and signing pair
// (signing.key, signing.pub) into dir; private files get mode 0600. It refuses to
// overwrite any of them.
func Generate(dir string) (*Generated, error) {
	g := &Generated{AgeKey: filepath.Join(dir, "age.key"), AgePub: filepath.Join(dir, "age.pub"),
		SigningKey: filepath.Join(dir, "signing.key"), SigningPub: filepath.Join(dir, "signing.pub")}
	for _, p := range []string{g.AgeKey, g.AgePub, g.SigningKey, g.SigningPub} {
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("%s exists: keygen never overwrites a key (move it away first)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	g.Recipient, g.VerifyKey = id.Recipient().String(), PublicText(pub)
	g.RecipientFingerprint, g.SignerFingerprint = Fingerprint(g.Recipient), Fingerprint(g.VerifyKey)
	files := []struct {
		path, text string
		mode       os.FileMode
	}{
		{g.AgeKey, fmt.Sprintf("# linkbackup encryption identity, created %s\n# public key: %s\n%s\n", now, g.Recipient, id), 0o600},
		{g.AgePub, g.Recipient + "\n", 0o644},
		{g.SigningKey, fmt.Sprintf("%s%s\n", signingKeyPrefix, base64.StdEncoding.EncodeToString(priv.Seed())), 0o600},
		{g.SigningPub, g.VerifyKey + "\n", 0o644},
	}
	for _, f := range files {
		// O_EXCL: a file that appeared since the check is not overwritten either.
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return nil, err
		}
		_, werr := fh.WriteString(f.text)
		serr := fh.Sync()
		if cerr := fh.Close(); werr == nil && serr == nil {
			werr = cerr
		}
		if err := errors.Join(werr, serr); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return g, nil
}

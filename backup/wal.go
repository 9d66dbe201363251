package backup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/linkagogo/linkbackup/internal/atomicfile"
)

// WAL archive layout (archive_command / restore_command files):
//
//	wal/<timeline>/<segment>.zst            a segment (or .backup / .partial file), zstd, age if encrypted
//	wal/<timeline>/<segment>.json           its record: written after the object, so it exists only when whole
//	wal/history/<timeline>.history.zst|.json timeline history files
const WALPrefix = "wal/"

// walName matches the files PostgreSQL archives: segments, timeline history files,
// backup history files and partial segments.
var walName = regexp.MustCompile(`^(?:([0-9A-F]{8})[0-9A-F]{16}(?:\.[0-9A-F]{8}\.backup|\.partial)?|[0-9A-F]{8}\.history)$`)

// WALRecord describes one archived file; its signature covers the file's name, the
// stored bytes' size and SHA-256 and the original bytes' SHA-256.
type WALRecord struct {
	Name      string `json:"name"`
	Object    Object `json:"object"`
	RawSHA256 string `json:"raw_sha256"`
	SignedBy  string `json:"signed_by,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// ErrWALNotFound: the archive has no such file (restore_command then ends recovery).
var ErrWALNotFound = errors.New("not in the WAL archive")

// ErrWALConflict: the archive holds a file of that name with other content (two
// clusters archiving into one place, or a rewound timeline).
var ErrWALConflict = errors.New("archived with different content")

// walKey is the object key prefix of an archived file name.
func walKey(name string) (string, error) {
	m := walName.FindStringSubmatch(name)
	if m == nil {
		return "", fmt.Errorf("%q is not a WAL segment, history or backup file name", name)
	}
	if m[1] == "" {
		return WALPrefix + "history/" + name, nil
	}
	return WALPrefix + m[1] + "/" + name, nil
}

func (r *WALRecord) signedText() []byte {
	return []byte("linkbackup-wal-v1\n" + r.Name + "\n" + r.Object.SHA256 + "\n" + strconv.FormatInt(r.Object.Size, 10) + "\n" + r.RawSHA256 + "\n")
}

// PushWAL archives the file at path (archive_command's %p) into st: compressed,
// encrypted to k's recipients, its record signed with k's signer. It returns only when
// the record is stored (the object first, then the record: a push killed in between
// leaves an object nobody lists, overwritten by the retry). Pushing a file that is
// already archived with the same content succeeds; with other content it fails with
// ErrWALConflict.
func PushWAL(ctx context.Context, st Store, path string, k *Keys) (*WALRecord, error) {
	name := filepath.Base(path)
	key, err := walKey(name)
	if err != nil {
		return nil, err
	}
	raw, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	if old, err := readWALRecord(ctx, st, key); err == nil {
		if old.RawSHA256 == raw {
			return old, nil // PostgreSQL retries after a crash: already durable
		}
		return nil, fmt.Errorf("%s: %w (archive %s, this file %s): two clusters archiving into one store, or a timeline "+
			"rewound; the archive keeps its copy", name, ErrWALConflict, old.RawSHA256[:12], raw[:12])
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	obj, err := putCompressed(ctx, st, newEncoders(1), k.recipients(), key+".zst", 16<<20, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	rec := &WALRecord{Name: name, Object: obj, RawSHA256: raw}
	if s := k.signer(); s != nil {
		rec.SignedBy = s.Fingerprint
		rec.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.Key, rec.signedText()))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if _, err := st.Put(ctx, key+".json", bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("%s: record: %w", name, err)
	}
	return rec, nil
}

// FetchWAL restores archived file name into path (restore_command's %f and %p): the
// record's signature checked with k's verify keys, the stored bytes' size and SHA-256,
// decryption, decompression and the original SHA-256, then an atomic rename into place.
// A file not in the archive returns ErrWALNotFound; anything else means the archive
// cannot be trusted to continue recovery.
func FetchWAL(ctx context.Context, st Store, name, path string, k *Keys) (*WALRecord, error) {
	key, err := walKey(name)
	if err != nil {
		return nil, err
	}
	rec, err := readWALRecord(ctx, st, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrWALNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := rec.verify(name, k); err != nil {
		return nil, err
	}
	rc, err := OpenObject(ctx, st, rec.Object, k)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := atomicfile.Create(path, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), rc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.RawSHA256 {
		return nil, fmt.Errorf("%s: content sha256 %s, record says %s (corrupt)", name, got, rec.RawSHA256)
	}
	return rec, f.Commit()
}

// verify checks the record against the name asked for and k's verify keys.
func (r *WALRecord) verify(name string, k *Keys) error {
	if r.Name != name {
		return fmt.Errorf("%w: WAL record for %s names %s: moved or forged", ErrUnauthenticated, name, r.Name)
	}
	if k == nil || len(k.Verifiers) == 0 {
		return nil
	}
	if r.Signature == "" {
		if k.AllowUnsigned {
			return nil
		}
		return fmt.Errorf("%w: WAL file %s carries no signature, and verify keys are configured", ErrUnauthenticated, name)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	for _, v := range k.Verifiers {
		if err == nil && v.Fingerprint == r.SignedBy && ed25519.Verify(v.Key, r.signedText(), sig) {
			return nil
		}
	}
	return fmt.Errorf("%w: WAL file %s: the signature (key %s) does not verify with the configured verify keys", ErrUnauthenticated, name, r.SignedBy)
}

func readWALRecord(ctx context.Context, st Store, key string) (*WALRecord, error) {
	return readRecord[WALRecord](ctx, st, key+".json", 64<<10, "WAL record", "")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
